"""Video quality diagnosis on sampled decoded frames (pure functions; see :mod:`.checks`)."""

from gateway.quality.checks import (
    CHECK_NAMES,
    CheckResult,
    FrozenTracker,
    Prepared,
    Reference,
    State,
    check_blank,
    check_blur,
    check_bright,
    check_colour_cast,
    check_dark,
    check_noise,
    check_occlusion,
    check_scene,
    diagnose,
    motion_share,
    prepare,
)
from gateway.quality.thresholds import DEFAULT_THRESHOLDS, QualityThresholds

__all__ = [
    "CHECK_NAMES",
    "DEFAULT_THRESHOLDS",
    "CheckResult",
    "FrozenTracker",
    "Prepared",
    "QualityThresholds",
    "Reference",
    "State",
    "check_blank",
    "check_blur",
    "check_bright",
    "check_colour_cast",
    "check_dark",
    "check_noise",
    "check_occlusion",
    "check_scene",
    "diagnose",
    "motion_share",
    "prepare",
]
