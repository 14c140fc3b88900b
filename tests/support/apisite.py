"""A small site with data in every table the API reads, for the fuzzing and security tests.

The configuration carries one secret of every kind the gateway holds (camera password, MQTT, GB/T
28181 and GA/T 1400 passwords, the password a subscribing GA/T 1400 platform uses with us, webhook
key, a group bot's URL token and signing secret, an SMTP password), each a distinctive string the
secret-grep test searches for.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from gateway.access import GrantStore
from gateway.analytics.events import Event, EventBox, EventStore
from gateway.auth import UserStore
from gateway.config import GatewayConfig, parse_config
from gateway.storage.db import Database
from tests.support.ports import free_port

CAMERA_PASSWORD = "Cam-Secret-7f3a!@"
MQTT_PASSWORD = "mqtt-Secret-91bd"
WEBHOOK_SECRET = "webhook-Secret-c0de"
GB_PASSWORD = "gb-Secret-5ea1"
VIID_PASSWORD = "viid-Secret-2b7e"
VIID_SUBSCRIBER_PASSWORD = "viid-sub-Secret-4c19"
BOT_TOKEN = "bot-Secret-token-6d20"  # the access token inside a DingTalk bot's URL
BOT_SIGNING = "SECbot-signing-Secret-8e11"
MAIL_PASSWORD = "mail-Secret-3f08"
USER_PASSWORD = "user-Secret-pass-1234"
CONFIG_SECRETS = (
    CAMERA_PASSWORD,
    MQTT_PASSWORD,
    WEBHOOK_SECRET,
    GB_PASSWORD,
    VIID_PASSWORD,
    VIID_SUBSCRIBER_PASSWORD,
    BOT_TOKEN,
    BOT_SIGNING,
    MAIL_PASSWORD,
)
ROLES = ("admin", "operator", "auditor", "police")


def site_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, uplinks: bool = False) -> GatewayConfig:
    for name, value in (
        ("SEC_CAM_PW", CAMERA_PASSWORD),
        ("SEC_MQTT_PW", MQTT_PASSWORD),
        ("SEC_HOOK", WEBHOOK_SECRET),
        ("SEC_GB_PW", GB_PASSWORD),
        ("SEC_VIID_PW", VIID_PASSWORD),
        ("SEC_VIID_SUB_PW", VIID_SUBSCRIBER_PASSWORD),
        ("SEC_BOT_URL", f"https://oapi.dingtalk.com/robot/send?access_token={BOT_TOKEN}"),
        ("SEC_BOT_SIGN", BOT_SIGNING),
        ("SEC_MAIL_PW", MAIL_PASSWORD),
    ):
        monkeypatch.setenv(name, value)
    raw: dict[str, Any] = {
        "site": {
            "id": "s1",
            "name": "Secure site",
            "unit": {"name": "Unit", "headcount": 10, "key_unit": True, "gb_id": "33010000002000000009"},
        },
        "zones": [
            {"id": "gate", "name": "Gate", "kind": "entrance"},
            {"id": "hall", "name": "Hall", "kind": "crowded_area"},
        ],
        "cameras": [
            {
                "id": "a1",
                "name": "Gate A",
                # Closed port: nothing answers, and the supervisors are not started in these tests anyway.
                "source": {"rtsp": "rtsp://127.0.0.1:9/a"},
                "credentials": {"username": "viewer", "password": {"env": "SEC_CAM_PW"}},
                "zones": ["gate"],
                "expected": {"resolution": "1920x1080", "fps": 25, "codec": "h264"},
            },
            {
                "id": "b1",
                "name": "Hall B",
                "source": {"rtsp": "rtsp://127.0.0.1:9/b"},
                "credentials": {"username": "viewer", "password": {"env": "SEC_CAM_PW"}},
                "zones": ["hall"],
            },
        ],
        "storage": {"url": f"sqlite:///{tmp_path}/g.db"},
    }
    if uplinks:
        raw["uplinks"] = {
            "gb28181": [
                {
                    "id": "city",
                    "server_id": "33010000002000000001",
                    "server_domain": "3301000000",
                    "host": "127.0.0.1",
                    "port": 9,
                    "password": {"env": "SEC_GB_PW"},
                    "local_port": 0,
                }
            ],
            "mqtt": [
                {
                    "id": "centre",
                    "host": "127.0.0.1",
                    "port": 9,
                    "username": "gateway",
                    "password": {"env": "SEC_MQTT_PW"},
                }
            ],
            "webhooks": [{"id": "desk", "url": "http://127.0.0.1:9/hook", "secret": {"env": "SEC_HOOK"}}],
            "gat1400": [
                {
                    "id": "viid",
                    "url": "http://127.0.0.1:9",
                    "device_id": "33010000001190000001",
                    "username": "33010000001190000001",
                    "password": {"env": "SEC_VIID_PW"},
                }
            ],
            "bots": [
                {"id": "duty-bot", "kind": "dingtalk", "url": {"env": "SEC_BOT_URL"}, "secret": {"env": "SEC_BOT_SIGN"}}
            ],
            "email": [
                {
                    "id": "duty-mail",
                    "host": "127.0.0.1",
                    "port": 9,
                    "username": "gateway",
                    "password": {"env": "SEC_MAIL_PW"},
                    "from": "gateway@unit.example",
                    "to": ["duty@unit.example"],
                }
            ],
            "gat1400_subscribers": [
                {
                    "id": "province",
                    "url": "http://127.0.0.1:9",
                    "device_id": "33010000001190000001",
                    "username": "33010000001190000001",
                    "password": {"env": "SEC_VIID_PW"},
                    "subscriber_username": "province",
                    "subscriber_password": {"env": "SEC_VIID_SUB_PW"},
                    "listen_host": "127.0.0.1",
                    "listen_port": free_port(),
                }
            ],
        }
    return parse_config(raw)


def seed(config: GatewayConfig) -> dict[str, str]:
    """Users of every role (one password), operator and police granted camera a1 only, events of both
    cameras with snapshots; returns bearer tokens by role."""
    with Database(config.storage.url) as db:
        users = UserStore(db)
        tokens = {role: users.add_user(f"{role}-u", role)[1] for role in ROLES}
        for role in ROLES:
            users.set_password(f"{role}-u", USER_PASSWORD)
        grants = GrantStore(db, config, users)
        grants.grant("operator-u", "camera", "a1", by="test")
        grants.grant("police-u", "camera", "a1", by="test")
        events = EventStore(db)
        now = time.time()
        for i, camera in enumerate(("a1", "b1", "a1", "b1")):
            zone = "gate" if camera == "a1" else "hall"
            events.add(
                Event(
                    id=None,
                    camera_id=camera,
                    rule_id="r1",
                    kind="intrusion",
                    zone_id=zone,
                    at=now - 600 + i,
                    track_ids=(i,),
                    boxes=(EventBox(10.0, 20.0, 110.0, 220.0, 0.9, i),),
                    detail={"dwell_s": 1.5},
                    # The form gateway/analytics/rules.py writes, which the pages translate.
                    message=f"Intrusion: 1 person inside the area (rule 'r1', zone '{zone}').",
                    frame_width=1920,
                    frame_height=1080,
                ),
                b"\xff\xd8\xff\xd9",
            )
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
