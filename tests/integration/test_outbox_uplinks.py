"""Metadata uplinks lose nothing: the issue's acceptance run, all real parts on 127.0.0.1.

Two cameras (GStreamer RTSP, a person walking through a door) feed the real detector, and the
gateway (`gateway run`, a child process) sends every detection event to a real mosquitto, to a
GA/T 1400 view library (tests/viidserver.py, a real HTTP server with digest auth) and to a signed
webhook whose receiver checks each POST with adapters.webhook.signing.

The broker and the view library are stopped while events keep coming, the gateway is SIGKILLed
with a backlog, everything is started again, and then every event stored by the gateway must have
reached each receiver exactly once after deduplication by its id, in order per camera.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from adapters.webhook.signing import ReplayGuard, SignatureError, verify
from gateway.sim.people_clips import PeopleClip
from gateway.sim.server import RtspServerProcess, free_port
from tests.integration.gatewayproc import GatewayProcess, child_env, run_cli
from tests.integration.test_analytics_live import MODELS, clip_info, walk_rules
from tests.mosquitto import Mosquitto, Subscriber
from tests.storage import read
from tests.viidserver import ViidServer

pytestmark = pytest.mark.integration

T = TypeVar("T")
SITE = "ob"
CHANNELS = {"walk1": "34020000001320000001", "walk2": "34020000001320000002"}
GATEWAY_VIID_ID = "34020000001190000001"


def wait_until(what: str, probe: Callable[[], T | None], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.25)


class WebhookReceiver:
    """A receiver as the docs describe it: verify the signature, refuse replays, answer 2xx."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.guard = ReplayGuard(window_s=600)
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    verify(
                        body,
                        self.headers.get("X-Gateway-Signature", ""),
                        receiver.secret,
                        message_id=self.headers.get("X-Gateway-Message-Id"),
                        guard=None,
                    )
                except SignatureError as exc:
                    with receiver.lock:
                        receiver.refused.append(type(exc).__name__)
                    self.send_response(401)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.accepted.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def first_seen(ids: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


@pytest.fixture
def rtsp(people_clips: dict[str, PeopleClip]) -> Iterator[RtspServerProcess]:
    with RtspServerProcess([("/walk", clip_info(people_clips["walk"]))]) as srv:
        yield srv


def test_outages_and_a_sigkill_lose_no_event_and_repeat_none_after_dedup(
    tmp_path: Path, gateway_storage_url: str, rtsp: RtspServerProcess, people_clips: dict[str, PeopleClip]
) -> None:
    mqtt_pw, hook_secret, viid_pw = (secrets.token_urlsafe(12) for _ in range(3))
    walk = people_clips["walk"]
    port = free_port()
    with (
        Mosquitto(tmp_path, users={"gw": mqtt_pw, "reader": mqtt_pw}) as broker,
        ViidServer(GATEWAY_VIID_ID, viid_pw) as viid,
        WebhookReceiver(hook_secret) as hook,
    ):
        config = {
            "site": {"id": SITE, "name": "Outbox", "unit": {"name": "U", "headcount": 50}},
            "cameras": [
                {
                    "id": cid,
                    "name": cid,
                    "source": {"rtsp": rtsp.url("/walk")},
                    "gb_channel_id": channel,
                    "analytics": walk_rules(walk),
                }
                for cid, channel in CHANNELS.items()
            ],
            "supervisor": {"connect_timeout_s": 3, "stall_timeout_s": 3, "backoff_initial_s": 0.5, "backoff_max_s": 2},
            "policy": {"min_fps": 8},
            "server": {"bind": "127.0.0.1", "port": port},
            "storage": {"url": gateway_storage_url},
            "analytics": {"fps": 2.0, "detector": {"models_dir": str(MODELS)}},
            "uplinks": {
                "public_url": f"http://127.0.0.1:{port}",
                "mqtt": [
                    {
                        "id": "broker",
                        "host": "127.0.0.1",
                        "port": broker.port,
                        "username": "gw",
                        "password": {"env": "IT_MQTT_PW"},
                        "topic_prefix": "it",
                        "kinds": ["event", "state", "health"],
                        "health_interval_s": 5,
                        "event_image": "inline",
                    }
                ],
                "webhooks": [
                    {
                        "id": "hook",
                        "url": f"http://127.0.0.1:{hook.port}/events",
                        "secret": {"env": "IT_HOOK_SECRET"},
                        "kinds": ["event"],
                    }
                ],
                "gat1400": [
                    {
                        "id": "viid",
                        "url": viid.url,
                        "device_id": GATEWAY_VIID_ID,
                        "username": GATEWAY_VIID_ID,
                        "password": {"env": "IT_VIID_PW"},
                        "keepalive_s": 5,
                        "retry_s": 1,
                    }
                ],
                "outbox": {"retry_initial_s": 0.5, "retry_max_s": 2},
            },
        }
        path = tmp_path / "site.yaml"
        path.write_text(yaml.safe_dump(config))
        env = child_env(IT_MQTT_PW=mqtt_pw, IT_HOOK_SECRET=hook_secret, IT_VIID_PW=viid_pw)
        added = run_cli(["user", "add", "it-admin", "--role", "admin", "-c", str(path)], env)
        assert added.returncode == 0, added.stderr
        token = added.stdout.split()[-1]
        gw = GatewayProcess(["run", "-c", str(path)], env, tmp_path / "gateway.log", port)
        topic = f"it/{SITE}/cameras/+/events/#"
        sub1 = Subscriber(broker.port, topic, username="reader", password=mqtt_pw).start()
        subscribers = [sub1]

        def destinations() -> dict[str, dict[str, Any]]:
            r = httpx.get(f"{gw.base}/api/v1/destinations", headers={"Authorization": f"Bearer {token}"}, timeout=5)
            assert r.status_code == 200, r.text
            return {d["id"]: d for d in r.json()["destinations"]}

        def event_count() -> int:
            r = httpx.get(f"{gw.base}/api/v1/events?limit=500", headers={"Authorization": f"Bearer {token}"}, timeout=5)
            assert r.status_code == 200, r.text
            return len(r.json()["events"])

        try:
            gw.start()
            # 1. Everything flows.
            wait_until("an event at all three receivers", lambda: sub1.messages and viid.persons and hook.accepted, 90)
            # 2. The broker and the view library go away; events keep coming and queue.
            broker.stop()
            viid.stop()
            before = event_count()
            wait_until("four more events while the uplinks are down", lambda: event_count() >= before + 4, 90)
            queued = wait_until(
                "a backlog for the broker and the view library",
                lambda: (d := destinations())["broker"]["backlog"] and d["viid"]["backlog"] and d,
                20,
            )
            assert not queued["broker"]["connected"] and queued["broker"]["last_error"]
            assert not queued["viid"]["connected"] and queued["viid"]["last_error"]
            assert queued["broker"]["oldest_undelivered_age_s"] is not None
            metrics = httpx.get(f"{gw.base}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=5).text
            assert 'gateway_outbox_backlog{destination="broker",type="mqtt"}' in metrics
            # 3. A crash with a backlog, then everything comes back.
            assert gw.proc is not None
            os.kill(gw.proc.pid, signal.SIGKILL)
            gw.proc.wait(10)
            broker.start()
            sub1.stop()
            subscribers.append(Subscriber(broker.port, topic, username="reader", password=mqtt_pw).start())
            viid.restart()  # registrations forgotten, as after a real restart
            gw.start()
            wait_until("the backlog drained", lambda: all(d["backlog"] == 0 for d in destinations().values()), 60)
            # 4. No more events: the cameras stop; what they stored last drains too.
            rtsp.stop()
            time.sleep(4.0)
            wait_until("the last events drained", lambda: all(d["backlog"] == 0 for d in destinations().values()), 30)
            final = destinations()
            # The retained topics tell a newcomer the state of things at once.
            tree = Subscriber(broker.port, f"it/{SITE}/#", username="reader", password=mqtt_pw).start()
            subscribers.append(tree)
            retained = wait_until(
                "the retained topics",
                lambda: (
                    (r := {t: p for t, p, kept in tree.snapshot() if kept}).keys()
                    >= {
                        f"it/{SITE}/availability",
                        *(f"it/{SITE}/cameras/{c}/{k}" for c in CHANNELS for k in ("state", "availability")),
                    }
                    and r
                ),
                10,
            )
            assert retained[f"it/{SITE}/availability"] == b"online"
            for cam in CHANNELS:
                state = json.loads(retained[f"it/{SITE}/cameras/{cam}/state"])
                assert state["id"].startswith(f"{SITE}:state:") and state["camera"] == cam
                assert state["data"]["state"] == "offline"  # the RTSP server is gone
                assert retained[f"it/{SITE}/cameras/{cam}/availability"] == b"offline"
            health = wait_until(
                "a health message",
                lambda: next((p for t, p, _k in tree.snapshot() if t.endswith("/health")), None),
                12,
            )
            figures = json.loads(health)["data"]
            if figures["state"] == "online":  # retained from before the cameras stopped
                assert (figures["codec"], figures["width"], figures["height"]) == ("h264", walk.width, walk.height)
            else:
                assert figures["state"] in ("offline", "connecting") and figures["fps"] is None
            assert gw.stop() == 0, gw.log()[-4000:]
            wait_until(
                "the gateway's retained offline",
                lambda: (f"it/{SITE}/availability", b"offline", False) in tree.snapshot(),
                10,
            )
        finally:
            for sub in subscribers:
                sub.stop()
            if gw.proc is not None:
                gw.stop()

    events = read(gateway_storage_url, "SELECT id, camera_id FROM events ORDER BY id")
    ((undelivered,),) = read(gateway_storage_url, "SELECT count(*) FROM outbox_deliveries")
    assert undelivered == 0
    assert len(events) >= 5, events
    expected = {f"{SITE}:event:{eid}" for eid, _ in events}
    camera_of = {f"{SITE}:event:{eid}": cam for eid, cam in events}

    def check_in_order(ids_in_arrival_order: list[str], where: str) -> None:
        unique = first_seen(ids_in_arrival_order)
        assert set(unique) == expected, (where, sorted(expected - set(unique)), sorted(set(unique) - expected))
        for cam in CHANNELS:
            seq = [int(i.rsplit(":", 1)[1]) for i in unique if camera_of[i] == cam]
            assert seq == sorted(seq), (where, cam, seq)

    mqtt_events = [json.loads(payload) for sub in subscribers[:2] for _t, payload, _r in sub.snapshot()]
    mqtt_ids = [m["id"] for m in mqtt_events]
    check_in_order(mqtt_ids, "mqtt")
    for message in mqtt_events:
        data = message["data"]
        assert data["snapshot_url"] == f"http://127.0.0.1:{port}/api/v1/events/{data['event_id']}/snapshot"
        assert base64.b64decode(data["thumbnail_jpeg_base64"])[:2] == b"\xff\xd8"
    check_in_order([m["id"] for m in hook.accepted], "webhook")
    assert hook.refused == []
    # The view library: one scene picture (SourceID) per event, its device the camera's channel.
    assert viid.errors == []
    sources = first_seen([p["SourceID"] for p in viid.persons])
    assert len(sources) == len(events)
    for cam, channel in CHANNELS.items():
        per_camera = [s for s in sources if s.startswith(channel)]
        assert len(per_camera) == sum(1 for _e, c in events if c == cam)
        # The last five digits follow the outbox's order (no wrap at this size).
        assert [int(s[-5:]) for s in per_camera] == sorted(int(s[-5:]) for s in per_camera)
    for dest in ("broker", "hook", "viid"):
        assert final[dest]["delivered"] >= len(events) and final[dest]["dropped"] == 0, final[dest]
    print(
        f"\n{len(events)} events; raw deliveries: mqtt {len(mqtt_ids)}, webhook {len(hook.accepted)}, "
        f"GA/T 1400 persons {len(viid.persons)} for {len(sources)} scenes"
    )
