"""The media half of a GB/T 28181 live session: one camera's packets to the upper platform over RTP, as
PS (the camera's sound inside it when it has one) or as an H.264/H.265 elementary stream.

The SIP side negotiates (`sdp.parse_offer`, `sdp.build_answer`); this module moves the bytes, without
re-encoding, over the transport the offer chose:

* UDP: one non-blocking socket bound to the port of our answer, RTP packets sent with `sendto`.
* TCP active (the offer said setup:passive): we connect to the platform's port.
* TCP passive (the offer said setup:active): we listen on the port of our answer and accept the
  platform's one connection when it comes, after the ACK.

TCP carries RFC 4571 framing, one socket write per frame. Per picture:

1. Packets are skipped (and counted) until the first keyframe: a platform decoder can only start at
   an IDR, and everything before it would be shown as garbage or not at all.
2. Packets with one pts are one picture (cameras that cut a picture into slices send several): they
   are joined by `PsMuxer.mux_parts`, so the platform sees one PES run under one PTS. This holds each
   picture back until the next one starts (one frame of latency).
3. Timestamps are rescaled to 90 kHz and kept monotonic across a source that restarts (`Clock`).
   Every RTP packet of one picture carries one timestamp, the marker on its last packet: in PS the
   picture's DTS (decode order, which never goes back), in an elementary stream its PTS (RFC 6184 5.1,
   RFC 7798 4.1: the sampling instant; B-frames make it go back and forth, as they should there).
4. The send never blocks the event loop. UDP: a full socket buffer (EAGAIN/ENOBUFS) drops the rest
   of the frame. A lossless sender (replays: the recording device can wait) waits on TCP for the
   platform to read instead of dropping. TCP: when the platform does not read and our write buffer would pass
   `write_buffer_limit`, the frame is dropped. Either way later frames reference the lost one, so
   frames are dropped (and counted) up to the next keyframe. Memory stays bounded by the limit.

Sound (PS only, when the muxer was given the stream's `AudioInfo`): each sound frame is put on the
same 90 kHz timeline as the video (`Clock.stamp_audio`: the source's audio and video clocks share an
origin, so the video's offset applies; a frame that does not fit the video's timeline, as after a
source restart before the video has caught up, is dropped). Frames wait for the next picture and ride
in its pack after the video (GB/T 28181 annex C), one picture later at most, like the picture itself.
A frame with no picture to ride within `AUDIO_HOLD` (a stalled or very slow video), or whose picture
is dropped, goes in a pack of its own, an RTP frame with a timestamp of its own. RTP timestamps of
a PS session never go back and no two frames share one: a frame whose time is not after the last one
sent (only a picture behind sound that ran ahead of a stalled video) takes the next tick.
Nothing is sent before the first keyframe, sound included.

`run` ends when the packets end, when `close` is called (e.g. the platform's BYE), or with a
`MediaError` when the TCP connection is lost (reset or closed by the platform): the caller then
sends BYE.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from typing import Final, Literal

from adapters.common.aac import AacConfig, AacConfigError
from adapters.common.h26x import find_sps, insert_parameter_sets
from adapters.common.media import AudioInfo, Packet
from adapters.gb28181.es import nal_payloads
from adapters.gb28181.ps import AUDIO_STREAM_TYPES, AudioFrame, PsMuxer
from adapters.gb28181.rtp import DEFAULT_MTU_PAYLOAD, DEFAULT_PAYLOAD_TYPE, RTP_HEADER_SIZE, RtpPacketizer
from adapters.gb28181.sdp import Encoding, Payload, PlayOffer, Setup, Transport, answer_setup, choose_payload

__all__ = [
    "DEFAULT_WRITE_BUFFER_LIMIT",
    "Clock",
    "MediaError",
    "MediaSender",
    "MediaStats",
    "MediaTarget",
]

log = logging.getLogger(__name__)

Codec = Literal["h264", "h265"]

CLOCK_RATE: Final = 90_000
# A few seconds of 1080p video: enough to ride out a short stall of the platform, small enough that a
# platform that stops reading costs little memory per session.
DEFAULT_WRITE_BUFFER_LIMIT: Final = 2 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT: Final = 5.0
# The platform connects after it has sent the ACK; 10 s covers a slow media server.
DEFAULT_ACCEPT_TIMEOUT: Final = 10.0
# After the last packet, how long a graceful TCP close may wait for the platform to read what is left.
CLOSE_LINGER: Final = 2.0
# Room for a 1080p keyframe burst (~100-300 KiB) in the kernel; capped by net.core.wmem_max.
UDP_SEND_BUFFER: Final = 2 * 1024 * 1024
# A picture is joined from at most this many packets / bytes: a source stuck on one pts must not
# make us buffer without limit. Past either, the picture is sent as it is.
MAX_PICTURE_PARTS: Final = 256
MAX_PICTURE_BYTES: Final = 16 * 1024 * 1024
# How long sound frames wait for a picture to ride with before they go in a pack of their own: a video
# at 1 fps still takes all its sound along.
AUDIO_HOLD: Final = CLOCK_RATE
# Sound this far from the video's timeline is not on it (a restarted source whose video has not come
# back yet, or a camera whose clocks disagree): dropped rather than sent at a wrong time.
AUDIO_MAX_SKEW: Final = 5 * CLOCK_RATE
MAX_AUDIO_QUEUE: Final = 256
_TCP_FRAMING: Final = 2  # RFC 4571 length prefix
_READ_CHUNK: Final = 64 * 1024


class MediaError(Exception):
    """The media session cannot go on; `reason` says why in words for logs and the BYE decision."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaTarget:
    """Where and how to send, resolved from the platform's offer (see `from_offer`).

    `setup` is OUR TCP role: "active" connects to remote_ip:remote_port, "passive" listens on
    local_ip:local_port (0: any free port, which goes into the SDP answer). UDP sends to
    remote_ip:remote_port from local_ip:local_port. An empty local_ip means any address of the
    remote's family.
    """

    transport: Transport
    ssrc: int
    remote_ip: str = ""
    remote_port: int = 0
    setup: Setup = "active"
    local_ip: str = ""
    local_port: int = 0
    payload_type: int = DEFAULT_PAYLOAD_TYPE
    encoding: Encoding = "PS"  # or an elementary stream: "H264", "H265"

    def __post_init__(self) -> None:
        if self.transport not in ("udp", "tcp"):
            raise ValueError(f"transport must be 'udp' or 'tcp', got {self.transport!r}")
        if self.setup not in ("active", "passive"):
            raise ValueError(f"setup must be 'active' or 'passive', got {self.setup!r}")
        if self.encoding not in ("PS", "H264", "H265"):
            raise ValueError(f"encoding must be PS, H264 or H265, got {self.encoding!r}")
        if not 0 <= self.ssrc <= 0xFFFFFFFF:
            raise ValueError(f"ssrc {self.ssrc} does not fit 32 bits")
        if not 0 <= self.local_port <= 65535:
            raise ValueError(f"bad local_port {self.local_port}")
        if self.sends_to_remote:
            _ip(self.remote_ip, "remote_ip")
            if not 1 <= self.remote_port <= 65535:
                raise ValueError(f"bad remote_port {self.remote_port}")
        if self.local_ip:
            _ip(self.local_ip, "local_ip")

    @property
    def sends_to_remote(self) -> bool:
        """UDP and TCP active need the platform's address; TCP passive waits for it."""
        return self.transport == "udp" or self.setup == "active"

    @classmethod
    def from_offer(
        cls, offer: PlayOffer, *, local_ip: str = "", local_port: int = 0, payload: Payload | None = None
    ) -> MediaTarget:
        """The target an INVITE offer asks for: its address, transport, our TCP role, SSRC and the payload
        (default: `choose_payload(offer)`, PS when offered)."""
        payload = payload or choose_payload(offer)
        return cls(
            transport=offer.transport,
            setup=answer_setup(offer.setup),
            remote_ip=offer.connection_ip,
            remote_port=offer.media_port,
            local_ip=local_ip,
            local_port=local_port,
            # A missing y= is allowed by some platforms; SSRC 0 is then as good as any.
            ssrc=int(offer.ssrc) if offer.ssrc else 0,
            payload_type=payload.pt,
            encoding=payload.encoding,
        )

    def any_address(self) -> str:
        if self.local_ip:
            return self.local_ip
        if self.remote_ip and ipaddress.ip_address(self.remote_ip).version == 6:
            return "::"
        return "0.0.0.0"  # noqa: S104 - "any address" is what an empty local_ip asks for


def _ip(value: str, what: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"bad {what} {value!r}: an IP address is expected") from None


@dataclass(slots=True)
class MediaStats:
    """Counters of one media session. Times are wall-clock (time.time()), for display."""

    frames_sent: int = 0
    packets_sent: int = 0  # RTP packets
    bytes_sent: int = 0  # on the wire above IP/UDP/TCP: RTP headers and RFC 4571 lengths included
    keyframes_sent: int = 0
    packets_skipped: int = 0  # before the first keyframe
    frames_dropped: int = 0  # send buffer full, unmuxable, and the frames after such up to a keyframe
    errors: int = 0
    last_error: str | None = None
    started_at: float | None = None  # the first frame sent
    last_sent_at: float | None = None
    peer: tuple[str, int] | None = None  # the platform's media address (TCP: the connection's peer)
    clock_resets: int = 0  # source timestamps that went back or jumped: a restarted source
    audio_frames_sent: int = 0
    audio_frames_dropped: int = 0  # before the first keyframe, off the video's timeline, or lost with a frame


def _rescale(value: int, time_base: Fraction) -> int:
    """value * time_base in 90 kHz ticks, rounded half up; integer arithmetic only."""
    num = value * time_base.numerator * CLOCK_RATE
    den = time_base.denominator
    return (2 * num + den) // (2 * den)


class Clock:
    """Maps packet timestamps onto one 90 kHz timeline that never goes back.

    The timeline follows the decode order (the DTS, else the PTS), which is monotonic even with
    B-frames; the PTS keeps its offset from the DTS. When the source restarts (its clock goes back,
    or jumps ahead by more than `max_jump` seconds) the timeline goes on one frame after the last
    one, with the frame duration last seen: the platform sees a continuous stream, not a rewind.
    """

    __slots__ = ("_last", "_max_jump", "_offset", "_step", "restarts")

    def __init__(self, *, max_jump: float = 10.0, default_step: int = CLOCK_RATE // 25) -> None:
        self._max_jump = int(max_jump * CLOCK_RATE)
        self._offset = 0
        self._last: int | None = None
        self._step = default_step
        self.restarts = 0

    def stamp(self, pts: int | None, dts: int | None, time_base: Fraction) -> tuple[int, int]:
        """(pts, dts) in 90 kHz ticks on the monotonic timeline."""
        base = dts if dts is not None else pts
        if base is None:
            # No timestamp at all: assume the frame rate seen so far.
            dts90 = 0 if self._last is None else self._last + self._step
        else:
            dts90 = _rescale(base, time_base) + self._offset
            if self._last is not None:
                delta = dts90 - self._last
                if 0 < delta <= self._max_jump:
                    self._step = delta
                else:
                    self.restarts += 1
                    self._offset += self._last + self._step - dts90
                    dts90 = self._last + self._step
        self._last = dts90
        if pts is None or dts is None or pts == dts:
            return dts90, dts90
        return dts90 + _rescale(pts - dts, time_base), dts90

    def stamp_audio(self, pts: int | None, time_base: Fraction, max_skew: int = AUDIO_MAX_SKEW) -> int | None:
        """A sound frame's PTS on the video's timeline (its source clock shares the video's origin, so the
        video's offset applies), or None when it is not on it: no video yet, no PTS, or farther than
        `max_skew` ticks from the last video frame (the source restarted and its video has not come
        back, so the offset is not known yet)."""
        if pts is None or self._last is None:
            return None
        ts = _rescale(pts, time_base) + self._offset
        return ts if abs(ts - self._last) <= max_skew else None


@dataclass(slots=True)
class _Picture:
    """Packets of one picture, collected until a packet with another pts arrives."""

    pts: int | None
    dts: int | None
    time_base: Fraction
    keyframe: bool
    parts: list[bytes]
    size: int

    @classmethod
    def start(cls, packet: Packet) -> _Picture:
        return cls(packet.pts, packet.dts, packet.time_base, packet.keyframe, [packet.data], packet.size)

    def takes(self, packet: Packet) -> bool:
        return (
            packet.pts is not None
            and packet.pts == self.pts
            and len(self.parts) < MAX_PICTURE_PARTS
            and self.size + packet.size <= MAX_PICTURE_BYTES
        )

    def add(self, packet: Packet) -> None:
        self.parts.append(packet.data)
        self.size += packet.size
        self.keyframe = self.keyframe or packet.keyframe


class MediaSender:
    """Sends one camera's packets to one platform session over RTP, as PS or as the elementary stream
    `target.encoding` names (see the module doc).

    Nothing happens in the constructor: `open()` binds, connects or starts listening and returns
    the local port for the SDP answer; `run(packets)` streams; `close()` stops (idempotent).
    `audio` (the source's sound track) puts the sound in the PS; an elementary stream carries video only.
    """

    def __init__(
        self,
        target: MediaTarget,
        codec: Codec,
        *,
        parameter_sets: bytes | None = None,
        audio: AudioInfo | None = None,
        write_buffer_limit: int = DEFAULT_WRITE_BUFFER_LIMIT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        accept_timeout: float = DEFAULT_ACCEPT_TIMEOUT,
        mtu_payload: int = DEFAULT_MTU_PAYLOAD,
        lossless: bool = False,
    ) -> None:
        if write_buffer_limit < 1:
            raise ValueError("write_buffer_limit must be positive")
        self.target = target
        self.codec: Codec = codec
        self.stats = MediaStats()
        self.clock = Clock()
        self._es = target.encoding != "PS"
        if self._es and target.encoding.lower() != codec:
            raise ValueError(f"cannot send {codec} as {target.encoding}")
        self.audio = None if self._es else _carried(audio)  # the sound codec sent, if any
        self._muxer = PsMuxer(  # validates the codec
            codec,
            parameter_sets=parameter_sets,
            audio=self.audio,
            audio_config=audio.extradata if audio is not None and self.audio == "aac" else None,
        )
        self._parameter_sets = parameter_sets or None
        self._audio: list[AudioFrame] = []  # sound frames waiting for a picture to ride with
        self._early: list[Packet] = []  # sound that came with the first picture, before the timeline
        self._stamped = False  # the first picture has been put on the timeline
        self._last_audio: int | None = None  # the last sound frame's PTS taken
        self._last_rtp: int | None = None  # PS: the last RTP timestamp sent, which the next ones never precede
        self._rtp = RtpPacketizer(target.ssrc, target.payload_type, mtu_payload)
        self._mtu = mtu_payload
        self._limit = write_buffer_limit
        self._lossless = lossless
        self._connect_timeout = connect_timeout
        self._accept_timeout = accept_timeout
        self._local_port = target.local_port
        self._opened = False
        self._closed = False
        self._running = False
        self._need_keyframe = True
        self._started = False  # the first keyframe has passed
        self._failure: MediaError | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        # UDP
        self._sock: socket.socket | None = None
        self._remote: tuple[str, int] = (target.remote_ip, target.remote_port)
        # TCP
        self._server: asyncio.Server | None = None
        self._accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    # --- public -----------------------------------------------------------------------------------

    @property
    def local_port(self) -> int:
        """The port for the SDP answer: the bound or listening port once open() has run."""
        return self._local_port

    @property
    def buffered(self) -> int:
        """Bytes waiting in our TCP write buffer (0 for UDP): what a stalled platform costs us."""
        writer = self._writer
        return 0 if writer is None or writer.transport.is_closing() else writer.transport.get_write_buffer_size()

    @property
    def closed(self) -> bool:
        return self._closed

    async def open(self) -> int:
        """Bind (UDP), connect (TCP active) or listen (TCP passive); returns the local port."""
        if self._closed:
            raise MediaError("media sender is closed")
        if self._opened:
            return self._local_port
        target = self.target
        if target.transport == "udp":
            self._open_udp()
        elif target.setup == "active":
            await self._connect()
        else:
            await self._listen()
        self._opened = True
        return self._local_port

    async def run(self, packets: AsyncIterator[Packet]) -> MediaStats:
        """Send until `packets` ends or close() is called; raises MediaError when the platform goes away.

        The sender is closed when run() returns. With TCP passive it first waits for the platform to
        connect (accept_timeout).
        """
        if self._running:
            raise RuntimeError("run() is already in progress")
        self._running = True
        try:
            if self._closed:  # a BYE came between open() and run()
                return self.stats
            await self.open()
            self._pump_task = asyncio.create_task(self._pump(packets), name=f"gb-media-{self.target.ssrc}")
            # wait(), not await: a pump cancelled by close() or by the connection watcher is an
            # ordinary end here, while a cancellation of run() itself still propagates.
            await asyncio.wait([self._pump_task])
            if self._failure is not None:
                raise self._failure
            if not self._pump_task.cancelled() and (exc := self._pump_task.exception()) is not None:
                raise exc
            if not self._closed:
                await self._finish_gracefully()
            return self.stats
        finally:
            if self._pump_task is not None and not self._pump_task.done():
                self._pump_task.cancel()
            self.close()

    def close(self) -> None:
        """Stop now: run() returns, sockets close, unsent TCP data is discarded. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for task in (self._pump_task, self._watch_task):
            if task is not None and not task.done() and task is not asyncio.current_task():
                task.cancel()
        if self._accepted is not None and not self._accepted.done():
            self._accepted.cancel()
        if self._server is not None:
            self._server.close()
        if self._writer is not None:
            # abort, not close: the session is over, nothing left in the buffer is wanted any more,
            # and a platform that stopped reading would otherwise keep the socket open.
            self._writer.transport.abort()
        if self._sock is not None:
            self._sock.close()

    async def aclose(self) -> None:
        """close(), then wait for the transports to finish closing."""
        self.close()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    # --- opening ----------------------------------------------------------------------------------

    def _open_udp(self) -> None:
        target = self.target
        family = socket.AF_INET6 if ipaddress.ip_address(target.remote_ip).version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        local = (target.any_address(), target.local_port)
        try:
            sock.setblocking(False)
            with contextlib.suppress(OSError):  # a smaller buffer only means earlier drops
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, UDP_SEND_BUFFER)
            sock.bind(local)
        except OSError as exc:
            sock.close()
            raise MediaError(f"cannot bind UDP {local[0]}:{local[1]}: {exc.strerror or exc}") from exc
        self._sock = sock
        self._local_port = int(sock.getsockname()[1])
        self.stats.peer = self._remote
        log.info("GB media UDP %s -> %s:%d, ssrc %d", self._local_port, *self._remote, target.ssrc)

    async def _connect(self) -> None:
        target = self.target
        where = f"{target.remote_ip}:{target.remote_port}"
        local = (target.any_address(), target.local_port) if target.local_port else None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(target.remote_ip, target.remote_port, local_addr=local),
                self._connect_timeout,
            )
        except TimeoutError:
            raise MediaError(f"TCP connect to {where} timed out after {self._connect_timeout:g} s") from None
        except OSError as exc:
            raise MediaError(f"TCP connect to {where} failed: {exc.strerror or exc}") from exc
        self._attach(reader, writer)

    async def _listen(self) -> None:
        target = self.target
        host = target.any_address()
        loop = asyncio.get_running_loop()
        self._accepted = loop.create_future()
        try:
            # One host, not None: with port 0 and every interface, each address family would get
            # its own ephemeral port, and the answer can only name one.
            self._server = await asyncio.start_server(self._on_connection, host, target.local_port, backlog=1)
        except OSError as exc:
            raise MediaError(f"cannot listen on {host}:{target.local_port}: {exc.strerror or exc}") from exc
        self._local_port = int(self._server.sockets[0].getsockname()[1])
        log.info("GB media TCP listening on %s:%d, ssrc %d", host, self._local_port, target.ssrc)

    def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted = self._accepted
        if accepted is None or accepted.done():
            writer.transport.abort()  # a session has exactly one platform connection
            return
        accepted.set_result((reader, writer))
        if self._server is not None:
            self._server.close()  # stop listening; the accepted connection stays

    async def _accept(self) -> None:
        assert self._accepted is not None
        try:
            reader, writer = await asyncio.wait_for(self._accepted, self._accept_timeout)
        except TimeoutError:
            raise MediaError(
                f"the platform did not connect to port {self._local_port} within {self._accept_timeout:g} s"
            ) from None
        self._attach(reader, writer)

    def _attach(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Whole frames are written at once; Nagle would only hold back the tail of each frame.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = writer.get_extra_info("peername")
        self.stats.peer = (str(peer[0]), int(peer[1])) if peer else None
        log.info("GB media TCP connected to %s, ssrc %d", self.stats.peer, self.target.ssrc)
        if self._closed:  # close() came while connecting
            writer.transport.abort()
            raise MediaError("media sender is closed")

    # --- sending ----------------------------------------------------------------------------------

    async def _pump(self, packets: AsyncIterator[Packet]) -> None:
        if self.target.transport == "tcp":
            if self._writer is None:
                await self._accept()
            assert self._reader is not None
            self._watch_task = asyncio.create_task(self._watch(self._reader))
        pending: _Picture | None = None
        async for packet in packets:
            if packet.is_audio:
                await self._take_audio(packet)
                continue
            if pending is not None and pending.takes(packet):
                pending.add(packet)
                continue
            if pending is not None:
                await self._send_picture(pending)
                pending = None
            if packet.codec != self.codec:
                # The PSM announced another stream type: the platform must re-INVITE.
                raise MediaError(f"the source changed codec from {self.codec} to {packet.codec}")
            if not self._started and not packet.keyframe:
                self.stats.packets_skipped += 1
                continue
            self._started = True
            pending = _Picture.start(packet)
        if pending is not None:
            await self._send_picture(pending)

    async def _take_audio(self, packet: Packet) -> None:
        """A sound frame: onto the video's timeline, then into the queue of the next picture's pack."""
        stats = self.stats
        if self._started and not self._stamped and self.audio is not None:
            # The first picture is still being collected: the timeline starts when it goes out.
            self._early.append(packet)
            return
        ts = self.clock.stamp_audio(packet.pts, packet.time_base) if self._started else None
        if (
            self.audio is None
            or packet.codec != self.audio
            or ts is None
            or (self._last_audio is not None and ts <= self._last_audio)  # repeated, or late
        ):
            stats.audio_frames_dropped += 1
            return
        self._last_audio = ts
        queue = self._audio
        queue.append((ts, packet.data))
        if ts - queue[0][0] >= AUDIO_HOLD or len(queue) >= MAX_AUDIO_QUEUE:
            # No picture came to take them (a stalled or 1-fps video): they go alone.
            self._audio = []
            await self._send_audio(queue, queue[0][0])

    async def _send_audio(self, frames: list[AudioFrame], timestamp: int) -> None:
        """Sound frames in a pack of their own, one RTP frame."""
        ps = self._muxer.mux_audio(frames)
        rtp_ts = self._rtp_time(timestamp)
        if self._lossless and self._writer is not None:
            await self._room_for(len(ps))
        sent = self._send_udp(ps, rtp_ts) if self._sock is not None else self._send_tcp(ps, rtp_ts)
        if sent:
            self.stats.audio_frames_sent += len(frames)
        else:
            self.stats.audio_frames_dropped += len(frames)

    def _rtp_time(self, timestamp: int) -> int:
        """PS: the frame's time, but never before (nor at) an earlier frame's, so that a pack of sound
        sent ahead of a late picture cannot make the RTP clock go back."""
        last = self._last_rtp
        if last is not None and timestamp <= last:
            timestamp = last + 1
        self._last_rtp = timestamp
        return timestamp

    async def _send_picture(self, picture: _Picture) -> None:
        if self._es:
            await self._send_es_picture(picture)
            return
        stats = self.stats
        pts90, dts90 = self.clock.stamp(picture.pts, picture.dts, picture.time_base)
        stats.clock_resets = self.clock.restarts
        if not self._stamped:
            self._stamped = True
            early, self._early = self._early, []
            for packet in early:
                await self._take_audio(packet)
        audio, self._audio = self._audio, []
        if self._need_keyframe and not picture.keyframe:
            stats.frames_dropped += 1
            if audio:  # the sound does not depend on the dropped pictures
                await self._send_audio(audio, dts90)
        else:
            try:
                ps = self._muxer.mux_parts(picture.parts, pts90, picture.keyframe, dts90, audio)
            except ValueError as exc:  # not Annex-B: nothing the platform could decode
                self._error(f"cannot mux a picture: {exc}")
                ps = b""
            if ps and self._lossless and self._writer is not None:
                await self._room_for(len(ps))
            rtp_ts = self._rtp_time(dts90)
            sent = bool(ps) and (self._send_udp(ps, rtp_ts) if self._sock is not None else self._send_tcp(ps, rtp_ts))
            if audio:
                if sent:
                    stats.audio_frames_sent += len(audio)
                else:
                    stats.audio_frames_dropped += len(audio)
            self._picture_sent(picture, sent)
        # Let the loop flush the socket, run close() and the watcher, whatever pace the source has.
        await asyncio.sleep(0)

    async def _send_es_picture(self, picture: _Picture) -> None:
        """One picture as RFC 6184 / RFC 7798 packets, timestamped with its PTS."""
        stats = self.stats
        pts90, _ = self.clock.stamp(picture.pts, picture.dts, picture.time_base)
        stats.clock_resets = self.clock.restarts
        if self._need_keyframe and not picture.keyframe:
            stats.frames_dropped += 1
        else:
            data = picture.parts[0] if len(picture.parts) == 1 else b"".join(picture.parts)
            if picture.keyframe and self._parameter_sets is not None and find_sps(self.codec, data) is None:
                data = insert_parameter_sets(self.codec, data, self._parameter_sets)
            payloads = nal_payloads(self.codec, data, self._mtu)
            if not payloads:
                self._error("cannot packetize a picture: no NAL unit in it (not Annex-B)")
            size = sum(len(p) for p in payloads) + len(payloads) * (_TCP_FRAMING + RTP_HEADER_SIZE)
            if payloads and self._lossless and self._writer is not None:
                await self._room_for(size)
            if not payloads:
                sent = False
            elif self._sock is not None:
                sent = self._send_udp_packets(self._rtp.packetize_payloads(payloads, pts90))
            else:
                frame = partial(self._rtp.packetize_payloads_tcp, payloads, pts90)
                sent = self._send_tcp_frame(size, len(payloads), frame)
            self._picture_sent(picture, sent)
        await asyncio.sleep(0)

    def _picture_sent(self, picture: _Picture, sent: bool) -> None:
        stats = self.stats
        if sent:
            self._need_keyframe = False
            now = time.time()
            if stats.started_at is None:
                stats.started_at = now
            stats.last_sent_at = now
            stats.frames_sent += 1
            stats.keyframes_sent += int(picture.keyframe)
        else:
            stats.frames_dropped += 1
            self._need_keyframe = True

    async def _room_for(self, size: int) -> None:
        """Lossless TCP: wait until the platform has read enough of the buffer for this picture."""
        writer = self._writer
        assert writer is not None
        while not writer.transport.is_closing():
            buffered = writer.transport.get_write_buffer_size()
            if not buffered or buffered + size <= self._limit:
                return
            try:
                await writer.drain()  # returns below the transport's low-water mark, or raises when lost
            except (ConnectionError, OSError) as exc:
                raise self._lost(exc) from None
            if writer.transport.get_write_buffer_size() == buffered:
                await asyncio.sleep(0.01)  # drain() returned at once: under the high-water mark already

    def _send_udp(self, ps: bytes, timestamp: int) -> bool:
        # The RTP timestamp follows the decode order (the DTS), the only order that never goes back.
        return self._send_udp_packets(self._rtp.packetize(ps, timestamp))

    def _send_udp_packets(self, packets: list[bytes]) -> bool:
        sock = self._sock
        assert sock is not None
        for packet in packets:
            try:
                sock.sendto(packet, self._remote)
            except BlockingIOError:  # EAGAIN: the socket buffer is full
                return False
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:  # ENOBUFS: the interface queue is full, like EAGAIN
                    self._error(f"UDP send to {self._remote[0]}:{self._remote[1]} failed: {exc.strerror or exc}")
                return False
            # Packets that went out count even when the rest of their frame does not: the sequence
            # numbers they used show the platform what was lost.
            self.stats.packets_sent += 1
            self.stats.bytes_sent += len(packet)
        return True

    def _send_tcp(self, ps: bytes, timestamp: int) -> bool:
        packets = -(-len(ps) // self._mtu)
        size = len(ps) + packets * (_TCP_FRAMING + RTP_HEADER_SIZE)
        return self._send_tcp_frame(size, packets, lambda: self._rtp.packetize_tcp(ps, timestamp))

    def _send_tcp_frame(self, size: int, packets: int, frame: Callable[[], bytes]) -> bool:
        """One frame's RFC 4571 bytes (`frame()`: `packets` packets, `size` bytes), or False when the
        platform is not reading fast enough for it."""
        writer = self._writer
        assert writer is not None
        if writer.transport.is_closing():
            # Lost before the watcher ran: the reader holds the reason (None: the platform closed).
            raise self._lost(self._reader.exception() if self._reader is not None else None)
        buffered = writer.transport.get_write_buffer_size()
        # Checked before packetizing, so a dropped frame uses no sequence numbers: on TCP a sequence
        # gap would look like loss, which TCP cannot have. An empty buffer takes any frame, so one
        # keyframe larger than the limit still goes out.
        if buffered and buffered + size > self._limit:
            return False
        writer.write(frame())
        self.stats.packets_sent += packets
        self.stats.bytes_sent += size
        return True

    def _error(self, message: str) -> None:
        self.stats.errors += 1
        self.stats.last_error = message
        log.warning("GB media ssrc %d: %s", self.target.ssrc, message)

    # --- TCP connection watch ---------------------------------------------------------------------

    async def _watch(self, reader: asyncio.StreamReader) -> None:
        """Reads (and discards) what the platform sends, to learn at once when it goes away,
        even while the source is idle and nothing is being written."""
        try:
            while await reader.read(_READ_CHUNK):
                pass
            error: OSError | None = None
        except OSError as exc:
            error = exc
        if self._closed:
            return
        self._lost(error)
        if self._pump_task is not None and not self._pump_task.done():
            self._pump_task.cancel()

    def _lost(self, error: BaseException | None) -> MediaError:
        """The one MediaError of a lost TCP connection, whoever notices first (watcher or writer)."""
        if self._failure is None:
            if error is None:
                reason = "the platform closed the media connection"
            elif isinstance(error, ConnectionResetError | BrokenPipeError):
                reason = "the platform reset the media connection"
            else:
                reason = f"the media connection failed: {getattr(error, 'strerror', None) or error}"
            self._failure = MediaError(reason)
            self._error(reason)
        return self._failure

    async def _finish_gracefully(self) -> None:
        """End of the packets: give the platform a moment to read what is buffered, then close."""
        writer = self._writer
        if writer is None or writer.transport.is_closing():
            return
        if self._watch_task is not None:
            self._watch_task.cancel()
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), CLOSE_LINGER)
        except (TimeoutError, OSError):
            writer.transport.abort()


def _carried(audio: AudioInfo | None) -> str | None:
    """The sound codec a PS session carries of the source's track: None when there is none, or when PS
    cannot carry it as announced (an AAC configuration ADTS cannot describe)."""
    if audio is None or audio.codec not in AUDIO_STREAM_TYPES:
        return None
    if audio.codec == "aac":
        try:
            AacConfig.parse(audio.extradata or b"")
        except AacConfigError as exc:
            log.info("GB media: the camera's AAC is not carried: %s", exc)
            return None
    return audio.codec
