"""The one small protocol every person detector implements, and what it returns.

Backends (ONNX YOLO pose, OpenCV HOG) live in their own modules and are imported lazily by
`models.registry`, so a missing optional dependency fails one backend softly, not the gateway.
This package never imports `gateway`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]  # H x W x 3, BGR, as OpenCV and PyAV's "bgr24" give it
Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels

# COCO keypoint order of the pose models: index -> name.
KEYPOINT_NAMES = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)


@dataclass(frozen=True)
class Detection:
    """One detected person, in pixel coordinates of the image given to `detect`."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    label: str = "person"
    # 17 x 3 (x, y, visibility score) in image pixels, for pose models; None otherwise.
    keypoints: npt.NDArray[np.float32] | None = None

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def box(self) -> Box:
        return (self.x1, self.y1, self.x2, self.y2)

    @property
    def foot(self) -> tuple[float, float]:
        """Bottom centre of the box: where the person stands, which is what zones are judged on."""
        return ((self.x1 + self.x2) / 2.0, self.y2)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class RuntimeChoice:
    """Which runtime runs a YOLO model, what the config asked for, and why (for logs and status)."""

    runtime: str  # "onnxruntime" or "openvino"
    requested: str  # "auto", "onnxruntime" or "openvino"
    # auto's measurement at load: runtime -> {"cpu_ms", "wall_ms"} per inference on a blank frame
    measured: dict[str, dict[str, float]] = field(default_factory=dict)
    reason: str | None = None  # why the requested or faster runtime is not the one running

    def to_json(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "requested": self.requested,
            "measured": {k: {m: round(v, 1) for m, v in ms.items()} for k, ms in self.measured.items()},
            "reason": self.reason,
        }


class Detector(Protocol):
    name: str  # e.g. "yolo11n-pose-416 (onnxruntime)" or "hog (opencv)"
    input_size: int  # square model input side in pixels (HOG: the width frames are scaled to)
    has_keypoints: bool

    def detect(self, image: Image) -> list[Detection]:
        """Persons in one BGR image; raises ValueError for an image it cannot use (wrong shape, empty)."""
        ...

    def close(self) -> None: ...
