"""An RTSP client that replays recordings: ONVIF Profile G replay (ONVIF Streaming spec section 6) and
vendors' playback URLs, on asyncio, over one TCP connection with RTP interleaved.

Why not FFmpeg (PyAV) as for live cameras: a replay is driven. It starts at a recorded instant
(`Range: clock=...`, with `Require: onvif-replay`), changes speed (`Scale`), is sent as fast as the
recorder can (`Rate-Control: no`, for downloads), pauses and resumes (PAUSE, PLAY) and seeks (PLAY with a
new Range) while the session stays up, and reports each frame's recorded time (the ONVIF RTP header
extension). FFmpeg's RTSP client sends none of these headers and drops the extension; aiortsp (the
asyncio RTSP library on PyPI) sends no `Require`, no `Rate-Control` and no end of range, and has no
depayloader. So the protocol is ours, kept small: DESCRIBE, SETUP, PLAY, PAUSE, GET_PARAMETER as
keep-alive, TEARDOWN, with Basic or Digest authentication.

One task reads the connection: RTSP responses go to the request that waits for them, RTP becomes
frames in a bounded queue (when the consumer is slower than the recorder, TCP holds the recorder back;
nothing is dropped). Credentials never appear in a message or exception; the URLs given here carry none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Final
from urllib.parse import urlsplit

from adapters.common.media import Packet, StreamInfo
from adapters.rtsp.depacketize import AccessUnit, Depacketizer, RtpError, parse_rtp
from adapters.rtsp.protocol import (
    MAX_BODY,
    Credentials,
    Head,
    Response,
    RtspError,
    has_bye,
    parse_head,
    request,
    resolve,
    session_of,
    stream_info_of,
    video_of_sdp,
)

log = logging.getLogger(__name__)

ONVIF_EXTENSION: Final = 0xABAC
NTP_UNIX_OFFSET: Final = 2_208_988_800
# After the recorder's RTCP BYE, the last frames may still be on their way behind it.
BYE_LINGER_S: Final = 0.5


class ReplayError(Exception):
    """The replay cannot start or go on. `reason` is fixed text (never a credential); `status` is the
    RTSP status the recorder answered, when it answered one."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason if status is None else f"{reason} (RTSP {status})")
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class ReplayFrame:
    """One access unit of the replay, and the instant it was recorded when the recorder says so."""

    packet: Packet
    recorded: float | None  # seconds since 1970, from the ONVIF replay header extension


def clock_time(moment: float) -> str:
    """An instant as RTSP clock ranges write it (RFC 2326 section 3.7): 20261204T100000Z or ...00.5Z."""
    when = datetime.fromtimestamp(moment, UTC)
    fraction = f".{when.microsecond:06d}".rstrip("0") if when.microsecond else ""
    return when.strftime("%Y%m%dT%H%M%S") + fraction + "Z"


def ntp_seconds(ntp: int) -> float:
    return (ntp >> 32) - NTP_UNIX_OFFSET + (ntp & 0xFFFFFFFF) / 2**32


class RtspReplay:
    """One replay session: `await open()`, `await play(start=..., end=...)`, `async for f in frames()`,
    `await pause()`, `await play(...)` again to resume or seek, `await aclose()`.

    `onvif` selects the ONVIF replay dialect (absolute clock ranges, `Require: onvif-replay`); without it
    the URL names the span (a vendor's playback URL) and seeks are npt offsets from its start.
    """

    def __init__(
        self,
        url: str,
        *,
        source_id: str,
        username: str | None = None,
        password: str | None = None,
        onvif: bool = True,
        timeout_s: float = 10.0,
        buffer_frames: int = 64,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "rtsp" or not parts.hostname:
            raise ReplayError("not an rtsp:// URL with a host")
        if parts.username or parts.password:
            raise ReplayError("credentials belong in the settings, not in the URL")
        self.url = url
        self.source_id = source_id
        self.onvif = onvif
        self._host = parts.hostname
        self._port = parts.port or 554
        self._username = username
        self._credentials = Credentials(username, password)
        self._timeout_s = timeout_s
        self._cseq = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._keepalive_task: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[Response]] = {}
        self._lock = asyncio.Lock()  # one request at a time: some recorders serve requests in order only
        self._queue: asyncio.Queue[ReplayFrame | None] = asyncio.Queue(buffer_frames)
        self._session: str | None = None
        self._session_timeout_s = 60.0
        self._control = url
        self._aggregate = url
        self._depacketizer: Depacketizer | None = None
        self._clock_rate = 90_000
        self._unwrapped: int | None = None
        self._generation = 0  # PLAY responses read so far: frames before the last seek are stale
        self._wanted = 0
        self._paused = True
        self._last_data = time.monotonic()
        self.info: StreamInfo | None = None
        self.ended: str | None = None  # why the stream ended, once it has
        self.scale = 1.0  # the speed the recorder answered to the last PLAY

    # --- public -----------------------------------------------------------------------------------

    async def open(self) -> StreamInfo:
        """Connect, DESCRIBE and SETUP; raises ReplayError (refused, not found, auth failed, timeout)."""
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port, limit=MAX_BODY * 4), self._timeout_s
            )
        except TimeoutError:
            raise ReplayError("the recorder did not accept the connection in time") from None
        except OSError as exc:
            raise ReplayError(f"cannot connect to the recorder: {exc.strerror or type(exc).__name__}") from None
        self._read_task = asyncio.create_task(self._read_loop(), name=f"rtsp-replay-{self.source_id}")
        headers = {"Accept": "application/sdp"}
        if self.onvif:
            headers["Require"] = "onvif-replay"
        described = await self._request("DESCRIBE", self.url, headers)
        base = described.get("content-base") or described.get("content-location") or self.url
        try:
            codec, fmtp, control = video_of_sdp(described.body.decode("utf-8", "replace"))
        except RtspError as exc:
            raise ReplayError(exc.reason) from None
        self._aggregate = base
        self._control = resolve(base, control)
        self._depacketizer = Depacketizer(codec)
        setup_headers = {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
        if self.onvif:
            setup_headers["Require"] = "onvif-replay"
        setup = await self._request("SETUP", self._control, setup_headers)
        try:
            self._session, timeout = session_of(setup)
        except RtspError as exc:
            raise ReplayError(exc.reason) from None
        if timeout is not None:
            self._session_timeout_s = timeout
        self.info = stream_info_of(codec, fmtp)
        self._keepalive_task = asyncio.create_task(self._keepalive(), name=f"rtsp-keepalive-{self.source_id}")
        return self.info

    async def play(
        self,
        *,
        start: float | None = None,
        end: float | None = None,
        offset_s: float | None = None,
        scale: float | None = None,
        rate_control: bool = True,
    ) -> float:
        """PLAY: from `start` (ONVIF: a recorded instant) or `offset_s` seconds into the URL's span
        (vendor URLs), or resume where paused when neither is given. Returns the speed the recorder
        answered (1.0 when it ignores Scale)."""
        headers: dict[str, str] = {}
        if self.onvif:
            headers["Require"] = "onvif-replay"
            if start is not None:
                headers["Range"] = f"clock={clock_time(start)}-{clock_time(end) if end is not None else ''}"
            if not rate_control:
                headers["Rate-Control"] = "no"
        elif offset_s is not None:
            headers["Range"] = f"npt={max(offset_s, 0.0):.3f}-"
        if scale is not None:
            if not (math.isfinite(scale) and scale > 0):
                raise ValueError("scale must be a positive number")
            headers["Scale"] = f"{scale:.2f}".rstrip("0").rstrip(".")
        seeking = "Range" in headers
        if seeking:
            # Frames read before the answer belong to the old position.
            self._wanted = self._generation + 1
        response = await self._request("PLAY", self._aggregate, headers)
        answered = response.get("scale")
        try:
            self.scale = float(answered) if answered else 1.0
        except ValueError:
            self.scale = 1.0
        self._paused = False
        self._last_data = time.monotonic()
        return self.scale

    async def pause(self) -> None:
        await self._request("PAUSE", self._aggregate, {})
        self._paused = True

    async def frames(self) -> AsyncIterator[ReplayFrame]:
        """The replay's frames until it ends (the recorder's BYE, the end of the range, the connection
        closed); raises ReplayError when the recorder stops sending while playing."""
        while True:
            try:
                async with asyncio.timeout(self._timeout_s):  # no task per frame, unlike wait_for
                    frame = await self._queue.get()
            except TimeoutError:
                if self._paused or self.ended is not None:
                    continue
                if time.monotonic() - self._last_data < self._timeout_s:
                    continue
                raise ReplayError("the recorder stopped sending") from None
            if frame is None:
                return
            yield frame

    async def aclose(self) -> None:
        """TEARDOWN (briefly awaited) and close the connection."""
        for task in (self._keepalive_task,):
            if task is not None:
                task.cancel()
        writer = self._writer
        if writer is not None and self._session is not None and not writer.is_closing() and self.ended is None:
            with contextlib.suppress(ReplayError, OSError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._request("TEARDOWN", self._aggregate, {})
        if self._read_task is not None:
            self._read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._read_task
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()
        self._end("closed")

    # --- requests ---------------------------------------------------------------------------------

    async def _request(self, method: str, url: str, headers: dict[str, str], *, retried: bool = False) -> Response:
        async with self._lock:
            response = await self._send(method, url, headers)
        if response.status == 401 and not retried and self._username is not None:
            try:
                self._credentials.learn(response)
            except RtspError as exc:
                raise ReplayError(exc.reason, exc.status) from None
            return await self._request(method, url, headers, retried=True)
        if response.status == 401:
            raise ReplayError(
                "the recorder refused the credentials" if retried else "the recorder wants credentials", 401
            )
        if response.status == 404:
            raise ReplayError("the recorder has no such recording or range", 404)
        if response.status == 457:
            raise ReplayError("the recorder has nothing in the requested range", 457)
        if response.status == 454:
            raise ReplayError("the recorder lost the session", 454)
        if not 200 <= response.status < 300:
            raise ReplayError(f"the recorder refused {method}", response.status)
        return response

    async def _send(self, method: str, url: str, headers: dict[str, str]) -> Response:
        writer = self._writer
        if writer is None or writer.is_closing() or self.ended is not None:
            raise ReplayError("the connection to the recorder is closed")
        self._cseq += 1
        cseq = self._cseq
        message = request(
            method,
            url,
            cseq,
            session=self._session,
            authorization=self._credentials.header(method, url),
            headers=headers,
        )
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiting[cseq] = future
        try:
            writer.write(message)
            await writer.drain()
            return await asyncio.wait_for(future, self._timeout_s)
        except TimeoutError:
            raise ReplayError(f"the recorder did not answer {method} in time") from None
        except (ConnectionError, OSError):
            raise ReplayError("the connection to the recorder was lost") from None
        finally:
            self._waiting.pop(cseq, None)

    async def _keepalive(self) -> None:
        """GET_PARAMETER at half the session timeout: a paused replay must not be dropped."""
        while True:
            await asyncio.sleep(max(self._session_timeout_s / 2, 1.0))
            try:
                await self._request("GET_PARAMETER", self._aggregate, {})
            except ReplayError as exc:
                if exc.status is None:
                    return  # the connection is gone; the reader reports it
                with contextlib.suppress(ReplayError):  # some recorders know only OPTIONS
                    await self._request("OPTIONS", self._aggregate, {})

    # --- reading ----------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        reader = self._reader
        assert reader is not None
        reason = "the recorder closed the connection"
        try:
            while True:
                first = await reader.readexactly(1)
                if first == b"$":
                    channel, length = struct.unpack("!BH", await reader.readexactly(3))
                    data = await reader.readexactly(length)
                    self._last_data = time.monotonic()
                    if channel == 0:
                        await self._on_rtp(data)
                    elif channel == 1 and has_bye(data):
                        reason = "the recorder ended the replay"
                        await self._linger(reader)
                        return
                else:
                    head, future = self._parse_head(first + await reader.readuntil(b"\r\n\r\n"))
                    await self._read_body(reader, head, future)
        except asyncio.IncompleteReadError:
            pass
        except asyncio.LimitOverrunError:
            reason = "the recorder sent an oversized response"
        except (ConnectionError, OSError) as exc:
            reason = f"the connection to the recorder failed: {getattr(exc, 'strerror', None) or type(exc).__name__}"
        except ReplayError as exc:
            reason = exc.reason
        finally:
            await self._finish(reason)

    async def _linger(self, reader: asyncio.StreamReader) -> None:
        """Frames that were still behind the BYE."""
        with contextlib.suppress(TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            async with asyncio.timeout(BYE_LINGER_S):
                while True:
                    first = await reader.readexactly(1)
                    if first != b"$":
                        return
                    channel, length = struct.unpack("!BH", await reader.readexactly(3))
                    data = await reader.readexactly(length)
                    if channel == 0:
                        await self._on_rtp(data)

    def _parse_head(self, head: bytes) -> tuple[Head, asyncio.Future[Response] | None]:
        """A response's head and the request waiting for it (None: a request from the recorder,
        ANNOUNCE or GET_PARAMETER, read and ignored)."""
        try:
            parsed = parse_head(head)
        except RtspError as exc:
            raise ReplayError(exc.reason.replace("server", "recorder")) from None
        return parsed, (None if parsed.status is None else self._waiting.get(parsed.cseq))

    async def _read_body(
        self, reader: asyncio.StreamReader, head: Head, future: asyncio.Future[Response] | None
    ) -> None:
        length, status, headers = head.length, head.status, head.headers
        body = await reader.readexactly(length) if length else b""
        if future is not None and not future.done():
            if status == 200 and "range" in headers and self._wanted > self._generation:
                # The answer to a seeking PLAY: what follows is the new position.
                self._generation = self._wanted
                if self._depacketizer is not None:
                    self._depacketizer.reset()
                self._unwrapped = None
                self._drop_stale()
            assert status is not None  # a future is only found for a response
            future.set_result(Response(status, headers, body))

    def _drop_stale(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    async def _on_rtp(self, data: bytes) -> None:
        depacketizer = self._depacketizer
        if depacketizer is None or self._wanted > self._generation:
            return  # before SETUP, or the old position while a seek is answered
        try:
            packet = parse_rtp(data)
        except RtpError:
            return
        for unit in depacketizer.push(packet):
            await self._queue.put(self._frame(unit))

    def _frame(self, unit: AccessUnit) -> ReplayFrame:
        ts = unit.timestamp
        if self._unwrapped is None:
            self._unwrapped = ts
        else:
            delta = (ts - self._unwrapped) & 0xFFFFFFFF
            if delta >= 1 << 31:
                delta -= 1 << 32
            self._unwrapped += delta
        recorded = None
        first = unit.first
        if first is not None and first.extension_profile == ONVIF_EXTENSION and len(first.extension) >= 8:
            recorded = ntp_seconds(struct.unpack_from("!Q", first.extension)[0])
        assert self._depacketizer is not None
        packet = Packet(
            source_id=self.source_id,
            codec=self._depacketizer.codec,
            pts=self._unwrapped,
            dts=None,
            time_base=Fraction(1, self._clock_rate),
            keyframe=unit.keyframe,
            data=unit.annex_b(),
            arrival=time.monotonic(),
        )
        return ReplayFrame(packet, recorded)

    async def _finish(self, reason: str) -> None:
        self._end(reason)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError(reason))
        if self._depacketizer is not None:
            for unit in self._depacketizer.flush():
                with contextlib.suppress(asyncio.QueueFull):
                    self._queue.put_nowait(self._frame(unit))
        # The end marker must get through even to a full queue: the consumer reads on until it.
        await self._queue.put(None)

    def _end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
