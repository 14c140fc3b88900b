"""The live analytics service with a fake detector: feeding from the bus, load shedding, failing softly."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event as sa_event

from gateway.analytics import service as service_module
from gateway.analytics.events import Event, EventStore
from gateway.analytics.frames import Frame
from gateway.analytics.offline import FileSource
from gateway.analytics.regions import Look
from gateway.analytics.rules import RuleHit
from gateway.analytics.service import AnalyticsService, cameras_needing_packets
from gateway.config import GatewayConfig, parse_config
from gateway.pipeline.bus import PacketBus
from gateway.storage.db import Database
from models.base import Detection, Image
from models.errors import ModelMissingError
from sim.people_clips import PeopleClip
from tests.support.waiting import wait_until_async


class SlowFakeDetector:
    """Finds one 'person' in the middle of every frame, taking `seconds` to do it."""

    name = "fake"
    input_size = 320
    has_keypoints = False

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    def detect(self, image: Image) -> list[Detection]:
        self.calls += 1
        time.sleep(self.seconds)
        h, w = image.shape[:2]
        return [Detection(w * 0.45, h * 0.3, w * 0.55, h * 0.9, 0.9)]

    def close(self) -> None:
        pass


def config(cameras: int, **analytics: Any) -> GatewayConfig:
    cams = [
        {
            "id": f"c{i}",
            "name": f"C{i}",
            "source": {"rtsp": f"rtsp://127.0.0.1/c{i}"},
            "expected": {"resolution": "1280x720"},
            "analytics": {
                "rules": [{"id": "all", "kind": "intrusion", "polygon": [[0, 0], [1280, 0], [1280, 720], [0, 720]]}]
            },
        }
        for i in range(cameras)
    ]
    data = {
        "site": {"id": "s", "name": "S", "unit": {"name": "U", "headcount": 1}},
        "cameras": cams,
        "analytics": {"motion": {"enabled": False}, **analytics},
    }
    return parse_config(data, check_secrets=False)


@pytest.fixture
def store(gateway_storage_url: str) -> Iterator[EventStore]:
    # The detector pipeline is what these test; EventStore itself runs on both backends in test_events.
    db = Database(gateway_storage_url).open()
    yield EventStore(db)
    db.close()


def feed(bus: PacketBus, clip: PeopleClip, realtime: float = 1.0) -> None:
    """Publish the clip's packets on the bus at `realtime` x its frame rate, as a reader would."""
    source = FileSource(clip.path)
    bus.info = source.open()
    step = 1.0 / clip.fps / realtime
    for packet in source.packets():
        bus.publish(packet)
        time.sleep(step)
    source.close()


async def run_service(service: AnalyticsService, buses: dict[str, PacketBus], clip: PeopleClip) -> None:
    await service.start()
    await service.ready()
    await asyncio.gather(*(asyncio.to_thread(feed, bus, clip, 2.0) for bus in buses.values()))
    await asyncio.sleep(0.5)
    await service.stop()


def test_main_stream_cameras_are_read_in_process() -> None:
    cfg = config(2)
    assert cameras_needing_packets(cfg) == {"c0", "c1"}


async def test_events_are_stored_with_snapshots(people_clips: dict[str, PeopleClip], store: EventStore) -> None:
    cfg = config(1)
    buses = {"c0": PacketBus("c0")}
    detector = SlowFakeDetector(0.0)
    service = AnalyticsService(cfg, buses, store, detector_factory=lambda _c: detector)
    await run_service(service, buses, people_clips["walk"])
    status = service.status()
    cam = status["cameras"]["c0"]
    assert status["state"] == "stopped"
    assert cam["sampled_frames"] >= 10 and cam["detected_frames"] == cam["sampled_frames"]
    (event,) = store.query()
    assert event.kind == "intrusion" and event.rule_id == "all" and event.has_snapshot
    snapshot = store.snapshot(event.id or 0)
    assert snapshot is not None and snapshot[:2] == b"\xff\xd8"


async def test_a_busy_detector_sheds_frames_evenly(people_clips: dict[str, PeopleClip], store: EventStore) -> None:
    # Four cameras at 2 fps want 8 detections a second; this detector manages 5.
    cfg = config(4)
    buses = {f"c{i}": PacketBus(f"c{i}") for i in range(4)}
    service = AnalyticsService(cfg, buses, store, detector_factory=lambda _c: SlowFakeDetector(0.2))
    await run_service(service, buses, people_clips["walk"])
    cams = service.status()["cameras"].values()
    dropped = [c["dropped_busy"] for c in cams]
    detected = [c["detected_frames"] for c in cams]
    assert sum(dropped) > 0
    # Oldest frame first: no camera is starved.
    assert min(detected) >= 0.6 * max(detected)


async def test_a_missing_model_leaves_the_gateway_running(store: EventStore) -> None:
    cfg = config(1)

    def broken(_c: GatewayConfig) -> SlowFakeDetector:
        raise ModelMissingError(Path("var/models/x.onnx"))

    service = AnalyticsService(cfg, {"c0": PacketBus("c0")}, store, detector_factory=broken)
    await service.start()
    await service.ready()
    status = service.status()
    assert status["state"] == "unavailable"
    assert "models.export" in status["problem"]
    await service.stop()


async def test_the_gateway_does_not_wait_for_the_model_to_load(store: EventStore) -> None:
    # Loading a model takes a second or more: start() returns at once, the status says "loading" and
    # lists the cameras, and a stop while it loads closes the late detector and starts nothing.
    loading, release = threading.Event(), threading.Event()

    class Closing(SlowFakeDetector):
        closed = False

        def close(self) -> None:
            Closing.closed = True

    def slow(_c: GatewayConfig) -> SlowFakeDetector:
        loading.set()
        release.wait(10)
        return Closing(0.0)

    service = AnalyticsService(config(1), {"c0": PacketBus("c0")}, store, detector_factory=slow)
    await service.start()
    await asyncio.to_thread(loading.wait, 10)
    status = service.status()
    assert status["state"] == "loading" and status["detector"] is None
    assert status["cameras"]["c0"]["sampled_frames"] == 0 and not status["cameras"]["c0"]["connected"]
    stopping = asyncio.create_task(service.stop())
    await asyncio.sleep(0.1)
    assert not stopping.done()  # the stop waits for the load, which cannot be interrupted
    release.set()
    await stopping
    assert Closing.closed and service.status()["detector"] is None and service.status()["cameras"] == {}


async def test_the_feeds_run_once_the_model_has_loaded(store: EventStore) -> None:
    service = AnalyticsService(
        config(1), {"c0": PacketBus("c0")}, store, detector_factory=lambda _c: SlowFakeDetector(0.0)
    )
    await service.start()
    await service.ready()
    try:
        assert service.status()["state"] == "running" and service.status()["detector"]["name"] == "fake"
    finally:
        await service.stop()


async def test_a_detector_error_costs_one_frame(people_clips: dict[str, PeopleClip], store: EventStore) -> None:
    class Flaky(SlowFakeDetector):
        def detect(self, image: Image) -> list[Detection]:
            if self.calls % 3 == 0:
                self.calls += 1
                raise ValueError("bad frame")
            return super().detect(image)

    cfg = config(1)
    buses = {"c0": PacketBus("c0")}
    service = AnalyticsService(cfg, buses, store, detector_factory=lambda _c: Flaky(0.0))
    await run_service(service, buses, people_clips["walk"])
    status = service.status()
    assert status["detector"]["errors"] >= 3
    assert status["cameras"]["c0"]["detected_frames"] > 0
    assert "bad frame" in (status["cameras"]["c0"]["last_error"] or "")


# -- storage failing: events wait in memory ------------------------------------------------------


class FullDisk:
    """A real SQLite database that can be made full: SQLite's page limit gives the same SQLITE_FULL
    a full disk gives, on every new connection while set."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = Database(f"sqlite:///{tmp_path}/full.db").open()
        self.pages = 0

        @sa_event.listens_for(self.db.engine, "connect")
        def _cap(dbapi_conn: sqlite3.Connection, _rec: Any) -> None:
            if self.pages:
                dbapi_conn.execute(f"PRAGMA max_page_count={self.pages}")

    def fill(self) -> None:
        self.db.engine.dispose()
        with self.db.engine.connect() as conn:
            self.pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
        self.db.engine.dispose()

    def free(self) -> None:
        self.pages = 0
        self.db.engine.dispose()


class ScriptedHits:
    """Makes the service's own detector thread fire one intrusion per frame pushed into the slot,
    so that storing and holding run on the thread that does them in the gateway."""

    def __init__(self, service: AnalyticsService, camera: str = "c0") -> None:
        self.service, self.camera, self.fired = service, camera, 0
        self.rng = np.random.default_rng(7)

    def analyse(self, frame: Frame, _detections: list[Detection], wall: float) -> tuple[list[Any], list[RuleHit]]:
        self.fired += 1
        box = Detection(100, 100, 200, 400, 0.9)
        return [], [RuleHit("all", "intrusion", None, frame.at, wall, (self.fired,), (box,), {}, f"hit {self.fired}")]

    def push(self) -> None:
        # Noise compresses badly: each snapshot needs new pages, so a full database refuses it.
        image = self.rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        with self.service._ready:
            self.service._slots[self.camera] = (Frame(image, time.monotonic(), time.monotonic()), Look(full=True))
            self.service._ready.notify()


async def started_with_hits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[AnalyticsService, FullDisk, ScriptedHits, list[Event]]:
    monkeypatch.setattr(service_module, "HOLD_RETRY_S", 0.1)
    disk = FullDisk(tmp_path)
    service = AnalyticsService(
        config(1), {"c0": PacketBus("c0")}, EventStore(disk.db), detector_factory=lambda _c: SlowFakeDetector(0.0)
    )
    announced: list[Event] = []
    service.on_event(announced.append)
    await service.start()
    await service.ready()
    hits = ScriptedHits(service)
    monkeypatch.setattr(service._feeds["c0"].analyzer, "analyse", hits.analyse)
    return service, disk, hits, announced


def stored_messages(disk: FullDisk) -> list[tuple[str, bool]]:
    return [(e.message, e.has_snapshot) for e in reversed(EventStore(disk.db).query())]


async def test_events_wait_in_memory_while_the_disk_is_full_then_are_stored_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    service, disk, hits, announced = await started_with_hits(tmp_path, monkeypatch)
    try:
        hits.push()
        await wait_until_async("len(announced) == 1", lambda: len(announced) == 1, 10.0)
        disk.fill()
        with caplog.at_level(logging.WARNING):
            for i in range(1, 6):
                hits.push()
                await wait_until_async("service.events_held == i", lambda i=i: service.events_held == i, 10.0)
            await asyncio.sleep(0.5)  # several retries, all failing
            status = service.status()
            assert status["storage"] == "failed" and status["storage_error"] == "disk full"
            assert status["events_held"] == 5 and status["events_dropped"] == 0
            cam = status["cameras"]["c0"]
            assert cam["events"] == 1 and cam["events_held"] == 5
            assert cam["last_error"] == "event store failed: disk full"
            assert stored_messages(disk) == [("hit 1", True)]
            assert "cannot store events (disk full)" in caplog.text
            disk.free()
            await wait_until_async("service.events_held == 0", lambda: service.events_held == 0, 10.0)
        assert stored_messages(disk) == [(f"hit {i}", True) for i in range(1, 7)]
        status = service.status()
        assert status["storage"] == "ok" and status["events_dropped"] == 0
        assert status["cameras"]["c0"]["events"] == 6 and status["cameras"]["c0"]["last_error"] is None
        await wait_until_async("len(announced) == 6", lambda: len(announced) == 6, 10.0)
        stored_ids = [e.id for e in reversed(EventStore(disk.db).query())]
        assert [e.id for e in announced] == stored_ids and all(e.has_snapshot for e in announced)
        assert "storage works again after disk full" in caplog.text
    finally:
        await service.stop()
        disk.db.close()


async def test_past_the_bound_the_oldest_held_events_are_dropped_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(service_module, "HELD_EVENTS_MAX", 3)
    service, disk, hits, announced = await started_with_hits(tmp_path, monkeypatch)
    try:
        hits.push()
        await wait_until_async("len(announced) == 1", lambda: len(announced) == 1, 10.0)
        disk.fill()
        with caplog.at_level(logging.ERROR):
            for n in range(2, 7):
                hits.push()
                await wait_until_async(
                    "every hit announced, held or dropped",
                    lambda n=n: n == hits.fired == len(announced) + service.events_held + service.events_dropped,
                    10.0,
                )
            assert service.events_held == 3 and service.status()["events_dropped"] == 2
            assert service.status()["cameras"]["c0"]["events_dropped"] == 2
            assert "LOST the oldest" in caplog.text and "(2 lost so far)" in caplog.text
        disk.free()
        await wait_until_async("service.events_held == 0", lambda: service.events_held == 0, 10.0)
        assert stored_messages(disk) == [("hit 1", True), ("hit 4", True), ("hit 5", True), ("hit 6", True)]
    finally:
        await service.stop()
        disk.db.close()


async def test_held_events_are_stored_at_a_clean_stop_once_storage_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, disk, hits, _announced = await started_with_hits(tmp_path, monkeypatch)
    monkeypatch.setattr(service_module, "HOLD_RETRY_S", 3600.0)  # only the stop retries
    try:
        disk.fill()
        hits.push()
        await wait_until_async("service.events_held == 1", lambda: service.events_held == 1, 10.0)
        disk.free()
    finally:
        await service.stop()
    assert stored_messages(disk) == [("hit 1", True)]
    disk.db.close()
