"""The watchdog: a long-lived task or thread that fails is logged once per reason, counted, shown and
started again; one that finishes when asked to stop is not."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from gateway import tasks
from gateway.tasks import Watchdog


@pytest.fixture(autouse=True)
def fast_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "RESTART_MIN_S", 0.01)
    monkeypatch.setattr(tasks, "RESTART_MAX_S", 0.04)


async def test_a_failing_task_is_restarted_counted_and_logged_once_per_reason(caplog: pytest.LogCaptureFixture) -> None:
    watchdog = Watchdog()
    runs = 0
    healthy = asyncio.Event()

    async def part() -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise RuntimeError("OrderedDict changed size during iteration")
        healthy.set()
        await asyncio.sleep(3600)

    with caplog.at_level(logging.WARNING, logger="gateway.tasks"):
        task = watchdog.task("outbox-broker", part)
        await asyncio.wait_for(healthy.wait(), 5)
    (p,) = watchdog.parts()
    assert (p.name, p.kind, p.running, p.restarts) == ("outbox-broker", "task", True, 3)
    assert p.last_failure == "RuntimeError: OrderedDict changed size during iteration"
    assert p.down_since is None and watchdog.down() == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None  # the traceback once, then warnings
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not watchdog.parts()[0].running


async def test_a_task_that_returns_is_restarted_unless_finished() -> None:
    watchdog = Watchdog()
    calls = 0
    stopping = False

    async def part() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)

    task = watchdog.task("history-heartbeat", part, finished=lambda: stopping)
    for _ in range(200):
        if calls >= 2:
            break
        await asyncio.sleep(0.01)
    assert calls >= 2 and watchdog.parts()[0].last_failure == "ended unexpectedly"
    stopping = True
    await asyncio.wait_for(task, 2)  # returns for good once finished() says so
    assert not watchdog.parts()[0].running


async def test_a_part_down_is_visible_until_it_runs_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "RESTART_MIN_S", 30.0)
    watchdog = Watchdog()

    async def broken() -> None:
        raise OSError("disk gone")

    task = watchdog.task("history-sampler", broken)
    for _ in range(100):
        if watchdog.down():
            break
        await asyncio.sleep(0.01)
    (down,) = watchdog.down()
    assert down.name == "history-sampler" and down.last_failure == "OSError: disk gone"
    assert down.as_dict()["down_since"] is not None
    task.cancel()


def test_a_failing_thread_is_restarted_until_stop() -> None:
    watchdog = Watchdog()
    stop = threading.Event()
    runs: list[float] = []
    steady = threading.Event()

    def part() -> None:
        runs.append(time.monotonic())
        if len(runs) <= 2:
            raise ValueError("bad frame")
        steady.set()
        stop.wait()

    thread = watchdog.thread("analytics-detector", part, stop)
    assert steady.wait(5)
    (p,) = watchdog.parts()
    assert (p.kind, p.restarts, p.last_failure) == ("thread", 2, "ValueError: bad frame")
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and not watchdog.parts()[0].running
    assert watchdog.parts()[0].restarts == 2  # a stop is not a failure
