"""One thread that reads every monitored camera of a process: the reading loop.

A thread per camera spent most of its CPU not reading but taking turns: woken twice a second, each
of 250 threads in a process took the GIL back after its `recv` against all the others, and CPython put
a `poll` before every `recv` of a socket with a timeout (measured: 250 sessions cost 0.23 cores on a
thread each, 0.12 on one thread; docs/benchmarks.md, "A light stream reader"). So a process's light
RTSP sessions that nobody views or forwards are read here, all of them every `interval_s`, without
waiting on any socket (`poll()` reads what has arrived). The sessions' own threads meanwhile only wait
for their session to end, and take it back when somebody wants its packets as they come (a viewer, a
platform): those are read packet by packet on their thread, as before.

A session that fails here ends with its SourceError on its own thread, as if it had read there. If
the loop's thread itself dies (a bug), every session it held ends with an error naming it, and the
next one starts a new thread: nothing waits forever, nothing dies in silence.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Final, Protocol

from adapters.common.media import Packet
from adapters.rtsp import Reason, SourceError

log = logging.getLogger(__name__)

# How often a waiting session thread checks that the loop's thread is still there.
_ALIVE_CHECK_S: Final = 1.0


class PolledSource(Protocol):
    def poll(self) -> list[Packet]: ...


class Meter(Protocol):
    @property
    def realtime(self) -> bool: ...

    def take(self, packet: Packet) -> float: ...


@dataclass(eq=False)
class _Entry:
    source: PolledSource
    meter: Meter
    stop: threading.Event
    done: threading.Event = field(default_factory=threading.Event)
    stopped: bool = False  # how it ended: stopped (True), or handed back to its thread (False)
    error: BaseException | None = None


class ReadingLoop:
    """Reads the sessions handed to it with `serve`, all in one thread, every `interval_s` seconds."""

    def __init__(self, interval_s: float, name: str = "reading-loop") -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
        self.name = name
        self._entries: list[_Entry] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.deaths = 0

    def serve(self, source: PolledSource, meter: Meter, stop: threading.Event) -> bool:
        """Blocking, on the session's thread: read `source` in the loop until `stop` is set (True), or
        somebody wants its packets as they come (False: read them on this thread now). Its failures are
        raised here."""
        entry = _Entry(source, meter, stop)
        with self._lock:
            self._entries.append(entry)
            thread = self._thread
            if thread is None or not thread.is_alive():
                thread = self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                thread.start()
        while not entry.done.wait(_ALIVE_CHECK_S):
            if not thread.is_alive():
                self._drop(entry)
                raise SourceError(Reason.PROTOCOL, "reader error: the reading loop ended")
        if entry.error is not None:
            raise entry.error
        return entry.stopped

    def sessions(self) -> int:
        with self._lock:
            return len(self._entries)

    def _run(self) -> None:
        try:
            while True:
                started = time.monotonic()
                with self._lock:
                    entries = list(self._entries)
                    if not entries:
                        # Nobody to read: the thread ends, and the next session starts a new one.
                        self._thread = None
                        return
                for entry in entries:
                    self._read(entry)
                time.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))
        except BaseException as exc:  # every session it held is told, below
            self.deaths += 1
            log.exception("%s: died; its sessions end", self.name)
            with self._lock:
                entries, self._entries = self._entries, []
                self._thread = None
            detail = f"reader error: the reading loop died ({type(exc).__name__})"
            for entry in entries:
                entry.error = SourceError(Reason.PROTOCOL, detail)
                entry.done.set()

    def _read(self, entry: _Entry) -> None:
        try:
            if entry.stop.is_set():
                self._finish(entry, stopped=True)
                return
            meter = entry.meter
            for packet in entry.source.poll():
                meter.take(packet)  # its naps are the loop's interval
                if entry.stop.is_set():
                    self._finish(entry, stopped=True)
                    return
            if meter.realtime:
                self._finish(entry, stopped=False)
        except Exception as exc:  # noqa: BLE001 - the session's failure, raised on its own thread
            entry.error = exc
            self._finish(entry, stopped=False)

    def _finish(self, entry: _Entry, *, stopped: bool) -> None:
        self._drop(entry)
        entry.stopped = stopped
        entry.done.set()

    def _drop(self, entry: _Entry) -> None:
        with self._lock:
            if entry in self._entries:
                self._entries.remove(entry)
