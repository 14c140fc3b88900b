"""The StreamHub: one source per camera stream, opened by the first consumer and closed after the last,
ONVIF resolved before opening, failures reported to consumers (fake sources; the real RTSP server is in
tests/integration/test_stream_hub.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from fractions import Fraction

import pytest

from adapters.common.media import Packet, StreamInfo
from adapters.rtsp import Reason, SourceError
from gateway.config import CameraConfig, SupervisorConfig
from gateway.pipeline.bus import PacketBus
from gateway.streams.hub import Feed, StreamHub, StreamUnavailableError
from gateway.streams.sources import Source, StreamName

INFO = StreamInfo("h264", 640, 360, None, 25.0, Fraction(1, 90000), None)
CAMERA = CameraConfig.model_validate(
    {
        "id": "cam1",
        "name": "Cam 1",
        "source": {"onvif": {"host": "127.0.0.1", "port": 8000, "sub_profile": "sub"}},
        "zones": ["gate"],
    }
)


class FakeSource:
    def __init__(self, url: str | None, fail: bool) -> None:
        self.url, self.fail = url, fail
        self.closed = threading.Event()

    def open(self) -> StreamInfo:
        if self.fail:
            raise SourceError(Reason.REFUSED, "connection refused")
        return INFO

    def packets(self) -> Iterator[Packet]:
        n = 0
        while not self.closed.is_set():
            yield Packet("cam1", "h264", n, n, Fraction(1, 25), n % 25 == 0, b"\x00\x00\x01\x65", float(n))
            n += 1
            self.closed.wait(0.01)

    def close(self) -> None:
        self.closed.set()


class Opener:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.opened: list[FakeSource] = []

    def __call__(self, camera: CameraConfig, settings: SupervisorConfig, stream: StreamName) -> Source:
        url = camera.source.sub_rtsp if stream == "sub" else camera.source.rtsp
        source = FakeSource(url, self.fail)
        self.opened.append(source)
        return source


async def resolve(camera: CameraConfig, stream: StreamName) -> CameraConfig:
    """What the inventory does for an ONVIF camera: rtsp:// URIs for its profiles."""
    source = {"rtsp": "rtsp://127.0.0.1/main", "sub_rtsp": "rtsp://127.0.0.1/sub"}
    return camera.model_copy(update={"source": camera.source.model_copy(update={**source, "onvif": None})})


def hub_with(opener: Opener, local: bool = False, buses: dict[str, PacketBus] | None = None) -> StreamHub:
    settings = SupervisorConfig(connect_timeout_s=0.5)
    buses = {"cam1": PacketBus("cam1")} if buses is None else buses
    return StreamHub(settings, buses, lambda _cid: local, resolve=resolve, open_source=opener)


async def test_one_source_for_every_consumer_of_a_stream_opened_first_closed_last() -> None:
    opener = Opener()
    hub = hub_with(opener)
    first, info = await hub.acquire(CAMERA, "sub")
    second, _ = await hub.acquire(CAMERA, "sub")
    assert first is second and info == INFO
    assert len(opener.opened) == 1 and opener.opened[0].url == "rtsp://127.0.0.1/sub"  # ONVIF resolved
    assert hub.opened_sessions == 1
    sub = first.bus.subscribe("viewer", 8)
    packet = await asyncio.wait_for(sub.get(), 2)
    assert packet.source_id == "cam1"
    sub.close()
    hub.release(first)
    assert not opener.opened[0].closed.is_set()  # one consumer still there
    hub.release(second)
    await asyncio.wait_for(asyncio.to_thread(opener.opened[0].closed.wait, 2), 3)
    assert hub.feeds() == []
    again, _ = await hub.acquire(CAMERA, "sub")  # after the last left, the next consumer opens anew
    assert len(opener.opened) == 2
    hub.release(again)
    assert await hub.close() == []


async def test_a_locally_read_main_stream_is_the_readers_bus_and_opens_nothing() -> None:
    opener = Opener()
    reader_bus = PacketBus("cam1")
    reader_bus.info = INFO  # what the health reader's source announced
    hub = hub_with(opener, local=True, buses={"cam1": reader_bus})
    feed, info = await hub.acquire(CAMERA, "main")
    assert not feed.owned and feed.bus is reader_bus
    assert opener.opened == [] and info == INFO
    hub.release(feed)


async def test_a_stream_that_fails_tells_its_consumers_and_frees_the_feed() -> None:
    hub = hub_with(Opener(fail=True))
    ended: list[Feed] = []
    hub.on_feed_ended(ended.append)
    with pytest.raises(StreamUnavailableError, match="connection refused"):
        await hub.acquire(CAMERA, "sub")
    await asyncio.sleep(0.05)
    assert [f.key for f in ended] == ["cam1#sub"] and hub.feeds() == []
    assert await hub.close() == []


async def test_a_consumer_that_subscribes_after_its_feed_ended_hears_the_end() -> None:
    # Between acquire() and subscribe() the pull may end; a subscription made then must not wait forever.
    opener = Opener()
    hub = hub_with(opener)
    ended = asyncio.Event()
    hub.on_feed_ended(lambda _feed: ended.set())
    feed, _ = await hub.acquire(CAMERA, "sub")
    opener.opened[0].close()  # the camera ends the stream
    await asyncio.wait_for(ended.wait(), 3)
    assert feed.ended
    late = feed.subscribe("late", 8)
    with pytest.raises(EOFError):
        await asyncio.wait_for(late.get(), 1)
    blocking = feed.subscribe_blocking("late-thread", 8)
    assert blocking.closed and blocking.get(0.05) is None
    hub.release(feed)
    assert await hub.close() == []
