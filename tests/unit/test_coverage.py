from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.config import GatewayConfig, UnitConfig
from gateway.errors import InvalidRequestError
from gateway.health.uptime import HistoryReader
from gateway.reports.coverage import ReportPeriod, build_report, required_security_staff, staffing_check
from gateway.reports.period import report_period
from gateway.storage import schema
from gateway.storage.db import Database

T0 = 1_763_600_000.0  # 2025-11-20 around 09:33 in Shanghai
TZ = ZoneInfo("Asia/Shanghai")


def site(**policy: Any) -> GatewayConfig:
    cam = {"credentials": None}
    return GatewayConfig.model_validate(
        {
            "site": {
                "id": "plant",
                "name": "Plant",
                "unit": {"name": "Co", "key_unit": True, "headcount": 340, "security_staff": 7},
            },
            "zones": [
                {"id": "gate", "name": "Gate", "kind": "entrance"},
                {"id": "store", "name": "仓库", "kind": "key_area"},
                {"id": "roof", "name": "Roof", "kind": "perimeter"},
            ],
            "cameras": [
                {
                    **cam,
                    "id": "gate-1",
                    "name": "Gate 1",
                    "source": {"rtsp": "rtsp://cam.example/1"},
                    "zones": ["gate"],
                },
                {
                    **cam,
                    "id": "gate-2",
                    "name": "Gate 2",
                    "source": {"rtsp": "rtsp://cam.example/2"},
                    "zones": ["gate"],
                },
                {
                    **cam,
                    "id": "store-1",
                    "name": "Store",
                    "source": {"rtsp": "rtsp://cam.example/3"},
                    "zones": ["store"],
                },
            ],
            "policy": policy,
        }
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with Database(f"sqlite:///{tmp_path}/h.db") as database:
        yield database


def add_run(db: Database, start: float, heartbeat: float, stopped: float | None, policy: Any = None) -> int:
    with db.engine.begin() as conn:
        key = conn.execute(
            schema.gateway_runs.insert().values(
                instance="t", started_at=start, heartbeat_at=heartbeat, stopped_at=stopped, policy=policy
            )
        ).inserted_primary_key
    assert key is not None
    return int(key[0])


def add_states(db: Database, run_id: int, camera: str, changes: list[tuple[float, str, str | None, Any]]) -> None:
    rows = [
        {"run_id": run_id, "camera_id": camera, "ts": ts, "state": st, "reason": r, "faults": f}
        for ts, st, r, f in changes
    ]
    with db.engine.begin() as conn:
        conn.execute(schema.camera_state_changes.insert(), rows)


def history(db: Database) -> None:
    """1000 s watched: gate-1 fine; gate-2 offline 100..300; store-1 frozen 200..500, then at 704x576
    from 700 to the end; the gateway was down 800..850 (a crash, then a restart)."""
    r1 = add_run(db, T0, T0 + 800, None)
    add_states(db, r1, "gate-1", [(T0, "online", None, None)])
    add_states(
        db,
        r1,
        "gate-2",
        [(T0, "online", None, None), (T0 + 100, "offline", "refused", None), (T0 + 300, "online", None, None)],
    )
    add_states(
        db,
        r1,
        "store-1",
        [
            (T0, "online", None, None),
            (T0 + 200, "degraded", "picture frozen", ["quality:frozen"]),
            (T0 + 500, "online", None, None),
            (T0 + 700, "degraded", "704x576 is below HD (1920x1080)", ["below_hd"]),
        ],
    )
    r2 = add_run(db, T0 + 850, T0 + 1000, T0 + 1000)
    add_states(db, r2, "gate-1", [(T0 + 850, "online", None, None)])
    add_states(db, r2, "gate-2", [(T0 + 850, "online", None, None)])
    add_states(db, r2, "store-1", [(T0 + 850, "degraded", "704x576 is below HD (1920x1080)", ["below_hd"])])
    with db.engine.begin() as conn:
        conn.execute(
            schema.camera_samples.insert().values(
                run_id=r2,
                camera_id="store-1",
                ts=T0 + 900,
                state="degraded",
                codec="h264",
                width=704,
                height=576,
                fps=25.0,
            )
        )


def test_report_counts_each_gap_and_incident(db: Database) -> None:
    history(db)
    report = build_report(site(), HistoryReader(db), ReportPeriod(T0, T0 + 1000, "custom", T0 + 2000))
    zones = {z.id: z for z in report.zones}
    cams = {c.id: c for c in report.cameras}

    # gate: gate-1 was online whenever someone watched; the crash is unknown, not uncovered.
    assert zones["gate"].seconds == {"covered": 950.0, "uncovered": 0.0, "unknown": 50.0}
    assert zones["gate"].covered_percent == 100.0 and zones["gate"].passed
    # store: covered 0..200 and 500..700 only.
    assert zones["store"].seconds == {"covered": 400.0, "uncovered": 550.0, "unknown": 50.0}
    assert [(g.start - T0, g.end - T0) for g in zones["store"].gaps] == [(200, 500), (700, 800), (850, 1000)]
    assert "picture frozen" in zones["store"].gaps[0].detail
    assert not zones["store"].passed
    # roof has no camera at all.
    assert zones["roof"].seconds["uncovered"] == 1000.0 and not zones["roof"].passed

    gate2 = cams["gate-2"]
    assert [(o.start - T0, o.duration_s) for o in gate2.outages] == [(100, 200)]
    assert gate2.uptime_percent == pytest.approx(100 * 750 / 950, abs=1e-3)
    store = cams["store-1"]
    assert [(i.fault, i.start - T0, i.end - T0) for i in store.incidents] == [
        ("quality:frozen", 200, 500),
        ("below_hd", 700, 800),
        ("below_hd", 850, 1000),
    ]
    assert store.incidents[-1].ongoing is False  # the period ended long before "now"
    assert store.measured_resolution == "704x576" and store.required_resolution == "1920x1080"
    assert store.uptime_percent == 100.0 and store.good_percent == pytest.approx(100 * 400 / 950, abs=1e-3)

    assert report.gateway.seconds == 50.0 and report.gateway.runs == 2
    assert not report.passed
    failed = {f.subject for f in report.findings if f.severity == "fail"}
    assert failed == {"zone store", "zone roof", "camera gate-2", "camera store-1"}
    assert report.findings[0].severity == "fail"  # failures first
    # The whole report serialises with local ISO times.
    data = report.to_dict()
    assert data["start_iso"].endswith("+08:00") and data["zones"][1]["gaps"][0]["duration_s"] == 300.0


def test_timeline_bar_keeps_a_short_outage_visible(db: Database) -> None:
    run = add_run(db, T0, T0 + 86400, T0 + 86400)
    add_states(
        db,
        run,
        "gate-1",
        [(T0, "online", None, None), (T0 + 40000, "offline", "refused", None), (T0 + 40060, "online", None, None)],
    )
    report = build_report(site(), HistoryReader(db), ReportPeriod(T0, T0 + 86400, "day", T0 + 90000))
    bar = report.cameras[0].timeline
    assert len(bar) <= 400
    assert any(s.state == "offline" for s in bar)
    assert bar[0].start == T0 and bar[-1].end == T0 + 86400


def test_degraded_rows_from_before_fault_codes_are_classified_by_reason(db: Database) -> None:
    run = add_run(db, T0, T0 + 100, T0 + 100)
    add_states(db, run, "gate-1", [(T0, "degraded", "frame rate below the minimum 15 fps", None)])
    report = build_report(site(), HistoryReader(db), ReportPeriod(T0, T0 + 100, "custom", T0 + 100))
    assert [i.fault for i in report.cameras[0].incidents] == ["low_fps"]


def test_runs_under_another_policy_are_flagged(db: Database) -> None:
    run = add_run(db, T0, T0 + 100, T0 + 100, policy={"hd_min_resolution": "1280x720", "min_fps": 15.0})
    add_states(db, run, "gate-1", [(T0, "online", None, None)])
    report = build_report(site(), HistoryReader(db), ReportPeriod(T0, T0 + 100, "custom", T0 + 100))
    assert any(f.subject == "policy" and f.severity == "warn" for f in report.findings)


def test_unwatched_period_fails_the_report(db: Database) -> None:
    report = build_report(site(), HistoryReader(db), ReportPeriod(T0, T0 + 100, "custom", T0 + 100))
    assert report.gateway.percent == 100.0
    assert any(f.subject == "gateway" and f.severity == "fail" for f in report.findings)
    assert all(c.uptime_percent is None for c in report.cameras)


def test_zone_filter_keeps_only_its_cameras(db: Database) -> None:
    history(db)
    report = build_report(
        site(), HistoryReader(db), ReportPeriod(T0, T0 + 1000, "custom", T0 + 2000), zone_ids=["gate"]
    )
    assert [z.id for z in report.zones] == ["gate"]
    assert [c.id for c in report.cameras] == ["gate-1", "gate-2"]


@pytest.mark.parametrize(
    ("headcount", "key_unit", "expected"),
    [
        (50, False, (2, None)),
        (200, True, (2, 2)),
        (201, False, (5, None)),
        (340, True, (7, 3)),
        (500, True, (10, 3)),
        (1000, True, (20, 5)),
        (2000, True, (40, 10)),
        (3000, True, (60, 12)),
    ],
)
def test_security_staffing_rule(headcount: int, key_unit: bool, expected: tuple[int, int | None]) -> None:
    assert required_security_staff(headcount, key_unit) == expected


def test_staffing_check_verdicts() -> None:
    def unit(**kw: Any) -> UnitConfig:
        return UnitConfig.model_validate({"name": "U", "headcount": 340, "key_unit": True, **kw})

    assert staffing_check(unit(security_staff=7, full_time_security_staff=3)).passed is True
    assert staffing_check(unit(security_staff=6, full_time_security_staff=3)).passed is False
    assert staffing_check(unit(security_staff=7, full_time_security_staff=2)).passed is False
    assert staffing_check(unit()).passed is None
    assert staffing_check(unit(security_staff=7)).passed is None  # full-time staff not declared


NOW = datetime(2026, 11, 23, 10, 0, tzinfo=TZ).timestamp()


def test_calendar_periods_in_the_site_time_zone() -> None:
    day = report_period(kind="day", day="2026-11-22", start=None, end=None, tz=TZ, now=NOW)
    assert (day.start, day.end, day.label) == (
        datetime(2026, 11, 22, tzinfo=TZ).timestamp(),
        datetime(2026, 11, 23, tzinfo=TZ).timestamp(),
        "day 2026-11-22",
    )
    week = report_period(kind="week", day="2026-11-18", start=None, end=None, tz=TZ, now=NOW)
    assert week.label == "week 2026-W47" and week.end - week.start == 7 * 86400
    month = report_period(kind="month", day="2026-10-05", start=None, end=None, tz=TZ, now=NOW)
    assert month.label == "month 2026-10" and month.end - month.start == 31 * 86400
    today = report_period(kind="day", day=None, start=None, end=None, tz=TZ, now=NOW)
    assert today.end == NOW and today.label == "day 2026-11-23 (to date)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"kind": "year"}, "must be one of"),
        ({"kind": "day", "day": "22/11/2026"}, "'date' must look like"),
        ({"kind": "day", "start": "2026-11-01"}, "not both"),
        ({"day": "2026-11-01"}, "goes with 'period'"),
        ({"start": "2026-11-20", "end": "2026-11-10"}, "'from' must be before 'to'"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "at most"),
        ({"kind": "day", "day": "2027-01-01"}, "not begun"),
        ({"start": "yesterday"}, "ISO 8601"),
    ],
)
def test_bad_periods_are_refused_with_a_message(args: dict[str, Any], message: str) -> None:
    full = {"kind": None, "day": None, "start": None, "end": None, **args}
    with pytest.raises(InvalidRequestError, match=message):
        report_period(**full, tz=TZ, now=NOW)
