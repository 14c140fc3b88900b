"""Catalog and alarm subscriptions of one GB/T 28181 uplink (GB/T 28181-2016 clause 9.11, RFC 6665).

The platform SUBSCRIBEs with a MANSCDP Query body: CmdType Catalog to be told when channels change
(we send NOTIFY with the changed items, Event ON/OFF), CmdType Alarm to receive alarms as NOTIFY.
The 200 carries the granted Expires and a Response with Result OK. A catalog subscription gets an
immediate NOTIFY with every channel's current state (RFC 6665 section 4.2.1 wants a first NOTIFY;
this one also lets the platform catch up on whatever changed before it subscribed). A refresh is a
SUBSCRIBE in the dialog; Expires: 0 ends it; an expired one is dropped quietly.

NOTIFYs of one subscription go out one at a time, in order, each waiting for its answer (a platform
must see OFF before ON). The queue is bounded: a platform that does not answer loses the oldest
notifications, counted, rather than growing our memory. A 481 (the platform forgot the
subscription) or a transaction timeout ends it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from adapters.gb28181 import manscdp
from adapters.gb28181.dialog import Dialog, DialogId
from adapters.gb28181.sip import SipError, SipMessage, new_tag, response_to
from adapters.gb28181.ua import PlatformLink

log = logging.getLogger(__name__)

Kind = Literal["Catalog", "Alarm"]
KINDS: Final[frozenset[str]] = frozenset({"Catalog", "Alarm"})
DEFAULT_EXPIRES_S: Final = 3600
MIN_EXPIRES_S: Final = 60  # RFC 6665 leaves the floor to the notifier; a minute bounds the refresh rate
MAX_EXPIRES_S: Final = 86400
MAX_SUBSCRIPTIONS: Final = 16  # per uplink; a platform needs one per kind, a few with its proxies
MAX_QUEUED: Final = 64  # NOTIFY bodies waiting per subscription

BodyOf = Callable[[int], list[bytes]]  # SN -> the NOTIFY bodies (a catalog may need several parts)


@dataclass
class Subscription:
    kind: Kind
    dialog: Dialog
    event: str  # the Event header of the SUBSCRIBE, echoed in each NOTIFY (RFC 6665 section 8.2.1)
    expires_at: float  # time.monotonic()
    queue: deque[bytes] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    created_at: float = field(default_factory=time.time)

    def remaining(self) -> int:
        return max(0, int(self.expires_at - time.monotonic()))


class Subscriptions:
    """Every catalog/alarm subscription of one uplink; lives on the event loop."""

    def __init__(
        self,
        uplink_id: str,
        system_id: str,
        link: Callable[[], PlatformLink | None],
        *,
        charset: manscdp.Charset,
        initial_catalog: BodyOf,
    ) -> None:
        self.uplink_id = uplink_id
        self._system_id = system_id
        self._link = link
        self._charset: manscdp.Charset = charset
        self._initial_catalog = initial_catalog
        self._subs: dict[DialogId, Subscription] = {}
        self._sn = 0
        self.counters: dict[str, int] = dict.fromkeys(
            ("subscribes", "refused", "notify_sent", "notify_failed", "notify_dropped"), 0
        )

    # --- SUBSCRIBE --------------------------------------------------------------------------------

    def on_subscribe(self, msg: SipMessage, query: manscdp.Manscdp) -> SipMessage:
        self.counters["subscribes"] += 1
        event = msg.get("Event") or query.cmd_type
        expires = msg.expires
        requested = DEFAULT_EXPIRES_S if expires is None else expires
        if msg.to_tag:  # a refresh or an unsubscribe inside the dialog
            sub = self._find(msg)
            if sub is None:
                return response_to(msg, 481)
            if requested == 0:
                self._drop(sub, "unsubscribed")
                return self._ok(msg, sub.dialog.local_tag, query, 0)
            granted = _grant(requested)
            sub.expires_at = time.monotonic() + granted
            return self._ok(msg, sub.dialog.local_tag, query, granted)
        if query.cmd_type not in KINDS:
            self.counters["refused"] += 1
            return response_to(msg, 489)  # Bad Event (RFC 6665 section 8.3)
        if query.device_id != self._system_id:
            self.counters["refused"] += 1
            return response_to(msg, 404)
        local_tag = new_tag()
        if requested == 0:  # a fetch: RFC 6665 section 4.4.3, answer then one NOTIFY
            return self._ok(msg, local_tag, query, 0)
        self._expire()
        if len(self._subs) >= MAX_SUBSCRIPTIONS:
            self.counters["refused"] += 1
            return response_to(msg, 503)
        try:
            dialog = Dialog.as_uas(msg, local_tag)
        except SipError as exc:
            self.counters["refused"] += 1
            return response_to(msg, exc.status)
        granted = _grant(requested)
        kind: Kind = "Catalog" if query.cmd_type == "Catalog" else "Alarm"
        # Replace a platform's earlier subscription of the same kind: platforms re-SUBSCRIBE out of
        # dialog after a restart, and two live ones would double every NOTIFY.
        for old in [s for s in self._subs.values() if s.kind == kind and s.dialog.remote_uri == dialog.remote_uri]:
            self._drop(old, "replaced")
        sub = Subscription(kind, dialog, event, time.monotonic() + granted)
        self._subs[dialog.id] = sub
        sub.task = asyncio.create_task(self._sender(sub), name=f"gb-notify-{self.uplink_id}-{kind}")
        if kind == "Catalog":
            # Queued now, sent once our 200 is out (the task runs after this handler returns).
            self._queue(sub, self._initial_catalog(self._next_sn()))
        log.info("GB/T 28181 uplink %s: %s subscription for %d s", self.uplink_id, kind, granted)
        return self._ok(msg, local_tag, query, granted)

    def _ok(self, msg: SipMessage, local_tag: str, query: manscdp.Manscdp, granted: int) -> SipMessage:
        link = self._link()
        contact = link.contact_uri if link is not None else None
        extra = [("Expires", str(granted))]
        if contact:
            extra.append(("Contact", f"<{contact}>"))
        body = manscdp.result_response(query.cmd_type, query.sn, query.device_id, charset=self._charset)
        return response_to(
            msg, 200, to_tag=local_tag, extra_headers=extra, body=body, content_type=manscdp.CONTENT_TYPE
        )

    # --- NOTIFY -----------------------------------------------------------------------------------

    def wants(self, kind: Kind) -> bool:
        self._expire()
        return any(s.kind == kind for s in self._subs.values())

    def notify(self, kind: Kind, body_of: BodyOf) -> int:
        """Queue a NOTIFY for every live subscription of `kind`; returns how many took it."""
        self._expire()
        targets = [s for s in self._subs.values() if s.kind == kind]
        if targets:
            bodies = body_of(self._next_sn())
            for sub in targets:
                self._queue(sub, bodies)
        return len(targets)

    def _queue(self, sub: Subscription, bodies: list[bytes]) -> None:
        for body in bodies:
            if len(sub.queue) >= MAX_QUEUED:
                sub.queue.popleft()
                sub.dropped += 1
                self.counters["notify_dropped"] += 1
            sub.queue.append(body)
        sub.wakeup.set()

    async def _sender(self, sub: Subscription) -> None:
        while True:
            await sub.wakeup.wait()
            sub.wakeup.clear()
            while sub.queue:
                body = sub.queue.popleft()
                if not await self._send(sub, body):
                    return

    async def _send(self, sub: Subscription, body: bytes) -> bool:
        """One NOTIFY; False when the subscription is over (481, or nobody answers)."""
        link = self._link()
        if link is None:
            return True
        remaining = sub.remaining()
        try:
            msg = link.in_dialog(
                sub.dialog,
                "NOTIFY",
                body=body,
                content_type=manscdp.CONTENT_TYPE,
                extra_headers=[
                    ("Event", sub.event),
                    ("Subscription-State", f"active;expires={remaining}"),
                ],
            )
            resp = await link.send_request(msg)
        except (TimeoutError, OSError, RuntimeError, ValueError) as exc:
            sub.failed += 1
            self.counters["notify_failed"] += 1
            log.info("GB/T 28181 uplink %s: %s NOTIFY not delivered: %s", self.uplink_id, sub.kind, exc)
            if isinstance(exc, TimeoutError):
                self._drop(sub, "NOTIFY unanswered")
                return False
            return True
        status = resp.status or 0
        if status == 481 or (status >= 500 and status != 503):
            self.counters["notify_failed"] += 1
            self._drop(sub, f"NOTIFY answered {status}")
            return False
        if 200 <= status < 300:
            sub.sent += 1
            self.counters["notify_sent"] += 1
        else:
            sub.failed += 1
            self.counters["notify_failed"] += 1
        return True

    # --- bookkeeping ------------------------------------------------------------------------------

    def _find(self, msg: SipMessage) -> Subscription | None:
        try:
            return self._subs.get((msg.call_id, msg.to_tag or "", msg.from_tag or ""))
        except SipError:
            return None

    def _expire(self) -> None:
        now = time.monotonic()
        for sub in [s for s in self._subs.values() if s.expires_at <= now]:
            self._drop(sub, "expired")

    def _drop(self, sub: Subscription, reason: str) -> None:
        if self._subs.pop(sub.dialog.id, None) is None:
            return
        if sub.task is not None and sub.task is not asyncio.current_task():
            sub.task.cancel()
        log.info("GB/T 28181 uplink %s: %s subscription ended: %s", self.uplink_id, sub.kind, reason)

    def _next_sn(self) -> int:
        self._sn += 1
        return self._sn

    async def stop(self) -> None:
        tasks = [s.task for s in self._subs.values() if s.task is not None]
        self._subs.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def status(self) -> list[dict[str, Any]]:
        self._expire()
        return [
            {
                "kind": s.kind,
                "expires_in_s": s.remaining(),
                "created_at": s.created_at,
                "notify_sent": s.sent,
                "notify_failed": s.failed,
                "notify_dropped": s.dropped,
                "queued": len(s.queue),
            }
            for s in self._subs.values()
        ]


def _grant(requested: int) -> int:
    return max(MIN_EXPIRES_S, min(MAX_EXPIRES_S, requested))
