"""The live analytics service with a fake detector: feeding from the bus, load shedding, failing softly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.analytics.events import EventStore
from gateway.analytics.offline import FileSource
from gateway.analytics.service import AnalyticsService, cameras_needing_packets
from gateway.config import GatewayConfig, parse_config
from gateway.pipeline.bus import PacketBus
from gateway.sim.people_clips import PeopleClip
from gateway.storage.db import Database
from models.base import Detection, Image
from models.errors import ModelMissingError


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
def store(tmp_path: Path) -> Iterator[EventStore]:
    db = Database(f"sqlite:///{tmp_path}/g.db").open()
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
    status = service.status()
    assert status["state"] == "unavailable"
    assert "models.export" in status["problem"]
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
