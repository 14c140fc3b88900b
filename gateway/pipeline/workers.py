"""Camera sessions read in worker processes, so that many cameras do not share one GIL.

Measured on the 2-core box: 200 streams in one process collapse (1.4 cores, reads fall behind),
the same 200 in two processes of 100 cost 0.44 cores. Each worker hosts a fixed share of the
cameras, reads them with the same `read_session` as the thread reader, and sends one snapshot a
second per camera and the end of each session back over a pipe. Supervisors, state, history and
the API stay in the main process. A worker that dies ends its sessions with a clear reason; the
supervisors retry and the pool starts a new worker.

Packets do not cross the pipe: cameras whose packets are needed in the main process (forwarding,
live view) belong in the thread reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import threading
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from adapters.rtsp import Reason, SourceError
from gateway.config import CameraConfig, SupervisorConfig
from gateway.errors import SecretUnavailableError
from gateway.health.state import MeasuredStream
from gateway.pipeline.readers import SnapshotFn, read_session
from gateway.quality.sampler import SamplerSetup
from gateway.streams.sources import SourceFactory, rtsp_source_factory

log = logging.getLogger(__name__)

# Messages, worker -> main: ("snap", camera_id, session, MeasuredStream, at)
#                           ("end", camera_id, session, reason value or None, detail)
# Messages, main -> worker:  ("start", CameraConfig, session) | ("stop", camera_id) | ("exit",)
_SECRET = "secret"  # noqa: S105 - a reason marker: credentials could not be read in the worker


def worker_main(conn: Connection, settings: SupervisorConfig, source_factory: SourceFactory) -> None:
    """Entry point of a worker process."""
    send_lock = threading.Lock()
    stops: dict[str, threading.Event] = {}

    def send(message: tuple[Any, ...]) -> None:
        # If the main process is gone, our threads end with this process anyway.
        with send_lock, contextlib.suppress(OSError, EOFError):
            conn.send(message)

    def session(camera: CameraConfig, number: int, stop: threading.Event, quality: SamplerSetup | None) -> None:
        reason: str | None = None
        detail = ""
        try:
            source = source_factory(camera, settings)
            read_session(source, settings, stop, lambda m, at: send(("snap", camera.id, number, m, at)), None, quality)
        except SourceError as exc:
            reason, detail = exc.reason.value, exc.detail
        except SecretUnavailableError as exc:
            reason, detail = _SECRET, str(exc)
        except Exception as exc:  # noqa: BLE001 - a reader bug must end one session, not the worker
            reason, detail = Reason.PROTOCOL.value, f"reader error: {type(exc).__name__}"
        send(("end", camera.id, number, reason, detail))

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
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: dict[str, _Pending] = field(default_factory=dict)

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
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._settings = settings
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
        if worker is not None and worker.process.is_alive():
            return worker
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=worker_main,
            args=(child, self._settings, self._source_factory),
            name=f"gateway-reader-{index}",
            daemon=True,
        )
        process.start()
        child.close()
        worker = _Worker(index, process, parent)
        self._workers[index] = worker
        threading.Thread(target=self._receive, args=(worker,), name=f"reader-{index}-rx", daemon=True).start()
        log.info("camera reader process %d started (pid %s)", index, process.pid)
        return worker

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
        if self._loop is not None and not self._closing:
            self._loop.call_soon_threadsafe(self._worker_died, worker)

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


def default_worker_count(cameras: int, per_worker: int) -> int:
    """No worker processes for small sites; otherwise enough that none hosts more than per_worker."""
    if cameras <= per_worker:
        return 0
    return -(-cameras // per_worker)
