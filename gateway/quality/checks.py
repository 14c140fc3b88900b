"""Video quality checks on sampled decoded frames: pure functions, no I/O, no threads.

A frame is prepared once (:func:`prepare`: downscaled copies and a few statistics), then each check
reads the prepared copy and returns a :class:`CheckResult` with a score, a state and a detail. The
stateful checks use a :class:`FrozenTracker` (the last samples of one camera) and a
:class:`Reference` (a small stored picture of the scene the camera should see).
"""

from __future__ import annotations

import struct
from collections import deque
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
REF_WIDTH = 160

CHECK_NAMES = ("blank", "dark", "bright", "blur", "occlusion", "colour_cast", "noise", "frozen", "scene_change")


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


def _unusable(reason: str, width: int = 0, height: int = 0) -> Prepared:
    return Prepared(False, reason, width, height, _EMPTY, _EMPTY, _EMPTY, 0.0)


def _resize(image: U8, width: int) -> U8:
    h, w = image.shape[:2]
    height = max(1, round(h * width / w))
    return np.asarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), np.uint8)


def prepare(frame_bgr: npt.NDArray[np.uint8] | None, thresholds: QualityThresholds = DEFAULT_THRESHOLDS) -> Prepared:
    """Downscale a decoded BGR (or grey) frame once: 640 px grey, 320 px colour and grey."""
    if frame_bgr is None:
        return _unusable("no frame decoded")
    if frame_bgr.ndim not in (2, 3) or frame_bgr.size == 0:
        return _unusable(f"not an image (shape {frame_bgr.shape})")
    h, w = frame_bgr.shape[:2]
    if w < thresholds.min_width or h < thresholds.min_width * 9 // 16:
        return _unusable(f"frame too small ({w}x{h})", w, h)
    frame = np.ascontiguousarray(frame_bgr, np.uint8)
    if frame.ndim == 2:
        frame = np.asarray(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), np.uint8)
    elif frame.shape[2] == 4:
        frame = np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR), np.uint8)
    elif frame.shape[2] != 3:
        return _unusable(f"unsupported channel count {frame.shape[2]}", w, h)
    # Grey first at full size would cost a full-size conversion; convert the 640 px copy instead.
    mid_bgr = _resize(frame, MID_WIDTH) if w > MID_WIDTH else frame
    mid_grey = np.asarray(cv2.cvtColor(mid_bgr, cv2.COLOR_BGR2GRAY), np.uint8)
    bgr = _resize(mid_bgr, SMALL_WIDTH)
    grey = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), np.uint8)
    return Prepared(True, "", w, h, mid_grey, grey, bgr, float(cv2.mean(grey)[0]))


def _nc(name: str, detail: str) -> CheckResult:
    return CheckResult(name, float("nan"), "not_checkable", detail)


def _result(name: str, score: float, failed: bool, detail: str) -> CheckResult:
    return CheckResult(name, float(score), "fail" if failed else "pass", detail)


# --- single-frame checks -----------------------------------------------------------------------------


def check_blank(p: Prepared, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Black or uniform ("no signal") frame: share of pixels near the median luma."""
    if not p.ok:
        return _nc("blank", p.reason)
    hist = np.bincount(p.grey.ravel(), minlength=256)
    median = int(np.searchsorted(np.cumsum(hist), p.grey.size / 2))
    lo, hi = max(0, median - t.blank_luma_tolerance), min(255, median + t.blank_luma_tolerance)
    share = float(hist[lo : hi + 1].sum()) / p.grey.size
    failed = share >= t.blank_uniform_share
    kind = "black" if p.mean_luma < t.black_luma else "uniform (no signal)"
    detail = (
        f"{kind} frame: {share:.0%} of pixels within ±{t.blank_luma_tolerance} of luma {median}"
        if failed
        else (f"{share:.0%} of pixels near the median luma {median}")
    )
    return _result("blank", share, failed, detail)


def check_dark(p: Prepared, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Too dark: mean luma below the threshold."""
    if not p.ok:
        return _nc("dark", p.reason)
    failed = p.mean_luma < t.dark_mean_luma
    return _result("dark", p.mean_luma, failed, f"mean luma {p.mean_luma:.1f} (min {t.dark_mean_luma:g})")


def check_bright(p: Prepared, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Too bright (overexposed): high mean luma or a large clipped share. Score = clipped share."""
    if not p.ok:
        return _nc("bright", p.reason)
    clipped = float(np.count_nonzero(p.grey >= 250)) / p.grey.size
    failed = p.mean_luma > t.bright_mean_luma or clipped > t.bright_clipped_share
    return _result("bright", clipped, failed, f"mean luma {p.mean_luma:.1f}, {clipped:.0%} of pixels clipped")


def _laplacian_var(image: U8 | F32) -> float:
    lap = cv2.Laplacian(image, cv2.CV_32F, ksize=1)
    _, std = cv2.meanStdDev(lap)
    return float(std[0, 0]) ** 2


def check_blur(p: Prepared, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Blur/defocus: median over textured blocks (640 px image) of Laplacian std / luma std.

    Per block, so that the on-screen clock and caption, burned in sharp after the lens, cannot
    pass a defocused picture off as sharp: they cover a few blocks and drop out of the median.
    """
    if not p.ok:
        return _nc("blur", p.reason)
    block = t.blur_block_px
    h, w = p.mid_grey.shape
    rows, cols = h // block, w // block
    if rows == 0 or cols == 0:
        return _nc("blur", "frame too small for the focus check")
    grey = p.mid_grey[: rows * block, : cols * block].astype(np.float32)
    lap = cv2.Laplacian(grey, cv2.CV_32F, ksize=1)
    grey_std = grey.reshape(rows, block, cols, block).std(axis=(1, 3))
    lap_std = np.asarray(lap).reshape(rows, block, cols, block).std(axis=(1, 3))
    textured = grey_std >= t.blur_min_contrast
    count = int(np.count_nonzero(textured))
    if count < t.blur_min_blocks:
        return _nc("blur", f"too little texture to judge focus ({count} textured blocks)")
    sharpness = float(np.median(lap_std[textured] / grey_std[textured]))
    failed = sharpness < t.blur_min_sharpness
    detail = f"sharpness {sharpness:.2f} over {count} blocks (min {t.blur_min_sharpness:g})"
    return _result("blur", sharpness, failed, detail)


def _block_stats(grey: U8, block: int) -> tuple[F32, F32]:
    """Mean and standard deviation of each block x block tile (the ragged edge is dropped)."""
    h, w = grey.shape
    rows, cols = h // block, w // block
    tiles = grey[: rows * block, : cols * block].astype(np.float32).reshape(rows, block, cols, block)
    return tiles.mean(axis=(1, 3)), tiles.std(axis=(1, 3))


def check_occlusion(p: Prepared, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Covered lens: share of low-texture dark blocks."""
    if not p.ok:
        return _nc("occlusion", p.reason)
    mean, std = _block_stats(p.grey, t.occlusion_block_px)
    lit = float(np.count_nonzero(mean >= t.occlusion_dark_luma)) / mean.size
    if p.mean_luma < t.dark_mean_luma and lit < t.occlusion_min_lit_share:
        return _nc("occlusion", "whole frame too dark to tell a covered lens from a dark scene (see dark)")
    covered = (std < t.occlusion_flat_std) & (mean < t.occlusion_dark_luma)
    share = float(np.count_nonzero(covered)) / covered.size
    failed = share >= t.occlusion_max_share
    return _result("occlusion", share, failed, f"{share:.0%} of the frame is dark and featureless")


def check_colour_cast(p: Prepared, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Colour cast: mean Lab chroma far from neutral and concentrated (a tint, not a colourful scene)."""
    if not p.ok:
        return _nc("colour_cast", p.reason)
    lab = cv2.cvtColor(p.bgr, cv2.COLOR_BGR2Lab)
    mask = ((p.grey > 15) & (p.grey < 245)).astype(np.uint8)
    if np.count_nonzero(mask) < mask.size // 10:
        return _nc("colour_cast", "too few exposed pixels to judge colour")
    means, stds = cv2.meanStdDev(lab, mask=mask)
    da, db = float(means[1, 0]) - 128.0, float(means[2, 0]) - 128.0
    distance = (da * da + db * db) ** 0.5
    spread = (float(stds[1, 0]) ** 2 + float(stds[2, 0]) ** 2) ** 0.5
    factor = distance / max(spread, 1.0)
    failed = distance >= t.cast_min_distance and factor >= t.cast_min_factor
    hue = ("red" if da > 0 else "green") if abs(da) >= abs(db) else ("yellow" if db > 0 else "blue")
    detail = f"mean chroma a={da:+.1f} b={db:+.1f} ({hue}), distance {distance:.1f}, spread {spread:.1f}"
    return _result("colour_cast", distance, failed, detail)


def _median_u8(values: U8) -> float:
    """Median of 8-bit values, interpolated inside its bin (levels are integers, noise is not)."""
    counts = np.bincount(values, minlength=256)
    cumulative = np.cumsum(counts)
    half = values.size / 2
    m = int(np.searchsorted(cumulative, half))
    below = float(cumulative[m - 1]) if m else 0.0
    return max(0.0, m - 0.5 + (half - below) / max(float(counts[m]), 1.0))


def check_noise(p: Prepared, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Heavy noise: robust sigma of (image - median3x3) over flat blocks of the 640 px image."""
    if not p.ok:
        return _nc("noise", p.reason)
    # Flat blocks, found on the 320 px image (8 px blocks there = 16 px blocks of the 640 px image):
    # the 30 % of the exposed blocks with the weakest gradients, so that edges do not count as noise.
    block = 8
    rows, cols = p.grey.shape[0] // block, p.grey.shape[1] // block
    rows = min(rows, p.mid_grey.shape[0] // (2 * block))
    cols = min(cols, p.mid_grey.shape[1] // (2 * block))
    grey = p.grey[: rows * block, : cols * block]
    grad = cv2.max(
        cv2.convertScaleAbs(cv2.Sobel(grey, cv2.CV_16S, 1, 0, ksize=3)),
        cv2.convertScaleAbs(cv2.Sobel(grey, cv2.CV_16S, 0, 1, ksize=3)),
    )
    gblocks = grad.reshape(rows, block, cols, block).max(axis=(1, 3))
    mblocks = grey.reshape(rows, block, cols, block).mean(axis=(1, 3))
    usable = (mblocks > 12) & (mblocks < 243)  # clipped areas hide noise
    if np.count_nonzero(usable) < 8:
        return _nc("noise", "too few exposed regions to estimate noise")
    limit = float(np.percentile(gblocks[usable], 30))
    flat = (usable & (gblocks <= limit)).astype(np.uint8)
    mid = p.mid_grey[: rows * 2 * block, : cols * 2 * block]
    residual = cv2.absdiff(mid, cv2.medianBlur(mid, 3))
    mask = cv2.resize(flat, (mid.shape[1], mid.shape[0]), interpolation=cv2.INTER_NEAREST)
    values = np.asarray(residual[mask.astype(bool)], np.uint8)
    # For Gaussian noise the median of |x - median3x3(x)| is about 0.54 sigma (0.6745 / 1.25).
    sigma = _median_u8(values) / 0.6745 * 1.25 if values.size else 0.0
    failed = sigma > t.noise_max_sigma
    return _result("noise", sigma, failed, f"noise sigma {sigma:.1f} levels (max {t.noise_max_sigma:g})")


# --- frozen picture ----------------------------------------------------------------------------------


def _frozen_sample(grey: U8) -> U8:
    return np.asarray(cv2.GaussianBlur(grey, (3, 3), 0), np.uint8)


def motion_share(older: U8, newer: U8, t: QualityThresholds = DEFAULT_THRESHOLDS) -> float:
    """Share (0..1) of the blocks that belong to changed regions big enough to count as motion.

    Small changed regions (a burned-in clock or caption: short horizontal strips of blocks) are
    ignored; a region counts when it is at least ``frozen_min_rows`` blocks tall or covers
    ``frozen_min_region_share`` of the blocks.
    """
    if older.shape != newer.shape:
        return 1.0
    changed = (cv2.absdiff(older, newer) > t.frozen_pixel_delta).astype(np.float32)
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


class FrozenTracker:
    """The last ``size`` small samples of one camera, for the frozen check."""

    def __init__(self, size: int = 3) -> None:
        if size < 2:
            raise ValueError("a frozen window needs at least 2 samples")
        self.size = size
        self._samples: deque[U8] = deque(maxlen=size)

    def __len__(self) -> int:
        return len(self._samples)

    def reset(self) -> None:
        """Forget the samples (after a reconnect or a resolution change)."""
        self._samples.clear()

    def check(self, p: Prepared, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
        """Add the sample and judge: frozen when nothing moved against any sample in the window."""
        if not p.ok:
            return _nc("frozen", p.reason)
        sample = _frozen_sample(p.grey)
        if self._samples and self._samples[-1].shape != sample.shape:
            self._samples.clear()
        previous = list(self._samples)[1 - self.size :]  # the window: these and the current sample
        self._samples.append(sample)
        need = min(t.frozen_min_samples, self.size)
        if len(previous) + 1 < need:
            return _nc("frozen", f"window filling ({len(previous) + 1}/{need} samples)")
        motion = max(motion_share(old, sample, t) for old in previous)
        failed = motion == 0.0
        detail = (
            f"no change over the last {len(previous) + 1} samples" if failed else f"{motion:.1%} of the frame moved"
        )
        return _result("frozen", motion, failed, detail)


# --- scene change against a reference ----------------------------------------------------------------


_GRID = 4
_MAGIC = b"QREF1"


def _ref_image(p: Prepared) -> U8:
    small = _resize(p.grey, REF_WIDTH)
    return np.asarray(cv2.GaussianBlur(small, (5, 5), 1.0), np.uint8)


@dataclass(frozen=True)
class Reference:
    """A small picture of the scene the camera should see (160 px grey, blurred) for the scene check."""

    image: U8

    @classmethod
    def from_prepared(cls, p: Prepared) -> Reference:
        if not p.ok:
            raise ValueError(f"cannot take a reference from an unusable frame: {p.reason}")
        return cls(_ref_image(p))

    def to_bytes(self) -> bytes:
        h, w = self.image.shape
        return _MAGIC + struct.pack("<HH", h, w) + self.image.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Reference:
        if data[:5] != _MAGIC or len(data) < 9:
            raise ValueError("not a quality reference")
        h, w = struct.unpack("<HH", data[5:9])
        if len(data) != 9 + h * w:
            raise ValueError("truncated quality reference")
        return cls(np.frombuffer(data[9:], np.uint8).reshape(h, w).copy())


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
        return _nc("scene_change", p.reason)
    if reference is None:
        return _nc("scene_change", "no reference picture stored")
    current = _ref_image(p)
    if current.shape != reference.image.shape:
        return _nc("scene_change", f"reference size {reference.image.shape} differs from {current.shape}")
    values = _block_ncc(reference.image.astype(np.float32), current.astype(np.float32), t.scene_block_std)
    if len(values) < t.scene_min_blocks:
        return _nc("scene_change", f"reference has too little texture ({len(values)}/{_GRID**2} blocks)")
    score = float(np.median(values))
    failed = score < t.scene_min_correlation
    detail = f"correlation with the reference {score:.2f} over {len(values)} blocks"
    return _result("scene_change", score, failed, ("scene changed: " if failed else "") + detail)


# --- all checks --------------------------------------------------------------------------------------


def diagnose(
    prepared: Prepared,
    *,
    thresholds: QualityThresholds = DEFAULT_THRESHOLDS,
    frozen: FrozenTracker,
    reference: Reference | None,
) -> list[CheckResult]:
    """Run every check on a prepared frame, in ``CHECK_NAMES`` order.

    When the frame is blank, the checks that judge picture content (blur, occlusion, colour cast,
    noise, scene change) are ``not_checkable`` rather than piling alarms onto the one real fault.
    """
    t = thresholds
    blank = check_blank(prepared, t)
    results = [blank, check_dark(prepared, t), check_bright(prepared, t)]
    content = (check_blur, check_occlusion, check_colour_cast, check_noise)
    if blank.state == "fail":
        results += [_nc(fn.__name__.removeprefix("check_"), "frame is blank") for fn in content]
        results.append(frozen.check(prepared, t))
        results.append(_nc("scene_change", "frame is blank"))
    else:
        results += [fn(prepared, t) for fn in content]
        results.append(frozen.check(prepared, t))
        results.append(check_scene(prepared, reference, t))
    return results
