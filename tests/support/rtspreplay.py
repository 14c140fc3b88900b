"""A small RTSP client for ONVIF replay, for the tests of the simulated NVR.

FFmpeg (PyAV) cannot send `Require: onvif-replay`, `Range: clock=...` or `Scale`, and drops the RTP
header extension that carries each frame's recorded time; this client does all of that over one TCP
connection (RTP interleaved), without authentication: DESCRIBE, SETUP, PLAY, read RTP packets, TEARDOWN.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self
from urllib.parse import urljoin, urlsplit

NTP_UNIX_OFFSET_S = 2208988800
ONVIF_EXTENSION = 0xABAC


@dataclass(frozen=True)
class RtspResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class RtpPacket:
    seq: int
    timestamp: int
    marker: bool
    payload: bytes
    # The ONVIF replay extension, when present: the frame's recorded time and its flags.
    recorded: datetime | None = None
    clean_point: bool = False  # C: a keyframe starts here
    end: bool = False  # E: last packet of a contiguous stretch of recording
    discontinuity: bool = False  # D: a gap (or a seek) before this packet
    terminal: bool = False  # T: the last packet of the requested range

    @property
    def nal_type(self) -> int | None:
        """The H.264 NAL unit type this packet carries (for FU-A, of the fragmented unit)."""
        if not self.payload:
            return None
        kind = self.payload[0] & 0x1F
        if kind == 28 and len(self.payload) > 1:  # FU-A
            return self.payload[1] & 0x1F
        return kind


def ntp_to_datetime(ntp: int) -> datetime:
    seconds, fraction = ntp >> 32, ntp & 0xFFFFFFFF
    return datetime(1900, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds + fraction / 2**32)


def clock(moment: datetime) -> str:
    """A time as RTSP clock ranges write it: 20261204T100000Z, or 20261204T100000.5Z with a fraction."""
    moment = moment.astimezone(UTC)
    fraction = f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else ""
    return f"{moment.strftime('%Y%m%dT%H%M%S')}{fraction}Z"


def parse_rtp(data: bytes) -> RtpPacket:
    first, second, seq, timestamp = struct.unpack("!BBHI", data[:8])
    csrcs = first & 0x0F
    offset = 12 + 4 * csrcs
    recorded, flags = None, 0
    if first & 0x10:
        profile, words = struct.unpack("!HH", data[offset : offset + 4])
        extension = data[offset + 4 : offset + 4 + 4 * words]
        if profile == ONVIF_EXTENSION and len(extension) >= 9:
            recorded = ntp_to_datetime(struct.unpack("!Q", extension[:8])[0])
            flags = extension[8]
        offset += 4 + 4 * words
    payload = data[offset:]
    if first & 0x20 and payload:  # padding
        payload = payload[: -payload[-1]]
    return RtpPacket(
        seq,
        timestamp,
        bool(second & 0x80),
        payload,
        recorded,
        bool(flags & 0x80),
        bool(flags & 0x40),
        bool(flags & 0x20),
        bool(flags & 0x10),
    )


class RtspReplayClient:
    """`with RtspReplayClient(url) as c: c.describe(); c.setup(); c.play(start=..., scale=2.0); c.packets(50)`."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url
        parts = urlsplit(url)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 554)
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._cseq = 0
        self.session: str | None = None
        self.control: str = url
        self.sdp = ""
        self.ended = False  # an RTCP BYE came: the server ended the stream

    def __enter__(self) -> Self:
        self._sock = socket.create_connection(self._address, timeout=self._timeout)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._sock is not None:
            try:
                if self.session is not None:
                    self._send("TEARDOWN", self.url, {})
            except OSError:
                pass
            self._sock.close()
            self._sock = None

    # -- wire --

    def _read_more(self) -> None:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("the RTSP server closed the connection")
        self._buffer += chunk

    def _send(self, method: str, url: str, headers: dict[str, str]) -> None:
        assert self._sock is not None
        self._cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self._cseq}", "User-Agent: gateway-tests"]
        if self.session is not None:
            lines.append(f"Session: {self.session}")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def _next_item(self) -> tuple[int, bytes] | RtspResponse:
        """The next interleaved frame (channel, data) or RTSP response on the connection."""
        while True:
            if self._buffer.startswith(b"$"):
                if len(self._buffer) >= 4:
                    channel, length = self._buffer[1], struct.unpack("!H", self._buffer[2:4])[0]
                    if len(self._buffer) >= 4 + length:
                        data, self._buffer = self._buffer[4 : 4 + length], self._buffer[4 + length :]
                        return channel, data
            elif b"\r\n\r\n" in self._buffer:
                head, _, rest = self._buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                if len(rest) >= length:
                    self._buffer = rest[length:]
                    return RtspResponse(int(lines[0].split()[1]), headers, rest[:length])
            self._read_more()

    def request(self, method: str, url: str | None = None, headers: dict[str, str] | None = None) -> RtspResponse:
        self._send(method, url or self.url, headers or {})
        while True:
            item = self._next_item()
            if isinstance(item, RtspResponse):
                return item

    # -- RTSP --

    def describe(self) -> RtspResponse:
        response = self.request("DESCRIBE", headers={"Accept": "application/sdp", "Require": "onvif-replay"})
        self.sdp = response.body.decode(errors="replace")
        base = response.headers.get("content-base", self.url)
        for line in self.sdp.splitlines():
            if line.startswith("a=control:") and line[10:].strip() != "*":
                self.control = urljoin(base if base.endswith("/") else base + "/", line[10:].strip())
                break
        return response

    def setup(self) -> RtspResponse:
        response = self.request(
            "SETUP",
            self.control,
            {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1", "Require": "onvif-replay"},
        )
        if "session" in response.headers:
            self.session = response.headers["session"].split(";")[0]
        return response

    def play(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        scale: float | None = None,
        onvif: bool = True,
    ) -> RtspResponse:
        headers: dict[str, str] = {}
        if onvif:
            headers["Require"] = "onvif-replay"
        if start is not None:
            headers["Range"] = f"clock={clock(start)}-{clock(end) if end is not None else ''}"
        if scale is not None:
            headers["Scale"] = f"{scale:.1f}"
        return self.request("PLAY", headers=headers)

    def packets(self, count: int, *, linger: float = 0.5) -> list[RtpPacket]:
        """Up to `count` RTP packets of the video; fewer when the server ends the stream (RTCP BYE). The
        BYE may overtake the last packets (they leave the server by different ways): those that come
        within `linger` seconds after it are read too."""
        assert self._sock is not None
        found: list[RtpPacket] = []
        while len(found) < count:
            try:
                item = self._next_item()
            except TimeoutError:
                if self.ended:
                    break
                raise
            if isinstance(item, RtspResponse):
                continue
            channel, data = item
            if channel == 0:
                found.append(parse_rtp(data))
            elif _has_bye(data) and not self.ended:
                self.ended = True
                self._sock.settimeout(linger)
        self._sock.settimeout(self._timeout)
        return found


def _has_bye(data: bytes) -> bool:
    """Whether an RTCP compound packet holds a BYE (packet type 203)."""
    offset = 0
    while offset + 4 <= len(data):
        kind = data[offset + 1]
        if kind == 203:
            return True
        offset += 4 * (struct.unpack("!H", data[offset + 2 : offset + 4])[0] + 1)
    return False
