"""The report as CSV, for a spreadsheet: one wide header, one row per record.

The columns and their order never change (CSV_COLUMNS), whatever the language. In English the header
row is the column ids and every cell reads as it always has, so programs that read the English CSV by
column id keep working (the JSON is the export for programs). In Chinese the CSV is for people opening
it in Excel: the header row gives each column's name (CSV_TITLES) and the cells that hold words (the
record type, verdicts, yes/no, kinds, faults, findings and reasons) are in Chinese; ids, names, numbers
and the ISO 8601 times stay as they are, and so does the report row's ``key=value`` policy list (the
configuration's own keys).

The ``record`` column says what a row is and the other columns keep one meaning across record types
(unused ones stay empty):

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
import io
from collections.abc import Iterator, Mapping

from gateway.i18n import N_, current, gettext
from gateway.i18n.terms import CAMERA_STATES, FAULTS, ZONE_KINDS, reason_text, term
from gateway.reports.findings import Names, sentence, severity_word
from gateway.reports.model import TIMELINE_STATES, CameraForwarding, CameraReport, Finding, Report, TicketFigures, hms
from gateway.reports.render_common import Clock, num, verdict
from gateway.reports.render_text import (
    forwarding_summary,
    gap_reasons,
    incident_fault,
    outage_reasons,
    period_name,
    recording_source,
    span_detail,
)
from gateway.reports.tickets import UNKNOWN_NOTE

_ = gettext

#: Each column's id and its name in the header row of a Chinese CSV.
CSV_TITLES: Mapping[str, str] = {
    "record": N_("record"),
    "id": N_("id"),
    "name": N_("name"),
    "kind": N_("kind"),
    "verdict": N_("verdict"),
    "severity": N_("severity"),
    "start": N_("start"),
    "end": N_("end"),
    "duration_s": N_("duration (s)"),
    "duration_hms": N_("duration (h:mm:ss)"),
    "ongoing": N_("ongoing"),
    "zones": N_("zones"),
    "cameras": N_("cameras"),
    "covered_percent": N_("coverage (%)"),
    "uptime_percent": N_("uptime (%)"),
    "good_percent": N_("good time (%)"),
    "percent_of_period": N_("share of the period (%)"),
    "covered_s": N_("covered (s)"),
    "uncovered_s": N_("uncovered (s)"),
    "unknown_s": N_("unknown (s)"),
    "online_s": N_("online (s)"),
    "degraded_s": N_("degraded (s)"),
    "offline_s": N_("offline (s)"),
    "disabled_s": N_("disabled (s)"),
    "required_resolution": N_("required resolution"),
    "measured_resolution": N_("measured resolution"),
    "codec": N_("codec"),
    "fps": N_("frame rate (fps)"),
    "outages": N_("outages"),
    "outage_s": N_("offline time (s)"),
    "incidents": N_("incidents"),
    "incident_s": N_("incident time (s)"),
    "clock_offset_s": N_("clock offset (s)"),
    "retention_days": N_("recordings kept (days)"),
    "headcount": N_("headcount"),
    "key_unit": N_("key unit"),
    "required": N_("security staff required"),
    "declared": N_("security staff declared"),
    "required_full_time": N_("full-time staff required"),
    "declared_full_time": N_("full-time staff declared"),
    "forwarded": N_("forwarded"),
    "uplinks": N_("uplinks"),
    "registered_percent": N_("registered (%)"),
    "registered_s": N_("registered (s)"),
    "sessions": N_("live sessions"),
    "session_s": N_("session time (s)"),
    "bytes_sent": N_("bytes sent"),
    "recorded_percent": N_("recording completeness (%)"),
    "recorded_s": N_("recorded (s)"),
    "audited_days": N_("audited days"),
    "ticket": N_("ticket"),
    "opened": N_("opened"),
    "due": N_("due"),
    "acknowledged_in_target": N_("acknowledged in target"),
    "acknowledge_median_s": N_("time to acknowledge, median (s)"),
    "acknowledge_worst_s": N_("time to acknowledge, worst (s)"),
    "repaired": N_("repaired"),
    "repair_median_s": N_("time to repair, median (s)"),
    "repair_worst_s": N_("time to repair, worst (s)"),
    "open_at_end": N_("open at the end"),
    "overdue_at_end": N_("overdue at the end"),
    "oldest_open_s": N_("oldest open (s)"),
    "acknowledged_at": N_("acknowledged at"),
    "acknowledged_by": N_("acknowledged by"),
    "acknowledge_s": N_("time to acknowledge (s)"),
    "repair_s": N_("time to repair (s)"),
    "overdue": N_("overdue"),
    "detail": N_("detail"),
}
CSV_COLUMNS = tuple(CSV_TITLES)
_COLUMN_SET = frozenset(CSV_COLUMNS)

#: What a row is, in the words of a Chinese CSV (the English CSV keeps the ids).
RECORD_TITLES: Mapping[str, str] = {
    "report": N_("report"),
    "finding": N_("finding"),
    "zone": N_("zone"),
    "zone_gap": N_("zone gap"),
    "camera": N_("camera"),
    "recordings": N_("recordings"),
    "recording_gap": N_("recording gap"),
    "outage": N_("outage"),
    "incident": N_("incident"),
    "gateway_down": N_("gateway downtime"),
    "staffing": N_("security staffing"),
    "forwarding": N_("forwarding"),
    "uplink": N_("uplink"),
    "tickets": N_("hidden dangers"),
    "tickets_zone": N_("hidden dangers of a zone"),
    "tickets_camera": N_("hidden dangers of a camera"),
    "ticket": N_("ticket"),
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(text: str) -> str:
    """Text a spreadsheet shows as text: a leading apostrophe stops ``=HYPERLINK(...)`` being evaluated."""
    return "'" + text if text.startswith(_FORMULA_START) else text


class _Words:
    """The cells that hold words: as they always were in English, in the reader's words otherwise."""

    def __init__(self, report: Report) -> None:
        self.en = current() == "en"
        self.names = Names.of(report)
        self.policy = report.policy

    def record(self, code: str) -> str:
        return code if self.en else gettext(RECORD_TITLES[code])

    def yes(self, value: bool | None) -> str:
        if value is None:
            return ""
        if self.en:
            return "yes" if value else "no"
        return _("yes") if value else _("no")

    def verdict(self, passed: bool | None) -> str:
        if self.en:
            return "NOT JUDGED" if passed is None else ("PASS" if passed else "FAIL")
        return verdict(passed)

    def severity(self, severity: str) -> str:
        return severity if self.en else severity_word(severity)

    def finding(self, f: Finding) -> str:
        return f.message if self.en else sentence(f, self.names)

    def zone_kind(self, kind: str) -> str:
        return kind if self.en else term(ZONE_KINDS, kind)

    def state(self, state: str) -> str:
        if self.en:
            return state
        if state == "uncovered":
            return _("uncovered")
        return term(CAMERA_STATES, state)

    def fault(self, fault: str) -> str:
        return fault if self.en else incident_fault(fault, self.policy)

    def ticket_fault(self, fault: str) -> str:
        return fault if self.en else term(FAULTS, fault)

    def reason(self, text: str) -> str:
        return text if self.en else reason_text(text)

    def text(self, english: str) -> str:
        """A phrase of the renderer or the model, marked for the catalog where it is written."""
        return english if self.en else gettext(english)


def render_csv(report: Report) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    en = current() == "en"
    writer.writerow(CSV_COLUMNS if en else [gettext(CSV_TITLES[c]) for c in CSV_COLUMNS])
    for row in _csv_rows(report):
        assert row.keys() <= _COLUMN_SET, row.keys() - _COLUMN_SET
        writer.writerow([row.get(column, "") for column in CSV_COLUMNS])
    # The BOM is what makes Excel read the file as UTF-8 rather than the machine's code page.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _span_cells(clock: Clock, start: float, end: float) -> dict[str, str]:
    return {
        "start": clock.iso(start),
        "end": clock.iso(end),
        "duration_s": num(end - start),
        "duration_hms": hms(end - start),
    }


def _csv_rows(report: Report) -> Iterator[dict[str, str]]:
    clock = Clock(report)
    w = _Words(report)
    policy = report.policy
    thresholds = ",".join(f"{key}:{num(value)}" for key, value in sorted(policy.quality_thresholds.items()))
    details = [
        f"unit={report.unit_name}",
        f"timezone={report.timezone}",
        f"generated_at={clock.iso(report.generated_at)}",
        f"gateway_version={report.gateway_version}",
        f"key_unit={'yes' if policy.key_unit else 'no'}",
        f"hd_min_resolution={policy.hd_min_resolution}",
        f"min_fps={num(policy.min_fps)}",
        f"uptime_target_percent={num(policy.uptime_target_percent)}",
        f"coverage_target_percent={num(policy.coverage_target_percent)}",
        f"min_monitored_percent={num(policy.min_monitored_percent)}",
        f"retention_days={policy.retention_days}",
        f"max_clock_drift_s={num(policy.max_clock_drift_s)}",
        f"quality_interval_s={num(policy.quality_interval_s)}",
        f"quality_checks={','.join(policy.quality_checks)}",
        f"quality_thresholds={thresholds}",
    ]
    # Only when set, so that a default report reads as before: unset means measured, not judged.
    if policy.max_keyframe_interval_s is not None:
        details.append(f"max_keyframe_interval_s={num(policy.max_keyframe_interval_s)}")
    if policy.min_bitrate_kbps is not None:
        details.append(f"min_bitrate_kbps={num(policy.min_bitrate_kbps)}")
    yield {
        "record": w.record("report"),
        "id": csv_safe(report.site_id),
        "name": csv_safe(report.site_name),
        "kind": csv_safe(report.period_label if w.en else period_name(report.period_label)),
        "verdict": w.verdict(report.passed),
        **_span_cells(clock, report.start, report.end),
        "required_resolution": csv_safe(policy.hd_min_resolution),
        "fps": num(policy.min_fps),
        "retention_days": str(policy.retention_days),
        "key_unit": w.yes(policy.key_unit),
        "detail": csv_safe("; ".join(details)),
    }
    for finding in report.findings:
        yield {
            "record": w.record("finding"),
            "id": csv_safe(finding.subject),
            "severity": w.severity(finding.severity),
            "detail": csv_safe(w.finding(finding)),
        }
    for zone in report.zones:
        yield {
            "record": w.record("zone"),
            "id": csv_safe(zone.id),
            "name": csv_safe(zone.name),
            "kind": csv_safe(w.zone_kind(zone.kind)),
            "verdict": w.verdict(zone.passed),
            "cameras": csv_safe("; ".join(zone.cameras)),
            "covered_percent": num(zone.covered_percent),
            "covered_s": num(zone.seconds.get("covered")),
            "uncovered_s": num(zone.seconds.get("uncovered")),
            "unknown_s": num(zone.seconds.get("unknown")),
            "detail": csv_safe("; ".join(w.finding(f) for f in zone.findings)),
        }
        for gap in zone.gaps:
            yield {
                "record": w.record("zone_gap"),
                "id": csv_safe(zone.id),
                "name": csv_safe(zone.name),
                "kind": csv_safe(w.state(gap.state)),
                **_span_cells(clock, gap.start, gap.end),
                "detail": csv_safe(gap.detail if w.en else gap_reasons(gap.detail)),
            }
    for cam in report.cameras:
        yield _camera_row(cam, w)
        yield from _recording_rows(cam, clock, w)
        for outage in cam.outages:
            yield {
                "record": w.record("outage"),
                "id": csv_safe(cam.id),
                "name": csv_safe(cam.name),
                "kind": w.state("offline"),
                **_span_cells(clock, outage.start, outage.end),
                "ongoing": w.yes(outage.ongoing),
                "detail": csv_safe("; ".join(outage.reasons) if w.en else outage_reasons(outage.reasons)),
            }
        for incident in cam.incidents:
            yield {
                "record": w.record("incident"),
                "id": csv_safe(cam.id),
                "name": csv_safe(cam.name),
                "kind": csv_safe(w.fault(incident.fault)),
                **_span_cells(clock, incident.start, incident.end),
                "ongoing": w.yes(incident.ongoing),
                "detail": csv_safe(w.reason(incident.detail)),
            }
    gateway = report.gateway
    yield {
        "record": w.record("gateway_down"),
        "id": "gateway",
        "kind": w.text(N_("total")),
        "duration_s": num(gateway.seconds),
        "duration_hms": hms(gateway.seconds),
        "percent_of_period": num(gateway.percent),
        "detail": w.text(N_("gateway runs overlapping the period: {runs}")).format(runs=gateway.runs),
    }
    for span in gateway.spans:
        yield {
            "record": w.record("gateway_down"),
            "id": "gateway",
            "kind": csv_safe(w.state(span.state)),
            **_span_cells(clock, span.start, span.end),
            "detail": csv_safe(span.detail if w.en else span_detail(span.detail)),
        }
    staffing = report.staffing
    yield {
        "record": w.record("staffing"),
        "id": "staffing",
        "verdict": w.verdict(staffing.passed),
        "headcount": str(staffing.headcount),
        "key_unit": w.yes(staffing.key_unit),
        "required": str(staffing.required),
        "declared": "" if staffing.declared is None else str(staffing.declared),
        "required_full_time": "" if staffing.required_full_time is None else str(staffing.required_full_time),
        "declared_full_time": "" if staffing.declared_full_time is None else str(staffing.declared_full_time),
        "detail": csv_safe(w.text(staffing.rule)),
    }
    forwarding = report.forwarding
    if forwarding is not None:
        summary = forwarding.summary() if w.en else forwarding_summary(forwarding)
        yield {
            "record": w.record("forwarding"),
            "id": "forwarding",
            "cameras": str(forwarding.cameras),
            "forwarded": str(forwarding.forwarded),
            "detail": csv_safe(f"{summary}. {w.text(forwarding.definition)}"),
        }
        for uplink in forwarding.uplinks:
            yield {
                "record": w.record("uplink"),
                "id": csv_safe(uplink.id),
                "cameras": csv_safe("; ".join(uplink.cameras)),
                "registered_percent": num(uplink.registered_percent),
                "registered_s": num(uplink.registered_s),
            }
    yield from _ticket_rows(report, clock, w)


def _camera_row(cam: CameraReport, w: _Words) -> dict[str, str]:
    details = [w.finding(f) for f in cam.findings]
    if cam.retention_days is None:
        details.append(w.text(N_("retention not verifiable")))
    return {
        "record": w.record("camera"),
        "id": csv_safe(cam.id),
        "name": csv_safe(cam.name),
        "kind": w.text(N_("enabled")) if cam.enabled else w.state("disabled"),
        "verdict": w.verdict(cam.passed),
        "zones": csv_safe("; ".join(cam.zones)),
        "uptime_percent": num(cam.uptime_percent),
        "good_percent": num(cam.good_percent),
        **{f"{state}_s": num(cam.seconds.get(state, 0.0)) for state in TIMELINE_STATES},
        "required_resolution": csv_safe(cam.required_resolution),
        "measured_resolution": csv_safe(cam.measured_resolution or ""),
        "codec": csv_safe(cam.measured_codec or ""),
        "fps": num(cam.measured_fps),
        "outages": str(len(cam.outages)),
        "outage_s": num(sum(o.duration_s for o in cam.outages)),
        "duration_hms": hms(sum(o.duration_s for o in cam.outages)),
        "incidents": str(len(cam.incidents)),
        "incident_s": num(sum(i.duration_s for i in cam.incidents)),
        "clock_offset_s": num(cam.clock_offset_s),
        "retention_days": num(cam.retention_days),
        **_forwarding_cells(cam.forwarding, w),
        "detail": csv_safe("; ".join(details)),
    }


def _figure_cells(f: TicketFigures) -> dict[str, str]:
    return {
        "opened": str(f.opened),
        "due": str(f.due),
        "acknowledged_in_target": str(f.acknowledged_in_target),
        "acknowledge_median_s": num(f.acknowledge_median_s),
        "acknowledge_worst_s": num(f.acknowledge_worst_s),
        "repaired": str(f.repaired),
        "repair_median_s": num(f.repair_median_s),
        "repair_worst_s": num(f.repair_worst_s),
        "open_at_end": str(f.open_at_end),
        "overdue_at_end": str(f.overdue_at_end),
        "oldest_open_s": num(f.oldest_open_s),
    }


def _ticket_rows(report: Report, clock: Clock, w: _Words) -> Iterator[dict[str, str]]:
    section = report.tickets
    if section is None:
        return
    target = w.text(N_("acknowledge within {duration}")).format(duration=hms(section.acknowledge_target_s))
    yield {
        "record": w.record("tickets"),
        "id": "tickets",
        **_figure_cells(section.site),
        "detail": f"{target}. {w.text(section.definition)}",
    }
    zones = {z.id: z for z in report.zones}
    for zone_id, f in section.zones.items():
        zone = zones.get(zone_id)
        yield {
            "record": w.record("tickets_zone"),
            "id": csv_safe(zone_id),
            "name": csv_safe(zone.name if zone else zone_id),
            "kind": csv_safe(w.zone_kind(zone.kind) if zone else ""),
            **_figure_cells(f),
        }
    names = {c.id: c.name for c in report.cameras}
    for camera_id, f in section.cameras.items():
        yield {
            "record": w.record("tickets_camera"),
            "id": csv_safe(camera_id),
            "name": csv_safe(names.get(camera_id, camera_id)),
            **_figure_cells(f),
        }
    for t in section.tickets:
        notes = [w.text(N_("opened {time}")).format(time=clock.iso(t.opened_at))]
        if t.reopened:
            notes.append(w.text(N_("reopened {count} time(s)")).format(count=t.reopened))
        if t.state_at_end == "unknown":
            notes.append(w.text(UNKNOWN_NOTE))
        if t.note:
            notes.append(w.text(N_("note: {note}")).format(note=t.note))
        notes.append(w.reason(t.detail))
        yield {
            "record": w.record("ticket"),
            "id": csv_safe(t.camera_id),
            "name": csv_safe(names.get(t.camera_id, t.camera_id)),
            "kind": csv_safe(w.ticket_fault(t.fault)),
            "zones": csv_safe(t.zone_id or ""),
            "ticket": str(t.id),
            "start": clock.iso(t.since),
            "end": clock.iso(t.closed_at),
            "duration_s": num(t.repair_s),
            "duration_hms": hms(t.repair_s),
            "ongoing": w.yes(t.open_at_end) if t.state_at_end != "unknown" else "",
            "acknowledged_at": clock.iso(t.acknowledged_at),
            "acknowledged_by": csv_safe(t.acknowledged_by or ""),
            "acknowledge_s": num(t.acknowledge_s),
            "repair_s": num(t.repair_s),
            "overdue": w.yes(t.overdue),
            "detail": csv_safe("; ".join(notes)),
        }


def _recording_rows(cam: CameraReport, clock: Clock, w: _Words) -> Iterator[dict[str, str]]:
    r = cam.recordings
    if r is None:
        return
    notes = []
    if r.days_below:
        days = ", ".join(f"{d} {num(p)} %" for d, p in r.days_below)
        notes.append(w.text(N_("days below target: {days}")).format(days=days))
    if r.last_error:
        notes.append(w.text(N_("last search failed: {error}")).format(error=r.last_error))
    source = r.source if w.en else recording_source(r.source)
    kind = source if r.verifiable else w.text(N_("not verifiable"))
    yield {
        "record": w.record("recordings"),
        "id": csv_safe(cam.id),
        "name": csv_safe(cam.name),
        "kind": csv_safe(kind),
        "recorded_percent": num(r.completeness_percent),
        "recorded_s": num(r.recorded_s),
        "audited_days": str(r.days),
        "retention_days": num(r.retained_days),
        "detail": csv_safe("; ".join(notes)),
    }
    for gap in r.long_gaps:
        yield {
            "record": w.record("recording_gap"),
            "id": csv_safe(cam.id),
            "name": csv_safe(cam.name),
            "kind": w.text(N_("not recorded")),
            **_span_cells(clock, gap.start, gap.end),
        }


def _forwarding_cells(forwarding: CameraForwarding | None, w: _Words) -> dict[str, str]:
    if forwarding is None:
        return {}
    return {
        "forwarded": w.yes(forwarding.forwarded),
        "uplinks": csv_safe("; ".join(forwarding.uplinks)),
        "registered_percent": num(forwarding.registered_percent),
        "registered_s": num(forwarding.registered_s),
        "sessions": str(forwarding.sessions),
        "session_s": num(forwarding.session_s),
        "bytes_sent": str(forwarding.bytes_sent),
    }
