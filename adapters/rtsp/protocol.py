"""The RTSP 1.0 pieces both of our own clients share, without I/O: requests, response heads,
authentication, the SDP's video section and RTCP BYE. The replay client (asyncio) and the light live
reader (blocking socket) each do their own reading and writing around these.

Errors are `RtspError` with a fixed text (never a piece of a credential) and the RTSP status when
the server answered one; each client turns them into its own error type.
"""

from __future__ import annotations

import base64
import contextlib
import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import Final
from urllib.parse import urljoin

from adapters.common import digest
from adapters.common.h26x import ParameterSetError, parse_sps
from adapters.common.media import StreamInfo
from adapters.rtsp.depacketize import START_CODE, Codec

USER_AGENT: Final = "site-video-gateway"
MAX_RESPONSE_HEAD: Final = 16 * 1024
MAX_BODY: Final = 64 * 1024
_CODECS: Final = {"H264": "h264", "H265": "h265", "HEVC": "h265"}


class RtspError(Exception):
    """The server's answer cannot be used. `reason` is fixed text; `status` the RTSP status, if any."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason if status is None else f"{reason} (RTSP {status})")
        self.reason = reason
        self.status = status


class SdpError(RtspError):
    """The SDP has no video we read: none at all, another codec, or interleaved packetization."""

    def __init__(self, reason: str, *, no_video: bool = False) -> None:
        super().__init__(reason)
        self.no_video = no_video


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, list[str]]  # lower-case names
    body: bytes

    def get(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


@dataclass(frozen=True, slots=True)
class Head:
    """A message head read off the connection; `status` is None for a request from the server
    (ANNOUNCE, GET_PARAMETER...), which the clients read and ignore."""

    status: int | None
    cseq: int
    headers: dict[str, list[str]]
    length: int


def request(
    method: str, url: str, cseq: int, *, session: str | None, authorization: str | None, headers: dict[str, str]
) -> bytes:
    lines = [f"{method} {url} RTSP/1.0", f"CSeq: {cseq}", f"User-Agent: {USER_AGENT}"]
    if session is not None:
        lines.append(f"Session: {session}")
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_head(head: bytes) -> Head:
    """A message head up to and including its blank line."""
    if len(head) > MAX_RESPONSE_HEAD:
        raise RtspError("the server sent an oversized response")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    length_text = (headers.get("content-length") or ["0"])[0]
    length = int(length_text) if length_text.isdigit() else 0
    if length > MAX_BODY:
        raise RtspError("the server sent an oversized response")
    cseq_text = (headers.get("cseq") or ["0"])[0]
    cseq = int(cseq_text) if cseq_text.isdigit() else 0
    if not status_line[0].startswith("RTSP/") or len(status_line) < 2 or not status_line[1].isdigit():
        return Head(None, cseq, headers, length)
    return Head(int(status_line[1]), cseq, headers, length)


def session_of(response: Response) -> tuple[str, float | None]:
    """The Session header's id and its timeout in seconds (None when the server gives none)."""
    value = response.get("session")
    if not value:
        raise RtspError("the server's SETUP answer has no Session")
    session, _, params = value.partition(";")
    timeout: float | None = None
    for param in params.split(";"):
        name, _, number = param.strip().partition("=")
        if name.lower() == "timeout" and number.isdigit() and int(number) > 0:
            timeout = float(number)
    return session.strip(), timeout


class Credentials:
    """Basic or Digest authorization for one connection, learned from the server's 401."""

    def __init__(self, username: str | None, password: str | None) -> None:
        self.username = username
        self._password = password or ""
        self._challenge: digest.Challenge | None = None
        self._basic = False
        self._nc = 0

    def learn(self, response: Response) -> None:
        offers = response.headers.get("www-authenticate", [])
        for offer in offers:
            if offer.strip().lower().startswith("digest"):
                try:
                    self._challenge = digest.parse_challenge(offer.strip())
                except digest.DigestError as exc:
                    raise RtspError(f"the server's challenge is unusable: {exc.reason}", 401) from None
                self._nc = 0
                return
        if any(offer.strip().lower().startswith("basic") for offer in offers):
            self._basic = True
            return
        raise RtspError("the server asks for an authentication scheme we do not speak", 401)

    def header(self, method: str, url: str) -> str | None:
        if self.username is None:
            return None
        if self._challenge is not None:
            self._nc += 1
            return digest.authorization(
                self._challenge, method=method, uri=url, username=self.username, password=self._password, nc=self._nc
            )
        if self._basic:
            token = base64.b64encode(f"{self.username}:{self._password}".encode()).decode()
            return f"Basic {token}"
        return None


def has_bye(data: bytes) -> bool:
    """Whether an RTCP compound packet holds a BYE (packet type 203)."""
    offset = 0
    while offset + 4 <= len(data):
        if data[offset + 1] == 203:
            return True
        offset += 4 * (struct.unpack_from("!H", data, offset + 2)[0] + 1)
    return False


def resolve(base: str, control: str | None) -> str:
    if not control or control == "*":
        return base
    if control.lower().startswith("rtsp://"):
        return control
    return urljoin(base if base.endswith("/") else base + "/", control)


def video_of_sdp(sdp: str) -> tuple[Codec, dict[str, str], str | None]:
    """The SDP's (first) video section: its codec, fmtp parameters and control URL."""
    in_video = False
    payload: str | None = None
    rtpmap: dict[str, str] = {}
    fmtp: dict[str, str] = {}
    control: str | None = None
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            if in_video:
                break
            parts = line[2:].split()
            in_video = len(parts) >= 4 and parts[0] == "video"
            payload = parts[3] if in_video else None
        elif in_video and line.startswith("a=rtpmap:"):
            pt, _, encoding = line[9:].partition(" ")
            rtpmap[pt] = encoding.split("/", 1)[0].upper()
        elif in_video and line.startswith("a=fmtp:"):
            pt, _, params = line[7:].partition(" ")
            if pt == payload:
                for param in params.split(";"):
                    name, _, value = param.strip().partition("=")
                    if name:
                        fmtp[name.lower()] = value.strip()
        elif in_video and line.startswith("a=control:"):
            control = line[10:].strip()
    if payload is None:
        raise SdpError("the stream has no video", no_video=True)
    codec = _CODECS.get(rtpmap.get(payload, ""))
    if codec is None:
        raise SdpError(f"the video is {rtpmap.get(payload) or 'of an unknown kind'}, not H.264/H.265")
    if fmtp.get("packetization-mode") == "2" or int(fmtp.get("sprop-max-don-diff", "0") or 0):
        raise SdpError("interleaved RTP packetization is not supported")
    return codec, fmtp, control  # type: ignore[return-value]


def stream_info_of(codec: Codec, fmtp: dict[str, str]) -> StreamInfo:
    """What the SDP says of the video: its parameter sets (as Annex B extradata) and their size."""
    names = ("sprop-vps", "sprop-sps", "sprop-pps") if codec == "h265" else ("sprop-parameter-sets",)
    nal_units: list[bytes] = []
    for name in names:
        for item in fmtp.get(name, "").split(","):
            with contextlib.suppress(ValueError):
                if item.strip():
                    nal_units.append(base64.b64decode(item.strip(), validate=True))
    width = height = None
    profile = None
    fps = None
    sps_type = 33 if codec == "h265" else 7
    for nal in nal_units:
        kind = (nal[0] >> 1) & 0x3F if codec == "h265" else nal[0] & 0x1F
        if nal and kind == sps_type:
            try:
                info = parse_sps(codec, nal)
            except ParameterSetError:
                continue
            width, height, profile, fps = info.width, info.height, info.profile, info.fps
    extradata = b"".join(START_CODE + nal for nal in nal_units if nal) or None
    return StreamInfo(codec, width, height, profile, fps, Fraction(1, 90_000), extradata)
