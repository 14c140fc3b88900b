"""A camera read by a worker process is viewed or forwarded without a second session: the stream hub taps
it, and the worker sends the camera's packets over its pipe onto the camera's bus in this process
(gateway/pipeline/workers.py). Real worker processes (spawned), fake sources."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator

import pytest

from adapters.common.media import Packet
from adapters.rtsp import SourceError
from gateway.config import CameraConfig, SupervisorConfig
from gateway.health.state import MeasuredStream
from gateway.i18n import using
from gateway.pipeline.bus import PacketBus, Subscription
from gateway.pipeline.workers import ProcessReader
from gateway.quality.sampler import SamplerSetup
from gateway.streams.hub import StreamHub, StreamUnavailableError
from gateway.streams.sources import Source, StreamName
from tests.support.pacedsource import INFO, paced_audio_source_factory, paced_source_factory, sequence_of

SETTINGS = SupervisorConfig(connect_timeout_s=5)
CAMERAS = [
    CameraConfig.model_validate({"id": cid, "name": cid, "source": {"rtsp": f"rtsp://127.0.0.1/{cid}"}, "zones": ["z"]})
    for cid in ("cam1", "cam2")
]
NO_QUALITY = SamplerSetup(0.0)


def no_pull(camera: CameraConfig, settings: SupervisorConfig, stream: StreamName) -> Source:
    raise AssertionError(f"the hub opened a session of its own for {camera.id} ({stream})")


def ignore(session: int, measured: MeasuredStream, at: float) -> None:
    pass


async def take(sub: Subscription, n: int, first_within: float = 5.0) -> list[int]:
    """The sequence numbers of the next n packets; the first may take as long as a worker's start."""
    first = sequence_of(await asyncio.wait_for(sub.get(), first_within))
    return [first, *[sequence_of(await asyncio.wait_for(sub.get(), 5)) for _ in range(n - 1)]]


async def running(reader: ProcessReader, camera: CameraConfig, session: int) -> asyncio.Task[None]:
    task = asyncio.create_task(reader.run_session(camera, session, ignore, NO_QUALITY))
    await asyncio.sleep(0)
    return task


@pytest.fixture
async def site() -> AsyncIterator[tuple[ProcessReader, StreamHub, dict[str, PacketBus]]]:
    buses = {c.id: PacketBus(c.id) for c in CAMERAS}
    reader = ProcessReader(SETTINGS, [c.id for c in CAMERAS], 1, paced_source_factory, buses=buses)
    hub = StreamHub(SETTINGS, buses, lambda _cid: False, open_source=no_pull)
    hub.attach_tap(reader)
    yield reader, hub, buses
    await hub.close()
    await reader.close()


async def test_a_tapped_camera_gets_its_packets_in_order_and_untapped_nothing(
    site: tuple[ProcessReader, StreamHub, dict[str, PacketBus]],
) -> None:
    reader, hub, buses = site
    tasks = [await running(reader, camera, 1) for camera in CAMERAS]
    await asyncio.sleep(0.3)
    assert buses["cam1"].published == 0  # nobody tapped: nothing crosses the pipe
    feed, info = await hub.acquire(CAMERAS[0])
    assert feed.tapped and not feed.owned and feed.bus is buses["cam1"]
    assert info == INFO
    sub = feed.bus.subscribe("viewer", 512)
    seq = await take(sub, 40)
    assert seq == list(range(seq[0], seq[0] + 40))  # in order, none lost
    second, _ = await hub.acquire(CAMERAS[0])  # a second consumer joins the same tap
    assert second is feed
    hub.release(second)
    assert buses["cam2"].published == 0  # only the tapped camera crosses
    sub.close()
    hub.release(feed)
    await asyncio.sleep(0.3)  # what was in flight when the tap ended
    published = buses["cam1"].published
    await asyncio.sleep(0.5)
    assert buses["cam1"].published == published  # untapped: the worker stopped sending
    assert hub.opened_sessions == 0
    for camera in CAMERAS:
        reader.stop_session(camera.id)
    await asyncio.wait_for(asyncio.gather(*tasks), 5)


async def test_a_tap_survives_the_worker_process_dying(
    site: tuple[ProcessReader, StreamHub, dict[str, PacketBus]],
) -> None:
    reader, hub, _ = site
    task = await running(reader, CAMERAS[0], 1)
    feed, _ = await hub.acquire(CAMERAS[0])
    sub = feed.bus.subscribe("viewer", 512)
    last_seen = (await take(sub, 5))[-1]
    (worker,) = [p for p in multiprocessing.active_children() if p.name == "gateway-reader-0"]
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGKILL)
    with pytest.raises(SourceError, match="camera reader process died"):
        await asyncio.wait_for(task, 10)
    # The supervisor's next session starts a new worker, which is told to tap the camera again.
    task = await running(reader, CAMERAS[0], 2)
    while sub.pending():
        last_seen = sequence_of(await sub.get())
    # A new worker process is spawned and imports the gateway: seconds on a loaded 2-core machine. If the
    # new session fails instead (it once reused the dead worker), say so rather than wait out the timeout.
    taking = asyncio.create_task(take(sub, 10, first_within=60))
    await asyncio.wait({taking, task}, return_when=asyncio.FIRST_COMPLETED)
    if not taking.done():
        taking.cancel()
        await task  # raises the session's failure
        pytest.fail("the new session ended before any packet came")
    seq = taking.result()
    assert seq[0] < last_seen  # a new session's packets: its numbering started again
    sub.close()
    hub.release(feed)
    reader.stop_session("cam1")
    await asyncio.wait_for(task, 5)


async def test_a_camera_whose_worker_has_no_session_is_refused_in_time() -> None:
    # The camera is reconnecting (no session in its worker): no parameters come, the consumer hears so.
    fast = SupervisorConfig(connect_timeout_s=0.5)
    buses = {"cam1": PacketBus("cam1")}
    reader = ProcessReader(fast, ["cam1"], 1, paced_source_factory, buses=buses)
    hub = StreamHub(fast, buses, lambda _cid: False, open_source=no_pull)
    hub.attach_tap(reader)
    with using("en"), pytest.raises(StreamUnavailableError, match="did not open in time"):
        await hub.acquire(CAMERAS[0])
    assert hub.feeds() == []
    await reader.close()


async def test_a_tapped_cameras_sound_crosses_only_while_a_consumer_takes_it() -> None:
    """A worker's camera with a microphone: a viewer of the video alone gets no sound, and none crosses
    the pipe; a consumer that takes the sound (a GB/T 28181 session) has it cross while it holds the feed."""
    buses = {c.id: PacketBus(c.id) for c in CAMERAS}
    reader = ProcessReader(SETTINGS, [c.id for c in CAMERAS], 1, paced_audio_source_factory, buses=buses)
    hub = StreamHub(SETTINGS, buses, lambda _cid: False, open_source=no_pull)
    hub.attach_tap(reader)
    try:
        task = await running(reader, CAMERAS[0], 1)
        feed, info = await hub.acquire(CAMERAS[0])
        assert info.audio is not None and info.audio.codec == "pcma"
        viewer = feed.subscribe("viewer", 512)
        spy = feed.bus.subscribe("spy", 1024, audio=True)  # sees the sound whenever it crosses
        await take(viewer, 10)
        await asyncio.sleep(0.2)
        assert not [p for p in await drain(spy) if p.is_audio]  # nobody takes the sound: none crossed

        gb, _ = await hub.acquire(CAMERAS[0], audio=True)
        assert gb is feed and feed.audio_users == 1
        session = gb.subscribe("gb", 1024, audio=True)
        sound = [p for p in [await asyncio.wait_for(session.get(), 5) for _ in range(20)] if p.is_audio]
        assert sound and all(p.codec == "pcma" for p in sound)
        assert not [p for p in await drain(viewer) if p.is_audio]  # the viewer still gets the video alone
        session.close()
        hub.release(gb, audio=True)
        await asyncio.sleep(0.3)  # what was in flight
        await drain(spy)
        await asyncio.sleep(0.4)
        crossed = await drain(spy)
        assert crossed and not [p for p in crossed if p.is_audio]  # the video goes on, the sound stopped
        viewer.close()
        spy.close()
        hub.release(feed)
        reader.stop_session("cam1")
        await asyncio.wait_for(task, 5)
    finally:
        await hub.close()
        await reader.close()


async def drain(sub: Subscription) -> list[Packet]:
    """What the subscription has waiting."""
    out = []
    while sub.pending():
        out.append(await sub.get())
    return out
