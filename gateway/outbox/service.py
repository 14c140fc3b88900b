"""The durable outbox: every message for an MQTT broker, a webhook or a view library is stored
before it is sent, and each destination works through its own backlog, in order, at its own pace.

* One writer task stores messages: camera states and health handed over in memory, and detection
  events read from the events table past a cursor (so an event stored just before a crash is sent
  after it). While storage cannot be written (disk full) the writer holds up to
  `outbox.memory_buffer` messages in memory, reports `storage: failed` and retries; past the
  buffer the oldest are dropped and counted.
* One dispatcher task per destination hands it batches in message order (hence in order per
  camera). A message is removed when the destination confirms it, refused for good ("rejected",
  counted and logged) or expired (stale health figures). Anything else is a transient failure: the
  same message is tried again after an exponential backoff capped at `outbox.retry_max_s`, sooner
  when the destination reconnects.
* Retention bounds the tables: beyond `outbox.max_messages` or `outbox.max_age_days` the oldest
  undelivered messages are dropped, and the loss is counted per destination, logged as an error
  and shown in the API and metrics.
* Destinations may come and go while it runs (the subscriptions a GA/T 1400 platform makes and
  cancels): `add_destination` and `remove_destination`. A destination id "<owner>:<name>" belongs to
  the destination <owner>, which manages it; its backlog survives restarts as long as <owner> is
  configured, and status() lists it under its owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError

from gateway.analytics.events import Event
from gateway.config import GatewayConfig
from gateway.config.outbox import Gat1400Uplink, MqttUplink, WebhookUplink
from gateway.health.state import CameraStatus
from gateway.outbox.messages import event_message, health_message, state_messages
from gateway.outbox.store import EVENTS_BATCH, Counters, NewMessage, OutboxMessage, OutboxStore, Route
from gateway.tasks import Watchdog

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 60.0
STORAGE_RETRY_S = 2.0
STOP_WAIT_S = 5.0
EVENTS_POLL_S = 2.0  # events stored while no listener was told (before start) are found this way


@dataclass
class DeliveryReport:
    """What a destination did with a batch, in message order: a confirmed prefix (with refusals
    among it), and, when it stopped early, why."""

    delivered: list[int] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    failure: str | None = None


SUB_SEPARATOR = ":"  # "<owner>:<name>": a destination another one manages (config ids are slugs, without ':')


def owner_of(destination: str) -> str | None:
    owner, sep, _name = destination.partition(SUB_SEPARATOR)
    return owner if sep else None


class Destination(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def connected(self) -> bool: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def deliver(self, messages: Sequence[OutboxMessage]) -> DeliveryReport: ...


def route_of(dest: MqttUplink | WebhookUplink | Gat1400Uplink) -> Route:
    return Route(
        destination=dest.id,
        kinds=frozenset(dest.kinds),
        cameras=None if dest.cameras == "all" else frozenset(dest.cameras),
        event_kinds=None if dest.event_kinds is None else frozenset(dest.event_kinds),
    )


@dataclass
class _DispatchState:
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    last_error: str | None = None
    last_error_at: float | None = None
    next_attempt_at: float | None = None
    failures: int = 0  # transient failures in a row


def _storage_reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", exc))
    if "full" in text.lower() or getattr(getattr(exc, "orig", None), "errno", None) == errno.ENOSPC:
        return "disk full"
    return text.splitlines()[0][:200] if text else type(exc).__name__


class Outbox:
    def __init__(
        self,
        config: GatewayConfig,
        store: OutboxStore,
        destinations: Sequence[Destination],
        routes: Sequence[Route],
        *,
        watchdog: Watchdog | None = None,
    ) -> None:
        self._watchdog = watchdog or Watchdog()
        self._config = config
        self._settings = config.uplinks.outbox
        self._site = config.site.id
        self.store = store
        self.destinations = list(destinations)
        self.routes = list(routes)
        # (sequence, message), appended and removed on the event loop thread only.
        self._pending: deque[tuple[int, NewMessage]] = deque()
        self._seq = 0
        self._wake = asyncio.Event()
        self._dispatch = {d.id: _DispatchState() for d in self.destinations}
        self._tasks: list[asyncio.Task[None]] = []
        self._dispatchers: dict[str, asyncio.Task[None]] = {}
        self._running = False
        # Held while messages are written with the current routes: removing a destination takes it,
        # so no delivery row for that destination can be written after its backlog was dropped.
        self._write_lock = asyncio.Lock()
        self.storage_error: str | None = None
        self.storage_failed_since: float | None = None
        self.memory_dropped = 0
        self._kinds = frozenset(k for r in self.routes for k in r.kinds)
        self._backlog: dict[str, tuple[int, float | None]] = {}
        self._counters: dict[str, Counters] = {}
        # Set by the runtime: every camera's current status, for the periodic health messages.
        self.health_source: Callable[[], list[CameraStatus]] | None = None
        self._stopping = False

    @property
    def enabled(self) -> bool:
        return bool(self.destinations)

    def wants(self, kind: str) -> bool:
        return kind in self._kinds

    # -- producers (event loop thread) -------------------------------------------------------------

    def publish(self, messages: Sequence[NewMessage]) -> None:
        if not self.enabled:
            return
        for message in messages:
            if len(self._pending) >= self._settings.memory_buffer:
                self._pending.popleft()
                self.memory_dropped += 1
                if self.memory_dropped == 1 or self.memory_dropped % 1000 == 0:
                    log.error(
                        "outbox: storage has failed (%s) and %d message(s) waited in memory: dropped the "
                        "oldest (%d so far)",
                        self.storage_error,
                        self._settings.memory_buffer,
                        self.memory_dropped,
                    )
            self._seq += 1
            self._pending.append((self._seq, message))
        self._wake.set()

    def camera_changed(self, status: CameraStatus, previous: CameraStatus | None) -> None:
        """A HealthTracker listener."""
        if self.wants("state") or self.wants("quality"):
            self.publish(state_messages(status, previous))

    def wake(self) -> None:
        """Write and read now rather than at the next poll (an owner has put its routes back)."""
        self._wake.set()

    def event_stored(self, _event: Event) -> None:
        """An analytics listener: the event is in the events table; read it from there."""
        if self.wants("event"):
            self._wake.set()

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if not self.enabled:
            return
        try:
            await asyncio.to_thread(self.store.start_events_cursor)
            # Owners keep their destinations' backlogs (they may add them back only once they started).
            removed = await asyncio.to_thread(self.store.forget_destinations, [d.id for d in self.destinations])
            if removed:
                log.warning("outbox: dropped %d undelivered message(s) of destinations no longer configured", removed)
            await self._refresh()
        except SQLAlchemyError as exc:
            self._storage_failed(exc)
        for dest in list(self.destinations):
            await dest.start()
        self._running = True
        for dest in list(self.destinations):
            self._spawn_dispatcher(dest)
        self._tasks.append(self._task("outbox-writer", self._writer))
        self._tasks.append(self._task("outbox-retention", self._housekeeping))
        if self.wants("health"):
            self._tasks.append(self._task("outbox-health", self._health_loop))
        self._wake.set()

    def _task(self, name: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> asyncio.Task[None]:
        return self._watchdog.task(name, factory, finished=lambda: self._stopping)

    def _spawn_dispatcher(self, dest: Destination) -> None:
        if self._stopping or dest.id in self._dispatchers:
            return
        self._dispatchers[dest.id] = self._task(f"outbox-{dest.id}", functools.partial(self._dispatcher, dest))

    # -- destinations that come and go -------------------------------------------------------------

    async def add_destination(self, dest: Destination, route: Route) -> None:
        """Take a destination while running (or before start): it gets messages written from now on
        that its route wants, and its backlog from before, if it had one under the same id."""
        if any(d.id == dest.id for d in self.destinations):
            raise ValueError(f"outbox: destination {dest.id} exists already")
        self.destinations.append(dest)
        self._dispatch[dest.id] = _DispatchState()
        self._set_routes([*self.routes, route])
        await dest.start()
        if self._running:
            self._spawn_dispatcher(dest)
            self._wake.set()

    def set_route(self, route: Route) -> None:
        """Change what a destination takes from the next message written on."""
        self._set_routes([route if r.destination == route.destination else r for r in self.routes])

    async def remove_destination(self, dest_id: str) -> int:
        """Stop a destination for good and drop its backlog, counted as dropped; return how many."""
        async with self._write_lock:
            self._set_routes([r for r in self.routes if r.destination != dest_id])
        task = self._dispatchers.pop(dest_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._watchdog.forget(f"outbox-{dest_id}")
        dest = next((d for d in self.destinations if d.id == dest_id), None)
        self.destinations = [d for d in self.destinations if d.id != dest_id]
        self._dispatch.pop(dest_id, None)
        if dest is not None:
            try:
                await dest.stop()
            except Exception:  # its trouble must not keep its backlog from being dropped
                log.exception("outbox: stopping %s failed", dest_id)
        dropped = await asyncio.to_thread(self.store.drop_destination, dest_id)
        with contextlib.suppress(SQLAlchemyError):
            await self._refresh()
        return dropped

    def _routes_ready(self) -> bool:
        """Whether every owner has put back the destinations it manages: until then events stay
        unread, or one stored while the gateway was down would pass before its subscriber is back."""
        return all(getattr(d, "routes_ready", True) for d in self.destinations)

    def _set_routes(self, routes: list[Route]) -> None:
        # A new list each time: a write running in its thread keeps the list it was handed.
        self.routes = routes
        self._kinds = frozenset(k for r in routes for k in r.kinds)

    async def stop(self) -> None:
        self._stopping = True
        tasks, self._tasks = [*self._tasks, *self._dispatchers.values()], []
        self._dispatchers = {}
        for _ in range(3):
            for task in tasks:
                task.cancel()
            # Bounded: a cancellation swallowed somewhere below (Python 3.11's wait_for can) is
            # sent again; the loops also check _stopping.
            _done, pending = await asyncio.wait(tasks, timeout=STOP_WAIT_S) if tasks else (set(), set())
            if not pending:
                break
            tasks = list(pending)
        else:
            log.error("outbox: %d task(s) did not stop", len(tasks))
        # What is still in memory is written now, so that a clean stop loses nothing.
        if self._pending:
            with contextlib.suppress(SQLAlchemyError):
                async with self._write_lock:
                    await self._write_pending()
        for dest in self.destinations:
            try:
                await dest.stop()
            except Exception:  # one destination's trouble must not keep the others from stopping
                log.exception("outbox: stopping %s failed", dest.id)

    # -- the writer --------------------------------------------------------------------------------

    async def _writer(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), EVENTS_POLL_S)
            self._wake.clear()
            try:
                async with self._write_lock:
                    while self._pending:
                        await self._write_pending()
                    if self.wants("event") and self._routes_ready():
                        while True:
                            read, _stored = await asyncio.to_thread(
                                self.store.pull_events, self._event_message, self.routes
                            )
                            if read < EVENTS_BATCH:
                                break
            except SQLAlchemyError as exc:
                self._storage_failed(exc)
                await asyncio.sleep(STORAGE_RETRY_S)
                self._wake.set()
                continue
            if self.storage_error is not None:
                log.warning("outbox: storage writable again after %s; resumed", self.storage_error)
                self.storage_error = None
                self.storage_failed_since = None
            for state in self._dispatch.values():
                state.wake.set()

    async def _write_pending(self) -> None:
        # The batch is taken here, on the loop thread: producers append (and, past the memory
        # bound, drop the oldest) while the write runs in its thread.
        batch = list(itertools.islice(self._pending, 1000))
        if not batch:
            return
        await asyncio.to_thread(self.store.write, [m for _, m in batch], self.routes)
        last = batch[-1][0]
        while self._pending and self._pending[0][0] <= last:
            self._pending.popleft()

    def _event_message(self, event: Event) -> NewMessage:
        return event_message(event, self._site)

    def _storage_failed(self, exc: BaseException) -> None:
        reason = _storage_reason(exc)
        if self.storage_error != reason:
            log.error(
                "outbox: cannot store messages (%s); holding up to %d in memory", reason, self._settings.memory_buffer
            )
        self.storage_error = reason
        if self.storage_failed_since is None:
            self.storage_failed_since = time.time()

    # -- housekeeping ------------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        while not self._stopping:
            await self._retention()
            await asyncio.sleep(RETENTION_EVERY_S)

    async def _retention(self) -> None:
        try:
            lost = await asyncio.to_thread(
                self.store.enforce_retention, self._settings.max_messages, self._settings.max_age_days * 86400
            )
        except SQLAlchemyError as exc:
            log.error("outbox: retention failed: %s", _storage_reason(exc))
            return
        for destination, count in lost.items():
            log.error(
                "outbox: LOST %d undelivered message(s) for %s: its backlog passed %d messages or %g days",
                count,
                destination,
                self._settings.max_messages,
                self._settings.max_age_days,
            )
        with contextlib.suppress(SQLAlchemyError):
            await self._refresh()

    async def _refresh(self) -> None:
        self._backlog = await asyncio.to_thread(self.store.backlog)
        self._counters = await asyncio.to_thread(self.store.counters)

    async def _health_loop(self) -> None:
        intervals = [
            d.health_interval_s
            for d in self._config.uplinks.destinations()
            if isinstance(d, MqttUplink | WebhookUplink) and "health" in d.kinds
        ]
        interval = min(intervals)
        while not self._stopping:
            await asyncio.sleep(interval)
            if self.health_source is not None:
                # Stale figures are worthless: they expire after two periods instead of queueing.
                self.publish([health_message(s, 2 * interval) for s in self.health_source()])

    # -- dispatchers -------------------------------------------------------------------------------

    async def _dispatcher(self, dest: Destination) -> None:
        state = self._dispatch[dest.id]
        settings = self._settings
        while not self._stopping:
            # Cleared before reading: a wake set while the read runs is kept, not lost.
            state.wake.clear()
            try:
                batch = await asyncio.to_thread(self.store.next_batch, dest.id, settings.batch_size)
            except SQLAlchemyError as exc:
                log.error("outbox: reading the backlog of %s failed: %s", dest.id, _storage_reason(exc))
                await asyncio.sleep(STORAGE_RETRY_S)
                continue
            if not batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.wake.wait(), 5.0)
                continue
            now = time.time()
            expired = [m.id for m in batch if m.expires_at is not None and m.expires_at < now]
            live = [m for m in batch if m.expires_at is None or m.expires_at >= now]
            try:
                report = await dest.deliver(live) if live else DeliveryReport()
            except Exception as exc:  # a destination bug must not end its dispatcher
                log.exception("outbox: %s failed on a batch", dest.id)
                report = DeliveryReport(failure=f"internal error: {type(exc).__name__}")
            done = {*report.delivered, *(i for i, _ in report.rejected)}
            failed: tuple[int, str] | None = None
            if report.failure is not None:
                head = next((m.id for m in live if m.id not in done), None)
                if head is not None:
                    failed = (head, report.failure)
            for message_id, error in report.rejected:
                log.error("outbox: %s refused message %d for good: %s", dest.id, message_id, error)
            settling = asyncio.ensure_future(
                asyncio.to_thread(
                    self.store.settle,
                    dest.id,
                    delivered=report.delivered,
                    rejected=report.rejected,
                    expired=expired,
                    failed=failed,
                )
            )
            try:
                await asyncio.shield(settling)
            except asyncio.CancelledError:
                # Stopping: what was delivered is recorded before the stop completes, or a
                # restart right after would send it again.
                with contextlib.suppress(SQLAlchemyError):
                    await settling
                raise
            except SQLAlchemyError as exc:
                # Not recorded: the same messages come again, and receivers drop them by id.
                log.error("outbox: recording deliveries to %s failed: %s", dest.id, _storage_reason(exc))
                await asyncio.sleep(STORAGE_RETRY_S)
                continue
            if report.failure is None:
                if state.failures:
                    log.info("outbox: %s delivering again", dest.id)
                state.failures = 0
                state.next_attempt_at = None
                continue
            state.failures += 1
            if state.last_error != report.failure or state.failures == 1:
                log.warning("outbox: %s: %s (backlog kept, retrying)", dest.id, report.failure)
            state.last_error = report.failure
            state.last_error_at = time.time()
            delay = min(settings.retry_max_s, settings.retry_initial_s * 2 ** (state.failures - 1))
            delay *= random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not a secret
            state.next_attempt_at = time.time() + delay
            await self._backoff(dest, delay)

    async def _backoff(self, dest: Destination, delay: float) -> None:
        """Wait `delay`, or less when the destination comes back (a broker reconnecting)."""
        was_connected = dest.connected
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.5))
            if dest.connected and not was_connected:
                return
            was_connected = dest.connected

    # -- status ------------------------------------------------------------------------------------

    async def refresh_status(self) -> None:
        """Re-read backlog figures (they change with every delivery; the API asks for them)."""
        with contextlib.suppress(SQLAlchemyError):
            await self._refresh()

    def status(self) -> dict[str, Any]:
        now = time.time()
        destinations = []
        for dest in self.destinations:
            state = self._dispatch[dest.id]
            count, oldest = self._backlog.get(dest.id, (0, None))
            counters = self._counters.get(dest.id, Counters())
            destinations.append(
                {
                    "id": dest.id,
                    "type": dest.type,
                    "connected": dest.connected,
                    "backlog": count,
                    "oldest_undelivered_at": oldest if count else None,
                    "oldest_undelivered_age_s": round(now - oldest, 1) if count and oldest is not None else None,
                    "last_error": state.last_error,
                    "last_error_at": state.last_error_at,
                    "retrying": state.failures > 0,
                    "next_attempt_at": state.next_attempt_at,
                    "delivered": counters.delivered,
                    "rejected": counters.rejected,
                    "expired": counters.expired,
                    "dropped": counters.dropped,
                    "last_delivered_at": counters.last_delivered_at,
                    "last_dropped_at": counters.last_dropped_at,
                }
            )
            # Destination-specific figures (MQTT client restarts, GA/T 1400 registration...).
            extra = getattr(dest, "status", None)
            if callable(extra):
                destinations[-1].update(extra())
        # Managed destinations (a platform's subscriptions) are listed under their owner.
        by_id = {d["id"]: d for d in destinations}
        listed = []
        managed: dict[str, list[dict[str, Any]]] = {}
        for entry in destinations:
            owner = owner_of(str(entry["id"]))
            if owner is not None and owner in by_id:
                entry["pending"] = entry["backlog"]
                managed.setdefault(owner, []).append(entry)
            else:
                listed.append(entry)
        for owner, entries in managed.items():
            by_id[owner]["subscriptions"] = entries
        destinations = listed
        return {
            "enabled": self.enabled,
            "storage": "failed" if self.storage_error else "ok",
            "storage_error": self.storage_error,
            "storage_failed_since": self.storage_failed_since,
            "waiting_in_memory": len(self._pending),
            "dropped_in_memory": self.memory_dropped,
            "destinations": destinations,
        }
