"""A real `gateway run` with one RTSP camera registers to a GB/T 28181 upper platform and answers its queries.

The upper platform is a small Python fake on a UDP socket (built from adapters/gb28181 sip + digest
server helpers), not SIPp: the platform here must send requests of its own (queries) to the
gateway and read MESSAGE requests the gateway starts (responses on new Call-IDs), which a SIPp UAS
scenario cannot tie to the registration call without much ceremony.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.gb28181 import manscdp
from adapters.gb28181.digest import verify, www_authenticate
from adapters.gb28181.sip import SipError, SipMessage, format_gb_date, new_call_id, new_tag, parse, request, response_to
from gateway.sim.clips import ClipInfo
from gateway.sim.server import RtspServerProcess, free_port
from tests.integration.gatewayproc import GatewayProcess, child_env, run_cli

pytestmark = pytest.mark.integration

UNIT_ID = "12010000002000000001"
SERVER_ID = "12000000002000000001"
DOMAIN = "1200000000"
CHANNEL = "12010000001320000001"
NONCE = "5a0c2b3e9f1d4c7a"  # one fixed nonce: answering a retransmitted REGISTER again is harmless


class FakePlatform(threading.Thread):
    """The upper platform: registrar with digest auth, keepalive sink, query sender, response reader.

    `hold` makes it keep Catalog Response MESSAGEs unanswered until `release()`, to see that the
    gateway sends the next part only after the previous one was answered.
    """

    def __init__(self, password: str) -> None:
        super().__init__(daemon=True)
        self.password = password
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.lock = threading.Lock()
        self.registered = threading.Event()
        self.unregistered = threading.Event()
        self.bad_auth = 0
        self.responses: list[manscdp.Manscdp] = []
        self.answers: dict[str, SipMessage] = {}  # Call-ID of our query -> the gateway's final answer
        self.hold = False
        self._held: list[tuple[SipMessage, tuple[str, int]]] = []
        self._seen: set[str] = set()
        self._closing = threading.Event()

    def run(self) -> None:
        while not self._closing.is_set():
            try:
                data, addr = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                msg = parse(data)
            except SipError:
                continue
            with self.lock:
                self._handle(msg, addr)

    def close(self) -> None:
        self._closing.set()
        self.join(timeout=2)
        self.sock.close()

    def _send(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        self.sock.sendto(msg.to_bytes(), addr)

    def _handle(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        if not msg.is_request:
            if msg.status is not None and msg.status >= 200:
                self.answers[msg.call_id] = msg
            return
        if msg.method == "REGISTER":
            auth = msg.get("Authorization")
            if auth is None:
                challenge = www_authenticate(DOMAIN, NONCE)
                self._send(response_to(msg, 401, extra_headers=[("WWW-Authenticate", challenge)]), addr)
            elif verify(auth, method="REGISTER", password=self.password, realm=DOMAIN, nonce=NONCE):
                date = [("Date", format_gb_date(datetime.now())), ("Expires", str(msg.expires or 0))]
                self._send(response_to(msg, 200, extra_headers=date), addr)
                (self.registered if msg.expires else self.unregistered).set()
            else:
                self.bad_auth += 1
                self._send(response_to(msg, 403), addr)
            return
        if msg.method != "MESSAGE":
            self._send(response_to(msg, 405), addr)
            return
        body = manscdp.parse(msg.body)
        branch = msg.via_branch or ""
        if body.root == "Response" and branch not in self._seen:
            self._seen.add(branch)
            self.responses.append(body)
            if self.hold and body.cmd_type == "Catalog":
                self._held.append((msg, addr))
                return
        if any(branch == m.via_branch for m, _ in self._held):
            return  # a retransmission of a held part: still no answer
        self._send(response_to(msg, 200), addr)

    def release(self) -> None:
        with self.lock:
            self.hold = False
            for msg, addr in self._held:
                self._send(response_to(msg, 200), addr)
            self._held.clear()

    def query(self, gateway_port: int, cmd: str, sn: int, device_id: str = UNIT_ID, **kw: Any) -> str:
        body = kw.pop(
            "body",
            (
                f'<?xml version="1.0" encoding="GB2312"?>\r\n<Query>\r\n<CmdType>{cmd}</CmdType>\r\n'
                f"<SN>{sn}</SN>\r\n<DeviceID>{device_id}</DeviceID>\r\n</Query>\r\n"
            ).encode(),
        )
        call_id = new_call_id("127.0.0.1")
        msg = request(
            "MESSAGE",
            f"sip:{UNIT_ID}@{DOMAIN}",
            via_host="127.0.0.1",
            via_port=self.port,
            transport="udp",
            from_uri=f"sip:{SERVER_ID}@{DOMAIN}",
            from_tag=new_tag(),
            to_uri=f"sip:{UNIT_ID}@{DOMAIN}",
            call_id=call_id,
            cseq=1,
            body=body,
            content_type=kw.pop("content_type", manscdp.CONTENT_TYPE),
        )
        self._send(msg, ("127.0.0.1", gateway_port))
        return call_id

    def parts(self, cmd: str, sn: int) -> list[manscdp.Manscdp]:
        with self.lock:
            return [r for r in self.responses if r.cmd_type == cmd and r.sn == sn]


def until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


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
            until(lambda: proc.get("/api/v1/cameras", token).json()[0]["state"] == "online", 20, "camera online")

            # Catalog: our 200 at once, then part 1; part 2 only after part 1 was answered.
            platform.hold = True
            call = platform.query(sip_port, "Catalog", 11)
            until(lambda: call in platform.answers and len(platform.parts("Catalog", 11)) == 1, what="catalog part 1")
            assert platform.answers[call].status == 200
            time.sleep(1.0)
            assert len(platform.parts("Catalog", 11)) == 1  # sequential: waits for our 200
            platform.release()
            until(lambda: len(platform.parts("Catalog", 11)) == 2, what="catalog part 2")
            parts = platform.parts("Catalog", 11)
            assert {p.field("SumNum") for p in parts} == {"2"} and {p.device_id for p in parts} == {UNIT_ID}
            items = {item.findtext("DeviceID"): item for p in parts for item in p.element.iter("Item")}
            assert set(items) == {UNIT_ID, CHANNEL}
            channel = items[CHANNEL]
            assert (channel.findtext("Name"), channel.findtext("Status")) == ("Gate camera", "ON")
            assert (channel.findtext("ParentID"), channel.findtext("CivilCode")) == (UNIT_ID, "120100")
            assert items[UNIT_ID].findtext("Name") == "Integration site"

            call = platform.query(sip_port, "DeviceInfo", 12)
            until(lambda: bool(platform.parts("DeviceInfo", 12)), what="device info")
            info = platform.parts("DeviceInfo", 12)[0]
            assert (info.field("DeviceName"), info.field("Channel"), info.field("Result")) == (
                "Integration site",
                "1",
                "OK",
            )
            call = platform.query(sip_port, "DeviceStatus", 13, CHANNEL)
            until(lambda: bool(platform.parts("DeviceStatus", 13)), what="device status")
            assert platform.parts("DeviceStatus", 13)[0].field("Online") == "ONLINE"

            bad = platform.query(sip_port, "Catalog", 14, body=b"hello", content_type="text/plain")
            until(lambda: bad in platform.answers, what="415")
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
