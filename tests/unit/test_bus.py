from __future__ import annotations

import asyncio
import threading
import time
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import pytest

from adapters.common.media import Packet
from gateway.pipeline.bus import PacketBus
from gateway.pipeline.readers import RoutedReader


def pkt(i: int) -> Packet:
    return Packet("c", "h264", i, i, Fraction(1, 90000), i == 0, b"x", float(i))


async def test_fan_out_from_a_thread_in_order() -> None:
    bus = PacketBus("c")
    a, b = bus.subscribe("a", maxlen=1000), bus.subscribe("b", maxlen=1000)
    thread = threading.Thread(target=lambda: [bus.publish(pkt(i)) for i in range(500)])
    thread.start()
    got_a = [(await a.get()).pts for _ in range(500)]
    got_b = [(await b.get()).pts for _ in range(500)]
    thread.join()
    assert got_a == got_b == list(range(500))
    assert a.dropped == b.dropped == 0 and bus.published == 500


async def test_slow_subscriber_drops_oldest_and_counts() -> None:
    bus = PacketBus("c")
    slow = bus.subscribe("slow", maxlen=10)
    for i in range(25):
        bus.publish(pkt(i))
    assert slow.dropped == 15 and bus.dropped() == 15
    assert [(await slow.get()).pts for _ in range(10)] == list(range(15, 25))


async def test_close_ends_iteration_and_unsubscribes() -> None:
    bus = PacketBus("c")
    sub = bus.subscribe("s")
    bus.publish(pkt(1))

    async def consume() -> list[int | None]:
        return [p.pts async for p in sub]

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.01)
    sub.close()
    assert await asyncio.wait_for(task, 1) == [1]
    assert bus.subscribers == ()
    bus.publish(pkt(2))  # no subscriber: nothing queued anywhere
    with pytest.raises(ValueError, match="maxlen"):
        bus.subscribe("bad", maxlen=0)


# -- the blocking subscription the analytics feeders use, and routing cameras to readers -------------


def test_blocking_subscription_drops_oldest_and_counts() -> None:
    bus = PacketBus("cam")
    sub = bus.subscribe_blocking("analytics", maxlen=3)
    for n in range(5):
        bus.publish(pkt(n))
    assert sub.dropped == 2
    assert [p.pts for p in (sub.get(0.1), sub.get(0.1), sub.get(0.1))] == [2, 3, 4]  # type: ignore[union-attr]
    assert sub.get(0.01) is None  # empty: times out
    sub.close()
    bus.publish(pkt(9))
    assert sub.get(0.01) is None and not bus.subscribers


def test_blocking_subscription_wakes_a_waiting_thread() -> None:
    bus = PacketBus("cam")
    sub = bus.subscribe_blocking("analytics")
    got: list[Packet | None] = []
    waiter = threading.Thread(target=lambda: got.append(sub.get(5.0)))
    waiter.start()
    time.sleep(0.05)
    bus.publish(pkt(1))
    waiter.join(2)
    assert got and got[0] is not None and got[0].pts == 1


async def test_routed_reader_sends_each_camera_to_its_reader() -> None:
    calls: list[tuple[str, str]] = []

    class Recorder:
        def __init__(self, name: str) -> None:
            self.name = name

        async def run_session(self, camera: Any, session: int, on_snapshot: Any, quality: Any = None) -> None:
            calls.append((self.name, camera.id))

        def stop_session(self, camera_id: str) -> None:
            calls.append((self.name, "stop " + camera_id))

        async def close(self) -> None:
            calls.append((self.name, "close"))

    routed = RoutedReader(Recorder("threads"), Recorder("processes"), {"analysed"})
    await routed.run_session(SimpleNamespace(id="analysed"), 1, lambda *a: None)  # type: ignore[arg-type]
    await routed.run_session(SimpleNamespace(id="plain"), 1, lambda *a: None)  # type: ignore[arg-type]
    routed.stop_session("plain")
    await routed.close()
    assert calls == [
        ("threads", "analysed"),
        ("processes", "plain"),
        ("processes", "stop plain"),
        ("threads", "close"),
        ("processes", "close"),
    ]


def _video(i: int, keyframe: bool = False, size: int = 100) -> Packet:
    return Packet("cam", "h264", i, i, Fraction(1, 90000), keyframe, bytes(size), 0.0)


async def test_a_gop_subscription_starts_at_the_last_keyframe() -> None:
    bus = PacketBus("cam", gop_cache_bytes=10_000)
    for i in range(5):
        bus.publish(_video(i, keyframe=i in (0, 3)))
    plain = bus.subscribe("plain", 4)
    started = bus.subscribe("gb", 4, gop=True)
    bus.publish(_video(5))
    assert [p.pts for p in [await started.get() for _ in range(3)]] == [3, 4, 5]  # keyframe 3 on
    assert started.pending() == 0 and (await plain.get()).pts == 5 and plain.pending() == 0


async def test_a_group_past_the_bound_is_dropped_until_the_next_keyframe() -> None:
    bus = PacketBus("cam", gop_cache_bytes=250)
    bus.publish(_video(0, keyframe=True))
    bus.publish(_video(1))
    assert [p.pts for p in bus.gop()] == [0, 1]
    bus.publish(_video(2))  # 300 bytes: over the bound
    assert bus.gop() == []
    bus.publish(_video(3))
    assert bus.gop() == []  # not a start for a decoder: nothing until a keyframe
    bus.publish(_video(4, keyframe=True))
    assert [p.pts for p in bus.gop()] == [4]
    bus.forget_gop()
    assert bus.gop() == []
    assert PacketBus("cam").gop() == [] and not PacketBus("cam").keeps_gop  # off unless asked


def test_a_gop_subscription_made_while_publishing_gets_each_packet_once() -> None:
    """Subscriptions made from another thread while the reader publishes: each sees a run of
    consecutive packets from a keyframe on, none twice, none missing."""
    bus = PacketBus("cam", gop_cache_bytes=1_000_000)
    done = threading.Event()

    def reader() -> None:
        for i in range(20_000):
            if done.is_set():
                return
            bus.publish(_video(i, keyframe=i % 25 == 0, size=10))
            if i % 100 == 0:
                time.sleep(0.0005)  # let the subscribing thread in between publishes

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        subs = []
        for _ in range(50):
            subs.append(bus.subscribe_blocking("gb", 100_000, gop=True))
            time.sleep(0.001)
    finally:
        done.set()
        thread.join()
    for sub in subs:
        got = []
        while (packet := sub.get(0)) is not None:
            got.append(packet)
        assert got and got[0].keyframe, "a GOP subscription must start at a keyframe"
        pts = [p.pts for p in got]
        assert pts == list(range(pts[0], pts[0] + len(pts))), "a packet missed or repeated"


async def test_the_kept_group_holds_its_sound_for_the_subscribers_that_take_sound() -> None:
    bus = PacketBus("cam", gop_cache_bytes=10_000)
    sound = Packet("cam", "pcma", 0, 0, Fraction(1, 8000), True, bytes(160), 0.0)
    bus.publish(sound)  # before any keyframe: no group, and a sound frame never starts one
    assert bus.gop() == []
    bus.publish(_video(0, keyframe=True))
    bus.publish(sound)
    bus.publish(_video(1))
    with_sound = bus.subscribe("gb", 8, audio=True, gop=True)
    video_only = bus.subscribe("viewer", 8, gop=True)
    assert [p.codec for p in [await with_sound.get() for _ in range(3)]] == ["h264", "pcma", "h264"]
    assert [p.pts for p in [await video_only.get() for _ in range(2)]] == [0, 1] and video_only.pending() == 0
