"""A bounded, drop-oldest, per-camera packet bus.

The camera's reader thread publishes; asyncio consumers (forwarders, samplers, viewers) subscribe.
Each subscription has its own bounded queue: a slow consumer loses its oldest packets, counted,
and never slows the reader or the other consumers. Publishing with no subscriber costs one
attribute check, which is the common case (health is measured in the reader thread itself).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

from adapters.common.media import Packet


class Subscription:
    def __init__(self, bus: PacketBus, name: str, maxlen: int, loop: asyncio.AbstractEventLoop) -> None:
        self.name = name
        self.maxlen = maxlen
        self.dropped = 0
        self.delivered = 0
        self._bus = bus
        self._loop = loop
        self._queue: deque[Packet] = deque()
        self._lock = threading.Lock()
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    def _offer(self, packet: Packet) -> None:
        """Called from the reader thread."""
        with self._lock:
            if len(self._queue) >= self.maxlen:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(packet)
            waiter, self._waiter = self._waiter, None
        # Wake the consumer only when it is actually waiting: one loop callback per burst, not per packet.
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)

    async def get(self) -> Packet:
        """The next packet; raises EOFError once the subscription is closed and drained."""
        while True:
            with self._lock:
                if self._queue:
                    self.delivered += 1
                    return self._queue.popleft()
                if self.closed:
                    raise EOFError(self.name)
                waiter = self._waiter = self._loop.create_future()
            await waiter

    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        self._bus._remove(self)
        with self._lock:
            self.closed = True
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Packet:
        try:
            return await self.get()
        except EOFError:
            raise StopAsyncIteration from None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class PacketBus:
    """Fan-out of one camera's packets. Thread-safe publish; subscribe from the event loop."""

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self.published = 0
        # Replaced, never mutated, so the reader thread can iterate it without a lock.
        self._subscribers: tuple[Subscription, ...] = ()
        self._lock = threading.Lock()

    def subscribe(self, name: str, maxlen: int = 256) -> Subscription:
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        sub = Subscription(self, name, maxlen, asyncio.get_running_loop())
        with self._lock:
            self._subscribers = (*self._subscribers, sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s is not sub)

    def publish(self, packet: Packet) -> None:
        self.published += 1
        for sub in self._subscribers:
            sub._offer(packet)

    @property
    def subscribers(self) -> tuple[Subscription, ...]:
        return self._subscribers

    def dropped(self) -> int:
        return sum(s.dropped for s in self._subscribers)
