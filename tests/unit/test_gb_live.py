"""GB/T 28181 live sessions, subscriptions, dialogs and alarms, with a fake SIP link and real local sockets.

The link fake records the requests the uplink sends (BYE, NOTIFY, MESSAGE) and answers them 200;
media goes to a real UDP socket on 127.0.0.1, so the RTP that comes out is checked as bytes.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest

from adapters.common.media import Packet, StreamInfo
from adapters.gb28181 import manscdp
from adapters.gb28181.dialog import Dialog
from adapters.gb28181.media import MediaSender
from adapters.gb28181.psdemux import PsDemuxer, RtpPsReader
from adapters.gb28181.sip import (
    SipError,
    SipMessage,
    error_response,
    header_params,
    parse,
)
from gateway.analytics.events import Event
from gateway.gb28181 import alarms
from gateway.health.state import CameraState, CameraStatus
from tests.support.configs import CH1, SERVER_ID, UNIT_ID
from tests.support.gbunit import (
    DOMAIN,
    IDR,
    PPS,
    SPS,
    Site,
    drain,
    in_dialog_request,
    invite_request,
    offer_sdp,
    settle,
    subscribe_request,
)

# --- INVITE, ACK, media, BYE ---------------------------------------------------------------------


async def test_invite_ack_streams_ps_and_bye_ends(receiver: socket.socket) -> None:
    site = Site()
    port = receiver.getsockname()[1]
    invite = invite_request(CH1, offer_sdp(port))
    answer = await site.uplink._on_request(invite)
    assert answer is not None and answer.status == 200, answer
    assert answer.to_tag and answer.get("Contact") == f"<sip:{UNIT_ID}@127.0.0.1:5060>"
    sdp = answer.body.decode()
    assert "a=sendonly" in sdp and "a=rtpmap:96 PS/90000" in sdp and "y=0100000001" in sdp
    assert f"o={CH1} " in sdp and "c=IN IP4 127.0.0.1" in sdp
    (session,) = site.uplink.live.status()
    assert session["state"] == "answered" and session["camera_id"] == "gate"
    assert not site.buses["gate"].subscribers  # nothing is read before the ACK

    site.uplink.live.on_ack(in_dialog_request(invite, answer, "ACK"))
    await settle()
    assert len(site.buses["gate"].subscribers) == 1
    site.publish("gate")
    datagrams = await drain(receiver)
    assert datagrams, "no RTP arrived"
    demuxer = PsDemuxer()
    reader = RtpPsReader(ssrc=100000001, payload_type=96)
    frames = [f for d in datagrams for f in reader.feed_rtp(d)] + reader.finish()
    assert reader.report.ok and reader.report.gaps == 0 and reader.report.foreign_ssrc_packets == 0
    units = [u for f in frames for u in demuxer.feed(f.data, end_of_frame=True)] + demuxer.flush()
    assert demuxer.report.ok, demuxer.report.errors
    assert [u.stream_type for u in units] == [0x1B] * len(units)
    assert len(units) == 5  # six pictures; the last waits for the next to start
    assert units[0].psm and units[0].data.startswith(SPS + PPS)  # parameter sets put before the IDR

    bye = await site.uplink._on_request(in_dialog_request(invite, answer, "BYE"))
    assert bye is not None and bye.status == 200
    await settle()
    assert not site.uplink.live.status() and not site.buses["gate"].subscribers
    site.publish("gate")
    assert await drain(receiver, 0.2) == []
    assert site.uplink.live.counters["byes_received"] == 1 and not site.link.sent_of("BYE")
    again = await site.uplink._on_request(in_dialog_request(invite, answer, "BYE"))
    assert again is not None and again.status == 481


async def test_camera_lost_sends_bye_and_stops(receiver: socket.socket) -> None:
    site = Site()
    invite = invite_request(CH1, offer_sdp(receiver.getsockname()[1]))
    answer = await site.uplink._on_request(invite)
    assert answer is not None
    site.uplink.live.on_ack(in_dialog_request(invite, answer, "ACK"))
    site.set_state("gate", CameraState.OFFLINE)
    await settle()
    (bye,) = site.link.sent_of("BYE")
    assert bye.call_id == invite.call_id
    assert header_params(bye.get("To") or "")["tag"] == invite.from_tag
    assert header_params(bye.get("From") or "")["tag"] == answer.to_tag
    assert bye.uri == f"sip:{SERVER_ID}@127.0.0.1:5061"  # the platform's Contact
    assert not site.uplink.live.status() and not site.buses["gate"].subscribers


async def test_same_subject_replaces_and_other_subject_shares_the_source(receiver: socket.socket) -> None:
    site = Site()
    port = receiver.getsockname()[1]
    first = invite_request(CH1, offer_sdp(port), subject=f"{CH1}:0100000001,{SERVER_ID}:0")
    a1 = await site.uplink._on_request(first)
    other = invite_request(CH1, offer_sdp(port, ssrc="0100000002"), subject=f"{CH1}:0100000002,{SERVER_ID}:0")
    a2 = await site.uplink._on_request(other)
    assert a1 is not None and a2 is not None and a1.status == a2.status == 200
    site.uplink.live.on_ack(in_dialog_request(first, a1, "ACK"))
    site.uplink.live.on_ack(in_dialog_request(other, a2, "ACK"))
    assert len(site.buses["gate"].subscribers) == 2  # two viewers, one camera bus
    again = invite_request(CH1, offer_sdp(port, ssrc="0100000003"), subject=f"{CH1}:0100000001,{SERVER_ID}:0")
    a3 = await site.uplink._on_request(again)
    assert a3 is not None and a3.status == 200
    await settle()
    (bye,) = site.link.sent_of("BYE")
    assert bye.call_id == first.call_id
    assert {s["call_id"] for s in site.uplink.live.status()} == {other.call_id, again.call_id}
    assert site.uplink.live.counters["replaced"] == 1


@pytest.mark.parametrize(
    ("channel", "body", "content_type", "state", "status"),
    [
        ("12010000001320000099", offer_sdp(9), "application/sdp", CameraState.ONLINE, 404),
        (CH1, offer_sdp(9), "text/plain", CameraState.ONLINE, 415),
        (CH1, offer_sdp(9, media="m=audio 9 RTP/AVP 8"), "application/sdp", CameraState.ONLINE, 488),
        (CH1, offer_sdp(9, session="Playback"), "application/sdp", CameraState.ONLINE, 404),
        (CH1, offer_sdp(9, session="Talk"), "application/sdp", CameraState.ONLINE, 488),
        (CH1, b"v=0\r\nnonsense", "application/sdp", CameraState.ONLINE, 400),
        (CH1, offer_sdp(9), "application/sdp", CameraState.OFFLINE, 480),
    ],
    ids=["unknown-channel", "not-sdp", "no-video", "playback-no-recordings", "talk", "garbage-sdp", "camera-offline"],
)
async def test_refused_invites(channel: str, body: bytes, content_type: str, state: CameraState, status: int) -> None:
    site = Site()
    site.states["gate"] = state
    answer = await site.uplink._on_request(invite_request(channel, body, content_type=content_type))
    assert answer is not None and answer.status == status, answer
    assert not site.uplink.live.status()
    assert site.uplink.live.counters["invites_refused"] == 1


async def test_session_limit_is_486(receiver: socket.socket) -> None:
    site = Site(max_sessions=1)
    port = receiver.getsockname()[1]
    first = await site.uplink._on_request(invite_request(CH1, offer_sdp(port)))
    second = await site.uplink._on_request(invite_request(CH1, offer_sdp(port)))
    assert first is not None and second is not None
    assert (first.status, second.status) == (200, 486)


async def test_no_ack_ends_the_session_with_bye(receiver: socket.socket) -> None:
    site = Site()
    site.uplink.live._ack_timeout_s = 0.05
    invite = invite_request(CH1, offer_sdp(receiver.getsockname()[1]))
    await site.uplink._on_request(invite)
    await asyncio.sleep(0.2)
    (bye,) = site.link.sent_of("BYE")
    assert bye.call_id == invite.call_id and not site.uplink.live.status()


async def test_reinvite_repeats_the_answer_and_unknown_is_481(receiver: socket.socket) -> None:
    site = Site()
    invite = invite_request(CH1, offer_sdp(receiver.getsockname()[1]))
    answer = await site.uplink._on_request(invite)
    assert answer is not None
    re = in_dialog_request(invite, answer, "INVITE")
    re.body = invite.body
    again = await site.uplink.live.on_invite(re)
    assert again.status == 200 and again.body == answer.body
    lost = in_dialog_request(invite_request(CH1, b""), answer, "INVITE")
    assert (await site.uplink.live.on_invite(lost)).status == 481


async def test_cancel_during_a_slow_media_open_gives_487(monkeypatch: pytest.MonkeyPatch) -> None:
    opened = asyncio.Event()

    async def slow_open(self: MediaSender) -> int:
        opened.set()
        await asyncio.sleep(30)  # a TCP connect to a platform that does not answer
        return 0

    monkeypatch.setattr(MediaSender, "open", slow_open)
    site = Site()
    invite = invite_request(CH1, offer_sdp(9))
    task = asyncio.create_task(site.uplink._on_request(invite))
    await asyncio.wait_for(opened.wait(), 5)
    cancel = parse(invite.to_bytes().replace(b"INVITE", b"CANCEL"))
    assert site.uplink.live.on_cancel(cancel).status == 200
    answer = await asyncio.wait_for(task, 5)
    assert answer is not None and answer.status == 487
    assert not site.uplink.live.status() and site.uplink.live.counters["cancelled"] == 1
    assert site.uplink.live.on_cancel(cancel).status == 481  # nothing pending any more


class HeldSource:
    """A camera whose RTSP set-up takes until the test lets it finish."""

    def __init__(self) -> None:
        self.proceed = threading.Event()
        self.opening = threading.Event()
        self.closed = threading.Event()

    def open(self) -> StreamInfo:
        self.opening.set()
        self.proceed.wait(10)
        return StreamInfo("h264", 1280, 720, "Baseline", 25.0, Fraction(1, 90000), SPS + PPS)

    def packets(self) -> Iterator[Packet]:
        while not self.closed.wait(0.02):
            yield Packet("gate", "h264", 0, 0, Fraction(1, 90000), True, IDR, 0.0)

    def close(self) -> None:
        self.closed.set()


async def test_cancel_while_the_camera_opens_gives_487_and_lets_the_camera_go() -> None:
    source = HeldSource()
    site = Site(opener=lambda _camera, _settings, _stream: source)
    invite = invite_request(CH1, offer_sdp(9))
    task = asyncio.create_task(site.uplink._on_request(invite))
    await asyncio.to_thread(source.opening.wait, 5)
    cancel = parse(invite.to_bytes().replace(b"INVITE", b"CANCEL"))
    assert site.uplink.live.on_cancel(cancel).status == 200  # before: 481, the INVITE not yet pending
    answer = await asyncio.wait_for(task, 5)
    assert answer is not None and answer.status == 487
    assert site.streams.feeds() == []  # the feed was released: the pull stops once it has opened
    source.proceed.set()
    await asyncio.to_thread(source.closed.wait, 5)
    assert source.closed.is_set() and not site.uplink.live.status()


async def test_a_camera_lost_while_its_feed_opens_is_refused_with_480(receiver: socket.socket) -> None:
    source = HeldSource()
    site = Site(opener=lambda _camera, _settings, _stream: source)
    task = asyncio.create_task(site.uplink._on_request(invite_request(CH1, offer_sdp(receiver.getsockname()[1]))))
    await asyncio.to_thread(source.opening.wait, 5)
    site.set_state("gate", CameraState.OFFLINE)  # no session yet to end: the answer must see it
    source.proceed.set()
    answer = await asyncio.wait_for(task, 5)
    assert answer is not None and answer.status == 480
    assert site.streams.feeds() == [] and not site.uplink.live.status()
    await asyncio.to_thread(source.closed.wait, 5)


# --- subscriptions ---------------------------------------------------------------------------------


def _subscribe(cmd: str, expires: int = 3600, device_id: str = UNIT_ID) -> SipMessage:
    return subscribe_request(cmd, expires, device_id)


async def test_catalog_subscription_notifies_state_changes() -> None:
    site = Site()
    sub = _subscribe("Catalog", expires=120)
    answer = await site.uplink._on_request(sub)
    assert answer is not None and answer.status == 200 and answer.get("Expires") == "120"
    assert manscdp.parse(answer.body).field("Result") == "OK"
    await settle()
    (initial,) = site.link.sent_of("NOTIFY")  # every channel's state at once
    body = manscdp.parse(initial.body)
    assert (body.root, body.cmd_type) == ("Notify", "Catalog")
    events = {i.findtext("DeviceID"): i.findtext("Event") for i in body.element.iter("Item")}
    assert events == {CH1: "ON", "12010000001310000002": "ON"}
    assert initial.get("Event") == "Catalog;id=1"
    assert (initial.get("Subscription-State") or "").startswith("active;expires=")
    assert initial.call_id == sub.call_id and header_params(initial.get("To") or "")["tag"] == sub.from_tag

    site.set_state("gate", CameraState.OFFLINE)
    site.set_state("gate", CameraState.CONNECTING)  # still not up: no NOTIFY
    site.set_state("gate", CameraState.ONLINE)
    site.set_state("yard", CameraState.OFFLINE)  # not forwarded (no channel id): no NOTIFY
    await settle()
    changes = [manscdp.parse(n.body) for n in site.link.sent_of("NOTIFY")[1:]]
    assert [(c.element.findtext(".//Item/DeviceID"), c.element.findtext(".//Item/Event")) for c in changes] == [
        (CH1, "OFF"),
        (CH1, "ON"),
    ]
    cseqs = [n.cseq[0] for n in site.link.sent_of("NOTIFY")]
    assert cseqs == sorted(cseqs) and len(set(cseqs)) == 3

    # unsubscribe inside the dialog: no more NOTIFY
    unsub = _subscribe("Catalog", expires=0)
    unsub = parse(
        unsub.to_bytes()
        .replace(unsub.call_id.encode(), sub.call_id.encode())
        .replace(f"tag={unsub.from_tag}".encode(), f"tag={sub.from_tag}".encode())
        .replace(
            f"<sip:{UNIT_ID}@{DOMAIN}>\r\n".encode(), f"<sip:{UNIT_ID}@{DOMAIN}>;tag={answer.to_tag}\r\n".encode(), 1
        )
    )
    assert unsub.to_tag == answer.to_tag
    done = await site.uplink._on_request(unsub)
    assert done is not None and done.status == 200 and done.get("Expires") == "0"
    site.set_state("gate", CameraState.OFFLINE)
    await settle()
    assert len(site.link.sent_of("NOTIFY")) == 3


async def test_subscribe_refusals() -> None:
    site = Site()
    bad_kind = await site.uplink._on_request(_subscribe("MobilePosition"))
    wrong_id = await site.uplink._on_request(_subscribe("Catalog", device_id=CH1))
    assert bad_kind is not None and bad_kind.status == 489
    assert wrong_id is not None and wrong_id.status == 404


async def test_a_notify_answered_481_ends_the_subscription() -> None:
    site = Site()
    site.link.answer = 481
    await site.uplink._on_request(_subscribe("Catalog"))
    await settle()
    assert site.uplink.subscriptions.status() == []


# --- alarms ------------------------------------------------------------------------------------------


async def test_alarm_subscription_gets_offline_and_detection_alarms() -> None:
    site = Site()
    await site.uplink._on_request(_subscribe("Alarm"))
    await settle()
    assert site.link.sent_of("NOTIFY") == []  # no initial NOTIFY for alarms
    site.set_state("gate", CameraState.OFFLINE)
    event = Event(None, "gate", "door", "intrusion", "z", 1_700_000_000.0, (1,), (), {}, "person in zone z", 640, 360)
    site.uplink.detection_event(event)
    site.uplink.detection_event(Event(None, "yard", "r", "intrusion", None, 1.0, (1,), (), {}, "x", 1, 1))
    await settle()
    bodies = [manscdp.parse(n.body) for n in site.link.sent_of("NOTIFY")]
    assert [(b.cmd_type, b.device_id, b.field("AlarmMethod")) for b in bodies] == [
        ("Alarm", CH1, "5"),
        ("Alarm", CH1, "5"),
    ]
    assert bodies[0].element.findtext(".//AlarmType") == "11"
    assert bodies[1].element.findtext(".//AlarmType") == "6"
    assert bodies[1].element.findtext(".//EventType") == "1"
    assert bodies[1].field("AlarmDescription") == "person in zone z"


async def test_alarms_always_go_by_message_without_a_subscription() -> None:
    site = Site(alarms="always")
    site.set_state("gate", CameraState.OFFLINE)
    await settle()
    (msg,) = site.link.sent_of("MESSAGE")
    assert manscdp.parse(msg.body).cmd_type == "Alarm"
    assert site.uplink.counters["alarms_sent"] == 1
    quiet = Site()  # the default: only to a platform that subscribed
    quiet.set_state("gate", CameraState.OFFLINE)
    await settle()
    assert quiet.link.sent == []


def test_alarm_mapping() -> None:
    up = CameraStatus("c", CameraState.ONLINE, None, 1.0)
    frozen = CameraStatus("c", CameraState.DEGRADED, "frozen", 2.0, faults=("quality:frozen", "below_hd"))
    both = CameraStatus("c", CameraState.DEGRADED, "x", 3.0, faults=("quality:frozen", "quality:occlusion"))
    assert alarms.from_state(up, None) == []
    (q,) = alarms.from_state(frozen, up)
    assert (q.alarm_type, q.description) == (11, "picture quality: frozen")
    (occ,) = alarms.from_state(both, frozen, gb2022=True)  # only the new fault
    assert occ.alarm_type == 13
    lost = alarms.from_state(CameraStatus("c", CameraState.OFFLINE, "connection refused", 4.0), frozen)
    assert [(a.alarm_type, a.description) for a in lost] == [(11, "video lost: camera connection refused")]
    assert alarms.from_state(CameraStatus("c", CameraState.DISABLED, None, 5.0), up) == []
    fall = Event(None, "c", "f", "fall", None, 1.0, (1,), (), {}, "", 1, 1)
    alarm = alarms.from_event(fall)
    assert alarm is not None and (alarm.alarm_type, alarm.priority, alarm.description) == (None, 1, "fall")


# --- dialogs and unparsable requests ---------------------------------------------------------------


def test_dialog_from_an_invite_with_record_route() -> None:
    invite = invite_request(CH1, offer_sdp(9))
    invite.add("Record-Route", "<sip:10.0.0.1;lr>, <sip:10.0.0.2;lr>")
    dialog = Dialog.as_uas(invite, "777")
    assert dialog.route_set == ("<sip:10.0.0.1;lr>", "<sip:10.0.0.2;lr>")
    bye = dialog.request("BYE", via_host="127.0.0.1", via_port=5060, transport="udp")
    assert bye.get_all("Route") == ["<sip:10.0.0.1;lr>", "<sip:10.0.0.2;lr>"]
    assert bye.uri == f"sip:{SERVER_ID}@127.0.0.1:5061" and bye.cseq == (1, "BYE")
    assert dialog.request("BYE", via_host="h", via_port=1, transport="udp").cseq == (2, "BYE")
    no_tag = parse(invite.to_bytes().replace(f";tag={invite.from_tag}".encode(), b""))
    with pytest.raises(SipError) as info:
        Dialog.as_uas(no_tag, "1")
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda raw: raw.replace(b"CSeq: 20 INVITE", b"CSeq: twenty INVITE"), 400),
        (lambda raw: raw.replace(b"Max-Forwards", b"X-Pad: " + b"a" * 17000 + b"\r\nMax-Forwards"), 413),
        (lambda raw: raw.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), 505),
    ],
    ids=["bad-cseq", "oversized-headers", "version"],
)
def test_unparsable_requests_get_their_status(mutate: Any, status: int) -> None:
    raw = mutate(invite_request(CH1, offer_sdp(9)).to_bytes())
    with pytest.raises(SipError) as info:
        parse(raw)
    answer = error_response(raw, info.value)
    assert answer is not None and answer.status == status
    assert answer.get("Call-ID") and answer.get("Via") and answer.to_tag
    assert answer.to_bytes().startswith(f"SIP/2.0 {status} ".encode())


def test_unparsable_responses_and_headless_junk_get_no_answer() -> None:
    assert error_response(b"SIP/2.0 200 OK\r\nbroken\r\n\r\n", SipError(400, "x")) is None
    assert error_response(b"\x00\x01 garbage", SipError(400, "x")) is None
    assert error_response(b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", SipError(400, "x")) is None


async def test_a_lost_platform_ends_its_sessions_without_bye(receiver: socket.socket) -> None:
    # A platform that restarted has forgotten its dialogs: streaming on to its old receiver would be
    # counted as forwarded while nobody sees it (found by tests/faults/test_uplink_faults.py).
    site = Site()
    invite = invite_request(CH1, offer_sdp(receiver.getsockname()[1]))
    answer = await site.uplink._on_request(invite)
    assert answer is not None
    site.uplink.live.on_ack(in_dialog_request(invite, answer, "ACK"))
    await settle()
    assert len(site.buses["gate"].subscribers) == 1
    site.uplink._link_state("registering", "registering")
    assert len(site.uplink.live.status()) == 1  # only a failure ends them
    site.uplink._link_state("failed", "keepalive unanswered 3 times")
    await settle()
    assert not site.uplink.live.status() and not site.buses["gate"].subscribers
    assert not site.link.sent_of("BYE")
    site.publish("gate")
    assert await drain(receiver, 0.2) == []
