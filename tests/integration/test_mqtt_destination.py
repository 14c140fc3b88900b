"""The MQTT destination of a running gateway (in-process, real mosquitto on 127.0.0.1) survives a
failure inside its client, the way paho 2.1's network thread once died, and says so in the API."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth import UserStore
from gateway.config import parse_config
from gateway.storage.db import Database
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_a_failure_inside_the_mqtt_client_is_recovered_and_shown(
    tmp_path: Path, gateway_storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = Mosquitto(tmp_path)
    config = parse_config(
        {
            "site": {"id": "s1", "name": "Site", "unit": {"name": "Unit", "headcount": 5}},
            "zones": [{"id": "gate", "name": "Gate", "kind": "entrance"}],
            "cameras": [{"id": "cam1", "name": "Gate", "source": {"rtsp": "rtsp://127.0.0.1:9/a"}, "zones": ["gate"]}],
            "storage": {"url": gateway_storage_url},
            "uplinks": {
                "mqtt": [
                    {
                        "id": "broker",
                        "host": "127.0.0.1",
                        "port": broker.port,
                        "kinds": ["health"],
                        "health_interval_s": 5,
                    }
                ]
            },
        }
    )
    with broker:
        with Database(config.storage.url) as db:
            token = UserStore(db).add_user("admin-user", "admin")[1]
        headers = {"Authorization": f"Bearer {token}"}

        armed = threading.Event()
        real = paho.Client.loop_read

        def loop_read(self: paho.Client, max_packets: int = 1) -> int:
            # Only the gateway's client: it runs on the app's event loop, never in a paho thread.
            if armed.is_set() and not threading.current_thread().name.startswith("paho"):
                armed.clear()
                raise RuntimeError("OrderedDict changed size during iteration")
            return real(self, max_packets)

        monkeypatch.setattr(paho.Client, "loop_read", loop_read)
        with TestClient(create_app(config, start_cameras=False)) as client:

            def broker_dest() -> dict[str, Any]:
                answer = client.get("/api/v1/destinations", headers=headers)
                assert answer.status_code == 200
                return dict(answer.json()["destinations"][0])

            before = wait_until(
                "a first health message delivered", lambda: broker_dest()["delivered"] >= 1, 15, interval=0.1
            )
            assert before is True and broker_dest()["client_restarts"] == 0
            delivered = broker_dest()["delivered"]
            armed.set()  # the next packet the broker sends (a PUBACK) meets the "bug"
            failed = wait_until(
                "the failure counted", lambda: (d := broker_dest())["client_restarts"] == 1 and d, 15, interval=0.1
            )
            assert "OrderedDict changed size" in failed["client_last_failure"]
            metrics = client.get("/metrics", headers=headers).text
            assert 'gateway_outbox_client_restarts_total{destination="broker",type="mqtt"} 1' in metrics
            # Recovered by itself: connected again, and deliveries go on past the failed one.
            wait_until(
                "deliveries after the failure",
                lambda: (d := broker_dest())["connected"] and d["delivered"] >= delivered + 2,
                20,
                interval=0.1,
            )
            assert broker_dest()["client_restarts"] == 1
            assert client.get("/healthz").json()["parts_down"] == 0
