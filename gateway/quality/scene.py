"""The "camera moved" check: the picture against a stored reference of the scene, confirmed over samples.

A person standing in front of the lens for a minute, a lorry parked across the view: one sample that
differs from the reference is not yet a moved camera. :class:`SceneTracker` counts the samples in a
row that differ and reports a fault only from ``scene_confirm_samples`` on.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cv2
import numpy as np

from gateway.quality.frames import F32, U8, CheckResult, Prepared, not_checkable, resize, verdict
from gateway.quality.picture import mean_chroma
from gateway.quality.thresholds import DEFAULT_THRESHOLDS, QualityThresholds

REF_WIDTH = 160

_GRID = 4
_MAGIC_V1 = b"QREF1"  # the picture only
_MAGIC = b"QREF2"  # the picture and the mean chroma


def _ref_image(p: Prepared) -> U8:
    small = resize(p.grey, REF_WIDTH)
    return np.asarray(cv2.GaussianBlur(small, (5, 5), 1.0), np.uint8)


@dataclass(frozen=True)
class Reference:
    """What the camera normally sees: a small picture of the scene (160 px grey, blurred) for the scene
    check, and its mean chroma (Lab a/b), the camera's usual colour, for the colour-cast check."""

    image: U8
    chroma: tuple[float, float] | None = None

    @classmethod
    def from_prepared(cls, p: Prepared) -> Reference:
        if not p.ok:
            raise ValueError(f"cannot take a reference from an unusable frame: {p.reason}")
        return cls(_ref_image(p), mean_chroma(p))

    def to_bytes(self) -> bytes:
        h, w = self.image.shape
        a, b = self.chroma if self.chroma is not None else (float("nan"), float("nan"))
        return _MAGIC + struct.pack("<HHff", h, w, a, b) + self.image.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Reference:
        magic = data[:5]
        if magic == _MAGIC_V1 and len(data) >= 9:
            h, w = struct.unpack("<HH", data[5:9])
            chroma, start = None, 9
        elif magic == _MAGIC and len(data) >= 17:
            h, w, a, b = struct.unpack("<HHff", data[5:17])
            chroma, start = (None if np.isnan(a) or np.isnan(b) else (float(a), float(b))), 17
        else:
            raise ValueError("not a quality reference")
        if len(data) != start + h * w:
            raise ValueError("truncated quality reference")
        return cls(np.frombuffer(data[start:], np.uint8).reshape(h, w).copy(), chroma)


def _block_ncc(a: F32, b: F32, min_std: float) -> list[float]:
    """Normalised cross-correlation of each tile of a _GRID x _GRID grid, for the tiles textured in a."""
    h, w = a.shape
    bh, bw = h // _GRID, w // _GRID
    x = a[: bh * _GRID, : bw * _GRID].reshape(_GRID, bh, _GRID, bw).transpose(0, 2, 1, 3).reshape(_GRID**2, -1)
    y = b[: bh * _GRID, : bw * _GRID].reshape(_GRID, bh, _GRID, bw).transpose(0, 2, 1, 3).reshape(_GRID**2, -1)
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    sx, sy = np.sqrt((x * x).mean(axis=1)), np.sqrt((y * y).mean(axis=1))
    ncc = (x * y).mean(axis=1) / np.maximum(sx * sy, 1e-6)
    return [float(v) for v in ncc[sx >= min_std]]


def check_scene(p: Prepared, reference: Reference | None, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Camera moved: median block NCC between the current picture and the reference."""
    if not p.ok:
        return not_checkable("scene_change", p.reason)
    if reference is None:
        return not_checkable("scene_change", "no reference picture stored")
    current = _ref_image(p)
    if current.shape != reference.image.shape:
        return not_checkable("scene_change", f"reference size {reference.image.shape} differs from {current.shape}")
    values = _block_ncc(reference.image.astype(np.float32), current.astype(np.float32), t.scene_block_std)
    if len(values) < t.scene_min_blocks:
        return not_checkable("scene_change", f"reference has too little texture ({len(values)}/{_GRID**2} blocks)")
    score = float(np.median(values))
    failed = score < t.scene_min_correlation
    detail = f"correlation with the reference {score:.2f} over {len(values)} blocks"
    return verdict("scene_change", score, failed, ("scene changed: " if failed else "") + detail)


class SceneTracker:
    """How many samples in a row have differed from the reference, for one camera."""

    def __init__(self) -> None:
        self._differing = 0

    def reset(self) -> None:
        self._differing = 0

    def confirm(self, result: CheckResult, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
        """A failing scene check counts only once it has failed ``scene_confirm_samples`` times in a row."""
        if result.state != "fail":
            if result.state == "pass":
                self._differing = 0
            return result
        self._differing += 1
        need = max(1, t.scene_confirm_samples)
        if self._differing >= need:
            return CheckResult(
                result.name, result.score, "fail", f"{result.detail} ({self._differing} samples in a row)"
            )
        detail = (
            f"{result.detail.removeprefix('scene changed: ')}; differs in {self._differing}/{need} samples, confirming"
        )
        return CheckResult(result.name, result.score, "pass", detail)
