"""Measured stream figures from packets alone: no decoding, O(1) work per packet.

Runs in the camera's reader thread. Frame rate and bitrate come from decode timestamps (what the
camera encodes), so network jitter or a burst after a hiccup does not read as a frame-rate change;
resolution, profile and level come from the SPS, parsed only when its bytes change.

Stream time alone cannot see a link too thin for the stream: the frames arrive ever later but keep
their spacing, so fps and bitrate look perfect while the camera falls behind real time. The
delivery ratio (media seconds received per second of arrival time) is what sees it.

The bitrate is averaged over whole GOPs (keyframe to keyframe), not over the last few seconds: a
"smart" codec (H.264+, Smart Codec) sends a keyframe every 4-10 s that may weigh as much as all the
P-frames of its GOP together, so a 5 s window read 16 or 70 kb/s of the same 43 kb/s stream
depending on whether the keyframe was in it (see docs/health.md).
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections import deque
from operator import itemgetter

from adapters.common.h26x import ParameterSetError, ParameterSetInfo, find_sps, nal_units_from_extradata, parse_sps
from adapters.common.media import Packet, StreamInfo
from gateway.health.state import MeasuredStream
from gateway.quality.frames import CheckResult

log = logging.getLogger(__name__)

# A forward step in timestamps larger than this many frame intervals (and at least JUMP_MIN_S) is a
# jump: the camera reset its clock, or frames were lost upstream of us.
JUMP_FRAMES = 10
JUMP_MIN_S = 1.0
# Packets arriving this much later than the previous one make a gap (the network or the camera paused).
GAP_S = 1.0
# The delivery ratio is taken over this much arrival time (the window ends at the snapshot's "now",
# so a thin trickle of packets reads slow whether or not its packets span the window). Reads come in
# bursts (the pacer naps up to half a second), so a shorter window reads jitter. The measurement
# needs DELIVERY_MIN_SPAN_S of arrival time behind it before a ratio is taken at all.
DELIVERY_WINDOW_S = 3.0
DELIVERY_MIN_SPAN_S = 1.5
# The reported ratio is the highest of those in force over this long: a hiccup followed by the
# catch-up burst reads low for an instant only.
DELIVERY_SUSTAIN_S = 1.6
# Arrival time counts in the window up to GAP_S per silence: a trickle of packets a second or less
# apart counts in full, but a stream that stops (the stall timeout's job) or pauses with its clock and
# resumes in real time counts at most GAP_S of it, which leaves the ratio at (3 - 1) / 3 at worst.


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
        # Whole GOPs for the bitrate, newest last: (stream seconds, bytes). Only as many as reach back
        # window_s (one, for a GOP longer than that). The open GOP's bytes so far, from its keyframe on.
        self._gops: deque[tuple[float, int]] = deque()
        self._gops_span = 0.0
        self._open_gop_bytes = 0
        # Delivery in arrival time: media seconds received so far, and (delivery clock, that total)
        # per frame. The delivery clock is arrival time with each silence cut to GAP_S.
        self._delivered = 0.0
        self._last_timed_arrival: float | None = None
        self._clock = 0.0
        self._clock_start: float | None = None  # the delivery clock when measuring (re)started
        self._delivery: deque[tuple[float, float]] = deque()
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
            self._open_gop_bytes += packet.size
            if packet.keyframe and (sps := find_sps(self._info.codec, packet.data)) is not None:
                self._use_sps(sps)
            return
        if t is not None:
            self._add_timed(t, packet.size, arrival)
        if packet.keyframe:
            self._add_keyframe(t, packet.data)
        else:
            self._open_gop_bytes += packet.size
        self._frame_index += 1

    def _add_timed(self, t: float, size: int, arrival: float) -> None:
        if self._last_t is not None:
            step = t - self._last_t
            fps = self._window_fps()
            limit = max(JUMP_MIN_S, JUMP_FRAMES / fps) if fps else JUMP_MIN_S * 5
            if step < 0 or step > limit:
                self.ts_jumps += 1
                self._window.clear()
                self._window_bytes = 0
                self._last_key_t = None
                # GOP durations across a clock jump are unknown; the next whole GOP starts afresh.
                self._gops.clear()
                self._gops_span = 0.0
                self._delivery_jump(step, arrival, 1 / fps if fps else 0.0)
            else:
                self._delivered += step
        self._add_delivery(arrival)
        self._last_t = t
        self._window.append((t, size))
        self._window_bytes += size
        horizon = t - self._window_s
        while self._window and self._window[0][0] < horizon:
            self._window_bytes -= self._window.popleft()[1]

    def _delivery_jump(self, step: float, arrival: float, frame_s: float) -> None:
        silence = arrival - self._last_timed_arrival if self._last_timed_arrival is not None else 0.0
        if step > 0 and silence < step / 2:
            # Timestamps leapt while data kept flowing: the frames between were dropped on the way
            # (a camera skipping ahead on a link too thin for it). Only the one frame arrived.
            self._delivered += frame_s
            return
        # A clock reset, or a silence that accounts for the leap (the clock ran on while nothing
        # came; gaps and the stall timeout report silence): measure delivery afresh.
        self._delivery.clear()
        self._clock_start = None

    def _add_delivery(self, arrival: float) -> None:
        if self._last_timed_arrival is not None:
            self._clock += min(max(0.0, arrival - self._last_timed_arrival), GAP_S)
        self._last_timed_arrival = arrival
        delivery = self._delivery
        if self._clock_start is None:
            self._clock_start = self._clock
        delivery.append((self._clock, self._delivered))
        # Keep what the sustain span's windows reach back to, and the last total before it.
        oldest = self._clock - DELIVERY_SUSTAIN_S - DELIVERY_WINDOW_S
        while len(delivery) > 1 and delivery[1][0] <= oldest:
            delivery.popleft()

    def _total_at(self, clock: float) -> float | None:
        """Media seconds received by this delivery-clock time (None: before the measurement)."""
        i = bisect_right(self._delivery, clock, key=itemgetter(0))
        return self._delivery[i - 1][1] if i else None

    def _ratio_at(self, clock: float, start: float) -> float:
        since = max(start, clock - DELIVERY_WINDOW_S)
        end, begin = self._total_at(clock), self._total_at(since)
        assert end is not None and begin is not None
        return (end - begin) / (clock - since)

    def realtime_ratio(self, now: float | None = None) -> float | None:
        """Media seconds received per second of arrival time, the highest over DELIVERY_SUSTAIN_S.

        1.0 keeps up with real time; 0.1 falls 0.9 s behind every second. ``now`` (monotonic, as
        packet arrivals) ends the window: the silence since the last packet counts, up to GAP_S.
        Without it the window ends at the last packet. None until measured long enough (start of a
        session, or after a clock reset).
        """
        start, last = self._clock_start, self._last_timed_arrival
        if start is None or last is None or not self._delivery:
            return None
        clock = self._clock + (min(max(0.0, now - last), GAP_S) if now is not None else 0.0)
        first = clock - DELIVERY_SUSTAIN_S
        if first - start < DELIVERY_MIN_SPAN_S:
            return None
        # The ratio is a step function of the clock: its highest over the span is at the span's
        # start or at a packet within it.
        best = max(self._ratio_at(first, start), self._ratio_at(clock, start))
        for at, _ in reversed(self._delivery):
            if at <= first:
                break
            if at <= clock:
                best = max(best, self._ratio_at(at, start))
        return best

    def _add_keyframe(self, t: float | None, data: bytes) -> None:
        self.keyframes += 1
        if self._last_key_index is not None:
            self.gop_frames = self._frame_index - self._last_key_index
        if t is not None and self._last_key_t is not None:
            self.keyframe_interval_s = round(t - self._last_key_t, 3)
            self._add_gop(t - self._last_key_t, self._open_gop_bytes)
        self._open_gop_bytes = len(data)
        self._last_key_index = self._frame_index
        self._last_key_t = t
        sps = find_sps(self._info.codec, data)
        if sps is not None:
            self._use_sps(sps)

    def _add_gop(self, seconds: float, size: int) -> None:
        if seconds <= 0:
            return
        self._gops.append((seconds, size))
        self._gops_span += seconds
        # Drop the oldest GOP once the newer ones reach back window_s without it.
        while len(self._gops) > 1 and self._gops_span - self._gops[0][0] >= self._window_s:
            self._gops_span -= self._gops.popleft()[0]

    def _gop_bitrate(self) -> tuple[float, float, int] | None:
        """(kb/s, stream seconds, whole GOPs): the newest whole GOPs that reach back window_s.

        The open GOP counts too once it has lasted longer than the last whole one: keyframes slowed
        down or stopped, and the figure must not stay at what the stream was sending before. Its last
        frame is left out, as in the window: n frames span n-1 intervals.
        """
        if not self._gops:
            return None
        span, size = self._gops_span, sum(b for _, b in self._gops)
        if self._last_t is not None and self._last_key_t is not None and self._window:
            open_span = self._last_t - self._last_key_t
            if open_span > self._gops[-1][0]:
                span += open_span
                size += self._open_gop_bytes - self._window[-1][1]
        return size * 8 / span / 1000, span, len(self._gops)

    def _window_fps(self) -> float | None:
        if len(self._window) < 2:
            return None
        span = self._window[-1][0] - self._window[0][0]
        return (len(self._window) - 1) / span if span > 0 else None

    def snapshot(self, now: float | None = None) -> MeasuredStream:
        """The figures now; ``now`` (monotonic) ends the delivery window, else the last packet does."""
        fps = self._window_fps()
        bitrate = bitrate_span = None
        gops = 0
        if (by_gop := self._gop_bitrate()) is not None:
            bitrate, bitrate_span, gops = by_gop
        elif fps is not None:
            # Before the first whole GOP (or in a stream with no keyframe in view): the last seconds,
            # which is what the policy never judges (see bitrate_gops).
            bitrate_span = self._window[-1][0] - self._window[0][0]
            # n frames span n-1 intervals; the last frame's bytes lie outside the span.
            bitrate = (self._window_bytes - self._window[-1][1]) * 8 / bitrate_span / 1000
        since_key = (
            self._last_t - self._last_key_t if self._last_t is not None and self._last_key_t is not None else None
        )
        ratio = self.realtime_ratio(now)
        # What the ratio reads once the silence after the last packet has lasted GAP_S: the
        # supervisor judges with it when no newer snapshot comes.
        idle = self.realtime_ratio(self._last_timed_arrival + GAP_S) if self._last_timed_arrival is not None else None
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
            bitrate_kbps=round(bitrate, 1) if bitrate is not None else None,
            bitrate_span_s=round(bitrate_span, 3) if bitrate_span is not None else None,
            bitrate_gops=gops,
            gop_frames=self.gop_frames,
            keyframe_interval_s=self.keyframe_interval_s
            if self.keyframe_interval_s is not None or not (self.gop_frames and fps)
            else round(self.gop_frames / fps, 3),
            since_keyframe_s=round(since_key, 3) if since_key is not None else None,
            packets=self.packets,
            bytes=self.bytes,
            ts_jumps=self.ts_jumps,
            gaps=self.gaps,
            max_gap_s=round(self.max_gap_s, 3),
            realtime_ratio=round(ratio, 3) if ratio is not None else None,
            realtime_ratio_idle=round(idle, 3) if idle is not None else None,
            quality=self.quality,
            quality_at=self.quality_at,
        )
