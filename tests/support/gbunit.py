"""Fakes for unit tests of the GB/T 28181 uplink: a SIP link that records what the uplink sends, a site
over the GB_SITE config with its buses and camera states, and the platform's requests as it sends them."""

from __future__ import annotations

import asyncio
import socket
from fractions import Fraction
from typing import Any

from adapters.common.media import Packet, StreamInfo
from adapters.gb28181.dialog import Dialog
from adapters.gb28181.sip import SipMessage, new_call_id, new_tag, parse, request, response_to
from adapters.gb28181.ua import PlatformSettings
from gateway.config import GatewayConfig, parse_config
from gateway.gb28181.service import Uplink
from gateway.health.state import CameraState, CameraStatus
from gateway.pipeline.bus import PacketBus
from gateway.recordings.replay import Replays
from gateway.streams.hub import SourceOpener, StreamHub
from tests.support.configs import CH1, GB_SITE, SERVER_ID, UNIT_ID

DOMAIN = "1200000000"
SPS = b"\x00\x00\x00\x01\x67\x42\xc0\x1e\x95\xa0\x50\x1e\xd0\x80"
PPS = b"\x00\x00\x00\x01\x68\xce\x3c\x80"
IDR = b"\x00\x00\x00\x01\x65" + bytes(range(256)) * 8
P_FRAME = b"\x00\x00\x00\x01\x41" + bytes(200)


class FakeLink:
    """The parts of PlatformLink the uplink uses; every request it sends is answered `answer`."""

    def __init__(self) -> None:
        self.sent: list[SipMessage] = []
        self.answer = 200
        self.state = "registered"
        self.contact_uri: str | None = f"sip:{UNIT_ID}@127.0.0.1:5060"
        self.local_addr = ("127.0.0.1", 5060)
        self.platform_gb_version: str | None = None
        self.settings = PlatformSettings(
            server_id=SERVER_ID,
            server_host="127.0.0.1",
            server_port=5061,
            server_domain=DOMAIN,
            device_id=UNIT_ID,
            password="unused",
        )

    def in_dialog(self, dialog: Dialog, method: str, **kw: Any) -> SipMessage:
        return dialog.request(method, via_host="127.0.0.1", via_port=5060, transport="udp", **kw)

    async def send_request(self, msg: SipMessage) -> SipMessage:
        self.sent.append(msg)
        return response_to(msg, self.answer)

    def sent_of(self, method: str) -> list[SipMessage]:
        return [m for m in self.sent if m.method == method]


def gb_config(**uplink: Any) -> GatewayConfig:
    data: dict[str, Any] = {**GB_SITE, "uplinks": {"gb28181": [{**GB_SITE["uplinks"]["gb28181"][0], **uplink}]}}
    return parse_config(data, check_secrets=False)


class Site:
    """One uplink over the GB_SITE config (gate = CH1), its camera states and buses."""

    def __init__(self, opener: SourceOpener | None = None, replays: Replays | None = None, **uplink: Any) -> None:
        self.config = gb_config(**uplink)
        self.states = {"gate": CameraState.ONLINE, "hall": CameraState.ONLINE, "yard": CameraState.ONLINE}
        self.buses = {c.id: PacketBus(c.id) for c in self.config.cameras}
        for bus in self.buses.values():
            bus.info = StreamInfo("h264", 1280, 720, "Baseline", 25.0, Fraction(1, 90000), SPS + PPS)
        # Every camera read in this process: the hub hands out the readers' buses, opening nothing.
        # With an opener, no camera is: the hub opens a pull of its own through it.
        if opener is None:
            self.streams = StreamHub(self.config.supervisor, self.buses, lambda _cid: True)
        else:
            self.streams = StreamHub(self.config.supervisor, self.buses, lambda _cid: False, open_source=opener)
        self.uplink = Uplink(
            self.config,
            self.config.uplinks.gb28181[0],
            self.states.get,
            lambda _c: ("Acme", "X1"),
            self.streams,
            replays=replays,
        )
        self.link = FakeLink()
        self.uplink.link = self.link  # type: ignore[assignment]

    def set_state(self, camera: str, state: CameraState) -> None:
        old = CameraStatus(camera, self.states[camera], None, 0.0)
        self.states[camera] = state
        self.uplink.camera_changed(
            CameraStatus(camera, state, "gone" if state is CameraState.OFFLINE else None, 1.0), old
        )

    def publish(self, camera: str, n: int = 6) -> None:
        for i in range(n):
            key = i % 3 == 0
            data = IDR if key else P_FRAME
            self.buses[camera].publish(Packet(camera, "h264", i * 3600, i * 3600, Fraction(1, 90000), key, data, 0.0))


def offer_sdp(
    port: int,
    *,
    session: str = "Play",
    media: str | None = None,
    ssrc: str = "0100000001",
    times: str = "0 0",
    extra: tuple[str, ...] = (),
) -> bytes:
    """A platform's offer: live Play by default; a Playback or Download with its span in `times` and its
    own attributes (`a=downloadspeed:4`) in `extra`."""
    lines = [
        "v=0",
        f"o={SERVER_ID} 0 0 IN IP4 127.0.0.1",
        f"s={session}",
        "c=IN IP4 127.0.0.1",
        f"t={times}",
        media or f"m=video {port} RTP/AVP 96",
        "a=recvonly",
        "a=rtpmap:96 PS/90000",
        *extra,
        f"y={ssrc}",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def invite_request(
    channel: str, body: bytes, *, subject: str | None = None, content_type: str = "application/sdp"
) -> SipMessage:
    extra = [("Contact", f"<sip:{SERVER_ID}@127.0.0.1:5061>")]
    if subject:
        extra.append(("Subject", subject))
    msg = request(
        "INVITE",
        f"sip:{channel}@{DOMAIN}",
        via_host="127.0.0.1",
        via_port=5061,
        transport="udp",
        from_uri=f"sip:{SERVER_ID}@{DOMAIN}",
        from_tag=new_tag(),
        to_uri=f"sip:{channel}@{DOMAIN}",
        call_id=new_call_id("127.0.0.1"),
        cseq=20,
        extra_headers=extra,
        body=body,
        content_type=content_type,
    )
    return parse(msg.to_bytes())  # as the link would hand it over


def in_dialog_request(
    invite: SipMessage,
    answer: SipMessage,
    method: str,
    *,
    body: bytes = b"",
    content_type: str | None = None,
    cseq: int | None = None,
) -> SipMessage:
    msg = request(
        method,
        f"sip:{CH1}@127.0.0.1:5060",
        via_host="127.0.0.1",
        via_port=5061,
        transport="udp",
        from_uri=f"sip:{SERVER_ID}@{DOMAIN}",
        from_tag=invite.from_tag or "",
        to_uri=f"sip:{CH1}@{DOMAIN}",
        to_tag=answer.to_tag,
        call_id=invite.call_id,
        cseq=cseq if cseq is not None else 20 if method == "ACK" else 21,
        body=body,
        content_type=content_type,
    )
    return parse(msg.to_bytes())


async def drain(sock: socket.socket, seconds: float = 0.5) -> list[bytes]:
    loop = asyncio.get_running_loop()
    out: list[bytes] = []
    end = loop.time() + seconds
    while loop.time() < end:
        try:
            out.append(sock.recv(65536))
        except BlockingIOError:
            await asyncio.sleep(0.02)
    return out


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


def platform_request(method: str, body: bytes, extra_headers: list[tuple[str, str]] | None = None) -> SipMessage:
    """A platform's out-of-dialog request to the gateway carrying a MANSCDP body, parsed as it arrives."""
    msg = request(
        method,
        f"sip:{UNIT_ID}@{DOMAIN}",
        via_host="127.0.0.1",
        via_port=5061,
        transport="udp",
        from_uri=f"sip:{SERVER_ID}@{DOMAIN}",
        from_tag=new_tag(),
        to_uri=f"sip:{UNIT_ID}@{DOMAIN}",
        call_id=new_call_id("127.0.0.1"),
        cseq=1,
        extra_headers=extra_headers or [],
        body=body,
        content_type="Application/MANSCDP+xml",
    )
    return parse(msg.to_bytes())


def manscdp_body(root: str, cmd: str, device_id: str, inner: str = "", sn: int = 7) -> bytes:
    return (
        f'<?xml version="1.0" encoding="GB2312"?>\r\n<{root}>\r\n<CmdType>{cmd}</CmdType>\r\n<SN>{sn}</SN>\r\n'
        f"<DeviceID>{device_id}</DeviceID>\r\n{inner}</{root}>\r\n"
    ).encode()


def manscdp_message(root: str, cmd: str, device_id: str, inner: str = "", sn: int = 7) -> SipMessage:
    """A platform's MESSAGE carrying a MANSCDP `root` (Query, Control) of `cmd` with `inner` fields."""
    return platform_request("MESSAGE", manscdp_body(root, cmd, device_id, inner, sn))


def subscribe_request(cmd: str, expires: int = 3600, device_id: str = UNIT_ID) -> SipMessage:
    """A platform's SUBSCRIBE to the gateway's catalog or alarms (a Query body of `cmd`)."""
    headers = [("Event", f"{cmd};id=1"), ("Expires", str(expires)), ("Contact", f"<sip:{SERVER_ID}@127.0.0.1:5061>")]
    return platform_request("SUBSCRIBE", manscdp_body("Query", cmd, device_id), headers)
