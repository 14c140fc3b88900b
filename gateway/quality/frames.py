"""A decoded frame made ready for the checks, and the result every check returns.

A frame is prepared once (:func:`prepare`: downscaled copies and a few statistics); every check then
reads the prepared copy, so that scores do not depend on the camera's resolution and the cost of a
sample is one downscale, not one per check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from gateway.quality.thresholds import DEFAULT_THRESHOLDS, QualityThresholds

State = Literal["pass", "fail", "not_checkable"]
U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


SMALL_WIDTH = 320
MID_WIDTH = 640


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: a score (its unit depends on the check), a state and a detail."""

    name: str
    score: float
    state: State
    detail: str


@dataclass(frozen=True)
class Prepared:
    """A frame made ready for the checks; ``ok`` is False when there was no usable frame."""

    ok: bool
    reason: str
    width: int
    height: int
    mid_grey: U8  # MID_WIDTH wide
    grey: U8  # SMALL_WIDTH wide
    bgr: U8  # SMALL_WIDTH wide
    mean_luma: float


_EMPTY: U8 = np.zeros((0, 0), np.uint8)


def unusable(reason: str, width: int = 0, height: int = 0) -> Prepared:
    return Prepared(False, reason, width, height, _EMPTY, _EMPTY, _EMPTY, 0.0)


def resize(image: U8, width: int) -> U8:
    h, w = image.shape[:2]
    height = max(1, round(h * width / w))
    return np.asarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), np.uint8)


def prepare(frame_bgr: npt.NDArray[np.uint8] | None, thresholds: QualityThresholds = DEFAULT_THRESHOLDS) -> Prepared:
    """Downscale a decoded BGR (or grey) frame once: 640 px grey, 320 px colour and grey."""
    if frame_bgr is None:
        return unusable("no frame decoded")
    if frame_bgr.ndim not in (2, 3) or frame_bgr.size == 0:
        return unusable(f"not an image (shape {frame_bgr.shape})")
    h, w = frame_bgr.shape[:2]
    if w < thresholds.min_width or h < thresholds.min_width * 9 // 16:
        return unusable(f"frame too small ({w}x{h})", w, h)
    frame = np.ascontiguousarray(frame_bgr, np.uint8)
    if frame.ndim == 2:
        frame = np.asarray(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), np.uint8)
    elif frame.shape[2] == 4:
        frame = np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR), np.uint8)
    elif frame.shape[2] != 3:
        return unusable(f"unsupported channel count {frame.shape[2]}", w, h)
    # Grey first at full size would cost a full-size conversion; convert the 640 px copy instead.
    mid_bgr = resize(frame, MID_WIDTH) if w > MID_WIDTH else frame
    mid_grey = np.asarray(cv2.cvtColor(mid_bgr, cv2.COLOR_BGR2GRAY), np.uint8)
    bgr = resize(mid_bgr, SMALL_WIDTH)
    grey = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), np.uint8)
    return Prepared(True, "", w, h, mid_grey, grey, bgr, float(cv2.mean(grey)[0]))


def not_checkable(name: str, detail: str) -> CheckResult:
    return CheckResult(name, float("nan"), "not_checkable", detail)


def verdict(name: str, score: float, failed: bool, detail: str) -> CheckResult:
    return CheckResult(name, float(score), "fail" if failed else "pass", detail)


def block_stats(grey: U8, block: int) -> tuple[F32, F32]:
    """Mean and standard deviation of each block x block tile (the ragged edge is dropped)."""
    h, w = grey.shape
    rows, cols = h // block, w // block
    tiles = grey[: rows * block, : cols * block].astype(np.float32).reshape(rows, block, cols, block)
    return tiles.mean(axis=(1, 3)), tiles.std(axis=(1, 3))
