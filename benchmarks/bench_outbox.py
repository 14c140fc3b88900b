"""Durable outbox to MQTT: write throughput, delivered throughput, event -> delivery latency, catch-up.

    .venv/bin/python -m benchmarks.bench_outbox              # 3 repeats, ~6 min
    .venv/bin/python -m benchmarks.bench_outbox --quick      # 1 repeat, short runs, ~1 min
    .venv/bin/python -m benchmarks.bench_outbox --json        # also the JSON, on stdout (or --json FILE)

Everything in one process running an asyncio loop, as the gateway does: a real SQLite file (WAL, the
gateway's `Database`) in a temp dir and a real mosquitto on 127.0.0.1 (`tests/support/mosquitto.py`). The
outbox is what `build_outbox` builds from a config with one MQTT uplink (QoS 1, default batch size
100). Detection events are stored the way the analytics detector thread stores them: `EventStore.add`
from a thread, then `loop.call_soon_threadsafe(outbox.event_stored, event)`; the outbox reads them
back from the events table. A paho subscriber in the same process records every event message
(deduplicated by the JSON "id") with time.monotonic() on arrival.

Each figure has a baseline measured in the same repeat:

* write: events/s the producer thread stores while the outbox runs, and the rate at which they all
  become outbox messages (the events cursor passes the last one), vs `EventStore.add` alone with no
  outbox. State messages through `outbox.publish` (memory -> batched write) are quoted against it too.
* delivered: N events produced as fast as possible until the subscriber has all of them, vs the same
  N payloads sent with `MqttPublisher.publish_many` in batches of the outbox's batch size, with no
  storage at all: the ratio is the price of durability.
* latency: events at a steady rate; from just before `EventStore.add` (the time rides in the
  event's `detail`) to the subscriber's on_message, vs a direct publish handed from the same kind of
  thread to the loop at the same rate.
* catch-up: the broker stopped, events stored meanwhile, the broker started on the same port: time
  until the backlog is empty (the broker acknowledged all), vs the direct publish rate above.

Repeats interleave the scenarios, so a slow spell of the shared box hits them all alike.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from adapters.mqtt.publisher import MqttPublisher, MqttSettings
from benchmarks.common import median
from gateway.analytics.events import Event, EventBox, EventStore
from gateway.config import GatewayConfig, parse_config
from gateway.health.state import CameraState, CameraStatus
from gateway.outbox.destinations import build_outbox
from gateway.outbox.messages import state_messages
from gateway.outbox.mqtt import MqttDestination
from gateway.outbox.service import Outbox
from gateway.outbox.store import EVENTS_CURSOR, NewMessage
from gateway.storage import schema
from gateway.storage.db import Database
from tests.support.mosquitto import Mosquitto

SITE: Final = "bench"
CAMERA: Final = "cam1"
EVENTS_TOPIC: Final = f"gateway/{SITE}/cameras/+/events/#"
BATCH: Final = 100  # the outbox's default batch_size; the direct baseline publishes in batches of it too
WAIT_S: Final = 120.0
# mosquitto's defaults (1000 queued QoS 1 messages per client, 20 in flight) would drop messages for
# a subscriber that falls behind a burst, which would read as a loss of the outbox.
BROKER_CONFIG: Final = ["max_queued_messages 0", "max_inflight_messages 0"]


# --- the pieces ----------------------------------------------------------------------------------


def make_config(workdir: Path, port: int) -> GatewayConfig:
    return parse_config(
        {
            "site": {"id": SITE, "name": "Benchmark", "unit": {"name": "U", "headcount": 1}},
            "cameras": [{"id": CAMERA, "name": "Gate", "source": {"rtsp": "rtsp://127.0.0.1:9/a"}}],
            "storage": {"url": f"sqlite:///{workdir}/gateway.db"},
            "uplinks": {
                "mqtt": [{"id": "broker", "host": "127.0.0.1", "port": port}],
                "outbox": {"batch_size": BATCH},
            },
        },
        check_secrets=False,
    )


def make_event(seq: int) -> Event:
    """A typical intrusion event; `detail.t0` is the monotonic time just before it is stored."""
    return Event(
        id=None,
        camera_id=CAMERA,
        rule_id="fence",
        kind="intrusion",
        zone_id="yard",
        at=time.time(),
        track_ids=(seq % 50,),
        boxes=(EventBox(812.0, 300.5, 901.0, 560.0, 0.873, seq % 50),),
        detail={"seq": seq, "t0": time.monotonic()},
        message="person in zone yard",
        frame_width=1920,
        frame_height=1080,
    )


def event_body(seq: int) -> bytes:
    """What the outbox sends for an event, for the direct baseline (same size, same JSON work)."""
    event = make_event(seq)
    data = {
        "event_id": seq,
        "rule": event.rule_id,
        "kind": event.kind,
        "zone": event.zone_id,
        "at": event.at,
        "message": event.message,
        "frame": {"width": event.frame_width, "height": event.frame_height},
        "boxes": [{"x1": b.x1, "y1": b.y1, "x2": b.x2, "y2": b.y2, "score": 0.873, "track": 1} for b in event.boxes],
        "detail": event.detail,
        "has_snapshot": False,
    }
    body = {"id": f"{SITE}:event:{seq}", "kind": "event", "site": SITE, "camera": CAMERA, "created_at": event.at}
    return json.dumps({**body, "data": data}, separators=(",", ":")).encode()


class Receiver:
    """A QoS 1 subscriber recording each distinct message id once, with its latency from detail.t0."""

    def __init__(self, port: int) -> None:
        self.latencies: list[float] = []
        self.duplicates = 0
        self._ids: set[str] = set()
        self._target = 0
        self._done = threading.Event()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self._client.on_connect = lambda c, _u, _f, _r, _p: c.subscribe(EVENTS_TOPIC, qos=1)
        self._client.on_subscribe = lambda *_a: self._subscribed.set()
        self._client.on_message = self._on_message
        self._port = port

    def start(self) -> Receiver:
        self._client.connect("127.0.0.1", self._port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the subscriber got no SUBACK")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def received(self) -> int:
        return len(self._ids)

    def expect(self, count: int) -> None:
        self._target = count
        if len(self._ids) >= count:
            self._done.set()

    async def wait(self, limit_s: float = WAIT_S) -> float:
        """Block (off the loop) until `expect`'s count arrived; return time.monotonic() then."""
        if not await asyncio.to_thread(self._done.wait, limit_s):
            raise RuntimeError(f"subscriber got {len(self._ids)} of {self._target} messages in {limit_s:g} s")
        return self._last

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        body = json.loads(msg.payload)
        if body["id"] in self._ids:
            self.duplicates += 1
            return
        self._ids.add(body["id"])
        self.latencies.append(now - body["data"]["detail"]["t0"])
        self._last = now
        if self._target and len(self._ids) >= self._target:
            self._done.set()


@dataclass
class Rig:
    """A fresh database, broker, subscriber and (optionally) outbox for one measurement."""

    workdir: Path
    broker: Mosquitto
    db: Database
    events: EventStore
    receiver: Receiver
    outbox: Outbox | None = None

    def cursor(self) -> int:
        c = schema.outbox_cursors
        with self.db.engine.connect() as conn:
            return int(conn.execute(select(c.c.position).where(c.c.name == EVENTS_CURSOR)).scalar() or 0)

    def backlog(self) -> int:
        assert self.outbox is not None
        return sum(n for n, _ in self.outbox.store.backlog().values())


@contextlib.asynccontextmanager
async def rig(with_outbox: bool) -> Any:
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir, extra_config=BROKER_CONFIG)
        broker.start()
        config = make_config(workdir, broker.port)
        db = Database(config.storage.url).open()
        events = EventStore(db)
        # The first statements compile SQLAlchemy's cached SQL; kept out of every timing. The outbox
        # starts its cursor after them, so they are not sent.
        for i in range(20):
            events.add(make_event(-1 - i))
        receiver = Receiver(broker.port).start()
        r = Rig(workdir, broker, db, events, receiver)
        try:
            if with_outbox:
                r.outbox = build_outbox(config, db)
                await r.outbox.start()
                dest = r.outbox.destinations[0]
                assert isinstance(dest, MqttDestination)
                if not await dest.publisher.wait_connected(10):
                    raise RuntimeError("the outbox did not connect to the broker")
            yield r
        finally:
            if r.outbox is not None:
                await stop_outbox(r.outbox)
            receiver.stop()
            broker.stop()
            db.close()


STOP_HANGS: list[int] = [0]


async def stop_outbox(outbox: Outbox) -> None:
    """`Outbox.stop()`, bounded: on Python 3.11 a dispatcher cancelled inside `publish_many`'s
    `wait_for` can swallow the cancellation and never end (see docs/benchmarks.md), which would
    hang the whole benchmark. Such stops are counted and the tasks cancelled once more."""
    stop = asyncio.ensure_future(outbox.stop())
    try:
        await asyncio.wait_for(asyncio.shield(stop), 10)
    except TimeoutError:
        STOP_HANGS[0] += 1
        for task in outbox._tasks:  # nothing public reaches a stuck dispatcher
            task.cancel()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(stop, 10)


def produce(
    events: EventStore, loop: asyncio.AbstractEventLoop, notify: Callable[[Event], None] | None, seqs: range
) -> float:
    """The detector thread: store each event, tell the loop; return the seconds it took."""
    t0 = time.monotonic()
    for seq in seqs:
        event = make_event(seq)
        event_id = events.add(event)
        if notify is not None:
            loop.call_soon_threadsafe(notify, Event(**{**asdict(event), "id": event_id}))
    return time.monotonic() - t0


async def until(predicate: Callable[[], bool], poll_s: float = 0.02, limit_s: float = WAIT_S) -> float:
    deadline = time.monotonic() + limit_s
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise RuntimeError("condition not reached in time")
        await asyncio.sleep(poll_s)
    return time.monotonic()


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


# --- the scenarios -------------------------------------------------------------------------------


async def write_baseline(n: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    async with rig(with_outbox=False) as r:
        seconds = await loop.run_in_executor(None, produce, r.events, loop, None, range(n))
    return {"stored_per_s": n / seconds}


async def write_outbox(n: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    async with rig(with_outbox=True) as r:
        assert r.outbox is not None
        first = await asyncio.to_thread(r.cursor)
        t0 = time.monotonic()
        seconds = await loop.run_in_executor(None, produce, r.events, loop, r.outbox.event_stored, range(n))
        done = await until(lambda: r.cursor() >= first + n)
        # State messages arrive in the loop in small lists (a HealthTracker listener per change).
        statuses = [
            CameraStatus(CAMERA, CameraState.ONLINE if i % 2 else CameraState.DEGRADED, None, time.time())
            for i in range(n + 1)
        ]
        messages: list[NewMessage] = []
        for prev, cur in itertools.pairwise(statuses):
            messages.extend(state_messages(cur, prev))
        outbox = r.outbox
        p0 = time.monotonic()
        for i in range(0, len(messages), 10):
            outbox.publish(messages[i : i + 10])
        p1 = await until(lambda: outbox.status()["waiting_in_memory"] == 0, poll_s=0.005)
    return {
        "stored_per_s": n / seconds,
        "converted_per_s": n / (done - t0),
        "published_per_s": len(messages) / (p1 - p0),
    }


async def delivered_outbox(n: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    async with rig(with_outbox=True) as r:
        assert r.outbox is not None
        r.receiver.expect(n)
        t0 = time.monotonic()
        await loop.run_in_executor(None, produce, r.events, loop, r.outbox.event_stored, range(n))
        t1 = await r.receiver.wait()
        return {"delivered_per_s": n / (t1 - t0), "duplicates": r.receiver.duplicates}


async def delivered_direct(n: int) -> dict[str, float]:
    async with rig(with_outbox=False) as r:
        publisher = MqttPublisher(MqttSettings("127.0.0.1", r.broker.port, client_id="bench-direct"))
        await publisher.start()
        try:
            if not await publisher.wait_connected(10):
                raise RuntimeError("the direct publisher did not connect")
            r.receiver.expect(n)
            topic = f"gateway/{SITE}/cameras/{CAMERA}/events/intrusion"
            t0 = time.monotonic()
            for start in range(0, n, BATCH):
                items = [(topic, event_body(seq), False) for seq in range(start, min(n, start + BATCH))]
                if await publisher.publish_many(items) != len(items):
                    raise RuntimeError("the broker did not acknowledge a direct batch")
            t1 = await r.receiver.wait()
        finally:
            await publisher.stop()
        return {"delivered_per_s": n / (t1 - t0)}


def paced(rate: float, seconds: float) -> Iterator[int]:
    """Sequence numbers on an absolute schedule, sleeping between them (a steady detector)."""
    start = time.monotonic()
    for seq in range(round(rate * seconds)):
        delay = start + seq / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield seq


async def latency_outbox(rate: float, seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    async with rig(with_outbox=True) as r:
        outbox = r.outbox
        assert outbox is not None
        n = round(rate * seconds)
        r.receiver.expect(n)

        def detector() -> None:
            for seq in paced(rate, seconds):
                event = make_event(seq)
                event_id = r.events.add(event)
                loop.call_soon_threadsafe(outbox.event_stored, Event(**{**asdict(event), "id": event_id}))

        await loop.run_in_executor(None, detector)
        await r.receiver.wait()
        return latency_figures(r.receiver.latencies)


async def latency_direct(rate: float, seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    async with rig(with_outbox=False) as r:
        publisher = MqttPublisher(MqttSettings("127.0.0.1", r.broker.port, client_id="bench-direct"))
        await publisher.start()
        try:
            if not await publisher.wait_connected(10):
                raise RuntimeError("the direct publisher did not connect")
            n = round(rate * seconds)
            r.receiver.expect(n)
            topic = f"gateway/{SITE}/cameras/{CAMERA}/events/intrusion"
            tasks: set[asyncio.Task[None]] = set()

            def send(body: bytes) -> None:
                task = loop.create_task(publisher.publish(topic, body))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

            def detector() -> None:
                for seq in paced(rate, seconds):
                    loop.call_soon_threadsafe(send, event_body(seq))

            await loop.run_in_executor(None, detector)
            await r.receiver.wait()
        finally:
            await publisher.stop()
        return latency_figures(r.receiver.latencies)


def latency_figures(latencies: list[float]) -> dict[str, float]:
    return {
        "p50_ms": pct(latencies, 50),
        "p99_ms": pct(latencies, 99),
        "max_ms": max(latencies) * 1000,
        "over_1s": sum(1 for x in latencies if x > 1.0),
    }


async def catch_up(n: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    async with rig(with_outbox=True) as r:
        outbox = r.outbox
        assert outbox is not None
        dest = outbox.destinations[0]
        assert isinstance(dest, MqttDestination)
        r.receiver.stop()
        r.broker.stop()
        first = await asyncio.to_thread(r.cursor)
        await loop.run_in_executor(None, produce, r.events, loop, outbox.event_stored, range(n))
        await until(lambda: r.cursor() >= first + n)
        await until(lambda: r.backlog() >= n)
        down = time.monotonic()
        r.broker.start()
        t0 = time.monotonic()
        # The subscriber may reconnect after the outbox has sent some (clean session, broker without
        # persistence): the backlog emptying (every message acknowledged) is what is timed.
        r.receiver = Receiver(r.broker.port).start()
        connected = await until(lambda: dest.connected, poll_s=0.01)
        drained = await until(lambda: r.backlog() == 0, poll_s=0.05)
        return {
            "broker_down_s": t0 - down,
            "reconnect_s": connected - t0,
            "drain_s": drained - t0,
            "drain_per_s": n / (drained - connected),
        }


# --- reporting -----------------------------------------------------------------------------------


@dataclass
class Results:
    runs: dict[str, list[dict[str, float]]] = field(default_factory=dict)

    def add(self, name: str, figures: dict[str, float]) -> None:
        self.runs.setdefault(name, []).append(figures)

    def med(self, name: str, key: str) -> float:
        return median([r[key] for r in self.runs.get(name, []) if key in r])


def table(res: Results, args: argparse.Namespace) -> str:
    base = res.med("write_baseline", "stored_per_s")
    direct = res.med("delivered_direct", "delivered_per_s")
    m = res.med
    rows = [
        "| measurement | outbox | baseline | ratio |",
        "|---|---|---|---|",
        f"| events stored by the detector thread, /s ({args.write_events}) | {m('write_outbox', 'stored_per_s'):.0f} "
        f"| {base:.0f} (`EventStore.add` alone) | {m('write_outbox', 'stored_per_s') / base:.2f} |",
        f"| events stored and turned into outbox messages, /s | {m('write_outbox', 'converted_per_s'):.0f} "
        f"| {base:.0f} | {m('write_outbox', 'converted_per_s') / base:.2f} |",
        f"| state messages via `outbox.publish` -> stored, /s | {m('write_outbox', 'published_per_s'):.0f} "
        f"| {base:.0f} | {m('write_outbox', 'published_per_s') / base:.2f} |",
        f"| delivered end to end, events/s ({args.events}) | {m('delivered_outbox', 'delivered_per_s'):.0f} "
        f"| {direct:.0f} (direct `publish_many`, batches of {BATCH}) "
        f"| {m('delivered_outbox', 'delivered_per_s') / direct:.2f} |",
    ]
    for q in ("p50_ms", "p99_ms", "max_ms"):
        o, d = m("latency_outbox", q), m("latency_direct", q)
        rows.append(
            f"| latency event -> subscriber {q[:-3]}, ms ({args.rate:g}/s x {args.seconds:g} s) "
            f"| {o:.1f} | {d:.1f} (direct publish) | {o / d:.1f} |"
        )
    if "catch_up" in res.runs:
        drain = m("catch_up", "drain_per_s")
        rows += [
            f"| catch-up: broker back -> outbox reconnected, s ({args.catch_up} queued) "
            f"| {m('catch_up', 'reconnect_s'):.2f} | | |",
            f"| catch-up: broker back -> backlog empty, s | {m('catch_up', 'drain_s'):.2f} | | |",
            f"| catch-up: drain rate once connected, events/s | {drain:.0f} | {direct:.0f} (direct) "
            f"| {drain / direct:.2f} |",
        ]
    return "\n".join(rows)


async def run(args: argparse.Namespace) -> Results:
    res = Results()
    for rep in range(args.repeats):
        steps: list[tuple[str, Any]] = [
            ("write_baseline", lambda: write_baseline(args.write_events)),
            ("write_outbox", lambda: write_outbox(args.write_events)),
            ("delivered_direct", lambda: delivered_direct(args.events)),
            ("delivered_outbox", lambda: delivered_outbox(args.events)),
            ("latency_direct", lambda: latency_direct(args.rate, args.seconds)),
            ("latency_outbox", lambda: latency_outbox(args.rate, args.seconds)),
        ]
        if args.catch_up:
            steps.append(("catch_up", lambda: catch_up(args.catch_up)))
        for name, step in steps:
            figures = await step()
            res.add(name, figures)
            shown = ", ".join(f"{k} {v:.1f}" for k, v in figures.items())
            print(f"  [{rep + 1}/{args.repeats}] {name}: {shown}", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 repeat, fewer events, 10 s of latency (~1 min)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--write-events", type=int, default=2000, help="events stored in the write measurement")
    ap.add_argument("--events", type=int, default=5000, help="events in the end-to-end measurement")
    ap.add_argument("--rate", type=float, default=20.0, help="events/s in the latency measurement")
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the latency measurement")
    ap.add_argument("--catch-up", type=int, default=2000, help="events queued while the broker is down (0: skip)")
    ap.add_argument("--json", nargs="?", const="-", type=argparse.FileType("w"), help="FILE, or stdout without one")
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.write_events, args.events, args.seconds, args.catch_up = 1, 500, 1000, 10.0, 500
    logging.basicConfig(level=logging.ERROR)  # the catch-up's connection errors are expected

    print(f"{os.cpu_count()} CPUs; {args.repeats} repeat(s)", flush=True)
    res = asyncio.run(run(args))
    print()
    print(table(res, args))
    if STOP_HANGS[0]:
        print(f"WARNING: Outbox.stop() hung {STOP_HANGS[0]} time(s) (dispatcher cancellation swallowed)")
    if args.json:
        report = {
            "date": time.strftime("%Y-%m-%d"),
            "cpus": os.cpu_count(),
            "args": {k: v for k, v in vars(args).items() if k != "json"},
            "medians": {name: {k: res.med(name, k) for k in runs[0]} for name, runs in res.runs.items()},
            "runs": res.runs,
            "outbox_stop_hangs": STOP_HANGS[0],
        }
        args.json.write(json.dumps(report, indent=2) + "\n")
        if args.json is not sys.stdout:
            args.json.close()


if __name__ == "__main__":
    main()
