"""Renders a coverage :class:`~gateway.reports.model.Report` as JSON, CSV, HTML or PDF for auditors.

Every format carries the same content; times are shown in the report's time zone, durations in seconds
(and h:mm:ss where a person reads them). Names come from the site config, so every renderer treats them
as hostile text: HTML autoescapes, CSV neutralises formulas, PDF replaces what its fonts cannot draw.

CSV layout: one wide header; the ``record`` column says what a row is and the other columns keep one
meaning across record types (unused ones stay empty):

=============  =============================================================================================
record         ``report`` | ``finding`` | ``zone`` | ``zone_gap`` | ``camera`` | ``recordings`` |
               ``recording_gap`` | ``outage`` | ``incident`` | ``gateway_down`` | ``staffing`` |
               ``forwarding`` | ``uplink`` (these two only for a site with GB/T 28181 uplinks configured) |
               ``tickets`` | ``tickets_zone`` | ``tickets_camera`` | ``ticket`` (hidden dangers, when the
               report was made with the tickets table)
id             site id (report), finding subject, zone id (zone, zone_gap, tickets_zone), camera id (camera,
               outage, incident, tickets_camera, ticket), ``gateway`` (gateway_down), ``staffing``,
               ``forwarding``, uplink id (uplink), ``tickets
name           site, zone or camera name
kind           period label (report), zone kind, incident fault, span state (zone_gap, gateway_down; the
               gateway total row says ``total``)
verdict        PASS / FAIL (report, zone, camera, staffing; staffing may say NOT JUDGED)
start, end     local ISO 8601 with offset (report period and every span)
duration_s     seconds, and duration_hms as h:mm:ss (spans; a camera's outage_s and the gateway total too)
detail         report: unit, time zone, generated at, version and the whole policy as ``key=value; ...``;
               finding message; gap, outage and incident reasons; staffing rule; forwarding: the site
               line and what "forwarded" means
forwarded,     camera rows of a site with uplinks: ``yes``/``no``, the uplink ids, the percent of the
uplinks, ...   period an uplink of the camera was registered (uplink rows: that uplink's), and the live
               sessions (count, seconds in the period, bytes sent)
opened, due,   tickets, tickets_zone, tickets_camera: the hidden-danger figures of the period (see the
...            ``tickets`` row's detail for how each is counted), times to acknowledge and to repair in
               seconds (median and worst), open and overdue at the period's end
ticket, ...    ticket rows: the ticket number, its fault (kind), zone (zones), the fault's start (start),
               its close within the period (end; empty and ongoing=yes while open), who acknowledged it
               and when, the seconds to acknowledge and to repair, and whether it was overdue
=============  =============================================================================================
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from fpdf import FPDF

from gateway.errors import InvalidRequestError
from gateway.reports.coverage import without_gc
from gateway.reports.model import (
    TIMELINE_STATES,
    CameraForwarding,
    CameraReport,
    Finding,
    Report,
    Span,
    TicketFigures,
    TicketLine,
    hms,
)
from gateway.reports.tickets import FAULT_TEXT, UNKNOWN_NOTE

FORMATS = ("json", "csv", "html", "pdf")

_MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}

# Timeline colours, shared by HTML and PDF so a printed page and a screen agree.
STATE_COLOURS = {
    "online": "#2e9d57",
    "degraded": "#e0a000",
    "offline": "#d64545",
    "disabled": "#8a94a3",
    "unknown": "#d9dde3",
}
# What the HTML timeline rects are filled with; unknown is hatched so it never reads as "disabled".
STATE_FILLS = {**STATE_COLOURS, "unknown": "url(#tl-unknown)"}
STATE_LABELS = {
    "online": "online",
    "degraded": "degraded (not counted as coverage)",
    "offline": "offline",
    "disabled": "disabled",
    "unknown": "unknown (gateway not watching)",
}
# When spans too short to see are folded together the worst state wins, so a brief outage stays visible.
_SEVERITY = {"online": 0, "disabled": 1, "unknown": 2, "degraded": 3, "offline": 4}


@dataclass(frozen=True)
class Rendered:
    body: bytes
    media_type: str
    filename: str


def render(report: Report, fmt: str) -> Rendered:
    """The report in ``fmt`` (one of :data:`FORMATS`), with a media type and a download file name."""
    if fmt not in FORMATS:
        raise InvalidRequestError(f"unknown report format {fmt!r}: choose one of {', '.join(FORMATS)}")
    renderers = {"json": render_json, "csv": render_csv, "html": render_html, "pdf": render_pdf}
    with without_gc():
        body = renderers[fmt](report)
    return Rendered(body=body, media_type=_MEDIA_TYPES[fmt], filename=filename(report, fmt))


def filename(report: Report, ext: str) -> str:
    """``coverage-<site>-<first day>-<last day>.<ext>``; the period end is exclusive, so a day is one date."""
    first = report.local(report.start).strftime("%Y%m%d")
    last = report.local(max(report.start, report.end - 1.0)).strftime("%Y%m%d")
    site = re.sub(r"[^A-Za-z0-9._-]+", "_", report.site_id).strip("._") or "site"
    return f"coverage-{site}-{first}-{last}.{ext}"


# ---------------------------------------------------------------------------------------------- helpers


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value


# The pages a person reads (HTML, PDF) list at most this many outages and incidents per camera and
# gaps per zone: the longest ones, in time order, with a line saying how many more the CSV and JSON
# hold. A 90-day report of a large site would otherwise run to thousands of pages.
LIST_LIMIT = 25


def longest(items: Sequence[Any], limit: int = LIST_LIMIT) -> list[Any]:
    """The ``limit`` longest of ``items`` (each with ``start`` and ``duration_s``), in time order."""
    if len(items) <= limit:
        return list(items)
    return sorted(sorted(items, key=lambda x: -x.duration_s)[:limit], key=lambda x: x.start)


def more_note(items: Sequence[Any], limit: int = LIST_LIMIT) -> str:
    """'' or '... and N shorter ones (h:mm:ss in all; every one is in the CSV and JSON exports)'."""
    if len(items) <= limit:
        return ""
    shown = longest(items, limit)
    rest = len(items) - limit
    rest_s = sum(x.duration_s for x in items) - sum(x.duration_s for x in shown)
    return f"… and {rest} shorter one(s), {hms(rest_s)} in all; the CSV and JSON exports list every one"


def _num(value: float | None, digits: int = 3) -> str:
    """A plain decimal without float noise or exponent; empty when unknown."""
    value = _finite(value)
    if value is None:
        return ""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _pct(value: float | None) -> str:
    value = _finite(value)
    return "—" if value is None else f"{value:.2f} %"


def _verdict(passed: bool | None) -> str:
    return "NOT JUDGED" if passed is None else ("PASS" if passed else "FAIL")


def _state(state: str) -> str:
    return state if state in STATE_COLOURS else "unknown"


def _offset_label(seconds: float | None) -> str:
    value = _finite(seconds)
    return "—" if value is None else f"{value:+.1f} s"


def _retention_label(days: float | None) -> str:
    value = _finite(days)
    return "not verifiable" if value is None else f"{value:.0f} d"


def _fps_label(fps: float | None) -> str:
    value = _finite(fps)
    return "—" if value is None else f"{value:.1f}"


def _limit(value: float | None, unit: str) -> str:
    """A policy.stream limit; unset is the default and means the figure is reported, not judged."""
    return "not judged (measured only)" if value is None else f"{_num(value)} {unit}"


def size_label(count: int) -> str:
    """Bytes in decimal units, as network traffic is counted: ``0 B``, ``12.3 MB``."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    order = {"fail": 0, "warn": 1, "info": 2}
    return sorted(findings, key=lambda f: order.get(f.severity, 3))


class _Clock:
    """Local-time formatting for one report (the zone lookup is done once, not per cell)."""

    def __init__(self, report: Report) -> None:
        self._tz = report.local(report.start).tzinfo

    def dt(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self._tz)

    def iso(self, ts: float | None) -> str:
        value = _finite(ts)
        return "" if value is None else self.dt(value).isoformat(timespec="seconds")

    def text(self, ts: float, seconds: bool = True) -> str:
        return self.dt(ts).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

    def span(self, start: float, end: float) -> str:
        """``2026-11-20 03:10:00 - 04:25:00``: the end's date only when it differs from the start's."""
        first, last = self.dt(start), self.dt(end)
        shown = last.strftime("%H:%M:%S" if last.date() == first.date() else "%Y-%m-%d %H:%M:%S")
        return f"{first.strftime('%Y-%m-%d %H:%M:%S')} - {shown}"

    def utc_offset(self) -> str:
        offset = self.dt(0).strftime("%z")
        return f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"


@dataclass(frozen=True)
class Segment:
    """One drawn piece of a timeline bar: ``x`` and ``w`` in bar units, possibly several short spans folded."""

    x: float
    w: float
    state: str
    start: float
    end: float
    detail: str
    spans: int


def segments(spans: Sequence[Span], start: float, end: float, width: float, min_width: float) -> list[Segment]:
    """Spans scaled onto a bar ``width`` wide: same-state neighbours joined, runs too thin to see folded.

    The count stays below about ``2 * width / min_width`` whatever the number of spans, which is what keeps
    a 1,000-camera report quick to draw; a folded run takes its worst state.
    """
    if end <= start or width <= 0:
        return []
    scale = width / (end - start)
    out: list[Segment] = []
    for span in sorted(spans, key=lambda s: s.start):
        s0, s1 = max(span.start, start), min(span.end, end)
        if s1 <= s0:
            continue
        state = _state(span.state)
        x0, x1 = (s0 - start) * scale, (s1 - start) * scale
        if out:
            last = out[-1]
            contiguous = x0 - (last.x + last.w) <= min_width
            thin = last.w < min_width and (x1 - last.x) < 2 * min_width
            if contiguous and (last.state == state or thin):
                worst = state if _SEVERITY[state] > _SEVERITY[last.state] else last.state
                details = last.detail if last.state == state or not span.detail else span.detail
                if worst == last.state and last.detail:
                    details = last.detail
                out[-1] = Segment(
                    last.x, x1 - last.x, worst, last.start, s1, details, last.spans + (0 if last.state == state else 1)
                )
                continue
        out.append(Segment(x0, x1 - x0, state, s0, s1, span.detail, 1))
    return out


# ------------------------------------------------------------------------------------------------- json


def render_json(report: Report) -> bytes:
    # Compact: with an indent, the json module falls back to its pure-Python encoder (5x slower).
    return json.dumps(report.to_dict(), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


# -------------------------------------------------------------------------------------------------- csv

CSV_COLUMNS = (
    "record",
    "id",
    "name",
    "kind",
    "verdict",
    "severity",
    "start",
    "end",
    "duration_s",
    "duration_hms",
    "ongoing",
    "zones",
    "cameras",
    "covered_percent",
    "uptime_percent",
    "good_percent",
    "percent_of_period",
    "covered_s",
    "uncovered_s",
    "unknown_s",
    "online_s",
    "degraded_s",
    "offline_s",
    "disabled_s",
    "required_resolution",
    "measured_resolution",
    "codec",
    "fps",
    "outages",
    "outage_s",
    "incidents",
    "incident_s",
    "clock_offset_s",
    "retention_days",
    "headcount",
    "key_unit",
    "required",
    "declared",
    "required_full_time",
    "declared_full_time",
    "forwarded",
    "uplinks",
    "registered_percent",
    "registered_s",
    "sessions",
    "session_s",
    "bytes_sent",
    "recorded_percent",
    "recorded_s",
    "audited_days",
    "ticket",
    "opened",
    "due",
    "acknowledged_in_target",
    "acknowledge_median_s",
    "acknowledge_worst_s",
    "repaired",
    "repair_median_s",
    "repair_worst_s",
    "open_at_end",
    "overdue_at_end",
    "oldest_open_s",
    "acknowledged_at",
    "acknowledged_by",
    "acknowledge_s",
    "repair_s",
    "overdue",
    "detail",
)
_COLUMN_SET = frozenset(CSV_COLUMNS)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(text: str) -> str:
    """Text a spreadsheet shows as text: a leading apostrophe stops ``=HYPERLINK(...)`` being evaluated."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _yes(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def render_csv(report: Report) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, restval="", extrasaction="raise")
    writer.writeheader()
    for row in _csv_rows(report):
        assert row.keys() <= _COLUMN_SET, row.keys() - _COLUMN_SET
        writer.writerow(row)
    # The BOM is what makes Excel read the file as UTF-8 rather than the machine's code page.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _span_cells(clock: _Clock, start: float, end: float) -> dict[str, str]:
    return {
        "start": clock.iso(start),
        "end": clock.iso(end),
        "duration_s": _num(end - start),
        "duration_hms": hms(end - start),
    }


def _csv_rows(report: Report) -> Iterator[dict[str, str]]:
    clock = _Clock(report)
    policy = report.policy
    thresholds = ",".join(f"{key}:{_num(value)}" for key, value in sorted(policy.quality_thresholds.items()))
    details = [
        f"unit={report.unit_name}",
        f"timezone={report.timezone}",
        f"generated_at={clock.iso(report.generated_at)}",
        f"gateway_version={report.gateway_version}",
        f"key_unit={_yes(policy.key_unit)}",
        f"hd_min_resolution={policy.hd_min_resolution}",
        f"min_fps={_num(policy.min_fps)}",
        f"uptime_target_percent={_num(policy.uptime_target_percent)}",
        f"coverage_target_percent={_num(policy.coverage_target_percent)}",
        f"min_monitored_percent={_num(policy.min_monitored_percent)}",
        f"retention_days={policy.retention_days}",
        f"max_clock_drift_s={_num(policy.max_clock_drift_s)}",
        f"quality_interval_s={_num(policy.quality_interval_s)}",
        f"quality_checks={','.join(policy.quality_checks)}",
        f"quality_thresholds={thresholds}",
    ]
    # Only when set, so that a default report reads as before: unset means measured, not judged.
    if policy.max_keyframe_interval_s is not None:
        details.append(f"max_keyframe_interval_s={_num(policy.max_keyframe_interval_s)}")
    if policy.min_bitrate_kbps is not None:
        details.append(f"min_bitrate_kbps={_num(policy.min_bitrate_kbps)}")
    yield {
        "record": "report",
        "id": csv_safe(report.site_id),
        "name": csv_safe(report.site_name),
        "kind": csv_safe(report.period_label),
        "verdict": _verdict(report.passed),
        **_span_cells(clock, report.start, report.end),
        "required_resolution": csv_safe(policy.hd_min_resolution),
        "fps": _num(policy.min_fps),
        "retention_days": str(policy.retention_days),
        "key_unit": _yes(policy.key_unit),
        "detail": csv_safe("; ".join(details)),
    }
    for finding in report.findings:
        yield {
            "record": "finding",
            "id": csv_safe(finding.subject),
            "severity": finding.severity,
            "detail": csv_safe(finding.message),
        }
    for zone in report.zones:
        yield {
            "record": "zone",
            "id": csv_safe(zone.id),
            "name": csv_safe(zone.name),
            "kind": csv_safe(zone.kind),
            "verdict": _verdict(zone.passed),
            "cameras": csv_safe("; ".join(zone.cameras)),
            "covered_percent": _num(zone.covered_percent),
            "covered_s": _num(zone.seconds.get("covered")),
            "uncovered_s": _num(zone.seconds.get("uncovered")),
            "unknown_s": _num(zone.seconds.get("unknown")),
            "detail": csv_safe("; ".join(f.message for f in zone.findings)),
        }
        for gap in zone.gaps:
            yield {
                "record": "zone_gap",
                "id": csv_safe(zone.id),
                "name": csv_safe(zone.name),
                "kind": csv_safe(gap.state),
                **_span_cells(clock, gap.start, gap.end),
                "detail": csv_safe(gap.detail),
            }
    for cam in report.cameras:
        yield {
            "record": "camera",
            "id": csv_safe(cam.id),
            "name": csv_safe(cam.name),
            "kind": "enabled" if cam.enabled else "disabled",
            "verdict": _verdict(cam.passed),
            "zones": csv_safe("; ".join(cam.zones)),
            "uptime_percent": _num(cam.uptime_percent),
            "good_percent": _num(cam.good_percent),
            **{f"{state}_s": _num(cam.seconds.get(state, 0.0)) for state in TIMELINE_STATES},
            "required_resolution": csv_safe(cam.required_resolution),
            "measured_resolution": csv_safe(cam.measured_resolution or ""),
            "codec": csv_safe(cam.measured_codec or ""),
            "fps": _num(cam.measured_fps),
            "outages": str(len(cam.outages)),
            "outage_s": _num(sum(o.duration_s for o in cam.outages)),
            "duration_hms": hms(sum(o.duration_s for o in cam.outages)),
            "incidents": str(len(cam.incidents)),
            "incident_s": _num(sum(i.duration_s for i in cam.incidents)),
            "clock_offset_s": _num(cam.clock_offset_s),
            "retention_days": _num(cam.retention_days),
            **_forwarding_cells(cam.forwarding),
            "detail": csv_safe(
                "; ".join(
                    [f.message for f in cam.findings]
                    + ([] if cam.retention_days is not None else ["retention not verifiable"])
                )
            ),
        }
        yield from _recording_rows(cam, clock)
        for outage in cam.outages:
            yield {
                "record": "outage",
                "id": csv_safe(cam.id),
                "name": csv_safe(cam.name),
                "kind": "offline",
                **_span_cells(clock, outage.start, outage.end),
                "ongoing": _yes(outage.ongoing),
                "detail": csv_safe("; ".join(outage.reasons)),
            }
        for incident in cam.incidents:
            yield {
                "record": "incident",
                "id": csv_safe(cam.id),
                "name": csv_safe(cam.name),
                "kind": csv_safe(incident.fault),
                **_span_cells(clock, incident.start, incident.end),
                "ongoing": _yes(incident.ongoing),
                "detail": csv_safe(incident.detail),
            }
    gateway = report.gateway
    yield {
        "record": "gateway_down",
        "id": "gateway",
        "kind": "total",
        "duration_s": _num(gateway.seconds),
        "duration_hms": hms(gateway.seconds),
        "percent_of_period": _num(gateway.percent),
        "detail": f"gateway runs overlapping the period: {gateway.runs}",
    }
    for span in gateway.spans:
        yield {
            "record": "gateway_down",
            "id": "gateway",
            "kind": csv_safe(span.state),
            **_span_cells(clock, span.start, span.end),
            "detail": csv_safe(span.detail),
        }
    staffing = report.staffing
    yield {
        "record": "staffing",
        "id": "staffing",
        "verdict": _verdict(staffing.passed),
        "headcount": str(staffing.headcount),
        "key_unit": _yes(staffing.key_unit),
        "required": str(staffing.required),
        "declared": "" if staffing.declared is None else str(staffing.declared),
        "required_full_time": "" if staffing.required_full_time is None else str(staffing.required_full_time),
        "declared_full_time": "" if staffing.declared_full_time is None else str(staffing.declared_full_time),
        "detail": csv_safe(staffing.rule),
    }
    forwarding = report.forwarding
    if forwarding is not None:
        yield {
            "record": "forwarding",
            "id": "forwarding",
            "cameras": str(forwarding.cameras),
            "forwarded": str(forwarding.forwarded),
            "detail": csv_safe(f"{forwarding.summary()}. {forwarding.definition}"),
        }
        for uplink in forwarding.uplinks:
            yield {
                "record": "uplink",
                "id": csv_safe(uplink.id),
                "cameras": csv_safe("; ".join(uplink.cameras)),
                "registered_percent": _num(uplink.registered_percent),
                "registered_s": _num(uplink.registered_s),
            }
    yield from _ticket_rows(report, clock)


def _figure_cells(f: TicketFigures) -> dict[str, str]:
    return {
        "opened": str(f.opened),
        "due": str(f.due),
        "acknowledged_in_target": str(f.acknowledged_in_target),
        "acknowledge_median_s": _num(f.acknowledge_median_s),
        "acknowledge_worst_s": _num(f.acknowledge_worst_s),
        "repaired": str(f.repaired),
        "repair_median_s": _num(f.repair_median_s),
        "repair_worst_s": _num(f.repair_worst_s),
        "open_at_end": str(f.open_at_end),
        "overdue_at_end": str(f.overdue_at_end),
        "oldest_open_s": _num(f.oldest_open_s),
    }


def _ticket_rows(report: Report, clock: _Clock) -> Iterator[dict[str, str]]:
    section = report.tickets
    if section is None:
        return
    target = f"acknowledge within {hms(section.acknowledge_target_s)}"
    yield {
        "record": "tickets",
        "id": "tickets",
        **_figure_cells(section.site),
        "detail": f"{target}. {section.definition}",
    }
    zones = {z.id: z for z in report.zones}
    for zone_id, f in section.zones.items():
        zone = zones.get(zone_id)
        yield {
            "record": "tickets_zone",
            "id": csv_safe(zone_id),
            "name": csv_safe(zone.name if zone else zone_id),
            "kind": csv_safe(zone.kind if zone else ""),
            **_figure_cells(f),
        }
    names = {c.id: c.name for c in report.cameras}
    for camera_id, f in section.cameras.items():
        yield {
            "record": "tickets_camera",
            "id": csv_safe(camera_id),
            "name": csv_safe(names.get(camera_id, camera_id)),
            **_figure_cells(f),
        }
    for t in section.tickets:
        notes = [f"opened {clock.iso(t.opened_at)}"]
        if t.reopened:
            notes.append(f"reopened {t.reopened} time(s)")
        if t.state_at_end == "unknown":
            notes.append(UNKNOWN_NOTE)
        if t.note:
            notes.append(f"note: {t.note}")
        notes.append(t.detail)
        yield {
            "record": "ticket",
            "id": csv_safe(t.camera_id),
            "name": csv_safe(names.get(t.camera_id, t.camera_id)),
            "kind": csv_safe(t.fault),
            "zones": csv_safe(t.zone_id or ""),
            "ticket": str(t.id),
            "start": clock.iso(t.since),
            "end": clock.iso(t.closed_at),
            "duration_s": _num(t.repair_s),
            "duration_hms": hms(t.repair_s),
            "ongoing": _yes(t.open_at_end) if t.state_at_end != "unknown" else "",
            "acknowledged_at": clock.iso(t.acknowledged_at),
            "acknowledged_by": csv_safe(t.acknowledged_by or ""),
            "acknowledge_s": _num(t.acknowledge_s),
            "repair_s": _num(t.repair_s),
            "overdue": _yes(t.overdue),
            "detail": csv_safe("; ".join(notes)),
        }


def _recording_rows(cam: CameraReport, clock: _Clock) -> Iterator[dict[str, str]]:
    r = cam.recordings
    if r is None:
        return
    notes = [f"days below target: {', '.join(f'{d} {_num(p)} %' for d, p in r.days_below)}"] if r.days_below else []
    if r.last_error:
        notes.append(f"last search failed: {r.last_error}")
    yield {
        "record": "recordings",
        "id": csv_safe(cam.id),
        "name": csv_safe(cam.name),
        "kind": csv_safe(r.source) if r.verifiable else "not verifiable",
        "recorded_percent": _num(r.completeness_percent),
        "recorded_s": _num(r.recorded_s),
        "audited_days": str(r.days),
        "retention_days": _num(r.retained_days),
        "detail": csv_safe("; ".join(notes)),
    }
    for gap in r.long_gaps:
        yield {
            "record": "recording_gap",
            "id": csv_safe(cam.id),
            "name": csv_safe(cam.name),
            "kind": "not recorded",
            **_span_cells(clock, gap.start, gap.end),
        }


def _forwarding_cells(forwarding: CameraForwarding | None) -> dict[str, str]:
    if forwarding is None:
        return {}
    return {
        "forwarded": _yes(forwarding.forwarded),
        "uplinks": csv_safe("; ".join(forwarding.uplinks)),
        "registered_percent": _num(forwarding.registered_percent),
        "registered_s": _num(forwarding.registered_s),
        "sessions": str(forwarding.sessions),
        "session_s": _num(forwarding.session_s),
        "bytes_sent": str(forwarding.bytes_sent),
    }


# ------------------------------------------------------------------------------------------------- html

# The pages a person reads list this many tickets (open ones first); the CSV and JSON list them all.
TICKETS_LISTED = 100

_TEMPLATES = Path(__file__).with_name("templates")
# The HTML bar is drawn in a 1000-unit viewBox; a span under 1.5 units (~2 px on a laptop) is folded.
_SVG_WIDTH = 1000.0
_SVG_MIN = 1.5


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,  # every name in a report comes from config: escape all, not by file suffix
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(hms=hms, pct=_pct, verdict=_verdict, num=_num)
    return env


def _axis(report: Report, clock: _Clock) -> list[tuple[float, str]]:
    """Tick positions (0..100 %) and labels: hours for a day, dates for longer periods, at most ~8 ticks."""
    length = report.end - report.start
    if length <= 0:
        return []
    steps = (3600, 3 * 3600, 6 * 3600, 86_400, 2 * 86_400, 7 * 86_400, 14 * 86_400, 28 * 86_400)
    step = next((s for s in steps if length / s <= 8), steps[-1])
    first = clock.dt(report.start)
    # Ticks fall on local midnights/hours, so a DST change or a +05:45 zone still labels whole hours.
    base = first.replace(minute=0, second=0, microsecond=0)
    if step >= 86_400:
        base = base.replace(hour=0)
    ticks: list[tuple[float, str]] = []
    ts = base.timestamp()
    while ts <= report.end + 1:
        if ts >= report.start - 1:
            label = clock.dt(ts).strftime("%H:%M" if step < 86_400 else "%m-%d")
            ticks.append((100.0 * (ts - report.start) / length, label))
        ts += step
    return ticks


def _svg_title(clock: _Clock, seg: Segment) -> str:
    head = f"{clock.text(seg.start)} – {clock.text(seg.end)} ({hms(seg.end - seg.start)})"
    what = STATE_LABELS[seg.state] if seg.spans == 1 else f"{seg.spans} short spans, worst {seg.state}"
    return f"{head}: {what}" + (f" — {seg.detail}" if seg.detail else "")


def render_html(report: Report) -> bytes:
    clock = _Clock(report)
    timelines = {
        cam.id: [
            {
                "x": f"{s.x:.2f}",
                "w": f"{max(s.w, 0.5):.2f}",
                "fill": STATE_FILLS[s.state],
                "state": s.state,
                "title": _svg_title(clock, s),
            }
            for s in segments(cam.timeline, report.start, report.end, _SVG_WIDTH, _SVG_MIN)
        ]
        for cam in report.cameras
    }
    gateway_bar = [
        {
            "x": f"{s.x:.2f}",
            "w": f"{max(s.w, 0.5):.2f}",
            "fill": STATE_FILLS[s.state],
            "state": s.state,
            "title": _svg_title(clock, s),
        }
        for s in segments(report.gateway.spans, report.start, report.end, _SVG_WIDTH, _SVG_MIN)
    ]
    counts = {
        "fail": sum(1 for f in report.findings if f.severity == "fail"),
        "warn": sum(1 for f in report.findings if f.severity == "warn"),
    }
    html = (
        _environment()
        .get_template("report.html")
        .render(
            report=report,
            clock=clock,
            findings=_sorted_findings(report.findings),
            counts=counts,
            timelines=timelines,
            gateway_bar=gateway_bar,
            axis=_axis(report, clock),
            states=[(state, STATE_FILLS[state], STATE_LABELS[state]) for state in TIMELINE_STATES],
            zone_names={zone.id: zone.name for zone in report.zones},
            cameras_with_events=[cam for cam in report.cameras if cam.outages or cam.incidents],
            thresholds=sorted(report.policy.quality_thresholds.items()),
            offset=_offset_label,
            retention=_retention_label,
            fps=_fps_label,
            limit=_limit,
            outage_total=lambda cam: sum(o.duration_s for o in cam.outages),
            longest=longest,
            more_note=more_note,
            size=size_label,
            camera_names={cam.id: cam.name for cam in report.cameras},
            fault_text=FAULT_TEXT,
            unknown_note=UNKNOWN_NOTE,
            tickets_listed=TICKETS_LISTED,
        )
    )
    return html.encode("utf-8")


# -------------------------------------------------------------------------------------------------- pdf

# A short list of the places Debian, Fedora, Alpine and macOS put these fonts; no font scanning.
_REGULAR_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/Library/Fonts/DejaVuSans.ttf",
)
_BOLD_FONTS = tuple(path.replace("DejaVuSans.ttf", "DejaVuSans-Bold.ttf") for path in _REGULAR_FONTS)
_FALLBACK_FONTS = (
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/google-droid-sans-fonts/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/droid/DroidSansFallbackFull.ttf",
    "/usr/local/share/fonts/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/droid/DroidSansFallback.ttf",
)


@dataclass(frozen=True)
class PdfFonts:
    """The TrueType files the PDF embeds; None where not found (the renderer then degrades, never fails)."""

    regular: str | None
    bold: str | None
    fallback: str | None


def find_fonts() -> PdfFonts:
    def first(paths: Iterable[str]) -> str | None:
        return next((p for p in paths if Path(p).is_file()), None)

    return PdfFonts(first(_REGULAR_FONTS), first(_BOLD_FONTS), first(_FALLBACK_FONTS))


def _cmap(font: Any) -> frozenset[int]:
    return frozenset(font.cmap)  # TTFFont only; core fonts have no cmap and are never passed here


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


_INK = (33, 37, 41)
_MUTED = (96, 104, 115)
_RULE = (206, 212, 218)
_ZEBRA = (244, 246, 248)
_HEAD = (226, 232, 240)
_PASS = (30, 132, 73)
_FAIL = (192, 41, 41)
_WARN = (176, 120, 0)


# fpdf2 reserves the alias's own width for the page count: "{nb}" leaves room for 4 characters only
# (a 90-day report of a large site runs to four digits of pages), hence a longer alias.
_PAGES_ALIAS = "{pages_total}"


class _ReportPdf(FPDF):
    """FPDF with the report's footer (site, period, page x of y) on every page."""

    footer_text = ""
    footer_font = ("helvetica", "")

    def footer(self) -> None:
        self.set_y(-9)
        self.set_font(self.footer_font[0], self.footer_font[1], 7)
        self.set_text_color(*_MUTED)
        self.cell(0, 4, self.footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 4, f"Page {self.page_no()} of {_PAGES_ALIAS}", align="R")


@dataclass(frozen=True)
class _Col:
    title: str
    width: float
    align: str = "L"


class _PdfWriter:
    """A small table-and-text layout on top of FPDF's low-level ``text``.

    FPDF's ``cell`` costs ~0.3 ms with fallback fonts; a 1,000-camera report has tens of thousands of cells,
    so this writes each run of text with ``text`` in the right font and measures widths from the font's own
    width tables (~20x faster), doing fallback and truncation itself.
    """

    LINE = 4.6  # table row height in mm at 7 pt

    def __init__(self, report: Report, fonts: PdfFonts) -> None:
        self.report = report
        self.clock = _Clock(report)
        self.replaced = False
        pdf = _ReportPdf(orientation="L", unit="mm", format="A4")
        pdf.alias_nb_pages(_PAGES_ALIAS)
        pdf.set_margins(10, 10, 10)
        pdf.set_auto_page_break(True, margin=12)
        pdf.set_title(f"Coverage report {report.site_name} {report.period_label}")
        pdf.set_creator(f"gateway {report.gateway_version}")
        self.ttf = fonts.regular is not None
        self.glyphs: frozenset[int] = frozenset()
        self.fallback_glyphs: frozenset[int] = frozenset()
        if fonts.regular is not None:
            pdf.add_font("main", "", fonts.regular)
            pdf.add_font("main", "B", fonts.bold or fonts.regular)
            self.family = "main"
            self.glyphs = _cmap(pdf.fonts["main"])
            if fonts.fallback is not None:
                pdf.add_font("fallback", "", fonts.fallback)
                self.fallback_glyphs = _cmap(pdf.fonts["fallback"]) - self.glyphs
                # Only the footer goes through FPDF's own cell(), which needs to know the fallback itself.
                pdf.set_fallback_fonts(["fallback"], exact_match=False)
        else:
            self.family = "helvetica"
        # Every character some embedded font draws; asked once per cell, so built once.
        self.known = self.glyphs | self.fallback_glyphs
        pdf.footer_font = (self.family, "")
        clock = self.clock
        pdf.footer_text = self.safe(
            f"{report.site_name} ({report.site_id}) · {report.period_label} · "
            f"{clock.text(report.start, False)} - {clock.text(report.end, False)} {clock.utc_offset()}"
        )
        self.pdf = pdf
        self.style = ""
        self.size = 8.0
        self.ellipsis = "…" if self.ttf else "..."
        self._ink: tuple[int, int, int] | None = None

    # -- text ------------------------------------------------------------------------------------------

    def safe(self, text: str) -> str:
        """Text every character of which some embedded font can draw; the rest become '?'."""
        if not self.ttf:
            encoded = text.replace("·", "-").encode("latin-1", "replace").decode("latin-1")
            if encoded != text:
                self.replaced = True
            return encoded
        known = self.known
        if text.isascii() or all(ord(ch) in known or ch == "\n" for ch in text):
            return text
        self.replaced = True
        return "".join(ch if ord(ch) in known else "?" for ch in text)

    def ink(self, rgb: tuple[int, int, int]) -> None:
        """Text colour; the fill colour follows, because FPDF wraps every text in q/Q while the two differ."""
        if rgb != self._ink:
            self.pdf.set_text_color(*rgb)
            self.pdf.set_fill_color(*rgb)
            self._ink = rgb

    def fill(self, rgb: tuple[int, int, int]) -> None:
        self.pdf.set_fill_color(*rgb)
        self._ink = None

    def font(self, style: str = "", size: float | None = None) -> None:
        self.style = style
        if size is not None:
            self.size = size
        self.pdf.set_font(self.family, style, self.size)

    def _runs(self, text: str) -> list[tuple[str, str]]:
        """``text`` split into (font family, run) by which font has the glyphs."""
        if not self.fallback_glyphs or text.isascii():
            return [(self.family, text)]
        runs: list[tuple[str, str]] = []
        fallback = self.fallback_glyphs
        for ch in text:
            family = "fallback" if ord(ch) in fallback else self.family
            if runs and runs[-1][0] == family:
                runs[-1] = (family, runs[-1][1] + ch)
            else:
                runs.append((family, ch))
        return runs

    def _run_font(self, family: str) -> Any:
        style = self.style if family == self.family else ""
        key = f"{family}{style}"
        if key not in self.pdf.fonts:  # core fonts are only loaded by set_font
            self.pdf.set_font(family, style, self.size)
        return self.pdf.fonts[key]

    def width(self, text: str) -> float:
        total = 0.0
        for family, run in self._runs(text):
            total += self._run_font(family).get_text_width(run, self.size, None)[1]
        return float(total) / self.pdf.k

    def fit(self, text: str, width: float) -> str:
        """``text`` cut (with an ellipsis) to fit ``width`` mm."""
        if self.width(text) <= width:
            return text
        keep = len(text)
        while keep > 0 and self.width(text[:keep] + self.ellipsis) > width:
            keep = max(0, min(keep - 1, int(keep * width / max(self.width(text[:keep]), 0.01))))
        return text[:keep] + self.ellipsis

    def put(self, x: float, y: float, text: str) -> None:
        """Write ``text`` (already made safe) with its top-left at x, y."""
        baseline = y + self.size / self.pdf.k * 0.78
        pdf = self.pdf
        runs = self._runs(text)
        if len(runs) == 1 and runs[0][0] == self.family:  # the common case: the current font, no switching
            pdf.text(x, baseline, text)
            return
        for family, run in runs:
            pdf.set_font(family, self.style if family == self.family else "", self.size)
            pdf.text(x, baseline, run)
            x += self._run_font(family).get_text_width(run, self.size, None)[1] / pdf.k
        pdf.set_font(self.family, self.style, self.size)

    def put_cell(self, x: float, y: float, w: float, text: str, align: str = "L", pad: float = 1.2) -> None:
        if not text:
            return
        text = self.safe(text)
        text_w = self.width(text)
        if text_w > w - 2 * pad:
            text = self.fit(text, w - 2 * pad)
            text_w = self.width(text)
        if align == "R":
            x = x + w - pad - text_w
        elif align == "C":
            x = x + (w - text_w) / 2
        else:
            x += pad
        self.put(x, y + (self.LINE - self.size / self.pdf.k) / 2, text)

    def wrap(self, text: str, width: float) -> list[str]:
        """Greedy word wrap; a word wider than the line (a CJK run has no spaces) is broken by character."""
        lines: list[str] = []
        for para in self.safe(text).split("\n"):
            line = ""
            for word in para.split(" "):
                candidate = f"{line} {word}" if line else word
                if self.width(candidate) <= width:
                    line = candidate
                    continue
                if line:
                    lines.append(line)
                line = ""
                for ch in word:
                    if self.width(line + ch) > width and line:
                        lines.append(line)
                        line = ""
                    line += ch
            lines.append(line)
        return lines

    def paragraph(
        self, text: str, size: float = 8.0, style: str = "", colour: tuple[int, int, int] = _INK, indent: float = 0.0
    ) -> None:
        pdf = self.pdf
        self.font(style, size)
        self.ink(colour)
        height = size / pdf.k * 1.35
        for line in self.wrap(text, pdf.epw - indent):
            self.need(height)
            self.put(pdf.l_margin + indent, pdf.get_y(), line)
            pdf.set_y(pdf.get_y() + height)

    # -- layout ----------------------------------------------------------------------------------------

    def need(self, height: float) -> bool:
        """Start a new page when ``height`` does not fit; True when it did."""
        pdf = self.pdf
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
            return True
        return False

    def heading(self, title: str, note: str = "") -> None:
        pdf = self.pdf
        self.need(26)  # a heading never ends a page: room for it and the first rows of what follows
        pdf.set_y(pdf.get_y() + 3)
        self.font("B", 11.5)
        self.ink(_INK)
        title = self.safe(title)
        self.put(pdf.l_margin, pdf.get_y(), title)
        if note:
            note_x = pdf.l_margin + self.width(title) + 3
            self.font("", 7.5)
            self.ink(_MUTED)
            self.put(note_x, pdf.get_y() + 1.2, self.fit(self.safe(note), pdf.epw - note_x + pdf.l_margin))
        pdf.set_y(pdf.get_y() + 6)
        pdf.set_draw_color(*_RULE)
        pdf.set_line_width(0.3)
        pdf.line(pdf.l_margin, pdf.get_y() - 1.2, pdf.l_margin + pdf.epw, pdf.get_y() - 1.2)

    def table(
        self,
        cols: Sequence[_Col],
        rows: Iterable[Sequence[str | tuple[str, tuple[int, int, int]]]],
        bars: Sequence[list[Segment]] | None = None,
        bar_col: int | None = None,
    ) -> None:
        """Rows of single-line cells (cut to fit), zebra striped, header repeated on each new page.

        A cell is text or (text, colour). ``bars`` gives each row a timeline drawn in column ``bar_col``.
        """
        pdf = self.pdf
        x0 = pdf.l_margin

        def header() -> None:
            y = pdf.get_y()
            self.fill(_HEAD)
            pdf.rect(x0, y, sum(c.width for c in cols), self.LINE + 0.4, style="F")
            self.font("B", 7)
            self.ink(_INK)
            x = x0
            for col in cols:
                self.put_cell(x, y + 0.2, col.width, col.title, col.align)
                x += col.width
            pdf.set_y(y + self.LINE + 0.4)

        self.need(self.LINE * 3)
        header()
        self.font("", 7)
        for index, row in enumerate(rows):
            if self.need(self.LINE):
                header()
                self.font("", 7)
            y = pdf.get_y()
            if index % 2:
                self.fill(_ZEBRA)
                pdf.rect(x0, y, sum(c.width for c in cols), self.LINE, style="F")
            x = x0
            for col_index, (col, cell) in enumerate(zip(cols, row, strict=False)):
                if bars is not None and col_index == bar_col:
                    self.bar(x + 1, y + 0.9, col.width - 2, self.LINE - 1.8, bars[index])
                else:
                    text, colour = cell if isinstance(cell, tuple) else (cell, _INK)
                    self.ink(colour)
                    self.put_cell(x, y, col.width, text, col.align)
                x += col.width
            pdf.set_y(y + self.LINE)
        pdf.set_y(pdf.get_y() + 2)

    def bar(self, x: float, y: float, w: float, h: float, segs: Sequence[Segment]) -> None:
        pdf = self.pdf
        self.fill(_rgb(STATE_COLOURS["unknown"]))
        pdf.rect(x, y, w, h, style="F")
        # One colour at a time (the fill colour is an operator per change); worse states drawn last, on top,
        # so a thin outage widened to the minimum stays visible over its online neighbours.
        for state in ("online", "disabled", "degraded", "offline"):
            picked = [seg for seg in segs if seg.state == state]
            if picked:
                self.fill(_rgb(STATE_COLOURS[state]))
                for seg in picked:
                    pdf.rect(x + seg.x, y, max(seg.w, 0.25), h, style="F")

    def legend(self) -> None:
        pdf = self.pdf
        self.need(6)
        y = pdf.get_y()
        x = pdf.l_margin
        self.font("", 7)
        self.ink(_MUTED)
        for state in TIMELINE_STATES:
            self.fill(_rgb(STATE_COLOURS[state]))
            pdf.rect(x, y + 0.6, 4, 2.6, style="F")
            label = self.safe(STATE_LABELS[state])
            self.put(x + 5, y + 0.3, label)
            x += 5 + self.width(label) + 5
        pdf.set_y(y + 5)


def render_pdf(report: Report, fonts: PdfFonts | None = None) -> bytes:
    """A4 landscape PDF; ``fonts`` defaults to :func:`find_fonts` (tests pass none to check the fallback)."""
    # fontTools reports every glyph it drops while subsetting; a report would log thousands of lines.
    for name in ("fontTools", "fontTools.subset", "fontTools.ttLib", "fpdf", "fpdf.fonts", "fpdf.output"):
        logging.getLogger(name).setLevel(logging.ERROR)
    writer = _PdfWriter(report, fonts if fonts is not None else find_fonts())
    _pdf_content(writer)
    return bytes(writer.pdf.output())


def _pdf_content(w: _PdfWriter) -> None:
    report, pdf, clock = w.report, w.pdf, w.clock
    pdf.add_page()
    fail_colour = _PASS if report.passed else _FAIL

    # Header: title and facts on the left, the verdict box on the right.
    top = pdf.get_y()
    w.font("B", 16)
    w.ink(_INK)
    w.put(pdf.l_margin, top, w.safe("Video coverage and compliance report"))
    w.font("B", 12)
    w.put(pdf.l_margin, top + 8, w.fit(w.safe(f"{report.site_name}  ({report.site_id})"), 200))
    facts = [
        ("Unit", report.unit_name),
        ("Period", f"{report.period_label}: {clock.text(report.start, False)} - {clock.text(report.end, False)}"),
        ("Time zone", f"{report.timezone} ({clock.utc_offset()})"),
        ("Generated", clock.text(report.generated_at)),
        ("Gateway version", report.gateway_version),
    ]
    y = top + 15
    for label, value in facts:
        w.font("", 8.5)
        w.ink(_MUTED)
        w.put(pdf.l_margin, y, label)
        w.ink(_INK)
        w.put(pdf.l_margin + 28, y, w.fit(w.safe(value), 170))
        y += 4.6
    box_w, box_h = 62.0, 26.0
    box_x = pdf.l_margin + pdf.epw - box_w
    w.fill(fail_colour)
    pdf.rect(box_x, top, box_w, box_h, style="F", round_corners=True, corner_radius=2)
    w.ink((255, 255, 255))
    w.font("B", 26)
    verdict = _verdict(report.passed)
    w.put(box_x + (box_w - w.width(verdict)) / 2, top + 3, verdict)
    w.font("", 7.5)
    fails = sum(1 for f in report.findings if f.severity == "fail")
    warns = sum(1 for f in report.findings if f.severity == "warn")
    summary = f"{fails} failure(s), {warns} warning(s)"
    w.put(box_x + (box_w - w.width(summary)) / 2, top + 17, summary)
    pdf.set_y(max(y, top + box_h) + 2)

    w.heading("Reasons", "every failure and warning behind the verdict")
    findings = _sorted_findings(report.findings)
    if not findings:
        w.paragraph("No failures or warnings.", colour=_MUTED)
    for finding in findings:
        colour = {"fail": _FAIL, "warn": _WARN}.get(finding.severity, _MUTED)
        w.font("B", 8)
        w.ink(colour)
        w.need(4)
        w.put(pdf.l_margin, pdf.get_y(), finding.severity.upper())
        pdf.set_y(pdf.get_y())
        w.paragraph(f"{finding.subject}: {finding.message}", indent=12)

    policy = report.policy
    w.heading("Policy judged against")
    policy_rows = [
        ("Key unit", "yes" if policy.key_unit else "no"),
        ("HD threshold (minimum resolution)", policy.hd_min_resolution),
        ("Minimum frame rate", f"{_num(policy.min_fps)} fps"),
        ("Camera uptime target", f"{_num(policy.uptime_target_percent)} %"),
        ("Zone coverage target", f"{_num(policy.coverage_target_percent)} %"),
        ("Minimum monitored time", f"{_num(policy.min_monitored_percent)} %"),
        ("Recording retention", f"{policy.retention_days} days"),
        ("Maximum clock drift", f"{_num(policy.max_clock_drift_s)} s"),
        ("Quality sampling interval", f"{_num(policy.quality_interval_s)} s"),
        ("Quality checks", ", ".join(policy.quality_checks) or "none"),
        ("Maximum keyframe interval", _limit(policy.max_keyframe_interval_s, "s")),
        ("Minimum bitrate", _limit(policy.min_bitrate_kbps, "kb/s")),
    ]
    thresholds = sorted(policy.quality_thresholds.items())
    rows: list[tuple[str, str, str, str]] = []
    for index in range(max(len(policy_rows), len(thresholds))):
        left = policy_rows[index] if index < len(policy_rows) else ("", "")
        right = (thresholds[index][0], _num(thresholds[index][1])) if index < len(thresholds) else ("", "")
        rows.append((*left, *right))
    w.table([_Col("Setting", 70), _Col("Value", 80), _Col("Quality threshold", 70), _Col("Value", 57, "R")], rows)

    w.heading("Zones", f"{len(report.zones)} zone(s)")
    zone_rows = []
    for zone in report.zones:
        colour = _PASS if zone.passed else _FAIL
        zone_rows.append(
            (
                f"{zone.name} ({zone.id})",
                zone.kind,
                ", ".join(zone.cameras),
                _pct(zone.covered_percent).replace("—", "-"),
                hms(zone.seconds.get("uncovered")),
                hms(zone.seconds.get("unknown")),
                str(len(zone.gaps)),
                (_verdict(zone.passed), colour),
            )
        )
    w.table(
        [
            _Col("Zone", 70),
            _Col("Kind", 26),
            _Col("Cameras", 88),
            _Col("Covered", 20, "R"),
            _Col("Uncovered", 20, "R"),
            _Col("Unknown", 20, "R"),
            _Col("Gaps", 13, "R"),
            _Col("Result", 20, "C"),
        ],
        zone_rows,
    )
    gaps = [(zone, gap) for zone in report.zones for gap in longest(zone.gaps)]
    if gaps:
        w.heading("Zone gaps", "uncovered stretches, with each camera's reason at the time")
        w.table(
            [_Col("Zone", 55), _Col("Start", 33), _Col("End", 33), _Col("Duration", 20, "R"), _Col("Reasons", 136)],
            (
                (
                    f"{zone.name} ({zone.id})",
                    clock.text(gap.start),
                    clock.text(gap.end),
                    hms(gap.duration_s),
                    gap.detail,
                )
                for zone, gap in gaps
            ),
        )
        for zone in report.zones:
            if note := more_note(zone.gaps):
                w.paragraph(f"{zone.name} ({zone.id}): {note}", colour=_MUTED)

    w.heading(
        "Cameras",
        f"{len(report.cameras)} camera(s); timelines {clock.span(report.start, report.end)}",
    )
    w.legend()
    bar_w = 49.0
    cols = [
        _Col("Camera", 44),
        _Col("Zones", 22),
        _Col("Req. / measured", 36),
        _Col("Codec / fps", 21),
        _Col("Uptime", 15, "R"),
        _Col("Good", 15, "R"),
        _Col("Outages", 21, "R"),
        _Col("Inc.", 8, "R"),
        _Col("Clock", 12, "R"),
        _Col("Retention", 20, "R"),
        _Col("Result", 14, "C"),
        _Col("Timeline", bar_w),
    ]
    cam_rows = []
    bars = []
    for cam in report.cameras:
        outage_s = sum(o.duration_s for o in cam.outages)
        cam_rows.append(
            (
                f"{cam.name} ({cam.id})",
                ", ".join(cam.zones),
                f"{cam.required_resolution} / {cam.measured_resolution or '-'}",
                f"{cam.measured_codec or '-'} / {_fps_label(cam.measured_fps).replace('—', '-')}",
                _pct(cam.uptime_percent).replace("—", "-"),
                _pct(cam.good_percent).replace("—", "-"),
                f"{len(cam.outages)} / {hms(outage_s)}" if cam.outages else "0",
                str(len(cam.incidents)),
                _offset_label(cam.clock_offset_s).replace("—", "-"),
                (_retention_label(cam.retention_days), _WARN if cam.retention_days is None else _INK),
                (_verdict(cam.passed), _PASS if cam.passed else _FAIL),
                "",
            )
        )
        bars.append(segments(cam.timeline, report.start, report.end, bar_w - 2, 0.35))
    w.table(cols, cam_rows, bars=bars, bar_col=len(cols) - 1)

    events = [cam for cam in report.cameras if cam.outages or cam.incidents]
    w.heading("Outages and incidents", f"{len(events)} camera(s) with outages or incidents")
    if not events:
        w.paragraph("No camera had an outage or an incident in the period.", colour=_MUTED)
    else:

        def event_rows() -> Iterator[tuple[str, ...]]:
            # The camera is named on its first row only: the table is long and the eye groups it anyway.
            for cam in events:
                label = f"{cam.name} ({cam.id})"
                for o in longest(cam.outages):
                    span = clock.span(o.start, o.end) + (" (ongoing)" if o.ongoing else "")
                    yield (label, "outage", span, hms(o.duration_s), "; ".join(o.reasons))
                    label = ""
                if note := more_note(cam.outages):
                    yield (label, "outages", "", "", note)
                for i in longest(cam.incidents):
                    span = clock.span(i.start, i.end) + (" (ongoing)" if i.ongoing else "")
                    yield (label, i.fault, span, hms(i.duration_s), i.detail)
                    label = ""
                if note := more_note(cam.incidents):
                    yield (label, "incidents", "", "", note)

        w.table(
            [
                _Col("Camera", 62),
                _Col("Type / fault", 28),
                _Col("Start - end", 70),
                _Col("Duration", 18, "R"),
                _Col("Reasons / detail", 99),
            ],
            event_rows(),
        )

    _pdf_forwarding(w)
    _pdf_recordings(w)
    _pdf_tickets(w)

    gateway = report.gateway
    w.heading("Gateway downtime", "time no gateway was watching counts as unknown, never as coverage")
    w.paragraph(
        f"Not running for {hms(gateway.seconds)} ({_num(gateway.percent, 2) or '0'} % of the period) "
        f"in {len(gateway.spans)} stretch(es); {gateway.runs} gateway run(s) overlapped the period."
    )
    pdf.set_y(pdf.get_y() + 1)
    if gateway.spans:
        w.table(
            [_Col("Start", 40), _Col("End", 40), _Col("Duration", 25, "R"), _Col("Detail", 172)],
            ((clock.text(s.start), clock.text(s.end), hms(s.duration_s), s.detail) for s in gateway.spans),
        )

    staffing = report.staffing
    staffing_colour = _WARN if staffing.passed is None else (_PASS if staffing.passed else _FAIL)
    w.heading("Security staffing")

    def opt(value: int | None) -> str:
        return "not declared" if value is None else str(value)

    w.table(
        [
            _Col("Headcount", 25, "R"),
            _Col("Key unit", 18),
            _Col("Required", 20, "R"),
            _Col("Declared", 24, "R"),
            _Col("Full-time req.", 26, "R"),
            _Col("Full-time decl.", 26, "R"),
            _Col("Result", 24, "C"),
            _Col("Rule", 114),
        ],
        [
            (
                str(staffing.headcount),
                "yes" if staffing.key_unit else "no",
                str(staffing.required),
                opt(staffing.declared),
                "-" if staffing.required_full_time is None else str(staffing.required_full_time),
                opt(staffing.declared_full_time) if staffing.required_full_time is not None else "-",
                (_verdict(staffing.passed), staffing_colour),
                staffing.rule,
            )
        ],
    )

    notes = list(report.notes)
    if not w.ttf:
        notes.append("No TrueType font was found on this system, so this PDF uses Helvetica (Latin-1 only).")
    if w.replaced:
        notes.append(
            "Some characters could not be drawn with the fonts available on this system and are shown as '?'; "
            "the JSON, CSV and HTML exports carry the exact names."
        )
    if notes:
        w.heading("Notes")
        for note in notes:
            w.paragraph(f"• {note}" if w.ttf else f"- {note}")


def _pdf_forwarding(w: _PdfWriter) -> None:
    report = w.report
    forwarding = report.forwarding
    w.heading("Forwarded to the city network", "GB/T 28181 uplinks to upper platforms")
    if forwarding is None:
        w.paragraph(
            "Not applicable: this site has no GB/T 28181 uplink configured, so no camera is forwarded to an"
            " upper platform.",
            colour=_MUTED,
        )
        return
    w.paragraph(f"{forwarding.summary()}.")
    w.paragraph(forwarding.definition, colour=_MUTED)
    pdf = w.pdf
    pdf.set_y(pdf.get_y() + 1)

    def registered(seconds: float | None, percent: float | None) -> str:
        return "unknown" if seconds is None else _pct(percent).replace("—", "-")

    w.table(
        [_Col("Uplink", 50), _Col("Cameras forwarded", 157), _Col("Registered", 35, "R"), _Col("Time", 35, "R")],
        (
            (
                u.id,
                ", ".join(u.cameras) or "none",
                registered(u.registered_s, u.registered_percent),
                hms(u.registered_s),
            )
            for u in forwarding.uplinks
        ),
    )
    rows: list[tuple[str | tuple[str, tuple[int, int, int]], ...]] = []
    for cam in report.cameras:
        f = cam.forwarding
        if f is None:
            continue
        uplinks = ", ".join(f.uplinks) if f.forwarded else ("not forwarded", _WARN)
        rows.append(
            (
                f"{cam.name} ({cam.id})",
                uplinks,
                registered(f.registered_s, f.registered_percent) if f.forwarded else "-",
                str(f.sessions),
                hms(f.session_s),
                size_label(f.bytes_sent),
            )
        )
    w.table(
        [
            _Col("Camera", 80),
            _Col("Uplinks", 87),
            _Col("Registered", 30, "R"),
            _Col("Sessions", 20, "R"),
            _Col("Session time", 30, "R"),
            _Col("Sent", 30, "R"),
        ],
        rows,
    )


def _pdf_recordings(w: _PdfWriter) -> None:
    report = w.report
    recorded = [cam for cam in report.cameras if cam.recordings is not None]
    w.heading("Recordings", "what the recording devices hold, searched by the recording audit")
    if not recorded:
        w.paragraph(
            "Not configured: no camera says where its recordings live (cameras[].recordings), so retention can"
            " only be what the cameras report of themselves.",
            colour=_MUTED,
        )
        return
    policy = report.policy
    w.paragraph(
        f"Each day must be recorded for at least {_pct(policy.min_recorded_percent)}; a gap longer than"
        f" {hms(policy.max_recording_gap_s)} is a finding; the oldest recording must be {policy.retention_days} days"
        " old. Days the audit has no finding for are not counted.",
        colour=_MUTED,
    )
    rows: list[tuple[str | tuple[str, tuple[int, int, int]], ...]] = []
    for cam in recorded:
        r = cam.recordings
        assert r is not None
        if not r.verifiable:
            rows.append((f"{cam.name} ({cam.id})", (f"{r.source}: not verifiable", _WARN), "-", "-", "-", "-"))
            continue
        below = ", ".join(f"{day} ({_pct(p)})" for day, p in r.days_below) or "-"
        rows.append(
            (
                f"{cam.name} ({cam.id})",
                r.source if not r.last_error else (f"{r.source}; last search failed", _WARN),
                _pct(r.completeness_percent).replace("—", "-"),
                (str(len(r.long_gaps)), _FAIL if r.long_gaps else _INK),
                _retention_label(r.retained_days),
                below,
            )
        )
    w.table(
        [
            _Col("Camera", 60),
            _Col("Where", 70),
            _Col("Recorded", 24, "R"),
            _Col("Long gaps", 22, "R"),
            _Col("Oldest", 30, "R"),
            _Col("Days below target", 71),
        ],
        rows,
    )
    for cam in recorded:
        r = cam.recordings
        if r is None or not r.long_gaps:
            continue
        w.paragraph(
            f"Gaps in the recordings of {cam.name} ({cam.id}): "
            + "; ".join(f"{w.clock.span(g.start, g.end)} ({hms(g.duration_s)})" for g in r.long_gaps)
        )


def _pdf_tickets(w: _PdfWriter) -> None:
    report = w.report
    section = report.tickets
    w.heading("Hidden dangers", "camera faults that lasted past their grace time: told, acknowledged, repaired")
    if section is None:
        w.paragraph("Not included: this report was made without the tickets table.", colour=_MUTED)
        return
    site = section.site
    in_target = f" ({_pct(site.in_target_percent)})" if site.in_target_percent is not None else ""
    w.paragraph(
        f"{site.opened} opened; acknowledged within {hms(section.acknowledge_target_s)}:"
        f" {site.acknowledged_in_target} of {site.due}{in_target}; {site.repaired} repaired; at the end of the"
        f" period {site.open_at_end} open, {site.overdue_at_end} overdue."
    )
    w.paragraph(section.definition, colour=_MUTED)
    w.pdf.set_y(w.pdf.get_y() + 1)

    def both(median: float | None, worst: float | None) -> str:
        return f"{hms(median) or '-'} / {hms(worst) or '-'}"

    def cells(label: str, f: TicketFigures) -> tuple[str | tuple[str, tuple[int, int, int]], ...]:
        return (
            label,
            str(f.opened),
            f"{f.acknowledged_in_target} / {f.due}",
            both(f.acknowledge_median_s, f.acknowledge_worst_s),
            str(f.repaired),
            both(f.repair_median_s, f.repair_worst_s),
            str(f.open_at_end),
            (str(f.overdue_at_end), _FAIL if f.overdue_at_end else _INK),
        )

    zones = {z.id: z.name for z in report.zones}
    names = {c.id: c.name for c in report.cameras}
    rows = [cells("All cameras of the report", site)]
    rows += [cells(f"Zone {zones.get(zid, zid)} ({zid})", f) for zid, f in section.zones.items()]
    rows += [cells(f"Camera {names.get(cid, cid)} ({cid})", f) for cid, f in section.cameras.items()]
    w.table(
        [
            _Col("Where", 77),
            _Col("Opened", 18, "R"),
            _Col("Ack. in target", 26, "R"),
            _Col("To acknowledge (median / worst)", 50, "R"),
            _Col("Repaired", 18, "R"),
            _Col("To repair (median / worst)", 50, "R"),
            _Col("Open", 16, "R"),
            _Col("Overdue", 22, "R"),
        ],
        rows,
    )
    if not section.tickets:
        return
    listed = section.tickets[:TICKETS_LISTED]
    clock = w.clock

    def ticket_row(t: TicketLine) -> tuple[str | tuple[str, tuple[int, int, int]], ...]:
        if t.acknowledged_at is not None:
            acked: str | tuple[str, tuple[int, int, int]] = (
                f"{t.acknowledged_by}, {clock.text(t.acknowledged_at)} (after {hms(t.acknowledge_s)})"
            )
        elif t.state_at_end == "unknown":
            acked = "-"
        else:
            acked = ("not acknowledged", _FAIL if t.overdue else _WARN)
        if t.state_at_end == "unknown":
            end: str | tuple[str, tuple[int, int, int]] = ("not known", _MUTED)
        elif t.overdue:
            end = ("open, overdue", _FAIL)
        else:
            end = t.state_at_end
        return (
            str(t.id),
            f"{names.get(t.camera_id, t.camera_id)} ({t.camera_id})",
            FAULT_TEXT.get(t.fault, t.fault),
            clock.text(t.since),
            acked,
            clock.text(t.closed_at) if t.closed_at is not None else "-",
            hms(t.repair_s) or "-",
            end,
        )

    w.table(
        [
            _Col("#", 12, "R"),
            _Col("Camera", 55),
            _Col("Fault", 22),
            _Col("Fault began", 32),
            _Col("Acknowledged", 74),
            _Col("Closed", 32),
            _Col("Repair", 18, "R"),
            _Col("At the end", 32),
        ],
        (ticket_row(t) for t in listed),
    )
    if len(section.tickets) > len(listed):
        w.paragraph(
            f"The first {len(listed)} of {len(section.tickets)} tickets; the CSV and JSON exports list every one.",
            colour=_MUTED,
        )
    if any(t.state_at_end == "unknown" for t in listed):
        w.paragraph(f"Not known: a ticket {UNKNOWN_NOTE}.", colour=_MUTED)
    for t in listed:
        if t.note:
            w.paragraph(f"Ticket {t.id}: {t.note}", colour=_MUTED)
