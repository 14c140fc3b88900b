"""Decode a keyframe every so often, in the camera's reader, with the keyframe after it, and diagnose them.

Only keyframes are decoded (each one stands alone): two per interval, so the packet path stays
decode-free. Results travel with the next stats snapshot; no frame leaves the reader.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import cast

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.video.codeccontext import VideoCodecContext

from adapters.common.media import Packet, StreamInfo
from gateway.quality.checks import diagnose
from gateway.quality.frames import CheckResult, Prepared, prepare
from gateway.quality.picture import check_blank, check_dark, mean_chroma
from gateway.quality.scene import Reference, SceneTracker
from gateway.quality.schedule import DayNight
from gateway.quality.temporal import Bitstream, FrozenTracker
from gateway.quality.thresholds import CHECK_NAMES, DEFAULT_THRESHOLDS, QualityThresholds

log = logging.getLogger(__name__)

_DECODERS = {"h264": "h264", "h265": "hevc"}
# A decode held longer than this is stuck (inside FFmpeg): a sample takes ~15-40 ms, and the most
# that queue at once (a start burst of 20, gateway.pipeline.readers) clear in under a second.
STUCK_S = 2.0
BUSY = "no picture decoder free in time: another camera's sample in this process is stuck"


class _Pictures:
    """One sample's pictures at a time in a process, whatever thread reads the session (the reading
    loop, a viewed camera's own thread, FFmpeg's reader): the C heap then keeps one sample's frame
    buffers for the next, not a set per reading thread (gateway.pipeline.heap).

    A decode stuck inside FFmpeg must not stop every other session of the process (the reading loop
    reads them all on one thread): a sample waits at most STUCK_S, and none waits at all once the
    holder has had it that long. A sample given up is said as not checkable and tried again an
    interval later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None  # when the holder took it; read without the lock (a hint)
        self._warned_at = -60.0

    def take(self) -> bool:
        since = self._since
        if (since is None or time.monotonic() - since <= STUCK_S) and self._lock.acquire(timeout=STUCK_S):
            self._since = time.monotonic()
            return True
        # Once a minute at most: every camera of the process would say it at each sample.
        now = time.monotonic()
        if now - self._warned_at >= 60:
            self._warned_at = now
            log.warning("quality samples: %s; samples are given up until it is free", BUSY)
        return False

    def give(self) -> None:
        self._since = None
        self._lock.release()


_PICTURES = _Pictures()


@dataclass(frozen=True)
class SamplerSetup:
    """What one reading session needs for quality sampling; crosses into reader processes (pickled)."""

    interval_s: float
    thresholds: QualityThresholds = DEFAULT_THRESHOLDS
    reference: bytes | None = None  # the camera's stored reference picture (Reference.to_bytes)
    day_night: DayNight | None = None  # night thresholds and when they apply; None: day all the time


class StartBudget:
    """How many sessions of one process may take their first sample, per second (a token bucket).

    Every session samples its first keyframe at once, for a verdict soon after a camera connects. When
    500 cameras connect together that is 1,000 keyframe decodes of 28 ms in the same seconds, on the
    cores that must also read the streams: measured, all 500 online took 5-41 s with the samples against
    5.0 s without. Past `burst`, first samples wait for a token (the next keyframe tries again), so a
    small site is not delayed and a large one spreads its first samples over a minute. Thread-safe."""

    def __init__(self, per_s: float, burst: int) -> None:
        self._per_s = per_s
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at: float | None = None
        self._lock = threading.Lock()

    def take(self, now: float) -> bool:
        with self._lock:
            if self._at is not None:
                self._tokens = min(self._burst, self._tokens + (now - self._at) * self._per_s)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


@dataclass
class _Pending:
    """The sampled keyframe, decoded and prepared, waiting for the next keyframe (the second picture)."""

    prepared: Prepared
    thresholds: QualityThresholds
    night: bool
    keyframe_bytes: int
    since: float
    p_sizes: list[int] = field(default_factory=list)
    last_pts: int | None = None


class KeyframeSampler:
    """Samples one keyframe per interval and diagnoses it together with the keyframe after it.

    Only keyframes are decoded (each stands alone): the sampled one and, when it comes within
    ``frozen_pair_max_s``, the next one, which gives the checks that compare two pictures close in
    time (frozen, shake) their second picture. The P-frames in between are only measured (their sizes),
    never decoded. The diagnosis is returned when the second keyframe arrives (or is given up on).
    """

    def __init__(
        self,
        info: StreamInfo,
        interval_s: float,
        thresholds: QualityThresholds = DEFAULT_THRESHOLDS,
        day_night: DayNight | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._interval_s = interval_s
        self._thresholds = thresholds
        self._day_night = day_night
        self._clock = clock
        self._next = 0.0
        self._starts: StartBudget | None = None  # None: the first sample is taken at once
        self._started = False
        self._codec = _DECODERS[info.codec]
        self._extradata = info.extradata
        self._frozen = FrozenTracker()
        self._scene = SceneTracker()
        self._reference: Reference | None = None
        self.new_reference: bytes | None = None  # set once, when this sampler took the camera's first reference
        self._held: list[bytes] = []
        self._held_pts: int | None = None
        self._pending: _Pending | None = None

    @classmethod
    def from_setup(cls, info: StreamInfo, setup: SamplerSetup, starts: StartBudget | None = None) -> KeyframeSampler:
        sampler = cls(info, setup.interval_s, setup.thresholds, setup.day_night)
        sampler._starts = starts
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

        A keyframe to decode is held until the next packet shows whether more of the same picture
        follows: a camera that cuts pictures into slices can send one picture as several packets with
        one timestamp, and a lone first slice would decode as a partly grey picture.
        """
        if self._held:
            if packet.pts is not None and packet.pts == self._held_pts:
                self._held.append(packet.data)
                return None
            data, self._held = b"".join(self._held), []
            done = self._keyframe(data, packet.arrival)
            # The packet that ended the keyframe is itself the first of the GOP.
            return done if done is not None else self._after_keyframe(packet)
        return self._after_keyframe(packet)

    def _after_keyframe(self, packet: Packet) -> tuple[CheckResult, ...] | None:
        pending = self._pending
        if pending is not None:
            if packet.keyframe:
                return self._hold(packet)
            if packet.pts is not None and packet.pts == pending.last_pts and pending.p_sizes:
                pending.p_sizes[-1] += packet.size  # another slice of the same picture
            else:
                pending.p_sizes.append(packet.size)
                pending.last_pts = packet.pts
            if packet.arrival - pending.since > pending.thresholds.frozen_pair_max_s:
                return self._finish(None)
            return None
        if not packet.keyframe or packet.arrival < self._next:
            return None
        if not self._started and self._starts is not None and not self._starts.take(packet.arrival):
            return None  # too many sessions starting in this process: the next keyframe asks again
        self._started = True
        self._next = packet.arrival + self._interval_s
        return self._hold(packet)

    def _hold(self, packet: Packet) -> tuple[CheckResult, ...] | None:
        if packet.pts is None:
            return self._keyframe(packet.data, packet.arrival)
        self._held, self._held_pts = [packet.data], packet.pts
        return None

    def _keyframe(self, data: bytes, arrival: float) -> tuple[CheckResult, ...] | None:
        """A whole keyframe: the sampled one (then wait for the next), or the second (then diagnose)."""
        pending = self._pending
        first = pending is None
        thresholds, night = self._thresholds_now() if pending is None else (pending.thresholds, pending.night)
        if not _PICTURES.take():
            return _not_checkable(BUSY) if first else self._finish(None)
        try:
            try:
                frames = self._decode(data)
            except (av.error.FFmpegError, ValueError) as exc:
                if first:
                    return _not_checkable(f"keyframe did not decode: {type(exc).__name__}")
                return self._finish(None)
            if not frames:
                return _not_checkable("keyframe gave no picture") if first else self._finish(None)
            # bgr24 is always 8-bit; PyAV's type covers every pixel format.
            image = cast("npt.NDArray[np.uint8]", frames[-1].to_ndarray(format="bgr24"))
            del frames  # the decoder's buffers go back to the heap before prepare takes its own
            prepared = prepare(image, thresholds)
            del image
        finally:
            _PICTURES.give()
        if not first:
            results = self._finish(prepared)
            if arrival >= self._next:
                # Due again already (an interval no longer than the GOP): this keyframe also opens the
                # next sample, so each keyframe is decoded once.
                self._next = arrival + self._interval_s
                self._pending = _Pending(prepared, *self._thresholds_now(), len(data), arrival)
            return results
        self._pending = _Pending(prepared, thresholds, night, len(data), arrival)
        return None

    def _thresholds_now(self) -> tuple[QualityThresholds, bool]:
        if self._day_night is None:
            return self._thresholds, False
        return self._day_night.pick(self._thresholds, self._clock())

    def _finish(self, second: Prepared | None) -> tuple[CheckResult, ...]:
        pending, self._pending = self._pending, None
        assert pending is not None
        prepared, t = pending.prepared, pending.thresholds
        if self._reference is None and _good_reference(prepared, t):
            self._reference = Reference.from_prepared(prepared)
            self.new_reference = self._reference.to_bytes()
        elif self._reference is not None and self._reference.chroma is None and _good_reference(prepared, t):
            # A reference stored before references kept the camera's usual colour: its scene stays, the
            # colour comes from this first good picture (stored with it).
            self._reference = replace(self._reference, chroma=mean_chroma(prepared))
            self.new_reference = self._reference.to_bytes()
        results = diagnose(
            prepared,
            thresholds=t,
            frozen=self._frozen,
            reference=self._reference,
            second=second,
            bitstream=Bitstream.of(pending.keyframe_bytes, pending.p_sizes) if second is not None else None,
            scene=self._scene,
        )
        if pending.night:
            results = [replace(r, detail=f"{r.detail} [night thresholds]") for r in results]
        return tuple(results)

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
