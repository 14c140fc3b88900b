"""A video track that hands a camera's H.264 access units to aiortc as they are (passthrough).

aiortc's RTP sender packs an `av.Packet` from `recv()` straight into RTP (RFC 6184) and encodes
only `av.VideoFrame`s, so a 1080p viewer costs the packetizing and SRTP, not a decode and encode.
A browser can start decoding only at an IDR picture with its SPS and PPS: a new viewer skips
to the next keyframe, and a keyframe that lacks its parameter sets (cameras that send them only
in the SDP) gets them from the stream's extradata.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any, Final

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from adapters.common.h26x import ParameterSetError, find_nal, iter_nal_units, nal_units_from_extradata
from adapters.common.media import Packet

VIDEO_CLOCK: Final = 90_000
VIDEO_TIME_BASE: Final = Fraction(1, VIDEO_CLOCK)
# A jump of the source clock larger than this (a camera reconnect, a wrapped pts) is a new epoch,
# not ten seconds of missing video: the RTP clock then goes on from where it was.
MAX_JUMP_TICKS: Final = 10 * VIDEO_CLOCK
_NAL_SPS, _NAL_PPS, _NAL_AUD = 7, 8, 9
_START: Final = b"\x00\x00\x00\x01"

# The next packet for a viewer, or None when the source has ended.
PacketSource = Callable[[], Awaitable[Packet | None]]


def parameter_sets(extradata: bytes | None) -> bytes:
    """SPS and PPS of an H.264 stream's extradata (Annex-B or avcC), as Annex-B; b"" if none."""
    if not extradata:
        return b""
    try:
        nals = nal_units_from_extradata(extradata, "h264")
    except ParameterSetError:
        return b""
    return b"".join(_START + nal for nal in nals if nal and nal[0] & 0x1F in (_NAL_SPS, _NAL_PPS))


def with_parameter_sets(data: bytes, params: bytes) -> bytes:
    """`data` (an IDR access unit) with `params` before its first slice unless it carries an SPS.

    An access unit delimiter must stay first (H.264 7.4.1.2.3), so the sets go after it."""
    if not params or find_nal("h264", data, _NAL_SPS) is not None:
        return data
    first = next(iter_nal_units(data), None)
    if first is not None and len(first) and first[0] & 0x1F == _NAL_AUD:
        end = data.find(b"\x00\x00\x01", data.find(b"\x00\x00\x01") + 3)
        if end != -1:
            end -= 1 if data[end - 1] == 0 else 0
            return data[:end] + params + data[end:]
    return params + data


class RtpClock:
    """90 kHz presentation timestamps from the source's pts: start at 0, follow the source, and go on
    smoothly over a discontinuity (a reconnect) or a packet without pts (arrival time instead)."""

    def __init__(self) -> None:
        self._offset: int | None = None
        self._last: int | None = None
        self._last_arrival = 0.0

    def ticks(self, pts: int | None, time_base: Fraction, arrival: float) -> int:
        elapsed = round((arrival - self._last_arrival) * VIDEO_CLOCK) if self._last is not None else 0
        if pts is None:
            ts = (self._last or 0) + max(elapsed, 1)
        else:
            source = round(pts * time_base * VIDEO_CLOCK)
            if self._offset is None:
                self._offset = -source
            ts = source + self._offset
            if self._last is not None and abs(ts - self._last) > MAX_JUMP_TICKS:
                self._offset = self._last + max(elapsed, 1) - source
                ts = source + self._offset
        self._last, self._last_arrival = ts, arrival
        return ts


class H264PassthroughTrack(MediaStreamTrack):
    """Encoded H.264 for one viewer. `source` gives this viewer's packets (its own queue)."""

    kind = "video"

    def __init__(self, source: PacketSource, extradata: bytes | None) -> None:
        super().__init__()
        self._source = source
        self._params = parameter_sets(extradata)
        self._synced = False
        self._clock = RtpClock()
        self.frames_sent = 0
        self.frames_skipped = 0
        # Monotonic arrival of the packet last handed to the sender: for latency figures.
        self.last_arrival: float | None = None
        self.first_frame_at: float | None = None

    def set_extradata(self, extradata: bytes | None) -> None:
        """The source reopened (maybe with new parameter sets)."""
        self._params = parameter_sets(extradata)
        self.resync()

    def resync(self) -> None:
        """Packets were lost before this track saw them: wait for the next keyframe again."""
        self._synced = False

    async def recv(self) -> av.Packet[Any]:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            packet = await self._source()
            if packet is None:
                self.stop()
                raise MediaStreamError
            if not self._synced:
                if not packet.keyframe:
                    self.frames_skipped += 1
                    continue
                self._synced = True
            data = with_parameter_sets(packet.data, self._params) if packet.keyframe else packet.data
            out = av.Packet(data)
            out.pts = out.dts = self._clock.ticks(packet.pts, packet.time_base, packet.arrival)
            out.time_base = VIDEO_TIME_BASE
            self.frames_sent += 1
            self.last_arrival = packet.arrival
            if self.first_frame_at is None:
                self.first_frame_at = time.monotonic()
            return out
