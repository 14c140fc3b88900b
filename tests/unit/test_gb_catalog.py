"""GB/T 28181 uplinks: config checks, the catalog built from config + live states, query answers."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from adapters.gb28181 import manscdp
from adapters.gb28181.sip import SipMessage, parse
from gateway.config import GatewayConfig, parse_config
from gateway.errors import ConfigError
from gateway.gb28181.catalog import catalog_items, civil_code, selected_cameras
from gateway.gb28181.service import Uplink
from gateway.health.state import CameraState
from gateway.streams.hub import StreamHub
from tests.support.configs import CH1, CH2, GB_SITE, SERVER_ID, UNIT_ID

pytestmark = pytest.mark.usefixtures("english")


def config(**uplink: Any) -> GatewayConfig:
    data = copy.deepcopy(GB_SITE)
    data["uplinks"]["gb28181"][0].update(uplink)
    return parse_config(data, check_secrets=False)


def broken(mutate: Any) -> list[str]:
    data = copy.deepcopy(GB_SITE)
    mutate(data)
    with pytest.raises(ConfigError) as info:
        parse_config(data, check_secrets=False)
    return [str(i) for i in info.value.issues]


STATES = {"gate": CameraState.ONLINE, "hall": CameraState.OFFLINE, "yard": CameraState.ONLINE}


def no_info(_cid: str) -> tuple[str | None, str | None]:
    return None, None


# --- config ---------------------------------------------------------------------------------------


def test_defaults() -> None:
    up = config().uplinks.gb28181[0]
    assert (up.port, up.transport, up.local_port, up.expires_s) == (5060, "udp", 5060, 3600)
    assert (up.keepalive_s, up.keepalive_misses, up.channels, up.charset) == (60, 3, "all", "GB2312")
    assert up.catalog_per_message == 20


def test_no_uplinks_is_the_default() -> None:
    data = copy.deepcopy(GB_SITE)
    del data["uplinks"]
    del data["site"]["unit"]["gb_id"]
    assert parse_config(data, check_secrets=False).uplinks.gb28181 == []


def test_uplinks_need_the_unit_gb_id() -> None:
    issues = broken(lambda d: d["site"]["unit"].pop("gb_id"))
    assert any(i.startswith("site.unit.gb_id: uplinks.gb28181 needs") for i in issues), issues


def test_selected_camera_must_exist_and_have_a_channel_id() -> None:
    issues = broken(lambda d: d["uplinks"]["gb28181"][0].update(channels=["gate", "nope", "yard"]))
    assert "uplinks.gb28181[0].channels[1]: no camera with this id (value: nope)" in issues
    assert "uplinks.gb28181[0].channels[2]: this camera has no gb_channel_id to forward as (value: yard)" in issues
    assert len(issues) == 2


@pytest.mark.parametrize(
    ("server_id", "message"),
    [
        ("1200000000200000000", "a GB/T 28181 ID is exactly 20 digits"),
        ("12000000001320000001", "a platform ID has type code 200 in digits 11-13"),
    ],
)
def test_bad_server_id(server_id: str, message: str) -> None:
    issues = broken(lambda d: d["uplinks"]["gb28181"][0].update(server_id=server_id))
    assert issues == [f"uplinks.gb28181[0].server_id: {message} (value: '{server_id}')"]


def test_expires_below_the_standard_floor() -> None:
    issues = broken(lambda d: d["uplinks"]["gb28181"][0].update(expires_s=600))
    assert len(issues) == 1 and issues[0].startswith("uplinks.gb28181[0].expires_s: Input should be greater than")


def test_live_video_and_alarm_settings() -> None:
    up = config(media_ip="192.168.1.20", max_sessions=4, alarms="always").uplinks.gb28181[0]
    assert (str(up.media_ip), up.max_sessions, up.alarms) == ("192.168.1.20", 4, "always")
    issues = broken(lambda d: d["uplinks"]["gb28181"][0].update(media_ip="gateway.local", alarms="sometimes"))
    assert [i.split(":")[0] for i in issues] == ["uplinks.gb28181[0].media_ip", "uplinks.gb28181[0].alarms"]


def test_password_is_required() -> None:
    issues = broken(lambda d: d["uplinks"]["gb28181"][0].pop("password"))
    assert issues == ["uplinks.gb28181[0].password: Field required"]


def test_duplicate_uplink_id_and_local_port() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["uplinks"]["gb28181"].append({**d["uplinks"]["gb28181"][0]})

    issues = broken(mutate)
    assert "uplinks.gb28181[1].id: duplicate uplink id (value: city)" in issues
    assert "uplinks.gb28181[1].local_port: another uplink already uses this port (value: 5060)" in issues


def test_unresolvable_password_is_reported_with_its_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GB_TEST_PW", raising=False)
    with pytest.raises(ConfigError) as info:
        parse_config(copy.deepcopy(GB_SITE))
    assert [i.path for i in info.value.issues] == ["uplinks.gb28181[0].password.env"]


def test_unquoted_yaml_ids_are_read_as_digits() -> None:
    assert config(server_id=int(SERVER_ID), server_domain=1200000000).uplinks.gb28181[0].server_domain == "1200000000"


# --- catalog --------------------------------------------------------------------------------------


def test_catalog_items_from_config_and_states() -> None:
    cfg = config()

    def info(cid: str) -> tuple[str | None, str | None]:
        return ("Hikvision", "DS-2CD") if cid == "gate" else (None, None)

    items = catalog_items(cfg, cfg.uplinks.gb28181[0], STATES.get, info)
    assert [i.device_id for i in items] == [UNIT_ID, CH1, CH2]  # yard has no channel id
    system, gate, hall = items
    assert (system.type_code, system.name, system.status) == ("200", "North Campus", "ON")
    assert (gate.name, gate.status, gate.manufacturer, gate.model) == ("Gate", "ON", "Hikvision", "DS-2CD")
    assert (hall.status, hall.manufacturer, hall.model) == ("OFF", "unknown", "unknown")
    assert gate.address == "Gate" and hall.address == "1 Main St"  # camera location, else unit address
    assert {i.parent_id for i in (gate, hall)} == {UNIT_ID}
    assert {i.parental for i in (gate, hall)} == {0}
    assert {i.civil_code for i in items} == {"120100"}  # no civil_code: first 6 digits of the unit ID


def test_degraded_is_on_and_connecting_is_off() -> None:
    cfg = config()
    states = {"gate": CameraState.DEGRADED, "hall": CameraState.CONNECTING}
    items = catalog_items(cfg, cfg.uplinks.gb28181[0], states.get, no_info)
    assert [i.status for i in items[1:]] == ["ON", "OFF"]


def test_declared_civil_code_and_address_fallback_to_site_name() -> None:
    data = copy.deepcopy(GB_SITE)
    data["site"]["unit"]["civil_code"] = "120102"
    del data["site"]["unit"]["address"]
    cfg = parse_config(data, check_secrets=False)
    assert civil_code(cfg) == "120102"
    items = catalog_items(cfg, cfg.uplinks.gb28181[0], STATES.get, no_info)
    assert items[2].address == "North Campus"


def test_channel_selection() -> None:
    cfg = config(channels=["hall"])
    up = cfg.uplinks.gb28181[0]
    assert [c.id for c in selected_cameras(cfg, up)] == ["hall"]
    assert [i.device_id for i in catalog_items(cfg, up, STATES.get, no_info)] == [UNIT_ID, CH2]


# --- answering the platform (no sockets: the handler and the response bodies) --------------------


def _message(body: bytes, content_type: str = "Application/MANSCDP+xml", method: str = "MESSAGE") -> SipMessage:
    head = (
        f"{method} sip:{UNIT_ID}@1200000000 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKq1\r\n"
        f"From: <sip:{SERVER_ID}@1200000000>;tag=1\r\nTo: <sip:{UNIT_ID}@1200000000>\r\n"
        f"Call-ID: q1@10.0.0.1\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return parse(head.encode() + body)


def _query(cmd: str, device_id: str = UNIT_ID, sn: int = 7) -> bytes:
    return (
        f'<?xml version="1.0" encoding="GB2312"?><Query><CmdType>{cmd}</CmdType><SN>{sn}</SN>'
        f"<DeviceID>{device_id}</DeviceID></Query>"
    ).encode()


def _uplink(**kw: Any) -> Uplink:
    cfg = config(**kw)
    # No INVITE here: a hub that reads nothing is enough.
    return Uplink(cfg, cfg.uplinks.gb28181[0], STATES.get, no_info, StreamHub(cfg.supervisor, {}, lambda _cid: False))


async def test_bad_requests_get_their_status_and_never_raise() -> None:
    up = _uplink()
    cases = [
        (_message(b"hello", "text/plain"), 415),
        (_message(b"<Query><CmdType>Catalog"), 400),
        (_message(b'<!DOCTYPE x [<!ENTITY a "b">]><Query/>'), 400),
        (_message(b"<Notify><CmdType>Catalog</CmdType><SN>x</SN><DeviceID>1</DeviceID></Notify>"), 400),
        (_message(b"<Response><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>1</DeviceID></Response>"), 200),
        (_message(_query("NoSuchCommand")), 200),
        (_message(b"v=0\r\n", "application/sdp", "INVITE"), 503),  # no SIP link up to answer from
    ]
    for msg, status in cases:
        resp = await up._on_request(msg)
        assert resp is not None and resp.status == status, (msg.body[:40], resp and resp.status)
    assert up.counters["rejected"] == 4 and up.counters["ignored"] == 2 and up.live.counters["invites_refused"] == 1


async def test_a_query_is_answered_200_and_the_response_follows() -> None:
    up = _uplink()
    resp = await up._on_request(_message(_query("Catalog")))
    assert resp is not None and resp.status == 200
    assert up.counters["queries"] == 1
    await asyncio.sleep(0)  # the response task runs; with no link it cannot be delivered
    await asyncio.sleep(0)
    assert up.counters["responses_failed"] == 1


def test_catalog_response_parts() -> None:
    up = _uplink(catalog_per_message=2)
    parts = up._responses(manscdp.parse(_query("Catalog", sn=42)))
    assert len(parts) == 2
    docs = [manscdp.parse(p) for p in parts]
    assert {d.field("SumNum") for d in docs} == {"3"} and {d.sn for d in docs} == {42}
    assert [d.element.find("DeviceList").get("Num") for d in docs] == ["2", "1"]  # type: ignore[union-attr]
    assert b"<Status>OFF</Status>" in parts[1] and parts[0].startswith(b'<?xml version="1.0" encoding="GB2312"?>')


def test_device_info_and_status_for_the_system_and_a_channel() -> None:
    up = _uplink(charset="UTF-8")
    info = manscdp.parse(up._responses(manscdp.parse(_query("DeviceInfo")))[0])
    assert (info.field("DeviceName"), info.field("Manufacturer"), info.field("Channel")) == (
        "North Campus",
        "site-video-gateway",
        "2",
    )
    status = manscdp.parse(asyncio.run(up._device_status(manscdp.parse(_query("DeviceStatus", CH2))))[0])
    assert (status.device_id, status.field("Online"), status.field("Status")) == (CH2, "OFFLINE", "ERROR")
    system = manscdp.parse(asyncio.run(up._device_status(manscdp.parse(_query("DeviceStatus"))))[0])
    assert system.field("Online") == "ONLINE" and system.field("DeviceTime")
    assert up._responses(manscdp.parse(_query("DeviceInfo", "12010000001320000099"))) == []  # not ours


def test_status_has_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GB_TEST_PW", "s3cret-value")
    status = _uplink().status()
    assert status["state"] == "failed" and status["reason"] == "not started"
    assert "s3cret" not in repr(status) and "password" not in repr(status)
