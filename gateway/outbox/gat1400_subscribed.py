"""A GA/T 1400 platform that takes data by subscription (`uplinks.gat1400_subscribers`): the gateway
as its lower view library.

The platform POSTs `/VIID/Subscribes` to us (served on a port of the uplink's own:
adapters/gat1400/server.py); each subscription it holds becomes an outbox destination of its own,
"<uplink>:<key>", whose route takes the detection events of the cameras its ResourceURI covers.
So every notification is stored before it is sent and goes through the outbox like any message:
in order, retried with backoff, kept across the platform's restarts and ours, bounded by the
outbox's retention. The subscriptions themselves are stored (gat1400_subscriptions.py) and come
back at start; an expired or cancelled one stops, and what it still had pending is dropped and
counted. Towards the platform the gateway registers and keeps alive (ViidRegistration, shared with
the direct uploader), and POSTs each subscription's SubscribeNotificationListObjects to its
ReceiveAddr, at most one POST per ReportInterval: what gathers meanwhile goes in the next one.

A NotificationID is DeviceID[:12] + 04 + the event time + (outbox message id x 64 + the
subscription's slot) mod 100000: the same for a resent notification, different for two
subscriptions of the same event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from adapters.gat1400.client import (
    Gat1400AuthError,
    Gat1400Error,
    Gat1400ProtocolError,
    ViidClient,
    ViidSettings,
)
from adapters.gat1400.objects import (
    STATUS_DEVICE_BUSY,
    STATUS_INVALID_JSON_CONTENT,
    STATUS_INVALID_OPERATION,
    ViidObject,
)
from adapters.gat1400.server import Outcome, ServerSettings, ViidListener, subscription_app
from adapters.gat1400.subscribe import (
    DETAIL_FACES,
    DETAIL_NAMES,
    DETAIL_PERSONS,
    SUBSCRIBE_CANCELLED,
    SUBSCRIBE_EXPIRED,
    SUBTYPE_NOTIFICATION,
    Cancellation,
    Subscribe,
    business_id,
    notification_object,
    subscribe_object,
)
from gateway.config import GatewayConfig
from gateway.config.outbox import Gat1400SubscriberUplink
from gateway.outbox.gat1400 import PROTOCOL_ATTEMPTS, ViidRegistration, build_records, device_ids
from gateway.outbox.gat1400_subscriptions import (
    ENDED_KEPT_S,
    OFFERED_NAMES,
    SLOTS,
    SubscriptionRecord,
    SubscriptionStore,
    offered_details,
    subscribed_cameras,
)
from gateway.outbox.service import DeliveryReport
from gateway.outbox.store import OutboxMessage, OutboxStore, Route
from gateway.storage.db import Database
from gateway.tasks import Watchdog

log = logging.getLogger(__name__)

MAX_PER_POST = 16  # notifications in one SubscribeNotificationListObject (each carries base64 pictures)
EXPIRY_CHECK_S = 1.0
PRUNE_EVERY_S = 3600.0
LOAD_RETRY_S = 5.0


class DestinationHost(Protocol):
    """What the platform needs of the outbox: destinations that come and go."""

    store: OutboxStore

    async def add_destination(self, dest: Any, route: Route) -> None: ...
    def set_route(self, route: Route) -> None: ...
    async def remove_destination(self, dest_id: str) -> int: ...
    def wake(self) -> None: ...


def _epoch(value: datetime | None, tz: ZoneInfo) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo is not None else value.replace(tzinfo=tz)).timestamp()


def _site_wall(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A time as the site's wall clock: how it is stored and answered back."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(tz).replace(tzinfo=None)


class Gat1400SubscribedPlatform:
    """The uplink: registration towards the platform, /VIID/Subscribes for it, its subscriptions."""

    type = "gat1400-platform"

    def __init__(
        self,
        uplink: Gat1400SubscriberUplink,
        config: GatewayConfig,
        db: Database,
        snapshot: Callable[[int], bytes | None],
        *,
        password: str,
        subscriber_password: str,
        watchdog: Watchdog | None = None,
    ) -> None:
        self.uplink = uplink
        self._watchdog = watchdog or Watchdog()
        self.snapshot = snapshot
        self.tz = ZoneInfo(config.site.timezone)
        self.device_of = device_ids(config, uplink.device_id)
        self.stored = SubscriptionStore(db, config.instance_id(), uplink.id)
        self.client = ViidClient(
            ViidSettings(
                base_url=uplink.url,
                device_id=uplink.device_id,
                username=uplink.username,
                password=password,
                timeout_s=uplink.timeout_s,
            )
        )
        self.registration = ViidRegistration(uplink.id, self.client, uplink.url, uplink.keepalive_s, uplink.retry_s)
        self._server_settings = ServerSettings(
            username=uplink.subscriber_username,
            password=subscriber_password,
            realm=uplink.device_id,
            max_body_bytes=uplink.max_body_bytes,
        )
        self._outbox: DestinationHost | None = None
        self._records: dict[str, SubscriptionRecord] = {}  # by SubscribeID, active and ended
        self._dests: dict[str, SubscriptionDestination] = {}  # by SubscribeID, active only
        self._lock = asyncio.Lock()
        self._loaded = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: ViidListener | None = None
        self.listen_error: str | None = None

    # -- wiring ------------------------------------------------------------------------------------

    def attach(self, outbox: DestinationHost) -> None:
        self._outbox = outbox

    def _outbox_wake(self) -> None:
        if self._outbox is not None:
            self._outbox.wake()

    def route(self) -> Route:
        """The platform's own route. It takes no message itself (no camera), but names the event kind:
        its subscriptions may want events at any moment, and while none does the events cursor must
        still move on, or a new subscription would start with a backlog of old events."""
        return Route(destination=self.id, kinds=frozenset({"event"}), cameras=frozenset())

    @property
    def id(self) -> str:
        return self.uplink.id

    @property
    def connected(self) -> bool:
        return self.registration.online if self.uplink.registration else self._listener is not None

    @property
    def routes_ready(self) -> bool:
        """The outbox reads no event before the stored subscriptions are back (service.py)."""
        return self._loaded.is_set()

    @property
    def org(self) -> str:
        return self.uplink.device_id[:12]

    async def ready(self) -> bool:
        """Whether notifications may go: registered (or registration not wanted)."""
        if not self.uplink.registration or self.registration.online:
            return True
        return await self.registration.register()

    def receive_url(self, sub: Subscribe) -> str:
        addr = sub.receive_addr or ""
        return self.uplink.url.rstrip("/") + addr if addr.startswith("/") else addr

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.client.open()
        self._tasks.append(self._watchdog.task(f"gat1400-{self.id}-subscriptions", self._keep_subscriptions))
        self._tasks.append(self._watchdog.task(f"gat1400-{self.id}-listener", self._serve))
        if self.uplink.registration:
            self._tasks.append(self._watchdog.task(f"gat1400-{self.id}", self.registration.keep))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        if self.uplink.registration:
            await self.registration.unregister()
        await self.client.close()

    async def deliver(self, messages: Sequence[OutboxMessage]) -> DeliveryReport:
        # Its route takes nothing; should a message come (a route from an older config), it is done.
        return DeliveryReport(delivered=[m.id for m in messages])

    async def _serve(self) -> None:
        await self._loaded.wait()
        app = subscription_app(self, self._server_settings)
        while True:
            listener = ViidListener(app, self.uplink.listen_host, self.uplink.listen_port)
            try:
                await listener.start()
            except OSError as exc:
                reason = f"cannot listen on {self.uplink.listen_host}:{self.uplink.listen_port}: {exc.strerror or exc}"
                if reason != self.listen_error:
                    log.error("GA/T 1400 %s: %s; trying again every %g s", self.id, reason, self.uplink.retry_s)
                self.listen_error = reason
                await asyncio.sleep(self.uplink.retry_s)
                continue
            self._listener, self.listen_error = listener, None
            log.info("GA/T 1400 %s: /VIID/Subscribes on %s:%d", self.id, self.uplink.listen_host, listener.port)
            try:
                await listener.wait()
            finally:
                self._listener = None
                await listener.stop()
            log.warning("GA/T 1400 %s: the /VIID/Subscribes listener ended; starting it again", self.id)
            await asyncio.sleep(1.0)

    async def _keep_subscriptions(self) -> None:
        while not self._loaded.is_set():
            try:
                await self._load()
            except SQLAlchemyError as exc:
                log.error("GA/T 1400 %s: reading the stored subscriptions failed (%s); retrying", self.id, exc)
                await asyncio.sleep(LOAD_RETRY_S)
                continue
            self._loaded.set()
            self._outbox_wake()
        pruned_at = time.monotonic()
        while True:
            await asyncio.sleep(EXPIRY_CHECK_S)
            now = time.time()
            for sid, record in list(self._records.items()):
                if record.active and record.end_at is not None and record.end_at <= now:
                    async with self._lock:
                        current = self._records.get(sid)
                        if current is not None and current.active:
                            try:
                                await self._end(current, SUBSCRIBE_EXPIRED, "EndTime reached")
                            except SQLAlchemyError as exc:  # tried again at the next check
                                log.error("GA/T 1400 %s: expiring subscription %s failed: %s", self.id, sid, exc)
            if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                pruned_at = time.monotonic()
                await self._prune()

    async def _load(self) -> None:
        records = await asyncio.to_thread(self.stored.load)
        async with self._lock:
            now = time.time()
            for record in records:
                self._records[record.sub.subscribe_id] = record
                if not record.active:
                    # Whatever a crash left between ending it and dropping its backlog goes now.
                    await self._drop_backlog(record)
                elif record.end_at is not None and record.end_at <= now:
                    await self._end(record, SUBSCRIBE_EXPIRED, "EndTime reached while the gateway was stopped")
                else:
                    await self._add(record)
        active = sum(1 for r in self._records.values() if r.active)
        if records:
            log.info("GA/T 1400 %s: %d stored subscription(s), %d active", self.id, len(records), active)

    async def _prune(self) -> None:
        try:
            keys = await asyncio.to_thread(self.stored.prune, time.time() - ENDED_KEPT_S)
            if keys and self._outbox is not None:
                await asyncio.to_thread(self._outbox.store.forget_counters, [self._dest_id(k) for k in keys])
        except SQLAlchemyError as exc:
            log.error("GA/T 1400 %s: pruning ended subscriptions failed: %s", self.id, exc)
            return
        for sid, record in list(self._records.items()):
            if record.key in keys:
                del self._records[sid]

    # -- subscriptions -----------------------------------------------------------------------------

    def _dest_id(self, key: int) -> str:
        return f"{self.id}:{key}"

    def _route(self, record: SubscriptionRecord) -> Route:
        up = self.uplink
        allowed = None if up.cameras == "all" else up.cameras
        cameras = subscribed_cameras(record.sub.resource_uri, self.device_of, up.device_id, allowed)
        return Route(
            destination=self._dest_id(record.key),
            kinds=frozenset({"event"}),
            cameras=cameras,
            event_kinds=None if up.event_kinds is None else frozenset(up.event_kinds),
        )

    async def _add(self, record: SubscriptionRecord) -> None:
        assert self._outbox is not None, "attach() the outbox first"
        known = self._dests.get(record.sub.subscribe_id)
        if known is not None:  # a load retried after a failure halfway
            known.record = record
            self._outbox.set_route(self._route(record))
            return
        dest = SubscriptionDestination(self, record)
        self._dests[record.sub.subscribe_id] = dest
        await self._outbox.add_destination(dest, self._route(record))

    async def _drop_backlog(self, record: SubscriptionRecord) -> int:
        assert self._outbox is not None, "attach() the outbox first"
        self._dests.pop(record.sub.subscribe_id, None)
        dropped = await self._outbox.remove_destination(self._dest_id(record.key))
        if dropped:
            with contextlib.suppress(SQLAlchemyError):
                await asyncio.to_thread(self.stored.add_counts, record.key, dropped=dropped)
        return dropped

    async def _end(self, record: SubscriptionRecord, status: int, reason: str, sub: Subscribe | None = None) -> None:
        """Stop a subscription (caller holds the lock): stored first, so a crash cannot bring it back."""
        sub = sub or record.sub
        await asyncio.to_thread(self.stored.end, record.key, status, reason, sub)
        dropped = await self._drop_backlog(record)
        ended = replace(
            record, sub=sub, status=status, ended_at=time.time(), end_reason=reason, dropped=record.dropped + dropped
        )
        self._records[sub.subscribe_id] = ended
        what = "cancelled" if status == SUBSCRIBE_CANCELLED else "expired"
        log.info(
            "GA/T 1400 %s: subscription %s %s (%s); %d pending notification(s) dropped",
            self.id,
            sub.subscribe_id,
            what,
            reason,
            dropped,
        )

    def _normalized(self, sub: Subscribe) -> tuple[Subscribe, float | None, float | None]:
        begin, end = sub.begin_time, sub.end_time
        normal = replace(sub, begin_time=_site_wall(begin, self.tz), end_time=_site_wall(end, self.tz))
        return normal, _epoch(begin, self.tz), _epoch(end, self.tz)

    def _check(self, sub: Subscribe, begin_at: float | None, end_at: float | None) -> Outcome | None:
        if not sub.receive_addr:
            return Outcome(STATUS_INVALID_JSON_CONTENT, "ReceiveAddr missing")
        offered = offered_details(self.uplink.faces)
        asked = set(sub.details or ())
        if not asked & offered:
            names = ", ".join(f"{d} {DETAIL_NAMES.get(d, '?')}" for d in sorted(asked, key=int)) or "none"
            served = ", ".join(f"{d} ({OFFERED_NAMES[d]})" for d in sorted(offered, key=int))
            return Outcome(STATUS_INVALID_OPERATION, f"SubscribeDetail {names} not offered; offered: {served}")
        if end_at is not None and end_at <= time.time():
            return Outcome(STATUS_INVALID_OPERATION, "EndTime has passed")
        if begin_at is not None and end_at is not None and begin_at > end_at:
            return Outcome(STATUS_INVALID_JSON_CONTENT, "BeginTime after EndTime")
        return None

    async def upsert(self, sub: Subscribe, platform: str, *, create: bool) -> Outcome:
        await self._loaded.wait()
        async with self._lock:
            current = self._records.get(sub.subscribe_id)
            existing = current if current is not None and current.active else None
            if existing is None and not create:
                return Outcome(STATUS_INVALID_OPERATION, "no such subscription")
            merged = sub if existing is None else sub.merged_into(existing.sub)
            merged, begin_at, end_at = self._normalized(merged)
            refusal = self._check(merged, begin_at, end_at)
            if refusal is not None:
                return refusal
            active = sum(1 for r in self._records.values() if r.active)
            if existing is None and active >= min(self.uplink.max_subscriptions, SLOTS):
                return Outcome(
                    STATUS_INVALID_OPERATION, f"this platform holds {active} subscriptions already, the most allowed"
                )
            try:
                record = await asyncio.to_thread(self.stored.save, merged, platform, begin_at, end_at)
            except (SQLAlchemyError, ValueError) as exc:  # ValueError: no notification slot free
                log.error("GA/T 1400 %s: storing subscription %s failed: %s", self.id, sub.subscribe_id, exc)
                return Outcome(STATUS_DEVICE_BUSY, "cannot store the subscription now")
            self._records[sub.subscribe_id] = record
            await self._add(record)  # a known one gets its new route
            cameras = len(self._route(record).cameras or ())
            log.info(
                "GA/T 1400 %s: subscription %s %s by %s: %r, detail %s, %d camera(s), to %s",
                self.id,
                sub.subscribe_id,
                "made" if existing is None else "changed",
                platform or "?",
                merged.title or "",
                ",".join(merged.details or ()),
                cameras,
                self.receive_url(merged)[:200],
            )
            if not cameras:
                log.warning(
                    "GA/T 1400 %s: subscription %s covers none of this gateway's cameras (ResourceURI %s)",
                    self.id,
                    sub.subscribe_id,
                    ",".join(merged.resource_uri or ())[:200],
                )
            return Outcome()

    async def cancel(self, subscribe_id: str, cancellation: Cancellation | None, platform: str) -> Outcome:
        await self._loaded.wait()
        async with self._lock:
            record = self._records.get(subscribe_id)
            if record is None:
                return Outcome(STATUS_INVALID_OPERATION, "no such subscription")
            if not record.active:
                return Outcome()  # cancelled (or expired) already: the platform's retry after a lost answer
            by = (cancellation.person if cancellation else None) or platform or "the platform"
            why = f"cancelled by {by}" + (f": {cancellation.reason}" if cancellation and cancellation.reason else "")
            sub = replace(record.sub, cancellation=cancellation) if cancellation else record.sub
            try:
                await self._end(record, SUBSCRIBE_CANCELLED, why, sub)
            except SQLAlchemyError as exc:
                log.error("GA/T 1400 %s: storing the cancellation of %s failed: %s", self.id, subscribe_id, exc)
                return Outcome(STATUS_DEVICE_BUSY, "cannot store the cancellation now")
            return Outcome()

    async def subscriptions(self) -> list[ViidObject]:
        await self._loaded.wait()
        return [subscribe_object(r.sub, r.status) for r in self._records.values()]

    # -- status ------------------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        out: dict[str, object] = dict(self.registration.status()) if self.uplink.registration else {}
        out.update(
            {
                "listening": None if self._listener is None else f"{self.uplink.listen_host}:{self._listener.port}",
                "listen_error": self.listen_error,
                "subscriptions": [],  # the active ones: the outbox lists them here with their backlogs
                "ended_subscriptions": [_record_status(r, self) for r in self._records.values() if not r.active],
            }
        )
        return out


def _record_status(record: SubscriptionRecord, platform: Gat1400SubscribedPlatform) -> dict[str, object]:
    sub = record.sub
    return {
        "subscribe_id": sub.subscribe_id,
        "title": sub.title,
        "detail": list(sub.details or ()),
        "resource_uri": list(sub.resource_uri or ())[:50],
        "receive_addr": platform.receive_url(sub),
        "report_interval_s": sub.report_interval_s or 0,
        "applicant": sub.applicant_name,
        "applicant_org": sub.applicant_org,
        "platform": record.platform,
        "subscribe_status": record.status,
        "begin_at": record.begin_at,
        "end_at": record.end_at,
        "created_at": record.created_at,
        "ended_at": record.ended_at,
        "end_reason": record.end_reason,
        "sent": record.sent,
        "failed": record.failed,
        "dropped_at_end": record.dropped,
    }


class SubscriptionDestination:
    """One subscription as an outbox destination: its events become SubscribeNotificationObjects."""

    type = "gat1400-subscription"

    def __init__(self, platform: Gat1400SubscribedPlatform, record: SubscriptionRecord) -> None:
        self.platform = platform
        self.record = record
        self._next_post_at = 0.0
        self.sent = record.sent
        self.failed = record.failed

    @property
    def id(self) -> str:
        return f"{self.platform.id}:{self.record.key}"

    @property
    def connected(self) -> bool:
        return self.platform.connected

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def status(self) -> dict[str, object]:
        out = _record_status(self.record, self.platform)
        out.update({"sent": self.sent, "failed": self.failed})
        return out

    def notification_id(self, message: OutboxMessage, at: datetime) -> str:
        return business_id(self.platform.org, SUBTYPE_NOTIFICATION, at, message.id * SLOTS + self.record.slot)

    def _notification(self, message: OutboxMessage) -> ViidObject | None:
        """The notification of one message, or None when it holds nothing for this subscription.
        Blocking (reads the snapshot, cuts and codes JPEGs)."""
        if message.kind != "event" or not message.payload.get("boxes"):
            return None
        at_s = float(message.payload["at"])
        record = self.record
        if (record.begin_at is not None and at_s < record.begin_at) or (
            record.end_at is not None and at_s > record.end_at
        ):
            return None
        details = set(record.sub.details or ())
        faces = DETAIL_FACES in details and self.platform.uplink.faces
        snapshot = self.platform.snapshot(message.event_id) if message.event_id is not None else None
        device = self.platform.device_of.get(message.camera_id or "", self.platform.uplink.device_id)
        records = build_records(message, device, self.platform.tz, snapshot, faces)
        persons = records.persons if DETAIL_PERSONS in details else []
        if not persons and not records.faces:
            return None
        at = datetime.fromtimestamp(at_s, self.platform.tz).replace(tzinfo=None)
        return notification_object(
            self.notification_id(message, at),
            record.sub.subscribe_id,
            record.sub.title or "",
            at,
            persons,
            records.faces,
        )

    async def deliver(self, messages: Sequence[OutboxMessage]) -> DeliveryReport:
        report = DeliveryReport()
        platform = self.platform
        if not await platform.ready():
            report.failure = f"not registered: {platform.registration.last_error or 'waiting to retry'}"
            return report
        wait = self._next_post_at - time.monotonic()
        if wait > 0:
            # ReportInterval: nothing now; the dispatcher comes back with all that gathered meanwhile.
            await asyncio.sleep(wait)
            return report
        pending: list[tuple[OutboxMessage, ViidObject]] = []
        skipped: list[int] = []  # message ids with nothing for this subscription, in order
        skipped_before_first: list[int] = []
        for message in messages:
            if len(pending) >= MAX_PER_POST:
                break
            try:
                obj = await asyncio.to_thread(self._notification, message)
            except (ValueError, KeyError, TypeError) as exc:
                report.rejected.append((message.id, f"cannot build the notification: {exc}"))
                continue
            if obj is None:
                skipped.append(message.id)
                if not pending:
                    skipped_before_first.append(message.id)
            else:
                pending.append((message, obj))
        if not pending:
            report.delivered = skipped
            return report
        try:
            statuses = await platform.client.notify(platform.receive_url(self.record.sub), [o for _, o in pending])
        except Gat1400AuthError as exc:
            platform.registration.lost(f"notification refused, registering again: {exc}", at_once=True)
            return await self._failed(report, skipped_before_first, str(exc))
        except Gat1400ProtocolError as exc:
            return await self._garbage(report, skipped_before_first, pending[0][0], str(exc))
        except Gat1400Error as exc:
            return await self._failed(report, skipped_before_first, str(exc))
        ids = {str(o["NotificationID"]): m for m, o in pending}
        if any(not s.ok and s.id not in ids for s in statuses):
            bad = next(s for s in statuses if not s.ok)
            return await self._garbage(
                report, skipped_before_first, pending[0][0], f"refused without naming a notification: {bad.status_code}"
            )
        refused = {s.id: s for s in statuses if not s.ok}
        report.delivered = list(skipped)
        for message, obj in pending:
            status = refused.get(str(obj["NotificationID"]))
            if status is None:
                report.delivered.append(message.id)
            else:
                report.rejected.append((message.id, f"{status.status_code} {status.status_string}"[:300]))
        self._next_post_at = time.monotonic() + (self.record.sub.report_interval_s or 0)
        sent = len(pending) - len(refused)
        self.sent += sent
        await self._count(sent=sent)
        return report

    async def _failed(self, report: DeliveryReport, done: list[int], reason: str) -> DeliveryReport:
        report.delivered = list(done)
        report.failure = reason
        self.failed += 1
        await self._count(failed=1)
        return report

    async def _garbage(
        self, report: DeliveryReport, done: list[int], head: OutboxMessage, reason: str
    ) -> DeliveryReport:
        """An answer that cannot be read: retried, and refused for good after PROTOCOL_ATTEMPTS."""
        if head.attempts + 1 >= PROTOCOL_ATTEMPTS:
            report.delivered = list(done)
            report.rejected.append((head.id, f"unreadable answers: {reason}"[:300]))
            self.failed += 1
            await self._count(failed=1)
            return report
        return await self._failed(report, done, reason)

    async def _count(self, *, sent: int = 0, failed: int = 0) -> None:
        try:
            await asyncio.to_thread(self.platform.stored.add_counts, self.record.key, sent=sent, failed=failed)
        except SQLAlchemyError as exc:  # figures only: the notifications themselves are settled by the outbox
            log.warning("GA/T 1400 %s: counting notifications failed: %s", self.id, exc)
