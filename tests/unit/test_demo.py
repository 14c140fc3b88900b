from __future__ import annotations

import threading
import time

import pytest

from gateway.config import parse_config
from sim.demo import CLIP_FOR_PATH, Flapper, demo_mounts
from sim.server import SimulatorError


class FakeServer:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return "rtsp://127.0.0.1:1" + path

    def kill(self) -> None:
        with self.lock:
            self.events.append("kill")

    def start(self) -> None:
        with self.lock:
            self.events.append("start")


def test_flapper_takes_the_server_down_and_up_on_schedule() -> None:
    server = FakeServer()
    flapper = Flapper(server, up_s=0.05, down_s=0.05)  # type: ignore[arg-type]
    flapper.start()
    time.sleep(0.33)
    flapper.stop()
    events = list(server.events)
    assert events[:4] == ["kill", "start", "kill", "start"]
    assert 3 <= len(events) <= 7
    time.sleep(0.15)
    assert server.events == events  # stopped means stopped


def _config(url: str) -> dict[str, object]:
    return {
        "site": {"id": "d", "name": "D", "unit": {"name": "U", "headcount": 1}},
        "cameras": [{"id": "c", "name": "C", "source": {"rtsp": url}}],
    }


def test_demo_mounts_follow_the_config() -> None:
    mounts = demo_mounts(parse_config(_config("rtsp://127.0.0.1:9554/lobby")))
    assert [(m.port, m.path, m.clip) for m in mounts] == [(9554, "/lobby", CLIP_FOR_PATH["/lobby"])]
    with pytest.raises(SimulatorError, match="the demo serves only"):
        demo_mounts(parse_config(_config("rtsp://10.1.2.3:554/lobby")))
    with pytest.raises(SimulatorError):
        demo_mounts(parse_config(_config("rtsp://127.0.0.1:554/elsewhere")))
