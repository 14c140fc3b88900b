"""An NVR's recording store on disk, for the simulated NVR (sim/nvr.py) and its RTSP replay (sim/rtsp_server.py).

Layout: one directory per channel under the root, one file per recorded segment, named by the UTC time
the segment starts and the span it covers::

    <root>/<channel>/20261204T000000Z_3600s.mkv     00:00:00 to 01:00:00 on 4 December 2026
    <root>/<channel>/20261204T103000Z_1800s.mkv     10:30:00 to 11:00:00 (recording stopped at 11:00)

What the files hold, honestly: every segment file is the same short real clip (H.264, 640x360, 10 fps, a
keyframe every second, about 10 s long; sim/clips.py's ``nvr_h264``) in Matroska, hard-linked (copied
where links are impossible). The name's duration is the span the segment *stands for*; the NVR replays
the clip looped to fill it, stamping each frame with the wall time it stands for. Days of real video
would be gigabytes; this is a few hundred kilobytes per store, and what is recorded when is carried by
the names alone, exactly as the audit needs it: :func:`spans_on_disk` computes the recorded time from
the names, and the NVR's search answers and replay are computed from the same names.

A file whose name does not match (a sidecar, a partly written ``.part``) is not a segment.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

__all__ = [
    "SEGMENT_NAME",
    "Gap",
    "RecordingStore",
    "Segment",
    "default_gaps",
    "make_recordings",
    "segment_name",
    "segments_on_disk",
    "spans_on_disk",
]

Span = tuple[datetime, datetime]

# Kept in step with sim/rtsp_server.py, which parses the same names without importing this module.
SEGMENT_NAME: Final = re.compile(r"^(\d{8}T\d{6}Z)_(\d+)s\.mkv$")
_STAMP: Final = "%Y%m%dT%H%M%SZ"
CLIP_NAME: Final = "nvr_h264"
DEFAULT_SEGMENT_S: Final = 3600


@dataclass(frozen=True)
class Segment:
    start: datetime
    seconds: int
    path: Path

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class Gap:
    """A stretch of time `channel` did not record, [start, end)."""

    channel: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class RecordingStore:
    """What make_recordings laid out: the root, the channels in order, and the spans it meant to record
    (tests compare these with spans_on_disk and with what the NVR answers)."""

    root: Path
    channels: tuple[str, ...]
    spans: dict[str, list[Span]]
    clip: Path  # the Matroska clip every segment file is a link to

    def channel_dir(self, channel: str) -> Path:
        return self.root / channel


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: give times in UTC")
    return moment.astimezone(UTC)


def _whole(moment: datetime) -> datetime:
    return _utc(moment).replace(microsecond=0)


def segment_name(start: datetime, seconds: int) -> str:
    """'20261204T000000Z_3600s.mkv' for a segment from `start` lasting `seconds` whole seconds."""
    if seconds <= 0:
        raise ValueError("a segment lasts at least a second")
    start = _utc(start)
    if start.microsecond:
        raise ValueError("segments start on a whole second")
    return f"{start.strftime(_STAMP)}_{seconds}s.mkv"


def parse_segment_name(name: str) -> tuple[datetime, int] | None:
    match = SEGMENT_NAME.match(name)
    if match is None:
        return None
    start = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)
    seconds = int(match.group(2))
    return (start, seconds) if seconds > 0 else None


def segments_on_disk(root: Path, channel: str) -> list[Segment]:
    """The channel's segment files, by start time (an unknown channel has none)."""
    folder = Path(root) / channel
    if not folder.is_dir():
        return []
    found: list[Segment] = []
    for entry in folder.iterdir():
        parsed = parse_segment_name(entry.name)
        if parsed is not None and entry.is_file():
            found.append(Segment(parsed[0], parsed[1], entry))
    return sorted(found, key=lambda s: (s.start, s.seconds))


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Sorted, with overlapping and touching spans joined."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def spans_on_disk(root: Path, channel: str) -> list[Span]:
    """The recorded time of a channel, [start, end) spans computed from the file names alone: segments
    that touch or overlap are one span, and a missing file is a gap."""
    return merge_spans((s.start, s.end) for s in segments_on_disk(root, channel))


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def default_gaps(channels: Sequence[str], now: datetime) -> list[Gap]:
    """The deliberate holes: the first channel lost 10:30 to 12:30 yesterday (a 2 h gap, not on segment
    boundaries), the second recorded nothing the day before yesterday (a whole day missing)."""
    today = _midnight(_utc(now))
    gaps: list[Gap] = []
    if channels:
        yesterday = today - timedelta(days=1)
        lost = yesterday + timedelta(hours=10, minutes=30)
        gaps.append(Gap(channels[0], lost, lost + timedelta(hours=2)))
    if len(channels) > 1:
        gaps.append(Gap(channels[1], today - timedelta(days=2), today - timedelta(days=1)))
    return gaps


def _subtract(window: Span, holes: Iterable[Span]) -> list[Span]:
    spans = [window]
    for hole_start, hole_end in sorted(holes):
        kept: list[Span] = []
        for start, end in spans:
            if hole_end <= start or hole_start >= end:
                kept.append((start, end))
                continue
            if start < hole_start:
                kept.append((start, hole_start))
            if hole_end < end:
                kept.append((hole_end, end))
        spans = kept
    return spans


def _cut(span: Span, segment_s: int) -> list[Span]:
    """A span cut at every multiple of `segment_s` since the Unix epoch, as an NVR starts a new file on the hour."""
    start, end = span
    pieces: list[Span] = []
    while start < end:
        epoch_s = int(start.timestamp())
        boundary = datetime.fromtimestamp((epoch_s // segment_s + 1) * segment_s, UTC)
        piece_end = min(boundary, end)
        pieces.append((start, piece_end))
        start = piece_end
    return pieces


def recording_clip(clip_dir: Path) -> Path:
    """The Matroska clip the segments are made of (made, or reused from `clip_dir`)."""
    from sim.clips import make_recording_clips  # av and cv2 only where a store is made

    clip = make_recording_clips(clip_dir, names=[CLIP_NAME])[CLIP_NAME]
    target = clip_dir / f"{CLIP_NAME}.mkv"
    if target.is_file() and target.stat().st_mtime >= clip.path.stat().st_mtime:
        return target
    _remux(clip.path, target, clip.fps)
    return target


def _remux(source: Path, target: Path, fps: float) -> None:
    """The Annex-B clip into Matroska, packets untouched, timestamps from the frame rate."""
    from fractions import Fraction

    import av

    rate = Fraction(fps).limit_denominator(1001)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with av.open(str(source), format="h264") as src, av.open(str(tmp), "w", format="matroska") as out:
            video = src.streams.video[0]
            stream = out.add_stream_from_template(video)
            stream.time_base = 1 / rate
            n = 0
            for packet in src.demux(video):
                if not packet.size:
                    continue
                packet.stream = stream
                packet.time_base = 1 / rate
                packet.pts = packet.dts = n
                packet.duration = 1
                out.mux(packet)
                n += 1
        tmp.chmod(0o644)
        tmp.replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _place(clip: Path, target: Path) -> None:
    try:
        os.link(clip, target)
    except OSError:
        shutil.copyfile(clip, target)


def make_recordings(
    root: Path,
    channels: Sequence[str] = ("ch1", "ch2", "ch3"),
    days: int = 4,
    gaps: Sequence[Gap] | None = None,
    now: datetime | None = None,
    *,
    segment_s: int = DEFAULT_SEGMENT_S,
    clip_dir: Path | None = None,
) -> RecordingStore:
    """Lay out a store under `root`: each channel recorded from midnight UTC `days - 1` days before `now`
    up to `now` (to the whole second), less its `gaps` (None: :func:`default_gaps`), in segment files cut
    every `segment_s` seconds and at every gap's edge. Existing segment files of these channels are
    removed first. `clip_dir` caches the clip (default: `root/.clip`)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    if not channels or len(set(channels)) != len(channels):
        raise ValueError("give one or more distinct channel names")
    for channel in channels:
        if not channel or "/" in channel or channel.startswith("."):
            raise ValueError(f"bad channel name {channel!r}")
    end = _utc(now or datetime.now(UTC)).replace(microsecond=0)
    start = _midnight(end) - timedelta(days=days - 1)
    holes = default_gaps(channels, end) if gaps is None else list(gaps)
    unknown = {g.channel for g in holes} - set(channels)
    if unknown:
        raise ValueError(f"gaps for unknown channels: {sorted(unknown)}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    clip_folder = Path(clip_dir) if clip_dir is not None else root / ".clip"
    clip_folder.mkdir(parents=True, exist_ok=True)
    clip = recording_clip(clip_folder)
    spans: dict[str, list[Span]] = {}
    for channel in channels:
        folder = root / channel
        folder.mkdir(exist_ok=True)
        for old in segments_on_disk(root, channel):
            old.path.unlink()
        own = [(_whole(g.start), _whole(g.end)) for g in holes if g.channel == channel]
        kept = _subtract((start, end), own)
        for span in kept:
            for piece_start, piece_end in _cut(span, segment_s):
                seconds = int((piece_end - piece_start).total_seconds())
                if seconds > 0:
                    _place(clip, folder / segment_name(piece_start, seconds))
        spans[channel] = merge_spans(kept)
    return RecordingStore(root, tuple(channels), spans, clip)
