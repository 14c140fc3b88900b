"""The report as an A4 landscape PDF for an inspector (fpdf2, fonts embedded).

The first page is what an inspector reads: the verdict, the key figures, its reasons grouped by kind
(the worst of each named in sentences) and the policy as the rules it checks. The details follow (zones,
every camera on one line with its timeline, the cameras that failed worst in detail, forwarding,
recordings, hidden dangers, the gateway, staffing, notes), and the technical settings behind the rules
close the report as an appendix. What the pages leave out is in the CSV and JSON (reports/digest.py).
A Chinese report needs a font with Chinese glyphs; where the system has none it is written in English
rather than in question marks, and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from gateway.i18n import current, gettext, using
from gateway.i18n.terms import ZONE_KINDS, reason_text, term
from gateway.reports import render_text as text
from gateway.reports.digest import (
    Digest,
    ListedText,
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
from gateway.reports.model import CameraReport, Report, TicketFigures, TicketLine, hms
from gateway.reports.pdf_layout import FAIL, INK, MUTED, PASS, WARN, Col, PdfFonts, PdfWriter, find_fonts
from gateway.reports.render_common import (
    fps_label,
    longest,
    more_note,
    num,
    offset_label,
    pct,
    retention_label,
    segments,
    size_label,
    verdict,
)
from gateway.reports.tickets import UNKNOWN_NOTE

__all__ = ["PdfFonts", "find_fonts", "render_pdf"]

_ = gettext

Cell = str | tuple[str, tuple[int, int, int]]


def render_pdf(report: Report, fonts: PdfFonts | None = None) -> bytes:
    """A4 landscape PDF; ``fonts`` defaults to :func:`find_fonts` (tests pass none to check the fallback)."""
    # fontTools reports every glyph it drops while subsetting; a report would log thousands of lines.
    for name in ("fontTools", "fontTools.subset", "fontTools.ttLib", "fpdf", "fpdf.fonts", "fpdf.output"):
        logging.getLogger(name).setLevel(logging.ERROR)
    fonts = fonts if fonts is not None else find_fonts()
    writer = PdfWriter(report, fonts)
    if current() != "en" and not writer.draws_chinese():
        with using("en"):
            writer = PdfWriter(report, fonts)
            writer.notes.append(
                _(
                    "No font with Chinese characters was found on this system, so this PDF is in English;"
                    " the HTML report is in Chinese."
                )
            )
            _pdf_content(writer)
    else:
        _pdf_content(writer)
    return bytes(writer.pdf.output())


def _dash(value: str) -> str:
    return value.replace("—", "-")


def _severity(w: PdfWriter, word: str, colour: tuple[int, int, int]) -> None:
    """不合格 / 警告 / 说明 in the margin of the line that follows."""
    w.font("B", 8.5)
    w.ink(colour)
    w.need(4)
    w.put(w.pdf.l_margin, w.pdf.get_y(), w.safe(word))


def _first_page(w: PdfWriter, shown: Digest) -> None:
    """Title, facts and the verdict; the verdict in a sentence, the key figures, what the pages show, the
    reasons grouped by kind, the rules."""
    report, pdf, clock = w.report, w.pdf, w.clock
    pdf.add_page()
    top = pdf.get_y()
    w.font("B", 16)
    w.ink(INK)
    w.put(pdf.l_margin, top, w.safe(_("Video coverage and compliance report")))
    w.font("B", 12)
    w.put(pdf.l_margin, top + 8, w.fit(w.safe(f"{report.site_name}  ({report.site_id})"), 200))
    unit = report.unit_name + (f" · {_('key unit')}" if report.policy.key_unit else "")
    facts = [
        (_("Unit"), unit),
        (_("Period"), text.period_text(report, clock)),
        (_("Time zone"), f"{report.timezone} ({clock.utc_offset()})"),
        (_("Generated"), clock.text(report.generated_at)),
        (_("Gateway version"), report.gateway_version),
    ]
    y = top + 15
    for label, value in facts:
        w.font("", 8.5)
        w.ink(MUTED)
        w.put(pdf.l_margin, y, w.safe(label))
        w.ink(INK)
        w.put(pdf.l_margin + 28, y, w.fit(w.safe(value), 170))
        y += 4.6
    box_w, box_h = 62.0, 26.0
    box_x = pdf.l_margin + pdf.epw - box_w
    w.fill(PASS if report.passed else FAIL)
    pdf.rect(box_x, top, box_w, box_h, style="F", round_corners=True, corner_radius=2)
    w.ink((255, 255, 255))
    w.font("B", 26)
    word = w.safe(verdict(report.passed))
    w.put(box_x + (box_w - w.width(word)) / 2, top + 3, word)
    w.font("", 7.5)
    summary = w.safe(text.counts_text(report))
    w.put(box_x + (box_w - w.width(summary)) / 2, top + 17, summary)
    pdf.set_y(max(y, top + box_h) + 2)

    w.heading(_("Conclusion"))
    w.paragraph(text.verdict_sentence(report, clock), size=10)
    pdf.set_y(pdf.get_y() + 1.5)
    w.table(
        [Col(_("Key figure"), 50), Col(_("Value"), 30, "R"), Col(_("What it counts"), 197)],
        [(f.label, f.value, f.note) for f in text.key_figures(report)],
    )
    w.paragraph(scope_text(shown, len(report.cameras)), colour=MUTED)

    w.heading(_("Reasons"), _("every failure and warning behind the verdict, grouped by kind, the worst first"))
    groups = group_findings(report)
    if not groups:
        w.paragraph(_("No failures or warnings."), colour=MUTED)
    for group in groups:
        colour = {"fail": FAIL, "warn": WARN}.get(group.severity, MUTED)
        if not group.more:  # a group shown whole reads as its sentences, one a line
            for line in group.sentences:
                _severity(w, group.word, colour)
                w.paragraph(line, size=8.5, indent=16)
                pdf.set_y(pdf.get_y() + 0.6)
            continue
        _severity(w, group.word, colour)
        w.paragraph(_("{title} ({count})").format(title=group.title, count=group.count), 8.5, "B", INK, 16)
        for line in group.sentences:
            w.paragraph(f"• {line}" if w.ttf else f"- {line}", size=8.5, indent=19)
        more = _(
            "… and {count} more; the tables below mark each one and the CSV and JSON exports list every finding"
        ).format(count=group.more)
        w.paragraph(more, size=8, colour=MUTED, indent=19)
        pdf.set_y(pdf.get_y() + 0.6)

    w.heading(_("Rules judged against"), _("the settings behind them are listed in the appendix"))
    for index, rule in enumerate(text.rules(report), start=1):
        w.font("", 8.5)
        w.ink(MUTED)
        w.need(4)
        w.put(pdf.l_margin, pdf.get_y(), f"{index}.")
        w.paragraph(rule, size=8.5, indent=8)


def _pdf_content(w: PdfWriter) -> None:
    report, pdf, clock = w.report, w.pdf, w.clock
    shown = digest(report)
    failed_ids = {cam.id for cam in shown.failed}
    _first_page(w, shown)
    # The details start on a page of their own: the first page is the one an inspector files.
    pdf.add_page()

    w.heading(_("Zones"), _("{count} zone(s)").format(count=len(report.zones)))
    zone_rows = []
    for zone in report.zones:
        colour = PASS if zone.passed else FAIL
        failed = sum(1 for cam_id in zone.cameras if cam_id in failed_ids)
        zone_rows.append(
            (
                f"{zone.name} ({zone.id})",
                term(ZONE_KINDS, zone.kind),
                ", ".join(zone.cameras),
                _dash(pct(zone.covered_percent)),
                hms(zone.seconds.get("uncovered")),
                hms(zone.seconds.get("unknown")),
                str(len(zone.gaps)),
                (str(failed), FAIL if failed else INK),
                (verdict(zone.passed), colour),
            )
        )
    w.table(
        [
            Col(_("Zone"), 70),
            Col(_("Kind"), 26),
            Col(_("Cameras"), 70),
            Col(_("Coverage"), 20, "R"),
            Col(_("Uncovered"), 20, "R"),
            Col(_("Unknown"), 20, "R"),
            Col(_("Gaps"), 13, "R"),
            Col(_("Cameras failed"), 18, "R"),
            Col(_("Result"), 20, "C"),
        ],
        zone_rows,
    )
    # Gaps of the zones that failed; a passing zone's gaps are counted in its row, listed in the CSV and JSON.
    failed_zones = [zone for zone in report.zones if not zone.passed]
    gaps = [(zone, gap) for zone in failed_zones for gap in longest(zone.gaps)]
    if gaps:
        w.heading(_("Zone gaps"), _("uncovered stretches, with each camera's reason at the time"))
        w.table(
            [
                Col(_("Zone"), 55),
                Col(_("Start"), 36),
                Col(_("End"), 36),
                Col(_("Duration"), 18, "R"),
                Col(_("Reasons"), 132),
            ],
            (
                (
                    f"{zone.name} ({zone.id})",
                    clock.text(gap.start),
                    clock.text(gap.end),
                    hms(gap.duration_s),
                    text.gap_reasons(gap.detail),
                )
                for zone, gap in gaps
            ),
        )
        for zone in failed_zones:
            if note := more_note(zone.gaps):
                w.paragraph(f"{zone.name} ({zone.id}): {note}", colour=MUTED)

    w.heading(
        _("Cameras"),
        _("{count} camera(s); timelines {span}").format(
            count=len(report.cameras), span=clock.span(report.start, report.end)
        ),
    )
    w.legend()
    bar_w = 45.0
    cols = [
        Col(_("Camera"), 52),
        Col(_("Zones"), 18),
        Col(_("Req. / measured"), 36),
        Col(_("Codec / fps"), 21),
        Col(_("Uptime"), 15, "R"),
        Col(_("Good time"), 15, "R"),
        Col(_("Outages"), 21, "R"),
        Col(_("Inc."), 8, "R"),
        Col(_("Clock"), 12, "R"),
        Col(_("Retention"), 20, "R"),
        Col(_("Result"), 14, "C"),
        Col(_("Timeline"), bar_w),
    ]
    cam_rows = []
    bars = []
    for cam in report.cameras:
        outage_s = sum(o.duration_s for o in cam.outages)
        bad = failing_marks(cam)

        def mark(value: str, *which: str, bad: frozenset[str] = bad) -> Cell:
            return (value, FAIL) if bad.intersection(which) else value

        cam_rows.append(
            (
                w.name_id(cam.name, cam.id, cols[0].width),
                ", ".join(cam.zones),
                mark(f"{cam.required_resolution} / {cam.measured_resolution or '-'}", "resolution"),
                f"{cam.measured_codec or '-'} / {_dash(fps_label(cam.measured_fps))}",
                mark(_dash(pct(cam.uptime_percent)), "uptime", "monitored"),
                _dash(pct(cam.good_percent)),
                f"{len(cam.outages)} / {hms(outage_s)}" if cam.outages else "0",
                mark(str(len(cam.incidents)), "incidents"),
                mark(_dash(offset_label(cam.clock_offset_s)), "clock"),
                (
                    retention_label(cam.retention_days),
                    FAIL if "retention" in bad else (WARN if cam.retention_days is None else INK),
                ),
                (verdict(cam.passed), PASS if cam.passed else FAIL),
                "",
            )
        )
        bars.append(segments(cam.timeline, report.start, report.end, bar_w - 2, 0.35))
    w.table(cols, cam_rows, bars=bars, bar_col=len(cols) - 1)

    _pdf_failed(w, shown)

    _pdf_forwarding(w)
    _pdf_recordings(w)
    _pdf_tickets(w)

    gateway = report.gateway
    w.heading(_("Gateway downtime"), _("time no gateway was watching counts as unknown, never as coverage"))
    w.paragraph(
        _(
            "Not running for {duration} ({percent} of the period) in {stretches} stretch(es);"
            " {runs} gateway run(s) overlapped the period."
        ).format(
            duration=hms(gateway.seconds),
            percent=f"{num(gateway.percent, 2) or '0'} %",
            stretches=len(gateway.spans),
            runs=gateway.runs,
        )
    )
    pdf.set_y(pdf.get_y() + 1)
    if gateway.spans:
        w.table(
            [Col(_("Start"), 40), Col(_("End"), 40), Col(_("Duration"), 25, "R"), Col(_("Detail"), 172)],
            (
                (clock.text(s.start), clock.text(s.end), hms(s.duration_s), text.span_detail(s.detail))
                for s in gateway.spans
            ),
        )

    staffing = report.staffing
    staffing_colour = WARN if staffing.passed is None else (PASS if staffing.passed else FAIL)
    w.heading(_("Security staffing"))

    def opt(value: int | None) -> str:
        return _("not declared") if value is None else str(value)

    w.table(
        [
            Col(_("Headcount"), 25, "R"),
            Col(_("Key unit"), 18),
            Col(_("Required"), 20, "R"),
            Col(_("Declared"), 24, "R"),
            Col(_("Full-time req."), 26, "R"),
            Col(_("Full-time decl."), 26, "R"),
            Col(_("Result"), 24, "C"),
        ],
        [
            (
                str(staffing.headcount),
                _("yes") if staffing.key_unit else _("no"),
                str(staffing.required),
                opt(staffing.declared),
                "-" if staffing.required_full_time is None else str(staffing.required_full_time),
                opt(staffing.declared_full_time) if staffing.required_full_time is not None else "-",
                (verdict(staffing.passed), staffing_colour),
            )
        ],
    )
    w.paragraph(_("Rule: {rule}").format(rule=text.note(staffing.rule)), colour=MUTED)

    notes = [text.note(n) for n in report.notes] + w.notes
    if not w.ttf:
        notes.append(_("No TrueType font was found on this system, so this PDF uses Helvetica (Latin-1 only)."))
    if w.replaced:
        notes.append(
            _(
                "Some characters could not be drawn with the fonts available on this system and are shown as '?';"
                " the JSON, CSV and HTML exports carry the exact names."
            )
        )
    if notes:
        w.heading(_("Notes"))
        for note in notes:
            w.paragraph(f"• {note}" if w.ttf else f"- {note}")

    _pdf_appendix(w)


def _pdf_failed(w: PdfWriter, shown: Digest) -> None:
    """The cameras that failed, the worst first: their findings in sentences, their longest events."""
    report, clock = w.report, w.clock
    failed, detailed = len(shown.failed), len(shown.detailed)
    if detailed < failed:
        note = _("the worst {detailed} of {count}, with their findings, longest outages and incidents").format(
            detailed=detailed, count=failed
        )
    else:
        note = _("{count} camera(s), with their findings, longest outages and incidents").format(count=failed)
    w.heading(_("Cameras that failed"), note)
    if not failed:
        w.paragraph(_("No camera failed a rule."), colour=MUTED)
        return
    ongoing = " " + _("(ongoing)")
    sentences = camera_sentences(report, shown.detailed)
    zones = {zone.id: zone.name for zone in report.zones}
    for cam in shown.detailed:
        where = ", ".join(zones.get(z, z) for z in cam.zones)
        w.need(14)
        w.paragraph(f"{cam.name} ({cam.id}{' · ' + where if where else ''})", size=9, style="B")
        for line in sentences[cam.id]:
            w.paragraph(f"• {line}" if w.ttf else f"- {line}", indent=3)

        def event_rows(cam: CameraReport = cam) -> Iterator[tuple[str, ...]]:
            for o in longest(cam.outages):
                span = clock.span(o.start, o.end) + (ongoing if o.ongoing else "")
                yield (_("outage"), span, hms(o.duration_s), text.outage_reasons(o.reasons))
            if note := more_note(cam.outages):
                yield (_("outages"), "", "", note)
            for i in longest(cam.incidents):
                span = clock.span(i.start, i.end) + (ongoing if i.ongoing else "")
                fault = text.incident_fault(i.fault, report.policy)
                yield (fault, span, hms(i.duration_s), reason_text(i.detail))
            if note := more_note(cam.incidents):
                yield (_("incidents"), "", "", note)

        if cam.outages or cam.incidents:
            w.pdf.set_y(w.pdf.get_y() + 1)
            w.table(
                [
                    Col(_("Type / fault"), 56),
                    Col(_("Start - end"), 66),
                    Col(_("Duration"), 18, "R"),
                    Col(_("Reasons / detail"), 137),
                ],
                event_rows(),
            )
    if detailed < failed:
        w.paragraph(
            _(
                "The other {count} camera(s) that failed are marked in the table of cameras; the CSV and JSON exports"
                " list their findings, outages and incidents."
            ).format(count=failed - detailed),
            colour=MUTED,
        )


def _pdf_appendix(w: PdfWriter) -> None:
    """The settings behind the rules of the first page, with their configuration keys."""
    w.heading(_("Appendix: technical settings"), _("the configuration the rules above were judged with"))
    w.table(
        [Col(_("Setting"), 80), Col(_("Value"), 80), Col(_("Configuration key"), 117)],
        [(s.label, s.value, s.key) for s in text.settings(w.report)],
    )
    thresholds = text.thresholds(w.report)
    if thresholds:
        w.table(
            [Col(_("Picture-quality diagnosis threshold"), 80), Col(_("Value"), 40, "R")],
            thresholds,
        )


def _listed_head(w: PdfWriter, text: ListedText) -> None:
    if text.head:
        w.paragraph(text.head, colour=MUTED)


def _listed_more(w: PdfWriter, text: ListedText) -> None:
    if text.more:
        w.paragraph(text.more, colour=MUTED)


def _pdf_forwarding(w: PdfWriter) -> None:
    report = w.report
    forwarding = report.forwarding
    w.heading(_("Forwarded to the city network"), _("GB/T 28181 uplinks to upper platforms"))
    if forwarding is None:
        w.paragraph(
            _(
                "Not applicable: this site has no GB/T 28181 uplink configured, so no camera is forwarded to an"
                " upper platform."
            ),
            colour=MUTED,
        )
        return
    w.paragraph(f"{text.forwarding_summary(forwarding)} {forwarding_totals(report)}")
    w.paragraph(text.note(forwarding.definition), colour=MUTED)
    pdf = w.pdf
    pdf.set_y(pdf.get_y() + 1)

    def registered(seconds: float | None, percent: float | None) -> str:
        return _("unknown") if seconds is None else _dash(pct(percent))

    w.table(
        [
            Col(_("Uplink"), 50),
            Col(_("Cameras forwarded"), 157),
            Col(_("Registered"), 35, "R"),
            Col(_("Time"), 35, "R"),
        ],
        (
            (
                u.id,
                id_list(u.cameras, 5) or _("none"),  # one line: the cell is cut at its width
                registered(u.registered_s, u.registered_percent),
                hms(u.registered_s),
            )
            for u in forwarding.uplinks
        ),
    )
    shown = forwarding_rows(report)
    listed = forwarding_text(shown)
    _listed_head(w, listed)
    rows: list[tuple[Cell, ...]] = []
    for cam in shown.rows:
        f = cam.forwarding
        assert f is not None
        uplinks: Cell = ", ".join(f.uplinks) if f.forwarded else (_("not forwarded"), WARN)
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
    if rows:
        w.table(
            [
                Col(_("Camera"), 80),
                Col(_("Uplinks"), 87),
                Col(_("Registered"), 30, "R"),
                Col(_("Sessions"), 20, "R"),
                Col(_("Session time"), 30, "R"),
                Col(_("Sent"), 30, "R"),
            ],
            rows,
        )
    _listed_more(w, listed)


def _pdf_recordings(w: PdfWriter) -> None:
    report = w.report
    shown = recordings_rows(report)
    w.heading(_("Recordings"), _("what the recording devices hold, searched by the recording audit"))
    if not shown.total:
        w.paragraph(
            _(
                "Not configured: no camera says where its recordings live, so retention can only be what the"
                " cameras report of themselves."
            ),
            colour=MUTED,
        )
        return
    policy = report.policy
    w.paragraph(
        _(
            "Each day must be recorded for at least {percent}; a gap longer than {gap} is a finding; recordings"
            " must be kept {days} days. Days the audit has no finding for are not counted."
        ).format(
            percent=pct(policy.min_recorded_percent), gap=hms(policy.max_recording_gap_s), days=policy.retention_days
        ),
        colour=MUTED,
    )
    w.paragraph(recordings_summary(report))
    listed = recordings_text(shown)
    _listed_head(w, listed)
    rows: list[tuple[Cell, ...]] = []
    for cam in shown.rows:
        r = cam.recordings
        assert r is not None
        source = text.recording_source(r.source)
        if not r.verifiable:
            unverifiable = _("{source}: not verifiable").format(source=source)
            rows.append((f"{cam.name} ({cam.id})", (unverifiable, WARN), "-", "-", "-", "-"))
            continue
        below = days_below_text(r.days_below) or "-"
        failed = _("{source}; last search failed").format(source=source)
        rows.append(
            (
                f"{cam.name} ({cam.id})",
                source if not r.last_error else (failed, WARN),
                _dash(pct(r.completeness_percent)),
                (str(len(r.long_gaps)), FAIL if r.long_gaps else INK),
                retention_label(r.retained_days),
                below,
            )
        )
    if rows:
        w.table(
            [
                Col(_("Camera"), 60),
                Col(_("Where"), 70),
                Col(_("Recording completeness"), 24, "R"),
                Col(_("Long gaps"), 22, "R"),
                Col(_("Days kept"), 30, "R"),
                Col(_("Days below target"), 71),
            ],
            rows,
        )
    _listed_more(w, listed)
    for cam in shown.rows:
        r = cam.recordings
        if r is None or not r.long_gaps:
            continue
        w.paragraph(
            _("Gaps in the recordings of {camera}: {gaps}").format(
                camera=f"{cam.name} ({cam.id})",
                gaps="; ".join(f"{w.clock.span(g.start, g.end)} ({hms(g.duration_s)})" for g in longest(r.long_gaps)),
            )
        )
        if note := more_note(r.long_gaps):
            w.paragraph(note, colour=MUTED)


def _pdf_tickets(w: PdfWriter) -> None:
    report = w.report
    section = report.tickets
    w.heading(
        _("Hidden dangers"), _("camera faults that lasted past their grace time: reported, acknowledged, rectified")
    )
    if section is None:
        w.paragraph(_("Not included: this report was made without the tickets table."), colour=MUTED)
        return
    w.paragraph(text.tickets_summary(section))
    w.paragraph(text.note(section.definition), colour=MUTED)
    w.pdf.set_y(w.pdf.get_y() + 1)

    def both(median: float | None, worst: float | None) -> str:
        return f"{hms(median) or '-'} / {hms(worst) or '-'}"

    def cells(label: str, f: TicketFigures) -> tuple[Cell, ...]:
        return (
            label,
            str(f.opened),
            f"{f.acknowledged_in_target} / {f.due}",
            both(f.acknowledge_median_s, f.acknowledge_worst_s),
            str(f.repaired),
            both(f.repair_median_s, f.repair_worst_s),
            str(f.open_at_end),
            (str(f.overdue_at_end), FAIL if f.overdue_at_end else INK),
        )

    zones = {z.id: z.name for z in report.zones}
    names = {c.id: c.name for c in report.cameras}
    zone_rows, camera_rows = ticket_zone_rows(section), ticket_camera_rows(section)
    zones_listed, cameras_listed = ticket_zones_text(zone_rows), ticket_cameras_text(camera_rows)
    _listed_head(w, zones_listed)
    _listed_head(w, cameras_listed)
    rows = [cells(_("All cameras of the report"), section.site)]
    rows += [cells(_("Zone {zone}").format(zone=f"{zones.get(zid, zid)} ({zid})"), f) for zid, f in zone_rows.rows]
    rows += [
        cells(_("Camera {camera}").format(camera=f"{names.get(cid, cid)} ({cid})"), f) for cid, f in camera_rows.rows
    ]
    w.table(
        [
            Col(_("Where"), 77),
            Col(_("Opened"), 18, "R"),
            Col(_("Ack. in target"), 26, "R"),
            Col(_("To acknowledge (median / worst)"), 50, "R"),
            Col(_("Rectified"), 18, "R"),
            Col(_("To rectify (median / worst)"), 50, "R"),
            Col(_("Open"), 16, "R"),
            Col(_("Overdue"), 22, "R"),
        ],
        rows,
    )
    _listed_more(w, zones_listed)
    _listed_more(w, cameras_listed)
    if not section.tickets:
        return
    lines = ticket_lines(section)
    lines_listed = ticket_lines_text(lines)
    listed = lines.rows
    clock = w.clock

    def ticket_row(t: TicketLine) -> tuple[Cell, ...]:
        acked: Cell
        if t.acknowledged_at is not None:
            acked = _("{who}, {time} (after {duration})").format(
                who=t.acknowledged_by, time=clock.text(t.acknowledged_at), duration=hms(t.acknowledge_s)
            )
        elif t.state_at_end == "unknown":
            acked = "-"
        else:
            acked = (_("not acknowledged"), FAIL if t.overdue else WARN)
        end: Cell
        if t.state_at_end == "unknown":
            end = (_("not known"), MUTED)
        elif t.overdue:
            end = (_("open, overdue"), FAIL)
        else:
            end = text.ticket_state(t.state_at_end)
        return (
            str(t.id),
            f"{names.get(t.camera_id, t.camera_id)} ({t.camera_id})",
            text.ticket_fault(t.fault),
            clock.text(t.since),
            acked,
            clock.text(t.closed_at) if t.closed_at is not None else "-",
            hms(t.repair_s) or "-",
            end,
        )

    _listed_head(w, lines_listed)
    if not listed:
        _listed_more(w, lines_listed)
        return
    w.table(
        [
            Col("#", 12, "R"),
            Col(_("Camera"), 55),
            Col(_("Fault"), 22),
            Col(_("Fault began"), 34),
            Col(_("Acknowledged"), 72),
            Col(_("Closed"), 34),
            Col(_("Time to rectify"), 18, "R"),
            Col(_("At the end"), 30),
        ],
        (ticket_row(t) for t in listed),
    )
    _listed_more(w, lines_listed)
    if any(t.state_at_end == "unknown" for t in listed):
        w.paragraph(_("Not known: a ticket {note}.").format(note=text.note(UNKNOWN_NOTE)), colour=MUTED)
    for t in listed:
        if t.note:
            w.paragraph(_("Ticket {ticket}: {note}").format(ticket=t.id, note=t.note), colour=MUTED)
