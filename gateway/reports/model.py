"""The coverage/compliance report as data: built once by :mod:`.coverage`, rendered by :mod:`.render`.

Times are Unix seconds (floats) in the model; the renderers show them in the site's time zone
(``Report.timezone``). Durations are seconds. Percentages are 0..100 and None when nothing is known.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

Severity = Literal["fail", "warn", "info"]

# The states a camera's timeline is drawn with; "unknown" is time no gateway was watching.
TIMELINE_STATES = ("online", "degraded", "offline", "disabled", "unknown")


@dataclass(frozen=True)
class Finding:
    """One reason behind the verdict: a failure, a warning (does not fail the report) or a note."""

    severity: Severity
    subject: str  # "zone main-gate", "camera gate-hd", "gateway", "staffing", "retention"
    message: str


@dataclass(slots=True)  # not frozen: built by the hundred thousand; treat as immutable
class Span:
    """A stretch of time in one state, with why (timeline bars, outages, incidents, gaps)."""

    start: float
    end: float
    state: str
    detail: str = ""

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass(slots=True)  # not frozen: built by the hundred thousand; treat as immutable
class Incident:
    """A stretch of time when an online camera did not count as coverage, by fault.

    ``fault`` is a stable code: ``below_hd``, ``low_fps`` or ``quality:<check>`` (``quality:frozen``,
    ``quality:blank``, ...). ``start`` is when the gateway detected it (a quality fault may have begun
    up to one sampling window earlier); ``ongoing`` when it had not cleared by the end of the period.
    """

    fault: str
    start: float
    end: float
    detail: str
    ongoing: bool

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass(slots=True)  # not frozen: built by the hundred thousand; treat as immutable
class Outage:
    start: float
    end: float
    reasons: tuple[str, ...]
    ongoing: bool

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class CameraReport:
    id: str
    name: str
    zones: tuple[str, ...]
    enabled: bool
    required_resolution: str  # the policy's HD threshold, "1920x1080"
    measured_resolution: str | None  # the last measured in the period, "704x576"; None if never seen
    measured_codec: str | None
    measured_fps: float | None
    seconds: dict[str, float]  # per timeline state (TIMELINE_STATES), summing to the period
    uptime_percent: float | None  # (online + degraded) / known time
    good_percent: float | None  # online, not degraded (counts as coverage) / known time
    outages: tuple[Outage, ...]
    incidents: tuple[Incident, ...]
    timeline: tuple[Span, ...]  # for the uptime bar; spans shorter than the drawing resolution merged
    clock_offset_s: float | None  # last ONVIF reading in the period; None when not readable
    retention_days: float | None  # oldest recording reported by the camera/NVR; None: not verifiable
    passed: bool
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class ZoneReport:
    id: str
    name: str
    kind: str  # entrance | crowded_area | key_area | perimeter | other
    cameras: tuple[str, ...]
    seconds: dict[str, float]  # "covered", "uncovered", "unknown"
    covered_percent: float | None  # covered / (covered + uncovered)
    gaps: tuple[Span, ...]  # uncovered stretches, with the reasons of each camera at the time
    passed: bool
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class StaffingCheck:
    """The unit's security staffing against the Tianjin rule (required minimum vs declared)."""

    headcount: int
    key_unit: bool
    required: int  # security staff
    declared: int | None
    required_full_time: int | None  # key units only
    declared_full_time: int | None
    rule: str
    passed: bool | None  # None: nothing declared, so it cannot be judged


@dataclass(frozen=True)
class PolicyStated:
    """The policy the report was judged against, as configured when it was made."""

    key_unit: bool
    hd_min_resolution: str
    min_fps: float
    uptime_target_percent: float
    coverage_target_percent: float
    min_monitored_percent: float
    retention_days: int
    max_clock_drift_s: float
    quality_interval_s: float
    quality_checks: tuple[str, ...]
    quality_thresholds: dict[str, float]


@dataclass(frozen=True)
class GatewayDowntime:
    seconds: float
    percent: float
    spans: tuple[Span, ...]  # state "unknown", detail "gateway not running"
    runs: int  # gateway runs overlapping the period


@dataclass(frozen=True)
class Report:
    site_id: str
    site_name: str
    unit_name: str
    timezone: str
    period_label: str  # "day 2026-11-22", "week 2026-W47", "month 2026-11", "custom"
    start: float
    end: float
    generated_at: float
    gateway_version: str
    policy: PolicyStated
    passed: bool
    findings: tuple[Finding, ...]  # every fail and warn of the report, zones and cameras included
    zones: tuple[ZoneReport, ...]
    cameras: tuple[CameraReport, ...]
    gateway: GatewayDowntime
    staffing: StaffingCheck
    notes: tuple[str, ...] = field(default_factory=tuple)  # how things were measured, for the reader

    def local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, ZoneInfo(self.timezone))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; every time is given as Unix seconds and as local ISO 8601."""
        data: dict[str, Any] = _with_iso(asdict(self), ZoneInfo(self.timezone))
        return data


_TIME_KEYS = frozenset({"start", "end", "generated_at"})


def _with_iso(value: Any, tz: ZoneInfo) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out[key] = _with_iso(item, tz)
            if key in _TIME_KEYS and isinstance(item, int | float):
                out[f"{key}_iso"] = datetime.fromtimestamp(item, tz).isoformat(timespec="seconds")
        if "start" in value and "end" in value and isinstance(value["start"], int | float):
            out["duration_s"] = round(value["end"] - value["start"], 3)
        return out
    if isinstance(value, list | tuple):
        return [_with_iso(item, tz) for item in value]
    return value
