"""A real `gateway run` with one RTSP camera registers to a GB/T 28181 upper platform and answers its queries.

The upper platform is the tests' Python fake on a UDP socket (tests/support/gbplatform.py, built from
adapters/gb28181 sip + digest server helpers), not SIPp: the platform here must send requests of its
own (queries) to the gateway and read MESSAGE requests the gateway starts (responses on new Call-IDs),
which a SIPp UAS scenario cannot tie to the registration call without much ceremony.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.clips import ClipInfo
from sim.server import RtspServerProcess
from tests.support.gateway import GatewayProcess, child_env, run_cli
from tests.support.gbplatform import DOMAIN, LOCAL, SERVER_ID, UNIT_ID, FakePlatform
from tests.support.ports import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

CHANNEL = "12010000001320000001"


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    fake = FakePlatform(password=secrets.token_urlsafe(12))
    fake.start()
    yield fake
    fake.close()


def test_registers_and_answers_catalog_and_device_info(
    tmp_path: Path, gateway_storage_url: str, sim_clips: dict[str, ClipInfo], platform: FakePlatform
) -> None:
    sip_port = free_port(socket.SOCK_DGRAM)
    platform.gateway = (LOCAL, sip_port)
    http_port = free_port()
    config: dict[str, Any] = {
        "site": {"id": "it", "name": "Integration site", "unit": {"name": "U", "headcount": 5, "gb_id": UNIT_ID}},
        "cameras": [],
        "supervisor": {"connect_timeout_s": 3, "stall_timeout_s": 3, "backoff_initial_s": 0.5, "backoff_max_s": 2},
        "server": {"bind": "127.0.0.1", "port": http_port},
        "storage": {"url": gateway_storage_url},
        "uplinks": {
            "gb28181": [
                {
                    "id": "city",
                    "server_id": SERVER_ID,
                    "server_domain": DOMAIN,
                    "host": "127.0.0.1",
                    "port": platform.port,
                    "password": {"env": "IT_GB_PASSWORD"},
                    "local_port": sip_port,
                    "catalog_per_message": 1,  # two items: two parts, sent one after the other
                }
            ]
        },
    }
    env = child_env(IT_GB_PASSWORD=platform.password)
    with RtspServerProcess([("/cam", sim_clips["hd720_h264"])]) as rtsp:
        config["cameras"] = [
            {"id": "gate", "name": "Gate camera", "source": {"rtsp": rtsp.url("/cam")}, "gb_channel_id": CHANNEL}
        ]
        path = tmp_path / "site.yaml"
        path.write_text(yaml.safe_dump(config))
        added = run_cli(["user", "add", "it-admin", "--role", "admin", "-c", str(path)], env)
        assert added.returncode == 0, added.stderr
        token = added.stdout.split()[-1]
        proc = GatewayProcess(["run", "-c", str(path)], env, tmp_path / "gateway.log", http_port).start()
        try:
            assert platform.registered.wait(15), proc.log()
            assert platform.bad_auth == 0
            wait_until(
                "camera online",
                lambda: proc.get("/api/v1/cameras", token).json()[0]["state"] == "online",
                20,
                interval=0.05,
            )

            # Catalog: our 200 at once, then part 1; part 2 only after part 1 was answered.
            platform.hold = True
            call = platform.query("Catalog", 11)
            wait_until(
                "catalog part 1",
                lambda: call in platform.answers and len(platform.parts("Catalog", 11)) == 1,
                15,
                interval=0.05,
            )
            assert platform.answers[call].status == 200
            time.sleep(1.0)
            assert len(platform.parts("Catalog", 11)) == 1  # sequential: waits for our 200
            platform.release()
            wait_until("catalog part 2", lambda: len(platform.parts("Catalog", 11)) == 2, 15, interval=0.05)
            parts = platform.parts("Catalog", 11)
            assert {p.field("SumNum") for p in parts} == {"2"} and {p.device_id for p in parts} == {UNIT_ID}
            items = {item.findtext("DeviceID"): item for p in parts for item in p.element.iter("Item")}
            assert set(items) == {UNIT_ID, CHANNEL}
            channel = items[CHANNEL]
            assert (channel.findtext("Name"), channel.findtext("Status")) == ("Gate camera", "ON")
            assert (channel.findtext("ParentID"), channel.findtext("CivilCode")) == (UNIT_ID, "120100")
            assert items[UNIT_ID].findtext("Name") == "Integration site"

            call = platform.query("DeviceInfo", 12)
            wait_until("device info", lambda: bool(platform.parts("DeviceInfo", 12)), 15, interval=0.05)
            info = platform.parts("DeviceInfo", 12)[0]
            assert (info.field("DeviceName"), info.field("Channel"), info.field("Result")) == (
                "Integration site",
                "1",
                "OK",
            )
            call = platform.query("DeviceStatus", 13, CHANNEL)
            wait_until("device status", lambda: bool(platform.parts("DeviceStatus", 13)), 15, interval=0.05)
            assert platform.parts("DeviceStatus", 13)[0].field("Online") == "ONLINE"

            bad = platform.query("Catalog", 14, body=b"hello", content_type="text/plain")
            wait_until("415", lambda: bad in platform.answers, 15, interval=0.05)
            assert platform.answers[bad].status == 415

            status = proc.get("/api/v1/uplinks", token)
            assert status.status_code == 200
            (city,) = status.json()
            assert city["id"] == "city" and city["state"] == "registered", city
            assert city["channels"] == 1 and city["registered_at"] and city["expires_at"]
            assert city["counters"]["queries"] == 3 and city["counters"]["responses_sent"] == 4
            assert city["counters"]["rejected"] == 1
            assert platform.password not in status.text and "password" not in status.text
            metrics = proc.get("/metrics", token).text
            assert 'gateway_gb_registered{platform="city"} 1' in metrics
            assert proc.get("/api/v1/uplinks", "not-a-token").status_code == 401
        finally:
            assert proc.stop() == 0, proc.log()[-4000:]
        assert platform.unregistered.wait(5), "no REGISTER with Expires: 0 at shutdown"
        assert platform.password not in proc.log()
