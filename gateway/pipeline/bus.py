"""A bounded, drop-oldest, per-camera packet bus.

The camera's reader thread publishes; asyncio consumers (forwarders, samplers, viewers) subscribe.
Each subscription has its own bounded queue: a slow consumer loses its oldest packets, counted,
and never slows the reader or the other consumers. Publishing with no subscriber costs one
attribute check, which is the common case (health is measured in the reader thread itself).

A camera's sound (audio packets, `Packet.is_audio`) goes only to the subscriptions made with
``audio=True`` (the GB/T 28181 sessions, a worker's tap while one of those listens): every other
consumer gets the video alone, as if the camera had no microphone.

A bus made with ``gop_cache_bytes`` keeps the camera's current group of pictures (its last keyframe and
the video since, up to that many bytes), and a subscription made with ``gop=True`` starts with it: a
GB/T 28181 platform gets a picture at once instead of at the camera's next keyframe, which a smart
codec sends 8-10 s apart (Hikvision platforms give up on a stream after about 10 s). Such a bus takes
every packet, subscribers or not, and holds its lock while it publishes, so that a new subscription
gets each packet once: from the cache or live, never both, never neither.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Final

from adapters.common.media import Packet, StreamInfo

# A forwarded camera's group of pictures, at most: a smart codec's 10 s GOP of a still 1080p scene is
# well under it; a busy 8 Mbit/s camera's 4 s is not, and waits for its next keyframe as before.
GOP_CACHE_BYTES: Final = 4 * 1024 * 1024


class Subscription:
    def __init__(
        self, bus: PacketBus, name: str, maxlen: int, loop: asyncio.AbstractEventLoop, audio: bool = False
    ) -> None:
        self.name = name
        self.maxlen = maxlen
        self.audio = audio  # whether it gets the camera's sound
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


class BlockingSubscription:
    """A subscription for a consumer thread (the analytics decoder), same drop-oldest bound."""

    def __init__(self, bus: PacketBus, name: str, maxlen: int, audio: bool = False) -> None:
        self.name = name
        self.maxlen = maxlen
        self.audio = audio  # whether it gets the camera's sound; a worker's tap changes it while it runs
        self.dropped = 0
        self.delivered = 0
        self.closed = False
        self._bus = bus
        self._queue: deque[Packet] = deque()
        self._ready = threading.Condition()

    def _offer(self, packet: Packet) -> None:
        with self._ready:
            if len(self._queue) >= self.maxlen:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(packet)
            self._ready.notify()

    def get(self, timeout: float) -> Packet | None:
        """The next packet, or None after `timeout` seconds without one or once closed."""
        with self._ready:
            if not self._queue and not self.closed:
                self._ready.wait(timeout)
            if not self._queue:
                return None
            self.delivered += 1
            return self._queue.popleft()

    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        self._bus._remove(self)
        with self._ready:
            self.closed = True
            self._ready.notify_all()


class PacketBus:
    """Fan-out of one camera's packets. Thread-safe publish; subscribe from the event loop."""

    def __init__(self, camera_id: str, gop_cache_bytes: int = 0) -> None:
        self.camera_id = camera_id
        self.published = 0
        self.gop_cache_bytes = gop_cache_bytes
        self._gop: list[Packet] = []  # from the last keyframe on; empty until one, or past the bound
        self._gop_size = 0
        # What the current session's source announced (codec parameters a decoder needs); set by
        # the reader when a session opens.
        self.info: StreamInfo | None = None
        # Replaced, never mutated, so the reader thread can iterate it without a lock.
        self._subscribers: tuple[Subscription | BlockingSubscription, ...] = ()
        self._lock = threading.Lock()

    @property
    def keeps_gop(self) -> bool:
        return self.gop_cache_bytes > 0

    def subscribe(self, name: str, maxlen: int = 256, *, audio: bool = False, gop: bool = False) -> Subscription:
        """A subscription for an asyncio consumer; with ``gop`` it starts with the cached group of
        pictures (its queue grows by that many packets: they are held by the cache already)."""
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        sub = Subscription(self, name, maxlen, asyncio.get_running_loop(), audio)
        self._add(sub, gop)
        return sub

    def subscribe_blocking(
        self, name: str, maxlen: int = 256, *, audio: bool = False, gop: bool = False
    ) -> BlockingSubscription:
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        sub = BlockingSubscription(self, name, maxlen, audio)
        self._add(sub, gop)
        return sub

    def _add(self, sub: Subscription | BlockingSubscription, gop: bool) -> None:
        with self._lock:
            if gop and self._gop:
                kept = [p for p in self._gop if sub.audio or not p.is_audio]
                sub.maxlen += len(kept)
                for packet in kept:
                    sub._offer(packet)
            self._subscribers = (*self._subscribers, sub)

    def gop(self) -> list[Packet]:
        """The cached group of pictures (a copy): the last keyframe and the video since."""
        with self._lock:
            return list(self._gop)

    def _remove(self, sub: Subscription | BlockingSubscription) -> None:
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s is not sub)

    def publish(self, packet: Packet) -> None:
        if self.gop_cache_bytes:
            with self._lock:
                self._keep(packet)
                self._fan_out(packet)
            return
        self._fan_out(packet)

    def _keep(self, packet: Packet) -> None:
        # The sound of the group is kept too, so a session's first seconds are not silent; an audio
        # frame (each one a "keyframe") never starts a group.
        if packet.keyframe and not packet.is_audio:
            self._gop, self._gop_size = [packet], packet.size
        elif self._gop:
            self._gop.append(packet)
            self._gop_size += packet.size
            if self._gop_size > self.gop_cache_bytes:
                # Too long a group to hold: none until the next keyframe (a new session waits for it).
                self._gop, self._gop_size = [], 0

    def forget_gop(self) -> None:
        """The stream ended or restarted: its pictures are no start for the next session's decoder."""
        with self._lock:
            self._gop, self._gop_size = [], 0

    def _fan_out(self, packet: Packet) -> None:
        self.published += 1
        if packet.is_audio:
            for sub in self._subscribers:
                if sub.audio:
                    sub._offer(packet)
            return
        for sub in self._subscribers:
            sub._offer(packet)

    @property
    def wants_audio(self) -> bool:
        """Whether a subscriber takes the camera's sound (a reader skips the sound when none does)."""
        return any(sub.audio for sub in self._subscribers)

    @property
    def subscribers(self) -> tuple[Subscription | BlockingSubscription, ...]:
        return self._subscribers

    def dropped(self) -> int:
        return sum(s.dropped for s in self._subscribers)
