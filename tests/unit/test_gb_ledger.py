from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import inspect, select

from gateway.gb28181.ledger import ForwardLedger, merge_spans, previous_run_end
from gateway.storage import schema
from gateway.storage.db import Database

T0 = 1_763_600_000.0


@pytest.fixture
def db(storage_url: str) -> Iterator[Database]:
    with Database(storage_url) as database:
        yield database


@pytest.fixture
def ledger(db: Database) -> ForwardLedger:
    return ForwardLedger(db)


def intervals(db: Database) -> list[tuple[str, float, float | None, str | None]]:
    t = schema.uplink_intervals
    with db.engine.connect() as conn:
        rows = conn.execute(select(t.c.uplink_id, t.c.started_at, t.c.ended_at, t.c.end_reason).order_by(t.c.id))
        return [(r[0], r[1], r[2], r[3]) for r in rows]


def test_migration_creates_the_tables_with_their_indexes(db: Database) -> None:
    insp = inspect(db.engine)
    assert {i["name"]: i["column_names"] for i in insp.get_indexes("uplink_intervals")} == {
        "ix_uplink_intervals_uplink_start": ["uplink_id", "started_at"]
    }
    assert {i["name"]: i["column_names"] for i in insp.get_indexes("uplink_sessions")} == {
        "ix_uplink_sessions_camera_start": ["camera_id", "started_at"]
    }


def test_registration_intervals_open_once_and_close_once(db: Database, ledger: ForwardLedger) -> None:
    ledger.link_unregistered("city", T0, "no interval open: nothing to close")
    ledger.link_registered("city", T0 + 10)
    ledger.link_registered("city", T0 + 3600)  # a refresh of the held registration
    ledger.link_registered("district", T0 + 20)
    ledger.link_unregistered("city", T0 + 100, "keepalive timeout")
    ledger.link_unregistered("city", T0 + 200, "again")
    ledger.link_registered("city", T0 + 300)
    assert intervals(db) == [
        ("city", T0 + 10, T0 + 100, "keepalive timeout"),
        ("district", T0 + 20, None, None),
        ("city", T0 + 300, None, None),
    ]


def test_registered_seconds_clip_to_the_period_and_open_rows_to_now(ledger: ForwardLedger) -> None:
    ledger.link_registered("city", T0 - 500)
    ledger.link_unregistered("city", T0 + 100, "refused")  # 100 s inside [T0, T0 + 1000)
    ledger.link_registered("city", T0 + 400)
    ledger.link_unregistered("city", T0 + 600, "stop")  # 200 s
    ledger.link_registered("city", T0 + 900)  # open: counts to min(end, now)
    ledger.link_registered("district", T0 + 2000)  # after the period
    ledger.link_registered("old", T0 - 900)
    ledger.link_unregistered("old", T0 - 800, "before the period")

    assert ledger.uplink_registered_seconds(T0, T0 + 1000, now=T0 + 5000) == {"city": 400.0}
    assert ledger.uplink_registered_seconds(T0, T0 + 1000, now=T0 + 950) == {"city": 350.0}
    assert ledger.uplink_intervals(T0, T0 + 1000, now=T0 + 950) == {
        "city": [(T0, T0 + 100), (T0 + 400, T0 + 600), (T0 + 900, T0 + 950)]
    }
    assert ledger.uplink_intervals(T0, T0 + 1000, now=T0 + 5000, uplink_ids=["district"]) == {}
    assert ledger.uplink_registered_seconds(T0 + 1500, T0 + 2500, now=T0 + 2100) == {"city": 600.0, "district": 100.0}


def test_sessions_are_summed_per_camera_within_the_period(ledger: ForwardLedger) -> None:
    a = ledger.session_started("city", "gate-1", "34020000001320000001", "call-a", "udp", T0 - 50)
    ledger.session_ended(a, T0 + 50, 1_000, "bye")  # 50 s in the period
    b = ledger.session_started("district", "gate-1", "34020000001320000001", "call-b", "tcp-passive", T0 + 200)
    ledger.session_ended(b, T0 + 260, 2_000, "bye")
    ledger.session_ended(b, T0 + 900, 9_999, "late teardown keeps the first end")
    ledger.session_started("city", "store-1", "34020000001320000002", "call-c", "udp", T0 + 800)  # open
    d = ledger.session_started("city", "gate-2", "34020000001320000003", "call-d", "udp", T0 - 500)
    ledger.session_ended(d, T0 - 100, 5_000, "before the period")

    found = ledger.camera_sessions(T0, T0 + 1000, now=T0 + 900)
    assert set(found) == {"gate-1", "store-1"}
    gate = found["gate-1"]
    assert (gate.count, gate.seconds, gate.bytes_sent, gate.uplinks) == (2, 110.0, 3_000, {"city", "district"})
    store = found["store-1"]
    assert (store.count, store.seconds, store.bytes_sent, store.uplinks) == (1, 100.0, 0, {"city"})


def test_session_end_before_start_is_clamped_and_long_call_ids_fit(db: Database, ledger: ForwardLedger) -> None:
    sid = ledger.session_started("city", "gate-1", "34020000001320000001", "x" * 1000, "udp", T0)
    ledger.session_ended(sid, T0 - 30, 0, "clock stepped back")
    t = schema.uplink_sessions
    with db.engine.connect() as conn:
        row = conn.execute(select(t.c.call_id, t.c.ended_at).where(t.c.id == sid)).one()
    assert len(row.call_id) == 255 and row.ended_at == T0


def test_close_open_closes_everything_open_never_before_its_start(db: Database, ledger: ForwardLedger) -> None:
    ledger.link_registered("city", T0)
    ledger.link_registered("district", T0 + 500)  # opened after the crash bound: closes at its start
    ledger.link_registered("done", T0)
    ledger.link_unregistered("done", T0 + 10, "stop")
    sid = ledger.session_started("city", "gate-1", "34020000001320000001", "c", "udp", T0 + 100)

    assert ledger.close_open(T0 + 300, "gateway crashed") == 3
    assert intervals(db) == [
        ("city", T0, T0 + 300, "gateway crashed"),
        ("district", T0 + 500, T0 + 500, "gateway crashed"),
        ("done", T0, T0 + 10, "stop"),
    ]
    t = schema.uplink_sessions
    with db.engine.connect() as conn:
        row = conn.execute(select(t.c.ended_at, t.c.end_reason).where(t.c.id == sid)).one()
    assert (row.ended_at, row.end_reason) == (T0 + 300, "gateway crashed")
    assert ledger.close_open(T0 + 400, "nothing left") == 0
    # Closed rows no longer grow with "now".
    assert ledger.uplink_registered_seconds(T0, T0 + 10_000, now=T0 + 10_000) == {"city": 300.0, "done": 10.0}


def test_prune_deletes_only_closed_rows_that_ended_before_the_cutoff(db: Database, ledger: ForwardLedger) -> None:
    for i in range(1200):  # more than one batch
        ledger.link_registered("city", T0 + i * 10)
        ledger.link_unregistered("city", T0 + i * 10 + 5, "flap")
    ledger.link_registered("city", T0 - 10_000)  # open and old: still evidence, kept
    old = ledger.session_started("city", "gate-1", "34020000001320000001", "c1", "udp", T0)
    ledger.session_ended(old, T0 + 1, 10, "bye")
    ledger.session_started("city", "gate-1", "34020000001320000001", "c2", "udp", T0)  # open

    cutoff = T0 + 6000  # intervals 0..599 ended before it
    assert ledger.prune(cutoff) == 600 + 1
    left = intervals(db)
    assert len(left) == 601
    assert min(row[1] for row in left if row[2] is not None) == T0 + 6000
    assert ("city", T0 - 10_000, None, None) in left
    assert ledger.camera_sessions(T0, T0 + 10, now=T0 + 10)["gate-1"].count == 1
    assert ledger.prune(cutoff) == 0


def test_previous_run_end_is_the_clean_stop_or_the_last_heartbeat(db: Database) -> None:
    assert previous_run_end(db, None) is None

    def add_run(start: float, heartbeat: float, stopped: float | None) -> int:
        with db.engine.begin() as conn:
            key = conn.execute(
                schema.gateway_runs.insert().values(
                    instance="t", started_at=start, heartbeat_at=heartbeat, stopped_at=stopped
                )
            ).inserted_primary_key
        assert key is not None
        return int(key[0])

    add_run(T0, T0 + 50, T0 + 60)
    crashed = add_run(T0 + 100, T0 + 170, None)
    current = add_run(T0 + 300, T0 + 300, None)
    assert previous_run_end(db, current) == T0 + 170
    assert previous_run_end(db, crashed) == T0 + 60


def test_merge_spans() -> None:
    assert merge_spans([(5, 6), (1, 3), (2, 4), (4, 4.5), (7, 7)]) == [(1, 4.5), (5, 6)]
