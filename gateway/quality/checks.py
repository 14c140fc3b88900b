"""Every video quality check of one sample, in one call: :func:`diagnose`.

The checks live by kind: one picture on its own (:mod:`.picture`), pictures over time (:mod:`.temporal`)
and the picture against the camera's reference (:mod:`.scene`). A sample is the sampled keyframe,
prepared once (:mod:`.frames`), plus what the sampler could add: the next keyframe, decoded for the
checks that need two pictures close in time, and the sizes of the packets between them.
"""

from __future__ import annotations

from gateway.quality.frames import CheckResult, Prepared, not_checkable
from gateway.quality.picture import (
    check_blank,
    check_blur,
    check_bright,
    check_colour_cast,
    check_contrast,
    check_dark,
    check_noise,
    check_occlusion,
    check_stripes,
)
from gateway.quality.scene import Reference, SceneTracker, check_scene
from gateway.quality.temporal import Bitstream, FrozenTracker, check_shake
from gateway.quality.thresholds import CHECK_NAMES, DEFAULT_THRESHOLDS, QualityThresholds

# Checks of what the picture shows: meaningless on a blank frame, whose one real fault is "blank".
_CONTENT = (check_contrast, check_blur, check_occlusion, check_colour_cast, check_noise, check_stripes)


def diagnose(
    prepared: Prepared,
    *,
    thresholds: QualityThresholds = DEFAULT_THRESHOLDS,
    frozen: FrozenTracker,
    reference: Reference | None,
    second: Prepared | None = None,
    bitstream: Bitstream | None = None,
    scene: SceneTracker | None = None,
) -> list[CheckResult]:
    """Run every check on a prepared frame, in ``CHECK_NAMES`` order.

    When the frame is blank, the checks that judge picture content are ``not_checkable`` rather than
    piling alarms onto the one real fault. Without ``scene``, a differing view fails at once (no
    confirmation over samples).
    """
    t = thresholds
    blank = check_blank(prepared, t)
    dark = check_dark(prepared, t)
    results = [blank, dark, check_bright(prepared, t)]
    if blank.state == "fail":
        # A blank frame's one real fault is "blank"; a repeated blank screen is not news either.
        frozen.reset()
        names = [fn.__name__.removeprefix("check_") for fn in _CONTENT]
        skipped = {name: not_checkable(name, "frame is blank") for name in [*names, "frozen", "shake", "scene_change"]}
        return [*results, *(skipped[name] for name in CHECK_NAMES[3:])]
    usual = reference.chroma if reference is not None else None
    bright = results[2]
    for fn in _CONTENT:
        if fn is check_colour_cast and bright.state == "fail":
            # Clipped channels shift the colour of an overexposed picture: that is the exposure fault.
            results.append(not_checkable("colour_cast", "picture overexposed: its colours are clipped (see bright)"))
        elif fn is check_colour_cast:
            results.append(check_colour_cast(prepared, t, usual))
        elif fn is check_blur and dark.state == "fail":
            results.append(not_checkable("blur", "picture too dark to judge focus (see dark)"))
        else:
            results.append(fn(prepared, t))
    if results[CHECK_NAMES.index("occlusion")].state == "fail":
        # A hand over the lens hides the view: "frozen" or "moved" would only repeat the occlusion alarm,
        # and a still cover says nothing about whether the camera's picture repeats.
        frozen.reset()
        results.append(not_checkable("frozen", "the view is hidden (see occlusion)"))
        results.append(check_shake(prepared, second, t))
        results.append(not_checkable("scene_change", "the view is hidden (see occlusion)"))
    else:
        results.append(frozen.check(prepared, t, second=second, bitstream=bitstream))
        results.append(check_shake(prepared, second, t))
        moved = check_scene(prepared, reference, t)
        results.append(scene.confirm(moved, t) if scene is not None else moved)
    assert [r.name for r in results] == list(CHECK_NAMES)
    return results
