"""The outbox against a real SQLite file, with fake destinations (the real ones have their own tests
against real servers)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from gateway.analytics.events import Event, EventBox, EventStore
from gateway.config import GatewayConfig, parse_config
from gateway.errors import ConfigError
from gateway.health.state import CameraState, CameraStatus
from gateway.outbox import service as outbox_module
from gateway.outbox.messages import state_messages
from gateway.outbox.service import DeliveryReport, Outbox, route_of
from gateway.outbox.store import NewMessage, OutboxMessage, OutboxStore, Route
from gateway.storage import schema
from gateway.storage.db import Database
from tests.support.waiting import wait_until_async

T0 = 1_763_600_000.0


def make_config(tmp_path: Path, **outbox: Any) -> GatewayConfig:
    return parse_config(
        {
            "site": {"id": "s1", "name": "Site", "unit": {"name": "Unit", "headcount": 10}},
            "cameras": [
                {"id": "cam1", "name": "Gate", "source": {"rtsp": "rtsp://127.0.0.1:9/a"}},
                {"id": "cam2", "name": "Yard", "source": {"rtsp": "rtsp://127.0.0.1:9/b"}},
            ],
            "storage": {"url": f"sqlite:///{tmp_path}/g.db"},
            "uplinks": {
                "webhooks": [
                    {"id": "hook", "url": "http://127.0.0.1:9/h", "secret": {"env": "X"}, "kinds": ["event", "state"]}
                ],
                "outbox": {"retry_initial_s": 0.05, "retry_max_s": 0.2, **outbox},
            },
        },
        check_secrets=False,
    )


class FakeDestination:
    """Records what it was handed; fails or refuses on demand."""

    type = "fake"

    def __init__(self, dest_id: str = "hook") -> None:
        self.id = dest_id
        self.connected = True
        self.received: list[OutboxMessage] = []
        self.fail_next = 0
        self.refuse: set[str] = set()
        self.batches = 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def deliver(self, messages: Sequence[OutboxMessage]) -> DeliveryReport:
        self.batches += 1
        report = DeliveryReport()
        for m in messages:
            if self.fail_next:
                self.fail_next -= 1
                report.failure = "connection refused"
                return report
            if m.payload.get("name") in self.refuse:
                report.rejected.append((m.id, "400 bad request"))
                continue
            self.received.append(m)
            report.delivered.append(m.id)
        return report


@pytest.fixture
def db(storage_url: str) -> Iterator[Database]:
    with Database(storage_url) as database:
        yield database


def msg(name: str, camera: str = "cam1", kind: str = "state", **kw: Any) -> NewMessage:
    return NewMessage(kind=kind, camera_id=camera, payload={"name": name}, **kw)


def make_outbox(config: GatewayConfig, db: Database, dest: FakeDestination) -> Outbox:
    routes = [route_of(d) for d in config.uplinks.destinations()]
    return Outbox(config, OutboxStore(db, "s1"), [dest], routes)


def test_routes_filter_by_kind_camera_and_rule() -> None:
    route = Route("d", frozenset({"event", "state"}), frozenset({"cam1"}), frozenset({"intrusion"}))
    assert route.wants(msg("a"))
    assert not route.wants(msg("a", camera="cam2"))
    assert not route.wants(msg("a", kind="health"))
    assert route.wants(msg("a", kind="event", event_kind="intrusion"))
    assert not route.wants(msg("a", kind="event", event_kind="loitering"))


def test_messages_are_stored_before_delivery_and_only_for_their_takers(db: Database) -> None:
    store = OutboxStore(db, "s1")
    routes = [Route("a", frozenset({"state"})), Route("b", frozenset({"state"}), frozenset({"cam2"}))]
    assert store.write([msg("one"), msg("two", camera="cam2"), msg("h", kind="health")], routes) == 2
    assert store.backlog()["a"][0] == 2
    assert store.backlog()["b"][0] == 1
    assert [m.payload["name"] for m in store.next_batch("a", 10)] == ["one", "two"]
    ids = [m.msg_id for m in store.next_batch("a", 10)]
    assert len(set(ids)) == 2 and all(i.startswith("s1:state:") for i in ids)
    # Delivered everywhere: the message row goes at the next retention pass, no loss counted.
    one = store.next_batch("a", 10)[0].id
    store.settle("a", delivered=[one])
    assert store.enforce_retention(1000, 86400) == {}
    assert store.message_count() == 1
    assert store.counters()["a"].delivered == 1


async def test_delivery_in_order_with_retry_backoff_and_rejections(tmp_path: Path, db: Database) -> None:
    config = make_config(tmp_path)
    dest = FakeDestination()
    dest.fail_next = 2
    dest.refuse = {"bad"}
    outbox = make_outbox(config, db, dest)
    await outbox.start()
    try:
        outbox.publish([msg(f"m{i}", camera=f"cam{1 + i % 2}") for i in range(5)])
        outbox.publish([msg("bad"), msg("m5")])
        await wait_until_async("len(dest.received) == 6", lambda: len(dest.received) == 6, 5.0)
        assert [m.payload["name"] for m in dest.received] == ["m0", "m1", "m2", "m3", "m4", "m5"]
        # Received comes before the round is recorded: wait for the record.
        for _ in range(100):
            await outbox.refresh_status()
            if outbox.status()["destinations"][0]["backlog"] == 0:
                break
            await asyncio.sleep(0.02)
        status = outbox.status()["destinations"][0]
        assert status["backlog"] == 0
        assert status["delivered"] == 6 and status["rejected"] == 1
        assert status["last_error"] == "connection refused"
        assert dest.batches >= 3  # two failed rounds, then the rest
    finally:
        await outbox.stop()


async def test_the_failing_message_keeps_its_place_and_counts_attempts(tmp_path: Path, db: Database) -> None:
    config = make_config(tmp_path, retry_initial_s=5, retry_max_s=5)
    dest = FakeDestination()
    dest.fail_next = 1
    outbox = make_outbox(config, db, dest)
    await outbox.start()
    try:
        outbox.publish([msg("a"), msg("b")])
        await wait_until_async("the destination retrying", lambda: outbox.status()["destinations"][0]["retrying"], 5.0)
        head = OutboxStore(db, "s1").next_batch("hook", 10)
        assert [(m.payload["name"], m.attempts) for m in head] == [("a", 1), ("b", 0)]
        assert outbox.status()["destinations"][0]["next_attempt_at"] is not None
        # Reconnecting cuts the backoff short.
        dest.connected = False
        await asyncio.sleep(0.6)
        dest.connected = True
        await wait_until_async("len(dest.received) == 2", lambda: len(dest.received) == 2, 3)
    finally:
        await outbox.stop()


async def test_stale_health_expires_instead_of_queueing(tmp_path: Path, db: Database) -> None:
    config = make_config(tmp_path)
    dest = FakeDestination()
    store = OutboxStore(db, "s1")
    store.write([msg("old", kind="state", expires_at=T0), msg("fresh")], [Route("hook", frozenset({"state"}))])
    outbox = Outbox(config, store, [dest], [Route("hook", frozenset({"state"}))])
    await outbox.start()
    try:
        await wait_until_async("len(dest.received) == 1", lambda: len(dest.received) == 1, 5.0)
        assert dest.received[0].payload["name"] == "fresh"
        await wait_until_async(
            "one expired message counted",
            lambda: store.counters().get("hook") is not None and store.counters()["hook"].expired == 1,
            5.0,
        )
    finally:
        await outbox.stop()


def test_retention_drops_the_oldest_and_counts_the_loss(db: Database) -> None:
    store = OutboxStore(db, "s1")
    routes = [Route("a", frozenset({"state"})), Route("b", frozenset({"state"}))]
    store.write([msg(f"m{i}", created_at=T0 + i) for i in range(10)], routes)
    first = store.next_batch("b", 3)
    store.settle("b", delivered=[m.id for m in first])
    lost = store.enforce_retention(max_messages=4, max_age_s=10 * 365 * 86400)
    # Six messages go; "b" had already got three of them.
    assert lost == {"a": 6, "b": 3}
    assert [m.payload["name"] for m in store.next_batch("a", 10)] == ["m6", "m7", "m8", "m9"]
    counters = store.counters()
    assert counters["a"].dropped == 6 and counters["b"].dropped == 3 and counters["b"].delivered == 3
    assert counters["a"].last_dropped_at is not None
    # Age bound: m6 and m7 are older than 1 s at T0 + 8.5.
    lost = store.enforce_retention(max_messages=100, max_age_s=1.0, now=T0 + 8.5)
    assert lost == {"a": 2, "b": 2}
    assert [m.payload["name"] for m in store.next_batch("a", 10)] == ["m8", "m9"]


async def test_a_loss_is_logged_as_an_error(tmp_path: Path, db: Database, caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(tmp_path, max_messages=100)
    dest = FakeDestination()
    dest.connected = False
    dest.fail_next = 10_000
    store = OutboxStore(db, "s1")
    store.write([msg(f"m{i}") for i in range(130)], [Route("hook", frozenset({"state"}))])
    outbox = Outbox(config, store, [dest], [Route("hook", frozenset({"state"}))])
    with caplog.at_level(logging.ERROR):
        await outbox.start()
        await wait_until_async("counters of the hook", lambda: store.counters().get("hook") is not None, 5.0)
        await outbox.refresh_status()
        await outbox.stop()
    assert "LOST 30 undelivered message(s) for hook" in caplog.text
    status = outbox.status()["destinations"][0]
    assert status["dropped"] == 30 and status["backlog"] == 100


async def test_disk_full_holds_messages_in_memory_then_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # SQLite's page limit gives the same SQLITE_FULL error a full disk gives.
    monkeypatch.setattr(outbox_module, "STORAGE_RETRY_S", 0.05)
    database = Database(f"sqlite:///{tmp_path}/full.db").open()
    limit = {"pages": 0}

    @event.listens_for(database.engine, "connect")
    def _cap(dbapi_conn: sqlite3.Connection, _rec: Any) -> None:
        if limit["pages"]:
            dbapi_conn.execute(f"PRAGMA max_page_count={limit['pages']}")

    config = make_config(tmp_path, memory_buffer=50)
    dest = FakeDestination()
    outbox = make_outbox(config, database, dest)
    await outbox.start()
    try:
        outbox.publish([msg("before")])
        await wait_until_async("len(dest.received) == 1", lambda: len(dest.received) == 1, 5.0)
        database.engine.dispose()
        with database.engine.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
        limit["pages"] = int(pages or 0)
        database.engine.dispose()
        big = "x" * 20_000
        outbox.publish([NewMessage("state", "cam1", {"name": f"full{i}", "pad": big}) for i in range(60)])
        await wait_until_async("storage failed", lambda: outbox.status()["storage"] == "failed", 5.0)
        status = outbox.status()
        assert status["storage_error"] == "disk full"
        assert status["waiting_in_memory"] == 50 and status["dropped_in_memory"] == 10
        limit["pages"] = 0
        database.engine.dispose()
        await wait_until_async("len(dest.received) == 51", lambda: len(dest.received) == 51, 10)
        assert outbox.status()["storage"] == "ok"
        assert [m.payload["name"] for m in dest.received[1:]] == [f"full{i}" for i in range(10, 60)]
    finally:
        await outbox.stop()
        database.close()


def _event(camera: str, at: float, kind: str = "intrusion") -> Event:
    return Event(
        id=None,
        camera_id=camera,
        rule_id="r1",
        kind=kind,
        zone_id=None,
        at=at,
        track_ids=(1,),
        boxes=(EventBox(1, 2, 30, 60, 0.9, 1),),
        detail={},
        message=f"{kind} at {at}",
        frame_width=640,
        frame_height=480,
    )


async def test_events_follow_the_table_through_restarts(tmp_path: Path, db: Database) -> None:
    config = make_config(tmp_path)
    events = EventStore(db)
    now = time.time()  # recent: older events would fall to the age bound
    events.add(_event("cam1", now))  # before the outbox ever ran: history is not replayed
    dest = FakeDestination()
    outbox = make_outbox(config, db, dest)
    await outbox.start()
    ids = [events.add(_event("cam1", now + i)) for i in range(1, 4)]
    outbox.event_stored(_event("cam1", now))
    await wait_until_async("len(dest.received) == 3", lambda: len(dest.received) == 3, 5.0)
    await outbox.stop()
    # Stored while the outbox was down (a crash between the event and its message): sent after.
    ids.append(events.add(_event("cam2", now + 9, kind="loitering")))
    dest2 = FakeDestination()
    outbox2 = make_outbox(config, db, dest2)
    await outbox2.start()
    try:
        await wait_until_async("len(dest2.received) == 1", lambda: len(dest2.received) == 1, 5.0)
        got = dest.received + dest2.received
        assert [m.payload["event_id"] for m in got] == ids
        assert [m.msg_id for m in got] == [f"s1:event:{i}" for i in ids]
        assert got[-1].payload["kind"] == "loitering" and got[-1].camera_id == "cam2"
        assert got[0].payload["boxes"][0] == {"x1": 1, "y1": 2, "x2": 30, "y2": 60, "score": 0.9, "track": 1}
    finally:
        await outbox2.stop()
    with db.engine.connect() as conn:
        cursor = conn.execute(select(schema.outbox_cursors.c.position)).scalar()
    assert cursor == ids[-1]


def test_state_messages_carry_quality_changes() -> None:
    before = CameraStatus("cam1", CameraState.ONLINE, None, T0, faults=("quality:blur",))
    after = CameraStatus("cam1", CameraState.DEGRADED, "frozen", T0 + 5, faults=("quality:frozen",))
    out = state_messages(after, before)
    assert [m.kind for m in out] == ["state", "quality", "quality"]
    assert out[0].payload["state"] == "degraded" and out[0].payload["previous"] == "online"
    assert out[0].payload["up"] is True
    assert [(m.payload["check"], m.payload["change"]) for m in out[1:]] == [("frozen", "raised"), ("blur", "cleared")]
    assert [m.kind for m in state_messages(after, None)] == ["state"]


def test_uplink_config_errors_name_their_key_paths(tmp_path: Path) -> None:
    data = {
        "site": {"id": "s1", "name": "Site", "unit": {"name": "Unit", "headcount": 10}},
        "cameras": [{"id": "cam1", "name": "Gate", "source": {"rtsp": "rtsp://127.0.0.1:9/a"}}],
        "uplinks": {
            "mqtt": [{"id": "a", "host": "h", "username": "u", "cameras": ["nope"]}],
            "webhooks": [{"id": "a", "url": "http://h/x", "secret": {"env": "GW_TEST_UNSET_SECRET"}}],
            "gat1400": [
                {
                    "id": "v",
                    "url": "http://h",
                    "device_id": "123",
                    "username": "u",
                    "password": {"env": "X"},
                    "event_kinds": ["dancing"],
                }
            ],
        },
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert [i.path for i in caught.value.issues] == ["uplinks.gat1400[0].device_id"]
    data["uplinks"]["gat1400"][0]["device_id"] = "12345678901234567890"  # type: ignore[index]
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert sorted(i.path for i in caught.value.issues) == [
        "uplinks.gat1400[0].event_kinds[0]",
        "uplinks.gat1400[0].password.env",
        "uplinks.mqtt[0].cameras[0]",
        "uplinks.mqtt[0].password",
        "uplinks.webhooks[0].id",
        "uplinks.webhooks[0].secret.env",
    ]


class SwallowingDestination(FakeDestination):
    """Swallows a cancellation once, as Python 3.11's wait_for can when an ack lands at that moment."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()

    async def deliver(self, messages: Sequence[OutboxMessage]) -> DeliveryReport:
        self.entered.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        return DeliveryReport(failure="interrupted")


async def test_stop_returns_even_when_a_destination_swallows_the_cancellation(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_module, "STOP_WAIT_S", 0.3)
    config = make_config(tmp_path)
    dest = SwallowingDestination()
    outbox = make_outbox(config, db, dest)
    await outbox.start()
    outbox.publish([msg("a")])
    await asyncio.wait_for(dest.entered.wait(), 5)
    await asyncio.wait_for(outbox.stop(), 5)
    assert not outbox._tasks


def test_instances_sharing_a_database_keep_to_their_own_cameras_and_messages(db: Database) -> None:
    """Two gateway processes (shards) on one database: each reads its own cameras' events past its
    own cursor, sends and bounds only its own messages, and shares the destination's counters."""
    events = EventStore(db)
    routes = [Route("mqtt", frozenset({"event", "state"}))]
    a = OutboxStore(db, "s1", "gw-a", ["cam1"])
    b = OutboxStore(db, "s1", "gw-b", ["cam2"])
    assert (a.start_events_cursor(), b.start_events_cursor()) == (0, 0)
    now = time.time()
    ids = [events.add(_event(cam, now + i)) for i, cam in enumerate(["cam1", "cam2", "cam2", "cam1", "cam2"])]

    def event_message(e: Event) -> NewMessage:
        return NewMessage(kind="event", camera_id=e.camera_id, payload={"event_id": e.id}, msg_id=f"s1:event:{e.id}")

    assert a.pull_events(event_message, routes) == (2, 2)
    assert b.pull_events(event_message, routes) == (3, 3)
    assert a.pull_events(event_message, routes) == (0, 0)
    a.write([msg("a-state", camera="cam1")], routes)
    assert [m.payload.get("event_id") for m in a.next_batch("mqtt", 10)] == [ids[0], ids[3], None]
    assert [m.payload["event_id"] for m in b.next_batch("mqtt", 10)] == [ids[1], ids[2], ids[4]]
    assert a.backlog()["mqtt"][0] == 3 and b.backlog()["mqtt"][0] == 3
    # Retention bounds each instance's own queue: a's cut costs b nothing.
    assert a.enforce_retention(1, 86400) == {"mqtt": 2}
    assert b.backlog()["mqtt"][0] == 3 and a.message_count() == 1
    b.settle("mqtt", delivered=[m.id for m in b.next_batch("mqtt", 10)])
    a.forget_destinations([])
    assert a.backlog() == {} and b.backlog() == {}
    assert a.counters()["mqtt"].delivered == 3 and a.counters()["mqtt"].dropped == 2


def test_a_database_from_before_instances_is_adopted(db: Database) -> None:
    """Messages and the events cursor a single gateway left before migration 11 are taken over."""
    events = EventStore(db)
    now = time.time()
    first = events.add(_event("cam1", now))
    with db.engine.begin() as conn:
        conn.execute(schema.outbox_cursors.insert().values(name="events", position=first))
    legacy = OutboxStore(db, "s1", "old")
    legacy.write([msg("queued")], [Route("mqtt", frozenset({"state"}))])
    with db.engine.begin() as conn:
        conn.execute(schema.outbox_messages.update().values(instance=None))
    second = events.add(_event("cam1", now + 1))
    store = OutboxStore(db, "s1", "gw-a", ["cam1"])
    assert store.start_events_cursor() == first
    assert [m.payload["name"] for m in store.next_batch("mqtt", 10)] == ["queued"]
    routes = [Route("mqtt", frozenset({"event"}))]

    def event_message(e: Event) -> NewMessage:
        return NewMessage(kind="event", camera_id=e.camera_id, payload={"event_id": e.id})

    assert store.pull_events(event_message, routes) == (1, 1)
    assert store.next_batch("mqtt", 10)[-1].payload["event_id"] == second
