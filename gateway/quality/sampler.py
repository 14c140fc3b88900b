"""Decode one keyframe every so often, in the camera's reader, and diagnose it.

Only keyframes are decoded (each one stands alone), at most one per interval, so the packet path
stays decode-free. Results travel with the next stats snapshot; no frame leaves the reader.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import cast

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.video.codeccontext import VideoCodecContext

from adapters.common.media import Packet, StreamInfo
from gateway.quality.checks import (
    CHECK_NAMES,
    CheckResult,
    FrozenTracker,
    Prepared,
    Reference,
    check_blank,
    check_dark,
    diagnose,
    prepare,
)
from gateway.quality.thresholds import DEFAULT_THRESHOLDS, QualityThresholds

log = logging.getLogger(__name__)

_DECODERS = {"h264": "h264", "h265": "hevc"}


@dataclass(frozen=True)
class SamplerSetup:
    """What one reading session needs for quality sampling; crosses into reader processes (pickled)."""

    interval_s: float
    thresholds: QualityThresholds = DEFAULT_THRESHOLDS
    reference: bytes | None = None  # the camera's stored reference picture (Reference.to_bytes)


class KeyframeSampler:
    def __init__(self, info: StreamInfo, interval_s: float, thresholds: QualityThresholds = DEFAULT_THRESHOLDS) -> None:
        self._interval_s = interval_s
        self._thresholds = thresholds
        self._next = 0.0
        self._codec = _DECODERS[info.codec]
        self._extradata = info.extradata
        self._frozen = FrozenTracker()
        self._reference: Reference | None = None
        self.new_reference: bytes | None = None  # set once, when this sampler took the camera's first reference
        self._held: list[bytes] = []
        self._held_pts: int | None = None

    @classmethod
    def from_setup(cls, info: StreamInfo, setup: SamplerSetup) -> KeyframeSampler:
        sampler = cls(info, setup.interval_s, setup.thresholds)
        if setup.reference is not None:
            try:
                sampler._reference = Reference.from_bytes(setup.reference)
            except ValueError as exc:
                # A damaged stored reference is replaced by a new one rather than stopping the checks.
                log.warning("quality reference of a camera is unreadable (%s); taking a new one", exc)
        return sampler

    def take_new_reference(self) -> bytes | None:
        data, self.new_reference = self.new_reference, None
        return data

    def offer(self, packet: Packet) -> tuple[CheckResult, ...] | None:
        """Take the packet; return a diagnosis when one is complete, else None (cheap).

        A due keyframe is held until the next packet shows whether more of the same picture follows:
        a camera that cuts pictures into slices can send one picture as several packets with one
        timestamp, and a lone first slice would decode as a partly grey picture.
        """
        if self._held:
            if packet.pts is not None and packet.pts == self._held_pts:
                self._held.append(packet.data)
                return None
            data, self._held = b"".join(self._held), []
            return self._diagnose(data)
        if not packet.keyframe or packet.arrival < self._next:
            return None
        self._next = packet.arrival + self._interval_s
        if packet.pts is None:
            return self._diagnose(packet.data)
        self._held, self._held_pts = [packet.data], packet.pts
        return None

    def _diagnose(self, data: bytes) -> tuple[CheckResult, ...]:
        try:
            frames = self._decode(data)
        except (av.error.FFmpegError, ValueError) as exc:
            return _not_checkable(f"keyframe did not decode: {type(exc).__name__}")
        if not frames:
            return _not_checkable("keyframe gave no picture")
        # bgr24 is always 8-bit; PyAV's type covers every pixel format.
        image = cast("npt.NDArray[np.uint8]", frames[-1].to_ndarray(format="bgr24"))
        prepared = prepare(image, self._thresholds)
        if self._reference is None and _good_reference(prepared, self._thresholds):
            self._reference = Reference.from_prepared(prepared)
            self.new_reference = self._reference.to_bytes()
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


def _good_reference(p: Prepared, t: QualityThresholds) -> bool:
    # A black, no-signal or unlit picture would make every later good picture read as "moved".
    return p.ok and check_blank(p, t).state == "pass" and check_dark(p, t).state == "pass"
