from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway import i18n
from gateway.config import GatewayConfig, UnitConfig
from gateway.errors import InvalidRequestError
from gateway.gb28181.ledger import ForwardLedger
from gateway.health.uptime import HistoryReader
from gateway.reports.coverage import ReportPeriod, build_report, required_security_staff, staffing_check
from gateway.reports.period import report_period
from gateway.storage import schema
from gateway.storage.db import Database

T0 = 1_763_600_000.0  # 2025-11-20 around 09:33 in Shanghai
TZ = ZoneInfo("Asia/Shanghai")


def site(*, uplinks: list[dict[str, Any]] | None = None, **policy: Any) -> GatewayConfig:
    cam = {"credentials": None}
    unit: dict[str, Any] = {"name": "Co", "key_unit": True, "headcount": 340, "security_staff": 7}
    if uplinks is not None:
        unit["gb_id"] = UNIT_GB_ID
    config = GatewayConfig.model_validate(
        {
            "site": {
                "id": "plant",
                "name": "Plant",
                "unit": unit,
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
            "uplinks": {"gb28181": uplinks or []},
        }
    )
    if uplinks is not None:
        # gate-1 and store-1 can be forwarded (they have a channel ID); gate-2 cannot.
        channels = {"gate-1": "12010000001320000001", "store-1": "12010000001320000002"}
        cameras = [c.model_copy(update={"gb_channel_id": channels.get(c.id)}) for c in config.cameras]
        config = config.model_copy(update={"cameras": cameras})
    return config


UNIT_GB_ID = "12010000002000000001"


def uplink(uplink_id: str, port: int, channels: Any = "all") -> dict[str, Any]:
    return {
        "id": uplink_id,
        "server_id": "12000000002000000001",
        "server_domain": "1200000000",
        "host": "10.0.0.1",
        "password": {"env": "GB_TEST_PW"},
        "local_port": port,
        "channels": channels,
    }


@pytest.fixture
def db(storage_url: str) -> Iterator[Database]:
    with Database(storage_url) as database:
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


def test_each_camera_has_its_own_last_onvif_reading_up_to_the_end(db: Database) -> None:
    """Read for all cameras in one query: each gets its last good reading up to the period's end."""
    history(db)
    five_days = T0 + 900 - 5 * 86400
    rows = [
        {"camera_id": cid, "ts": T0 + at, "ok": ok, "clock_offset_s": offset, "recording_search": search,
         "recordings_earliest": earliest}
        for cid, at, ok, offset, search, earliest in (
            # gate-1: an older reading, the last one before the end, and a later one the report ignores.
            ("gate-1", -50, True, 1.0, None, None),
            ("gate-1", 900, True, 9.0, True, five_days),
            ("gate-1", 1500, True, 99.0, None, None),
            # gate-2: its last reading failed, so the one before it counts; no recording search.
            ("gate-2", 100, True, -2.5, False, None),
            ("gate-2", 200, False, None, None, None),
        )
    ]  # fmt: skip
    with db.engine.begin() as conn:
        conn.execute(schema.camera_inventory.insert(), rows)
    report = build_report(site(), HistoryReader(db), ReportPeriod(T0, T0 + 1000, "custom", T0 + 2000))
    cams = {c.id: c for c in report.cameras}
    assert (cams["gate-1"].clock_offset_s, cams["gate-1"].retention_days) == (9.0, 5.0)
    assert (cams["gate-2"].clock_offset_s, cams["gate-2"].retention_days) == (-2.5, None)
    assert (cams["store-1"].clock_offset_s, cams["store-1"].retention_days) == (None, None)  # never read


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


def forwarding_history(db: Database) -> ForwardLedger:
    """On top of ``history``: city registered 100..400, then from 700 on (a row the crash at 800 left
    open); district registered 300..600; province never. Sessions: gate-1 150..250 on city (1000 bytes
    sent), store-1 from 900 on district, still open."""
    ledger = ForwardLedger(db)
    ledger.link_registered("city", T0 + 100)
    ledger.link_unregistered("city", T0 + 400, "keepalive timeout")
    ledger.link_registered("city", T0 + 700)
    ledger.link_registered("district", T0 + 300)
    ledger.link_unregistered("district", T0 + 600, "stop")
    sid = ledger.session_started("city", "gate-1", "12010000001320000001", "call-1", "udp", T0 + 150)
    ledger.session_ended(sid, T0 + 250, 1000, "bye")
    ledger.session_started("district", "store-1", "12010000001320000002", "call-2", "tcp-passive", T0 + 900)
    return ledger


def forwarding_site() -> GatewayConfig:
    return site(
        uplinks=[uplink("city", 5060), uplink("district", 5061, ["store-1"]), uplink("province", 5062, ["gate-1"])]
    )


def test_report_says_which_cameras_were_forwarded_and_while_registered(db: Database) -> None:
    history(db)
    ledger = forwarding_history(db)
    period = ReportPeriod(T0, T0 + 1000, "custom", T0 + 2000)
    report = build_report(forwarding_site(), HistoryReader(db), period, ledger=ledger)
    cams = {c.id: c.forwarding for c in report.cameras}

    gate1, gate2, store = cams["gate-1"], cams["gate-2"], cams["store-1"]
    assert gate1 is not None and gate2 is not None and store is not None
    # city: 100..400, and 700..1000 less the gateway's downtime 800..850 (a crash's open row does not
    # count while no gateway ran); province adds nothing.
    assert gate1.uplinks == ("city", "province")
    assert (gate1.registered_s, gate1.registered_percent) == (550.0, 55.0)
    assert (gate1.sessions, gate1.session_s, gate1.bytes_sent) == (1, 100.0, 1000)
    # At least one of city or district: 100..600, 700..800, 850..1000.
    assert store.uplinks == ("city", "district")
    assert (store.registered_s, store.registered_percent) == (750.0, 75.0)
    assert (store.sessions, store.session_s, store.bytes_sent) == (1, 100.0, 0)
    assert not gate2.forwarded and gate2.uplinks == () and gate2.sessions == 0

    fw = report.forwarding
    assert fw is not None and fw.history
    assert {u.id: (u.cameras, u.registered_s) for u in fw.uplinks} == {
        "city": (("gate-1", "store-1"), 550.0),
        "district": (("store-1",), 300.0),
        "province": (("gate-1",), 0.0),
    }
    assert (fw.cameras, fw.forwarded, fw.registered, fw.key_area_cameras, fw.key_area_forwarded) == (3, 2, 2, 1, 1)
    assert fw.summary() == (
        "2 of 3 enabled camera(s) forwarded, 2 while an uplink was registered; key-area cameras: 1 of 1 forwarded"
    )
    warned = [f for f in report.findings if f.subject.startswith("uplink ")]
    assert [(f.severity, f.subject) for f in warned] == [("warn", "uplink province")]
    assert fw.definition in report.notes

    data = report.to_dict()
    assert data["forwarding"]["uplinks"][0] == {
        "id": "city",
        "cameras": ["gate-1", "store-1"],
        "registered_s": 550.0,
        "registered_percent": 55.0,
    }
    assert data["cameras"][1]["forwarding"]["forwarded"] is False
    assert data["cameras"][2]["forwarding"]["registered_percent"] == 75.0


def test_forwarding_percent_is_of_the_elapsed_period(db: Database) -> None:
    run = add_run(db, T0, T0 + 500, None)
    add_states(db, run, "gate-1", [(T0, "online", None, None)])
    ledger = ForwardLedger(db)
    ledger.link_registered("city", T0 + 100)
    reader = HistoryReader(db, current_run_id=run)
    # A day still running at T0 + 500: registered 400 of the 500 s elapsed, not of the whole day.
    report = build_report(
        site(uplinks=[uplink("city", 5060)]), reader, ReportPeriod(T0, T0 + 86400, "day", T0 + 500), ledger=ledger
    )
    gate1 = report.cameras[0].forwarding
    assert gate1 is not None and (gate1.registered_s, gate1.registered_percent) == (400.0, 80.0)


def test_without_the_ledger_forwarding_is_configured_but_unknown(db: Database) -> None:
    history(db)
    report = build_report(forwarding_site(), HistoryReader(db), ReportPeriod(T0, T0 + 1000, "custom", T0 + 2000))
    fw = report.forwarding
    assert fw is not None and not fw.history and fw.forwarded == 2
    gate1 = report.cameras[0].forwarding
    assert gate1 is not None and gate1.forwarded and gate1.registered_s is None and gate1.registered_percent is None
    assert not any(f.subject.startswith("uplink ") for f in report.findings)
    assert any("forwarding history was not available" in n for n in report.notes)


def test_site_without_uplinks_has_no_forwarding_column(db: Database) -> None:
    history(db)
    ledger = ForwardLedger(db)
    report = build_report(site(), HistoryReader(db), ReportPeriod(T0, T0 + 1000, "custom", T0 + 2000), ledger=ledger)
    assert report.forwarding is None
    assert all(c.forwarding is None for c in report.cameras)
    data = report.to_dict()
    assert data["forwarding"] is None and data["cameras"][0]["forwarding"] is None


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
    # Which mistake is named is the point here: read in English, the messages' source text.
    with i18n.using("en"), pytest.raises(InvalidRequestError, match=message):
        report_period(**full, tz=TZ, now=NOW)


def test_a_bad_period_is_refused_in_chinese_by_default() -> None:
    with pytest.raises(InvalidRequestError, match="该时段尚未开始"):
        report_period(kind="day", day="2027-01-01", start=None, end=None, tz=TZ, now=NOW)
    with pytest.raises(InvalidRequestError, match="'period' 只能是 day, week, month 之一"):
        report_period(kind="year", day=None, start=None, end=None, tz=TZ, now=NOW)
