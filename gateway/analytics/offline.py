"""The analytics pipeline run on a clip or a URL, start to end in one thread: `gateway detect`.

Same sampler, motion gate, tracker and rules as the live service, so what a rule does here is
what it will do on the camera; only the threads and the event store are left out.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import av
import av.error

from adapters.common.media import Packet, StreamInfo
from adapters.rtsp import Reason, RtspSource, SourceError
from gateway.analytics.analyzer import AnalyzerCounters, CameraAnalyzer, persons
from gateway.analytics.frames import Frame, FrameSampler, SamplerCounters
from gateway.analytics.regions import RegionCounters
from gateway.analytics.rules import RuleHit
from gateway.config.analytics import AnalyticsConfig, CameraAnalytics
from gateway.streams.sources import url_source
from models.base import Detection, Detector

_RAW_FORMATS = {".h264": "h264", ".264": "h264", ".h265": "hevc", ".265": "hevc", ".hevc": "hevc"}
_CODECS = {"h264": "h264", "hevc": "h265"}


class FileSource:
    """Packets of the first video track of a file (MP4, MKV, raw Annex-B .h264/.h265)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._container: Any = None
        self._stream: Any = None
        self.info: StreamInfo | None = None

    def open(self) -> StreamInfo:
        fmt = _RAW_FORMATS.get(self._path.suffix.lower())
        try:
            self._container = av.open(str(self._path), format=fmt)
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(Reason.PROTOCOL, f"cannot open {self._path.name}: {exc}") from None
        videos = list(self._container.streams.video)
        if not videos or videos[0].codec_context.name not in _CODECS:
            self.close()
            raise SourceError(Reason.UNSUPPORTED_CODEC, f"{self._path.name} has no H.264/H.265 video")
        self._stream = stream = videos[0]
        ctx = stream.codec_context
        # A raw Annex-B stream has no container timing: FFmpeg's "average" is a made-up 25, while
        # the rate from the SPS (ctx.framerate) is what the encoder declared.
        rate = (ctx.framerate or stream.guessed_rate or stream.average_rate) if fmt else stream.average_rate
        self.info = StreamInfo(
            codec=_CODECS[ctx.name],
            width=ctx.width or None,
            height=ctx.height or None,
            profile=None,
            nominal_fps=float(rate) if rate else None,
            time_base=Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000),
            extradata=bytes(ctx.extradata) if ctx.extradata else None,
        )
        return self.info

    def packets(self) -> Iterator[Packet]:
        assert self.info is not None
        try:
            for pkt in self._container.demux(self._stream):
                if pkt.size == 0:
                    break
                yield Packet(
                    source_id=self._path.name,
                    codec=self.info.codec,
                    pts=pkt.pts,
                    dts=pkt.dts,
                    time_base=self.info.time_base,
                    keyframe=bool(pkt.is_keyframe),
                    data=bytes(pkt),
                    arrival=time.monotonic(),
                )
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(Reason.PROTOCOL, f"{self._path.name}: {exc}") from None

    def close(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(av.error.FFmpegError, OSError):
                container.close()


@dataclass
class AnalysedFrame:
    at: float
    detections: list[Detection]  # the persons: at or above the configured confidence
    track_ids: list[int]


@dataclass
class ClipResult:
    hits: list[RuleHit] = field(default_factory=list)
    frames: list[AnalysedFrame] = field(default_factory=list)  # only those the detector ran on
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    sampler: SamplerCounters = field(default_factory=SamplerCounters)
    analyzer: AnalyzerCounters = field(default_factory=AnalyzerCounters)
    regions: RegionCounters = field(default_factory=RegionCounters)
    detector_s: float = 0.0
    wall_s: float = 0.0

    @property
    def track_ids(self) -> set[int]:
        return {t for f in self.frames for t in f.track_ids}


OnHit = Callable[[RuleHit, Frame, CameraAnalyzer], None]


def run_clip(
    source: str | Path,
    analytics: CameraAnalytics,
    settings: AnalyticsConfig,
    detector: Detector,
    *,
    tz: ZoneInfo | None = None,
    start_wall: float | None = None,
    max_seconds: float | None = None,
    on_hit: OnHit | None = None,
) -> ClipResult:
    """Analyse a file (as fast as it decodes) or an rtsp:// URL (live, for max_seconds)."""
    text = str(source)
    is_url = text.startswith(("rtsp://", "rtsps://"))
    src: FileSource | RtspSource = url_source("detect", text) if is_url else FileSource(Path(text))
    info = src.open()
    fps = analytics.fps or settings.fps
    sampler = FrameSampler(info, fps)
    size = (info.width, info.height) if info.width and info.height else None
    analyzer = CameraAnalyzer("clip", analytics, settings, tz=tz or ZoneInfo("UTC"), expected_size=size)
    start = time.time() if start_wall is None else start_wall
    result = ClipResult(sampler=sampler.counters, analyzer=analyzer.counters, regions=analyzer.regions)
    frame_s = 1.0 / (info.nominal_fps or 25.0)
    began = time.monotonic()
    try:
        for index, packet in enumerate(src.packets()):
            pts = packet.pts_seconds()
            if is_url:
                at = packet.arrival - began
            elif pts is not None:
                at = pts
            else:
                at = index * frame_s  # raw Annex-B files carry no timestamps: count at the announced rate
            if max_seconds is not None and at > max_seconds:
                break
            frame = sampler.offer(packet, at)
            look = None if frame is None else analyzer.look(frame)
            if frame is None or look is None:
                continue
            t0 = time.perf_counter()
            detections = analyzer.detect(detector, frame, look)
            result.detector_s += time.perf_counter() - t0
            tracks, hits = analyzer.analyse(frame, detections, start + frame.at)
            result.frames.append(AnalysedFrame(frame.at, persons(detections, settings), [t.id for t in tracks]))
            for hit in hits:
                result.hits.append(hit)
                if on_hit is not None:
                    on_hit(hit, frame, analyzer)
    except SourceError as exc:
        if exc.reason is not Reason.ENDED:
            raise
    finally:
        src.close()
    result.counts = analyzer.counts()
    result.wall_s = time.monotonic() - began
    return result
