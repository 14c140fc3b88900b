"""Hidden-danger tickets (隐患): a camera fault that lasts past its grace time opens a ticket, the
people on the contact lists are told through the outbox, a person acknowledges it, and it closes by
itself once the camera has been healthy for the recovery time.

- **Debounced.** A fault must last its grace time (by fault and zone kind, `tickets.grace_s`) before it
  is a ticket; a camera healthy again must stay so for `recovery_s` before its ticket closes.
- **One ticket per danger.** A fault back within `reopen_within_s` of its ticket closing reopens that
  ticket (told as "reopened"): a flapping camera is one ticket with a count, not hundreds.
- **Escalation.** Told first to `tickets.escalation[0]`; not acknowledged within
  `acknowledge_within_min`, to the next list, and so on to the last.
- **Told once.** Each change goes to the outbox as a "ticket" message with a msg_id made of the
  ticket, the change and its count, so the same change is never stored twice. A change and its message
  are not one transaction: a crash in the second between them loses that message (the ticket itself
  is in the database and is shown on the pages).

The fault streak of each camera is followed from the health tracker's changes on the event loop; the
judging runs every `TICK_S` in a worker thread (it reads and writes the database).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from gateway import audit
from gateway.config import GatewayConfig
from gateway.config.tickets import FaultKind
from gateway.errors import NotFoundError
from gateway.health.state import CameraStatus
from gateway.i18n import _
from gateway.outbox.pictures import attach_picture
from gateway.outbox.store import NewMessage
from gateway.tickets.policy import SEVERITY, detail_of, fault_of, zone_of
from gateway.tickets.store import Ticket, TicketStore

log = logging.getLogger(__name__)

TICK_S: Final = 2.0  # one query of the open tickets per tick; a grace time is met within it

Publish = Callable[[Sequence[NewMessage]], None]
# The camera's picture for a message (its picture now, or how it looked when good), None when none.
Picture = Callable[[str], Awaitable[bytes | None]]
# Changes told with the camera's picture (the channels that can show one do: a WeCom bot, e-mail).
_WITH_PICTURE: Final = frozenset({"opened", "reopened", "escalated"})
# (actor, role, action, target, detail): an audit entry (blocking; the service calls it in its thread)
Audit = Callable[[str, str, str, str, dict[str, Any]], object]


@dataclass
class _Streak:
    """A camera's current fault streak, or its healthy run since `healthy_since`."""

    fault: FaultKind | None = None
    since: float = 0.0
    detail: str = ""
    healthy_since: float | None = None


class TicketService:
    def __init__(
        self,
        config: GatewayConfig,
        store: TicketStore,
        publish: Publish,
        audit_entry: Audit | None = None,
        clock: Callable[[], float] = time.time,
        picture: Picture | None = None,
    ) -> None:
        self._picture = picture
        self._config = config
        self.store = store
        self._publish = publish
        self._audit = audit_entry
        self._clock = clock
        self._streaks: dict[str, _Streak] = {}
        self._lock = threading.Lock()  # the streaks: written on the loop, read by the judging thread
        self._judging = asyncio.Lock()
        self.counters: dict[str, int] = dict.fromkeys(("opened", "reopened", "escalated", "closed", "acknowledged"), 0)

    # --- what happens to the cameras ------------------------------------------------------------------

    def camera_changed(self, status: CameraStatus, previous: CameraStatus | None) -> None:
        """A HealthTracker listener (event loop)."""
        fault = fault_of(status)
        with self._lock:
            streak = self._streaks.setdefault(status.camera_id, _Streak())
            if fault is None:
                if streak.fault is not None or streak.healthy_since is None:
                    streak.healthy_since = status.since
                streak.fault = None
                return
            if streak.fault is None:
                streak.since = status.since  # a new streak; a change between faults keeps its start
            streak.fault, streak.detail, streak.healthy_since = fault, detail_of(status), None

    def seed(self, statuses: Sequence[CameraStatus]) -> None:
        """The cameras' statuses at start (the tracker's listeners hear changes only)."""
        for status in statuses:
            self.camera_changed(status, None)

    # --- the judging ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Judge every TICK_S until cancelled (a task of the gateway's watchdog)."""
        while True:
            await self.judge()
            await asyncio.sleep(TICK_S)

    async def judge(self) -> None:
        async with self._judging:  # one judging at a time: two would open a ticket twice
            out: list[NewMessage] = []
            try:
                await asyncio.to_thread(self._judge, self._clock(), out)
            finally:
                if out:
                    self._publish([await self._with_picture(m) for m in out])  # on the loop: not thread-safe

    async def _with_picture(self, message: NewMessage) -> NewMessage:
        if self._picture is None or message.payload.get("event") not in _WITH_PICTURE or message.camera_id is None:
            return message
        try:
            jpeg = await self._picture(message.camera_id)
            if jpeg is None:
                return message
            payload = await asyncio.to_thread(attach_picture, message.payload, jpeg)
        except Exception:  # a message without its picture is still told
            log.warning("tickets: no picture of %s for its message", message.camera_id, exc_info=True)
            return message
        return replace(message, payload=payload)

    def _judge(self, now: float, out: list[NewMessage]) -> None:
        settings = self._config.tickets
        if not settings.enabled:
            return
        with self._lock:
            streaks = {cid: _Streak(s.fault, s.since, s.detail, s.healthy_since) for cid, s in self._streaks.items()}
        open_by_camera = {t.camera_id: t for t in self.store.open_tickets()}
        for camera in self._config.cameras:
            streak = streaks.get(camera.id)
            ticket = open_by_camera.get(camera.id)
            if streak is None:
                continue
            if streak.fault is not None:
                self._faulty(camera.id, streak, ticket, now, out)
            elif ticket is not None:
                healthy = streak.healthy_since
                if healthy is not None and now - healthy >= settings.recovery_s:
                    self._close(ticket, now, out)
            if ticket is not None and ticket.acknowledged_at is None and streak.fault is not None:
                self._escalate(ticket, now, out)

    def _faulty(
        self, camera_id: str, streak: _Streak, ticket: Ticket | None, now: float, out: list[NewMessage]
    ) -> None:
        camera = self._config.camera(camera_id)
        assert camera is not None and streak.fault is not None
        fault = streak.fault
        if ticket is not None:
            worse = SEVERITY.index(fault) < SEVERITY.index(ticket.fault) if ticket.fault in SEVERITY else True
            if worse or streak.detail != ticket.detail:
                # The danger as it is now (a covered camera that then went offline is offline).
                self.store.update_fault(ticket.id, fault if worse else ticket.fault, streak.detail)
            return
        zone_id, zone_kind, grace = zone_of(self._config, camera, fault)
        if now - streak.since < grace:
            return
        previous = self.store.last_closed(camera_id, now - self._config.tickets.reopen_within_s)
        if previous is not None:
            reopened = self.store.reopen(previous.id, fault, streak.detail, now)
            self.counters["reopened"] += 1
            self._record(audit.TICKET_OPEN, reopened, {"reopened": reopened.reopened})
            out += self._tell(reopened, "reopened", now)
            return
        opened = self.store.open(camera_id, (zone_id, zone_kind), fault, streak.detail, streak.since, now)
        self.counters["opened"] += 1
        self._record(audit.TICKET_OPEN, opened, {"grace_s": grace})
        out += self._tell(opened, "opened", now)
        log.warning(
            "hidden danger: camera %s %s for %.0f s (ticket %d): %s",
            camera_id,
            fault,
            now - streak.since,
            opened.id,
            streak.detail,
        )

    def _escalate(self, ticket: Ticket, now: float, out: list[NewMessage]) -> None:
        chain = self._config.tickets.escalation
        wait_s = self._config.tickets.acknowledge_within_min * 60
        if ticket.level + 1 >= len(chain) or now - ticket.told_at < wait_s:
            return
        self.store.escalate(ticket.id, ticket.level + 1, now)
        escalated = self.store.get(ticket.id)
        assert escalated is not None
        self.counters["escalated"] += 1
        self._record(audit.TICKET_ESCALATE, escalated, {"level": escalated.level, "to": chain[escalated.level]})
        out += self._tell(escalated, "escalated", now)

    def _close(self, ticket: Ticket, now: float, out: list[NewMessage]) -> None:
        closed = self.store.close(ticket.id, now)
        self.counters["closed"] += 1
        self._record(audit.TICKET_CLOSE, closed, {"repair_s": round(now - closed.since, 1)})
        out += self._tell(closed, "closed", now)
        log.info(
            "hidden danger repaired: camera %s (ticket %d) after %.0f s",
            closed.camera_id,
            closed.id,
            now - closed.since,
        )

    # --- people ------------------------------------------------------------------------------------

    async def acknowledge(self, ticket_id: int, who: str, role: str, note: str | None) -> Ticket:
        """A person takes the danger on; NotFoundError when there is no such open ticket."""
        now = self._clock()
        ticket = await asyncio.to_thread(self.store.acknowledge, ticket_id, who, note, now)
        if ticket is None:
            raise NotFoundError(_("no open ticket {ticket_id}").format(ticket_id=ticket_id))
        self.counters["acknowledged"] += 1
        detail = {"note": note or "", "first": ticket.acknowledged_by == who and ticket.acknowledged_at == now}
        await asyncio.to_thread(self._record, audit.TICKET_ACK, ticket, detail, who, role)
        self._publish(self._tell(ticket, "acknowledged", now))
        return ticket

    # --- telling -----------------------------------------------------------------------------------

    def _record(
        self, action: str, ticket: Ticket, detail: dict[str, Any], who: str = audit.SYSTEM_ACTOR, role: str = "system"
    ) -> None:
        if self._audit is None:
            return
        entry = {"ticket": ticket.id, "fault": ticket.fault, **detail}
        try:
            self._audit(who, role, action, ticket.camera_id, entry)
        except Exception:  # the audit is for inspectors; the ticket itself must go on
            log.exception("tickets: could not record %s of ticket %d", action, ticket.id)

    def audience(self, ticket: Ticket) -> tuple[str | None, frozenset[str] | None]:
        """(contact list, its destinations that take this ticket's zone) at the ticket's level; (None,
        None) when no escalation is configured: every destination that takes tickets."""
        chain = self._config.tickets.escalation
        if not chain:
            return None, None
        name = chain[min(ticket.level, len(chain) - 1)]
        contact = self._config.notify.contacts.get(name)
        if contact is None:
            return name, frozenset()
        if isinstance(contact.zones, list) and ticket.zone_id not in contact.zones:
            return name, frozenset()
        return name, frozenset(contact.destinations)

    def payload(self, ticket: Ticket, event: str, now: float, contact: str | None) -> dict[str, Any]:
        config = self._config
        camera = config.camera(ticket.camera_id)
        zone = next((z for z in config.zones if z.id == ticket.zone_id), None)
        link = config.notify.link_base
        return {
            "ticket_id": ticket.id,
            "event": event,
            "camera_id": ticket.camera_id,
            "camera_name": camera.name if camera is not None else ticket.camera_id,
            "zone_id": ticket.zone_id,
            "zone_name": zone.name if zone is not None else None,
            "zone_kind": ticket.zone_kind,
            "fault": ticket.fault,
            "detail": ticket.detail,
            "since": ticket.since,
            "at": now,
            "level": ticket.level,
            "contact_list": contact,
            "acknowledged_by": ticket.acknowledged_by,
            "acknowledged_at": ticket.acknowledged_at,
            "note": ticket.note,
            "repair_s": None if ticket.closed_at is None else ticket.closed_at - ticket.since,
            "reopened": ticket.reopened,
            "language": config.notify.language or config.site.language,
            "timezone": config.site.timezone,
            "site_name": config.site.name,
            "link": f"{link.rstrip('/')}/tickets?id={ticket.id}" if link else None,
        }

    def _tell(self, ticket: Ticket, event: str, now: float) -> list[NewMessage]:
        """The message telling this change (none when the contact list takes no ticket of its zone)."""
        contact, audience = self.audience(ticket)
        if audience is not None and not audience:
            return []
        # Stable per change: the same change published twice is stored once (gateway/outbox/store.py).
        msg_id = f"{self._config.site.id}:ticket:{ticket.id}:{event}:{ticket.reopened}:{ticket.level}"
        if event == "acknowledged":
            msg_id += f":{int(now)}"
        return [
            NewMessage(
                kind="ticket",
                camera_id=ticket.camera_id,
                payload=self.payload(ticket, event, now, contact),
                created_at=now,
                msg_id=msg_id,
                audience=audience,
            )
        ]

    # --- reading -----------------------------------------------------------------------------------

    def open_tickets(self) -> list[Ticket]:
        return self.store.open_tickets()

    def get(self, ticket_id: int) -> Ticket:
        ticket = self.store.get(ticket_id)
        if ticket is None:
            raise NotFoundError(_("no ticket {ticket_id}").format(ticket_id=ticket_id))
        return ticket
