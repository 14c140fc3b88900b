"""What counts as working (`policy:`): HD, frame rate, uptime, retention, picture quality by day and night."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from pydantic import Field, field_validator

from gateway.config.base import Model
from gateway.config.cameras import ResolutionField
from gateway.config.recordings import RecordingsPolicy
from gateway.i18n import _
from gateway.quality.schedule import DayNight
from gateway.quality.thresholds import CHECK_NAMES, DEFAULT_THRESHOLDS, NIGHT_OVERRIDES, QualityThresholds


def _checked_thresholds(thresholds: dict[str, float]) -> dict[str, float]:
    fields = {f.name: f.type for f in dataclasses.fields(QualityThresholds)}
    for key, value in thresholds.items():
        if key not in fields:
            raise ValueError(_("unknown threshold {key}; see docs/quality.md for the list").format(key=repr(key)))
        if not math.isfinite(value) or value < 0:
            raise ValueError(_("threshold {key} must be a finite number >= 0").format(key=key))
        if fields[key] in (int, "int") and value != int(value):
            raise ValueError(_("threshold {key} must be a whole number").format(key=key))
    return thresholds


def _thresholds(base: QualityThresholds, overrides: dict[str, float]) -> QualityThresholds:
    fields = {f.name: f.type for f in dataclasses.fields(QualityThresholds)}
    values: dict[str, Any] = {k: int(v) if fields[k] in (int, "int") else float(v) for k, v in overrides.items()}
    return dataclasses.replace(base, **values)


_CLOCK_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class NightPolicy(Model):
    min_fps: float | None = Field(
        default=None,
        gt=0,
        le=240,
        description="Minimum frame rate at night: cameras lengthen the exposure in the dark and lower the"
        " frame rate to fit it (null: policy.min_fps day and night)",
    )
    start: str = Field(default="19:00", pattern=_CLOCK_TIME, description="When night begins (HH:MM, site time zone)")
    end: str = Field(default="07:00", pattern=_CLOCK_TIME, description="When night ends (HH:MM, the next morning)")
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Night overrides of the quality thresholds, on top of the built-in night ones (darker,"
        " noisier, flatter: see docs/quality.md) and the day overrides",
    )

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, thresholds: dict[str, float]) -> dict[str, float]:
        return _checked_thresholds(thresholds)

    @staticmethod
    def minutes(clock: str) -> int:
        hours, minutes = clock.split(":")
        return int(hours) * 60 + int(minutes)


class QualityPolicy(Model):
    checks: list[str] = Field(
        default_factory=lambda: list(CHECK_NAMES),
        description="Picture-quality checks whose failure makes a camera degraded (not coverage); the others"
        " are still measured and stored",
    )
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Overrides of the quality thresholds (see docs/quality.md), e.g. {dark_mean_luma: 30}",
    )
    night: NightPolicy | None = Field(
        default_factory=lambda: NightPolicy(),
        description="Night hours and their thresholds in the site's time zone; null: day thresholds all the time",
    )

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, checks: list[str]) -> list[str]:
        unknown = [c for c in checks if c not in CHECK_NAMES]
        if unknown:
            raise ValueError(
                _("unknown check(s) {unknown}; known: {known}").format(
                    unknown=", ".join(unknown), known=", ".join(CHECK_NAMES)
                )
            )
        return checks

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, thresholds: dict[str, float]) -> dict[str, float]:
        return _checked_thresholds(thresholds)

    def quality_thresholds(self) -> QualityThresholds:
        return _thresholds(DEFAULT_THRESHOLDS, self.thresholds)

    def night_thresholds(self) -> QualityThresholds | None:
        """Night: the day thresholds (with their overrides), then the built-in night values, then the night
        overrides."""
        if self.night is None:
            return None
        return _thresholds(_thresholds(self.quality_thresholds(), NIGHT_OVERRIDES), self.night.thresholds)

    def day_night(self, timezone: str) -> DayNight | None:
        night = self.night_thresholds()
        if self.night is None or night is None:
            return None
        return DayNight(timezone, NightPolicy.minutes(self.night.start), NightPolicy.minutes(self.night.end), night)


class StreamPolicy(Model):
    """Limits on what a camera's encoder does. Smart codecs (H.264+/H.265+, Smart Codec) lengthen the GOP
    and drop the bitrate on still scenes by design: by default both are measured and reported, never a
    fault; set a limit to make a breach one."""

    max_keyframe_interval_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="Longest keyframe interval (s) that is not a fault (null: measured, not judged)",
    )
    min_bitrate_kbps: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description="Lowest bitrate (kb/s, averaged over whole GOPs) that is not a fault (null: measured, not judged)",
    )


class PolicyConfig(Model):
    hd_min_resolution: ResolutionField | None = Field(
        default=None, description="Minimum resolution that counts as HD; default 1920x1080 for key units, else 1280x720"
    )
    min_fps: float = Field(default=15.0, gt=0, le=240, description="Minimum frame rate that counts as working")
    uptime_target_percent: float = Field(default=99.0, ge=0, le=100)
    retention_days: int = Field(default=30, ge=1, le=3650, description="Days of recorded video required")
    max_clock_drift_s: float = Field(default=5.0, gt=0)
    coverage_target_percent: float = Field(
        default=99.0, ge=0, le=100, description="Share of the monitored time each zone must be covered"
    )
    min_monitored_percent: float = Field(
        default=95.0,
        ge=0,
        le=100,
        description="Share of a report's period the gateway must have watched for the report to pass: time"
        " nobody watched is not evidence of coverage",
    )
    quality: QualityPolicy = Field(default_factory=lambda: QualityPolicy())
    recordings: RecordingsPolicy = Field(
        default_factory=lambda: RecordingsPolicy(), description="How recordings are audited and judged"
    )
    stream: StreamPolicy = Field(
        default_factory=lambda: StreamPolicy(),
        description="Optional limits on keyframe interval and bitrate (default: measured, not judged)",
    )
