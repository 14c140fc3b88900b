"""Camera sessions read in worker processes, so that many cameras do not share one GIL.

Measured on the 2-core box: 200 streams in one process collapse (1.4 cores, reads fall behind),
the same 200 in two processes of 100 cost 0.44 cores. Each worker hosts a fixed share of the
cameras, reads them with the same `read_session` as the thread reader, and sends one snapshot a
second per camera and the end of each session back over a pipe. Supervisors, state, history and
the API stay in the main process. A worker that dies ends its sessions with a clear reason; the
supervisors retry and the pool starts a new worker.

A camera read here can still be viewed or forwarded without a second RTSP session: the main process
*taps* it (:meth:`ProcessReader.tap`), and while tapped the worker sends the camera's packets over the
worker's packet pipe (one per worker, beside its control pipe), which the main process publishes on the
camera's bus. No camera's reading thread ever waits for packets to cross: each tap has its own thread
and a bounded queue that drops its oldest packets, and a full packet pipe holds up only the taps,
never the snapshots and session ends on the control pipe. A camera nobody taps costs what it did
before. Why a pipe and not shared memory or moving the
camera: docs/architecture.md, "Packets of a camera read by a worker" (measured by
benchmarks/bench_worker_tap.py). Analytics on the main stream still reads its cameras here in the main
process: it decodes every frame it samples, and a continuous tap would cost more than reading there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from adapters.common.media import Packet
from adapters.rtsp import Reason, SourceError
from gateway.config import CameraConfig, SupervisorConfig
from gateway.errors import SecretUnavailableError
from gateway.health.state import MeasuredStream
from gateway.pipeline.bus import GOP_CACHE_BYTES, BlockingSubscription, PacketBus
from gateway.pipeline.heap import keep_heap_small, start_trimming
from gateway.pipeline.loop import ReadingLoop
from gateway.pipeline.readers import SnapshotFn, read_session
from gateway.quality.sampler import SamplerSetup
from gateway.streams.sources import SourceFactory, rtsp_source_factory

log = logging.getLogger(__name__)

# Control pipe, worker -> main: ("snap", camera_id, session, MeasuredStream, at)
#                                ("end", camera_id, session, reason value or None, detail)
# Control pipe, main -> worker:  ("start", CameraConfig, session, SamplerSetup) | ("stop", camera_id)
#                                ("tap", camera_id) | ("untap", camera_id) | ("exit",)
#                                ("tap_audio", camera_id, bool): the tap carries the camera's sound too
# Packet pipe, worker -> main:   ("info", camera_id, StreamInfo) | ("pkt", camera_id, Packet)  (tapped only)
_SECRET = "secret"  # noqa: S105 - a reason marker: credentials could not be read in the worker
# Packets a tapped camera may have waiting for the pipe before the oldest are dropped: about four
# seconds of a 25 fps stream, enough to ride out a busy main process without holding up the reader.
TAP_QUEUE = 100
TAP_POLL_S = 0.5


def worker_main(
    conn: Connection,
    packets: Connection,
    settings: SupervisorConfig,
    source_factory: SourceFactory,
    gop_cameras: frozenset[str] = frozenset(),
) -> None:
    """Entry point of a worker process. The buses of `gop_cameras` keep their group of pictures, so that
    a tap starts with it (see PacketBus)."""
    keep_heap_small()  # before the reading threads start
    start_trimming()
    loop = ReadingLoop(settings.read_batch_s, "reading-loop") if settings.read_batch_s > 0 else None
    send_lock = threading.Lock()
    packet_lock = threading.Lock()
    stops: dict[str, threading.Event] = {}
    # One bus per camera for the worker's life, so that a tap outlives the camera's reconnections.
    buses: dict[str, PacketBus] = {}

    def bus_of(camera_id: str) -> PacketBus:
        bus = buses.get(camera_id)
        if bus is None:
            bus = buses[camera_id] = PacketBus(camera_id, GOP_CACHE_BYTES if camera_id in gop_cameras else 0)
        return bus

    taps: dict[str, threading.Event] = {}
    # Tapped cameras whose sound crosses too, and the taps' subscriptions (to switch it while they run).
    tap_audio: set[str] = set()
    tap_subs: dict[str, BlockingSubscription] = {}

    def send(message: tuple[Any, ...]) -> None:
        # If the main process is gone, our threads end with this process anyway.
        with send_lock, contextlib.suppress(OSError, EOFError):
            conn.send(message)

    def send_packet(message: tuple[Any, ...]) -> None:
        with packet_lock, contextlib.suppress(OSError, EOFError):
            packets.send(message)

    def session(camera: CameraConfig, number: int, stop: threading.Event, quality: SamplerSetup | None) -> None:
        reason: str | None = None
        detail = ""
        try:
            source = source_factory(camera, settings)
            bus = bus_of(camera.id)

            def emit(measured: MeasuredStream, at: float) -> None:
                send(("snap", camera.id, number, measured, at))

            read_session(source, settings, stop, emit, bus, quality, loop)
        except SourceError as exc:
            reason, detail = exc.reason.value, exc.detail
        except SecretUnavailableError as exc:
            reason, detail = _SECRET, str(exc)
        except Exception as exc:  # noqa: BLE001 - a reader bug must end one session, not the worker
            reason, detail = Reason.PROTOCOL.value, f"reader error: {type(exc).__name__}"
        send(("end", camera.id, number, reason, detail))

    def tap(camera_id: str, untapped: threading.Event) -> None:
        """Send the camera's packets to the main process until untapped (a thread per tapped camera)."""
        bus = bus_of(camera_id)
        sub = bus.subscribe_blocking("tap", TAP_QUEUE, audio=camera_id in tap_audio, gop=True)
        tap_subs[camera_id] = sub
        sub.audio = camera_id in tap_audio  # a "tap_audio" handled while subscribing
        sent_info = None
        try:
            while not untapped.is_set():
                packet: Packet | None = sub.get(TAP_POLL_S)
                info = bus.info
                # The stream's parameters first, again after each reconnection (a camera may change them).
                if info is not None and info is not sent_info:
                    send_packet(("info", camera_id, info))
                    sent_info = info
                if packet is not None:
                    send_packet(("pkt", camera_id, packet))
        finally:
            if tap_subs.get(camera_id) is sub:
                del tap_subs[camera_id]
            sub.close()

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] == "start":
            camera, number, quality = message[1], message[2], message[3]
            stop = stops[camera.id] = threading.Event()
            threading.Thread(
                target=session, args=(camera, number, stop, quality), name=f"camera-{camera.id}", daemon=True
            ).start()
        elif message[0] == "stop":
            if (stop_event := stops.get(message[1])) is not None:
                stop_event.set()
        elif message[0] == "tap":
            if message[1] not in taps:
                untapped = taps[message[1]] = threading.Event()
                threading.Thread(target=tap, args=(message[1], untapped), name=f"tap-{message[1]}", daemon=True).start()
        elif message[0] == "untap":
            tap_audio.discard(message[1])
            if (ended := taps.pop(message[1], None)) is not None:
                ended.set()
        elif message[0] == "tap_audio":
            (tap_audio.add if message[2] else tap_audio.discard)(message[1])
            if (running := tap_subs.get(message[1])) is not None:
                running.audio = message[2]
        elif message[0] == "exit":
            for stop_event in stops.values():
                stop_event.set()
            return


@dataclass
class _Pending:
    session: int
    future: asyncio.Future[None]
    on_snapshot: SnapshotFn


@dataclass
class _Worker:
    index: int
    process: multiprocessing.process.BaseProcess
    conn: Connection
    packets: Connection  # the receiving end of the worker's packet pipe (taps)
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: dict[str, _Pending] = field(default_factory=dict)
    # Set when its control pipe ends. The kernel closes a killed process's pipes before the process
    # can be reaped, so is_alive() may still say True for a moment after its sessions were failed.
    gone: bool = False

    def send(self, message: tuple[Any, ...]) -> bool:
        with self.send_lock:
            try:
                self.conn.send(message)
            except (OSError, EOFError, BrokenPipeError):
                return False
        return True


class ProcessReader:
    """Reads cameras in `workers` processes; camera i goes to worker hash(camera id) % workers."""

    def __init__(
        self,
        settings: SupervisorConfig,
        camera_ids: list[str],
        workers: int,
        source_factory: SourceFactory = rtsp_source_factory,
        buses: Mapping[str, PacketBus] | None = None,
        gop_cameras: frozenset[str] = frozenset(),
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._settings = settings
        self._gop_cameras = gop_cameras
        # Where a tapped camera's packets are published in this process.
        self._buses: Mapping[str, PacketBus] = buses if buses is not None else {}
        self._tapped: set[str] = set()
        self._tap_audio: set[str] = set()  # tapped cameras whose sound crosses too
        self._ready: dict[str, Callable[[], None]] = {}
        self._source_factory = source_factory
        self._placement = {cid: i % workers for i, cid in enumerate(sorted(camera_ids))}
        self._count = workers
        self._workers: dict[int, _Worker] = {}
        # spawn, not fork: the main process has threads, and forking those is unsafe.
        self._ctx = multiprocessing.get_context("spawn")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    def _worker(self, index: int) -> _Worker:
        worker = self._workers.get(index)
        if worker is not None and not worker.gone and worker.process.is_alive():
            return worker
        if worker is not None and worker.process.is_alive():
            worker.process.kill()  # its pipe is gone: whatever is left of it serves no one
        parent, child = self._ctx.Pipe()
        packets_in, packets_out = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=worker_main,
            args=(child, packets_out, self._settings, self._source_factory, self._gop_cameras),
            name=f"gateway-reader-{index}",
            daemon=True,
        )
        process.start()
        child.close()
        packets_out.close()
        worker = _Worker(index, process, parent, packets_in)
        self._workers[index] = worker
        threading.Thread(target=self._receive, args=(worker,), name=f"reader-{index}-rx", daemon=True).start()
        threading.Thread(target=self._receive_packets, args=(worker,), name=f"reader-{index}-pkt", daemon=True).start()
        log.info("camera reader process %d started (pid %s)", index, process.pid)
        # A worker started again after a crash taps what its predecessor was tapping.
        for camera_id in sorted(self._tapped):
            if self._placement[camera_id] == index:
                worker.send(("tap", camera_id))
                if camera_id in self._tap_audio:
                    worker.send(("tap_audio", camera_id, True))
        return worker

    def reads(self, camera_id: str) -> bool:
        """Whether a worker process reads this camera (and so can tap it)."""
        return camera_id in self._placement and camera_id in self._buses

    def tap(self, camera_id: str, ready: Callable[[], None]) -> None:
        """Have the camera's worker send its packets here, onto the camera's bus, until :meth:`untap`.
        Call from the event loop. The bus's ``info`` is cleared, then set by the worker's first message
        (the current session's parameters), and ``ready()`` is called on the loop when it is."""
        if not self.reads(camera_id) or camera_id in self._tapped:
            return
        self._loop = asyncio.get_running_loop()
        self._ready[camera_id] = ready
        self._tapped.add(camera_id)
        self._buses[camera_id].info = None
        worker = self._workers.get(self._placement[camera_id])
        if worker is not None and worker.process.is_alive():
            worker.send(("tap", camera_id))
        # else: the worker is (re)started by the camera's next session, which sends the tap

    def tap_audio(self, camera_id: str, wanted: bool) -> None:
        """Whether the tapped camera's sound crosses too: only while a consumer here takes it, so that a
        viewer of the video alone costs what it did before."""
        if camera_id not in self._tapped or (camera_id in self._tap_audio) == wanted:
            return
        (self._tap_audio.add if wanted else self._tap_audio.discard)(camera_id)
        worker = self._workers.get(self._placement[camera_id])
        if worker is not None and worker.process.is_alive():
            worker.send(("tap_audio", camera_id, wanted))

    def untap(self, camera_id: str) -> None:
        if camera_id not in self._tapped:
            return
        self._tapped.discard(camera_id)
        self._tap_audio.discard(camera_id)
        self._ready.pop(camera_id, None)
        worker = self._workers.get(self._placement[camera_id])
        if worker is not None:
            worker.send(("untap", camera_id))

    async def run_session(
        self, camera: CameraConfig, session: int, on_snapshot: SnapshotFn, quality: SamplerSetup | None = None
    ) -> None:
        self._loop = asyncio.get_running_loop()
        worker = self._worker(self._placement[camera.id])
        future: asyncio.Future[None] = self._loop.create_future()
        worker.sessions[camera.id] = _Pending(session, future, on_snapshot)
        if not worker.send(("start", camera, session, quality)):
            worker.sessions.pop(camera.id, None)
            raise SourceError(Reason.PROTOCOL, "camera reader process is not running")
        await future

    def stop_session(self, camera_id: str) -> None:
        worker = self._workers.get(self._placement.get(camera_id, -1))
        if worker is not None:
            worker.send(("stop", camera_id))

    async def close(self) -> None:
        self._closing = True
        for worker in self._workers.values():
            worker.send(("exit",))
        for worker in self._workers.values():
            await asyncio.get_running_loop().run_in_executor(None, worker.process.join, 5)
            if worker.process.is_alive():
                worker.process.kill()
            worker.conn.close()

    def _receive(self, worker: _Worker) -> None:
        """Runs in a thread per worker: hand each message to the event loop."""
        while True:
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                break
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._dispatch, worker, message)
        worker.gone = True  # before the loop hears of it: the next session must start a new worker
        if self._loop is not None and not self._closing:
            self._loop.call_soon_threadsafe(self._worker_died, worker)

    def _receive_packets(self, worker: _Worker) -> None:
        """Runs in a thread per worker: tapped cameras' packets straight onto their buses (publishing is
        thread-safe and never blocks); a loop callback per packet would make the event loop carry the
        video."""
        while True:
            try:
                kind, camera_id, payload = worker.packets.recv()
            except (EOFError, OSError):
                with contextlib.suppress(OSError):
                    worker.packets.close()  # the worker is gone (or closing): free the descriptor
                return
            if camera_id not in self._tapped:
                continue  # in flight when the tap ended
            if kind == "pkt":
                self._buses[camera_id].publish(payload)
            elif kind == "info":
                self._buses[camera_id].info = payload
                ready = self._ready.get(camera_id)
                if ready is not None and self._loop is not None:
                    self._loop.call_soon_threadsafe(ready)

    def _dispatch(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind, camera_id, session = message[0], message[1], message[2]
        pending = worker.sessions.get(camera_id)
        if pending is None or pending.session != session:
            return  # a message from a session that has already ended
        if kind == "snap":
            measured: MeasuredStream = message[3]
            pending.on_snapshot(session, measured, message[4])
            return
        worker.sessions.pop(camera_id, None)
        reason, detail = message[3], message[4]
        if pending.future.done():
            return
        if reason is None:
            pending.future.set_result(None)
        elif reason == _SECRET:
            pending.future.set_exception(SecretUnavailableError(detail))
        else:
            pending.future.set_exception(SourceError(Reason(reason), detail))

    def _worker_died(self, worker: _Worker) -> None:
        code = worker.process.exitcode
        log.error("camera reader process %d ended (exit code %s); its cameras will reconnect", worker.index, code)
        for pending in worker.sessions.values():
            if not pending.future.done():
                pending.future.set_exception(SourceError(Reason.PROTOCOL, "camera reader process died"))
        worker.sessions.clear()


# Up to this many cameras a site is read in the main process: a worker process costs ~120 MB of its
# own, and a few dozen reading threads leave the main process's event loop responsive.
SMALL_SITE = 50


def default_worker_count(cameras: int, per_worker: int) -> int:
    """No worker processes for a small site; otherwise enough that none hosts more than per_worker."""
    if cameras <= SMALL_SITE:
        return 0
    return -(-cameras // per_worker)
