"""The coverage/compliance report as data: built once by :mod:`.coverage`, rendered by :mod:`.render`.

Times are Unix seconds (floats) in the model; the renderers show them in the site's time zone
(``Report.timezone``). Durations are seconds. Percentages are 0..100 and None when nothing is known.
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo

import numpy as np

Severity = Literal["fail", "warn", "info"]

# The states a camera's timeline is drawn with; "unknown" is time no gateway was watching.
TIMELINE_STATES = ("online", "degraded", "offline", "disabled", "unknown")


@dataclass(frozen=True)
class Finding:
    """One reason behind the verdict: a failure, a warning (does not fail the report) or a note."""

    severity: Severity
    subject: str  # "zone main-gate", "camera gate-hd", "gateway", "staffing", "retention"
    message: str  # English, as the JSON export gives it
    # What it found and its figures, so that a page can say it in the reader's language (reports/findings.py);
    # neither is exported: the JSON keeps its three fields.
    code: str = ""
    args: tuple[tuple[str, Any], ...] = ()


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

    ``fault`` is a stable code: ``below_hd``, ``low_fps``, ``slow_delivery``, ``long_keyframe_interval``,
    ``low_bitrate`` or ``quality:<check>`` (``quality:frozen``, ``quality:blank``, ...). ``start`` is
    when the gateway detected it (a quality fault may have begun up to one sampling window earlier);
    ``ongoing`` when it had not cleared by the end of the period.
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
class CameraForwarding:
    """Whether the city network could see a camera over the period.

    Forwarded means configured for at least one GB/T 28181 uplink; ``registered_s`` is the time at
    least one of those uplinks was registered to its platform (so the platform could open video),
    None when the report was made without the forwarding history.
    """

    uplinks: tuple[str, ...]  # uplink ids configured to forward the camera; empty: not forwarded
    registered_s: float | None
    registered_percent: float | None  # of the elapsed period (up to the time the report was made)
    sessions: int  # live video sessions the platforms opened that overlap the period
    session_s: float  # their time inside the period
    bytes_sent: int  # whole-session totals of those sessions that ended

    @property
    def forwarded(self) -> bool:
        return bool(self.uplinks)


@dataclass(frozen=True)
class UplinkReport:
    id: str
    cameras: tuple[str, ...]  # the report's cameras this uplink forwards
    registered_s: float | None  # None: no forwarding history was read
    registered_percent: float | None


@dataclass(frozen=True)
class ForwardingReport:
    """The site's GB/T 28181 forwarding; absent from a report when the site has no uplink configured."""

    uplinks: tuple[UplinkReport, ...]
    cameras: int  # enabled cameras in the report
    forwarded: int  # of them, configured for at least one uplink
    registered: int  # of those, with some time an uplink of theirs was registered
    key_area_cameras: int  # enabled cameras in a key_area zone, the ones an auditor asks about first
    key_area_forwarded: int
    history: bool  # False: made without the forwarding history, so registered time is unknown
    definition: str  # what "forwarded" means, stated in every output

    def summary(self) -> str:
        text = f"{self.forwarded} of {self.cameras} enabled camera(s) forwarded"
        if self.history:
            text += f", {self.registered} while an uplink was registered"
        if self.key_area_cameras:
            text += f"; key-area cameras: {self.key_area_forwarded} of {self.key_area_cameras} forwarded"
        return text


@dataclass(frozen=True)
class CameraRecordings:
    """What the recording audit found of a camera's recordings within the period."""

    source: str  # where they live: "recorder nvr1, channel ch1", "the camera's own Profile G", "a playback URL"
    verifiable: bool  # False: only a playback URL is known, nothing could be searched
    days: int  # days of the period the audit has a finding for
    audited_s: float  # the part of the period those findings cover
    recorded_s: float
    completeness_percent: float | None  # recorded / audited; None: nothing audited
    days_below: tuple[tuple[str, float], ...]  # (day, percent) under policy.recordings.min_completeness_percent
    long_gaps: tuple[Span, ...]  # gaps over policy.recordings.max_gap_s within the period
    retained_days: float | None  # the oldest recording's age at the last search up to the period's end (or
    # the first after it, when none came before)
    last_error: str | None  # the device's last answer, when it was a failure


@dataclass(frozen=True)
class TicketLine:
    """One hidden-danger ticket (gateway/tickets/) as it stood at the period's end."""

    id: int
    camera_id: str
    zone_id: str | None
    fault: str  # offline | video_lost | picture | below_hd | degraded
    detail: str
    since: float  # when the fault began (may be before the period)
    opened_at: float
    first_told_at: float  # when people were first told of its current episode (its reopening, if reopened)
    reopened: int
    acknowledged_at: float | None  # None: not acknowledged by the period's end
    acknowledged_by: str | None
    note: str | None
    closed_at: float | None  # None: not closed by the period's end
    state_at_end: str  # "open", "closed", or "unknown": reopened after the period, its earlier end is lost
    acknowledge_s: float | None  # told to acknowledged
    repair_s: float | None  # the fault's start to the ticket's close, when closed within the period
    overdue: bool  # open and not acknowledged within the target at the period's end

    @property
    def open_at_end(self) -> bool:
        return self.state_at_end == "open"


@dataclass(frozen=True)
class TicketFigures:
    """Hidden-danger tickets of the site, a zone or a camera over the period."""

    opened: int  # opened within the period
    due: int  # told within the period and, by its end, acknowledged or past the target
    acknowledged_in_target: int  # of those due
    acknowledge_median_s: float | None  # of those told within the period and acknowledged by its end
    acknowledge_worst_s: float | None
    repaired: int  # closed within the period
    repair_median_s: float | None  # of those: the fault's start to the ticket's close
    repair_worst_s: float | None
    open_at_end: int
    overdue_at_end: int
    oldest_open_s: float | None  # the age at the period's end of the oldest fault still open

    @property
    def in_target_percent(self) -> float | None:
        return round(100.0 * self.acknowledged_in_target / self.due, 3) if self.due else None


@dataclass(frozen=True)
class TicketsReport:
    """The period's hidden dangers; absent from a report made without the tickets table."""

    acknowledge_target_s: float  # tickets.acknowledge_within_min
    site: TicketFigures
    zones: dict[str, TicketFigures]  # every zone of the report, by the zone the ticket was judged under
    cameras: dict[str, TicketFigures]  # the report's cameras that had a ticket in the period
    tickets: tuple[TicketLine, ...]  # open at the end first (overdue first), then by opening
    definition: str  # how the figures are counted, stated in every output


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
    forwarding: CameraForwarding | None = None  # None: the site has no GB/T 28181 uplink
    recordings: CameraRecordings | None = None  # None: where its recordings live is not configured


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
    # policy.stream: None when not set (measured, not judged), which is the default.
    max_keyframe_interval_s: float | None = None
    min_bitrate_kbps: float | None = None
    # policy.recordings
    min_recorded_percent: float = 99.0
    max_recording_gap_s: float = 300.0


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
    forwarding: ForwardingReport | None = None  # None: the site has no GB/T 28181 uplink
    tickets: TicketsReport | None = None  # None: made without the tickets table

    def local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, ZoneInfo(self.timezone))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (no NaN or infinity: unknown is None). Every time is given as Unix
        seconds (to the millisecond) and as local ISO 8601. The timeline bars are left out: they are
        for drawing (HTML, PDF), would be half of a long report, and say nothing the outages and
        incidents do not; GET /api/v1/cameras/{id}/timeline gives a camera's exact intervals."""
        iso = IsoFormatter(ZoneInfo(self.timezone))
        return self.json_data(iso, _outages(self.cameras, iso), _incidents(self.cameras, iso))

    def json_data(
        self, iso: IsoFormatter, outage_lists: Sequence[object], incident_lists: Sequence[object]
    ) -> dict[str, Any]:
        """:meth:`to_dict` with each camera's outages and incidents as given, in the order of the cameras:
        lists of dicts, or their JSON text (``orjson.Fragment``), which render_json writes in bulk."""
        policy = asdict(self.policy)
        policy["quality_thresholds"] = {k: _num(v) for k, v in self.policy.quality_thresholds.items()}
        return {
            "site_id": self.site_id,
            "site_name": self.site_name,
            "unit_name": self.unit_name,
            "timezone": self.timezone,
            "period_label": self.period_label,
            **iso.span(self.start, self.end),
            "generated_at": round(self.generated_at, 3),
            "generated_at_iso": iso(self.generated_at),
            "gateway_version": self.gateway_version,
            "policy": policy,
            "passed": self.passed,
            "findings": [_finding(f) for f in self.findings],
            "zones": [
                {
                    "id": z.id,
                    "name": z.name,
                    "kind": z.kind,
                    "cameras": list(z.cameras),
                    "seconds": {k: _num(v) for k, v in z.seconds.items()},
                    "covered_percent": _num(z.covered_percent),
                    "gaps": gaps,
                    "passed": z.passed,
                    "findings": [_finding(f) for f in z.findings],
                }
                for z, gaps in zip(self.zones, _gaps(self.zones, iso), strict=True)
            ],
            "cameras": [
                {
                    "id": c.id,
                    "name": c.name,
                    "zones": list(c.zones),
                    "enabled": c.enabled,
                    "required_resolution": c.required_resolution,
                    "measured_resolution": c.measured_resolution,
                    "measured_codec": c.measured_codec,
                    "measured_fps": _num(c.measured_fps),
                    "seconds": {k: _num(v) for k, v in c.seconds.items()},
                    "uptime_percent": _num(c.uptime_percent),
                    "good_percent": _num(c.good_percent),
                    "outages": outages,
                    "incidents": incidents,
                    "clock_offset_s": _num(c.clock_offset_s),
                    "retention_days": _num(c.retention_days),
                    "passed": c.passed,
                    "findings": [_finding(f) for f in c.findings],
                    "forwarding": _camera_forwarding(c.forwarding),
                    "recordings": _camera_recordings(c.recordings, iso),
                }
                for c, outages, incidents in zip(self.cameras, outage_lists, incident_lists, strict=True)
            ],
            "gateway": {
                "seconds": _num(self.gateway.seconds),
                "percent": _num(self.gateway.percent),
                "spans": [
                    {
                        "start": s,
                        "start_iso": si,
                        "end": e,
                        "end_iso": ei,
                        "duration_s": d,
                        "state": g.state,
                        "detail": g.detail,
                    }
                    for g, s, si, e, ei, d in iso.rows(self.gateway.spans)
                ],
                "runs": self.gateway.runs,
            },
            "staffing": asdict(self.staffing),
            "notes": list(self.notes),
            "forwarding": _forwarding(self.forwarding),
            "tickets": _tickets(self.tickets, iso),
        }


def _camera_recordings(r: CameraRecordings | None, iso: IsoFormatter) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "source": r.source,
        "verifiable": r.verifiable,
        "days": r.days,
        "audited_s": _num(r.audited_s),
        "recorded_s": _num(r.recorded_s),
        "completeness_percent": _num(r.completeness_percent),
        "days_below": [{"day": day, "percent": _num(pct)} for day, pct in r.days_below],
        "long_gaps": [
            {"start": s, "start_iso": si, "end": e, "end_iso": ei, "duration_s": d}
            for _, s, si, e, ei, d in iso.rows(r.long_gaps)
        ],
        "retained_days": _num(r.retained_days),
        "last_error": r.last_error,
    }


def _outages(cameras: Sequence[CameraReport], iso: IsoFormatter) -> list[list[dict[str, Any]]]:
    return _timed([c.outages for c in cameras], iso, lambda o: {"reasons": list(o.reasons), "ongoing": o.ongoing})


def _gaps(zones: Sequence[ZoneReport], iso: IsoFormatter) -> list[list[dict[str, Any]]]:
    return _timed([z.gaps for z in zones], iso, lambda g: {"state": g.state, "detail": g.detail})


def _incidents(cameras: Sequence[CameraReport], iso: IsoFormatter) -> list[list[dict[str, Any]]]:
    return _timed(
        [c.incidents for c in cameras],
        iso,
        lambda i: {"fault": i.fault, "detail": i.detail, "ongoing": i.ongoing},
    )


def _timed(
    groups: Sequence[Sequence[_T]], iso: IsoFormatter, fields: Callable[[_T], dict[str, Any]]
) -> list[list[dict[str, Any]]]:
    """Each group's items as JSON data: their times (seconds and local ISO), duration, then `fields`,
    formatted in one batch (100,000 outages in a long report; a batch costs about a few hundred rows)."""
    found = [
        {"start": s, "start_iso": si, "end": e, "end_iso": ei, "duration_s": d, **fields(item)}
        for item, s, si, e, ei, d in iso.rows([item for group in groups for item in group])
    ]
    return _regroup(found, [len(group) for group in groups])


def _regroup(flat: list[dict[str, Any]], sizes: list[int]) -> list[list[dict[str, Any]]]:
    groups, at = [], 0
    for size in sizes:
        groups.append(flat[at : at + size])
        at += size
    return groups


def hms(seconds: float | None) -> str:
    """``h:mm:ss`` (hours keep counting past 24, as auditors add them up); empty when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    sign = "-" if seconds < 0 else ""
    total = round(abs(seconds))
    return f"{sign}{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def _num(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _camera_forwarding(f: CameraForwarding | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {
        "forwarded": f.forwarded,
        "uplinks": list(f.uplinks),
        "registered_s": _num(f.registered_s),
        "registered_percent": _num(f.registered_percent),
        "sessions": f.sessions,
        "session_s": _num(f.session_s),
        "bytes_sent": f.bytes_sent,
    }


def _forwarding(f: ForwardingReport | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {
        "summary": f.summary(),
        "definition": f.definition,
        "history": f.history,
        "cameras": f.cameras,
        "forwarded": f.forwarded,
        "registered": f.registered,
        "key_area_cameras": f.key_area_cameras,
        "key_area_forwarded": f.key_area_forwarded,
        "uplinks": [
            {
                "id": u.id,
                "cameras": list(u.cameras),
                "registered_s": _num(u.registered_s),
                "registered_percent": _num(u.registered_percent),
            }
            for u in f.uplinks
        ],
    }


def _ticket_figures(f: TicketFigures) -> dict[str, Any]:
    return {
        "opened": f.opened,
        "due": f.due,
        "acknowledged_in_target": f.acknowledged_in_target,
        "in_target_percent": _num(f.in_target_percent),
        "acknowledge_median_s": _num(f.acknowledge_median_s),
        "acknowledge_worst_s": _num(f.acknowledge_worst_s),
        "repaired": f.repaired,
        "repair_median_s": _num(f.repair_median_s),
        "repair_worst_s": _num(f.repair_worst_s),
        "open_at_end": f.open_at_end,
        "overdue_at_end": f.overdue_at_end,
        "oldest_open_s": _num(f.oldest_open_s),
    }


def _tickets(t: TicketsReport | None, iso: IsoFormatter) -> dict[str, Any] | None:
    if t is None:
        return None

    def when(ts: float | None) -> str | None:
        return None if ts is None else iso(ts)

    return {
        "definition": t.definition,
        "acknowledge_target_s": _num(t.acknowledge_target_s),
        "site": _ticket_figures(t.site),
        "zones": {zid: _ticket_figures(f) for zid, f in t.zones.items()},
        "cameras": {cid: _ticket_figures(f) for cid, f in t.cameras.items()},
        "tickets": [
            {
                "id": line.id,
                "camera_id": line.camera_id,
                "zone_id": line.zone_id,
                "fault": line.fault,
                "detail": line.detail,
                "since": round(line.since, 3),
                "since_iso": iso(line.since),
                "opened_at": round(line.opened_at, 3),
                "opened_at_iso": iso(line.opened_at),
                "first_told_at": round(line.first_told_at, 3),
                "reopened": line.reopened,
                "acknowledged_at": line.acknowledged_at,
                "acknowledged_at_iso": when(line.acknowledged_at),
                "acknowledged_by": line.acknowledged_by,
                "note": line.note,
                "closed_at": line.closed_at,
                "closed_at_iso": when(line.closed_at),
                "state_at_end": line.state_at_end,
                "acknowledge_s": _num(line.acknowledge_s),
                "repair_s": _num(line.repair_s),
                "overdue": line.overdue,
            }
            for line in t.tickets
        ],
    }


def _finding(f: Finding) -> dict[str, str]:
    return {"severity": f.severity, "subject": f.subject, "message": f.message}


class _Timed(Protocol):
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


_T = TypeVar("_T", bound=_Timed)
# Below this many milliseconds (the year 2109), x * 1000 is off by at most 2**-12 (half its ulp), so
# its nearest whole number is round(x, 3)'s digits unless it lies about that close to a half.
_EXACT_MS = 2.0**42
_SECONDS = [f"{s:02d}" for s in range(60)]
MINUTES = [f"{s // 60:02d}:{s % 60:02d}" for s in range(3600)]  # "mm:ss" by the second of the hour


def round3(values: np.ndarray) -> list[float]:
    """``[round(v, 3) for v in values]``, the same floats, at array speed: Python's round(x, 3) goes
    through decimal digits (a third of the JSON's time once it ran per value)."""
    found: list[float] = round3_array(values).tolist()
    return found


def round3_array(values: np.ndarray) -> np.ndarray:
    """:func:`round3` as an array (render_json has orjson write it without a Python float each)."""
    ms = values * 1000.0
    whole = np.floor(ms + 0.5)
    # A product within 1e-3 of a half could lie on either side of it (or be a tie, rounded to even by
    # Python): those, and what is not finite or too large, take Python's own round.
    unsure = ~(np.abs(ms) < _EXACT_MS) | (np.abs(ms - np.floor(ms) - 0.5) < 1e-3)
    # n / 1000 with n a whole number below 2**53 is the double nearest to the decimal n/1000: the same
    # double round() parses back from its digits (copysign: round(-0.0001, 3) is -0.0).
    out: np.ndarray = np.copysign(whole / 1000.0, values)
    for i in np.flatnonzero(unsure).tolist():
        out[i] = round(float(values[i]), 3)
    return out


def _unique(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` of whole numbers, without sorting them when they lie
    close together (the hours of a report's times: a third of the time it took to format them)."""
    low = int(values.min())
    span = int(values.max()) - low + 1
    if span > 4 * len(values) + 4096:
        return np.unique(values, return_inverse=True)
    present = np.zeros(span, np.bool_)
    present[values - low] = True
    return np.flatnonzero(present) + low, (np.cumsum(present) - 1)[values - low]


_START, _END = operator.attrgetter("start"), operator.attrgetter("end")


@dataclass(frozen=True)
class IsoParts:
    """Local ISO 8601 texts of many times, each in three pieces: ``heads[which[i]]`` (date and hour,
    ``2026-11-20T03:``), ``MINUTES[second[i]]`` (``mm:ss``) and ``tails[which[i]]`` (offset, ``+08:00``)."""

    heads: list[str]
    tails: list[str]
    which: np.ndarray
    second: np.ndarray  # of the local hour


class IsoFormatter:
    """Local ISO 8601 for Unix seconds, remembering each minute's text up to the seconds (a long report
    formats hundreds of thousands of times; zone lookups and strftime are the slow part)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self._tz = tz
        self._offsets: dict[int, tuple[int, str]] = {}
        self._minutes: dict[int, tuple[str, str]] = {}

    def __call__(self, ts: float) -> str:
        second = math.floor(ts)
        minute = second // 60
        head, suffix = self._minute(minute)
        if not head:  # a historical offset with seconds: minutes do not line up, no shortcut
            offset, suffix = self._offset(ts)
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second + offset)) + suffix
        return f"{head}{_SECONDS[second - minute * 60]}{suffix}"

    def _minute(self, minute: int) -> tuple[str, str]:
        """The text of a minute up to its seconds, and the offset after them; no text for an offset
        with seconds."""
        known = self._minutes.get(minute)
        if known is None:
            offset, suffix = self._offset(minute * 60.0)
            if offset % 60:
                return "", ""
            known = self._minutes[minute] = (
                time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60 + offset)),
                suffix,
            )
        return known

    def _offset(self, ts: float) -> tuple[int, str]:
        """The zone's offset (at the start of the hour: whatever the order times come in) and its text."""
        hour = int(ts // 3600)
        known = self._offsets.get(hour)
        if known is None:
            offset = datetime.fromtimestamp(hour * 3600, self._tz).utcoffset() or timedelta(0)
            seconds = int(offset.total_seconds())
            sign = "+" if seconds >= 0 else "-"
            hh, mm = divmod(abs(seconds) // 60, 60)
            known = self._offsets[hour] = (seconds, f"{sign}{hh:02d}:{mm:02d}")
        return known

    def many(self, values: np.ndarray) -> list[str]:
        """``[self(v) for v in values]``: each minute's text made once, and the seconds put in."""
        parts = self.parts(values)
        if parts is None:
            return [self(v) for v in values.tolist()]
        heads, tails = parts.heads, parts.tails
        return [
            f"{heads[k]}{MINUTES[x]}{tails[k]}"
            for k, x in zip(parts.which.tolist(), parts.second.tolist(), strict=True)
        ]

    def parts(self, values: np.ndarray) -> IsoParts | None:
        """The texts of :meth:`many` in pieces, each hour's made once; None where only :meth:`__call__`
        can say them (a time that is not finite, an offset with seconds)."""
        if not len(values):
            return IsoParts([], [], np.zeros(0, np.int64), np.zeros(0, np.int64))
        if not np.isfinite(values).all():  # what __call__ refuses, it refuses there too
            return None
        seconds = np.floor(values).astype(np.int64)
        hours, at_hour = _unique(seconds // 3600)
        zones = [self._offset(h * 3600.0) for h in hours.tolist()]
        if any(offset % 60 for offset, _ in zones):  # a historical offset with seconds (see __call__)
            return None
        offsets = np.array([offset for offset, _ in zones], np.int64)
        local = seconds + offsets[at_hour]
        # The seconds of one UTC hour fall in one local hour, or two (a half-hour offset): a text for
        # each, by the UTC hour and which of its two local hours (the hour a DST change repeats thus
        # gets its own offset).
        first = (hours * 3600 + offsets) // 3600
        which = 2 * at_hour + (local // 3600 - first[at_hour])
        heads: list[str] = []
        tails: list[str] = []
        for local_hour, (_, suffix) in zip(first.tolist(), zones, strict=True):
            heads += (time.strftime("%Y-%m-%dT%H:", time.gmtime(hour * 3600)) for hour in (local_hour, local_hour + 1))
            tails += (suffix, suffix)
        return IsoParts(heads, tails, which, local % 3600)

    def rows(self, items: Sequence[_T]) -> Iterator[tuple[_T, float, str, float, str, float]]:
        """Each item with its start, end and duration as :meth:`span` gives them, formatted in one batch."""
        # attrgetter by map runs in C; a generator expression resumed Python code for each item.
        starts = np.fromiter(map(_START, items), np.float64, len(items))
        ends = np.fromiter(map(_END, items), np.float64, len(items))
        isos = self.many(np.concatenate((starts, ends)))
        count = len(items)
        return zip(items, round3(starts), isos[:count], round3(ends), isos[count:], round3(ends - starts), strict=True)

    def span(self, start: float, end: float, **more: Any) -> dict[str, Any]:
        found = {
            "start": round(start, 3),
            "start_iso": self(start),
            "end": round(end, 3),
            "end_iso": self(end),
            "duration_s": round(end - start, 3),
        }
        if more:
            found.update(more)
        return found
