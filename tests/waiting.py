"""Polling helpers of the integration and fault tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(what: str, probe: Callable[[], T | None], timeout: float) -> T:
    """Poll probe until it returns something truthy, and return that; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.25)


def first_seen(ids: list[Any]) -> list[Any]:
    """Each id once, in the order of its first arrival: what a receiver that deduplicates keeps."""
    seen: set[Any] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out
