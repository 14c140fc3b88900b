"""Where camera sessions are read: in threads of this process, or in worker processes.

A reader runs one session of one camera at a time: open the source, measure every packet, hand a
snapshot to the supervisor once a second, publish packets to the camera's bus when someone
listens, and end by raising why. Supervisors decide when to start a session; readers only read.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol, runtime_checkable

from adapters.common.media import Packet, StreamInfo
from adapters.rtsp import Reason, SourceError
from gateway.config import CameraConfig, SupervisorConfig
from gateway.health.state import MeasuredStream
from gateway.health.stats import StreamStats
from gateway.pipeline.bus import PacketBus
from gateway.pipeline.loop import ReadingLoop
from gateway.pipeline.pacing import Pacer
from gateway.quality.sampler import KeyframeSampler, SamplerSetup, StartBudget
from gateway.streams.sources import Source, SourceFactory, rtsp_source_factory

# How long closing waits for session threads to leave native code (decoder, OpenCV). A thread still
# inside C++ when the interpreter finalizes is killed by a forced unwind that OpenCV's catch-all
# handlers swallow, and the process aborts (SIGABRT) instead of exiting 0.
CLOSE_WAIT_S = 5.0

# How often a session hands measured figures to the supervisor: often enough for a live
# dashboard, rare enough that 200 cameras cost a few hundred messages a second at most.
PUBLISH_INTERVAL_S = 1.0

SnapshotFn = Callable[[int, MeasuredStream, float], None]

# First quality samples of this process's sessions: 20 at once (a small site's cameras all sample at
# connect), then 4 a second (two keyframe decodes each, ~0.25 cores), for a large site starting up.
QUALITY_STARTS = StartBudget(per_s=4.0, burst=20)


class SessionMeter:
    """What a reader does with each packet of one session: measure it (the stream figures, the quality
    samples), hand a snapshot to `emit` once a second, pass it to the camera's bus when someone listens,
    and say how long the reader may sleep after it (bursts, when nobody needs packets as they come)."""

    def __init__(
        self,
        info: StreamInfo,
        source: Source,
        settings: SupervisorConfig,
        emit: Callable[[MeasuredStream, float], None],
        bus: PacketBus | None,
        quality: SamplerSetup | None,
    ) -> None:
        if quality is None:
            quality = SamplerSetup(settings.quality_interval_s)
        self._stats = StreamStats(info)
        self._pacer = Pacer(settings.read_batch_s)
        self._sampler = KeyframeSampler.from_setup(info, quality, QUALITY_STARTS) if quality.interval_s > 0 else None
        self._time_base = float(info.time_base)
        self._next_publish = 0.0
        self._skimmer = source if isinstance(source, Skimming) else None
        self._emit = emit
        self._bus = bus

    @property
    def realtime(self) -> bool:
        """Whether somebody takes the camera's packets (the GOP cache, a viewer, a platform): then every
        packet goes out as it arrives, never in bursts."""
        bus = self._bus
        return bus is not None and (bus.keeps_gop or bool(bus.subscribers))

    def take(self, packet: Packet) -> float:
        """One packet; how long the reader may sleep after it (0: read on)."""
        bus, stats, sampler = self._bus, self._stats, self._sampler
        if self._skimmer is not None:
            # P-frames' bytes only while somebody takes the packets: measuring needs only their sizes.
            wanted = self.realtime
            if self._skimmer.skim == wanted:
                self._skimmer.skim = not wanted
        if packet.is_audio:
            # The camera's sound is measured by nobody and paced by the video: it only passes
            # through, to the consumers that asked for it.
            if bus is not None and (bus.wants_audio or bus.keeps_gop):
                bus.publish(packet)
            return 0.0
        stats.add(packet)
        if sampler is not None and (verdicts := sampler.offer(packet)) is not None:
            stats.quality, stats.quality_at = verdicts, time.time()
        if packet.arrival >= self._next_publish:
            self._next_publish = packet.arrival + PUBLISH_INTERVAL_S
            snapshot = stats.snapshot()
            if sampler is not None and (reference := sampler.take_new_reference()) is not None:
                snapshot = replace(snapshot, new_reference=reference)
            self._emit(snapshot, time.time())
        # A picture skimmed just before somebody came is not passed on: it has no bytes, and a
        # consumer starts at a keyframe anyway (a GOP cache never sees one: it never skims).
        if bus is not None and bus.keeps_gop:
            if not packet.skimmed_size:
                bus.publish(packet)  # kept for the next session's start, whoever listens now
            if bus.subscribers:
                return 0.0
        elif bus is not None and bus.subscribers:
            # Someone forwards or views this camera: every packet goes out as it arrives.
            if not packet.skimmed_size:
                bus.publish(packet)
            return 0.0
        ts = packet.dts if packet.dts is not None else packet.pts
        return self._pacer.nap_after(ts * self._time_base if ts is not None else None, packet.arrival)


def read_session(
    source: Source,
    settings: SupervisorConfig,
    stop: threading.Event,
    emit: Callable[[MeasuredStream, float], None],
    bus: PacketBus | None = None,
    quality: SamplerSetup | None = None,
    loop: ReadingLoop | None = None,
) -> None:
    """Blocking: read one session until it fails (raises SourceError) or `stop` is set (returns).

    With a `loop`, a light RTSP session is read by the loop's thread while nobody takes its packets, and
    by this thread (which meanwhile only waits) while somebody does."""
    try:
        info = source.open()
        if bus is not None:
            bus.info = info
        meter = SessionMeter(info, source, settings, emit, bus, quality)
        pollable = source if loop is not None and isinstance(source, Pollable) else None
        while not stop.is_set():
            if pollable is not None and loop is not None and not meter.realtime:
                pollable.blocking(False)
                if loop.serve(pollable, meter, stop):
                    return
                pollable.blocking(True)
            if not _read_here(source, meter, stop, leave_when_idle=pollable is not None):
                break  # the stream ended
    finally:
        source.close()
        if bus is not None:
            bus.forget_gop()
    if not stop.is_set():
        raise SourceError(Reason.ENDED, "the stream ended")


def _read_here(source: Source, meter: SessionMeter, stop: threading.Event, *, leave_when_idle: bool) -> bool:
    """Read in this thread until stopped (True), the stream ends (False), or, `leave_when_idle`, nobody
    takes the packets any more (True: the loop reads on)."""
    for packet in source.packets():
        if stop.is_set():
            return True
        nap = meter.take(packet)
        if leave_when_idle and not meter.realtime:
            return True
        if nap:
            stop.wait(nap)
    return False


@runtime_checkable
class Skimming(Protocol):
    """A source that can leave out the bytes of pictures other than keyframes (the light reader)."""

    skim: bool


@runtime_checkable
class Pollable(Protocol):
    """A source one thread can read among many (`gateway.pipeline.loop`): the light reader."""

    def poll(self) -> list[Packet]: ...
    def blocking(self, flag: bool) -> None: ...


class Reader(Protocol):
    async def run_session(
        self, camera: CameraConfig, session: int, on_snapshot: SnapshotFn, quality: SamplerSetup | None = None
    ) -> None:
        """Read one session; return when stopped, raise SourceError (or a secret error) when it fails."""
        ...

    def stop_session(self, camera_id: str) -> None: ...

    async def close(self) -> None: ...


class ThreadReader:
    """Each session in a daemon thread of this process (not the default executor, so that shutting
    down never waits on a socket stuck in a read). Right for small sites and for cameras whose
    packets are forwarded; past ~100 cameras one process spends its time handing the GIL around."""

    def __init__(
        self,
        settings: SupervisorConfig,
        buses: dict[str, PacketBus],
        source_factory: SourceFactory = rtsp_source_factory,
    ) -> None:
        self._settings = settings
        self._buses = buses
        self._source_factory = source_factory
        self._stops: dict[str, threading.Event] = {}
        self._threads: set[threading.Thread] = set()
        self._loop = ReadingLoop(settings.read_batch_s) if settings.read_batch_s > 0 else None

    async def run_session(
        self, camera: CameraConfig, session: int, on_snapshot: SnapshotFn, quality: SamplerSetup | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        stop = self._stops[camera.id] = threading.Event()

        def emit(measured: MeasuredStream, at: float) -> None:
            loop.call_soon_threadsafe(on_snapshot, session, measured, at)

        def target() -> None:
            source = self._source_factory(camera, self._settings)
            read_session(source, self._settings, stop, emit, self._buses.get(camera.id), quality, self._loop)

        await run_in_daemon_thread(target, name=f"camera-{camera.id}", track=self._threads)

    def stop_session(self, camera_id: str) -> None:
        stop = self._stops.get(camera_id)
        if stop is not None:
            stop.set()

    async def close(self) -> None:
        for stop in self._stops.values():
            stop.set()
        await join_threads(self._threads, CLOSE_WAIT_S)


class RoutedReader:
    """Cameras whose packets this process needs (analytics on the main stream; later forwarding and
    live view) are read in threads here; the others in worker processes."""

    def __init__(self, local: Reader, remote: Reader, local_ids: set[str]) -> None:
        self._local = local
        self._remote = remote
        self._local_ids = local_ids

    def _pick(self, camera_id: str) -> Reader:
        return self._local if camera_id in self._local_ids else self._remote

    async def run_session(
        self, camera: CameraConfig, session: int, on_snapshot: SnapshotFn, quality: SamplerSetup | None = None
    ) -> None:
        await self._pick(camera.id).run_session(camera, session, on_snapshot, quality)

    def stop_session(self, camera_id: str) -> None:
        self._pick(camera_id).stop_session(camera_id)

    async def close(self) -> None:
        await self._local.close()
        await self._remote.close()


def run_in_daemon_thread(
    fn: Callable[[], None], name: str, track: set[threading.Thread] | None = None
) -> asyncio.Future[None]:
    """Run `fn` in a new daemon thread; `track` holds the thread while it runs, for `join_threads`."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task, which decides
            loop.call_soon_threadsafe(_settle, future, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, None)
        finally:
            if track is not None:
                track.discard(threading.current_thread())

    thread = threading.Thread(target=target, name=name, daemon=True)
    if track is not None:
        track.add(thread)
    thread.start()
    return future


async def join_threads(threads: set[threading.Thread], within_s: float) -> list[str]:
    """Wait for `threads` to end, all within one deadline; the names of those still running."""
    deadline = time.monotonic() + within_s
    for thread in list(threads):
        await asyncio.to_thread(thread.join, max(0.0, deadline - time.monotonic()))
    return [t.name for t in list(threads) if t.is_alive()]


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)
