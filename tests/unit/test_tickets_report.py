"""The coverage report's hidden-danger section on a known set of tickets in a real database (both
backends): opened, acknowledged in target, time to acknowledge and to repair (median and worst), open and
overdue at the period's end, per zone and camera, a finding per overdue danger, in every format."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pypdf
import pytest

from gateway.config import GatewayConfig, parse_config
from gateway.health.uptime import HistoryReader
from gateway.reports.coverage import ReportPeriod, build_report
from gateway.reports.model import Report, TicketFigures
from gateway.reports.render import render
from gateway.storage.db import Database
from gateway.tickets.store import TicketStore

TZ = ZoneInfo("Asia/Shanghai")
D0 = datetime(2026, 12, 5, tzinfo=TZ).timestamp()  # the reported day, local midnight
H, MIN = 3600.0, 60.0
END = D0 + 24 * H

SITE: dict[str, Any] = {
    "site": {"id": "s1", "name": "School", "timezone": "Asia/Shanghai", "unit": {"name": "Unit", "headcount": 10}},
    "zones": [
        {"id": "lab", "name": "化学实验室", "kind": "key_area"},
        {"id": "hall", "name": "Hall", "kind": "crowded_area"},
        {"id": "gate", "name": "Gate", "kind": "entrance"},
    ],
    "cameras": [
        {"id": cid, "name": f"Camera {cid}", "source": {"rtsp": f"rtsp://h/{cid}"}, "zones": zones}
        for cid, zones in (
            ("lab1", ["lab"]),
            ("lab2", ["lab"]),
            ("hall1", ["hall"]),
            ("gate1", ["gate"]),
            ("gate2", ["gate"]),
            ("yard1", []),
        )
    ],
    "tickets": {"acknowledge_within_min": 30},
}


@pytest.fixture
def config() -> GatewayConfig:
    return parse_config(SITE, check_secrets=False)


@pytest.fixture
def db(storage_url: str) -> Iterator[Database]:
    with Database(storage_url) as database:
        yield database


def write_tickets(store: TicketStore) -> dict[str, int]:
    """The day's tickets, each named by what it shows; times relative to the day's midnight (D0)."""
    ids: dict[str, int] = {}

    def new(name: str, camera: str, zone: str | None, fault: str, since: float, opened: float) -> int:
        ticket = store.open(camera, (zone, None), fault, f"{name} detail", D0 + since, D0 + opened)
        ids[name] = ticket.id
        return ticket.id

    # Opened the day before, acknowledged then, repaired in the morning: a repair of 4 h, nothing else.
    a = new("repaired_from_before", "lab1", "lab", "offline", -2 * H, -1 * H)
    store.acknowledge(a, "wang", "before", D0 - 50 * MIN)
    store.close(a, D0 + 2 * H)
    # Told at 01:10, acknowledged 10 min later (in target), repaired at 03:00: 2 h from the fault.
    b = new("in_target", "hall1", "hall", "picture", 1 * H, 1 * H + 10 * MIN)
    store.acknowledge(b, "li", "lens cleaned", D0 + 1 * H + 20 * MIN)
    store.close(b, D0 + 3 * H)
    # Acknowledged after an hour (late), still open at the end: open, not overdue.
    c = new("late", "lab1", "lab", "below_hd", 5 * H, 5 * H + 30 * MIN)
    store.acknowledge(c, "zhao", "new camera ordered", D0 + 6 * H + 30 * MIN)
    # Never acknowledged: overdue at the end.
    new("overdue", "hall1", "hall", "offline", 20 * H, 20 * H + 5 * MIN)
    # Told ten minutes before the end: not due yet, neither in target nor late.
    new("not_due", "lab2", "lab", "video_lost", 23 * H + 40 * MIN, 23 * H + 50 * MIN)
    # Acknowledged and closed only after the period: at its end, open, unacknowledged and overdue.
    f = new("acked_after", "gate1", "gate", "offline", 9 * H + 55 * MIN, 10 * H)
    store.acknowledge(f, "sun", "too late", END + 10 * MIN)
    store.close(f, END + 1 * H)
    # Closed and reopened within the day, acknowledged 10 min after the reopening: one ticket.
    r = new("reopened", "yard1", None, "offline", 8 * H, 8 * H)
    store.close(r, D0 + 9 * H)
    store.reopen(r, "offline", "again", D0 + 9 * H + 30 * MIN)
    store.acknowledge(r, "wang", None, D0 + 9 * H + 40 * MIN)
    # Reopened after the period: its state at the period's end is no longer known.
    u = new("unknown", "gate2", "gate", "picture", 12 * H, 12 * H)
    store.close(u, D0 + 13 * H)
    store.reopen(u, "picture", "back", END + 30 * MIN)
    # Outside the period: closed before it, opened after it.
    g = new("closed_before", "lab2", "lab", "offline", -5 * H, -5 * H)
    store.close(g, D0 - 4 * H)
    new("opened_after", "lab2", "lab", "offline", 24 * H, 24 * H + 5 * MIN)
    return ids


def day_report(config: GatewayConfig, db: Database, now: float = END + 2 * H, **kw: Any) -> Report:
    return build_report(config, HistoryReader(db), ReportPeriod(D0, END, "day 2026-12-05", now), **kw)


def test_the_days_figures(config: GatewayConfig, db: Database) -> None:
    store = TicketStore(db)
    ids = write_tickets(store)
    report = day_report(config, db, tickets=store)
    section = report.tickets
    assert section is not None and section.acknowledge_target_s == 1800
    assert section.site == TicketFigures(
        opened=7,  # all but the one opened the day before and the two outside
        due=5,  # in target, late, overdue, acked after, reopened (not_due is not due yet; unknown unknown)
        acknowledged_in_target=2,  # in target (10 min) and the reopened one (10 min after its reopening)
        acknowledge_median_s=600,  # of 10 min, 60 min, 10 min
        acknowledge_worst_s=3600,
        repaired=2,
        repair_median_s=3 * H,  # of 4 h and 2 h
        repair_worst_s=4 * H,
        open_at_end=5,  # late, overdue, not due, acked after, reopened
        overdue_at_end=2,  # overdue, acked after
        oldest_open_s=19 * H,  # the late one's fault began at 05:00
    )
    assert section.site.in_target_percent == 40.0
    assert list(section.zones) == ["lab", "hall", "gate"]
    assert section.zones["lab"] == TicketFigures(1 + 1, 1, 0, 3600, 3600, 1, 4 * H, 4 * H, 2, 0, 19 * H)
    assert section.zones["hall"] == TicketFigures(2, 2, 1, 600, 600, 1, 2 * H, 2 * H, 1, 1, 4 * H)
    assert section.zones["gate"].opened == 2 and section.zones["gate"].overdue_at_end == 1
    assert list(section.cameras) == ["lab1", "lab2", "hall1", "gate1", "gate2", "yard1"]
    assert section.cameras["lab1"].repaired == 1 and section.cameras["lab1"].open_at_end == 1
    assert section.cameras["yard1"].acknowledge_median_s == 600
    # Open at the end first, the overdue among them first; then by opening.
    order = [t.id for t in section.tickets]
    expected = ["acked_after", "overdue", "late", "reopened", "not_due", "repaired_from_before", "in_target", "unknown"]
    assert order == [ids[name] for name in expected]
    lines = {t.id: t for t in section.tickets}
    after = lines[ids["acked_after"]]
    assert after.acknowledged_at is None and after.closed_at is None and after.overdue and after.state_at_end == "open"
    assert lines[ids["unknown"]].state_at_end == "unknown" and not lines[ids["unknown"]].overdue
    assert lines[ids["reopened"]].first_told_at == D0 + 9 * H + 30 * MIN
    assert lines[ids["in_target"]].repair_s == 2 * H and lines[ids["in_target"]].note == "lens cleaned"
    # A failure per overdue danger, on its camera, and the report fails.
    hall1 = next(c for c in report.cameras if c.id == "hall1")
    (finding,) = [f for f in hall1.findings if "hidden danger" in f.message]
    assert finding.severity == "fail" and finding.subject == "camera hall1"
    assert finding.message == (
        f"hidden danger (ticket {ids['overdue']}: offline since 2026-12-05 20:00) still open at the end of the"
        " period and not acknowledged within 0:30:00"
    )
    assert not hall1.passed and not report.passed
    assert sum("hidden danger" in f.message for f in report.findings) == 2
    lab1 = next(c for c in report.cameras if c.id == "lab1")
    assert not any("hidden danger" in f.message for f in lab1.findings)


def test_a_period_not_over_is_judged_now(config: GatewayConfig, db: Database) -> None:
    store = TicketStore(db)
    ids = write_tickets(store)
    section = day_report(config, db, now=D0 + 12 * H, tickets=store).tickets
    assert section is not None
    # Neither the overdue nor the not-due ticket exists yet at noon; "unknown" opens at noon itself.
    assert {t.id for t in section.tickets} == {
        ids[n] for n in ("repaired_from_before", "in_target", "late", "acked_after", "reopened")
    }
    assert section.site.open_at_end == 3 and section.site.overdue_at_end == 1  # acked_after: 2 h unacknowledged
    assert section.site.oldest_open_s == 7 * H


def test_a_zone_report_counts_its_cameras_only(config: GatewayConfig, db: Database) -> None:
    store = TicketStore(db)
    write_tickets(store)
    report = day_report(config, db, zone_ids=["lab"], tickets=store)
    section = report.tickets
    assert section is not None and list(section.zones) == ["lab"] and list(section.cameras) == ["lab1", "lab2"]
    assert section.site.opened == 2 and section.site.repaired == 1 and section.site.overdue_at_end == 0
    assert not any("hidden danger" in f.message for f in report.findings)


def test_without_the_table_there_is_no_section(config: GatewayConfig, db: Database) -> None:
    report = day_report(config, db)
    assert report.tickets is None and report.to_dict()["tickets"] is None
    assert "Not included" in render(report, "html", "en").body.decode()
    assert "未包含：生成本报告时未读取隐患工单。" in render(report, "html", "zh-CN").body.decode()
    empty = day_report(config, db, tickets=TicketStore(db)).tickets
    assert empty is not None and empty.site.opened == 0 and empty.site.acknowledge_median_s is None


def test_every_format_carries_the_section(config: GatewayConfig, db: Database) -> None:
    store = TicketStore(db)
    ids = write_tickets(store)
    report = day_report(config, db, tickets=store)
    data = json.loads(render(report, "json").body)["tickets"]
    assert data["site"]["opened"] == 7 and data["site"]["in_target_percent"] == 40.0
    assert data["zones"]["hall"]["overdue_at_end"] == 1
    line = next(t for t in data["tickets"] if t["id"] == ids["in_target"])
    assert line["acknowledged_by"] == "li" and line["repair_s"] == 7200
    assert line["since_iso"] == "2026-12-05T01:00:00+08:00"

    rows = list(csv.DictReader(io.StringIO(render(report, "csv", "en").body.decode("utf-8-sig"))))
    site = next(r for r in rows if r["record"] == "tickets")
    assert (site["opened"], site["due"], site["acknowledged_in_target"]) == ("7", "5", "2")
    assert (site["acknowledge_median_s"], site["repair_worst_s"], site["overdue_at_end"]) == ("600", "14400", "2")
    assert "acknowledge within 0:30:00" in site["detail"]
    assert [r["id"] for r in rows if r["record"] == "tickets_zone"] == ["lab", "hall", "gate"]
    overdue = next(r for r in rows if r["record"] == "ticket" and r["ticket"] == str(ids["overdue"]))
    assert (overdue["id"], overdue["kind"], overdue["overdue"]) == ("hall1", "offline", "yes")
    assert overdue["ongoing"] == "yes"
    assert overdue["start"] == "2026-12-05T20:00:00+08:00" and overdue["end"] == ""
    done = next(r for r in rows if r["record"] == "ticket" and r["ticket"] == str(ids["in_target"]))
    assert (done["acknowledged_by"], done["acknowledge_s"], done["repair_s"]) == ("li", "600", "7200")
    assert "note: lens cleaned" in done["detail"]

    html = render(report, "html", "en").body.decode()
    for marker in ('id="tickets"', 'id="tickets-figures"', 'data-tickets-zone="lab"', f'data-ticket="{ids["late"]}"'):
        assert marker in html, marker
    assert "open, overdue" in html and "化学实验室" in html and "<script" not in html

    reader = pypdf.PdfReader(io.BytesIO(render(report, "pdf", "en").body))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Hidden dangers" in text and "open, overdue" in text and "7 opened" in text

    # The inspector's Chinese: 隐患, 整改, the overdue danger among the reasons, in the HTML and the PDF.
    chinese = render(report, "html", "zh-CN").body.decode()
    assert "未整改，已逾期" in chinese and "新增隐患 7 项" in chinese and "至报告期末仍未整改" in chinese
    reader = pypdf.PdfReader(io.BytesIO(render(report, "pdf", "zh-CN").body))
    text = re.sub(r"\s+", "", "".join(page.extract_text() for page in reader.pages))
    assert "隐患" in text and "未整改，已逾期" in text and "已整改" in text
