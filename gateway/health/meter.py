"""Cheap running figures from packets: frame rate, bitrate. No decoding, O(1) per packet."""

from __future__ import annotations

from collections import deque

from adapters.common.media import Packet, StreamInfo
from gateway.health.state import MeasuredStream


class StreamMeter:
    """Sliding-window frame rate and bitrate, computed from arrival times of the last `window_s`."""

    def __init__(self, info: StreamInfo, window_s: float = 5.0) -> None:
        self._info = info
        self._window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()
        self._bytes_in_window = 0

    def add(self, packet: Packet) -> None:
        self._samples.append((packet.arrival, packet.size))
        self._bytes_in_window += packet.size
        horizon = packet.arrival - self._window_s
        while self._samples and self._samples[0][0] < horizon:
            self._bytes_in_window -= self._samples.popleft()[1]

    def snapshot(self) -> MeasuredStream:
        fps = bitrate = None
        if len(self._samples) >= 2:
            span = self._samples[-1][0] - self._samples[0][0]
            if span > 0:
                # n samples span n-1 frame intervals.
                fps = round((len(self._samples) - 1) / span, 2)
                bitrate = round((self._bytes_in_window - self._samples[0][1]) * 8 / span / 1000, 1)
        return MeasuredStream(
            codec=self._info.codec, width=self._info.width, height=self._info.height, fps=fps, bitrate_kbps=bitrate
        )
