"""Daily roll-ups (gateway/health/rollup.py): a report read from them equals the report read from the raw
history, on random histories and on both backends, and they follow late writes and pruning."""

from __future__ import annotations

import random
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from gateway.config import GatewayConfig
from gateway.health.history import HistoryWriter, prune
from gateway.health.rollup import rollup, whole_days
from gateway.health.state import CameraState, CameraStatus
from gateway.health.uptime import HistoryReader
from gateway.reports.coverage import ReportPeriod, build_report
from gateway.reports.model import Report
from gateway.storage import schema
from gateway.storage.db import Database

DAY = 86_400.0
CAMERAS = ("a", "b", "c", "d", "e")
STATES = (
    ("online", None, None),
    ("online", None, None),
    ("offline", "connection refused", None),
    ("offline", "the stream ended", None),
    ("degraded", "picture frozen", ["quality:frozen"]),
    ("degraded", "704x576 is below HD", ["below_hd"]),
    ("degraded", "704x576 is below HD, frame rate below 15", ["below_hd", "low_fps"]),
    ("degraded", "frame rate below 15 fps", None),  # stored before faults had a column
    ("disabled", "disabled in the config", None),
    ("connecting", None, None),
)


def site(tz: str) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "site": {"id": "s", "name": "S", "timezone": tz, "unit": {"name": "U", "headcount": 10}},
            "zones": [{"id": "z1", "name": "Z1", "kind": "entrance"}, {"id": "z2", "name": "Z2", "kind": "key_area"}],
            "cameras": [
                {"id": cid, "name": cid, "source": {"rtsp": f"rtsp://cam.example/{cid}"}, "zones": [zone]}
                for cid, zone in zip(CAMERAS, ("z1", "z1", "z2", "z2", "z2"), strict=True)
            ],
        }
    )


def random_history(db: Database, rng: random.Random, tz: ZoneInfo, first_day: float, days: int, now: float) -> None:
    """Runs with clean stops, crashes and gaps (the last one still running at ``now``), state changes
    at random times and some on the very midnights, and stream samples."""
    runs, states, samples = [], [], []
    t, run_id, end = first_day - rng.uniform(0, DAY), 0, first_day + days * DAY
    while t < end:
        run_id += 1
        length = rng.uniform(0.3, 3.0) * DAY
        stop = min(t + length, now - 30)
        last = stop >= now - 30 or t + length >= end
        crashed = not last and rng.random() < 0.3
        beat = stop - rng.uniform(0, 60) if crashed else stop
        runs.append({"id": run_id, "instance": "gw", "started_at": t, "heartbeat_at": now - 20 if last else beat,
                     "stopped_at": None if last or crashed else stop})  # fmt: skip
        for cid in CAMERAS:
            ts = t + rng.uniform(0, 5)
            while ts < (now if last else stop):
                state, reason, faults = rng.choice(STATES)
                states.append({"run_id": run_id, "camera_id": cid, "ts": ts, "state": state, "reason": reason,
                               "faults": faults})  # fmt: skip
                midnight = datetime.fromtimestamp(ts, tz).replace(hour=0, minute=0, second=0, microsecond=0)
                ts = rng.choice([ts + rng.expovariate(1 / 20_000), midnight.timestamp() + DAY])
            s = t
            while s < stop:
                width, fps = rng.choice([1920, 704, None]), rng.choice([25.0, 8.0])
                samples.append({"run_id": run_id, "camera_id": cid, "ts": s, "state": "online", "codec": "h264",
                                "width": width, "height": 1080, "fps": fps})  # fmt: skip
                s += rng.uniform(3600, 30_000)
        if last:
            break
        t = stop + rng.choice([5.0, 1200.0, rng.uniform(0, DAY)])
    with db.engine.begin() as conn:
        conn.execute(schema.gateway_runs.insert(), runs)
        conn.execute(schema.camera_state_changes.insert(), states)
        conn.execute(schema.camera_samples.insert(), samples)


def comparable(report: Report) -> dict[str, Any]:
    """The report as JSON data, with the seconds it sums rounded to the second (a sum over days may
    differ from one over the whole period in the last bits of a float)."""

    def rounded(value: Any) -> Any:
        if isinstance(value, float):
            return round(value)
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items() if k != "generated_at"}
        if isinstance(value, list):
            return [rounded(v) for v in value]
        return value

    timelines = [[[s.start, s.end, s.state, s.detail] for s in c.timeline] for c in report.cameras]
    return {**rounded(report.to_dict()), "timelines": rounded(timelines)}


def stored_days(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.camera_days)).scalar_one())


@pytest.mark.parametrize("seed", range(4))
def test_a_report_from_rollups_equals_the_report_from_raw_history(storage_url: str, seed: int) -> None:
    rng = random.Random(seed)
    name = ("Asia/Shanghai", "America/New_York")[seed % 2]  # New York: the period crosses the end of DST
    config, tz = site(name), ZoneInfo(name)
    first_day = datetime(2025, 10, 27, tzinfo=tz).timestamp()
    now = first_day + 12 * DAY + rng.uniform(0, DAY)
    start = first_day + rng.uniform(0, DAY)  # partial days at both edges
    end = rng.choice([now, now - rng.uniform(0, 2 * DAY), first_day + 10 * DAY])
    period = ReportPeriod(start, end, "custom", now)
    with Database(storage_url) as db:
        random_history(db, rng, tz, first_day, 13, now)
        reader = HistoryReader(db)
        direct = comparable(build_report(config, reader, period, rollups=False, drawn=False))
        computed = build_report(config, reader, period, drawn=False)  # computes the days and stores them
        assert stored_days(db) > 0
        stored = build_report(config, reader, period, drawn=False)  # reads them
        drawn = build_report(config, reader, period)
    assert comparable(computed) == direct
    assert comparable(stored) == direct
    assert all(c.timeline == () for c in stored.cameras)
    assert {**comparable(drawn), "timelines": direct["timelines"]} == direct  # the same figures, and bars
    assert all(c.timeline for c in drawn.cameras)
    assert direct["cameras"][0]["outages"] or direct["cameras"][1]["outages"]  # the history has something to show


def test_days_stored_under_another_time_zone_are_not_read_as_this_ones(storage_url: str) -> None:
    """A site whose time zone changed has days cut at other midnights in the table: they are passed
    over, this zone's days computed and stored beside them, and the report is the raw history's."""
    rng = random.Random(7)
    first_day = datetime(2025, 10, 27, tzinfo=ZoneInfo("UTC")).timestamp()
    now = first_day + 6 * DAY + 3600
    period = ReportPeriod(first_day + 3600, now, "custom", now)
    with Database(storage_url) as db:
        random_history(db, rng, ZoneInfo("UTC"), first_day, 6, now)
        reader = HistoryReader(db)
        build_report(site("Asia/Shanghai"), reader, period, drawn=False)  # stores Shanghai's days
        config = site("America/New_York")
        direct = comparable(build_report(config, reader, period, rollups=False, drawn=False))
        computed = build_report(config, reader, period, drawn=False)
        stored = build_report(config, reader, period, drawn=False)  # both zones' days in the table
    assert comparable(computed) == direct
    assert comparable(stored) == direct


def test_days_are_local_and_whole_and_dst_days_have_their_length() -> None:
    tz = ZoneInfo("America/New_York")
    start = datetime(2025, 11, 1, 12, tzinfo=tz).timestamp()
    end = datetime(2025, 11, 4, 6, tzinfo=tz).timestamp()
    days = whole_days(start, end, tz)
    assert [d.day for d in days] == ["2025-11-02", "2025-11-03"]
    assert [d.end - d.start for d in days] == [25 * 3600.0, DAY]


def test_a_late_state_change_and_pruning_make_days_computed_again(storage_url: str) -> None:
    config, tz = site("Asia/Shanghai"), ZoneInfo("Asia/Shanghai")
    now = time.time()
    start = datetime.fromtimestamp(now - 5 * DAY, tz).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    days = len(whole_days(start, now, tz))
    period = ReportPeriod(start, now, "custom", now)
    with Database(storage_url) as db:
        writer = HistoryWriter(db, instance="gw")
        writer.start()
        try:
            with db.engine.begin() as conn:  # a run watching since the period began
                conn.execute(schema.gateway_runs.update().values(started_at=start))
            for cid in CAMERAS:
                writer.record_state(CameraStatus(cid, CameraState.ONLINE, None, start + 60))
            writer.heartbeat()
            _wait_for_state_changes(db, len(CAMERAS), heartbeat_after=now)
            reader = HistoryReader(db, current_run_id=writer.run_id)
            assert rollup(reader, list(CAMERAS), start, now, tz, now) == days * len(CAMERAS)
            assert rollup(reader, list(CAMERAS), start, now, tz, now) == 0  # stored
            assert build_report(config, reader, period, drawn=False).cameras[0].outages == ()

            # A change written late, into the second day: that day and the later ones of camera a go.
            late = start + DAY + 3600
            writer.record_state(CameraStatus("a", CameraState.OFFLINE, "connection refused", late))
            _wait_for_state_changes(db, len(CAMERAS) + 1)
            assert stored_days(db) == days * len(CAMERAS) - (days - 1)
            after = build_report(config, reader, period, drawn=False)
            assert [(o.start, o.reasons) for o in after.cameras[0].outages] == [(late, ("connection refused",))]
            assert comparable(after) == comparable(build_report(config, reader, period, rollups=False, drawn=False))
            assert stored_days(db) == days * len(CAMERAS)

            prune(db, start + 2 * DAY)
            assert stored_days(db) == (days - 2) * len(CAMERAS)
        finally:
            writer.close()


def _wait_for_state_changes(db: Database, count: int, heartbeat_after: float = 0.0) -> None:
    """Until the writer thread has committed ``count`` state changes (and a heartbeat after the time)."""
    changes, runs = schema.camera_state_changes, schema.gateway_runs
    deadline = time.monotonic() + 10
    while True:
        with db.engine.connect() as conn:
            written = conn.execute(select(func.count()).select_from(changes)).scalar_one()
            beat = conn.execute(select(func.max(runs.c.heartbeat_at))).scalar_one()
        if written >= count and beat > heartbeat_after:
            return
        assert time.monotonic() < deadline, f"{written} of {count} state changes written"
        time.sleep(0.02)


def test_a_day_is_rolled_up_only_once_the_runs_watching_it_have_moved_past_it(storage_url: str) -> None:
    """A run still open whose last heartbeat is before midnight may yet go on (a slow disk, a busy
    box): its day is read from the raw history until a later heartbeat or its end settles it."""
    config, tz = site("Asia/Shanghai"), ZoneInfo("Asia/Shanghai")
    midnight = datetime(2025, 11, 20, tzinfo=tz).timestamp()
    now = midnight + 600
    period = ReportPeriod(midnight - 2 * DAY, now, "custom", now)
    runs = schema.gateway_runs
    with Database(storage_url) as db:
        with db.engine.begin() as conn:
            conn.execute(
                runs.insert().values(id=1, instance="gw", started_at=midnight - 3 * DAY, heartbeat_at=midnight - 300)
            )
            conn.execute(
                schema.camera_state_changes.insert(),
                [{"run_id": 1, "camera_id": cid, "ts": midnight - 3 * DAY + 1, "state": "online"} for cid in CAMERAS],
            )
        reader = HistoryReader(db)
        build_report(config, reader, period, drawn=False)
        assert stored_days(db) == len(CAMERAS)  # the day before, not the last one
        with db.engine.begin() as conn:  # the run went on after all
            conn.execute(runs.update().values(heartbeat_at=now - 5))
        after = comparable(build_report(config, reader, period, drawn=False))
        assert after == comparable(build_report(config, reader, period, rollups=False, drawn=False))
        assert after["cameras"][0]["seconds"]["unknown"] < 10
