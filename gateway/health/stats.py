"""Measured stream figures from packets alone: no decoding, O(1) work per packet.

Runs in the camera's reader thread. Frame rate and bitrate come from decode timestamps (what the
camera encodes), so network jitter or a burst after a hiccup does not read as a frame-rate change;
resolution, profile and level come from the SPS, parsed only when its bytes change.
"""

from __future__ import annotations

import logging
from collections import deque

from adapters.common.h26x import ParameterSetError, ParameterSetInfo, find_sps, nal_units_from_extradata, parse_sps
from adapters.common.media import Packet, StreamInfo
from gateway.health.state import MeasuredStream
from gateway.quality.checks import CheckResult

log = logging.getLogger(__name__)

# A forward step in timestamps larger than this many frame intervals (and at least JUMP_MIN_S) is a
# jump: the camera reset its clock, or frames were lost upstream of us.
JUMP_FRAMES = 10
JUMP_MIN_S = 1.0
# Packets arriving this much later than the previous one make a gap (the network or the camera paused).
GAP_S = 1.0


class StreamStats:
    def __init__(self, info: StreamInfo, window_s: float = 5.0) -> None:
        self._info = info
        self._window_s = window_s
        self._tb = float(info.time_base)
        self._window: deque[tuple[float, int]] = deque()  # (stream time s, bytes)
        self._window_bytes = 0
        self._last_t: float | None = None
        self._last_arrival: float | None = None
        self._frame_index = 0
        self._last_key_index: int | None = None
        self._last_key_t: float | None = None
        self.packets = 0
        self.bytes = 0
        self.keyframes = 0
        self.ts_jumps = 0
        self.gaps = 0
        self.max_gap_s = 0.0
        self.gop_frames: int | None = None
        self.keyframe_interval_s: float | None = None
        self._sps: bytes | None = None
        self.sps_info: ParameterSetInfo | None = None
        self.quality: tuple[CheckResult, ...] = ()
        self.quality_at: float | None = None
        if info.extradata:
            self._sps_from_extradata(info.extradata)

    def _sps_from_extradata(self, extradata: bytes) -> None:
        try:
            units = nal_units_from_extradata(extradata, self._info.codec)
        except ParameterSetError:
            return
        for unit in units:
            sps = find_sps(self._info.codec, b"\x00\x00\x00\x01" + unit)
            if sps is not None:
                self._use_sps(sps)
                return

    def _use_sps(self, sps: bytes) -> None:
        if sps == self._sps:
            return
        self._sps = sps
        try:
            self.sps_info = parse_sps(self._info.codec, sps)
        except ParameterSetError as exc:
            # Hostile or damaged parameter sets must not stop measuring; keep the SDP's figures.
            log.debug("%s: unparseable SPS: %s", self._info.codec, exc)

    def add(self, packet: Packet) -> None:
        self.packets += 1
        self.bytes += packet.size
        arrival = packet.arrival
        if self._last_arrival is not None:
            gap = arrival - self._last_arrival
            if gap > GAP_S:
                self.gaps += 1
                self.max_gap_s = max(self.max_gap_s, gap)
        self._last_arrival = arrival

        ts = packet.dts if packet.dts is not None else packet.pts
        # FFmpeg's RTSP client gives the first packet of a session no timestamp.
        t = ts * self._tb if ts is not None else None
        if t is not None and t == self._last_t:
            # Another part of the same picture: a camera that cuts pictures into slices can have
            # them arrive as separate packets with one timestamp. One frame, more bytes.
            self._window[-1] = (t, self._window[-1][1] + packet.size)
            self._window_bytes += packet.size
            if packet.keyframe and (sps := find_sps(self._info.codec, packet.data)) is not None:
                self._use_sps(sps)
            return
        if t is not None:
            self._add_timed(t, packet.size)
        if packet.keyframe:
            self._add_keyframe(t, packet.data)
        self._frame_index += 1

    def _add_timed(self, t: float, size: int) -> None:
        if self._last_t is not None:
            step = t - self._last_t
            fps = self._window_fps()
            limit = max(JUMP_MIN_S, JUMP_FRAMES / fps) if fps else JUMP_MIN_S * 5
            if step < 0 or step > limit:
                self.ts_jumps += 1
                self._window.clear()
                self._window_bytes = 0
                self._last_key_t = None
        self._last_t = t
        self._window.append((t, size))
        self._window_bytes += size
        horizon = t - self._window_s
        while self._window and self._window[0][0] < horizon:
            self._window_bytes -= self._window.popleft()[1]

    def _add_keyframe(self, t: float | None, data: bytes) -> None:
        self.keyframes += 1
        if self._last_key_index is not None:
            self.gop_frames = self._frame_index - self._last_key_index
        if t is not None and self._last_key_t is not None:
            self.keyframe_interval_s = round(t - self._last_key_t, 3)
        self._last_key_index = self._frame_index
        self._last_key_t = t
        sps = find_sps(self._info.codec, data)
        if sps is not None:
            self._use_sps(sps)

    def _window_fps(self) -> float | None:
        if len(self._window) < 2:
            return None
        span = self._window[-1][0] - self._window[0][0]
        return (len(self._window) - 1) / span if span > 0 else None

    def snapshot(self) -> MeasuredStream:
        fps = self._window_fps()
        bitrate = None
        if fps is not None:
            span = self._window[-1][0] - self._window[0][0]
            # n frames span n-1 intervals; the last frame's bytes lie outside the span.
            bitrate = round((self._window_bytes - self._window[-1][1]) * 8 / span / 1000, 1)
        sps = self.sps_info
        width = sps.width if sps else self._info.width
        height = sps.height if sps else self._info.height
        return MeasuredStream(
            codec=self._info.codec,
            profile=sps.profile if sps else self._info.profile,
            level=sps.level if sps else None,
            width=width,
            height=height,
            resolution_source="sps" if sps else ("sdp" if width else None),
            fps=round(fps, 2) if fps is not None else None,
            signalled_fps=sps.fps if sps and sps.fps else self._info.nominal_fps,
            bitrate_kbps=bitrate,
            gop_frames=self.gop_frames,
            keyframe_interval_s=self.keyframe_interval_s
            if self.keyframe_interval_s is not None or not (self.gop_frames and fps)
            else round(self.gop_frames / fps, 3),
            packets=self.packets,
            bytes=self.bytes,
            ts_jumps=self.ts_jumps,
            gaps=self.gaps,
            max_gap_s=round(self.max_gap_s, 3),
            quality=self.quality,
            quality_at=self.quality_at,
        )
