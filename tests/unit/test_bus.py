from __future__ import annotations

import asyncio
import threading
from fractions import Fraction

import pytest

from adapters.common.media import Packet
from gateway.pipeline.bus import PacketBus


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
