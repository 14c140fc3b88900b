"""Build the coverage/compliance report of a site for a period, from the stored history.

A camera counts as coverage at an instant when it is online and not degraded: degraded already
means below the HD threshold, under the minimum frame rate, or a picture that fails a quality check
(see :mod:`gateway.health.policy`). A zone is covered when at least one of its cameras is. Time no
gateway was watching is "unknown": it is reported, never counted as covered.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import gc
import math
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Select, bindparam, select

from gateway import __version__
from gateway.config import CameraConfig, GatewayConfig, UnitConfig, ZoneConfig
from gateway.gb28181.catalog import selected_cameras
from gateway.gb28181.ledger import ForwardLedger, SessionSummary, merge_spans
from gateway.health.rollup import CameraHistory, fault_seconds, period_history
from gateway.health.uptime import UNKNOWN, HistoryReader, Interval, Run
from gateway.i18n import N_
from gateway.quality.thresholds import CHECK_NAMES, QualityThresholds
from gateway.recordings.store import RecordingStore
from gateway.reports import findings as finding_of
from gateway.reports.model import (
    CameraForwarding,
    CameraReport,
    Finding,
    ForwardingReport,
    GatewayDowntime,
    PolicyStated,
    Report,
    Span,
    StaffingCheck,
    UplinkReport,
    ZoneReport,
)
from gateway.reports.recordings import recordings_of, with_recordings
from gateway.reports.tickets import tickets_of, with_tickets
from gateway.storage import schema
from gateway.storage.batch import PerDialect, ids_param, ids_table
from gateway.tickets.store import TicketStore

# Timeline bars are drawn at most this many spans wide; shorter spans merge into their worst state.
TIMELINE_SPANS = 400
# The worse state wins when short spans are merged for drawing.
_SEVERITY = {"offline": 4, "degraded": 3, UNKNOWN: 2, "disabled": 1, "online": 0}
_ORDER = {"fail": 0, "warn": 1, "info": 2}


@dataclass(frozen=True)
class ReportPeriod:
    start: float
    end: float
    label: str
    now: float


def build_report(
    config: GatewayConfig,
    reader: HistoryReader,
    period: ReportPeriod,
    *,
    zone_ids: Sequence[str] | None = None,
    ledger: ForwardLedger | None = None,
    recordings: RecordingStore | None = None,
    tickets: TicketStore | None = None,
    rollups: bool = True,
    drawn: bool = True,
) -> Report:
    """The report for the whole site, or only for ``zone_ids`` (and the cameras in them).

    ``ledger`` (on the same database as ``reader``) gives the GB/T 28181 forwarding history; without
    it a site with uplinks still shows which cameras are configured for forwarding, with registered
    time and sessions unknown. Without ``tickets`` the report has no hidden-danger section.

    Without ``drawn`` the cameras' timeline bars are left empty (JSON and CSV do not draw them) and the
    period's settled days are read from their daily roll-ups (computed and stored when missing), which
    spares reading every state change of the period; ``rollups=False`` reads the raw history anyway,
    the check of them. A drawn report reads every interval to draw it, so it reads the raw history.
    """
    with without_gc():
        return _build(config, reader, period, zone_ids, ledger, recordings, tickets, rollups, drawn)


@contextlib.contextmanager
def without_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a report's objects are made.

    A long report makes hundreds of thousands of small objects and none of them form cycles; each
    automatic collection would walk all of them again (40 % of the build time for 1,000 cameras over
    90 days). Reference counting still frees everything; the collector resumes afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            _promote_young()
            gc.enable()


def _promote_young() -> None:
    """Hand the objects made since the last collection to the oldest generation, unexamined.

    Resumed as it was, the collector would examine every object the report made (they outlive the
    pause: 250,000 for 90 days of 1,000 cameras, 40 ms) at the next allocation, only to find no cycle.
    freeze() moves all tracked objects to the permanent generation and counts the young generations
    from zero; unfreeze() gives them to the oldest generation, which a full collection still examines.
    Left alone when the process froze objects of its own (unfreeze would release them).
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


def _build(
    config: GatewayConfig,
    reader: HistoryReader,
    period: ReportPeriod,
    zone_ids: Sequence[str] | None,
    ledger: ForwardLedger | None,
    recordings: RecordingStore | None = None,
    tickets: TicketStore | None = None,
    rollups: bool = True,
    drawn: bool = True,
) -> Report:
    start, end, now = period.start, period.end, period.now
    zones = [z for z in config.zones if zone_ids is None or z.id in zone_ids]
    if zone_ids is None:
        cameras = list(config.cameras)
    else:
        wanted = {z.id for z in zones}
        cameras = [c for c in config.cameras if wanted & set(c.zones)]
    policy = _policy(config)
    runs = reader.runs_by_id(start, end, now)
    down = reader.gateway_down(start, end, now)

    tz = ZoneInfo(config.site.timezone) if rollups else None
    ids = [c.id for c in cameras]
    with reader.engine.connect() as conn:
        history = period_history(reader, conn, ids, start, end, now, tz=tz, runs=runs, whole=drawn)
        inventory = _latest_inventory(conn, ids, end)

    recorded = recordings_of(config, cameras, recordings, start, min(end, now), policy) if recordings else {}
    for cid, r in recorded.items():
        if r.retained_days is not None:
            # Measured by the recording audit: it replaces what the device's own summary claimed.
            inventory[cid] = (inventory[cid][0], r.retained_days)
    camera_reports = [
        _camera_report(
            cam.id, cam.name, tuple(cam.zones), cam.enabled, history[cam.id], policy, period, inventory[cam.id]
        )
        for cam in cameras
    ]  # fmt: skip
    zone_reports = [_zone_report(z, [c.id for c in cameras if z.id in c.zones], history, policy, period) for z in zones]

    down_s = sum(iv.duration for iv in down)
    span = end - start
    gateway = GatewayDowntime(
        seconds=round(down_s, 3),
        percent=round(100 * down_s / span, 3),
        spans=tuple(Span(iv.start, iv.end, UNKNOWN, iv.reason or GATEWAY_NOT_RUNNING) for iv in down),
        runs=len(runs),
    )
    staffing = staffing_check(config.site.unit)
    camera_reports = with_recordings(camera_reports, recorded, policy)
    dangers = tickets_of(config, cameras, zones, tickets, start, end, now) if tickets is not None else None
    if dangers is not None:
        camera_reports = with_tickets(camera_reports, dangers, ZoneInfo(config.site.timezone))
    forwarding, forwarded_by_camera = _forwarding(config, cameras, ledger, period, down)
    if forwarding is not None:
        camera_reports = [dataclasses.replace(c, forwarding=forwarded_by_camera[c.id]) for c in camera_reports]

    findings: list[Finding] = []
    monitored = 100.0 - gateway.percent
    if monitored < policy.min_monitored_percent:
        findings.append(finding_of.gateway_unwatched(monitored, policy.min_monitored_percent))
    elif down_s > 0:
        findings.append(finding_of.gateway_down(down_s))
    for z in zone_reports:
        findings.extend(z.findings)
    for c in camera_reports:
        findings.extend(c.findings)
    unverifiable = [c.id for c in camera_reports if c.enabled and c.retention_days is None]
    if unverifiable:
        findings.append(finding_of.retention_unverifiable(unverifiable))
    if staffing.passed is False:
        findings.append(
            finding_of.staffing_short(
                staffing.headcount,
                staffing.declared,
                staffing.required,
                staffing.declared_full_time,
                staffing.required_full_time,
            )
        )
    elif staffing.passed is None:
        findings.append(finding_of.staffing_undeclared())
    if forwarding is not None:
        findings.extend(_forwarding_findings(forwarding, period))
    findings = _merge_policy_notes(findings, reader, runs, policy)
    notes: tuple[str, ...] = NOTES
    if forwarding is not None:
        notes += (forwarding.definition,)
        if not forwarding.history:
            notes += (NO_FORWARDING_HISTORY,)

    site = config.site
    return Report(
        site_id=site.id,
        site_name=site.name,
        unit_name=site.unit.name,
        timezone=site.timezone,
        period_label=period.label,
        start=start,
        end=end,
        generated_at=now,
        gateway_version=__version__,
        policy=policy,
        passed=not any(f.severity == "fail" for f in findings),
        findings=tuple(sorted(findings, key=lambda f: _ORDER[f.severity])),
        zones=tuple(zone_reports),
        cameras=tuple(camera_reports),
        gateway=gateway,
        staffing=staffing,
        notes=notes,
        forwarding=forwarding,
        tickets=dangers,
    )


NOTES = (
    N_(
        "A camera counts as coverage while it is online and not degraded: at or above the HD threshold and"
        " the minimum frame rate, with a picture that passes the configured quality checks."
    ),
    N_(
        "A zone is covered while at least one of its cameras counts as coverage; percentages are of the"
        " time the gateway was watching (unknown time is shown apart and never counted as covered)."
    ),
    N_("Resolution and frame rate are measured from the received stream, not read from the camera's settings."),
    N_(
        "Quality faults are dated from the sample that detected them: one sampling interval (frozen: the"
        " whole window) may separate the start of a fault from its detection."
    ),
)


NO_FORWARDING_HISTORY = N_("The forwarding history was not available: registered time and sessions are unknown.")
GATEWAY_NOT_RUNNING = N_("gateway not running")
NO_CAMERA_IN_ZONE = N_("no camera in this zone")


# --- forwarding to the city network (GB/T 28181 uplinks) -------------------------------------------

FORWARDING_DEFINITION = N_(
    "Forwarded to the city network: the camera is configured for a GB/T 28181 uplink (upper platform)."
    " Registered is the share of the period, up to when the report was made, during which at least one"
    " of those uplinks was registered to its platform, so that the platform could open the camera's"
    " live video; time the gateway was not running counts as not registered. Sessions are the live"
    " video sessions the platforms opened on the camera."
)


def _forwarding(
    config: GatewayConfig,
    cameras: list[CameraConfig],
    ledger: ForwardLedger | None,
    period: ReportPeriod,
    down: list[Interval],
) -> tuple[ForwardingReport | None, dict[str, CameraForwarding]]:
    """The site's forwarding and each camera's; (None, {}) for a site with no uplink configured, so
    that its report does not list every camera as "not forwarded"."""
    uplinks = config.uplinks.gb28181
    if not uplinks:
        return None, {}
    start, end, now = period.start, period.end, period.now
    elapsed = max(0.0, min(end, now) - start)
    in_report = {c.id for c in cameras}
    uplinks_of: dict[str, list[str]] = {c.id: [] for c in cameras}
    cameras_of: dict[str, tuple[str, ...]] = {}
    for up in uplinks:
        cameras_of[up.id] = tuple(c.id for c in selected_cameras(config, up) if c.id in in_report)
        for cid in cameras_of[up.id]:
            uplinks_of[cid].append(up.id)

    spans: dict[str, list[tuple[float, float]]] | None = None
    sessions: dict[str, SessionSummary] = {}
    if ledger is not None:
        found = ledger.uplink_intervals(start, end, now, uplink_ids=list(cameras_of))
        # Open rows of a run that crashed and has not restarted would otherwise count until now:
        # no gateway running means no registration, whatever the ledger still says.
        gateway_down = [(iv.start, iv.end) for iv in down]
        spans = {uid: _subtract(found.get(uid, []), gateway_down) for uid in cameras_of}
        sessions = ledger.camera_sessions(start, end, now)

    registered_cache: dict[tuple[str, ...], float | None] = {}

    def registered(ids: tuple[str, ...]) -> float | None:
        if spans is None:
            return None
        if ids not in registered_cache:
            union = merge_spans([span for uid in ids for span in spans[uid]])
            registered_cache[ids] = round(sum(b - a for a, b in union), 3)
        return registered_cache[ids]

    def percent(seconds: float | None) -> float | None:
        return None if seconds is None else _percent(seconds, elapsed)

    by_camera: dict[str, CameraForwarding] = {}
    for cam in cameras:
        ids = tuple(uplinks_of[cam.id])
        seconds = registered(ids) if ids else (None if spans is None else 0.0)
        s = sessions.get(cam.id)
        by_camera[cam.id] = CameraForwarding(
            uplinks=ids,
            registered_s=seconds,
            registered_percent=percent(seconds),
            sessions=s.count if s else 0,
            session_s=round(s.seconds, 3) if s else 0.0,
            bytes_sent=s.bytes_sent if s else 0,
        )

    key_zones = {z.id for z in config.zones if z.kind == "key_area"}
    enabled = [c for c in cameras if c.enabled]
    key_area = [c for c in enabled if key_zones & set(c.zones)]
    site = ForwardingReport(
        uplinks=tuple(
            UplinkReport(
                id=uid,
                cameras=cids,
                registered_s=registered((uid,)),
                registered_percent=percent(registered((uid,))),
            )
            for uid, cids in cameras_of.items()
        ),
        cameras=len(enabled),
        forwarded=sum(1 for c in enabled if by_camera[c.id].forwarded),
        registered=sum(1 for c in enabled if by_camera[c.id].forwarded and (by_camera[c.id].registered_s or 0) > 0),
        key_area_cameras=len(key_area),
        key_area_forwarded=sum(1 for c in key_area if by_camera[c.id].forwarded),
        history=ledger is not None,
        definition=FORWARDING_DEFINITION,
    )
    return site, by_camera


def _forwarding_findings(forwarding: ForwardingReport, period: ReportPeriod) -> list[Finding]:
    """A warning per uplink that forwards cameras but was never registered while the period ran."""
    if not forwarding.history or min(period.end, period.now) <= period.start:
        return []
    return [
        finding_of.uplink_never_registered(u.id, len(u.cameras))
        for u in forwarding.uplinks
        if u.cameras and not u.registered_s
    ]


# --- cameras ---------------------------------------------------------------------------------------


def _camera_report(
    camera_id: str,
    name: str,
    zones: tuple[str, ...],
    enabled: bool,
    history: CameraHistory,
    policy: PolicyStated,
    period: ReportPeriod,
    inventory: tuple[float | None, float | None],
) -> CameraReport:
    seconds, found_outages, incidents = history.seconds, history.outages, history.incidents
    up = seconds["online"] + seconds["degraded"]
    known = up + seconds["offline"] + seconds["disabled"]
    uptime = _percent(up, known)
    good = _percent(seconds["online"], known)
    resolution, codec, fps = history.sample or (None, None, None)
    clock_offset, retention = inventory

    findings: list[Finding] = []
    if not enabled:
        findings.append(finding_of.camera_disabled(camera_id))
    elif uptime is None:
        findings.append(finding_of.camera_not_monitored(camera_id))
    else:
        if uptime < policy.uptime_target_percent:
            findings.append(
                finding_of.camera_uptime(
                    camera_id, uptime, policy.uptime_target_percent, len(found_outages), seconds["offline"]
                )
            )
        for fault, total in fault_seconds(incidents).items():
            findings.append(
                finding_of.camera_fault(
                    camera_id,
                    fault,
                    total,
                    hd=policy.hd_min_resolution,
                    min_fps=policy.min_fps,
                    keyframe_s=policy.max_keyframe_interval_s,
                    bitrate_kbps=policy.min_bitrate_kbps,
                )
            )
    if clock_offset is not None and abs(clock_offset) > policy.max_clock_drift_s:
        findings.append(finding_of.camera_clock(camera_id, clock_offset, policy.max_clock_drift_s))
    if retention is not None and retention < policy.retention_days:
        findings.append(finding_of.camera_retention(camera_id, retention, policy.retention_days))
    return CameraReport(
        id=camera_id,
        name=name,
        zones=zones,
        enabled=enabled,
        required_resolution=policy.hd_min_resolution,
        measured_resolution=resolution,
        measured_codec=codec,
        measured_fps=fps,
        seconds={k: round(v, 3) for k, v in seconds.items()},
        uptime_percent=uptime,
        good_percent=good,
        outages=found_outages,
        incidents=incidents,
        timeline=tuple(_drawable(history.timeline, period.start, period.end)) if history.timeline else (),
        clock_offset_s=clock_offset,
        retention_days=retention,
        passed=not any(f.severity == "fail" for f in findings),
        findings=tuple(findings),
    )


def _drawable(timeline: list[Interval], start: float, end: float) -> list[Span]:
    """The timeline as at most about TIMELINE_SPANS spans: a short span merges into a bucket that
    shows the worst state in it, so that a one-minute outage in a 90-day bar stays visible."""
    width = (end - start) / TIMELINE_SPANS
    out: list[Span] = []
    b_start: float | None = None
    b_end, b_state, b_detail, b_severity, mixed = 0.0, "", "", -1, False
    for s, e, state, reason, _ in timeline:
        if e - s >= width:
            if b_start is not None:
                out.append(Span(b_start, b_end, b_state, ("mixed: " if mixed else "") + b_detail))
                b_start = None
            out.append(Span(s, e, state, reason or ""))
            continue
        severity = _SEVERITY.get(state, 0)
        if b_start is None:
            b_start, b_state, b_detail, b_severity, mixed = s, state, reason or "", severity, False
        else:
            mixed = True
            if severity > b_severity:
                b_state, b_detail, b_severity = state, reason or "", severity
        b_end = e
        if b_end - b_start >= width:
            out.append(Span(b_start, b_end, b_state, ("mixed: " if mixed else "") + b_detail))
            b_start = None
    if b_start is not None:
        out.append(Span(b_start, b_end, b_state, ("mixed: " if mixed else "") + b_detail))
    return out


_I = schema.camera_inventory


def _build_latest_inventory(dialect: str) -> Select[Any]:
    ids = ids_table(dialect)
    inner = _I.alias("inner")
    # The camera's last good reading up to the end: one seek of the (camera_id, ts) index each.
    last = (
        select(inner.c.id)
        .where(inner.c.camera_id == ids.c.value, inner.c.ts <= bindparam("end"), inner.c.ok.is_(True))
        .order_by(inner.c.ts.desc(), inner.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(
        ids.c.value, _I.c.ts, _I.c.clock_offset_s, _I.c.recording_search, _I.c.recordings_earliest
    ).select_from(ids.join(_I, _I.c.id == last))


_LATEST_INVENTORY = PerDialect(_build_latest_inventory)


def _latest_inventory(
    conn: Connection, camera_ids: Sequence[str], end: float
) -> dict[str, tuple[float | None, float | None]]:
    """Each camera's (clock offset, retention days) from its last ONVIF reading up to the end of the
    period, in one query; (None, None) for a camera never read."""
    found: dict[str, tuple[float | None, float | None]] = dict.fromkeys(camera_ids, (None, None))
    if not camera_ids:
        return found
    params = {**ids_param(camera_ids), "end": end}
    for cid, ts, clock_offset, searched, earliest in conn.execute(_LATEST_INVENTORY.on(conn), params).all():
        retention = None
        if searched and earliest is not None:
            retention = round(max(0.0, ts - earliest) / 86400, 2)
        found[cid] = (clock_offset, retention)
    return found


# --- zones -----------------------------------------------------------------------------------------


def _zone_report(
    zone: ZoneConfig,
    camera_ids: list[str],
    history: dict[str, CameraHistory],
    policy: PolicyStated,
    period: ReportPeriod,
) -> ZoneReport:
    """Covered while any camera is online; else unknown while any camera is unknown; else uncovered."""
    cameras = [history[c] for c in camera_ids]
    covered = _union([span for c in cameras for span in c.online()])
    unknown = _subtract(_union([span for c in cameras for span in c.unknown()]), covered)
    uncovered = _subtract(_subtract([(period.start, period.end)], covered), unknown)
    seconds = {
        "covered": sum(b - a for a, b in covered),
        "uncovered": sum(b - a for a, b in uncovered),
        UNKNOWN: sum(b - a for a, b in unknown),
    }
    gaps = [Span(a, b, "uncovered", _why(a, b, camera_ids, history)) for a, b in uncovered]
    covered_pct = _percent(seconds["covered"], seconds["covered"] + seconds["uncovered"])
    findings: list[Finding] = []
    if not camera_ids:
        findings.append(finding_of.zone_no_camera(zone.id))
    elif covered_pct is None:
        findings.append(finding_of.zone_not_monitored(zone.id))
    elif covered_pct < policy.coverage_target_percent:
        findings.append(
            finding_of.zone_coverage(
                zone.id, covered_pct, policy.coverage_target_percent, len(gaps), seconds["uncovered"]
            )
        )
    return ZoneReport(
        id=zone.id,
        name=zone.name,
        kind=zone.kind,
        cameras=tuple(camera_ids),
        seconds={k: round(v, 3) for k, v in seconds.items()},
        covered_percent=covered_pct,
        gaps=tuple(gaps),
        passed=not findings,
        findings=tuple(findings),
    )


_FIRST = operator.itemgetter(0)


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """merge_spans (touching spans join) with the open span in locals: a zone over 90 days has
    hundreds of spans per camera."""
    out: list[tuple[float, float]] = []
    # By start alone: floats compare faster than tuples, and the order among equal starts does not
    # change the union.
    ordered = iter(sorted(spans, key=_FIRST))
    for a, b in ordered:
        if b > a:
            open_a, open_b = a, b
            break
    else:
        return out
    for a, b in ordered:
        if a <= open_b:
            if b > open_b:
                open_b = b
        elif b > a:
            out.append((open_a, open_b))
            open_a, open_b = a, b
    out.append((open_a, open_b))
    return out


def _subtract(spans: list[tuple[float, float]], cut: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Both sorted and disjoint; the parts of ``spans`` outside ``cut``."""
    out: list[tuple[float, float]] = []
    j = 0
    for a, b in spans:
        while j < len(cut) and cut[j][1] <= a:
            j += 1
        k, t = j, a
        while k < len(cut) and cut[k][0] < b:
            if cut[k][0] > t:
                out.append((t, cut[k][0]))
            t = max(t, cut[k][1])
            k += 1
        if t < b:
            out.append((t, b))
    return out


def _why(a: float, b: float, camera_ids: list[str], history: dict[str, CameraHistory]) -> str:
    """What each camera of the zone was doing during an uncovered stretch (when no camera was online,
    so only the time cameras were not online tells)."""
    if not camera_ids:
        return NO_CAMERA_IN_ZONE
    parts = []
    for cid in camera_ids:
        holes = history[cid].holes
        starts = holes.starts
        i = max(0, bisect.bisect_right(starts, a) - 1)
        seen: dict[str, None] = {}
        while i < len(starts) and starts[i] < b:
            if holes.ends[i] > a:
                reason = holes.reasons[i]
                seen[holes.states[i] + (f" ({reason})" if reason else "")] = None
            i += 1
            if len(seen) > 3:
                break
        parts.append(f"{cid}: " + ", ".join(seen))
    return "; ".join(parts)


# --- staffing and policy ---------------------------------------------------------------------------

STAFFING_RULE = N_(
    "Tianjin opinion: up to 200 staff, at least 2 security staff; over 200, at least 2 %. Key units,"
    " full-time security staff: up to 200 staff 2; 201-500: 3; 501-2000: 5 per mille; over 2000: 4 per mille."
)


def required_security_staff(headcount: int, key_unit: bool) -> tuple[int, int | None]:
    """(security staff, full-time security staff or None for other units) the rule asks for."""
    total = 2 if headcount <= 200 else math.ceil(headcount * 0.02)
    if not key_unit:
        return total, None
    if headcount <= 200:
        full = 2
    elif headcount <= 500:
        full = 3
    elif headcount <= 2000:
        full = math.ceil(headcount * 5 / 1000)
    else:
        full = math.ceil(headcount * 4 / 1000)
    return total, full


def staffing_check(unit: UnitConfig) -> StaffingCheck:
    required, required_full = required_security_staff(unit.headcount, unit.key_unit)
    declared, declared_full = unit.security_staff, unit.full_time_security_staff
    if declared is None and (required_full is None or declared_full is None):
        passed: bool | None = None
    else:
        passed = (declared is None or declared >= required) and (
            required_full is None or declared_full is None or declared_full >= required_full
        )
        if required_full is not None and declared_full is None:
            passed = None if passed else False
    return StaffingCheck(
        headcount=unit.headcount,
        key_unit=unit.key_unit,
        required=required,
        declared=declared,
        required_full_time=required_full,
        declared_full_time=declared_full,
        rule=STAFFING_RULE,
        passed=passed,
    )


def _policy(config: GatewayConfig) -> PolicyStated:
    p = config.policy
    thresholds = p.quality.quality_thresholds()
    return PolicyStated(
        key_unit=config.site.unit.key_unit,
        hd_min_resolution=str(config.hd_min_resolution()),
        min_fps=p.min_fps,
        uptime_target_percent=p.uptime_target_percent,
        coverage_target_percent=p.coverage_target_percent,
        min_monitored_percent=p.min_monitored_percent,
        retention_days=p.retention_days,
        max_clock_drift_s=p.max_clock_drift_s,
        quality_interval_s=config.supervisor.quality_interval_s,
        quality_checks=tuple(c for c in CHECK_NAMES if c in p.quality.checks),
        quality_thresholds={f.name: float(getattr(thresholds, f.name)) for f in dataclasses.fields(QualityThresholds)},
        max_keyframe_interval_s=p.stream.max_keyframe_interval_s,
        min_bitrate_kbps=p.stream.min_bitrate_kbps,
        min_recorded_percent=p.recordings.min_completeness_percent,
        max_recording_gap_s=p.recordings.max_gap_s,
    )


def _merge_policy_notes(
    findings: list[Finding], reader: HistoryReader, runs: dict[int, Run], policy: PolicyStated
) -> list[Finding]:
    """Warn when some of the period was judged live under another HD threshold, frame rate or stream limit."""
    differing = 0
    for stored in reader.run_policies(list(runs)).values():
        if stored is None:
            continue
        if (
            stored.get("hd_min_resolution") != policy.hd_min_resolution
            or stored.get("min_fps") != policy.min_fps
            # Runs stored before policy.stream existed judged neither: None, as the default.
            or stored.get("max_keyframe_interval_s") != policy.max_keyframe_interval_s
            or stored.get("min_bitrate_kbps") != policy.min_bitrate_kbps
        ):
            differing += 1
    if differing:
        findings.append(finding_of.policy_changed(differing))
    return findings


def _percent(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 3) if whole > 0 else None
