"""Cheap running figures from packets: frame rate, bitrate. No decoding, O(1) per packet."""

from __future__ import annotations

from collections import deque

from adapters.common.media import Packet, StreamInfo
from gateway.health.state import MeasuredStream


class StreamMeter:
    """Frame rate and bitrate over the packets of the last `window_s` of stream time.

    Both are computed from presentation timestamps, i.e. what the camera encodes, so network
    jitter or a burst after a stall does not show up as a change of frame rate. Packets without a
    timestamp fall back to their arrival time.
    """

    def __init__(self, info: StreamInfo, window_s: float = 5.0) -> None:
        self._info = info
        self._window_s = window_s
        self._tb = float(info.time_base)
        self._samples: deque[tuple[float, int]] = deque()
        self._bytes_in_window = 0

    def add(self, packet: Packet) -> None:
        t = packet.pts * self._tb if packet.pts is not None else packet.arrival
        if self._samples and t < self._samples[-1][0] - self._window_s:
            # Timestamps jumped backwards (camera restarted its clock): start the window afresh.
            self._samples.clear()
            self._bytes_in_window = 0
        self._samples.append((t, packet.size))
        self._bytes_in_window += packet.size
        horizon = t - self._window_s
        while self._samples and self._samples[0][0] < horizon:
            self._bytes_in_window -= self._samples.popleft()[1]

    def snapshot(self) -> MeasuredStream:
        fps = bitrate = None
        if len(self._samples) >= 2:
            span = max(s[0] for s in self._samples) - min(s[0] for s in self._samples)
            if span > 0:
                # n frames span n-1 frame intervals; the last frame's bytes lie outside the span.
                fps = round((len(self._samples) - 1) / span, 2)
                bitrate = round((self._bytes_in_window - self._samples[-1][1]) * 8 / span / 1000, 1)
        return MeasuredStream(
            codec=self._info.codec, width=self._info.width, height=self._info.height, fps=fps, bitrate_kbps=bitrate
        )
