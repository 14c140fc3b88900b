"""GB/T 28181 RecordInfo (A.2.4.5 query, A.2.6.5 response): the channel's recorded spans from its recording
device, in parts; malformed times refused with the MESSAGE; unknown types and devices answered empty."""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.gb28181 import manscdp
from adapters.gb28181.sip import SipMessage, parse
from gateway.config import parse_config
from gateway.errors import GatewayError
from gateway.gb28181.service import Uplink
from gateway.health.state import CameraState
from gateway.streams.hub import StreamHub
from tests.support.configs import CH1, CH2, GB_SITE, SERVER_ID, UNIT_ID

TZ = ZoneInfo("Asia/Shanghai")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp()


class Recordings:
    """The recording audit as the uplink sees it: spans per camera, or a device that fails."""

    def __init__(self, spans: dict[str, list[tuple[float, float]]], fail: bool = False) -> None:
        self.spans, self.fail = spans, fail
        self.asked: list[tuple[str, float, float]] = []

    async def __call__(self, camera_id: str, start: float, end: float) -> list[tuple[float, float]] | None:
        self.asked.append((camera_id, start, end))
        if self.fail:
            raise GatewayError("recorder nvr1: connection refused")
        if camera_id not in self.spans:
            return None
        return [(max(a, start), min(b, end)) for a, b in self.spans[camera_id] if b > start and a < end]


def _uplink(recordings: Recordings, **uplink: Any) -> tuple[Uplink, list[bytes]]:
    data = copy.deepcopy(GB_SITE)
    data["site"]["timezone"] = "Asia/Shanghai"
    data["uplinks"]["gb28181"][0].update(uplink)
    cfg = parse_config(data, check_secrets=False)
    states = {c.id: CameraState.ONLINE for c in cfg.cameras}
    hub = StreamHub(cfg.supervisor, {}, lambda _cid: False)
    up = Uplink(cfg, cfg.uplinks.gb28181[0], states.get, lambda _c: (None, None), hub, None, recordings)
    sent: list[bytes] = []

    async def send(body: bytes) -> bool:  # what would go to the platform as Response MESSAGEs
        sent.append(body)
        return True

    up._send = send  # type: ignore[method-assign]
    return up, sent


def _message(body: bytes) -> SipMessage:
    head = (
        f"MESSAGE sip:{UNIT_ID}@1200000000 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKr1\r\n"
        f"From: <sip:{SERVER_ID}@1200000000>;tag=1\r\nTo: <sip:{UNIT_ID}@1200000000>\r\n"
        "Call-ID: r1@10.0.0.1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
        f"Content-Type: Application/MANSCDP+xml\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return parse(head.encode() + body)


def _query(device_id: str, start: str, end: str, sn: int = 9, kind: str | None = "all") -> bytes:
    type_el = f"<Type>{kind}</Type>" if kind is not None else ""
    return (
        f'<?xml version="1.0" encoding="GB2312"?><Query><CmdType>RecordInfo</CmdType><SN>{sn}</SN>'
        f"<DeviceID>{device_id}</DeviceID><StartTime>{start}</StartTime><EndTime>{end}</EndTime>"
        f"<FilePath>{device_id}</FilePath><Address>Address 1</Address><Secrecy>0</Secrecy>{type_el}"
        f"<RecorderID>{device_id}</RecorderID></Query>"
    ).encode()


async def _ask(up: Uplink, body: bytes) -> SipMessage:
    resp = await up._on_request(_message(body))
    assert resp is not None
    for _ in range(5):  # the answer task runs after the 200
        await asyncio.sleep(0)
    return resp


async def test_record_info_lists_each_recorded_span_in_parts() -> None:
    spans = [
        (at("2026-12-05T00:00:00"), at("2026-12-05T10:30:00")),
        (at("2026-12-05T12:30:00"), at("2026-12-05T18:00:00")),
        (at("2026-12-05T18:10:00"), at("2026-12-06T00:00:00")),
    ]
    recordings = Recordings({"gate": spans})
    up, sent = _uplink(recordings, catalog_per_message=2)
    resp = await _ask(up, _query(CH1, "2026-12-05T08:00:00", "2026-12-05T20:00:00"))
    assert resp.status == 200 and len(sent) == 2
    assert recordings.asked == [("gate", at("2026-12-05T08:00:00"), at("2026-12-05T20:00:00"))]
    docs = [manscdp.parse(body) for body in sent]
    assert {d.field("SumNum") for d in docs} == {"3"} and {d.sn for d in docs} == {9}
    assert [d.element.find("RecordList").get("Num") for d in docs] == ["2", "1"]  # type: ignore[union-attr]
    items = [i for d in docs for i in d.element.iter("Item")]
    times = [(i.findtext("StartTime"), i.findtext("EndTime")) for i in items]
    assert times == [
        ("2026-12-05T08:00:00", "2026-12-05T10:30:00"),  # clipped to the asked range, in site time
        ("2026-12-05T12:30:00", "2026-12-05T18:00:00"),
        ("2026-12-05T18:10:00", "2026-12-05T20:00:00"),
    ]
    assert {i.findtext("DeviceID") for i in items} == {CH1} and {i.findtext("Type") for i in items} == {"time"}
    assert docs[0].field("Name") == "Gate"


@pytest.mark.parametrize(
    ("recordings", "kind"),
    [
        (Recordings({}), "all"),  # no recordings configured for the camera
        (Recordings({"gate": []}), "time"),  # nothing recorded in the range
        (Recordings({"gate": [(0, 2e9)]}), "alarm"),  # a type the devices cannot tell
        (Recordings({"gate": [(0, 2e9)]}, fail=True), "all"),  # the recording device fails
    ],
)
async def test_record_info_with_nothing_to_list_is_an_empty_answer(recordings: Recordings, kind: str) -> None:
    up, sent = _uplink(recordings)
    resp = await _ask(up, _query(CH1, "2026-12-05T08:00:00", "2026-12-05T20:00:00", kind=kind))
    assert resp.status == 200 and len(sent) == 1
    doc = manscdp.parse(sent[0])
    assert doc.cmd_type == "RecordInfo" and doc.field("SumNum") == "0"
    assert doc.element.find("RecordList").get("Num") == "0"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("yesterday", "2026-12-05T20:00:00"),
        ("2026-12-05T20:00:00", "2026-12-05T08:00:00"),
        ("2026-13-05T08:00:00", "x"),
    ],
)
async def test_a_record_info_with_bad_times_is_refused_with_400(start: str, end: str) -> None:
    up, sent = _uplink(Recordings({"gate": []}))
    resp = await _ask(up, _query(CH1, start, end))
    assert resp.status == 400 and sent == [] and up.counters["rejected"] == 1


async def test_record_info_for_a_channel_not_forwarded_is_ignored() -> None:
    up, sent = _uplink(Recordings({"hall": []}), channels=["gate"])
    resp = await _ask(up, _query(CH2, "2026-12-05T08:00:00", "2026-12-05T20:00:00"))
    assert resp.status == 200 and sent == []


def test_query_times_are_the_standards_form() -> None:
    assert manscdp.parse_query_time("2026-12-05T08:00:00", "StartTime") == datetime(2026, 12, 5, 8)
    assert manscdp.parse_query_time("2026-12-05 08:00:00", "StartTime") == datetime(2026, 12, 5, 8)
    with pytest.raises(manscdp.ManscdpError):
        manscdp.parse_query_time(None, "StartTime")
    with pytest.raises(manscdp.ManscdpError):
        manscdp.parse_query_time("2026-02-30T08:00:00", "EndTime")


async def test_config_download_answers_the_basic_parameters_we_registered_with() -> None:
    """ConfigDownload BasicParam (wvp asks for it at a lower platform's first registration)."""
    up, sent = _uplink(Recordings({}), expires_s=7200, keepalive_s=30, keepalive_misses=4)
    body = (
        '<?xml version="1.0" encoding="GB2312"?><Query><CmdType>ConfigDownload</CmdType><SN>17</SN>'
        f"<DeviceID>{UNIT_ID}</DeviceID><ConfigType>BasicParam/VideoParamOpt</ConfigType></Query>"
    ).encode()
    resp = await _ask(up, body)
    assert resp.status == 200 and len(sent) == 1
    doc = manscdp.parse(sent[0])
    assert (doc.root, doc.cmd_type, doc.sn, doc.device_id, doc.field("Result")) == (
        "Response",
        "ConfigDownload",
        17,
        UNIT_ID,
        "OK",
    )
    basic = doc.element.find("BasicParam")
    assert basic is not None
    got = tuple(basic.findtext(name) for name in ("Expiration", "HeartBeatInterval", "HeartBeatCount"))
    assert got == ("7200", "30", "4")
    assert "Password" not in sent[0].decode("gb18030")  # the registration password is never sent back
    other = body.replace(b"BasicParam/VideoParamOpt", b"VideoParamOpt")
    await _ask(up, other)
    assert len(sent) == 1  # a camera's own configuration types are not ours to answer
