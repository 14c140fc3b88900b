"""The forwarding, recordings and hidden-danger sections of the pages a person reads (HTML, PDF): a large
site's lead with their counts and list only the entries that failed or matter, the worst first, up to a
limit, with a line saying how many more the CSV and JSON hold; a small site's list every entry. The CSV
and JSON keep every entry (reports/digest.py)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import replace

import pypdf
import pytest

from gateway import i18n
from gateway.reports.coverage import FORWARDING_DEFINITION
from gateway.reports.digest import (
    DETAILED,
    TICKETS_LISTED,
    forwarding_rows,
    listed,
    recordings_rows,
    ticket_camera_rows,
    ticket_lines,
    ticket_zone_rows,
)
from gateway.reports.model import (
    CameraForwarding,
    CameraRecordings,
    ForwardingReport,
    Report,
    Span,
    TicketFigures,
    TicketLine,
    TicketsReport,
    UplinkReport,
)
from gateway.reports.render import render
from gateway.reports.tickets import DEFINITION as TICKETS_DEFINITION
from tests.support.reportdata import at, big_report, forwarded_report, sample_report

CAMERAS = 240  # in 12 zones (big_report: one per 20 cameras)
OPEN = len(range(0, CAMERAS, 20))  # cameras (and tickets) with a ticket open at the end
OVERDUE = len(range(0, CAMERAS, 60))


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with i18n.using("en"):
        yield


def figures(opened: int = 0, due: int = 0, in_target: int = 0, open_at_end: int = 0, overdue: int = 0) -> TicketFigures:
    return TicketFigures(
        opened, due, in_target, 600.0, 900.0, opened - open_at_end, 3600.0, 7200.0, open_at_end, overdue, None
    )


def with_sections(report: Report) -> Report:
    """``report`` with an uplink forwarding all its cameras but every 7th (every 11th never registered while
    the history was read: its own uplink), recordings for every camera (every 9th with a day below the
    target and a long gap, every 13th not verifiable), and a ticket for every 4th camera (every 5th of those
    still open at the end, overdue when its camera is a 3rd)."""
    cams = []
    tickets: list[TicketLine] = []
    camera_figures: dict[str, TicketFigures] = {}
    for index, cam in enumerate(report.cameras):
        uplinks = () if index % 7 == 0 else (("dead",) if index % 11 == 0 else ("city",))
        registered = 0.0 if uplinks == ("dead",) else 86_000.0
        forwarding = CameraForwarding(uplinks, registered, registered / 864, 2, 600.0, 1_000_000)
        below = index % 9 == 0
        recordings = CameraRecordings(
            source="recorder nvr1, channel ch1",
            verifiable=index % 13 != 0,
            days=1,
            audited_s=86_400.0,
            recorded_s=86_400.0 - (7200.0 if below else 0.0),
            completeness_percent=100.0 - (index % 50 + 5 if below else 0.0),
            days_below=(("2026-11-20", 100.0 - (index % 50 + 5)),) if below else (),
            long_gaps=(Span(at(10), at(12), "missing", ""),) if below else (),
            retained_days=120.0,
            last_error=None,
        )
        cams.append(replace(cam, forwarding=forwarding, recordings=recordings))
        if index % 4 == 0:
            still_open = index % 20 == 0
            overdue = still_open and index % 3 == 0
            tickets.append(
                TicketLine(
                    id=index + 1,
                    camera_id=cam.id,
                    zone_id=cam.zones[0],
                    fault="offline",
                    detail="timeout",
                    since=at(1),
                    opened_at=at(1.5),
                    first_told_at=at(1.5),
                    reopened=0,
                    acknowledged_at=None if still_open else at(1.6),
                    acknowledged_by=None if still_open else "li",
                    note=None,
                    closed_at=None if still_open else at(3),
                    state_at_end="open" if still_open else "closed",
                    acknowledge_s=None if still_open else 360.0,
                    repair_s=None if still_open else 7200.0,
                    overdue=overdue,
                )
            )
            camera_figures[cam.id] = figures(1, 1, 0 if overdue else 1, int(still_open), int(overdue))
    tickets.sort(key=lambda t: (not t.open_at_end, not t.overdue, t.id))
    zone_figures = {zone.id: figures() for zone in report.zones}
    for t in tickets:
        f, z = camera_figures[t.camera_id], zone_figures[t.zone_id or ""]
        zone_figures[t.zone_id or ""] = figures(
            z.opened + 1,
            z.due + 1,
            z.acknowledged_in_target + f.acknowledged_in_target,
            z.open_at_end + f.open_at_end,
            z.overdue_at_end + f.overdue_at_end,
        )
    forwarded = [c.id for c in cams if c.forwarding and c.forwarding.forwarded]
    section = ForwardingReport(
        uplinks=(
            UplinkReport("city", tuple(c for c in forwarded if c not in dead_ids(cams)), 86_000.0, 99.5),
            UplinkReport("dead", tuple(dead_ids(cams)), 0.0, 0.0),
        ),
        cameras=len(cams),
        forwarded=len(forwarded),
        registered=len(forwarded) - len(dead_ids(cams)),
        key_area_cameras=0,
        key_area_forwarded=0,
        history=True,
        definition=FORWARDING_DEFINITION,
    )
    site = figures(
        len(tickets),
        len(tickets),
        sum(f.acknowledged_in_target for f in camera_figures.values()),
        sum(t.open_at_end for t in tickets),
        sum(t.overdue for t in tickets),
    )
    ticket_section = TicketsReport(1800.0, site, zone_figures, camera_figures, tuple(tickets), TICKETS_DEFINITION)
    return replace(report, cameras=tuple(cams), forwarding=section, tickets=ticket_section)


def dead_ids(cams: list) -> list[str]:  # type: ignore[type-arg]
    return [c.id for c in cams if c.forwarding and c.forwarding.uplinks == ("dead",)]


def city_cameras() -> int:
    return len([i for i in range(CAMERAS) if i % 7 and i % 11])


def section(html: str, section_id: str) -> str:
    return html.split(f'<section id="{section_id}">')[1].split("</section>")[0]


def rows(html: str, attribute: str) -> list[str]:
    return re.findall(rf'<tr {attribute}="([^"]+)"', html)


def pdf_text(body: bytes) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(body))
    return len(reader.pages), re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


# ------------------------------------------------------------------------------------------------ choice


def test_a_short_table_lists_every_entry_in_order_and_a_long_one_the_worst_that_failed() -> None:
    short = listed([5, 1, 4], lambda n: n > 3, lambda n: -n, limit=3)
    assert (short.rows, short.whole, short.more, short.passed, short.failing) == ((5, 1, 4), True, 0, 0, 2)
    long = listed(list(range(20)), lambda n: n % 2 == 1, lambda n: -n, limit=3)
    assert long.rows == (19, 17, 15) and not long.whole
    assert (long.total, long.failing, long.more, long.passed) == (20, 10, 7, 10)


def test_the_worst_entries_of_each_table_come_first() -> None:
    report = with_sections(big_report(cameras=CAMERAS))
    fw = forwarding_rows(report)
    assert len(fw.rows) == DETAILED and fw.failing == len([i for i in range(CAMERAS) if i % 7 == 0 or i % 11 == 0])
    # Not forwarded before never registered.
    assert all(not cam.forwarding.forwarded for cam in fw.rows if cam.forwarding)
    rec = recordings_rows(report)
    assert len(rec.rows) == DETAILED
    completeness = [cam.recordings.completeness_percent for cam in rec.rows if cam.recordings]
    assert completeness == sorted(completeness)  # least complete first
    assert tickets_section(report)
    zones = ticket_zone_rows(tickets_section(report))
    cameras = ticket_camera_rows(tickets_section(report))
    # Open tickets in 3 of the 12 zones: those 3 listed, the others counted.
    assert (len(zones.rows), zones.failing, zones.more, zones.passed) == (3, 3, 0, CAMERAS // 20 - 3)
    assert [(f.open_at_end, f.overdue_at_end) for _, f in zones.rows] == [(4, 4), (4, 0), (4, 0)]
    assert (len(cameras.rows), cameras.failing, cameras.more) == (DETAILED, OPEN, OPEN - DETAILED)
    assert [f.overdue_at_end for _, f in cameras.rows] == [1] * OVERDUE + [0] * (DETAILED - OVERDUE)
    lines = ticket_lines(tickets_section(report))
    assert len(lines.rows) == OPEN == lines.failing  # every open one listed, the closed counted
    assert [t.overdue for t in lines.rows] == [True] * OVERDUE + [False] * (OPEN - OVERDUE)


def tickets_section(report: Report) -> TicketsReport:
    assert report.tickets is not None
    return report.tickets


# -------------------------------------------------------------------------------------------------- html


def test_a_large_sites_html_lists_the_worst_and_counts_the_rest() -> None:
    report = with_sections(big_report(cameras=CAMERAS))
    html = render(report, "html").body.decode("utf-8")
    failed_fw = len([i for i in range(CAMERAS) if i % 7 == 0 or i % 11 == 0])
    forwarding = section(html, "forwarding")
    assert len(rows(forwarding, "data-forward-camera")) == DETAILED
    assert f"{DETAILED} of the {CAMERAS} camera(s) are listed: the worst of the {failed_fw} not forwarded" in forwarding
    assert f"The {CAMERAS - failed_fw} forwarded and registered are counted, not listed." in forwarding
    assert f"… and {failed_fw - DETAILED} more camera(s) not forwarded or never registered" in forwarding
    assert f"The platforms opened {2 * CAMERAS} live session(s) of them" in forwarding
    assert f"and were sent {CAMERAS:.1f} MB" in forwarding
    city = forwarding.split('<tr data-uplink="city">')[1].split("</tr>")[0]
    assert f"and {city_cameras() - DETAILED} more" in city  # the first 10 named
    recordings = section(html, "recordings")
    failed_rec = len([i for i in range(CAMERAS) if i % 9 == 0 or i % 13 == 0])
    assert len(rows(recordings, "data-recordings-camera")) == DETAILED
    assert f"the worst of the {failed_rec} whose recordings fall short" in recordings
    assert f"… and {failed_rec - DETAILED} more camera(s) whose recordings fall short" in recordings
    below = len([i for i in range(CAMERAS) if i % 9 == 0 and i % 13 != 0])
    assert f"{CAMERAS} camera(s) say where their recordings live, {len(range(0, CAMERAS, 13))} of them" in recordings
    assert f"Of the others, {below} had days below the target, {below} had long gaps ({below} in all)" in recordings
    assert len(re.findall(r'data-recording-gaps="', recordings)) <= DETAILED
    tickets = section(html, "tickets")
    assert f"Zones: 3 of {CAMERAS // 20} listed, the worst of the 3 with hidden dangers open" in tickets
    assert len(rows(tickets, "data-tickets-zone")) == 3 and len(rows(tickets, "data-tickets-camera")) == DETAILED
    assert "… and 0 more" not in tickets and "more zone(s)" not in tickets
    assert f"… and {OPEN - DETAILED} more camera(s) with hidden dangers open at the end" in tickets
    assert len(rows(tickets, "data-ticket")) == OPEN
    count = CAMERAS // 4
    assert f"{OPEN} of the {count} tickets are listed: of the {OPEN} open at the end, the overdue first" in tickets
    assert f"The other {count - OPEN} are counted in the figures above, not listed." in tickets
    assert f"Cameras: {DETAILED} of the {count} with tickets listed, the worst of the {OPEN}" in tickets
    # The exports keep every entry.
    data = json.loads(render(report, "json").body)
    assert sum(1 for cam in data["cameras"] if cam["forwarding"]) == CAMERAS
    assert sum(1 for cam in data["cameras"] if cam["recordings"]) == CAMERAS
    assert len(data["tickets"]["tickets"]) == count and len(data["tickets"]["cameras"]) == count
    records = [row["record"] for row in csv.DictReader(io.StringIO(render(report, "csv").body.decode("utf-8-sig")))]
    assert records.count("ticket") == count and records.count("tickets_camera") == count


def test_more_lines_count_what_is_left_out() -> None:
    report = with_sections(big_report(cameras=CAMERAS))
    # Every 8th camera's ticket open too: 20 listed, the other open ones said in a line.
    assert report.tickets is not None
    reopened = tuple(
        replace(t, state_at_end="open", closed_at=None) if t.id % 8 == 1 else t for t in report.tickets.tickets
    )
    ordered = tuple(sorted(reopened, key=lambda t: (not t.open_at_end, not t.overdue, t.id)))
    report = replace(report, tickets=replace(report.tickets, tickets=ordered))
    opened = sum(t.open_at_end for t in ordered)
    assert opened > TICKETS_LISTED
    html = render(report, "html").body.decode("utf-8")
    tickets = section(html, "tickets")
    assert len(rows(tickets, "data-ticket")) == TICKETS_LISTED
    assert f"… and {opened - TICKETS_LISTED} more ticket(s) open at the end" in tickets


def test_a_large_site_where_nothing_failed_counts_every_entry() -> None:
    report = big_report(cameras=CAMERAS)
    good = CameraForwarding(("city",), 86_000.0, 99.5, 0, 0.0, 0)
    report = replace(report, cameras=tuple(replace(cam, forwarding=good) for cam in report.cameras))
    forwarding = ForwardingReport(
        (UplinkReport("city", tuple(c.id for c in report.cameras), 86_000.0, 99.5),),
        CAMERAS,
        CAMERAS,
        CAMERAS,
        0,
        0,
        True,
        FORWARDING_DEFINITION,
    )
    html = render(replace(report, forwarding=forwarding), "html").body.decode("utf-8")
    text = section(html, "forwarding")
    assert not rows(text, "data-forward-camera") and 'id="forwarding-cameras"' not in text
    assert f"Every enabled camera of the {CAMERAS} is forwarded and was registered" in text


def test_a_small_site_lists_every_entry() -> None:
    report = forwarded_report()
    html = render(report, "html").body.decode("utf-8")
    assert rows(section(html, "forwarding"), "data-forward-camera") == [cam.id for cam in report.cameras]
    assert "data-more=" not in html and "data-listed=" not in html
    small = with_sections(sample_report())
    html = render(small, "html").body.decode("utf-8")
    assert len(rows(section(html, "recordings"), "data-recordings-camera")) == 4
    assert rows(section(html, "tickets"), "data-ticket") == ["1"]  # cam-gate-hd's
    assert "data-more=" not in html and "data-listed=" not in html


# --------------------------------------------------------------------------------------------------- pdf


def test_a_large_sites_pdf_lists_the_worst_and_counts_the_rest() -> None:
    report = with_sections(big_report(cameras=CAMERAS))
    pages, text = pdf_text(render(report, "pdf").body)
    plain_pages, _ = pdf_text(render(big_report(cameras=CAMERAS), "pdf").body)
    assert pages - plain_pages <= 4  # the three sections in a few pages, not ~15 rows a page for each
    failed_fw = len([i for i in range(CAMERAS) if i % 7 == 0 or i % 11 == 0])
    assert f"… and {failed_fw - DETAILED} more camera(s) not forwarded or never registered" in text
    assert f"the worst of the {failed_fw} not forwarded or never registered" in text
    assert "more camera(s) whose recordings fall short" in text
    assert f"{OPEN} of the {CAMERAS // 4} tickets are listed" in text and f"and {city_cameras() - 5} more" in text


# ------------------------------------------------------------------------------------------------ chinese


def test_the_chinese_pages_count_and_list_the_same() -> None:
    report = with_sections(big_report(cameras=CAMERAS))
    failed_fw = len([i for i in range(CAMERAS) if i % 7 == 0 or i % 11 == 0])
    failed_rec = len([i for i in range(CAMERAS) if i % 9 == 0 or i % 13 == 0])
    html = render(report, "html", "zh-CN").body.decode("utf-8")
    assert f"{CAMERAS} 台摄像机中列出 {DETAILED} 台：未联网或级联从未注册的 {failed_fw} 台中最差者" in html
    assert f"……另有 {failed_fw - DETAILED} 台摄像机未联网或级联从未注册" in html
    assert f"……另有 {failed_rec - DETAILED} 台摄像机录像不达标或无法核验" in html
    assert f"{CAMERAS // 4} 张工单中列出 {OPEN} 张：期末未整改的 {OPEN} 张中，逾期的在前。" in html
    assert f"上级平台共点播 {2 * CAMERAS} 次" in html and f"等，另有 {city_cameras() - DETAILED} 台" in html
    assert len(rows(section(html, "forwarding"), "data-forward-camera")) == DETAILED
    _, text = pdf_text(render(report, "pdf", "zh-CN").body)
    text = text.replace(" ", "")
    assert f"……另有{failed_fw - DETAILED}台摄像机未联网或级联从未注册" in text
    assert f"……另有{failed_rec - DETAILED}台摄像机录像不达标或无法核验" in text
    assert f"{CAMERAS // 4}张工单中列出{OPEN}张" in text
