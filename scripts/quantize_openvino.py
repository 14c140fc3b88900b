"""Post-training int8 quantisation of the default pose model for OpenVINO, with NNCF: an experiment.

    pip install nncf==3.4.0   # into a scratch environment: NNCF is never a dependency of the gateway
    python scripts/quantize_openvino.py [--model yolo11n-pose-416] [--frames 100] [--out var/models]

Reads the exported ONNX file from var/models, calibrates on about --frames frames spread over the
sample clips (samples/clips: never vtest.avi, on which the result is measured) and writes an
OpenVINO IR (NAME-int8.xml and .bin) beside it. Compare it with
`python -m benchmarks.bench_detector --runtimes-only --openvino-int8 var/models/NAME-int8.xml`.
docs/models.md has the figures and why it is not shipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.registry import model_path, verify_model  # noqa: E402
from models.yolo_onnx import letterbox  # noqa: E402

# People clips of the simulator and the encoder samples: varied scenes, sizes and light. The lawn
# clips are cut from vtest.avi and stay out, so the evaluation frames are never calibration frames.
CLIPS = ("walk", "crowd", "fall", "loiter", "hd_h264", "sd_h264", "hd720_h264", "night_h264")


def calibration_frames(count: int) -> list[np.ndarray]:
    per_clip = max(1, count // len(CLIPS))
    frames: list[np.ndarray] = []
    for name in CLIPS:
        path = REPO / "samples" / "clips" / f"{name}.h264"
        if not path.is_file():
            continue
        with av.open(str(path), format="h264") as container:
            decoded = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
        step = max(1, len(decoded) // per_clip)
        frames += decoded[::step][:per_clip]
    return frames


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="yolo11n-pose-416")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--out", type=Path, default=REPO / "var" / "models")
    ap.add_argument("--float-head", action="store_true", help="leave the whole pose head (model.23) in float")
    args = ap.parse_args()

    import nncf
    import openvino as ov

    manifest = verify_model(args.model, REPO / "var" / "models")
    model = ov.Core().read_model(str(model_path(manifest, REPO / "var" / "models")))
    frames = calibration_frames(args.frames)
    if not frames:
        print("no sample clips in samples/clips: run make setup", file=sys.stderr)
        return 1
    blobs = [letterbox(f, manifest.input_size)[0] for f in frames]
    # The head's decode mixes box pixels (0..size) with scores and keypoint offsets in the same
    # tensors: one shared int8 scale there wipes out the scores (the same cut ultralytics makes).
    head = r".*/model\.23/"
    patterns = [f"{head}(Add|Sub|Mul|Div|Concat|Reshape|Slice|Softmax|Transpose).*", f"{head}.*dfl.*"]
    ignored = nncf.IgnoredScope(
        patterns=[f"{head}.*"] if args.float_head else patterns,
        types=["Sigmoid"],
        validate=False,
    )
    quantized = nncf.quantize(
        model,
        nncf.Dataset(blobs),
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(blobs),
        ignored_scope=ignored,
    )
    target = args.out / f"{args.model}-int8{'-floathead' if args.float_head else ''}.xml"
    ov.save_model(quantized, str(target))
    print(f"{target}: int8, calibrated on {len(blobs)} frames of {', '.join(CLIPS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
