"""The gateway's side of GA/T 1400 subscriptions without sockets: which cameras a ResourceURI covers,
the stored subscriptions, outbox destinations that come and go, a subscription's deliveries against
a mock platform, and the config's key paths. The whole flow over HTTP is
tests/integration/test_gat1400_subscriptions.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from adapters.gat1400.client import ViidClient, ViidSettings
from adapters.gat1400.subscribe import SUBSCRIBE_CANCELLED, Subscribe, parse_subscribe
from gateway.analytics.events import Event, EventBox
from gateway.config import GatewayConfig, parse_config
from gateway.errors import ConfigError
from gateway.outbox.gat1400_subscribed import Gat1400SubscribedPlatform, SubscriptionDestination
from gateway.outbox.gat1400_subscriptions import SubscriptionStore, subscribed_cameras
from gateway.outbox.messages import event_message
from gateway.outbox.service import DeliveryReport, Outbox
from gateway.outbox.store import NewMessage, OutboxMessage, OutboxStore, Route
from gateway.storage.db import Database
from tests.support.waiting import wait_until_async

DEV = "31010500002000000001"
GATE, LOBBY = "31010500001320000001", "33010200001320000002"


@pytest.fixture
def db(storage_url: str) -> Iterator[Database]:
    with Database(storage_url) as database:
        yield database


def site(tmp_path: Path, **uplink: Any) -> dict[str, Any]:
    return {
        "site": {"id": "s1", "name": "Site", "unit": {"name": "Unit", "headcount": 10}},
        "cameras": [
            {"id": "gate", "name": "Gate", "source": {"rtsp": "rtsp://127.0.0.1:9/a"}, "gb_channel_id": GATE},
            {"id": "lobby", "name": "Lobby", "source": {"rtsp": "rtsp://127.0.0.1:9/b"}, "gb_channel_id": LOBBY},
            {"id": "yard", "name": "Yard", "source": {"rtsp": "rtsp://127.0.0.1:9/c"}},
        ],
        "storage": {"url": f"sqlite:///{tmp_path}/g.db"},
        "uplinks": {
            "gat1400_subscribers": [
                {
                    "id": "city",
                    "url": "http://viid.test:8080",
                    "device_id": DEV,
                    "username": "u",
                    "password": {"env": "VIID_PW"},
                    "subscriber_username": "city",
                    "subscriber_password": {"env": "VIID_SUB_PW"},
                    "listen_host": "127.0.0.1",
                    "listen_port": 18400,
                    **uplink,
                }
            ],
            "outbox": {"retry_initial_s": 0.05, "retry_max_s": 0.2},
        },
    }


def make_config(tmp_path: Path, **uplink: Any) -> GatewayConfig:
    return parse_config(site(tmp_path, **uplink), check_secrets=False)


# --- what a subscription covers ------------------------------------------------------------------


def test_resource_uri_coverage() -> None:
    device_of = {"gate": GATE, "lobby": LOBBY, "yard": DEV}
    everything = frozenset(device_of)
    assert subscribed_cameras(None, device_of, DEV) == everything
    assert subscribed_cameras((), device_of, DEV) == everything
    assert subscribed_cameras((DEV, "x"), device_of, DEV) == everything  # the view library itself
    assert subscribed_cameras((GATE,), device_of, DEV) == {"gate"}
    assert subscribed_cameras(("3101",), device_of, DEV) == {"gate", "yard"}  # administrative division
    assert subscribed_cameras(("330102",), device_of, DEV) == {"lobby"}
    assert subscribed_cameras(("3101050000",), device_of, DEV) == frozenset()  # 10 digits: no division
    assert subscribed_cameras(("99999999999999999999",), device_of, DEV) == frozenset()
    assert subscribed_cameras((DEV,), device_of, DEV, allowed=["lobby"]) == {"lobby"}


# --- stored subscriptions ------------------------------------------------------------------------


def sub(sid: str, **changes: Any) -> Subscribe:
    obj = {"SubscribeID": sid, "SubscribeDetail": "11", "ReceiveAddr": "http://up/x", "Title": "t"}
    obj.update(changes)
    return parse_subscribe(obj)


def test_the_store_keeps_subscriptions_slots_and_counts(db: Database) -> None:
    store = SubscriptionStore(db, "i1", "city")
    a = store.save(sub("a"), "p1", None, 2e9, now=100.0)
    b = store.save(sub("b"), "p1", None, None, now=100.0)
    assert (a.slot, b.slot) == (0, 1) and a.active and a.end_at == 2e9
    again = store.save(sub("a", Title="changed"), "p2", None, None, now=101.0)
    assert again.key == a.key and again.slot == 0 and again.sub.title == "changed" and again.platform == "p2"
    store.end(a.key, SUBSCRIBE_CANCELLED, "cancelled by admin", again.sub, now=102.0)
    c = store.save(sub("c"), None, None, None, now=103.0)
    assert c.slot == 0  # the cancelled one's slot is free again
    back = store.save(sub("a"), None, None, None, now=104.0)
    assert back.key == a.key and back.active and back.slot == 2 and back.ended_at is None
    store.add_counts(b.key, sent=3, failed=1, dropped=2)
    # Another instance and another uplink keep their own.
    assert SubscriptionStore(db, "i2", "city").load() == []
    assert SubscriptionStore(db, "i1", "other").load() == []
    loaded = {r.sub.subscribe_id: r for r in store.load()}
    assert (loaded["b"].sent, loaded["b"].failed, loaded["b"].dropped) == (3, 1, 2)
    assert loaded["a"].sub.title == "t"  # the reactivated one as subscribed again
    store.end(c.key, SUBSCRIBE_CANCELLED, "x", c.sub, now=200.0)
    assert store.prune(before=150.0) == []
    assert store.prune(before=250.0) == [c.key]
    assert sorted(r.sub.subscribe_id for r in store.load()) == ["a", "b"]


# --- outbox destinations that come and go --------------------------------------------------------


class Fake:
    type = "fake"

    def __init__(self, dest_id: str) -> None:
        self.id = dest_id
        self.connected = True
        self.received: list[OutboxMessage] = []
        self.failing = False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def deliver(self, messages: Sequence[OutboxMessage]) -> DeliveryReport:
        if self.failing:
            return DeliveryReport(failure="down")
        self.received.extend(messages)
        return DeliveryReport(delivered=[m.id for m in messages])


def state(name: str, camera: str = "gate") -> NewMessage:
    return NewMessage(kind="state", camera_id=camera, payload={"name": name})


async def test_destinations_come_and_go(tmp_path: Path, db: Database) -> None:
    config = make_config(tmp_path)
    owner = Fake("city")
    outbox = Outbox(config, OutboxStore(db, "s1"), [owner], [Route("city", frozenset({"state"}), frozenset())])
    await outbox.start()
    try:
        sub1 = Fake("city:1")
        await outbox.add_destination(sub1, Route("city:1", frozenset({"state"}), frozenset({"gate"})))
        outbox.publish([state("one"), state("other camera", camera="lobby")])
        await wait_until_async("delivered", lambda: len(sub1.received) == 1, 5.0)
        assert owner.received == []
        sub1.failing = True
        outbox.publish([state("two"), state("three")])
        await wait_until_async("backlog", lambda: outbox.store.backlog().get("city:1", (0,))[0] == 2, 5.0)
        await outbox.refresh_status()
        (entry,) = outbox.status()["destinations"]
        assert entry["id"] == "city" and [s["id"] for s in entry["subscriptions"]] == ["city:1"]
        assert entry["subscriptions"][0]["pending"] == 2
        assert await outbox.remove_destination("city:1") == 2
        assert outbox.store.counters()["city:1"].dropped == 2
        assert outbox.store.backlog().get("city:1") is None
        outbox.publish([state("four")])
        await outbox.refresh_status()
        assert "subscriptions" not in outbox.status()["destinations"][0]
        # A managed destination's backlog outlives a restart; an unknown owner's does not.
        outbox.store.write(
            [state("kept")], [Route("city:2", frozenset({"state"})), Route("gone:1", frozenset({"state"}))]
        )
    finally:
        await outbox.stop()
    assert outbox.store.forget_destinations(["city"]) == 1
    assert outbox.store.backlog() == {"city:2": (1, outbox.store.backlog()["city:2"][1])}


# --- a subscription's deliveries --------------------------------------------------------------


def _jpeg() -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((360, 640, 3), 90, np.uint8))
    assert ok
    return bytes(buf)


def message(msg_id: int, camera: str = "gate", *, at: float | None = None, boxes: bool = True) -> OutboxMessage:
    event = Event(
        id=msg_id,
        camera_id=camera,
        rule_id="r",
        kind="intrusion",
        zone_id=None,
        at=time.time() if at is None else at,
        track_ids=(1,),
        boxes=(EventBox(100, 50, 200, 300, 0.9, 1),) if boxes else (),
        detail={"heads": [[130, 55, 170, 100, 0.9]]},
        message="m",
        frame_width=640,
        frame_height=360,
        has_snapshot=True,
    )
    new = event_message(event, "s1")
    return OutboxMessage(
        id=msg_id,
        msg_id=new.msg_id or "",
        kind=new.kind,
        camera_id=new.camera_id,
        created_at=new.created_at,
        expires_at=None,
        event_id=msg_id,
        payload=new.payload,
    )


class Platform:
    """What the mock platform does with each POST."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.answer: Any = None  # None: one OK per notification; else a (status, body) pair

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.posts.append(body)
        notes = body["SubscribeNotificationListObject"]["SubscribeNotificationObject"]
        if self.answer is not None:
            status, payload = self.answer
            return httpx.Response(status, content=payload if isinstance(payload, bytes) else json.dumps(payload))
        items = [{"Id": n["NotificationID"], "StatusCode": 0} for n in notes]
        return httpx.Response(200, json={"ResponseStatusListObject": {"ResponseStatusObject": items}})


async def subscription(
    tmp_path: Path, db: Database, mock: Platform, **changes: Any
) -> tuple[Gat1400SubscribedPlatform, SubscriptionDestination]:
    config = make_config(tmp_path, registration=False)
    platform = Gat1400SubscribedPlatform(
        config.uplinks.gat1400_subscribers[0], config, db, lambda _id: _jpeg(), password="p", subscriber_password="s"
    )
    platform.client = ViidClient(
        ViidSettings("http://viid.test:8080", DEV, "u", "p"), transport=httpx.MockTransport(mock)
    )
    await platform.client.open()
    record = platform.stored.save(sub("s1", SubscribeDetail="11,12", **changes), "p", None, None)
    return platform, SubscriptionDestination(platform, record)


async def test_notifications_are_built_sent_and_settled(tmp_path: Path, db: Database) -> None:
    mock = Platform()
    platform, dest = await subscription(tmp_path, db, mock, ReceiveAddr="/VIID/SubscribeNotifications")
    try:
        # One instant for message 1 throughout: the notification id holds its time to the second, and
        # two calls of time.time() straddled a second once (CI, 2026-12-07).
        at1 = time.time()
        report = await dest.deliver([message(1, at=at1), message(2, boxes=False), message(3)])
        assert report.delivered == [2, 1, 3] and report.failure is None and report.rejected == []
        (post,) = mock.posts
        notes = post["SubscribeNotificationListObject"]["SubscribeNotificationObject"]
        assert [n["SubscribeID"] for n in notes] == ["s1", "s1"]
        first = notes[0]
        assert len(first["NotificationID"]) == 33 and first["NotificationID"].startswith(DEV[:12] + "04")
        assert first["PersonObjectList"]["PersonObject"][0]["DeviceID"] == GATE
        assert first["FaceObjectList"]["FaceObject"][0]["DeviceID"] == GATE
        # Stable per message (a resend is the same notification), different per subscription slot.
        at = datetime.fromtimestamp(float(message(1, at=at1).payload["at"]), platform.tz).replace(tzinfo=None)
        assert dest.notification_id(message(1, at=at1), at) == first["NotificationID"]
        other = SubscriptionDestination(platform, platform.stored.save(sub("s2"), None, None, None))
        assert other.notification_id(message(1, at=at1), at) != first["NotificationID"]
        assert platform.stored.load()[0].sent == 2
    finally:
        await platform.client.close()


async def test_refusals_and_failures(tmp_path: Path, db: Database) -> None:
    mock = Platform()
    platform, dest = await subscription(tmp_path, db, mock)
    try:
        messages = [message(1), message(2)]
        ids = [dest._notification(m)["NotificationID"] for m in messages]  # type: ignore[index]
        refused = [{"Id": ids[1], "StatusCode": 1, "StatusString": "Other Error"}]
        mock.answer = (200, {"ResponseStatusListObject": {"ResponseStatusObject": refused}})
        report = await dest.deliver(messages)
        assert report.delivered == [1] and report.rejected == [(2, "1 Other Error")]
        mock.answer = (200, {"ResponseStatusObject": {"StatusCode": 1, "Id": ""}})  # names no notification
        report = await dest.deliver(messages)
        assert report.failure is not None and report.delivered == [] and report.rejected == []
        mock.answer = (503, b"")
        report = await dest.deliver([message(5, boxes=False), *messages])
        assert report.failure is not None and report.delivered == [5]
        mock.answer = (200, b"")  # an empty 200: nothing contradicts it
        assert (await dest.deliver(messages)).delivered == [1, 2]
        assert dest.failed == 2 and platform.stored.load()[0].failed == 2
    finally:
        await platform.client.close()


async def test_outside_its_time_window_nothing_is_sent(tmp_path: Path, db: Database) -> None:
    mock = Platform()
    platform, dest = await subscription(tmp_path, db, mock)
    try:
        now = time.time()
        dest.record = platform.stored.save(sub("s1"), None, now - 10, now + 10)
        report = await dest.deliver([message(1, at=now - 60), message(2, at=now + 60)])
        assert report.delivered == [1, 2] and mock.posts == []
    finally:
        await platform.client.close()


async def test_report_interval_holds_the_next_post(tmp_path: Path, db: Database) -> None:
    mock = Platform()
    platform, dest = await subscription(tmp_path, db, mock, ReportInterval=1)
    try:
        assert (await dest.deliver([message(1)])).delivered == [1]
        started = time.monotonic()
        held = await dest.deliver([message(2)])
        assert held.delivered == [] and held.failure is None and time.monotonic() - started >= 0.9
        assert (await dest.deliver([message(2), message(3)])).delivered == [2, 3]
        assert [len(p["SubscribeNotificationListObject"]["SubscribeNotificationObject"]) for p in mock.posts] == [1, 2]
    finally:
        await platform.client.close()


# --- config ---------------------------------------------------------------------------------


def test_config_errors_name_their_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = site(tmp_path, listen_port=8080, cameras=["nosuch"])
    data["uplinks"]["webhooks"] = [{"id": "city", "url": "http://h/x", "secret": {"env": "HOOK"}}]
    monkeypatch.setenv("VIID_PW", "x")
    monkeypatch.delenv("VIID_SUB_PW", raising=False)
    monkeypatch.setenv("HOOK", "x")
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    paths = sorted(i.path for i in caught.value.issues)
    assert paths == [
        "uplinks.gat1400_subscribers[0].cameras[0]",
        "uplinks.gat1400_subscribers[0].id",
        "uplinks.gat1400_subscribers[0].listen_port",
        "uplinks.gat1400_subscribers[0].subscriber_password.env",
    ]
    data = site(tmp_path)
    del data["uplinks"]["gat1400_subscribers"][0]["listen_host"]
    data["uplinks"]["gat1400_subscribers"][0]["max_subscriptions"] = 65
    with pytest.raises(ConfigError) as caught:
        parse_config(data, check_secrets=False)
    assert sorted(i.path for i in caught.value.issues) == [
        "uplinks.gat1400_subscribers[0].listen_host",
        "uplinks.gat1400_subscribers[0].max_subscriptions",
    ]
