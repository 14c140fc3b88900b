"""From packets to the few frames analytics look at: decode, sample at the analysis rate, gate on motion.

Every packet is decoded (a P-frame needs the frames before it), but only one frame per 1/fps of
stream time is converted to pixels, and only frames with motion (or live tracks, or a periodic
refresh) go on to the detector. That is where the CPU goes, so each step counts what it does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

import av
import av.error
import cv2
import numpy as np
import numpy.typing as npt
from av.video.codeccontext import VideoCodecContext

from adapters.common.media import Packet, StreamInfo
from gateway.config.analytics import MotionConfig
from models.base import Box

log = logging.getLogger(__name__)

_DECODERS = {"h264": "h264", "h265": "hevc"}
# Width of the grey picture motion is measured on: a 1080p frame shrinks 36x in area, so motion
# costs about a millisecond, and a person 24 px wide at 1080p is still 4 px here, enough to
# survive the speckle filter.
MOTION_WIDTH = 320
_SPECKLE = np.ones((3, 3), np.uint8)
# Joins a walker's moving limbs, head and the shadow at their feet into one blob (at MOTION_WIDTH, 7 px
# is 40 px of a 1080p picture); regions are squares of the model's side around each blob anyway.
_JOIN = np.ones((7, 7), np.uint8)
_MAX_BLOBS = 32  # the largest ones; more means the whole picture moves, and regions merge to it


@dataclass(frozen=True)
class Frame:
    image: npt.NDArray[np.uint8]  # H x W x 3 BGR
    at: float  # stream seconds: pts when the source has them, else arrival time
    arrival: float  # time.monotonic() when its packet was read


@dataclass
class SamplerCounters:
    packets: int = 0
    decoded: int = 0
    sampled: int = 0
    decode_errors: int = 0
    skipped_to_keyframe: int = 0  # packets thrown away while waiting for a keyframe after a gap


class FrameSampler:
    """Decodes one camera's packets and returns a frame every 1/fps seconds of stream time."""

    def __init__(self, info: StreamInfo, fps: float, *, threads: int = 1) -> None:
        if info.codec not in _DECODERS:
            raise ValueError(f"cannot decode {info.codec}")
        self._info = info
        self._interval = 1.0 / fps
        self._threads = threads
        self._next_at: float | None = None
        self._need_keyframe = True
        self._decoder = self._new_decoder()
        self.counters = SamplerCounters()

    def _new_decoder(self) -> VideoCodecContext:
        decoder = cast(VideoCodecContext, av.CodecContext.create(_DECODERS[self._info.codec], "r"))
        # One thread per camera: with many cameras the decoders already fill the cores, and frame
        # threads would add a frame of latency each.
        decoder.thread_count = self._threads
        if self._info.extradata:
            decoder.extradata = self._info.extradata
        return decoder

    def _due(self, at: float) -> bool:
        nxt = self._next_at
        # Time going back by more than a few frames: a looped clip or a camera clock reset.
        if nxt is None or at >= nxt or at < nxt - 2 * self._interval:
            # Keep the cadence (25 fps sampled at 2 fps is every 12.5 frames, not every 13) unless
            # we fell more than a whole interval behind.
            self._next_at = (
                nxt + self._interval if nxt is not None and nxt <= at < nxt + self._interval else at + self._interval
            )
            return True
        return False

    def gap(self) -> None:
        """Packets were lost (a full queue, a reconnect): wait for a keyframe, the next clean start."""
        self._need_keyframe = True

    def offer(self, packet: Packet, at: float | None = None) -> Frame | None:
        """Decode this packet; return its picture if a sample is due. `at`: its stream time."""
        self.counters.packets += 1
        if self._need_keyframe:
            if not packet.keyframe:
                self.counters.skipped_to_keyframe += 1
                return None
            self._need_keyframe = False
        if at is None:
            pts = packet.pts_seconds()
            at = pts if pts is not None else packet.arrival
        try:
            # Through the parser, not straight to the decoder: RTSP hands over a camera that cuts its
            # pictures into several slices one slice per packet, and a decoder fed those as whole
            # pictures returns broken (black) frames. The parser reassembles whole pictures.
            frames = [f for unit in self._decoder.parse(packet.data) for f in self._decoder.decode(unit)]
        except (av.error.FFmpegError, ValueError) as exc:
            # A corrupt packet costs the rest of its GOP, never the session.
            self.counters.decode_errors += 1
            log.debug("%s: packet did not decode (%s); waiting for a keyframe", packet.source_id, exc)
            self._decoder = self._new_decoder()
            self._need_keyframe = True
            return None
        picked: av.VideoFrame | None = None
        for frame in frames:
            self.counters.decoded += 1
            if self._due(at):
                picked = frame
        if picked is None:
            return None
        self.counters.sampled += 1
        image = cast("npt.NDArray[np.uint8]", picked.to_ndarray(format="bgr24"))
        return Frame(image, at, packet.arrival)


@dataclass(frozen=True)
class Motion:
    moving: bool
    changed_percent: float
    boxes: tuple[Box, ...] = ()  # the moving blobs, in pixels of the frame checked, largest first


class MotionGate:
    """Frame differencing against a slowly adapting background, on a small blurred grey picture."""

    def __init__(self, config: MotionConfig) -> None:
        self._config = config
        self._background: npt.NDArray[np.float32] | None = None

    def check(self, image: npt.NDArray[np.uint8]) -> Motion:
        h, w = image.shape[:2]
        small_h = max(1, round(h * MOTION_WIDTH / w))
        grey = cv2.cvtColor(
            cv2.resize(image, (MOTION_WIDTH, small_h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY
        )
        grey = cv2.GaussianBlur(grey, (5, 5), 0)
        if self._background is None or self._background.shape != grey.shape:
            self._background = grey.astype(np.float32)
            return Motion(True, 100.0)  # nothing to compare with yet: look once
        diff = cv2.absdiff(grey, cv2.convertScaleAbs(self._background))
        raw = (diff > self._config.threshold).astype(np.uint8)
        # Opening removes speckles: sensor noise, and the "keyframe pulse" of a noisy night scene
        # (an I-frame renders the grain differently from the P-frames before it). A person, even a
        # distant one, is a blob that survives it.
        mask = cv2.morphologyEx(raw, cv2.MORPH_OPEN, _SPECKLE)
        changed = float(np.count_nonzero(mask)) * 100.0 / mask.size
        moving = changed >= self._config.min_area_percent
        boxes = _blobs(mask, w / MOTION_WIDTH, h / small_h) if moving else ()
        # Adapt fast (half each sample, i.e. each 0.5 s at 2 fps): someone who left stops counting as
        # motion within a second instead of leaving a ghost for ten. People who stand still are kept
        # by the tracker, not by the gate.
        cv2.accumulateWeighted(grey, self._background, 0.5)
        return Motion(moving, changed, boxes)


def _blobs(mask: npt.NDArray[np.integer[Any] | np.floating[Any]], sx: float, sy: float) -> tuple[Box, ...]:
    """Bounding boxes of the motion mask's blobs, scaled by (sx, sy) to the frame's pixels."""
    joined = cv2.dilate(mask, _JOIN)
    count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(joined, connectivity=8)
    rows = sorted(stats[1:count].tolist(), key=lambda r: r[cv2.CC_STAT_AREA], reverse=True)[:_MAX_BLOBS]
    # The dilation grew each blob by up to 3 px a side (less at the picture's edge): take it back.
    boxes = []
    for x, y, bw, bh, _area in rows:
        dx, dy = min(3, (bw - 1) // 2), min(3, (bh - 1) // 2)
        boxes.append(((x + dx) * sx, (y + dy) * sy, (x + bw - dx) * sx, (y + bh - dy) * sy))
    return tuple(boxes)
