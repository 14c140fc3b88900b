"""Holding back to a bot's rate: at most N sends in any minute, and a least gap between two.

The bots drop or refuse what comes faster (DingTalk even mutes the bot for ten minutes), so the
sender asks before each send how long it must wait, and waits: nothing is dropped here.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateLimiter"]

WINDOW_S = 60.0


class RateLimiter:
    """At most `per_minute` sends in any 60 s window and `min_interval_s` between two. Not thread safe:
    used from one event loop (a bot's two outbox queues share one)."""

    def __init__(self, per_minute: int, min_interval_s: float = 0.0, clock: Callable[[], float] = time.monotonic):
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._sent: deque[float] = deque()

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - WINDOW_S:
            self._sent.popleft()

    def delay(self, count: int = 1) -> float:
        """Seconds to wait before `count` sends in a row may start (0: now)."""
        count = min(max(count, 1), self.per_minute)
        now = self._clock()
        self._forget(now)
        wait = 0.0
        excess = len(self._sent) + count - self.per_minute
        if excess > 0:
            # The window must first lose its `excess` oldest sends.
            wait = self._sent[excess - 1] + WINDOW_S - now
        if self._sent and self.min_interval_s:
            wait = max(wait, self._sent[-1] + self.min_interval_s - now)
        return max(0.0, wait)

    def take(self, count: int = 1) -> None:
        """Count `count` sends as made now (spaced by the least gap, as they will be)."""
        now = self._clock()
        self._forget(now)
        for i in range(count):
            self._sent.append(now + i * self.min_interval_s)
