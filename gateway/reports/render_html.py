"""The report as one self-contained HTML page (templates/report.html): no script, no outside resource.

The template's words go through the `report` catalog (Jinja2's i18n extension); the page opens with what
an inspector reads first (the verdict, the key figures, the reasons grouped by kind, the rules), lists
every camera on one line, details only the cameras that failed (the worst of them: reports/digest.py)
and ends with the appendix of technical settings.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

from gateway.i18n import current, gettext
from gateway.i18n.jinja import install
from gateway.i18n.terms import reason_text
from gateway.reports import render_text as text
from gateway.reports.digest import (
    camera_sentences,
    days_below_text,
    digest,
    failing_marks,
    forwarding_rows,
    forwarding_text,
    forwarding_totals,
    group_findings,
    id_list,
    recordings_rows,
    recordings_summary,
    recordings_text,
    scope_text,
    ticket_camera_rows,
    ticket_cameras_text,
    ticket_lines,
    ticket_lines_text,
    ticket_zone_rows,
    ticket_zones_text,
)
from gateway.reports.model import TIMELINE_STATES, Report, hms
from gateway.reports.render_common import (
    STATE_FILLS,
    Clock,
    Segment,
    fps_label,
    longest,
    more_note,
    num,
    offset_label,
    pct,
    retention_label,
    segments,
    size_label,
    state_label,
    verdict,
)
from gateway.reports.tickets import UNKNOWN_NOTE

_ = gettext

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
    install(env)
    env.filters.update(hms=hms, pct=pct, verdict=verdict, num=num)
    return env


def _axis(report: Report, clock: Clock) -> list[tuple[float, str]]:
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
            label = clock.dt(ts).strftime("%H:%M") if step < 86_400 else clock.day_month(ts)
            ticks.append((100.0 * (ts - report.start) / length, label))
        ts += step
    return ticks


def svg_title(clock: Clock, seg: Segment) -> str:
    head = f"{clock.text(seg.start)} – {clock.text(seg.end)} ({hms(seg.end - seg.start)})"
    if seg.spans == 1:
        what = state_label(seg.state)
    else:
        what = _("{count} short spans, worst {state}").format(count=seg.spans, state=state_label(seg.state))
    detail = text.span_detail(seg.detail)
    return f"{head}: {what}" + (f" — {detail}" if detail else "")


def _bar(clock: Clock, segs: list[Segment]) -> list[dict[str, str]]:
    return [
        {
            "x": f"{s.x:.2f}",
            "w": f"{max(s.w, 0.5):.2f}",
            "fill": STATE_FILLS[s.state],
            "state": s.state,
            "title": svg_title(clock, s),
        }
        for s in segs
    ]


def render_html(report: Report) -> bytes:
    clock = Clock(report)
    shown = digest(report)
    timelines = {
        cam.id: _bar(clock, segments(cam.timeline, report.start, report.end, _SVG_WIDTH, _SVG_MIN))
        for cam in shown.drawn
    }
    failed_ids = {cam.id for cam in shown.failed}
    gateway_bar = _bar(clock, segments(report.gateway.spans, report.start, report.end, _SVG_WIDTH, _SVG_MIN))
    fails, warns = text.counts(report)
    forwarded = forwarding_rows(report)
    recorded = recordings_rows(report)
    tickets = report.tickets
    zone_tickets = ticket_zone_rows(tickets) if tickets is not None else None
    camera_tickets = ticket_camera_rows(tickets) if tickets is not None else None
    lines = ticket_lines(tickets) if tickets is not None else None
    html = (
        _environment()
        .get_template("report.html")
        .render(
            lang=current(),
            report=report,
            clock=clock,
            groups=group_findings(report),
            scope=scope_text(shown, len(report.cameras)),
            verdict_sentence=text.verdict_sentence(report, clock),
            key_figures=text.key_figures(report),
            rules=text.rules(report),
            settings=text.settings(report),
            thresholds=text.thresholds(report),
            period=text.period_text(report, clock),
            counts={"fail": fails, "warn": warns},
            counts_text=text.counts_text(report),
            timelines=timelines,
            gateway_bar=gateway_bar,
            axis=_axis(report, clock),
            states=[(state, STATE_FILLS[state], state_label(state)) for state in TIMELINE_STATES],
            zone_names={zone.id: zone.name for zone in report.zones},
            zone_failed={zone.id: sum(1 for c in zone.cameras if c in failed_ids) for zone in report.zones},
            drawn=shown.drawn,
            detailed=shown.detailed,
            detailed_ids={cam.id for cam in shown.detailed},
            failed_count=len(shown.failed),
            marks=failing_marks,
            camera_sentences=camera_sentences(report, shown.detailed),
            offset=offset_label,
            retention=retention_label,
            fps=fps_label,
            outage_total=lambda cam: sum(o.duration_s for o in cam.outages),
            longest=longest,
            more_note=more_note,
            size=size_label,
            camera_names={cam.id: cam.name for cam in report.cameras},
            fault_text=text.ticket_fault,
            incident_fault=lambda fault: text.incident_fault(fault, report.policy),
            gap_reasons=text.gap_reasons,
            outage_reasons=text.outage_reasons,
            reason=reason_text,
            span_detail=text.span_detail,
            note=text.note,
            recording_source=text.recording_source,
            forwarding_summary=text.forwarding_summary,
            tickets_summary=text.tickets_summary,
            ticket_state=text.ticket_state,
            resolution=text.resolution,
            unknown_note=text.note(UNKNOWN_NOTE),
            id_list=id_list,
            days_below=days_below_text,
            forwarding_rows=forwarded,
            forwarding_listed=forwarding_text(forwarded),
            forwarding_totals=forwarding_totals(report) if report.forwarding is not None else "",
            recordings_rows=recorded,
            recordings_listed=recordings_text(recorded),
            recordings_summary=recordings_summary(report) if recorded.total else "",
            ticket_zones=zone_tickets,
            ticket_zones_listed=ticket_zones_text(zone_tickets) if zone_tickets is not None else None,
            ticket_cameras=camera_tickets,
            ticket_cameras_listed=ticket_cameras_text(camera_tickets) if camera_tickets is not None else None,
            ticket_lines=lines,
            ticket_lines_listed=ticket_lines_text(lines) if lines is not None else None,
        )
    )
    return html.encode("utf-8")
