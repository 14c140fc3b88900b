"""The gateway as a lower GA/T 1400 view library, by subscription, on 127.0.0.1: a subscribing platform
(tests/support/viidserver.py: digest auth, registration, strict checks of every record) POSTs
/VIID/Subscribes to the running gateway and receives SubscribeNotifications for new detection events.

One gateway per module, in-process (its API through TestClient, its /VIID/Subscribes listener on a
real port). Detection events are stored in the gateway's database the way the detector stores them
(EventStore.add, with a snapshot, then the listeners told on the gateway's loop): the outbox reads
them from that table, so what follows an event is the same as with the live detector, without
decoding video. Each test has a camera of its own
(ResourceURI names its channel ID), so the tests hold when pytest spreads them over workers.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from gateway.analytics.events import Event, EventBox, EventStore
from gateway.app import create_app
from gateway.auth import UserStore
from gateway.config import GatewayConfig, parse_config
from gateway.storage.db import Database
from tests.support.ports import free_port
from tests.support.storage import new_url
from tests.support.viidserver import Subscriber, ViidServer, statuses
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

DEV = "31010500002000000001"  # the gateway at the platform
PLATFORM_ID = "31010500005030000001"
USER = "lower-gateway"
SUB_USER = "city-platform"
CHANNELS = {
    "gate": "31010500001320000001",
    "lobby": "31010500001320000002",
    "yard": "31010500001320000003",
    "hall": "31010500001320000004",
    "side": "31010500001320000005",
    "garage": "31010500001320000006",
    "dock": "31010500001320000007",
}
FRAME = (640, 360)
SUB_PASSWORD = secrets.token_urlsafe(12)  # made per run: no credential is written down


def _snapshot() -> bytes:
    rng = np.random.default_rng(7)
    picture = rng.integers(0, 255, (FRAME[1], FRAME[0], 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", picture)
    assert ok
    return bytes(buf)


SNAPSHOT = _snapshot()


class Site:
    """The gateway of the module, started in-process, and what the tests ask of it."""

    def __init__(self, config: GatewayConfig, token: str) -> None:
        self.config = config
        self.headers = {"Authorization": f"Bearer {token}"}
        self.client: TestClient | None = None
        self.db = Database(config.storage.url).open()
        self.events = EventStore(self.db)

    def start(self) -> None:
        self.client = TestClient(create_app(self.config, start_cameras=False))
        self.client.__enter__()

    def stop(self) -> None:
        if self.client is not None:
            self.client.__exit__(None, None, None)
            self.client = None

    def platform(self) -> dict[str, Any]:
        assert self.client is not None
        answer = self.client.get("/api/v1/destinations", headers=self.headers)
        assert answer.status_code == 200, answer.text
        (city,) = [d for d in answer.json()["destinations"] if d["id"] == "city"]
        return dict(city)

    def subscription(self, subscribe_id: str) -> dict[str, Any] | None:
        city = self.platform()
        for entry in [*city["subscriptions"], *city["ended_subscriptions"]]:
            if entry["subscribe_id"] == subscribe_id:
                return dict(entry)
        return None

    def add_event(self, camera: str, *, heads: bool = True) -> int:
        """A detection event with one person (and a head, for a face record), stored as the detector does."""
        detail: dict[str, Any] = {"heads": [[130.0, 55.0, 170.0, 100.0, 0.9]]} if heads else {}
        event = Event(
            id=None,
            camera_id=camera,
            rule_id="door",
            kind="intrusion",
            zone_id=None,
            at=time.time(),
            track_ids=(1,),
            boxes=(EventBox(100.0, 50.0, 200.0, 300.0, 0.9, 1),),
            detail=detail,
            message="person in the area",
            frame_width=FRAME[0],
            frame_height=FRAME[1],
        )
        event_id = self.events.add(event, SNAPSHOT)
        if self.client is not None and self.client.portal is not None:
            # What the detector does next: tell the listeners, on the gateway's loop.
            runtime = self.client.app.state.runtime  # type: ignore[attr-defined]
            self.client.portal.call(runtime.outbox.event_stored, event)
        return event_id


@pytest.fixture(scope="module")
def platform() -> Iterator[ViidServer]:
    with ViidServer(USER, secrets.token_urlsafe(12), device_ids_allowed={DEV}, server_id=PLATFORM_ID) as server:
        yield server


@pytest.fixture(scope="module")
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, platform: ViidServer
) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("gat1400-subscriptions")
    ours, theirs = tmp / "viid-password", tmp / "subscriber-password"
    ours.write_text(platform.password)
    theirs.write_text(SUB_PASSWORD)
    config = parse_config(
        {
            "site": {"id": "sub", "name": "Subscribed site", "unit": {"name": "U", "headcount": 5}},
            "cameras": [
                {
                    "id": camera,
                    "name": camera,
                    "source": {"rtsp": "rtsp://127.0.0.1:9/none"},
                    "gb_channel_id": channel,
                    "enabled": False,
                }
                for camera, channel in CHANNELS.items()
            ],
            "storage": {"url": new_url(request, tmp)},
            "uplinks": {
                "gat1400_subscribers": [
                    {
                        "id": "city",
                        "url": platform.url,
                        "device_id": DEV,
                        "username": USER,
                        "password": {"file": str(ours)},
                        "subscriber_username": SUB_USER,
                        "subscriber_password": {"file": str(theirs)},
                        "listen_host": "127.0.0.1",
                        "listen_port": free_port(),
                        "keepalive_s": 5,
                        "retry_s": 1,
                    }
                ],
                "outbox": {"retry_initial_s": 0.2, "retry_max_s": 1.0},
            },
        }
    )
    with Database(config.storage.url) as db:
        token = UserStore(db).add_user("sub-admin", "admin")[1]
    gateway = Site(config, token)
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()
        gateway.db.close()


@pytest.fixture(scope="module")
def subscriber(site: Site) -> Iterator[Subscriber]:
    port = site.config.uplinks.gat1400_subscribers[0].listen_port
    with Subscriber(f"http://127.0.0.1:{port}", SUB_USER, SUB_PASSWORD, PLATFORM_ID) as client:
        wait_until("the /VIID/Subscribes listener", lambda: site.platform()["listening"], 15, interval=0.1)
        yield client


def _receive(platform: ViidServer) -> str:
    return platform.url + "/VIID/SubscribeNotifications"


def _subscribed(answer: httpx.Response, subscribe_id: str) -> None:
    assert answer.status_code == 200, answer.text
    assert list(statuses(answer)) == [(subscribe_id, 0)], answer.text


def _unique(notifications: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {n["NotificationID"]: n for n in notifications}


def _person_ids(notifications: list[dict[str, Any]]) -> list[str]:
    return [p["PersonID"] for n in notifications for p in n.get("PersonObjectList", {}).get("PersonObject", [])]


def test_notifications_for_new_events(site: Site, platform: ViidServer, subscriber: Subscriber) -> None:
    sid = subscriber.new_id()
    _subscribed(subscriber.subscribe(sid, _receive(platform), resource_uri=CHANNELS["gate"]), sid)
    wait_until("registered at the platform", lambda: DEV in platform.registered, 15, interval=0.1)
    listed = subscriber.listed()[sid]
    assert listed["SubscribeStatus"] == 0 and listed["SubscribeDetail"] == "11,12" and listed["Title"] == "人员人脸订阅"
    site.add_event("lobby")  # not covered: another camera's channel
    site.add_event("gate")
    site.add_event("gate", heads=False)
    got = wait_until("two notifications", lambda: len(n := platform.notifications_of(sid)) >= 2 and n, 15, interval=0.1)
    assert len(got) == 2 and len(_unique(got)) == 2
    first, second = got
    assert first["SubscribeID"] == sid and first["Title"] == "人员人脸订阅"
    person = first["PersonObjectList"]["PersonObject"][0]
    assert person["DeviceID"] == CHANNELS["gate"]
    assert first["FaceObjectList"]["FaceObject"][0]["DeviceID"] == CHANNELS["gate"]
    assert "FaceObjectList" not in second  # no head, no face record
    assert first["NotificationID"].startswith(DEV[:12] + "04")
    state = wait_until(
        "counted", lambda: (s := site.subscription(sid)) and s["sent"] == 2 and s["pending"] == 0 and s, 10
    )
    assert state["subscribe_status"] == 0 and state["type"] == "gat1400-subscription"
    assert state["receive_addr"] == _receive(platform) and state["detail"] == ["11", "12"]
    assert site.client is not None
    metrics = site.client.get("/metrics", headers=site.headers).text
    assert f'gateway_outbox_backlog{{destination="{state["id"]}",type="gat1400-subscription"}} 0' in metrics
    time.sleep(0.5)
    assert len(platform.notifications_of(sid)) == 2
    assert platform.errors == []


def test_the_platform_restarting_loses_nothing(site: Site, platform: ViidServer, subscriber: Subscriber) -> None:
    sid = subscriber.new_id()
    _subscribed(subscriber.subscribe(sid, _receive(platform), resource_uri=CHANNELS["lobby"], detail="11"), sid)
    platform.stop()
    try:
        events = [site.add_event("lobby") for _ in range(3)]
        wait_until("failures counted", lambda: (s := site.subscription(sid)) and s["failed"] >= 1, 15, interval=0.1)
        assert site.subscription(sid)["pending"] >= 1  # type: ignore[index]
    finally:
        platform.restart()  # same port; registrations forgotten, as after a real restart
    got = wait_until(
        "all three", lambda: len(_unique(n := platform.notifications_of(sid))) >= 3 and n, 20, interval=0.1
    )
    unique = list(_unique(got).values())
    assert len(unique) == 3 and len(got) == 3, [n["NotificationID"] for n in got]
    persons = _person_ids(unique)
    assert len(persons) == len(set(persons)) == len(events)
    assert all("FaceObjectList" not in n for n in unique)  # persons only were asked for
    state = wait_until("drained", lambda: (s := site.subscription(sid)) and s["pending"] == 0 and s, 10, interval=0.1)
    assert state["sent"] == 3
    assert platform.errors == []


def test_cancel_stops_and_drops_what_was_pending(site: Site, platform: ViidServer, subscriber: Subscriber) -> None:
    sid, witness = subscriber.new_id(), subscriber.new_id()
    _subscribed(subscriber.subscribe(sid, _receive(platform), resource_uri=CHANNELS["yard"]), sid)
    site.add_event("yard")
    wait_until("the first", lambda: platform.notifications_of(sid), 15, interval=0.1)
    platform.fail_notifications = True
    try:
        site.add_event("yard")
        wait_until("one pending", lambda: (s := site.subscription(sid)) and s["pending"] == 1, 15, interval=0.1)
        answer = subscriber.cancel(sid)
    finally:
        platform.fail_notifications = False
    assert answer.status_code == 200, answer.text
    assert answer.json()["ResponseStatusObject"]["StatusCode"] == 0
    ended = site.subscription(sid)
    assert ended is not None and ended["subscribe_status"] == 1 and ended["dropped_at_end"] == 1
    assert "admin" in ended["end_reason"] and "不再需要" in ended["end_reason"]
    assert subscriber.listed()[sid]["SubscribeStatus"] == 1
    assert subscriber.cancel(sid).json()["ResponseStatusObject"]["StatusCode"] == 0  # a repeat is fine
    # A second subscription to the same camera shows when the next event has been handed out.
    _subscribed(subscriber.subscribe(witness, _receive(platform), resource_uri=CHANNELS["yard"]), witness)
    site.add_event("yard")
    wait_until("the witness notified", lambda: platform.notifications_of(witness), 15, interval=0.1)
    assert len(platform.notifications_of(sid)) == 1
    assert platform.errors == []


def test_report_interval_batches(site: Site, platform: ViidServer, subscriber: Subscriber) -> None:
    sid = subscriber.new_id()
    answer = subscriber.subscribe(
        sid, _receive(platform), resource_uri=CHANNELS["side"], detail="11", report_interval=4
    )
    _subscribed(answer, sid)
    site.add_event("side")
    wait_until("the first", lambda: platform.notifications_of(sid), 15, interval=0.1)
    for _ in range(3):
        site.add_event("side")
    wait_until("the next three", lambda: len(platform.notifications_of(sid)) == 4, 15, interval=0.1)
    mine = {n["NotificationID"] for n in platform.notifications_of(sid)}
    with platform.lock:
        batches = [b for b in platform.notification_batches if set(b) <= mine]
    assert [len(b) for b in batches] == [1, 3]


def test_subscriptions_and_backlog_survive_our_restart(
    site: Site, platform: ViidServer, subscriber: Subscriber
) -> None:
    sid = subscriber.new_id()
    _subscribed(subscriber.subscribe(sid, _receive(platform), resource_uri=CHANNELS["hall"], detail="12"), sid)
    site.add_event("hall")
    wait_until("the first", lambda: platform.notifications_of(sid), 15, interval=0.1)
    platform.fail_notifications = True
    try:
        site.add_event("hall")
        wait_until("pending", lambda: (s := site.subscription(sid)) and s["pending"] == 1, 15, interval=0.1)
        site.stop()
        site.add_event("hall")  # while the gateway is down
    finally:
        platform.fail_notifications = False
        site.start()
    wait_until("listening again", lambda: site.platform()["listening"], 15, interval=0.1)
    assert subscriber.listed()[sid]["SubscribeStatus"] == 0
    got = wait_until(
        "all three", lambda: len(_unique(n := platform.notifications_of(sid))) >= 3 and n, 20, interval=0.1
    )
    assert len(_unique(got)) == 3
    assert all("PersonObjectList" not in n and n["FaceObjectList"]["FaceObject"] for n in got)  # faces only
    assert platform.errors == []


def test_a_subscription_ends_at_its_end_time(site: Site, platform: ViidServer, subscriber: Subscriber) -> None:
    sid = subscriber.new_id()
    _subscribed(subscriber.subscribe(sid, _receive(platform), resource_uri=CHANNELS["dock"], end_in_s=3), sid)
    ended = wait_until(
        "expired", lambda: (s := site.subscription(sid)) and s["subscribe_status"] == 2 and s, 10, interval=0.2
    )
    assert ended["end_reason"] == "EndTime reached"
    assert subscriber.listed()[sid]["SubscribeStatus"] == 2


def test_malformed_and_unauthenticated_requests(site: Site, platform: ViidServer, subscriber: Subscriber) -> None:
    http = subscriber.http
    base = str(http.base_url)
    answer = httpx.post(base + "/VIID/Subscribes", content=b"{}", timeout=5, trust_env=False)
    assert answer.status_code == 401 and "Digest" in answer.headers["WWW-Authenticate"]
    wrong = httpx.Client(base_url=base, auth=httpx.DigestAuth(SUB_USER, "not-the-password"), trust_env=False)
    with wrong:
        assert wrong.get("/VIID/Subscribes").status_code == 401
    answer = http.post("/VIID/Subscribes", content=b'{"SubscribeListObject": ')
    assert answer.status_code == 400 and answer.json()["ResponseStatusObject"]["StatusCode"] == 7
    answer = http.post("/VIID/Subscribes", content=json.dumps({"Subscribe": []}))
    assert answer.status_code == 400 and answer.json()["ResponseStatusObject"]["StatusCode"] == 8
    answer = http.post("/VIID/Subscribes", content=b"[" * 100_000)
    assert answer.status_code == 400
    answer = http.post("/VIID/Subscribes", content=b" " * (300 * 1024))
    assert answer.status_code == 413
    sid = subscriber.new_id()
    answer = subscriber.subscribe(sid, _receive(platform), resource_uri=CHANNELS["garage"], detail="3,13")
    assert answer.status_code == 200 and list(statuses(answer)) == [(sid, 4)]
    assert "11" in answer.json()["ResponseStatusListObject"]["ResponseStatusObject"][0]["StatusString"]
    answer = subscriber.subscribe(sid, "ftp://127.0.0.1/x", resource_uri=CHANNELS["garage"])
    assert list(statuses(answer)) == [(sid, 8)]
    answer = http.delete("/VIID/Subscribes")
    assert answer.status_code == 400
    assert http.put("/VIID/Subscribes/nosuch").status_code == 404
    assert http.get("/VIID/Faces").status_code == 404
    assert sid not in subscriber.listed()
