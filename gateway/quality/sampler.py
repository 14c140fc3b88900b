"""Decode one keyframe every so often, in the camera's reader, and diagnose it.

Only keyframes are decoded (each one stands alone), at most one per interval, so the packet path
stays decode-free. Results travel with the next stats snapshot; no frame leaves the reader.
"""

from __future__ import annotations

from typing import cast

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.video.codeccontext import VideoCodecContext

from adapters.common.media import Packet, StreamInfo
from gateway.quality.checks import CHECK_NAMES, CheckResult, FrozenTracker, Reference, diagnose, prepare
from gateway.quality.thresholds import DEFAULT_THRESHOLDS, QualityThresholds

_DECODERS = {"h264": "h264", "h265": "hevc"}


class KeyframeSampler:
    def __init__(self, info: StreamInfo, interval_s: float, thresholds: QualityThresholds = DEFAULT_THRESHOLDS) -> None:
        self._interval_s = interval_s
        self._thresholds = thresholds
        self._next = 0.0
        self._codec = _DECODERS[info.codec]
        self._extradata = info.extradata
        self._frozen = FrozenTracker()
        # Unfinished: the reference for "camera moved" is the first sample of the session; storing one
        # per camera across restarts belongs to the coverage work (issue 5).
        self._reference: Reference | None = None

    def offer(self, packet: Packet) -> tuple[CheckResult, ...] | None:
        """Diagnose this packet if it is a keyframe and a sample is due; else None (cheap)."""
        if not packet.keyframe or packet.arrival < self._next:
            return None
        self._next = packet.arrival + self._interval_s
        try:
            frames = self._decode(packet.data)
        except (av.error.FFmpegError, ValueError) as exc:
            return _not_checkable(f"keyframe did not decode: {type(exc).__name__}")
        if not frames:
            return _not_checkable("keyframe gave no picture")
        # bgr24 is always 8-bit; PyAV's type covers every pixel format.
        image = cast("npt.NDArray[np.uint8]", frames[-1].to_ndarray(format="bgr24"))
        prepared = prepare(image, self._thresholds)
        if self._reference is None and prepared.ok:
            self._reference = Reference.from_prepared(prepared)
        return tuple(diagnose(prepared, thresholds=self._thresholds, frozen=self._frozen, reference=self._reference))

    def _decode(self, data: bytes) -> list[av.VideoFrame]:
        # A decoder only for this keyframe, freed right after: a 1080p decoder holds ~10 MB of
        # buffers, too much to keep for each of hundreds of cameras between samples every minute.
        decoder = cast(VideoCodecContext, av.CodecContext.create(self._codec, "r"))
        decoder.thread_count = 1
        if self._extradata:
            decoder.extradata = self._extradata
        frames = list(decoder.decode(av.Packet(data)))
        frames.extend(decoder.decode(None))  # flush: an isolated keyframe is complete on its own
        return frames


def _not_checkable(detail: str) -> tuple[CheckResult, ...]:
    return tuple(CheckResult(name, 0.0, "not_checkable", detail) for name in CHECK_NAMES)
