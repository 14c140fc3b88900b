"""A video track that decodes a camera's stream so that aiortc re-encodes it (VP8 or H.264).

For cameras a browser cannot decode as sent (H.265 with no H.264 sub stream). It costs a decode
and an encode per viewer, about a core for 1080p, so the gateway labels such sessions "transcoded".
Every packet is decoded (a decoder that misses one breaks until the next keyframe) in a worker
thread; the sender takes the newest picture, so a slow encoder drops pictures, not packets.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final, cast

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.video.codeccontext import VideoCodecContext

from adapters.common.h26x import ParameterSetError, nal_units_from_extradata
from adapters.webrtc.track import VIDEO_TIME_BASE, PacketSource, RtpClock

_DECODERS: Final = {"h264": "h264", "h265": "hevc"}
# Re-encoding 1080p in software is the cost that matters: pictures wider than this are scaled down.
MAX_WIDTH: Final = 1280


class DecodedVideoTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, source: PacketSource, codec: str, extradata: bytes | None, max_width: int = MAX_WIDTH) -> None:
        super().__init__()
        self._source = source
        self._decoder = cast(VideoCodecContext, av.CodecContext.create(_DECODERS[codec], "r"))
        self._prefix = b""
        if extradata:
            with contextlib.suppress(ParameterSetError):
                self._prefix = b"".join(b"\x00\x00\x00\x01" + n for n in nal_units_from_extradata(extradata, codec))
        self._max_width = max_width
        self._clock = RtpClock()
        self._latest: av.VideoFrame | None = None
        self._fresh = asyncio.Event()
        self._ended = False
        self._task: asyncio.Task[None] | None = None
        self.frames_decoded = 0
        self.frames_sent = 0

    def _decode(self, data: bytes) -> list[av.VideoFrame]:
        try:
            return list(self._decoder.decode(av.Packet(data)))
        except av.error.FFmpegError:
            return []  # a damaged picture: the next keyframe repairs the stream

    async def _run(self) -> None:
        synced = False
        try:
            while (packet := await self._source()) is not None:
                if not synced and not packet.keyframe:
                    continue
                data = self._prefix + packet.data if not synced else packet.data
                synced = True
                frames = await asyncio.to_thread(self._decode, data)
                if not frames:
                    continue
                frame = frames[-1]
                if frame.width > self._max_width:
                    height = frame.height * self._max_width // frame.width // 2 * 2
                    frame = frame.reformat(width=self._max_width, height=height)
                frame.pts = self._clock.ticks(packet.pts, packet.time_base, packet.arrival)
                frame.time_base = VIDEO_TIME_BASE
                self.frames_decoded += 1
                self._latest = frame
                self._fresh.set()
        finally:
            self._ended = True
            self._fresh.set()

    async def recv(self) -> av.VideoFrame:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            await self._fresh.wait()
            self._fresh.clear()
            frame, self._latest = self._latest, None
            if frame is not None:
                self.frames_sent += 1
                return frame
            if self._ended:
                self.stop()
                raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        if self._task is not None:
            self._task.cancel()
