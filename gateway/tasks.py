"""The watchdog: every long-lived task and thread of the gateway runs under it.

A part that raises, or returns while the gateway is still running, is logged (once per distinct
reason, with the traceback the first time), counted, shown (`GET /api/v1/gateway/parts`, `/metrics`,
and `parts_down` in `/healthz`) and started again after a backoff that doubles up to
RESTART_MAX_S. Nothing that keeps the gateway's promises (reading cameras, storing history,
forwarding) may die in silence; a part that keeps failing stays visible as down, with its reason.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

RESTART_MIN_S = 1.0
RESTART_MAX_S = 60.0
# A part that ran this long before failing starts again at the shortest delay.
HEALTHY_AFTER_S = 60.0


@dataclass
class Part:
    name: str
    kind: str  # "task" or "thread"
    running: bool = False
    restarts: int = 0
    last_failure: str | None = None
    last_failure_at: float | None = None
    down_since: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "running": self.running,
            "restarts": self.restarts,
            "last_failure": self.last_failure,
            "last_failure_at": self.last_failure_at,
            "down_since": self.down_since,
        }


class Watchdog:
    def __init__(self) -> None:
        self._parts: dict[str, Part] = {}
        self._lock = threading.Lock()
        self._logged: set[tuple[str, str]] = set()

    # -- asyncio tasks -----------------------------------------------------------------------------

    def task(
        self,
        name: str,
        factory: Callable[[], Coroutine[Any, Any, None]],
        *,
        finished: Callable[[], bool] = lambda: False,
    ) -> asyncio.Task[None]:
        """Run factory() as a task, and again whenever it fails, or returns while finished() is false,
        until the task is cancelled."""
        part = self._register(name, "task")
        return asyncio.create_task(self._keep_task(part, factory, finished), name=name)

    async def _keep_task(
        self, part: Part, factory: Callable[[], Coroutine[Any, Any, None]], finished: Callable[[], bool]
    ) -> None:
        delay = RESTART_MIN_S
        while True:
            part.running, part.down_since = True, None
            started = time.monotonic()
            try:
                await factory()
                failure: BaseException | None = None
            except asyncio.CancelledError:
                part.running = False
                raise
            except Exception as exc:  # noqa: BLE001 - logged in _failed; the part starts again
                failure = exc
            if failure is None and finished():
                part.running = False
                return
            delay = RESTART_MIN_S if time.monotonic() - started > HEALTHY_AFTER_S else delay
            self._failed(part, failure, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX_S)

    # -- threads -----------------------------------------------------------------------------------

    def thread(self, name: str, target: Callable[[], None], stop: threading.Event) -> threading.Thread:
        """Start a daemon thread running target(), and again whenever it fails or returns before stop is set."""
        part = self._register(name, "thread")
        thread = threading.Thread(target=self._keep_thread, args=(part, target, stop), name=name, daemon=True)
        thread.start()
        return thread

    def _keep_thread(self, part: Part, target: Callable[[], None], stop: threading.Event) -> None:
        delay = RESTART_MIN_S
        while not stop.is_set():
            part.running, part.down_since = True, None
            started = time.monotonic()
            try:
                target()
                failure: BaseException | None = None
            except Exception as exc:  # noqa: BLE001 - logged in _failed; the part starts again
                failure = exc
            if stop.is_set():
                break
            delay = RESTART_MIN_S if time.monotonic() - started > HEALTHY_AFTER_S else delay
            self._failed(part, failure, delay)
            stop.wait(delay)
            delay = min(delay * 2, RESTART_MAX_S)
        part.running = False

    # -- what they report --------------------------------------------------------------------------

    def _register(self, name: str, kind: str) -> Part:
        with self._lock:
            part = self._parts.get(name)
            if part is None:
                part = self._parts[name] = Part(name, kind)
            return part

    def _failed(self, part: Part, exc: BaseException | None, delay: float) -> None:
        reason = "ended unexpectedly" if exc is None else f"{type(exc).__name__}: {exc}"[:300]
        now = time.time()
        with self._lock:
            part.running = False
            part.restarts += 1
            part.last_failure, part.last_failure_at, part.down_since = reason, now, now
            first = (part.name, reason) not in self._logged
            self._logged.add((part.name, reason))
        if first:
            log.error(
                "%s %s failed: %s; starting it again in %.0f s", part.kind, part.name, reason, delay, exc_info=exc
            )
        else:
            log.warning("%s %s failed again (%d restarts): %s", part.kind, part.name, part.restarts, reason)

    def noted(self, name: str, kind: str, exc: BaseException | None) -> None:
        """One of a part's own threads died, and the part made a new one itself (the live view's sender
        threads: the next viewer gets a new thread). Counted and shown as the watchdog's own restarts
        are; logged by the part. The part is listed from its first failure on."""
        reason = "ended unexpectedly" if exc is None else f"{type(exc).__name__}: {exc}"[:300]
        part = self._register(name, kind)
        with self._lock:
            part.running = True
            part.restarts += 1
            part.last_failure, part.last_failure_at = reason, time.time()

    def forget(self, name: str) -> None:
        """Stop listing a part whose task was cancelled for good (an ended GA/T 1400 subscription)."""
        with self._lock:
            self._parts.pop(name, None)

    def parts(self) -> list[Part]:
        with self._lock:
            return sorted(self._parts.values(), key=lambda p: p.name)

    def down(self) -> list[Part]:
        return [p for p in self.parts() if p.down_since is not None]
