"""Live view's sender threads: a camera's viewers are served off the event loop, from threads of
their own camera, and a sender thread that dies is noticed (its viewers' sessions end, the next
viewer gets a new thread). In process: a real StreamHub over camera buses, a real aiortc viewer on
127.0.0.1, a few H.264 pictures encoded here."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from fractions import Fraction

import av
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from adapters.common.media import Packet, StreamInfo
from adapters.webrtc import restrict_host_addresses
from gateway.config import parse_config
from gateway.config.liveview import SENDER_THREADS_PER_CAMERA
from gateway.errors import ConfigError
from gateway.health.state import CameraState
from gateway.liveview.senders import SenderGoneError, SenderPool, SenderThread
from gateway.liveview.webrtc import LiveViewService
from gateway.pipeline.bus import PacketBus
from gateway.streams.hub import StreamHub
from gateway.tasks import Watchdog

LOCAL = "127.0.0.1"
CAMERAS = ("gate", "hall")
TB = Fraction(1, 25)


def pictures(count: int) -> tuple[list[tuple[bytes, bool]], bytes]:
    """`count` tiny H.264 access units (the first an IDR), Annex-B, and their extradata."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = 64, 48, "yuv420p"
    codec.time_base = TB
    codec.options = {"tune": "zerolatency", "preset": "ultrafast"}
    out: list[tuple[bytes, bool]] = []
    for i in range(count):
        frame = av.VideoFrame(64, 48, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([(i * 7) % 256]) * plane.buffer_size)
        frame.pts = i
        out += [(bytes(p), bool(p.is_keyframe)) for p in codec.encode(frame)]
    out += [(bytes(p), bool(p.is_keyframe)) for p in codec.encode(None)]
    return out, bytes(codec.extradata or b"")


@pytest.fixture
def watchdog() -> Watchdog:
    return Watchdog()


@pytest.fixture
async def live(watchdog: Watchdog) -> AsyncIterator[tuple[LiveViewService, dict[str, PacketBus]]]:
    config = parse_config(
        {
            "site": {"id": "s1", "name": "Site", "unit": {"name": "U", "headcount": 1}},
            "cameras": [{"id": c, "name": c, "source": {"rtsp": f"rtsp://127.0.0.1:9/{c}"}} for c in CAMERAS],
            "live_view": {"ice_addresses": [LOCAL]},
        }
    )
    buses = {c: PacketBus(c) for c in CAMERAS}
    for bus in buses.values():
        bus.info = StreamInfo("h264", 64, 48, None, 25.0, TB, None)
    hub = StreamHub(config.supervisor, buses, is_local=lambda _c: True)
    service = LiveViewService(config, hub, lambda _c: CameraState.ONLINE, watchdog=watchdog)
    try:
        yield service, buses
    finally:
        await service.stop()


async def connect(service: LiveViewService, camera: str) -> tuple[str, RTCPeerConnection]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    restrict_host_addresses(pc, [LOCAL])
    await pc.setLocalDescription(await pc.createOffer())
    session_id, answer, mode, _codec = await service.offer(camera, pc.localDescription.sdp, "offer", "it", LOCAL)
    assert mode == "passthrough"
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return session_id, pc


async def wait_for(what: str, ok: Callable[[], bool], within_s: float = 10) -> None:
    deadline = time.monotonic() + within_s
    while not ok():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def test_a_cameras_viewers_are_served_while_the_event_loop_is_blocked(
    live: tuple[LiveViewService, dict[str, PacketBus]],
) -> None:
    service, buses = live
    session_id, pc = await connect(service, "gate")
    other_id, other_pc = await connect(service, "hall")
    try:
        status = service.session(session_id)
        assert status is not None and status["sender"] is not None
        (sender,) = service.senders.threads("gate")
        assert status["sender"] == sender.name and sender.alive and sender.ident != threading.get_ident()
        other = service.session(other_id)
        assert other is not None and other["sender"] not in (None, sender.name)  # each camera its own
        await wait_for("connected", lambda: (service.session(session_id) or {}).get("state") == "connected")

        aus, _extradata = pictures(12)
        publishing = threading.Thread(target=publish, args=(buses["gate"], aus), daemon=True)
        publishing.start()
        # The event loop is held (a blocking wait, on purpose) until the viewer got most of the
        # pictures or 5 s passed: a viewer served from the event loop would get none before.
        deadline = time.monotonic() + 5
        while (sent := (service.session(session_id) or {})["frames_sent"]) < 8 and time.monotonic() < deadline:
            time.sleep(0.02)  # noqa: ASYNC251 - blocking the loop is the point
        publishing.join()
        assert sent >= 8, sent
    finally:
        for sid in (session_id, other_id):
            if service.session(sid) is not None:
                await service.close_session(sid, "test")
        await pc.close()
        await other_pc.close()
    # A thread that serves no one any more is stopped.
    await wait_for("sender stopped", lambda: not sender.alive and not service.senders.threads("gate"))


async def test_a_cameras_viewers_are_shared_out_on_its_threads(
    live: tuple[LiveViewService, dict[str, PacketBus]],
) -> None:
    service, _buses = live
    assert service.senders.threads_per_camera == SENDER_THREADS_PER_CAMERA == 2  # the config's default
    first, pc1 = await connect(service, "gate")
    second, pc2 = await connect(service, "gate")
    try:
        names = [(service.session(s) or {})["sender"] for s in (first, second)]
        assert names[0] != names[1]
        assert sorted(names) == sorted(t.name for t in service.senders.threads("gate"))
    finally:
        for sid in (first, second):
            await service.close_session(sid, "test")
        await pc1.close()
        await pc2.close()


def test_sender_threads_per_camera_is_configured_and_checked() -> None:
    site = {"id": "s1", "name": "Site", "unit": {"name": "U", "headcount": 1}}
    config = parse_config({"site": site, "live_view": {"sender_threads_per_camera": 1}})
    hub = StreamHub(config.supervisor, {}, is_local=lambda _c: True)
    assert LiveViewService(config, hub, lambda _c: CameraState.ONLINE).senders.threads_per_camera == 1
    with pytest.raises(ConfigError) as caught:
        parse_config({"site": site, "live_view": {"sender_threads_per_camera": 0}})
    assert [i.path for i in caught.value.issues] == ["live_view.sender_threads_per_camera"]


def publish(bus: PacketBus, aus: list[tuple[bytes, bool]]) -> None:
    for n, (data, key) in enumerate(aus):
        bus.publish(Packet(bus.camera_id, "h264", n, n, TB, key, data, time.monotonic()))
        time.sleep(0.04)


async def test_a_sender_thread_that_dies_ends_its_sessions_and_is_replaced(
    live: tuple[LiveViewService, dict[str, PacketBus]], watchdog: Watchdog
) -> None:
    service, buses = live
    assert [p.name for p in watchdog.parts()] == []
    session_id, pc = await connect(service, "gate")
    try:
        (sender,) = service.senders.threads("gate")
        sender.call(sys.exit, 3)  # what a BaseException raised in one of its callbacks does
        await wait_for("session ended", lambda: service.session(session_id) is None)
        assert not sender.alive and isinstance(sender.error, SystemExit)
        assert service.senders.deaths == 1 and sender not in service.senders.threads("gate")
        # Shown with the gateway's parts (GET /api/v1/gateway/parts, /metrics): a restart, with its reason.
        (part,) = watchdog.parts()
        assert (part.name, part.kind, part.restarts, part.running) == ("live-view-senders", "thread", 1, True)
        assert part.last_failure == "SystemExit: 3" and part.down_since is None
        assert not buses["gate"].subscribers  # the dead loop's subscription does not stay on the bus
        again, pc2 = await connect(service, "gate")
        try:
            (fresh,) = service.senders.threads("gate")
            assert fresh is not sender and fresh.alive
            assert (service.session(again) or {})["sender"] == fresh.name
        finally:
            await pc2.close()
    finally:
        await pc.close()


async def test_pool_threads_run_work_on_their_own_loop_and_report_death() -> None:
    died: list[tuple[SenderThread, BaseException | None]] = []
    pool = SenderPool(lambda t, e: died.append((t, e)), threads_per_camera=2)
    try:
        a, b, c = pool.take("cam"), pool.take("cam"), pool.take("cam")
        assert a is not b and c is a  # two threads at most for one camera, then the least busy
        assert pool.take("other") not in (a, b)

        async def where() -> int:
            return threading.get_ident()

        assert await a.run(where()) == a.ident != threading.get_ident()
        b.call(sys.exit)
        await wait_for("death reported", lambda: bool(died))
        assert died[0][0] is b and isinstance(died[0][1], SystemExit) and pool.threads("cam") == [a]
        with pytest.raises(SenderGoneError):
            await b.run(where())
        # a serves two viewers: it stops when the second is gone.
        await pool.give_back(a)
        assert a.alive
        await pool.give_back(a)
        assert not a.alive and not pool.threads("cam")
    finally:
        await pool.stop()
    assert not any(t.alive for t in pool.threads())
