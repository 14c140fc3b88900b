from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.health.history import HistoryWriter, prune
from gateway.health.state import CameraState, CameraStatus
from gateway.health.uptime import HistoryReader, Interval, outages
from gateway.storage import schema
from gateway.storage.db import Database

T0 = 1_700_000_000.0


@pytest.fixture
def db(storage_url: str) -> Iterator[Database]:
    with Database(storage_url) as database:
        yield database


def add_run(db: Database, start: float, heartbeat: float, stopped: float | None) -> int:
    with db.engine.begin() as conn:
        key = conn.execute(
            schema.gateway_runs.insert().values(
                instance="t", started_at=start, heartbeat_at=heartbeat, stopped_at=stopped
            )
        ).inserted_primary_key
    assert key is not None
    return int(key[0])


def add_states(db: Database, run_id: int, camera: str, changes: list[tuple[float, str, str | None]]) -> None:
    rows = [{"run_id": run_id, "camera_id": camera, "ts": ts, "state": st, "reason": r} for ts, st, r in changes]
    with db.engine.begin() as conn:
        conn.execute(schema.camera_state_changes.insert(), rows)


def test_uptime_across_a_gateway_crash_and_restart(db: Database) -> None:
    # Run 1: clean camera for 100 s, offline 50 s, online again; the gateway crashes at +300
    # (last heartbeat +295). Run 2 starts at +400 and is still running ("now" = +1000).
    r1 = add_run(db, T0, T0 + 295, None)
    add_states(
        db,
        r1,
        "cam",
        [
            (T0, "connecting", None),
            (T0 + 1, "online", None),
            (T0 + 101, "offline", "stream ended"),
            (T0 + 110, "offline", "refused"),
            (T0 + 151, "online", None),
        ],
    )
    r2 = add_run(db, T0 + 400, T0 + 400, None)
    add_states(
        db, r2, "cam", [(T0 + 400, "connecting", None), (T0 + 402, "degraded", "704x576 is below HD (1280x720)")]
    )
    reader = HistoryReader(db, current_run_id=r2)
    now = T0 + 1000
    summary = reader.uptime("cam", T0, now, now)
    assert summary.seconds["online"] == pytest.approx(100 + 144)  # +1..+101 and +151..+295
    assert summary.seconds["offline"] == pytest.approx(50)
    assert summary.seconds["degraded"] == pytest.approx(598)
    # connecting (1 s + 2 s) and the crash gap from the last heartbeat to the restart (105 s)
    assert summary.seconds["unknown"] == pytest.approx(3 + 105)
    assert summary.uptime_percent == pytest.approx(100 * (244 + 598) / (244 + 598 + 50), abs=1e-3)
    [outage] = summary.outages
    assert (outage.start, outage.end, outage.reasons) == (T0 + 101, T0 + 151, ("stream ended", "refused"))
    assert not outage.ongoing
    down = reader.gateway_down(T0, now, now)
    assert [(i.start, i.end) for i in down] == [(T0 + 295, T0 + 400)]


def test_window_inside_a_long_state_and_unknown_camera(db: Database) -> None:
    run = add_run(db, T0, T0 + 10_000, T0 + 10_000)
    add_states(db, run, "cam", [(T0, "connecting", None), (T0 + 1, "offline", "refused")])
    reader = HistoryReader(db)
    summary = reader.uptime("cam", T0 + 5000, T0 + 6000, T0 + 20_000)
    assert summary.seconds == {"offline": 1000.0}
    assert summary.uptime_percent == 0.0
    assert summary.outages[0].start == T0 + 5000 and not summary.outages[0].ongoing
    # After the clean stop the gateway was not running: unknown, not downtime.
    later = reader.uptime("cam", T0 + 10_000, T0 + 11_000, T0 + 20_000)
    assert later.seconds == {"unknown": 1000.0} and later.uptime_percent is None
    assert reader.uptime("other", T0, T0 + 100, T0 + 20_000).seconds == {"unknown": 100.0}


def test_ongoing_outage() -> None:
    timeline = [Interval(0, 10, "online"), Interval(10, 50, "offline", "stalled")]
    [o] = outages(timeline, now=50)
    assert o.ongoing and o.duration == 40 and o.reasons == ("stalled",)


def test_history_writer_records_run_states_samples_and_clean_stop(db: Database) -> None:
    writer = HistoryWriter(db, instance="test")
    run_id = writer.start()
    writer.record_state(CameraStatus("cam", CameraState.ONLINE, None, T0))
    writer.record_samples([CameraStatus("cam", CameraState.ONLINE, None, T0)], at=T0 + 60)
    writer.heartbeat()
    writer.close()
    with db.engine.connect() as conn:
        run = conn.execute(schema.gateway_runs.select()).one()
        states = conn.execute(schema.camera_state_changes.select()).all()
        samples = conn.execute(schema.camera_samples.select()).all()
    assert run.id == run_id and run.stopped_at is not None and run.heartbeat_at == run.stopped_at
    assert [(s.camera_id, s.state, s.run_id) for s in states] == [("cam", "online", run_id)]
    assert [(s.ts, s.state) for s in samples] == [(T0 + 60, "online")]


def test_history_writer_keeps_rows_while_the_database_fails(db: Database) -> None:
    writer = HistoryWriter(db, instance="test")
    writer.start()
    # Make writes fail, as a full disk would, by locking the table with a rename.
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE camera_state_changes RENAME TO csc_away")
    for i in range(5):
        writer.record_state(CameraStatus("cam", CameraState.OFFLINE, "refused", T0 + i))
    deadline = time.monotonic() + 5
    while writer.failed_writes == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.failed_writes > 0
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE csc_away RENAME TO camera_state_changes")
    writer.close(timeout_s=15)
    with db.engine.connect() as conn:
        rows = conn.execute(schema.camera_state_changes.select()).all()
    assert [r.ts for r in rows] == [T0 + i for i in range(5)]


def test_prune_drops_old_samples_only(db: Database) -> None:
    run = add_run(db, T0, T0, None)
    add_states(db, run, "cam", [(T0, "online", None)])
    rows = [{"run_id": run, "camera_id": "cam", "ts": T0 + d * 86400, "state": "online"} for d in range(10)]
    with db.engine.begin() as conn:
        conn.execute(schema.camera_samples.insert(), rows)
    assert prune(db, T0 + 5 * 86400) == 5
    with db.engine.connect() as conn:
        assert len(conn.execute(schema.camera_samples.select()).all()) == 5
        assert len(conn.execute(schema.camera_state_changes.select()).all()) == 1


def test_history_writer_records_quality_verdicts(db: Database) -> None:
    from gateway.quality.frames import CheckResult

    writer = HistoryWriter(db, instance="test")
    writer.start()
    writer.record_quality(
        "cam", T0, (CheckResult("frozen", 0.0, "fail", "no change"), CheckResult("dark", 90.0, "pass", ""))
    )
    writer.close()
    with db.engine.connect() as conn:
        rows = conn.execute(schema.camera_quality.select()).all()
    assert [(r.check, r.state, r.ts) for r in rows] == [("frozen", "fail", T0), ("dark", "pass", T0)]


def test_a_row_the_database_refuses_does_not_block_the_rest(db: Database) -> None:
    from gateway.quality.frames import CheckResult

    writer = HistoryWriter(db, instance="test")
    writer.start()
    writer.record_state(CameraStatus("cam", CameraState.ONLINE, None, T0))
    # A bad row, as a bug would make one: no state at all.
    writer._queue.put(("state", {"run_id": writer.run_id, "camera_id": "cam", "ts": T0 + 1, "state": None}))
    writer.record_quality("cam", T0 + 2, (CheckResult("frozen", float("nan"), "not_checkable", "window filling"),))
    writer.record_state(CameraStatus("cam", CameraState.OFFLINE, "refused", T0 + 3))
    writer.close()
    with db.engine.connect() as conn:
        states = conn.execute(schema.camera_state_changes.select()).all()
        quality = conn.execute(schema.camera_quality.select()).one()
        run = conn.execute(schema.gateway_runs.select()).one()
    assert [s.state for s in states] == ["online", "offline"]
    assert quality.score is None and quality.state == "not_checkable"
    assert writer.rejected_rows == 1 and run.stopped_at is not None


def test_the_history_writer_thread_outlives_a_bug_and_writes_each_row_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = HistoryWriter(db, instance="test")
    writer.start()
    real = writer._write
    calls: list[int] = []

    def buggy(conn: Any, pending: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in the writer")
        real(conn, pending)

    monkeypatch.setattr(writer, "_write", buggy)
    writer.record_state(CameraStatus("cam", CameraState.ONLINE, None, T0))
    deadline = time.monotonic() + 5
    while writer.failed_writes == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer.failed_writes == 1  # said and counted (the metric), not a dead thread
    writer.record_state(CameraStatus("cam", CameraState.OFFLINE, "refused", T0 + 1))
    writer.close(timeout_s=15)
    with db.engine.connect() as conn:
        states = conn.execute(schema.camera_state_changes.select()).all()
    assert [(s.ts, s.state) for s in states] == [(T0, "online"), (T0 + 1, "offline")]
    assert writer.failed_writes == 0
