"""People's channels (group bots, e-mail) as outbox destinations, and their quiet hours.

Each configured channel is two outbox destinations sharing one sender (and one rate limit):

- `<id>`, the main queue: every ticket change, or, when the channel has quiet hours, every change but
  those that may wait (closed, acknowledged);
- `<id>:held`, the held queue: the changes that may wait, when the channel has quiet hours. During
  them it holds its messages and sends them at their end; outside them it sends each one once the main
  queue has nothing older left, so that people read a ticket's changes in the order they happened.

Two queues because the outbox delivers each destination's backlog strictly in order: one queue
holding a "closed" until 07:00 would hold every danger found after it too. Both backlogs are stored,
so what is held survives restarts and is never dropped; the held queue exists even without quiet
hours, so that messages it held before the config changed are still delivered. `GET
/api/v1/destinations` lists the held queue under its channel (the outbox's list of the queues a
destination manages), with `held_until` during quiet hours.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock_time
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

from gateway.config.outbox import HELD_IN_QUIET_HOURS, QuietHours
from gateway.outbox.service import SUB_SEPARATOR, DeliveryReport
from gateway.outbox.store import NewMessage, OutboxMessage, Route

HELD_SUFFIX: Final = f"{SUB_SEPARATOR}held"
# During quiet hours the held queue looks again at least this often (the clock may be set meanwhile).
HOLD_POLL_S: Final = 30.0
# Waiting behind the main queue: how often the held queue looks again.
BEHIND_POLL_S: Final = 1.0


class _Configured(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def quiet_hours(self) -> QuietHours | None: ...


class ChannelBase:
    """What a bot and a mailbox have alike: their config, quiet hours, and the last outcome standing for
    a connection (neither keeps one open to watch)."""

    def __init__(self, uplink: _Configured, timezone: str) -> None:
        self._configured = uplink
        self.zone = ZoneInfo(timezone)
        self._ok: bool | None = None
        self.last_error: str | None = None

    @property
    def id(self) -> str:
        return self._configured.id

    @property
    def quiet(self) -> QuietHours | None:
        return self._configured.quiet_hours

    @property
    def connected(self) -> bool:
        return bool(self._ok)

    def quiet_text(self) -> str | None:
        quiet = self.quiet
        return None if quiet is None else f"{quiet.start}-{quiet.end}"


def quiet_until(quiet: QuietHours | None, now: float, zone: ZoneInfo) -> float | None:
    """The end (epoch s) of the quiet period `now` falls in, or None outside quiet hours. A period
    whose end is earlier than its start runs over midnight (22:00-07:00)."""
    if quiet is None:
        return None
    start, end = quiet.minutes()
    local = datetime.fromtimestamp(now, zone)
    minute = local.hour * 60 + local.minute
    day = local.date()
    if start < end:
        if not start <= minute < end:
            return None
    elif minute >= start:
        day += timedelta(days=1)
    elif minute >= end:
        return None
    return datetime.combine(day, clock_time(end // 60, end % 60), tzinfo=zone).timestamp()


@dataclass(frozen=True)
class ChannelRoute(Route):
    """The route of one of a channel's two queues. A ticket's `audience` names the channel (`owner`),
    not the queue; `deferrable` are the ticket changes that go to the held queue (empty: none)."""

    owner: str = ""
    deferrable: frozenset[str] = frozenset()
    held_queue: bool = False

    def wants(self, message: NewMessage) -> bool:
        if message.kind not in self.kinds:
            return False
        if message.audience is not None and self.owner not in message.audience:
            return False
        if self.cameras is not None and message.camera_id not in self.cameras:
            return False
        deferred = message.kind == "ticket" and message.payload.get("event") in self.deferrable
        return deferred == self.held_queue


class Channel(Protocol):
    """A bot or a mailbox: what its two queues share."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def connected(self) -> bool: ...
    @property
    def quiet(self) -> QuietHours | None: ...
    @property
    def zone(self) -> ZoneInfo: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def send(self, messages: Sequence[OutboxMessage]) -> DeliveryReport: ...
    def status(self) -> dict[str, object]: ...


def channel_routes(
    channel_id: str, kinds: Sequence[str], cameras: Sequence[str] | None, quiet: QuietHours | None
) -> tuple[ChannelRoute, ChannelRoute]:
    """(main, held) routes of a channel."""
    deferrable = frozenset(HELD_IN_QUIET_HOURS) if quiet is not None else frozenset()
    common: dict[str, Any] = {
        "kinds": frozenset(kinds),
        "cameras": None if cameras is None else frozenset(cameras),
        "owner": channel_id,
        "deferrable": deferrable,
    }
    return (
        ChannelRoute(destination=channel_id, held_queue=False, **common),
        ChannelRoute(destination=channel_id + HELD_SUFFIX, held_queue=True, **common),
    )


class ChannelQueue:
    """One of a channel's two outbox destinations."""

    def __init__(
        self,
        channel: Channel,
        *,
        held: bool,
        head_of: Callable[[str], int | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.channel = channel
        self.held = held
        self._head_of = head_of  # blocking: the id of a destination's oldest undelivered message
        self._clock = clock
        self.held_until: float | None = None

    @property
    def id(self) -> str:
        return self.channel.id + (HELD_SUFFIX if self.held else "")

    @property
    def type(self) -> str:
        return self.channel.type

    @property
    def connected(self) -> bool:
        return self.channel.connected

    async def start(self) -> None:
        if not self.held:  # the channel is one: started and stopped by its main queue
            await self.channel.start()

    async def stop(self) -> None:
        if not self.held:
            await self.channel.stop()

    def status(self) -> dict[str, object]:
        if self.held:
            quiet = self.channel.quiet
            return {
                "quiet_hours": None if quiet is None else f"{quiet.start}-{quiet.end}",
                "held_until": self.held_until,
            }
        return self.channel.status()

    async def deliver(self, messages: Sequence[OutboxMessage]) -> DeliveryReport:
        if not self.held:
            return await self.channel.send(messages)
        now = self._clock()
        until = quiet_until(self.channel.quiet, now, self.channel.zone)
        self.held_until = until
        if until is not None:
            # Nothing is handed back, so nothing is settled: the dispatcher asks again after the sleep.
            await asyncio.sleep(max(0.05, min(until - now, HOLD_POLL_S)))
            return DeliveryReport()
        head = await asyncio.to_thread(self._head_of, self.channel.id)
        if head is not None:
            messages = [m for m in messages if m.id < head]
            if not messages:
                await asyncio.sleep(BEHIND_POLL_S)
                return DeliveryReport()
        return await self.channel.send(messages)
