"""Sender threads: the live viewers' aiortc connections run off the gateway's event loop.

aiortc packs and sends every RTP packet of a picture (SRTP, `sendto`) before its sender yields, so
on one loop a keyframe (~100 packets) to each of ten viewers queues the others' pictures, and the
API, the supervisors and the history behind them. Here each viewer's peer connection, track and
bus subscription are made on, and only ever driven by, the loop of one sender thread: the main loop
hands it work with `run` / `call` and never touches those objects itself.

A camera's viewers are served by threads of their own (`SenderPool.take`), at most
`threads_per_camera` for one camera (`live_view.sender_threads_per_camera`, two by default), the
least busy first; no thread serves two cameras, so one camera's keyframe never waits for
another's. A thread with no viewer left is stopped.

A thread that dies (its loop raised out of `run_forever`: a BaseException in a callback) is reported
to `on_died` on the main loop, which ends its viewers' sessions; the pool forgets it, so the next
viewer of that camera gets a new one. Nothing dies in silence, and no loop is driven by two threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

from gateway.config.liveview import SENDER_THREADS_PER_CAMERA

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a stopping thread may take to close what is left on its loop before it is given up on.
STOP_TIMEOUT_S: Final = 5.0

_ids = itertools.count(1)


class SenderThread:
    """A daemon thread running an asyncio loop of its own; `camera_id` is whose viewers it serves."""

    def __init__(self, camera_id: str, on_died: Callable[[SenderThread, BaseException | None], None]) -> None:
        self.camera_id = camera_id
        self.name = f"webrtc-{camera_id}-{next(_ids)}"
        self.loop = asyncio.new_event_loop()
        self.viewers = 0  # assigned by the pool, on the main loop
        self.error: BaseException | None = None
        # Called on this thread when its loop ends, stopped or dead (touched from this thread only).
        self.at_exit: set[Callable[[], object]] = set()
        self._on_died = on_died
        self._stopping = False
        # What `run` handed the loop and is not done: failed with SenderGoneError if the loop ends
        # first, so that nobody awaits a loop that will never run again.
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._pending_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    @property
    def ident(self) -> int | None:
        return self._thread.ident

    def run(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Run `coro` on this thread's loop; its result as a future of the calling loop."""
        try:
            future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError:  # the loop is closed: the thread died or stopped
            coro.close()
            raise SenderGoneError(self.name) from None
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return asyncio.wrap_future(future)

    def _done(self, future: concurrent.futures.Future[Any]) -> None:
        with self._pending_lock:
            self._pending.discard(future)

    def call(self, fn: Callable[..., object], *args: object) -> None:
        """Call `fn(*args)` on this thread's loop, soon; nothing if the thread is gone."""
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            log.debug("%s: gone, %s not called", self.name, getattr(fn, "__name__", fn))

    async def stop(self) -> None:
        """Stop the loop (what is left on it is cancelled) and wait for the thread, a bounded time."""
        self._stopping = True
        self.call(self.loop.stop)
        # Its own closing is bounded by STOP_TIMEOUT_S twice over (the tasks, the executor).
        await asyncio.to_thread(self._thread.join, 3 * STOP_TIMEOUT_S)
        if self._thread.is_alive():
            log.warning("%s: did not stop in time; left behind (a daemon thread)", self.name)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        except BaseException as exc:  # noqa: BLE001 - reported to on_died below, never lost
            self.error = exc
        finally:
            for fn in list(self.at_exit):
                try:
                    fn()
                except Exception:  # the next one must run all the same
                    log.exception("%s: at exit", self.name)
            self._close_loop()
            with self._pending_lock:
                left, self._pending = self._pending, set()
            for future in left:
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    future.set_exception(SenderGoneError(self.name))
            if not self._stopping:
                self._on_died(self, self.error)

    def _close_loop(self) -> None:
        # Cancel what is left (senders, ICE and RTCP timers) and let it unwind, bounded, so that no
        # socket or task outlives the loop. A crashed loop may not run again: then it is just closed.
        try:
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            if tasks:
                self.loop.run_until_complete(asyncio.wait(tasks, timeout=STOP_TIMEOUT_S))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
        except BaseException:  # closing a broken loop: the thread is ending either way
            log.exception("%s: its loop did not close cleanly", self.name)
        finally:
            self.loop.close()


class SenderGoneError(RuntimeError):
    """The sender thread a viewer was given is no longer running."""


class SenderPool:
    """The sender threads of every camera; used from the main loop only."""

    def __init__(
        self,
        on_died: Callable[[SenderThread, BaseException | None], None],
        threads_per_camera: int = SENDER_THREADS_PER_CAMERA,
    ) -> None:
        if threads_per_camera < 1:
            raise ValueError("threads_per_camera must be at least 1")
        self.threads_per_camera = threads_per_camera
        self._main: asyncio.AbstractEventLoop | None = None  # the loop that uses the pool, known at its first take
        self._on_died = on_died
        self._threads: dict[str, list[SenderThread]] = {}
        self.deaths = 0

    def take(self, camera_id: str) -> SenderThread:
        """A thread for one more viewer of `camera_id`: a new one while the camera has fewer than
        `threads_per_camera`, else its least busy. Give it back with :meth:`give_back`."""
        self._main = asyncio.get_running_loop()
        threads = self._threads.setdefault(camera_id, [])
        if len(threads) < self.threads_per_camera:
            thread = SenderThread(camera_id, self._died)
            threads.append(thread)
        else:
            thread = min(threads, key=lambda t: t.viewers)
        thread.viewers += 1
        return thread

    async def give_back(self, thread: SenderThread) -> None:
        """One viewer of `thread` is gone (its connection closed on that thread); a thread with no
        viewer left is stopped."""
        thread.viewers -= 1
        if thread.viewers > 0:
            return
        self._forget(thread)
        await thread.stop()

    def threads(self, camera_id: str | None = None) -> list[SenderThread]:
        if camera_id is not None:
            return list(self._threads.get(camera_id, ()))
        return [t for threads in self._threads.values() for t in threads]

    async def stop(self) -> None:
        threads = self.threads()
        self._threads.clear()
        await asyncio.gather(*(t.stop() for t in threads))

    def _forget(self, thread: SenderThread) -> None:
        threads = self._threads.get(thread.camera_id, [])
        if thread in threads:
            threads.remove(thread)
        if not threads:
            self._threads.pop(thread.camera_id, None)

    def _died(self, thread: SenderThread, error: BaseException | None) -> None:
        """Called on the dying thread: the rest happens on the main loop."""
        if self._main is None:
            return
        with contextlib.suppress(RuntimeError):  # the main loop is closed: the gateway is gone too
            self._main.call_soon_threadsafe(self._report, thread, error)

    def _report(self, thread: SenderThread, error: BaseException | None) -> None:
        self.deaths += 1
        self._forget(thread)
        log.error(
            "live view: sender thread %s of camera %s died (%r); its %d viewer(s) are ended",
            thread.name,
            thread.camera_id,
            error,
            thread.viewers,
        )
        self._on_died(thread, error)
