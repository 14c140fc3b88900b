"""When an online camera counts as degraded: too slow, arriving slower than real time, below the
policy's HD threshold, or a picture that fails a quality check. A degraded camera delivers video but is not coverage.

Keyframe interval and bitrate are judged only against limits the site's policy sets
(policy.stream): a smart codec's 10 s GOP and near-zero bitrate on a still scene are how a healthy
camera saves storage, not a fault.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from gateway.config import CameraConfig, GatewayConfig, Resolution
from gateway.health.state import MeasuredStream
from gateway.quality.schedule import DayNight
from gateway.quality.thresholds import CHECK_NAMES, DEFAULT_THRESHOLDS, QualityThresholds

# A camera degraded for its frame rate recovers only 10 % above the threshold, so a stream hovering
# at the limit does not flap between online and degraded every second.
RECOVERY_MARGIN = 1.1

# Fault codes are stored with each state change and counted by the coverage report: never rename one.
BELOW_HD = "below_hd"
LOW_FPS = "low_fps"
SLOW_DELIVERY = "slow_delivery"
LONG_KEYFRAME_INTERVAL = "long_keyframe_interval"  # only with policy.stream.max_keyframe_interval_s
LOW_BITRATE = "low_bitrate"  # only with policy.stream.min_bitrate_kbps

# Below this share of real time the link cannot carry the stream: video falls behind by at least
# half a second every second. Jitter and read bursts move the measured ratio by a fifth at most
# (see gateway/health/stats.py), so this never fires on a healthy link.
MIN_REALTIME_RATIO = 0.5
SLOW_DELIVERY_REASON = (
    f"video arrives slower than real time (under {MIN_REALTIME_RATIO:.0%}): link too slow for the stream"
)
QUALITY_PREFIX = "quality:"

# What people read for each failing quality check; stable, so the state changes only with the verdict.
QUALITY_REASONS = {
    "blank": "picture blank (black or no signal)",
    "dark": "picture too dark",
    "bright": "picture overexposed",
    "contrast": "picture low in contrast (fog, misted or dirty cover)",
    "blur": "picture blurred or out of focus",
    "occlusion": "lens covered",
    "colour_cast": "strong colour cast",
    "noise": "picture very noisy",
    "stripes": "stripes or rolling interference in the picture",
    "frozen": "picture frozen",
    "shake": "camera shaking",
    "scene_change": "camera moved (view differs from its reference picture)",
}
assert set(QUALITY_REASONS) == set(CHECK_NAMES)


@dataclass(frozen=True)
class Verdict:
    reason: str | None  # None: good enough
    faults: tuple[str, ...] = ()


@dataclass(frozen=True)
class HealthPolicy:
    hd_min: Resolution
    min_fps: float
    quality_checks: frozenset[str] = frozenset(CHECK_NAMES)
    quality_thresholds: QualityThresholds = DEFAULT_THRESHOLDS
    day_night: DayNight | None = None  # night hours and thresholds; None: day thresholds all the time
    night_min_fps: float | None = None  # the minimum frame rate at night; None: min_fps all the time
    max_keyframe_interval_s: float | None = None  # None: measured, not judged
    min_bitrate_kbps: float | None = None  # None: measured, not judged

    @classmethod
    def from_config(cls, config: GatewayConfig) -> HealthPolicy:
        quality = config.policy.quality
        stream = config.policy.stream
        return cls(
            hd_min=config.hd_min_resolution(),
            min_fps=config.policy.min_fps,
            quality_checks=frozenset(quality.checks),
            quality_thresholds=quality.quality_thresholds(),
            day_night=quality.day_night(config.site.timezone),
            night_min_fps=quality.night.min_fps if quality.night is not None else None,
            max_keyframe_interval_s=stream.max_keyframe_interval_s,
            min_bitrate_kbps=stream.min_bitrate_kbps,
        )

    def describe(self) -> dict[str, Any]:
        """The policy as stored with each gateway run."""
        changed = {
            f.name: getattr(self.quality_thresholds, f.name)
            for f in dataclasses.fields(QualityThresholds)
            if getattr(self.quality_thresholds, f.name) != getattr(DEFAULT_THRESHOLDS, f.name)
        }
        return {
            "hd_min_resolution": str(self.hd_min),
            "min_fps": self.min_fps,
            "night_min_fps": self.night_min_fps,
            "quality_checks": [c for c in CHECK_NAMES if c in self.quality_checks],
            "quality_thresholds_changed": changed,
            "night": None
            if self.day_night is None
            else {
                "start_min": self.day_night.night_start_min,
                "end_min": self.day_night.night_end_min,
                "timezone": self.day_night.timezone,
            },
            "max_keyframe_interval_s": self.max_keyframe_interval_s,
            "min_bitrate_kbps": self.min_bitrate_kbps,
        }

    def judge(
        self, camera: CameraConfig, measured: MeasuredStream, previous: str | None = None, now: float | None = None
    ) -> Verdict:
        """Why the stream is not good enough (a short, stable reason and fault codes), if it is not.

        The reason names thresholds, not live figures, so that it changes only when the verdict does.
        ``previous`` is the reason of the current degraded state, for the frame-rate hysteresis.
        """
        reasons: list[str] = []
        faults: list[str] = []
        fps = measured.fps
        if fps is not None:
            expected = camera.expected.fps
            night = (
                self.night_min_fps is not None
                and self.day_night is not None
                and self.day_night.is_night(time.time() if now is None else now)
            )
            if night and self.night_min_fps is not None:
                # Cameras lengthen the exposure in the dark and lower the frame rate to fit it.
                threshold, why = self.night_min_fps, f"frame rate below the night minimum {self.night_min_fps:g} fps"
            elif expected is not None and expected / 2 > self.min_fps:
                threshold, why = expected / 2, f"frame rate below half the expected {expected:g} fps"
            else:
                threshold, why = self.min_fps, f"frame rate below the minimum {self.min_fps:g} fps"
            if previous is not None and why in previous:
                threshold *= RECOVERY_MARGIN
            if fps < threshold:
                reasons.append(why)
                faults.append(LOW_FPS)
        ratio = measured.realtime_ratio
        if ratio is not None:
            threshold = MIN_REALTIME_RATIO
            if previous is not None and SLOW_DELIVERY_REASON in previous:
                threshold *= RECOVERY_MARGIN
            if ratio < threshold:
                reasons.append(SLOW_DELIVERY_REASON)
                faults.append(SLOW_DELIVERY)
        limit = self.max_keyframe_interval_s
        if limit is not None:
            # The last interval, or the open one once it is longer: a camera that stops sending
            # keyframes is judged without waiting for the next. Intervals are set by the camera's
            # configuration and measured to the frame, so there is no margin to flap across.
            interval = max(measured.keyframe_interval_s or 0.0, measured.since_keyframe_s or 0.0)
            if interval > limit:
                reasons.append(f"keyframe interval over the maximum {limit:g} s")
                faults.append(LONG_KEYFRAME_INTERVAL)
        floor = self.min_bitrate_kbps
        if floor is not None and measured.bitrate_gops and measured.bitrate_kbps is not None:
            # Judged only over whole GOPs: the first seconds of a session may hold no keyframe (too low)
            # or little but one (too high).
            why = f"bitrate below the minimum {floor:g} kb/s"
            if previous is not None and why in previous:
                floor *= RECOVERY_MARGIN
            if measured.bitrate_kbps < floor:
                reasons.append(why)
                faults.append(LOW_BITRATE)
        if measured.width and measured.height:
            res = Resolution(width=measured.width, height=measured.height)
            if not res.at_least(self.hd_min):
                reasons.append(f"{res} is below HD ({self.hd_min})")
                faults.append(BELOW_HD)
        for result in measured.quality:
            if result.state == "fail" and result.name in self.quality_checks:
                reasons.append(QUALITY_REASONS.get(result.name, f"picture check {result.name} failed"))
                faults.append(QUALITY_PREFIX + result.name)
        return Verdict("; ".join(reasons) or None, tuple(faults))

    def degradation(self, camera: CameraConfig, measured: MeasuredStream, previous: str | None = None) -> str | None:
        return self.judge(camera, measured, previous).reason
