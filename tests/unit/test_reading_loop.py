"""The reading loop (gateway/pipeline/loop.py): many sessions read by one thread, each ending on its
own thread as if it had read there; fake sources, real threads."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import pytest

from adapters.common.media import Packet
from adapters.rtsp import Reason, SourceError
from gateway.pipeline.loop import ReadingLoop
from tests.support.waiting import wait_until

TB = Fraction(1, 90000)


class Source:
    """Two packets at each poll; then, if told, a failure."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.polled_by: set[str] = set()
        self.fail: BaseException | None = None
        self.n = 0

    def poll(self) -> list[Packet]:
        self.polled_by.add(threading.current_thread().name)
        if self.fail is not None:
            raise self.fail
        out = [Packet(self.name, "h264", i, i, TB, False, b"x", time.monotonic()) for i in range(self.n, self.n + 2)]
        self.n += 2
        return out


class Meter:
    def __init__(self) -> None:
        self.taken = 0
        self.realtime = False

    def take(self, packet: Packet) -> float:
        self.taken += 1
        return 0.5


def _serve(loop: ReadingLoop, source: Source, meter: Meter, stop: threading.Event, out: dict[str, object]) -> None:
    try:
        out[source.name] = loop.serve(source, meter, stop)
    except BaseException as exc:  # noqa: BLE001 - what the session's thread would see, kept for the test
        out[source.name] = exc


def _start(
    loop: ReadingLoop, names: list[str]
) -> tuple[dict[str, tuple[Source, Meter, threading.Event]], dict[str, object], list[threading.Thread]]:
    sessions = {n: (Source(n), Meter(), threading.Event()) for n in names}
    out: dict[str, object] = {}
    threads = [threading.Thread(target=_serve, args=(loop, *sessions[n], out)) for n in names]
    for t in threads:
        t.start()
    return sessions, out, threads


def test_one_thread_reads_every_session_until_each_is_stopped() -> None:
    loop = ReadingLoop(0.05)
    sessions, out, threads = _start(loop, ["a", "b", "c"])
    wait_until("every session read", lambda: all(m.taken >= 6 for _, m, _ in sessions.values()), 5)
    assert {name for s, _, _ in sessions.values() for name in s.polled_by} == {"reading-loop"}
    assert loop.sessions() == 3
    sessions["b"][2].set()
    threads[1].join(5)
    assert out == {"b": True} and loop.sessions() == 2
    for _, _, stop in sessions.values():
        stop.set()
    for t in threads:
        t.join(5)
    assert out == {"a": True, "b": True, "c": True}
    # With nobody left the thread ends; the next session starts another.
    wait_until("the loop's thread gone", lambda: not any(t.name == "reading-loop" for t in threading.enumerate()), 5)
    more, again, started = _start(loop, ["d"])
    wait_until("read again", lambda: more["d"][1].taken >= 2, 5)
    more["d"][2].set()
    started[0].join(5)
    assert again == {"d": True}


def test_a_failure_ends_its_session_on_its_own_thread_and_realtime_hands_it_back() -> None:
    loop = ReadingLoop(0.05)
    sessions, out, threads = _start(loop, ["bad", "viewed", "fine"])
    wait_until("read", lambda: all(m.taken >= 2 for _, m, _ in sessions.values()), 5)
    sessions["bad"][0].fail = SourceError(Reason.STALLED, "no video for 5 s")
    sessions["viewed"][1].realtime = True  # somebody takes its packets now: its thread reads it
    threads[0].join(5)
    threads[1].join(5)
    error = out["bad"]
    assert isinstance(error, SourceError) and error.reason is Reason.STALLED
    assert out["viewed"] is False
    assert loop.sessions() == 1  # the third reads on, undisturbed
    taken = sessions["fine"][1].taken
    wait_until("the third still read", lambda: sessions["fine"][1].taken > taken, 5)
    sessions["fine"][2].set()
    threads[2].join(5)


def test_a_loop_that_dies_ends_every_session_it_held_with_a_reason() -> None:
    loop = ReadingLoop(0.05)
    sessions, out, threads = _start(loop, ["a", "b"])
    wait_until("read", lambda: all(m.taken >= 2 for _, m, _ in sessions.values()), 5)
    sessions["a"][0].fail = KeyboardInterrupt()  # not an Exception: out of the loop's own handling
    for t in threads:
        t.join(5)
    for name in ("a", "b"):
        error = out[name]
        assert isinstance(error, SourceError) and "the reading loop died (KeyboardInterrupt)" in error.detail, error
    assert loop.deaths == 1 and loop.sessions() == 0
    more, again, started = _start(loop, ["c"])  # a new thread for the next session
    wait_until("read by a new loop", lambda: more["c"][1].taken >= 2, 5)
    more["c"][2].set()
    started[0].join(5)
    assert again == {"c": True}


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ReadingLoop(0)
