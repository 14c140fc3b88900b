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

    blank_uniform_share: float = 0.97
    """Black/blank: score = share (0..1) of the pixels whose luma lies within ``blank_luma_tolerance``
    of the median luma. A black frame, a grey or blue "no signal" screen is uniform (0.995..1.0, even
    with a "NO SIGNAL" caption and some noise); a real scene spreads over more levels (0.1..0.2 on the
    clean clips, 0.89 on the "dark" night clip, whose picture is dark but present). Fail at 0.97."""

    blank_luma_tolerance: int = 4
    """Half width (8-bit luma levels) of the band around the median used by the blank score: above the
    sensor and compression noise of a uniform frame after downscaling (1-2 levels), below the spread
    of a dark but real scene."""

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

    blur_min_sharpness: float = 0.6
    """Blur/defocus: score = sharpness, the median over the textured 32 px blocks of the 640 px grey
    image of (standard deviation of the block's Laplacian / standard deviation of the block's luma):
    edge energy relative to local contrast, measured at 640 px whatever the camera sends. Per block
    and by median because cameras burn their clock and caption in sharp *after* the lens: measured
    over the whole frame, that text made a defocused clip read as sharp (0.66, inside the clean range).
    Sharp scenes measure 1.5..2.6 (the sample clips, see docs/quality.md), a covered lens 0.9..1.4,
    the defocused clip (sigma 6 px at 1080p, sharp OSD) 0.21..0.23, synthetic defocus at 1080p of
    sigma 3 px 0.29..0.46, 4 px 0.19..0.30, 8 px 0.10..0.12. Fail below 0.6: more than 2x under the
    softest clean picture and above every defocus that visibly smears a face."""

    blur_block_px: int = 32
    """Side (px, on the 640 px image) of the blocks of the blur check: 20 x 11 blocks on 16:9."""

    blur_min_contrast: float = 5.0
    """A block counts for the blur check when its luma standard deviation (8-bit levels) is at least
    5; a flat block (sky, wall, a uniform frame) has no edges to judge."""

    blur_min_blocks: int = 8
    """At least 8 textured blocks are needed, else focus is ``not_checkable`` (blank, covered, fog)."""

    occlusion_block_px: int = 16
    """Side (px, on the 320 px image) of the blocks used by the occlusion check: 20 x 11 blocks on a
    16:9 frame."""

    occlusion_flat_std: float = 4.0
    """A block is "low-texture" when its luma standard deviation (8-bit levels) is below 4: a hand or
    tape on the lens is out of focus and almost uniform, while a wall in focus keeps 4..15 levels of
    texture, noise and shading at this block size."""

    occlusion_dark_luma: float = 70.0
    """A low-texture block counts as covering the lens when it is also darker than 70 (8-bit): an
    object at close range in front of the lens is unlit (it shadows itself); a bright uniform wall
    in focus is scene, not occlusion."""

    occlusion_min_lit_share: float = 0.10
    """When the whole frame is dark (mean luma below ``dark_mean_luma``) and fewer than 10 % of the
    blocks are brighter than ``occlusion_dark_luma``, a covered lens cannot be told from a dark scene:
    occlusion is ``not_checkable`` and the dark check carries the alarm. A hand over 70 % of a lit
    scene leaves the rest of the scene lit (25..30 % of the blocks)."""

    occlusion_max_share: float = 0.60
    """Occlusion/covered lens: score = share (0..1) of the blocks that are low-texture and dark.
    Fail at 0.60 or more: the clean scenes stay below 0.2 (their large walls and floors keep some
    texture or are lit; 30 % darker: 0.15), while a palm or a bag over the lens covers most of the
    frame (0.72 for a hand over about 75 %)."""

    cast_min_distance: float = 20.0
    """Colour cast: score = distance (Lab a/b units, OpenCV's 8-bit Lab, about 1 CIE unit each) of
    the mean chroma from neutral grey, over pixels that are neither near-black nor clipped. Fail when
    it is at least 20 (a strong tint: a lost IR-cut filter turns a scene purple/red, a broken colour
    channel turns it blue/green at 30+) ... Warm-lit scenes are legitimately off-neutral: the warm
    sample clips measure 16..17, hence 20 and not the 10..12 a colour scientist would call a cast."""

    cast_min_factor: float = 0.5
    """... and the mean chroma distance is at least 0.5 times the chroma spread (standard deviation of
    a/b): a tint shifts every colour of the image at once (mean far, spread small), while a
    colourful scene (a green lawn, a red shop front among other colours) has a mean away from grey
    but a wide spread (factor 0.1..0.35 on the synthetic clean scenes; a strong tint on a colourful
    scene still gives 0.6..1.3)."""

    noise_max_sigma: float = 4.0
    """Heavy noise: score = estimated noise standard deviation (8-bit levels, on the 640 px image)
    from the difference between the image and its 3x3 median-filtered copy, over flat blocks only (so
    that edges do not count), as the robust median absolute deviation scaled to sigma. Clean cameras
    measure 0..2 at this size (the sample clips 0..0.5; synthetic scenes with sigma 3 grain 1.2..1.9);
    downscaling from 1080p averages noise down by about 3x, so sigma 15 grain at 1080p measures 5.5
    and sigma 25 measures 9. Fail above 4, i.e. about sigma 11 at full 1080p resolution (heavy grain, e.g. a
    failing sensor or a night scene with gain at its maximum)."""

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

    scene_min_correlation: float = 0.60
    """Scene change/camera moved: score = median, over the textured blocks of a 4 x 4 grid, of the
    normalised cross-correlation between the current and the reference 160 px grey images (lightly
    blurred). NCC is invariant to gain and offset (lighting) and the median ignores the few blocks a
    person walking through changes. An unmoved camera measures 0.95..1.0 (also 30 % brighter or
    darker, or with a person in the picture); a shift of 1 % of the width (vibration) 0.93, 2 %
    0.80, 3 % 0.67, 4 % 0.57, 8 % 0.20; a rotation of 3 degrees 0.87, 5 degrees 0.74, 8 degrees
    0.54. Fail below 0.60: a turn of about 4 % of the field of view or 7 degrees of roll."""

    scene_min_blocks: int = 4
    """At least 4 of the 16 blocks must be textured (standard deviation >= ``scene_block_std`` in the
    reference) for the comparison to mean anything; otherwise ``not_checkable``."""

    scene_block_std: float = 3.0
    """A block is textured when its luma standard deviation (8-bit levels) is at least 3."""


DEFAULT_THRESHOLDS = QualityThresholds()
