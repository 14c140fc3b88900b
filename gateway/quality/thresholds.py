"""Thresholds of the video quality checks, with their defaults and the reasons for them.

All luma values are 8-bit (0..255) levels of the BT.601 grey image that OpenCV makes from BGR; all
images are measured on the downscaled copies made once by :func:`gateway.quality.frames.prepare`
(``SMALL_WIDTH`` = 320 px wide for most checks, ``MID_WIDTH`` = 640 px wide for blur and noise), so
that the scores do not depend on the camera's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# Every check, in the order diagnose() returns them (gateway.quality.checks). Here, beside their
# thresholds and free of OpenCV and numpy, so that the config and the models can name the checks
# without loading the checks' code.
CHECK_NAMES = (
    "blank",
    "dark",
    "bright",
    "contrast",
    "blur",
    "occlusion",
    "colour_cast",
    "noise",
    "stripes",
    "frozen",
    "shake",
    "scene_change",
)


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

    cast_min_shift: float = 10.0
    """... and, when the camera has a reference picture, the mean chroma is at least 10 units away from
    the reference's: a lawn or a green wall is one colour by right (the vtest lawn measures distance
    21..23 with a factor above 1, a "cast" by the two rules above), while a failed IR-cut filter moves
    the colour by 25..35 from how the camera looked when it was set up."""

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
    """Frozen fails once this many samples have shown a repeated picture since the last one that showed
    a live picture (samples that cannot tell neither count nor break the run); until then a repeat is
    ``not_checkable`` ("confirming"). Each sample carries its own evidence (the next keyframe, the
    P-frame sizes), so three samples are three independent looks: 2 minutes at one sample a minute."""

    frozen_live_noise: float = 0.40
    """Frozen, "live" bound: the temporal noise (median over 8 px tiles of the 320 px grey image of the
    mean absolute difference between two pictures close in time, 8-bit levels) at or above which the
    picture is live, whatever else is seen. Live still scenes of real footage measure 0.66..4.3 (the
    vtest lawn by day and night, at bitrates from CRF 23 to a 256 kbit/s smart codec, and with a 16-frame
    temporal denoiser); see docs/quality.md."""

    frozen_repeat_noise: float = 0.10
    """Frozen, "repeat" bound: at or below this temporal noise the picture repeats (the same real frame
    re-encoded with a running clock: 0.00..0.01 once the encoder's rate control has settled). Between
    the two bounds the state is ``not_checkable``: the encoder may have smoothed a still scene."""

    frozen_max_p_ratio: float = 0.01
    """A repeat also needs near-empty P-frames: the median P-frame size at most 1 % of the keyframe's
    (a repeated picture with a running clock: 0.01..0.2 %; live scenes 3..19 %, down to 0.26 % at CRF 35).
    Bigger P-frames with unchanged keyframes contradict a repeat: ``not_checkable``."""

    frozen_pair_max_s: float = 12.0
    """The sampler decodes the keyframe after the sampled one as the second picture when it arrives
    within 12 s (GOPs of smart codecs reach 10 s); otherwise the previous sample is the comparison."""

    contrast_min_spread: float = 40.0
    """Low contrast (fog, a misted dome, a washed-out picture): score = the luma spread (8-bit levels)
    between the 5th and the 95th percentile of the 320 px grey image. Fail below 40: clean real footage
    measures 70..88 (the vtest lawn, the flattest clean scene) up to 195, the synthetic scenes 124..145;
    haze that keeps 15 % of the contrast leaves 11..30. At night the floor is 12 (the night lawn: 23..38)."""

    stripes_min_amplitude: float = 4.0
    """Stripes/rolling bars: score = the amplitude (8-bit levels) of the strongest narrowband periodic
    luma component, horizontal or vertical, present in each of four strips across the 640 px grey
    image (0 when there is none). Fail at 4 levels: clean real footage measures 0..2.9 (vtest at
    CRF 23, day and night), the synthetic clips 0..2.7; rolling bars of 10 levels on real scenes
    7.2..10.5 once encoded."""

    stripes_min_peak_ratio: float = 4.0
    """A component is narrowband when it stands 4 times above the median amplitude of its spectral
    neighbours (8 bins each side): interference is one frequency; scene structure (a horizon, rows
    of windows on one side of the picture) spreads over many or misses some strips. At 6, 10-level
    bars on vtest's building were missed; at 3 the clean tree reached 1.4 levels."""

    stripes_min_period_px: int = 3
    """Shortest stripe period (px of the 640 px image) looked for; the longest is a twelfth of the
    picture (at least twelve stripes: one or two slow bars of hum are not told from the scene's shapes)."""

    shake_min_shift: float = 0.005
    """Shake: score = the global shift between the sampled keyframe and the next one (phase
    correlation of the 320 px grey images), as a share of the width. Fail at 0.5 % (1.6 px of 320): a
    fixed camera measures 0.0..0.3 % on real footage (noise, passers-by, foliage); a camera jittering
    by up to 3 % each way shifts 0.6..6 % between two moments, and now and then by less."""

    shake_min_response: float = 0.05
    """A shift counts only when the phase correlation's peak response reaches 0.05: below, no shift
    is common to the picture (noise, a scene that changed too much) and the score is 0."""

    shake_min_difference: float = 1.0
    """... and when the two pictures differ at all: a median absolute difference of at least one grey
    level. A still scene whose two keyframes are the same in most places has not shaken, whatever
    peak the phase correlation of a smooth (blurred, foggy) picture gives: a generated blurred clip
    measured a 0.7 % shift at response 0.05 with a median difference of 0, one run in a few."""

    shake_max_residual: float = 0.85
    """... and when moving the first picture by that shift leaves at most 85 % of the median difference
    between the two: a global shift explains the change. Shaken real footage leaves 0.14..0.81 (the
    most where foliage moves in the wind as well); an unshaken camera 0.86..1.9, a shift locked onto
    one moving object more than 1 (the background, moved by the object's motion, stops matching)."""

    scene_confirm_samples: int = 3
    """A moved camera counts only after this many samples in a row differ from the reference: a
    passer-by close to the lens or a parked lorry differs for one sample, a turned camera for good."""

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

# Night by right: darker (long exposure still leaves a dim picture), noisier (gain at its top) and
# flatter (IR light is monochrome and falls off with distance). Measured on the night versions of the
# real footage (docs/quality.md): a night picture that these still fail is a fault at night too.
NIGHT_OVERRIDES: dict[str, float] = {
    "dark_mean_luma": 15.0,
    "noise_max_sigma": 7.0,
    "contrast_min_spread": 12.0,
    # A whole night scene is dark; a lens covered at night is darker still (unlit, near black).
    "occlusion_dark_luma": 20.0,
}
NIGHT_THRESHOLDS = replace(DEFAULT_THRESHOLDS, **NIGHT_OVERRIDES)  # type: ignore[arg-type]
