"""Checks that compare pictures over time: a frozen picture and a shaking camera.

A frozen picture is one the encoder repeats: nothing changes but the burned-in clock. A live camera
watching a still scene (a lawn at night, an empty corridor) does not repeat its picture: its sensor
noise differs in every frame, and every keyframe is a fresh intra coding of it. So the frozen check
does not ask "did anything move?" (a still scene says no) but "does the picture repeat?", from three
pieces of evidence:

* the **temporal noise** between two decoded keyframes close in time (the sampled keyframe and the next
  one, a GOP later): the median over small blocks of the mean absolute difference. Live still scenes
  measure 0.7..4 levels on real footage; a repeated picture 0.0, its clock being a few blocks the
  median ignores;
* the **bitstream**: the median size of the P-frames between them against the keyframe's. A repeated
  picture's P-frames are near-empty (only the clock's macroblocks change); it costs no decoding;
* **motion** between samples (large changed regions), as before: a person walking proves a live camera.

When the evidence disagrees or sits between the bounds (an encoder that smooths a still scene almost
to nothing), the state is ``not_checkable``: a verdict an auditor reads must not be a guess.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from gateway.quality.frames import U8, CheckResult, Prepared, not_checkable, verdict
from gateway.quality.thresholds import DEFAULT_THRESHOLDS, QualityThresholds


@dataclass(frozen=True)
class Bitstream:
    """What the packets after the sampled keyframe say, without decoding them."""

    keyframe_bytes: int
    p_frames: int
    median_p_bytes: float

    @property
    def p_ratio(self) -> float:
        return self.median_p_bytes / max(self.keyframe_bytes, 1)

    @classmethod
    def of(cls, keyframe_bytes: int, p_sizes: list[int]) -> Bitstream | None:
        if not p_sizes:
            return None
        return cls(keyframe_bytes, len(p_sizes), float(np.median(p_sizes)))


def _motion_sample(grey: U8) -> U8:
    return np.asarray(cv2.GaussianBlur(grey, (3, 3), 0), np.uint8)


def motion_share(older: U8, newer: U8, t: QualityThresholds = DEFAULT_THRESHOLDS) -> float:
    """Share (0..1) of the blocks that belong to changed regions big enough to count as motion.

    Small changed regions (a burned-in clock or caption: short horizontal strips of blocks) are
    ignored; a region counts when it is at least ``frozen_min_rows`` blocks tall or covers
    ``frozen_min_region_share`` of the blocks. Takes the 320 px grey images (blurred here).
    """
    if older.shape != newer.shape:
        return 1.0
    changed = (cv2.absdiff(_motion_sample(older), _motion_sample(newer)) > t.frozen_pixel_delta).astype(np.float32)
    block = t.frozen_block_px
    h, w = changed.shape
    rows, cols = h // block, w // block
    share = changed[: rows * block, : cols * block].reshape(rows, block, cols, block).mean(axis=(1, 3))
    blocks = (share > t.frozen_block_share).astype(np.uint8)
    if not blocks.any():
        return 0.0
    count, _, stats, _ = cv2.connectedComponentsWithStats(blocks, connectivity=8)
    total = blocks.size
    moving = 0
    for i in range(1, count):
        height, area = int(stats[i, cv2.CC_STAT_HEIGHT]), int(stats[i, cv2.CC_STAT_AREA])
        if height >= t.frozen_min_rows or area >= t.frozen_min_region_share * total:
            moving += area
    return float(moving / total)


def temporal_noise(older: U8, newer: U8, block: int = 8) -> float:
    """Median over block x block tiles of the mean absolute difference (8-bit levels) of two grey images.

    The median makes the burned-in clock and a passer-by (a minority of the tiles) irrelevant; what is
    left is how much the picture as a whole differs: sensor noise on a live camera, zero on a repeat.
    """
    if older.shape != newer.shape:
        return float("nan")
    diff = cv2.absdiff(older, newer)
    h, w = diff.shape
    rows, cols = h // block, w // block
    tiles = diff[: rows * block, : cols * block].astype(np.float32).reshape(rows, block, cols, block)
    return float(np.median(tiles.mean(axis=(1, 3))))


Evidence = Literal["live", "repeat", "unsure"]


class FrozenTracker:
    """The last samples of one camera, for the frozen check: their 320 px grey pictures and what each
    sample's evidence said."""

    def __init__(self, size: int = 3) -> None:
        if size < 2:
            raise ValueError("a frozen window needs at least 2 samples")
        self.size = size
        self._samples: deque[U8] = deque(maxlen=size)
        self._repeats = 0  # samples that showed a repeat since the last one that showed a live picture

    def __len__(self) -> int:
        return len(self._samples)

    def reset(self) -> None:
        """Forget the samples (after a reconnect or a resolution change)."""
        self._samples.clear()
        self._repeats = 0

    def check(
        self,
        p: Prepared,
        t: QualityThresholds = DEFAULT_THRESHOLDS,
        *,
        second: Prepared | None = None,
        bitstream: Bitstream | None = None,
    ) -> CheckResult:
        """Add the sample and judge it. ``second`` is the next keyframe (close in time) when the sampler
        could decode it; without it the temporal noise is measured against the previous sample."""
        if not p.ok:
            return not_checkable("frozen", p.reason)
        sample = p.grey
        if self._samples and self._samples[-1].shape != sample.shape:
            self.reset()
        previous = list(self._samples)[1 - self.size :]
        self._samples.append(sample)
        paired = second is not None and second.ok and second.grey.shape == sample.shape
        others = [*previous, second.grey] if paired and second is not None else previous
        motion = max((motion_share(old, sample, t) for old in others), default=0.0)
        if paired and second is not None:
            noise, against = temporal_noise(sample, second.grey), "the next keyframe"
        elif previous:
            noise, against = temporal_noise(previous[-1], sample), "the previous sample"
        else:
            return not_checkable("frozen", "first sample: nothing to compare with yet")
        ratio = bitstream.p_ratio if bitstream is not None else None
        evidence: Evidence
        if motion > 0.0 or noise >= t.frozen_live_noise:
            evidence = "live"
        elif noise <= t.frozen_repeat_noise and (ratio is None or ratio <= t.frozen_max_p_ratio):
            evidence = "repeat"
        else:
            evidence = "unsure"
        # An unsure sample neither confirms a repeat nor breaks a run of them; a live one ends the run.
        self._repeats = 0 if evidence == "live" else self._repeats + (evidence == "repeat")
        measured = f"temporal noise {noise:.2f} levels against {against}"
        if ratio is not None:
            measured += f", P-frames {ratio:.2%} of the keyframe"
        need = min(t.frozen_min_samples, self.size)
        if evidence == "live":
            moved = f"{motion:.1%} of the frame moved; " if motion > 0.0 else ""
            return verdict("frozen", noise, False, f"live picture: {moved}{measured}")
        if self._repeats >= need:
            detail = f"picture repeats in {self._repeats} samples since the last live one, only the clock changes"
            return verdict("frozen", noise, True, f"{detail} ({measured})")
        if evidence == "unsure":
            why = (
                "the P-frames carry changes the keyframes do not show"
                if noise <= t.frozen_repeat_noise
                else "the encoder may be smoothing a still scene"
            )
            detail = f"picture almost still ({measured}): {why}; cannot tell frozen from still"
            return CheckResult("frozen", noise, "not_checkable", detail)
        detail = f"picture repeats in {self._repeats}/{need} samples ({measured}); confirming"
        return CheckResult("frozen", noise, "not_checkable", detail)


def check_shake(p: Prepared, second: Prepared | None, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Camera shake: the global shift between the sampled keyframe and the next one (close in time),
    by phase correlation. Score = the shift as a share of the picture width. A camera on a swaying pole
    moves its whole picture; a passer-by moves a part of it, which phase correlation does not follow
    while the background dominates."""
    if not p.ok:
        return not_checkable("shake", p.reason)
    if second is None or not second.ok or second.grey.shape != p.grey.shape:
        return not_checkable("shake", "needs a second picture close in time (the next keyframe came too late)")
    a, b = p.grey.astype(np.float32), second.grey.astype(np.float32)
    window = cv2.createHanningWindow((a.shape[1], a.shape[0]), cv2.CV_32F)
    # Copies: OpenCV applies the window to its inputs in place, and the residual below needs them whole.
    (dx, dy), response = cv2.phaseCorrelate(a.copy(), b.copy(), window)
    shift = float(np.hypot(dx, dy)) / a.shape[1]
    if response < t.shake_min_response or shift < t.shake_min_shift:
        return verdict("shake", shift, False, f"no global shift ({shift:.1%} of the width, response {response:.2f})")
    # Phase correlation can lock onto one large moving object when the background is flat: the shift is
    # the camera's only if moving the whole first picture by it explains most of the difference.
    h, w = a.shape
    margin = int(np.ceil(max(abs(dx), abs(dy)))) + 1
    if 4 * margin >= min(h, w):
        # A quarter of the picture is no shake (a pole sways by a few per cent): the peak is a moving object.
        return verdict("shake", 0.0, False, f"a part of the picture moved, not the camera (response {response:.2f})")
    moved = cv2.warpAffine(a, np.array([[1, 0, dx], [0, 1, dy]], np.float32), (w, h))
    inner = (slice(margin, h - margin), slice(margin, w - margin))
    # Medians: people walking between the two keyframes change a few places a lot; the background, which
    # the camera's shift moves everywhere, is the majority.
    before = float(np.median(cv2.absdiff(a, b)[inner]))
    after = float(np.median(cv2.absdiff(moved, b)[inner]))
    if before < t.shake_min_difference:
        # Most of the picture is the same in both: nothing moved, whatever peak a smooth picture gives
        # (a blurred still scene measured 0.7 % at response 0.05 with a median difference of 0).
        return verdict("shake", 0.0, False, f"the two pictures do not differ (response {response:.2f})")
    if after > t.shake_max_residual * before:
        return verdict("shake", 0.0, False, f"a part of the picture moved, not the camera (response {response:.2f})")
    detail = f"picture shifted {shift:.1%} of its width between two keyframes (response {response:.2f})"
    return verdict("shake", shift, True, detail)
