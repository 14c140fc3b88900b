"""SDP offer/answer for GB/T 28181-2016 live view, playback and download (tolerant of 2022 peers).

The platform's INVITE carries an offer such as

    v=0
    o=34020000002000000001 0 0 IN IP4 10.0.0.5
    s=Play
    c=IN IP4 10.0.0.5
    t=0 0
    m=video 30000 TCP/RTP/AVP 96 98 97
    a=recvonly
    a=rtpmap:96 PS/90000
    a=setup:passive
    a=connection:new
    y=0100000001

and the device answers with one payload, a=sendonly, the same y= SSRC and an f= line. GB adds two
lines to RFC 4566: y= (10-digit SSRC, digit 1 = 0 live / 1 history) and f= (media description).

The payload: PS (96 by convention) whenever the offer has it, the camera's sound inside it. GB/T
28181-2022 also lets a platform take the video as an elementary stream, H.264 (RFC 6184) or H.265
(RFC 7798), under the payload type its offer maps to H264/90000 or H265/90000 (98 and 99 by wvp's and
most platforms' convention; the number is the offer's, whatever it is): an offer without PS gets
that, if it names the camera's codec (`choose_payload`); the sound is not sent then.

Pure functions: `parse_offer` raises only SdpError, carrying the SIP status to answer (488 Not
Acceptable Here for an offer we cannot serve, 400 for garbage, 413 for an oversized body).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "EMPTY_F",
    "MAX_SDP_BYTES",
    "Encoding",
    "Payload",
    "PlayOffer",
    "SdpError",
    "Setup",
    "Transport",
    "answer_setup",
    "build_answer",
    "choose_payload",
    "parse_offer",
]

Transport = Literal["udp", "tcp"]
Setup = Literal["active", "passive"]
Encoding = Literal["PS", "H264", "H265"]

# Real offers are under 1 KiB; 16 KiB bounds the work a hostile INVITE can cause.
MAX_SDP_BYTES: Final = 16 * 1024
MAX_LINES: Final = 256
# The f= value platforms send when they leave every media parameter to the device.
EMPTY_F: Final = "v/////a/////"
# Encoding names that mean MPEG-2 PS: "PS" per the standard; some older NVRs write MP2P.
_PS_NAMES: Final = frozenset({"PS", "MP2P"})
# Elementary-stream encoding names (RFC 6184, RFC 7798) -> the camera codec they carry.
_ES_NAMES: Final[Mapping[str, str]] = {"H264": "h264", "H265": "h265"}
_PROTOS: Final[Mapping[str, Transport]] = {
    "RTP/AVP": "udp",
    "TCP/RTP/AVP": "tcp",
    "RTP/AVP/TCP": "tcp",  # seen from some platforms; same RFC 4571 framing
}
_LINE: Final = re.compile(r"([a-z])=(.*)")
_RTPMAP: Final = re.compile(r"(\d{1,3})\s+([A-Za-z0-9._-]{1,32})(?:/(\d{1,7}))?(?:/\d+)?\s*")
_SSRC: Final = re.compile(r"\d{1,10}")
_DIRECTIONS: Final = ("recvonly", "sendonly", "sendrecv", "inactive")


class SdpError(Exception):
    """An SDP offer was refused; `status` is the SIP status to answer (400, 413, 488)."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail[:300]
        super().__init__(f"{status}: {self.detail}")


@dataclass(frozen=True, slots=True)
class PlayOffer:
    """The parts of a GB/T 28181 INVITE offer the device needs to start a PS stream."""

    session_name: str  # "Play", "Playback", "Download", "Talk"...
    origin_user: str  # o= username: the platform's (or media server's) ID
    connection_ip: str  # where to send RTP (UDP) or connect/listen (TCP)
    media_port: int
    transport: Transport
    setup: str | None  # TCP: "active" (the platform connects to us), "passive" (we connect), "actpass"
    connection_new: bool
    payloads: Mapping[int, str]  # payload type -> "PS/90000", "H264/90000"...
    ps_payload: int | None  # the payload type that carries PS (96 normally); None: no PS offered
    es_payloads: Mapping[str, int]  # "h264"/"h265" -> the first payload type offered for it at 90 kHz
    ssrc: str | None  # y= as sent (10 digits), kept as text to keep leading zeros
    f: str | None  # f= line as sent
    start: int  # t= start (0 for live; seconds since 1970 for playback/download)
    stop: int
    direction: str | None  # recvonly expected
    uri: str | None  # u= (playback/download: "<channel id>:<type>")
    attributes: Mapping[str, str]  # every other a=name[:value] of the video section, first one wins


def _decode(data: str | bytes) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # s= or u= may carry GBK text from Chinese platforms; nothing we use depends on it.
        return data.decode("gb18030", errors="replace")


def _connection(value: str) -> str:
    parts = value.split()
    if len(parts) < 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(488, f"unusable c= line {value[:60]!r}")
    address = parts[2].split("/", 1)[0]  # multicast TTL suffix
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise SdpError(488, f"bad address in c= line {value[:60]!r}") from None
    return str(ip)


def _int(value: str, what: str, status: int = 400) -> int:
    if not value.isascii() or not value.isdigit() or len(value) > 20:
        raise SdpError(status, f"bad {what} {value[:30]!r}")
    return int(value)


@dataclass(slots=True)
class _Media:
    kind: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None


def parse_offer(data: str | bytes) -> PlayOffer:
    """Parse a platform's offer. Raises only SdpError: 413 oversized, 400 garbage, 488 unservable."""
    if len(data) > MAX_SDP_BYTES:
        raise SdpError(413, f"SDP too large ({len(data)} > {MAX_SDP_BYTES})")
    lines = [line.strip() for line in _decode(data).splitlines() if line.strip()]
    if not lines or not lines[0].startswith("v="):
        raise SdpError(400, "not an SDP body (no v= line first)")
    if len(lines) > MAX_LINES:
        raise SdpError(413, f"SDP has too many lines ({len(lines)})")

    session: dict[str, str] = {}
    session_connection: str | None = None
    video: _Media | None = None
    in_video = False
    seen_media = False
    rtpmap: dict[int, str] = {}
    session_attributes: dict[str, str] = {}
    media_attributes: dict[str, str] = {}
    for line in lines:
        match = _LINE.fullmatch(line)
        if match is None:
            raise SdpError(400, f"malformed SDP line {line[:60]!r}")
        key, value = match.group(1), match.group(2).strip()
        if key == "m":
            media = _media(value)
            seen_media = True
            in_video = video is None and media.kind == "video"
            if in_video:
                video = media
        elif key == "c":
            if not seen_media:
                session_connection = _connection(value)
            elif in_video and video is not None:
                video.connection = _connection(value)
        elif key == "a":
            # Session-level attributes (before any m=) apply to the video unless it overrides them;
            # other media sections' attributes do not.
            if not seen_media:
                _attribute(value, rtpmap, session_attributes)
            elif in_video:
                _attribute(value, rtpmap, media_attributes)
        elif key in ("y", "f"):
            # GB puts y=/f= after the media section; accept them anywhere, first one wins.
            session.setdefault(key, value)
        else:
            session.setdefault(key, value)

    if video is None:
        raise SdpError(488, "offer has no video media")
    if video.port == 0:
        raise SdpError(488, "video media is disabled (port 0)")
    connection_ip = video.connection or session_connection
    if connection_ip is None:
        raise SdpError(488, "offer has no c= line")

    payloads: dict[int, str] = {}
    for fmt in video.formats:
        pt = _int(fmt, "payload type", 488)
        if pt in rtpmap:
            payloads[pt] = rtpmap[pt]
    ps_payload = next((pt for pt, enc in payloads.items() if enc.partition("/")[0].upper() in _PS_NAMES), None)
    es_payloads: dict[str, int] = {}
    for pt, enc in payloads.items():
        name, _, clock = enc.partition("/")
        codec = _ES_NAMES.get(name.upper())
        if codec is not None and clock == "90000":
            es_payloads.setdefault(codec, pt)
    if ps_payload is None and not es_payloads:
        raise SdpError(488, "offer has no PS payload (a=rtpmap:<pt> PS/90000) nor H264 or H265")

    start, stop = _times(session.get("t", "0 0"))
    origin = session.get("o", "").split()
    ssrc = session.get("y")
    if ssrc is not None and not _SSRC.fullmatch(ssrc):
        raise SdpError(400, f"bad y= SSRC {ssrc[:30]!r}")
    transport = _PROTOS[video.proto]
    attributes = {**session_attributes, **media_attributes}
    if any(d in media_attributes for d in _DIRECTIONS):  # a media-level direction wins
        attributes = {k: v for k, v in attributes.items() if k not in _DIRECTIONS or k in media_attributes}
    direction = next((d for d in _DIRECTIONS if d in attributes), None)
    extra = {k: v for k, v in attributes.items() if k not in _DIRECTIONS}
    return PlayOffer(
        session_name=session.get("s", "").strip() or "Play",
        origin_user=origin[0] if origin else "",
        connection_ip=connection_ip,
        media_port=video.port,
        transport=transport,
        setup=(attributes.get("setup", "").lower() or None) if transport == "tcp" else None,
        connection_new=attributes.get("connection", "new").lower() != "existing",
        payloads=payloads,
        ps_payload=ps_payload,
        es_payloads=es_payloads,
        ssrc=ssrc,
        f=session.get("f"),
        start=start,
        stop=stop,
        direction=direction,
        uri=session.get("u"),
        attributes=extra,
    )


def _media(value: str) -> _Media:
    parts = value.split()
    if len(parts) < 4:
        raise SdpError(488, f"unusable m= line {value[:60]!r}")
    kind, port_text, proto, *formats = parts
    port = _int(port_text.split("/", 1)[0], "m= port", 488)
    if port > 65535:
        raise SdpError(488, f"bad m= port {port}")
    if kind == "video" and proto.upper() not in _PROTOS:
        raise SdpError(488, f"unsupported transport {proto[:30]!r}")
    return _Media(kind=kind, port=port, proto=proto.upper(), formats=formats)


def _attribute(value: str, rtpmap: dict[int, str], attributes: dict[str, str]) -> None:
    name, _, rest = value.partition(":")
    name = name.strip().lower()
    if name == "rtpmap":
        match = _RTPMAP.fullmatch(rest.strip())
        if match is None:
            raise SdpError(400, f"malformed a=rtpmap {rest[:60]!r}")
        pt = int(match.group(1))
        clock = match.group(3)
        rtpmap.setdefault(pt, f"{match.group(2)}/{clock}" if clock else match.group(2))
    elif name:
        attributes.setdefault(name, rest.strip())


def _times(value: str) -> tuple[int, int]:
    parts = value.split()
    if len(parts) != 2:
        raise SdpError(400, f"malformed t= line {value[:60]!r}")
    return _int(parts[0], "t= start"), _int(parts[1], "t= stop")


@dataclass(frozen=True, slots=True)
class Payload:
    """What we send: a payload type of the offer and its encoding."""

    pt: int
    encoding: Encoding

    @property
    def rtpmap(self) -> str:
        return f"{self.encoding}/90000"


def choose_payload(offer: PlayOffer, codec: str | None = None) -> Payload:
    """PS when offered; else the elementary stream of the camera's `codec` ("h264"/"h265"; None: the
    first offered). Raises SdpError 488 when the offer has neither."""
    if offer.ps_payload is not None:
        return Payload(offer.ps_payload, "PS")
    for name, es_codec in _ES_NAMES.items():
        if (codec is None or codec == es_codec) and es_codec in offer.es_payloads:
            return Payload(offer.es_payloads[es_codec], "H264" if name == "H264" else "H265")
    wanted = "H264" if codec == "h264" else "H265" if codec == "h265" else "an elementary stream"
    raise SdpError(488, f"offer has no PS payload nor {wanted}/90000 for this camera")


def answer_setup(offer_setup: str | None) -> Setup:
    """RFC 4145 roles: the platform saying setup:active connects to us, so we listen (passive);
    passive (the usual wvp/ZLMediaKit TCP-passive mode) means we connect out (active)."""
    return "passive" if offer_setup == "active" else "active"


def build_answer(
    offer: PlayOffer,
    *,
    device_id: str,
    local_ip: str,
    local_port: int,
    ssrc: str,
    transport: Transport | None = None,
    setup: Setup | None = None,
    f: str | None = None,
    payload: Payload | None = None,
) -> str:
    """The device's 200 OK SDP: one payload (default: `choose_payload(offer)`, PS when offered),
    sendonly, y=ssrc. Transport defaults to the offer's, setup to the role answer_setup() derives;
    f= defaults to the offer's, else EMPTY_F."""
    try:
        ip = ipaddress.ip_address(local_ip)
    except ValueError:
        raise ValueError(f"bad local_ip {local_ip!r}") from None
    if not 0 <= local_port <= 65535:
        raise ValueError(f"bad local_port {local_port}")
    if not (_SSRC.fullmatch(ssrc) and len(ssrc) == 10):
        raise ValueError(f"SSRC must be 10 digits, got {ssrc!r}")
    transport = transport or offer.transport
    family = "IP4" if ip.version == 4 else "IP6"
    proto = "TCP/RTP/AVP" if transport == "tcp" else "RTP/AVP"
    payload = payload or choose_payload(offer)
    pt = payload.pt
    lines = [
        "v=0",
        f"o={device_id} 0 0 IN {family} {ip}",
        f"s={offer.session_name}",
        f"c=IN {family} {ip}",
        f"t={offer.start} {offer.stop}",
        f"m=video {local_port} {proto} {pt}",
        "a=sendonly",
        f"a=rtpmap:{pt} {payload.rtpmap}",
    ]
    if payload.encoding == "H264":
        # FU-A fragments need non-interleaved mode (RFC 6184 6.3); mode 0 would allow single NAL units only.
        lines.append(f"a=fmtp:{pt} packetization-mode=1")
    if transport == "tcp":
        lines += [f"a=setup:{setup or answer_setup(offer.setup)}", "a=connection:new"]
    lines += [f"y={ssrc}", f"f={f if f is not None else (offer.f or EMPTY_F)}"]
    return "\r\n".join(lines) + "\r\n"
