"""Checks of one picture on its own: signal, exposure, contrast, focus, lens, colour, noise, stripes.

Pure functions of a :class:`~gateway.quality.frames.Prepared` frame and the thresholds; each returns a
:class:`~gateway.quality.frames.CheckResult`. The thresholds and the measurements behind them are in
:mod:`gateway.quality.thresholds` and docs/quality.md.
"""

from __future__ import annotations

import cv2
import numpy as np

from gateway.quality.frames import (
    F32,
    U8,
    CheckResult,
    Prepared,
    block_stats,
    not_checkable,
    verdict,
)
from gateway.quality.thresholds import DEFAULT_THRESHOLDS, QualityThresholds


def check_blank(p: Prepared, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Black or uniform ("no signal") frame: share of pixels near the median luma."""
    if not p.ok:
        return not_checkable("blank", p.reason)
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
    return verdict("blank", share, failed, detail)


def check_dark(p: Prepared, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Too dark: mean luma below the threshold."""
    if not p.ok:
        return not_checkable("dark", p.reason)
    failed = p.mean_luma < t.dark_mean_luma
    return verdict("dark", p.mean_luma, failed, f"mean luma {p.mean_luma:.1f} (min {t.dark_mean_luma:g})")


def check_bright(p: Prepared, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Too bright (overexposed): high mean luma or a large clipped share. Score = clipped share."""
    if not p.ok:
        return not_checkable("bright", p.reason)
    clipped = float(np.count_nonzero(p.grey >= 250)) / p.grey.size
    failed = p.mean_luma > t.bright_mean_luma or clipped > t.bright_clipped_share
    return verdict("bright", clipped, failed, f"mean luma {p.mean_luma:.1f}, {clipped:.0%} of pixels clipped")


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
        return not_checkable("blur", p.reason)
    block = t.blur_block_px
    h, w = p.mid_grey.shape
    rows, cols = h // block, w // block
    if rows == 0 or cols == 0:
        return not_checkable("blur", "frame too small for the focus check")
    grey = p.mid_grey[: rows * block, : cols * block].astype(np.float32)
    lap = cv2.Laplacian(grey, cv2.CV_32F, ksize=1)
    grey_std = grey.reshape(rows, block, cols, block).std(axis=(1, 3))
    lap_std = np.asarray(lap).reshape(rows, block, cols, block).std(axis=(1, 3))
    textured = grey_std >= t.blur_min_contrast
    count = int(np.count_nonzero(textured))
    if count < t.blur_min_blocks:
        return not_checkable("blur", f"too little texture to judge focus ({count} textured blocks)")
    sharpness = float(np.median(lap_std[textured] / grey_std[textured]))
    failed = sharpness < t.blur_min_sharpness
    detail = f"sharpness {sharpness:.2f} over {count} blocks (min {t.blur_min_sharpness:g})"
    return verdict("blur", sharpness, failed, detail)


def check_occlusion(p: Prepared, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Covered lens: share of low-texture dark blocks."""
    if not p.ok:
        return not_checkable("occlusion", p.reason)
    mean, std = block_stats(p.grey, t.occlusion_block_px)
    lit = float(np.count_nonzero(mean >= t.occlusion_dark_luma)) / mean.size
    if p.mean_luma < t.dark_mean_luma and lit < t.occlusion_min_lit_share:
        return not_checkable("occlusion", "whole frame too dark to tell a covered lens from a dark scene (see dark)")
    covered = (std < t.occlusion_flat_std) & (mean < t.occlusion_dark_luma)
    share = float(np.count_nonzero(covered)) / covered.size
    failed = share >= t.occlusion_max_share
    return verdict("occlusion", share, failed, f"{share:.0%} of the frame is dark and featureless")


def mean_chroma(p: Prepared) -> tuple[float, float] | None:
    """Mean Lab chroma (a, b, 0 = neutral) over the pixels neither near-black nor clipped; None if too few."""
    if not p.ok:
        return None
    lab = cv2.cvtColor(p.bgr, cv2.COLOR_BGR2Lab)
    mask = ((p.grey > 15) & (p.grey < 245)).astype(np.uint8)
    if np.count_nonzero(mask) < mask.size // 10:
        return None
    means = cv2.mean(lab, mask=mask)
    return float(means[1]) - 128.0, float(means[2]) - 128.0


def check_colour_cast(
    p: Prepared, t: QualityThresholds = DEFAULT_THRESHOLDS, usual: tuple[float, float] | None = None
) -> CheckResult:
    """Colour cast: mean Lab chroma far from neutral and concentrated (a tint, not a colourful scene), and
    far from the camera's ``usual`` chroma (that of its reference picture) when it has one.

    A camera watching a lawn or a green wall sees one colour by right: the whole picture is green and
    its spread small, exactly like a tint. What tells a fault is the change: a failed IR-cut filter or
    colour channel moves the colour away from what the camera showed when it was set up.
    """
    if not p.ok:
        return not_checkable("colour_cast", p.reason)
    lab = cv2.cvtColor(p.bgr, cv2.COLOR_BGR2Lab)
    mask = ((p.grey > 15) & (p.grey < 245)).astype(np.uint8)
    if np.count_nonzero(mask) < mask.size // 10:
        return not_checkable("colour_cast", "too few exposed pixels to judge colour")
    means, stds = cv2.meanStdDev(lab, mask=mask)
    da, db = float(means[1, 0]) - 128.0, float(means[2, 0]) - 128.0
    distance = (da * da + db * db) ** 0.5
    spread = (float(stds[1, 0]) ** 2 + float(stds[2, 0]) ** 2) ** 0.5
    factor = distance / max(spread, 1.0)
    failed = distance >= t.cast_min_distance and factor >= t.cast_min_factor
    hue = ("red" if da > 0 else "green") if abs(da) >= abs(db) else ("yellow" if db > 0 else "blue")
    detail = f"mean chroma a={da:+.1f} b={db:+.1f} ({hue}), distance {distance:.1f}, spread {spread:.1f}"
    if failed and usual is not None:
        shift = float(np.hypot(da - usual[0], db - usual[1]))
        if shift < t.cast_min_shift:
            failed = False
            detail += f"; the camera's usual colour (its reference differs by {shift:.1f} only)"
        else:
            detail += f"; {shift:.1f} away from the camera's usual colour"
    return verdict("colour_cast", distance, failed, detail)


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
        return not_checkable("noise", p.reason)
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
        return not_checkable("noise", "too few exposed regions to estimate noise")
    limit = float(np.percentile(gblocks[usable], 30))
    flat = (usable & (gblocks <= limit)).astype(np.uint8)
    mid = p.mid_grey[: rows * 2 * block, : cols * 2 * block]
    residual = cv2.absdiff(mid, cv2.medianBlur(mid, 3))
    mask = cv2.resize(flat, (mid.shape[1], mid.shape[0]), interpolation=cv2.INTER_NEAREST)
    values = np.asarray(residual[mask.astype(bool)], np.uint8)
    # For Gaussian noise the median of |x - median3x3(x)| is about 0.54 sigma (0.6745 / 1.25).
    sigma = _median_u8(values) / 0.6745 * 1.25 if values.size else 0.0
    failed = sigma > t.noise_max_sigma
    return verdict("noise", sigma, failed, f"noise sigma {sigma:.1f} levels (max {t.noise_max_sigma:g})")


def check_contrast(p: Prepared, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Low contrast (fog, a dirty or misted dome, a washed-out picture): luma spread between the 5th and
    95th percentiles. Percentiles, so that the burned-in clock (a few per cent of the pixels, black and
    white) cannot lend a flat picture the contrast it lacks."""
    if not p.ok:
        return not_checkable("contrast", p.reason)
    if p.mean_luma < t.dark_mean_luma:
        # A dark picture is flat by nature; the dark check carries that alarm.
        return not_checkable("contrast", "picture too dark to judge its contrast (see dark)")
    lo, hi = np.percentile(p.grey, (5, 95))
    spread = float(hi - lo)
    failed = spread < t.contrast_min_spread
    detail = f"luma spread {spread:.0f} levels between the 5th and 95th percentiles (min {t.contrast_min_spread:g})"
    return verdict("contrast", spread, failed, detail)


_STRIPS = 4
_NEIGHBOURS = np.r_[-8:-1, 2:9]


def _periodic(profiles: F32, t: QualityThresholds) -> tuple[float, float, float]:
    """The strongest periodic component shared by every profile: (amplitude in levels, its period in
    pixels, its amplitude over the median of its spectral neighbourhood). Each profile is one strip's
    mean luma along an axis; the minimum over the strips keeps only what crosses the whole picture."""
    n = profiles.shape[1]
    longest = max(4, n // 12)  # at least twelve stripes: longer periods are where the scene's own shapes live
    trend = cv2.blur(profiles, (longest | 1, 1), borderType=cv2.BORDER_REFLECT)
    window = np.hanning(n).astype(np.float32)
    spectrum = np.abs(np.fft.rfft((profiles - trend) * window, axis=1)) * 2 / float(window.sum())
    common = spectrum.min(axis=0)
    first, last = max(2, n // longest), min(len(common) - 1, n // t.stripes_min_period_px)
    if last < first:
        return 0.0, 0.0, 0.0
    # Natural pictures fall off as 1/f: a peak is judged against its neighbours (2..8 bins away on each
    # side), not against the whole band.
    ks = np.arange(first, last + 1)
    index = ks[:, None] + _NEIGHBOURS[None, :]
    inside = (index >= 1) & (index < len(common))
    around = np.where(inside, common[np.clip(index, 0, len(common) - 1)], np.nan)
    ratio = common[ks] / np.maximum(np.nanmedian(around, axis=1), 1e-3)
    # Only narrowband peaks count; with none, the score is 0 (no stripes), not the scene's texture.
    amplitude = np.where(ratio >= t.stripes_min_peak_ratio, common[ks], 0.0)
    best = int(np.argmax(amplitude))
    if amplitude[best] <= 0.0:
        return 0.0, 0.0, 0.0
    return float(amplitude[best]), n / float(ks[best]), float(ratio[best])


def check_stripes(p: Prepared, t: QualityThresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """Stripes or rolling interference bars (a ground loop, a failing power supply, lighting flicker):
    a periodic luma component, horizontal or vertical, that crosses the whole picture. Score = its
    amplitude in levels; it must also stand out of the spectrum (narrowband), which scene structure
    (a horizon, a row of windows on one side) does not."""
    if not p.ok:
        return not_checkable("stripes", p.reason)
    grey = p.mid_grey.astype(np.float32)
    h, w = grey.shape
    rows = np.stack([grey[:, i * w // _STRIPS : (i + 1) * w // _STRIPS].mean(axis=1) for i in range(_STRIPS)])
    cols = np.stack([grey[i * h // _STRIPS : (i + 1) * h // _STRIPS, :].mean(axis=0) for i in range(_STRIPS)])
    best = max(((*_periodic(rows, t), "horizontal"), (*_periodic(cols, t), "vertical")), key=lambda r: r[0])
    amplitude, period, ratio, direction = best
    if amplitude == 0.0:
        return verdict("stripes", 0.0, False, "no periodic pattern across the picture")
    failed = amplitude >= t.stripes_min_amplitude
    detail = (
        f"{direction} stripes: amplitude {amplitude:.1f} levels, period {period:.0f} px"
        f" of {w if direction == 'vertical' else h}, {ratio:.0f}x the background"
    )
    return verdict("stripes", amplitude, failed, detail)
