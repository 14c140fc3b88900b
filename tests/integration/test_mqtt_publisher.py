"""MqttPublisher against a real mosquitto broker on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from adapters.mqtt import MqttError, MqttPublisher, MqttSettings
from tests.support.mosquitto import Mosquitto, Subscriber

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path) as m:
        yield m


@pytest.fixture
async def publisher(broker: Mosquitto) -> AsyncIterator[MqttPublisher]:
    pub = MqttPublisher(MqttSettings("127.0.0.1", broker.port, client_id="gw-test", availability_topic="gw/status"))
    await pub.start()
    assert await pub.wait_connected(5)
    yield pub
    await pub.stop()


def _retained(port: int, topic: str, **kwargs: str | None) -> list[tuple[str, bytes, bool]]:
    """What a fresh subscriber gets for topic: retained messages only, flagged retain=True."""
    with Subscriber(port, topic, **kwargs) as sub:
        try:
            return sub.wait_for(lambda ms: any(r for _, _, r in ms), 1.0)
        except TimeoutError:
            return sub.snapshot()


async def test_publish_qos1_in_order_and_retained(broker: Mosquitto, publisher: MqttPublisher) -> None:
    assert publisher.connected and publisher.connected_since is not None and publisher.last_error is None
    with Subscriber(broker.port, "gw/events/#") as sub:
        await publisher.publish("gw/events/a", b"first")
        items = [(f"gw/events/{i}", f"m{i}".encode(), False) for i in range(50)]
        assert await publisher.publish_many(items) == 50
        await publisher.publish("gw/events/state", b"kept", retain=True)
        got = await asyncio.to_thread(sub.wait_for, lambda ms: len(ms) >= 52, 5)
    assert [p for _, p, _ in got] == [b"first", *(p for _, p, _ in items), b"kept"]
    assert _retained(broker.port, "gw/events/state") == [("gw/events/state", b"kept", True)]


async def test_availability_online_then_offline_after_stop(broker: Mosquitto, publisher: MqttPublisher) -> None:
    assert _retained(broker.port, "gw/status") == [("gw/status", b"online", True)]
    await publisher.stop()
    assert not publisher.connected
    assert _retained(broker.port, "gw/status") == [("gw/status", b"offline", True)]


_CHILD = """
import asyncio, sys
from adapters.mqtt import MqttPublisher, MqttSettings

async def main() -> None:
    settings = MqttSettings("127.0.0.1", int(sys.argv[1]), client_id="gw-child", availability_topic="gw/status")
    pub = MqttPublisher(settings)
    await pub.start()
    assert await pub.wait_connected(5)
    await pub.publish("gw/child", b"up")
    print("ready", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_will_offline_when_the_process_dies(broker: Mosquitto) -> None:
    with Subscriber(broker.port, "gw/#") as sub:
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(broker.port)], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
            sub.wait_for(lambda ms: (("gw/status", b"online", False)) in ms, 5)
            os.kill(child.pid, signal.SIGKILL)  # no DISCONNECT: the broker must send the will
        finally:
            child.kill()
            child.wait()
        sub.wait_for(lambda ms: ms[-1][:2] == ("gw/status", b"offline"), 5)
    assert _retained(broker.port, "gw/status") == [("gw/status", b"offline", True)]


async def test_broker_outage_fails_fast_then_reconnects(broker: Mosquitto, publisher: MqttPublisher) -> None:
    broker.stop()
    for _ in range(250):
        if not publisher.connected:
            break
        await asyncio.sleep(0.02)
    assert not publisher.connected
    assert publisher.last_error

    started = time.monotonic()
    with pytest.raises(MqttError):
        await publisher.publish("gw/x", b"lost")
    assert await publisher.publish_many([("gw/x", b"1", False), ("gw/x", b"2", False)]) == 0
    assert time.monotonic() - started < 1

    broker.start()
    assert await publisher.wait_connected(10), publisher.last_error
    with Subscriber(broker.port, "gw/x") as sub:
        await publisher.publish("gw/x", b"back")
        await asyncio.to_thread(sub.wait_for, lambda ms: ("gw/x", b"back", False) in ms, 5)
    # "online" again after the reconnect: the broker was restarted with no persistence.
    assert _retained(broker.port, "gw/status") == [("gw/status", b"online", True)]


async def test_publish_many_counts_the_acknowledged_prefix(tmp_path: Path) -> None:
    # The broker drops the connection on the oversized third message: at most the two before it count,
    # and the publisher must not resend the poison message forever after reconnecting.
    with Mosquitto(tmp_path, extra_config=["max_packet_size 2000"]) as m:
        pub = MqttPublisher(MqttSettings("127.0.0.1", m.port))
        await pub.start()
        try:
            assert await pub.wait_connected(5)
            items = [("gw/b/0", b"a", False), ("gw/b/1", b"b", False), ("gw/b/2", b"x" * 5000, False)]
            items += [(f"gw/b/{i}", b"c", False) for i in range(3, 10)]
            # Never the poison message or anything after it. Fewer than 2 when mosquitto closed the socket
            # before flushing the PUBACKs it owed: those two are then resent by the caller, as designed.
            assert await pub.publish_many(items, timeout_s=5) in (0, 1, 2)
            assert await pub.wait_connected(10), pub.last_error
            assert await pub.publish_many(items[3:], timeout_s=5) == 7
        finally:
            await pub.stop()


async def test_publish_many_times_out_on_a_frozen_broker(broker: Mosquitto, publisher: MqttPublisher) -> None:
    assert broker._proc is not None
    broker._proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert await publisher.publish_many([("gw/f", b"1", False)], timeout_s=0.5) == 0
        with pytest.raises(MqttError, match="acknowledgement"):
            await publisher.publish("gw/f", b"2", timeout_s=0.3)
        assert time.monotonic() - started < 2
    finally:
        broker._proc.send_signal(signal.SIGCONT)


async def test_username_password(tmp_path: Path) -> None:
    with Mosquitto(tmp_path, users={"gw": "right-horse-battery"}) as m:
        good = MqttPublisher(MqttSettings("127.0.0.1", m.port, username="gw", password="right-horse-battery"))
        bad = MqttPublisher(MqttSettings("127.0.0.1", m.port, username="gw", password="wrong-staple-42"))
        await good.start()
        await bad.start()
        try:
            assert await good.wait_connected(5)
            await good.publish("gw/auth", b"ok")
            assert not await bad.wait_connected(1.5)
            assert not bad.connected
            assert bad.last_error is not None and "authoris" in bad.last_error
            assert "wrong-staple-42" not in bad.last_error
            assert "wrong-staple-42" not in repr(bad._settings)
            with pytest.raises(MqttError) as err:
                await bad.publish("gw/auth", b"no")
            assert "wrong-staple-42" not in str(err.value)
        finally:
            await good.stop()
            await bad.stop()


async def test_tls_with_generated_ca(tmp_path: Path) -> None:
    with Mosquitto(tmp_path, tls=True) as m:
        assert m.ca_file is not None
        pub = MqttPublisher(MqttSettings("127.0.0.1", m.port, tls=True, ca_file=m.ca_file))
        await pub.start()
        try:
            assert await pub.wait_connected(5), pub.last_error
            with Subscriber(m.port, "gw/tls", ca_file=m.ca_file) as sub:
                await pub.publish("gw/tls", b"secure")
                await asyncio.to_thread(sub.wait_for, lambda ms: ("gw/tls", b"secure", False) in ms, 5)
        finally:
            await pub.stop()

        # Without the CA the broker's self-signed chain must be refused.
        untrusted = MqttPublisher(MqttSettings("127.0.0.1", m.port, tls=True))
        await untrusted.start()
        try:
            assert not await untrusted.wait_connected(1.5)
        finally:
            await untrusted.stop()


async def test_broker_restarted_again_and_again_while_batches_are_acknowledged(tmp_path: Path) -> None:
    # An outbox in miniature: a backlog that only shrinks by the acknowledged prefix, fed while the broker
    # is restarted five times. A persistent subscriber session keeps what the broker acknowledged across
    # its restarts, so every message must arrive, and once each after dedup.
    from adapters.mqtt.publisher import BACKOFF_MIN_S

    with Mosquitto(tmp_path, persistent=True) as m:
        sub = Subscriber(m.port, "gw/load/#", client_id="recorder", clean_session=False).start()
        pub = MqttPublisher(MqttSettings("127.0.0.1", m.port, client_id="gw-load"))
        await pub.start()
        assert await pub.wait_connected(5)
        backlog: list[str] = []
        produced: list[str] = []
        feeding = True

        async def produce() -> None:
            n = 0
            while feeding:
                for _ in range(20):
                    backlog.append(f"m{n:05d}")
                    produced.append(backlog[-1])
                    n += 1
                await asyncio.sleep(0.05)

        async def drain() -> None:
            while feeding or backlog:
                if not backlog or not await pub.wait_connected(0.5):
                    await asyncio.sleep(0.02)
                    continue
                batch = backlog[:50]
                acked = await pub.publish_many([(f"gw/load/{x}", x.encode(), False) for x in batch], timeout_s=3)
                del backlog[:acked]

        tasks = [asyncio.create_task(produce()), asyncio.create_task(drain())]
        reconnect_s: list[float] = []
        try:
            for _ in range(5):
                await asyncio.sleep(0.7)
                await asyncio.to_thread(m.restart)
                back = time.monotonic()
                # Lost, then connected again within the backoff after the broker's return: the first
                # retry waits at most BACKOFF_MIN_S, a refused one doubles it.
                for _ in range(200):
                    if not pub.connected:
                        break
                    await asyncio.sleep(0.01)
                assert await pub.wait_connected(4 * BACKOFF_MIN_S + 1), pub.last_error
                reconnect_s.append(time.monotonic() - back)
            feeding = False
            await asyncio.wait_for(tasks[1], 30)
        finally:
            feeding = False
            for task in tasks:
                task.cancel()
            await pub.stop()
        assert len(produced) > 500
        want = {f"gw/load/{x}" for x in produced}
        got = await asyncio.to_thread(sub.wait_for, lambda ms: {t for t, _, _ in ms} >= want, 20)
        sub.stop()
        seen = [t for t, _, _ in got]
        assert set(seen) == want  # nothing lost, nothing foreign
        first = list(dict.fromkeys(seen))
        assert first == sorted(first)  # in order, counting each message's first arrival
        print(
            f"reconnects after broker restarts: {[round(s, 2) for s in reconnect_s]} s; "
            f"{len(produced)} messages, {len(seen) - len(want)} duplicates dropped by dedup"
        )


async def test_a_failure_inside_the_client_costs_one_connection(
    broker: Mosquitto, publisher: MqttPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The way paho 2.1's thread died (a RuntimeError while handling a packet), here raised inside the
    # client's read path: the connection is made anew, the failure is counted and said once.
    import paho.mqtt.client as paho

    real = paho.Client.loop_read
    failed: list[bool] = []
    loop_thread = threading.get_ident()  # the publisher's; the subscriber's paho thread is left alone

    def loop_read(self: paho.Client, max_packets: int = 1) -> int:
        if not failed and threading.get_ident() == loop_thread:
            failed.append(True)
            raise RuntimeError("OrderedDict changed size during iteration")
        return real(self, max_packets)

    monkeypatch.setattr(paho.Client, "loop_read", loop_read)
    with Subscriber(broker.port, "gw/bug") as sub:
        await publisher.publish("gw/bug", b"trigger")
        for _ in range(300):
            if publisher.restarts:
                break
            await asyncio.sleep(0.01)
        assert publisher.restarts == 1
        assert publisher.last_crash is not None and "OrderedDict changed size" in publisher.last_crash
        assert await publisher.wait_connected(5), publisher.last_error
        await publisher.publish("gw/bug", b"after")
        await asyncio.to_thread(sub.wait_for, lambda ms: ("gw/bug", b"after", False) in ms, 5)


async def test_a_driver_task_that_ends_is_started_again(broker: Mosquitto, publisher: MqttPublisher) -> None:
    drivers = [t for t in asyncio.all_tasks() if t.get_name() == f"mqtt-127.0.0.1:{broker.port}"]
    assert len(drivers) == 1
    drivers[0].cancel()  # from outside, as a stray cancel would
    for _ in range(300):
        if publisher.restarts:
            break
        await asyncio.sleep(0.01)
    assert publisher.restarts == 1 and publisher.last_crash is not None
    assert await publisher.wait_connected(5), publisher.last_error
    await publisher.publish("gw/again", b"ok")
