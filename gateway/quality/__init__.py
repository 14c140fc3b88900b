"""Video quality diagnosis on sampled decoded frames (pure functions; see :mod:`.checks`)."""

from gateway.quality.checks import diagnose
from gateway.quality.frames import CHECK_NAMES, CheckResult, Prepared, State, prepare
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
from gateway.quality.temporal import Bitstream, FrozenTracker, check_shake, motion_share, temporal_noise
from gateway.quality.thresholds import DEFAULT_THRESHOLDS, QualityThresholds

__all__ = [
    "CHECK_NAMES",
    "DEFAULT_THRESHOLDS",
    "Bitstream",
    "CheckResult",
    "FrozenTracker",
    "Prepared",
    "QualityThresholds",
    "Reference",
    "SceneTracker",
    "State",
    "check_blank",
    "check_blur",
    "check_bright",
    "check_colour_cast",
    "check_contrast",
    "check_dark",
    "check_noise",
    "check_occlusion",
    "check_scene",
    "check_shake",
    "check_stripes",
    "diagnose",
    "motion_share",
    "prepare",
    "temporal_noise",
]
