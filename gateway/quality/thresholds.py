"""Thresholds of the video quality checks, with their defaults and the reasons for them.

All luma values are 8-bit (0..255) levels of the BT.601 grey image that OpenCV makes from BGR; all
images are measured on the downscaled copies made once by :func:`gateway.quality.checks.prepare`
(``SMALL_WIDTH`` = 320 px wide for most checks, ``MID_WIDTH`` = 640 px wide for blur and noise), so
that the scores do not depend on the camera's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QualityThresholds:
    """The policy's thresholds for the quality checks (one frozen object per policy)."""

    min_width: int = 64
    """Smallest decoded frame (px, both sides ``min_width`` x ``min_width * 9/16``) that is checked at
    all; anything smaller (a broken decode, a thumbnail) is ``not_checkable`` rather than judged."""

    blank_uniform_share: float = 0.95
    """Black/blank: score = share (0..1) of the pixels whose luma lies within ``blank_luma_tolerance``
    of the median luma. A black frame, a grey or blue "no signal" screen is uniform (> 0.98 even with
    a small "NO SIGNAL" caption or a burned-in clock); a real scene, even a dark or low-texture one,
    spreads over more levels (< 0.9 on the sample clips). Fail at or above 0.95."""

    blank_luma_tolerance: int = 6
    """Half width (8-bit luma levels) of the band around the median used by the blank score: above the
    sensor/compression noise of a uniform frame after downscaling (1-3 levels)."""

    black_luma: float = 20.0
    """A blank frame whose mean luma is below this (8-bit levels) is reported as "black" rather than
    "blank (uniform)"; purely descriptive, the state is the same."""

    dark_mean_luma: float = 35.0
    """Too dark: score = mean luma (8-bit). Fail below 35: a normally exposed indoor or night scene
    with IR sits at 60..140; at 35 and below most detail is lost in the noise floor (the "dark" sample
    clip measures about 12)."""

    bright_mean_luma: float = 215.0
    """Too bright: fail when the mean luma (8-bit) is above 215, the level at which a scene has lost
    most of its mid-tones (sunlight into the lens, IR cut filter stuck)..."""

    bright_clipped_share: float = 0.40
    """... or when more than 40 % of the pixels are clipped (luma >= 250): a sky or a lit window
    clips 10-25 % of a normal outdoor frame; over 40 % the camera is overexposed."""

    blur_min_sharpness: float = 0.18
    """Blur/defocus: score = sharpness, the share (0..1) of the high-frequency energy (variance of the
    Laplacian) of the 640 px grey image that is lost when the image is re-blurred with a 5x5 Gaussian
    (sigma 1.2). This is the re-blur principle (Crete et al. 2007): re-blurring a sharp image removes
    much of its Laplacian energy (0.5..0.9 on sharp scenes), re-blurring a defocused one changes
    little (< 0.15). It is normalised for resolution (always measured at 640 px wide) and for
    contrast and scene content (a ratio). Fail below 0.18."""

    blur_min_texture: float = 4.0
    """Minimum standard deviation of the Laplacian (8-bit levels) for the blur check to be
    meaningful; a flat frame (blank, covered) has no edges to judge and is ``not_checkable``."""

    occlusion_block_px: int = 16
    """Side (px, on the 320 px image) of the blocks used by the occlusion check: 20 x 11 blocks on a
    16:9 frame."""

    occlusion_flat_std: float = 4.0
    """A block is "low-texture" when its luma standard deviation (8-bit levels) is below 4: a hand or
    tape on the lens is out of focus and almost uniform, while a wall in focus keeps 4..15 levels of
    texture, noise and shading at this block size."""

    occlusion_dark_luma: float = 70.0
    """A low-texture block counts as covering the lens when it is also darker than 70 (8-bit), or
    when it is any brightness but the low-texture blocks make a single connected region (close-range
    object); see ``occlusion_max_share``."""

    occlusion_max_share: float = 0.60
    """Occlusion/covered lens: score = share (0..1) of the frame covered by the largest connected
    region of low-texture dark blocks. Fail at 0.60 or more: large uniform walls or floors of the
    sample scenes stay below 0.35 because they keep texture or are bright; a palm or a bag over the
    lens covers most of the frame."""

    cast_min_distance: float = 14.0
    """Colour cast: score = distance (CIELab a/b units, as OpenCV's 8-bit Lab, about 1 CIE unit each)
    of the mean chroma from neutral grey, over pixels that are neither black nor clipped. Fail when it
    is at least 14 (a clearly visible tint; white balance errors of a few units are not visible) ..."""

    cast_min_factor: float = 1.5
    """... and the mean chroma distance is at least 1.5 times the chroma spread (standard deviation of
    a/b): a tint shifts the whole image at once (factor >> 1), while a colourful scene (a green lawn,
    a red shop front) has a mean away from grey but a wide spread (factor < 1)."""

    noise_max_sigma: float = 6.0
    """Heavy noise: score = estimated noise standard deviation (8-bit levels, on the 640 px image)
    from the difference between the image and its 3x3 median-filtered copy, over flat blocks only (so
    that edges do not count), as the robust median absolute deviation scaled to sigma. Clean cameras
    measure 0.5..2.5 at this size; fail above 6 (heavy grain, e.g. a failing sensor or a night scene
    with gain at its maximum)."""

    frozen_pixel_delta: int = 18
    """Frozen: a pixel of the 320 px grey image (lightly blurred) has changed when it differs by more
    than 18 levels from the older sample: above sensor and compression noise after downscaling."""

    frozen_block_px: int = 8
    """Side (px, on the 320 px image) of the blocks of the frozen check (40 x 22 blocks on 16:9)."""

    frozen_block_share: float = 0.10
    """A block has changed when more than 10 % of its pixels have changed."""

    frozen_min_rows: int = 3
    """A connected region of changed blocks counts as motion only when it is at least 3 blocks (24 px
    of 180, 13 % of the frame height) tall ..."""

    frozen_min_region_share: float = 0.05
    """... or covers at least 5 % of the blocks. A burned-in clock or caption is a short horizontal
    strip (1-2 block rows, a few blocks when its digits change), so it is ignored, while a person (tall)
    or a vehicle (large) counts."""

    frozen_min_samples: int = 3
    """Frozen is judged only once the tracker holds this many samples (the current one included): the
    picture must be unchanged over the whole window, e.g. 20 s at one sample every 10 s. Before that
    the state is ``not_checkable``."""

    scene_min_correlation: float = 0.45
    """Scene change/camera moved: score = median, over the textured blocks of a 4 x 4 grid, of the
    normalised cross-correlation between the current and the reference 160 px grey images (lightly
    blurred). NCC is invariant to gain and offset (lighting) and the median ignores the few blocks a
    person walking through changes. An unmoved camera measures 0.8..1.0; a shift of 5 % of the width
    or a rotation of a few degrees drops it below 0.4. Fail below 0.45."""

    scene_min_blocks: int = 4
    """At least 4 of the 16 blocks must be textured (standard deviation >= ``scene_block_std`` in the
    reference) for the comparison to mean anything; otherwise ``not_checkable``."""

    scene_block_std: float = 3.0
    """A block is textured when its luma standard deviation (8-bit levels) is at least 3."""


DEFAULT_THRESHOLDS = QualityThresholds()
