"""The one way the tests wait: poll a probe until it returns something truthy, or fail naming what was
awaited. `wait_until` sleeps between probes; `wait_until_async` is the same wait inside an event loop
(it awaits between probes, so the loop keeps running what is under test).

Each test keeps its own poll interval (`interval`): a fault test that measures how long the gateway
took polls at its own pace, and a unit test of an in-process outbox polls every 20 ms.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# What was awaited, for the failure message: words, or a function that describes what was last seen.
What = str | Callable[[], str]


def _timed_out(what: What, timeout: float) -> AssertionError:
    return AssertionError(f"timed out after {timeout:g} s waiting for {what if isinstance(what, str) else what()}")


def wait_until(what: What, probe: Callable[[], T | None], timeout: float, *, interval: float = 0.25) -> T:
    """Poll probe every `interval` seconds until it returns something truthy, and return that; after
    `timeout` seconds fail with an AssertionError naming `what` was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        time.sleep(interval)


async def wait_until_async(
    what: What,
    probe: Callable[[], T | None],
    timeout: float,  # noqa: ASYNC109 - a deadline like wait_until's; the probe is not cancellable
    *,
    interval: float = 0.02,
) -> T:
    """`wait_until` inside an event loop: awaits `interval` seconds between probes."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise _timed_out(what, timeout)
        await asyncio.sleep(interval)


def first_seen(ids: list[Any]) -> list[Any]:
    """Each id once, in the order of its first arrival: what a receiver that deduplicates keeps."""
    seen: set[Any] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out
