from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Iterator
from fractions import Fraction

import pytest

from adapters.common.media import Packet, StreamInfo
from adapters.rtsp import Reason, SourceError
from gateway.config import CameraConfig, Resolution, SupervisorConfig
from gateway.health.policy import SLOW_DELIVERY, SLOW_DELIVERY_REASON, HealthPolicy
from gateway.health.state import CameraState, HealthTracker
from gateway.pipeline.readers import ThreadReader
from gateway.supervisor import Backoff, CameraSupervisor

INFO = StreamInfo("h264", 1920, 1080, "High", 25.0, Fraction(1, 90000), None)
CAMERA = CameraConfig.model_validate({"id": "cam", "name": "C", "source": {"rtsp": "rtsp://127.0.0.1/x"}})
FAST = SupervisorConfig(backoff_initial_s=0.02, backoff_max_s=0.05, auth_retry_s=0.05)
POLICY = HealthPolicy(hd_min=Resolution(width=1280, height=720), min_fps=15)


class ScriptedSource:
    """Plays one step of a script per session: an error to raise on open, or N packets then an error."""

    def __init__(self, step: tuple[str, int | Reason]) -> None:
        self.step = step
        self.closed = False

    def open(self) -> StreamInfo:
        kind, arg = self.step
        if kind == "fail":
            assert isinstance(arg, Reason)
            raise SourceError(arg, "scripted")
        return INFO

    def packets(self) -> Iterator[Packet]:
        _, count = self.step
        assert isinstance(count, int)
        for i in range(count):
            time.sleep(0.001)
            yield Packet("cam", "h264", i * 3600, i * 3600, INFO.time_base, i % 50 == 0, b"x" * 1000, time.monotonic())
        raise SourceError(Reason.STALLED, "scripted stall")

    def close(self) -> None:
        self.closed = True


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    b = Backoff(1.0, 30.0, random.Random(1))
    delays = [b.next_delay() for _ in range(10)]
    for n, d in enumerate(delays):
        ceiling = min(30.0, 2.0**n)
        assert ceiling / 2 <= d <= ceiling
    assert max(delays) <= 30.0 and delays[-1] >= 15.0
    b.reset()
    assert b.next_delay() <= 1.0


async def test_states_follow_the_source_and_each_change_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.health.state")
    script = (
        [("fail", Reason.REFUSED)] * 5 + [("ok", 60), ("fail", Reason.AUTH_FAILED)] + [("fail", Reason.REFUSED)] * 50
    )
    sources: list[ScriptedSource] = []

    def factory(_c: CameraConfig, _s: SupervisorConfig) -> ScriptedSource:
        sources.append(ScriptedSource(script[min(len(sources), len(script) - 1)]))
        return sources[-1]

    tracker = HealthTracker(["cam"])
    seen: list[tuple[CameraState, str | None]] = []
    tracker.subscribe(lambda new, _old: seen.append((new.state, new.reason)))
    sup = CameraSupervisor(CAMERA, FAST, POLICY, tracker, ThreadReader(FAST, {}, factory))
    task = asyncio.create_task(sup.run())
    for _ in range(400):
        await asyncio.sleep(0.01)
        if len(sources) >= 10:
            break
    sup.stop()
    await asyncio.wait_for(task, 2)
    assert all(s.closed for s in sources)
    assert (CameraState.OFFLINE, "refused") in seen
    online_at = seen.index((CameraState.ONLINE, None))
    assert seen[online_at + 1] == (CameraState.OFFLINE, "stalled")
    assert (CameraState.OFFLINE, "auth failed") in seen[online_at:]
    # Five refusals in a row produce one offline entry, not five.
    assert seen[:online_at].count((CameraState.OFFLINE, "refused")) == 1
    offline_lines = [r for r in caplog.records if "offline (refused)" in r.getMessage()]
    assert len(offline_lines) == 2  # once before the good session, once after auth failed


async def test_measured_figures_are_published() -> None:
    def factory(_c: CameraConfig, _s: SupervisorConfig) -> ScriptedSource:
        return ScriptedSource(("ok", 2000))

    tracker = HealthTracker(["cam"])
    sup = CameraSupervisor(CAMERA, FAST, POLICY, tracker, ThreadReader(FAST, {}, factory))
    task = asyncio.create_task(sup.run())
    for _ in range(300):
        await asyncio.sleep(0.01)
        m = tracker.get("cam").measured
        if m.fps is not None:
            break
    sup.stop()
    await asyncio.wait_for(task, 5)
    status = tracker.get("cam")
    assert status.measured.width == 1920 and status.measured.codec == "h264"
    # Frame rate comes from timestamps (3600 ticks at 90 kHz), not from how fast packets arrived (~1 ms).
    assert status.measured.fps == 25.0


async def _run_briefly(sup: CameraSupervisor, seconds: float) -> None:
    task = asyncio.create_task(sup.run())
    await asyncio.sleep(seconds)
    sup.stop()
    await asyncio.wait_for(task, 2)


async def test_a_reader_bug_is_reported_and_retried_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    attempts = []

    def broken(_c: CameraConfig, _s: SupervisorConfig) -> ScriptedSource:
        attempts.append(1)
        raise RuntimeError("boom")

    tracker = HealthTracker(["cam"])
    await _run_briefly(CameraSupervisor(CAMERA, FAST, POLICY, tracker, ThreadReader(FAST, {}, broken)), 0.3)
    assert tracker.get("cam").state is CameraState.OFFLINE and tracker.get("cam").reason == "internal error"
    assert len(attempts) >= 2  # still supervised after the failure


async def test_onvif_source_is_reported_as_unsupported_for_now() -> None:
    onvif = CameraConfig.model_validate({"id": "cam", "name": "C", "source": {"onvif": {"host": "127.0.0.1"}}})
    tracker = HealthTracker(["cam"])
    await _run_briefly(CameraSupervisor(onvif, FAST, POLICY, tracker, ThreadReader(FAST, {})), 0.2)
    assert tracker.get("cam").reason == "unsupported source"


class SlowPackets(ScriptedSource):
    """A session busy in "native" work between packets, as a decoder or OpenCV call would be."""

    def __init__(self) -> None:
        super().__init__(("ok", 0))
        self.started = threading.Event()

    def packets(self) -> Iterator[Packet]:
        i = 0
        while True:
            self.started.set()
            time.sleep(0.3)
            i += 1
            yield Packet("cam", "h264", i * 3600, i * 3600, INFO.time_base, i == 1, b"x" * 10, time.monotonic())


async def test_closing_a_thread_reader_waits_for_its_sessions() -> None:
    # A session thread left running while the interpreter finalizes aborts the process (SIGABRT)
    # when it comes back from C++; closing must wait for it.
    source = SlowPackets()
    reader = ThreadReader(FAST, {}, lambda _c, _s: source)
    task = asyncio.create_task(reader.run_session(CAMERA, 1, lambda *_: None))
    await asyncio.to_thread(source.started.wait, 2)
    threads = [t for t in threading.enumerate() if t.name == "camera-cam"]
    assert len(threads) == 1
    await reader.close()
    assert not threads[0].is_alive()
    await asyncio.wait_for(task, 1)
    assert source.closed


class FramesThenTrickle(ScriptedSource):
    """Frames in real time, then none while the session stays up: what the reader sees while a keyframe
    crawls over a link far too thin for it (bytes arrive, so no socket timeout fires)."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__(("ok", 0))
        self.release = release

    def packets(self) -> Iterator[Packet]:
        for i in range(100):  # 4 s of video, in real time
            time.sleep(0.04)
            yield Packet("cam", "h264", i * 3600, i * 3600, INFO.time_base, i % 50 == 0, b"x" * 1000, time.monotonic())
        self.release.wait(10)
        raise SourceError(Reason.ENDED, "scripted end")


async def test_a_session_without_frames_past_the_stall_timeout_reads_as_slow_delivery() -> None:
    release = threading.Event()
    settings = SupervisorConfig(stall_timeout_s=1.0, backoff_initial_s=0.02, backoff_max_s=0.05)
    tracker = HealthTracker(["cam"])
    seen: list[tuple[CameraState, str | None, float]] = []
    tracker.subscribe(lambda new, _old: seen.append((new.state, new.reason, time.monotonic())))
    reader = ThreadReader(settings, {}, lambda _c, _s: FramesThenTrickle(release))
    sup = CameraSupervisor(CAMERA, settings, POLICY, tracker, reader)
    task = asyncio.create_task(sup.run())
    try:
        for _ in range(1000):
            await asyncio.sleep(0.01)
            if tracker.get("cam").state is CameraState.DEGRADED:
                break
        status = tracker.get("cam")
        assert status.state is CameraState.DEGRADED, seen
        assert status.reason == SLOW_DELIVERY_REASON and SLOW_DELIVERY in status.faults
        assert status.measured.realtime_ratio == 0.0
        online = next(t for state, _r, t in seen if state is CameraState.ONLINE)
        # Degraded only once the frames had stopped for twice the stall timeout (less the snapshot lag).
        assert seen[-1][2] - online >= 4.0 + 2 * settings.stall_timeout_s - 1.0
    finally:
        release.set()
        sup.stop()
        await asyncio.wait_for(task, 5)
