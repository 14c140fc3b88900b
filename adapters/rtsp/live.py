"""A light live RTSP reader: one camera's video over TCP (RTP interleaved), on a plain blocking
socket, for the cameras that are only monitored. Same contract as `RtspSource` (PyAV): `open()`,
`packets()` (access units, never decoded), `close()`, failures as `SourceError` with a `Reason`.

Why not FFmpeg for these: measured (docs/benchmarks.md, "A light stream reader"), an FFmpeg RTSP
session holds 0.7 MB however little it reads (its demuxer keeps an H.264 decoder context and parser
per stream), this one tens of kilobytes, at the same CPU. For 500 cameras that is the difference
between fitting an edge box and not. What it does not do, and FFmpeg does: RTP over UDP, sound, RTSP
over HTTP tunnels; cameras that need one of these keep the PyAV reader (`gateway.streams.sources`).

RTP is read in place from the receive buffer (`Depacketizer.feed_rtp`), and with `skim` set the pictures
other than keyframes come as their sizes alone (`Packet.skimmed_size`): a camera that is only measured
costs about a third of the CPU it did when every picture's bytes were copied and joined.

Not thread-safe: one reading thread owns an instance from open() to close(). Error texts are fixed
(the URL's credentials are taken out of it before anything is sent and never written anywhere).
"""

from __future__ import annotations

import contextlib
import errno
import socket
import time
from collections import deque
from collections.abc import Iterator
from fractions import Fraction
from typing import Final
from urllib.parse import unquote, urlsplit, urlunsplit

from adapters.common.media import Packet, StreamInfo
from adapters.rtsp.depacketize import AccessUnit, Depacketizer
from adapters.rtsp.errors import Reason, SourceError
from adapters.rtsp.protocol import (
    Credentials,
    Response,
    RtspError,
    SdpError,
    has_bye,
    parse_head,
    request,
    resolve,
    session_of,
    stream_info_of,
    video_of_sdp,
)

RECV_BYTES: Final = 64 * 1024
# A keyframe of a 4K camera fits many times; a server that sends more before a blank line is broken.
MAX_HEAD: Final = 16 * 1024
DEFAULT_SESSION_TIMEOUT_S: Final = 60.0
_CLOCK: Final = Fraction(1, 90_000)


class LightRtspSource:
    """One live RTSP session (video only, TCP). Credentials come in the URL, as for `RtspSource`."""

    def __init__(
        self, source_id: str, url: str, *, connect_timeout_s: float = 5.0, read_timeout_s: float = 5.0
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "rtsp" or not parts.hostname:
            raise SourceError(Reason.UNSUPPORTED_SOURCE, "not an rtsp:// URL with a host")
        self.source_id = source_id
        self._host = parts.hostname
        self._port = parts.port or 554
        netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if parts.port:
            netloc += f":{parts.port}"
        self._url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        user = unquote(parts.username) if parts.username is not None else None
        self._credentials = Credentials(user, unquote(parts.password) if parts.password else None)
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._sock: socket.socket | None = None
        self._buf = b""  # received, not yet parsed
        self._cseq = 0
        self._session: str | None = None
        self._aggregate = self._url
        self._keepalive_s = DEFAULT_SESSION_TIMEOUT_S / 2
        self._keepalive_method = "GET_PARAMETER"
        self._depacketizer: Depacketizer | None = None
        self._last_ts: int | None = None
        self._unwrapped = 0
        self._early: list[bytes] = []  # RTP that came before the PLAY answer
        self._ready: deque[Packet] = deque()  # parsed, not yet given
        self._last_video: float | None = None  # set when reading starts
        self._next_keepalive = 0.0
        self.info: StreamInfo | None = None
        self._skim = False

    @property
    def skim(self) -> bool:
        """Whether pictures other than keyframes may come without their bytes (`Packet.skimmed_size`):
        set by a reader whose camera nobody views or forwards; takes effect from the next picture."""
        return self._skim

    @skim.setter
    def skim(self, value: bool) -> None:
        self._skim = value
        if self._depacketizer is not None:
            self._depacketizer.skim = value

    # --- the Source contract ----------------------------------------------------------------------

    def open(self) -> StreamInfo:
        try:
            self._sock = socket.create_connection((self._host, self._port), timeout=self._connect_timeout_s)
        except TimeoutError:
            raise SourceError(Reason.TIMEOUT, "the camera did not accept the connection in time") from None
        except OSError as exc:
            raise _connect_error(exc) from None
        self._sock.settimeout(self._read_timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            described = self._exchange("DESCRIBE", self._url, {"Accept": "application/sdp"})
            base = described.get("content-base") or described.get("content-location") or self._url
            codec, fmtp, control = video_of_sdp(described.body.decode("utf-8", "replace"))
            self._aggregate = base
            setup = self._exchange(
                "SETUP", resolve(base, control), {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
            )
            self._session, timeout = session_of(setup)
            if timeout is not None:
                self._keepalive_s = max(timeout / 2, 1.0)
            self._depacketizer = Depacketizer(codec)
            self._depacketizer.skim = self._skim
            self._exchange("PLAY", self._aggregate, {"Range": "npt=0.000-"})
        except SdpError as exc:
            self.close()
            raise SourceError(Reason.NO_VIDEO if exc.no_video else Reason.UNSUPPORTED_CODEC, exc.reason) from None
        except RtspError as exc:
            self.close()
            raise _answer_error(exc) from None
        except SourceError:
            self.close()
            raise
        self.info = stream_info_of(codec, fmtp)
        return self.info

    def packets(self) -> Iterator[Packet]:
        """Access units until the stream ends or fails; failures raise SourceError. Leaving the loop early
        loses nothing: what was read and not yet given comes from the next `packets()` or `poll()`."""
        self._start_reading()
        while True:
            while self._ready:
                yield self._ready.popleft()
            self._timers(time.monotonic())
            self._buf += self._receive(self._opened_sock())
            self._parse()

    def poll(self) -> list[Packet]:
        """Without waiting: the access units of what has arrived (for one thread reading many sessions,
        `gateway.pipeline.loop`). The socket must be non-blocking (`blocking(False)`); failures, a stall
        included, raise SourceError as in `packets()`."""
        self._start_reading()
        sock = self._opened_sock()
        while True:
            try:
                data = sock.recv(RECV_BYTES)
            except BlockingIOError:
                break
            except OSError as exc:
                raise SourceError(Reason.ENDED, f"the connection failed: {_text(exc)}") from None
            if not data:
                self._parse()
                raise SourceError(Reason.ENDED, "the camera closed the connection")
            self._buf += data
            if len(data) < RECV_BYTES:
                break  # drained: no second call to learn that nothing more is there
        self._parse()
        self._timers(time.monotonic())
        out = list(self._ready)
        self._ready.clear()
        return out

    def blocking(self, flag: bool) -> None:
        """Blocking reads with the read timeout (`packets()`), or none at all (`poll()`)."""
        sock = self._opened_sock()
        if flag:
            sock.settimeout(self._read_timeout_s)
        else:
            sock.setblocking(False)

    def _opened_sock(self) -> socket.socket:
        if self._sock is None or self._depacketizer is None:
            raise SourceError(Reason.PROTOCOL, "read before open()")
        return self._sock

    def _start_reading(self) -> None:
        if self._last_video is not None:
            return
        self._opened_sock()
        depacketizer = self._depacketizer
        assert depacketizer is not None  # checked by _opened_sock
        now = time.monotonic()
        self._last_video, self._next_keepalive = now, now + self._keepalive_s
        for data in self._early:
            self._ready.extend(self._packet(unit, now) for unit in depacketizer.feed_rtp(data, 0, len(data)))
        self._early.clear()

    def _timers(self, now: float) -> None:
        assert self._last_video is not None
        if now - self._last_video > self._read_timeout_s:
            raise SourceError(Reason.STALLED, f"no video for {self._read_timeout_s:g} s")
        if now >= self._next_keepalive:
            self._next_keepalive = now + self._keepalive_s
            self._send(self._keepalive_method, self._aggregate, {})

    def _parse(self) -> None:
        """Every whole message in the buffer: access units to `_ready`, keep-alive answers read and
        ignored; what is cut off stays for the next read. Bursts are parsed without a call per packet."""
        depacketizer = self._depacketizer
        assert depacketizer is not None
        buf, ready = self._buf, self._ready
        size, offset = len(buf), 0
        # One reading of the clock for the whole burst: it arrived in one receive (or a few, back to back).
        now = time.monotonic()
        video = False
        while offset < size:
            if buf[offset] == 0x24:  # '$': an interleaved RTP/RTCP packet
                if size - offset < 4:
                    break
                channel, length = buf[offset + 1], (buf[offset + 2] << 8) | buf[offset + 3]
                end = offset + 4 + length
                if end > size:
                    break
                start, offset = offset + 4, end
                if channel == 0:
                    video = True
                    for unit in depacketizer.feed_rtp(buf, start, end):
                        ready.append(self._packet(unit, now))
                elif channel == 1 and has_bye(buf[start:end]):
                    self._buf = buf[offset:]
                    raise SourceError(Reason.ENDED, "the camera ended the stream")
            else:  # an answer to a keep-alive, or a request from the server: read and ignored
                stop = buf.find(b"\r\n\r\n", offset)
                if stop < 0:
                    if size - offset > MAX_HEAD:
                        raise SourceError(Reason.PROTOCOL, "the camera sent an oversized message")
                    break
                try:
                    head = parse_head(buf[offset : stop + 4])
                except RtspError as exc:
                    raise SourceError(Reason.PROTOCOL, exc.reason) from None
                if stop + 4 + head.length > size:
                    break
                offset = stop + 4 + head.length
                if head.status is not None and head.status >= 400 and self._keepalive_method == "GET_PARAMETER":
                    self._keepalive_method = "OPTIONS"  # some cameras know only OPTIONS
        self._buf = buf[offset:] if offset else buf
        if video:
            self._last_video = now

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._session is not None:
            # Best effort, without waiting for the answer: the camera frees the session at once.
            with contextlib.suppress(OSError):
                sock.settimeout(0.2)
                sock.sendall(self._message("TEARDOWN", self._aggregate, {}))
        with contextlib.suppress(OSError):
            sock.close()

    # --- inside -----------------------------------------------------------------------------------

    def _packet(self, unit: AccessUnit, arrival: float) -> Packet:
        # Timestamps from zero, unwrapped past 2^32, as FFmpeg gives them: only their differences count.
        ts = unit.timestamp
        if self._last_ts is not None:
            delta = (ts - self._last_ts) & 0xFFFFFFFF
            if delta >= 1 << 31:
                delta -= 1 << 32
            self._unwrapped += delta
        self._last_ts = ts
        assert self._depacketizer is not None
        skimmed = unit.skimmed
        return Packet(
            self.source_id,
            self._depacketizer.codec,
            self._unwrapped,
            self._unwrapped,
            _CLOCK,
            unit.keyframe,
            b"" if skimmed else unit.annex_b(),
            arrival,
            unit.annex_b_size if skimmed else 0,
        )

    def _message(self, method: str, url: str, headers: dict[str, str]) -> bytes:
        self._cseq += 1
        return request(
            method,
            url,
            self._cseq,
            session=self._session,
            authorization=self._credentials.header(method, url),
            headers=headers,
        )

    def _send(self, method: str, url: str, headers: dict[str, str]) -> None:
        assert self._sock is not None
        try:
            self._sock.sendall(self._message(method, url, headers))
        except TimeoutError:
            raise SourceError(Reason.STALLED, "the camera does not take our requests") from None
        except OSError as exc:
            raise SourceError(Reason.ENDED, f"the connection failed: {_text(exc)}") from None

    def _exchange(self, method: str, url: str, headers: dict[str, str], *, retried: bool = False) -> Response:
        """One request and its answer (RTP that comes first is kept for packets())."""
        self._send(method, url, headers)
        cseq = self._cseq
        response = self._read_response(cseq)
        if response.status == 401 and not retried and self._credentials.username is not None:
            self._credentials.learn(response)
            return self._exchange(method, url, headers, retried=True)
        if not 200 <= response.status < 300:
            raise RtspError(f"the camera refused {method}", response.status)
        return response

    def _read_response(self, cseq: int) -> Response:
        assert self._sock is not None
        while True:
            buf = self._buf
            if buf[:1] == b"$":
                if len(buf) >= 4 and len(buf) >= 4 + ((buf[2] << 8) | buf[3]):
                    end = 4 + ((buf[2] << 8) | buf[3])
                    if buf[1] == 0:
                        self._early.append(buf[4:end])
                    self._buf = buf[end:]
                    continue
            elif buf:
                stop = buf.find(b"\r\n\r\n")
                if stop >= 0:
                    head = parse_head(buf[: stop + 4])
                    end = stop + 4 + head.length
                    if len(buf) >= end:
                        self._buf = buf[end:]
                        if head.status is not None and head.cseq == cseq:
                            return Response(head.status, head.headers, buf[stop + 4 : end])
                        continue
                elif len(buf) > MAX_HEAD:
                    raise RtspError("the camera sent an oversized response")
            self._buf = buf + self._receive(self._sock, waiting_for="answer")

    def _receive(self, sock: socket.socket, waiting_for: str = "") -> bytes:
        try:
            data = sock.recv(RECV_BYTES)
        except TimeoutError:
            if waiting_for:
                raise SourceError(Reason.TIMEOUT, f"no {waiting_for} came in {self._read_timeout_s:g} s") from None
            raise SourceError(Reason.STALLED, f"no data for {self._read_timeout_s:g} s") from None
        except OSError as exc:
            raise SourceError(Reason.ENDED, f"the connection failed: {_text(exc)}") from None
        if not data:
            raise SourceError(Reason.ENDED, "the camera closed the connection")
        return data


def _text(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _connect_error(exc: OSError) -> SourceError:
    if isinstance(exc, ConnectionRefusedError):
        return SourceError(Reason.REFUSED, "the camera refused the connection")
    if isinstance(exc, socket.gaierror) or exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return SourceError(Reason.UNREACHABLE, f"cannot reach the camera: {_text(exc)}")
    return SourceError(Reason.UNREACHABLE, f"cannot connect to the camera: {_text(exc)}")


def _answer_error(exc: RtspError) -> SourceError:
    if exc.status in (401, 403):
        return SourceError(Reason.AUTH_FAILED, str(exc))
    if exc.status == 404:
        return SourceError(Reason.NOT_FOUND, str(exc))
    return SourceError(Reason.PROTOCOL, str(exc))
