#!/usr/bin/env python3
"""Simulated RTSP cameras: serve pre-encoded H.264/H.265 elementary streams in an endless loop.

Standalone on purpose: it runs under the system Python, the only one where Debian's GStreamer
introspection bindings (python3-gi) import, so it uses the standard library and gi only.

    usage: rtsp_server.py --spec SPEC.json

SPEC: {"bind": "127.0.0.1", "port": 8554,
       "auth": null | {"username": "...", "password_env": "ENV_NAME"},
       "mounts": [{"path": "/cam1", "file": "/abs/x.h264", "codec": "h264" | "h265", "fps": 25}],
       "replays": [{"path": "/replay/ch1", "dir": "/abs/store/ch1"}]}

fps may be fractional, e.g. 12.5: a 25 fps camera at half rate at night.

A replay mount serves an NVR's recordings (sim/recordings.py: one directory of segment files named
<UTC start>_<seconds>s.mkv, each a short H.264 clip that stands for its whole span, replayed looped),
as ONVIF Replay Control describes: the media's timeline is the wall clock in nanoseconds since
1900-01-01 (NTP time), so that `Range: clock=20261204T100000Z-20261204T110000Z` is an ordinary seek
there, `Scale: 2.0` plays twice as fast, and `Require: onvif-replay` is accepted. Playback starts at
the keyframe at or before the requested time (the clips have one every second), skips gaps (the next
recorded frame follows at once, marked as a discontinuity), and ends (EOS, RTCP BYE) at the end of the
requested range or of the recordings. Every RTP packet carries the ONVIF replay header extension
(0xABAC) with the NTP time of its frame. Clients that cannot send those headers (FFmpeg/PyAV) can name
the span in the URL, as vendors' playback URLs do: `/replay/ch1?starttime=20261204T100000Z&endtime=
20261204T110000Z&scale=2`; FFmpeg's own `Range: npt=0.000-` then means "from starttime". The directory
is read when a client sets up the replay, so a test can remove segments between sessions.

Prints exactly one line "READY <port>" to stdout once listening; everything else goes to stderr.
Exit codes: 0 on SIGTERM/SIGINT, 2 for a bad spec or missing file, 3 when GStreamer's RTSP server
bindings are not installed, 1 when the server cannot listen.
"""

from __future__ import annotations

import argparse
import calendar
import json
import math
import os
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any
from urllib.parse import parse_qs

EXIT_BAD_SPEC = 2
EXIT_MISSING_GSTREAMER = 3

_START_CODE = b"\x00\x00\x01"


# --- Annex-B access units (pure Python, no GStreamer) ------------------------------------------------


def split_nal_units(data: bytes) -> list[bytes]:
    """NAL units of an Annex-B byte stream, without their start codes."""
    starts = []
    i = data.find(_START_CODE)
    while i >= 0:
        starts.append(i + 3)
        i = data.find(_START_CODE, i + 3)
    units = []
    for k, start in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
        # A NAL unit never ends in a zero byte, so trailing zeros belong to the next start code.
        unit = data[start:end].rstrip(b"\x00")
        if unit:
            units.append(unit)
    return units


def _classify(codec: str, unit: bytes) -> tuple[bool, bool, bool]:
    """(is a slice, starts a new picture, is a prefix NAL that opens an access unit, e.g. SPS/AUD)."""
    if codec == "h264":
        kind = unit[0] & 0x1F
        vcl = 1 <= kind <= 5
        # first_mb_in_slice is ue(v); it is 0, i.e. a single 1 bit, only in a picture's first slice
        return vcl, vcl and len(unit) > 1 and bool(unit[1] & 0x80), kind in (6, 7, 8, 9, 14, 15, 16, 17, 18)
    kind = (unit[0] >> 1) & 0x3F
    vcl = kind < 32
    # first_slice_segment_in_pic_flag is the first bit after the 2-byte header
    prefix = kind in (32, 33, 34, 35, 39) or 41 <= kind <= 44 or 48 <= kind <= 55
    return vcl, vcl and len(unit) > 2 and bool(unit[2] & 0x80), prefix


def _is_keyframe(codec: str, unit: bytes) -> bool:
    if codec == "h264":
        return unit[0] & 0x1F == 5
    return 16 <= (unit[0] >> 1) & 0x3F <= 21  # IRAP pictures (BLA, IDR, CRA)


@dataclass(frozen=True)
class AccessUnit:
    data: bytes  # Annex-B, 4-byte start codes
    keyframe: bool


def split_access_units(data: bytes, codec: str) -> list[AccessUnit]:
    """Group NAL units into access units (one picture each), per H.264 7.4.1.2.3 / H.265 7.4.2.4.4."""
    units: list[AccessUnit] = []
    current: list[bytes] = []
    has_slice = False
    for nal in split_nal_units(data):
        vcl, first_slice, prefix = _classify(codec, nal)
        if has_slice and (first_slice or prefix):
            units.append(_access_unit(codec, current))
            current, has_slice = [], False
        current.append(nal)
        has_slice = has_slice or vcl
    if has_slice:
        units.append(_access_unit(codec, current))
    return units


def _access_unit(codec: str, nals: list[bytes]) -> AccessUnit:
    return AccessUnit(
        b"".join(b"\x00" + _START_CODE + nal for nal in nals),
        any(_is_keyframe(codec, nal) for nal in nals),
    )


# --- replay: the recording store and its timeline (pure Python, no GStreamer) ------------------------

# The segment file names of sim/recordings.py (kept in step with SEGMENT_NAME there; this script imports
# nothing of the project).
SEGMENT_NAME = re.compile(r"^(\d{8}T\d{6}Z)_(\d+)s\.mkv$")
NTP_UNIX_OFFSET_S = 2208988800  # seconds from 1900-01-01 (NTP, RTSP clock ranges) to 1970-01-01
NS = 1_000_000_000


def parse_utc(text: str) -> int:
    """'20261204T100000Z' (or '2026-12-04T10:00:00Z') -> nanoseconds since 1900-01-01 UTC."""
    text = text.strip()
    for layout in ("%Y%m%dT%H%M%SZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            unix = calendar.timegm(time.strptime(text, layout))
        except ValueError:
            continue
        return (unix + NTP_UNIX_OFFSET_S) * NS
    raise ValueError(f"not a UTC time: {text!r}")


def format_utc(ntp_ns: int) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ntp_ns // NS - NTP_UNIX_OFFSET_S))


@dataclass(frozen=True)
class StoredSegment:
    start_ns: int  # NTP nanoseconds
    seconds: int
    file: str

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.seconds * NS


def list_segments(directory: str) -> list[StoredSegment]:
    """A channel's segment files by start time; other files are not segments."""
    found = []
    for name in os.listdir(directory):
        match = SEGMENT_NAME.match(name)
        path = os.path.join(directory, name)
        if match is None or int(match.group(2)) <= 0 or not os.path.isfile(path):
            continue
        found.append(StoredSegment(parse_utc(match.group(1)), int(match.group(2)), path))
    return sorted(found, key=lambda seg: (seg.start_ns, seg.seconds))


@dataclass(frozen=True)
class ReplayRequest:
    """What a vendor-style replay URL asks for: ?starttime=...&endtime=...&scale=..."""

    start_ns: int | None = None
    end_ns: int | None = None
    scale: float = 1.0


def parse_replay_query(query: str | None) -> ReplayRequest:
    values = {k.lower(): v[-1] for k, v in parse_qs(query or "", keep_blank_values=False).items()}
    start = parse_utc(values["starttime"]) if "starttime" in values else None
    end = parse_utc(values["endtime"]) if "endtime" in values else None
    scale = float(values.get("scale", "1"))
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError("scale must be a number above 0 (reverse playback is not simulated)")
    if start is not None and end is not None and end <= start:
        raise ValueError("endtime must be after starttime")
    return ReplayRequest(start, end, scale)


def has_recording(segments: list[StoredSegment], request: ReplayRequest) -> bool:
    """Whether any segment overlaps the requested span (all of time without one)."""
    start = request.start_ns if request.start_ns is not None else -1
    end = request.end_ns
    return any(seg.end_ns > start and (end is None or seg.start_ns < end) for seg in segments)


@dataclass(frozen=True)
class ClipFrames:
    """A segment file's content: which frames are keyframes, and the frame rate."""

    keyframes: tuple[bool, ...]
    rate: Fraction


@dataclass(frozen=True)
class Frame:
    file: str
    index: int  # the frame of the file's clip
    pts_ns: int  # NTP nanoseconds: the wall time this frame stands for
    duration_ns: int
    keyframe: bool
    discont: bool  # first frame after a seek or a gap


@dataclass
class ReplayTimeline:
    """Frames in wall-clock order over a channel's segments, each segment's clip looped to fill its span."""

    segments: list[StoredSegment]
    clip_of: Any  # Callable[[str], ClipFrames]
    _segment: int = field(default=0, init=False)
    _frame: int = field(default=0, init=False)
    _discont: bool = field(default=True, init=False)

    def _frames_in(self, seg: StoredSegment, clip: ClipFrames) -> int:
        return max(1, seg.seconds * clip.rate.numerator // clip.rate.denominator)

    @staticmethod
    def _pts(seg: StoredSegment, clip: ClipFrames, n: int) -> int:
        return seg.start_ns + n * NS * clip.rate.denominator // clip.rate.numerator

    def seek(self, target_ns: int) -> bool:
        """Go to the keyframe at or before `target_ns`, or to the first recorded frame after it (a target in
        a gap). False when nothing is recorded after the target."""
        i = next((k for k, seg in enumerate(self.segments) if seg.end_ns > target_ns), len(self.segments))
        if i == len(self.segments):
            self._segment = i
            return False
        seg = self.segments[i]
        clip = self.clip_of(seg.file)
        n = 0
        if target_ns > seg.start_ns:
            n = min((target_ns - seg.start_ns) * clip.rate.numerator // (NS * clip.rate.denominator),
                    self._frames_in(seg, clip) - 1)  # fmt: skip
            within = n % len(clip.keyframes)
            back = next((within - k for k in range(within, -1, -1) if clip.keyframes[k]), within)
            n -= back
        self._segment, self._frame, self._discont = i, n, True
        return True

    def next_frame(self) -> Frame | None:
        if self._segment >= len(self.segments):
            return None
        seg = self.segments[self._segment]
        clip = self.clip_of(seg.file)
        n = self._frame
        pts = self._pts(seg, clip, n)
        end = min(self._pts(seg, clip, n + 1), seg.end_ns)
        index = n % len(clip.keyframes)
        frame = Frame(seg.file, index, pts, max(1, end - pts), clip.keyframes[index], self._discont)
        self._discont = False
        self._frame += 1
        if self._frame >= self._frames_in(seg, clip):
            self._segment += 1
            self._frame = 0
            following = self.segments[self._segment] if self._segment < len(self.segments) else None
            self._discont = following is not None and following.start_ns != seg.end_ns
        return frame


# --- spec --------------------------------------------------------------------------------------------


class SpecError(Exception):
    pass


@dataclass(frozen=True)
class Mount:
    path: str
    file: str
    codec: str
    fps: float

    @property
    def rate(self) -> Fraction:
        """The frame rate as the caps and timestamps need it, a fraction: 12.5 is 25/2."""
        return Fraction(self.fps).limit_denominator(1001)


@dataclass(frozen=True)
class Replay:
    path: str
    dir: str  # one channel's directory of segment files


@dataclass(frozen=True)
class Spec:
    bind: str
    port: int
    mounts: tuple[Mount, ...]
    username: str | None = None
    password: str | None = None
    plays_log: str | None = None  # a file that gets the path of every PLAY: tests count RTSP sessions
    replays: tuple[Replay, ...] = ()


def load_spec(path: str, environ: dict[str, str]) -> Spec:
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
        mounts = tuple(
            Mount(str(m["path"]), str(m["file"]), str(m["codec"]), float(m.get("fps", 25)))
            for m in raw.get("mounts", [])
        )
        replays = tuple(Replay(str(r["path"]), str(r["dir"])) for r in raw.get("replays", []))
        bind, port, auth = str(raw.get("bind", "127.0.0.1")), int(raw["port"]), raw.get("auth")
        plays_log = None if raw.get("plays_log") is None else str(raw["plays_log"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpecError(f"bad spec {path}: {exc!r}") from exc
    if not mounts and not replays:
        raise SpecError("spec has no mounts")
    for replay in replays:
        if not replay.path.startswith("/"):
            raise SpecError(f"mount path must start with '/': {replay.path!r}")
        if not os.path.isdir(replay.dir):
            raise SpecError(f"replay {replay.path}: directory not found: {replay.dir}")
    for mount in mounts:
        if mount.codec not in ("h264", "h265"):
            raise SpecError(f"mount {mount.path}: codec must be h264 or h265, not {mount.codec!r}")
        if not mount.path.startswith("/"):
            raise SpecError(f"mount path must start with '/': {mount.path!r}")
        if not (math.isfinite(mount.fps) and 0 < mount.fps <= 240):
            raise SpecError(f"mount {mount.path}: fps must be a number above 0, at most 240")
        if not os.path.isfile(mount.file):
            raise SpecError(f"mount {mount.path}: file not found: {mount.file}")
    if auth is None:
        return Spec(bind, port, mounts, plays_log=plays_log, replays=replays)
    try:
        username, password_env = str(auth["username"]), str(auth["password_env"])
    except (KeyError, TypeError) as exc:
        raise SpecError(f"bad auth in spec: {exc!r}") from exc
    password = environ.get(password_env)
    if not password:
        raise SpecError(f"auth password environment variable {password_env} is not set")
    return Spec(bind, port, mounts, username, password, plays_log, replays)


# --- server ------------------------------------------------------------------------------------------


def _import_gstreamer() -> tuple[Any, Any, Any, Any]:
    # Imported late so that the pure helpers above can be imported (and tested) without gi.
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer

    return GLib, Gst, GstRtsp, GstRtspServer


def _warn(message: str) -> None:
    print(f"rtsp_server: {message}", file=sys.stderr, flush=True)


def run(spec: Spec) -> int:
    try:
        GLib, Gst, GstRtsp, GstRtspServer = _import_gstreamer()
    except (ImportError, ValueError) as exc:
        _warn(f"GStreamer RTSP server bindings not installed (python3-gi, gir1.2-gst-rtsp-server-1.0): {exc}")
        return EXIT_MISSING_GSTREAMER
    Gst.init(None)

    class LoopingFactory(GstRtspServer.RTSPMediaFactory):
        """One shared pipeline per mount: appsrc replays the in-memory access units forever."""

        def __init__(self, mount: Mount) -> None:
            super().__init__()
            with open(mount.file, "rb") as handle:
                units = split_access_units(handle.read(), mount.codec)
            if not units:
                raise SpecError(f"mount {mount.path}: no access units in {mount.file}")
            if not units[0].keyframe:
                _warn(f"{mount.file} does not start with a keyframe; clients may wait for one")
            # Wrapped once; each push shares the memory and only gets new timestamps.
            self._buffers = [self._wrap(unit, Gst) for unit in units]
            rate = mount.rate
            # Frame n is at n * den / num seconds: exact for any rate, so a 12.5 fps stream never drifts.
            self._frame_ns = (Gst.SECOND * rate.denominator, rate.numerator)
            media = "video/x-h264" if mount.codec == "h264" else "video/x-h265"
            parse, pay = ("h264parse", "rtph264pay") if mount.codec == "h264" else ("h265parse", "rtph265pay")
            self.set_launch(
                f'( appsrc name=src is-live=false format=time caps="{media},stream-format=byte-stream,'
                f'alignment=au,framerate={rate.numerator}/{rate.denominator}" ! {parse} ! {pay} name=pay0 pt=96'
                " config-interval=-1 )"
            )
            self.set_shared(True)
            # A client that drops its connection without TEARDOWN leaves at once. Once the last one has
            # left, the (non-reusable) media is unprepared and the next client gets a fresh pipeline.
            self.set_stop_on_disconnect(True)
            self.set_eos_shutdown(False)  # the stream never ends, so there is no EOS to wait for
            self.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
            self.connect("media-configure", self._on_media_configure)

        @staticmethod
        def _wrap(unit: AccessUnit, gst: Any) -> Any:
            buffer = gst.Buffer.new_wrapped(unit.data)
            if not unit.keyframe:
                buffer.set_flags(gst.BufferFlags.DELTA_UNIT)
            return buffer

        def _on_media_configure(self, _factory: Any, media: Any) -> None:
            appsrc = media.get_element().get_by_name_recurse_up("src")
            appsrc.connect("need-data", self._need_data, {"n": 0})

        def _need_data(self, appsrc: Any, _length: int, state: dict[str, int]) -> None:
            n = state["n"]
            state["n"] = n + 1
            base = self._buffers[n % len(self._buffers)]
            # Not base.copy(): for GstBuffer that is a new reference, so the timestamps would be shared.
            buffer = base.copy_region(Gst.BufferCopyFlags.FLAGS | Gst.BufferCopyFlags.MEMORY, 0, base.get_size())
            per, rate = self._frame_ns
            buffer.pts = buffer.dts = n * per // rate
            buffer.duration = (n + 1) * per // rate - buffer.pts
            appsrc.emit("push-buffer", buffer)

    clips: dict[tuple[int, int, int, int], tuple[ClipFrames, list[Any]]] = {}

    def load_clip(path: str) -> tuple[ClipFrames, list[Any]]:
        """A segment file's access units (Annex-B buffers) and frame rate, read once per file content
        (the store's segments are links to one clip)."""
        st = os.stat(path)
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        if key in clips:
            return clips[key]
        pipeline = Gst.parse_launch(
            "filesrc name=file ! matroskademux ! h264parse config-interval=-1 ! "
            "video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false"
        )
        pipeline.get_by_name("file").set_property("location", path)
        sink = pipeline.get_by_name("sink")
        pipeline.set_state(Gst.State.PLAYING)
        buffers, keyframes, rate = [], [], Fraction(25)
        try:
            while True:
                sample = sink.emit("try-pull-sample", 10 * Gst.SECOND)
                if sample is None:
                    break
                caps = sample.get_caps()
                if caps is not None:
                    ok, num, den = caps.get_structure(0).get_fraction("framerate")
                    if ok and num > 0 and den > 0:
                        rate = Fraction(num, den)
                buffer = sample.get_buffer()
                buffers.append(buffer)
                keyframes.append(not buffer.has_flags(Gst.BufferFlags.DELTA_UNIT))
        finally:
            pipeline.set_state(Gst.State.NULL)
        if not buffers:
            raise SpecError(f"no video in {path}")
        clips[key] = (ClipFrames(tuple(keyframes), rate), buffers)
        return clips[key]

    class ReplaySession:
        """One client's replay: positions the timeline on seeks, feeds appsrc frame by frame, ends at the
        end of the range. Runs on GStreamer's threads; the lock keeps seeks and pushes apart."""

        def __init__(self, replay: Replay, request: ReplayRequest) -> None:
            self.request = request
            self.timeline = ReplayTimeline(list_segments(replay.dir), lambda f: load_clip(f)[0])
            self.lock = threading.Lock()
            self.rate = request.scale
            self.stop_ns = request.end_ns
            self.segment: Any = None
            self.last_end = 0
            self.ended = False
            self.seek_rate = 1.0
            self.seek_stop = -1
            self.target_ns = request.start_ns or 0
            self.timeline.seek(self.target_ns)

        def element(self) -> Any:
            top = Gst.Bin.new(None)
            src = Gst.ElementFactory.make("appsrc", "src")
            Gst.util_set_object_arg(src, "format", "time")
            Gst.util_set_object_arg(src, "stream-type", "seekable")
            src.set_property("is-live", False)
            src.set_property("handle-segment-change", True)
            src.set_property("caps", Gst.Caps.from_string("video/x-h264,stream-format=byte-stream,alignment=au"))
            parse = Gst.ElementFactory.make("h264parse", None)
            parse.set_property("config-interval", -1)
            pay_bin = Gst.Bin.new("pay0")
            pay = Gst.ElementFactory.make("rtph264pay", None)
            pay.set_property("pt", 96)
            pay.set_property("config-interval", -1)
            stamp = Gst.ElementFactory.make("rtponviftimestamp", None)
            stamp.set_property("ntp-offset", 0)  # the timeline is NTP time already
            stamp.set_property("set-e-bit", True)
            stamp.set_property("set-t-bit", True)
            stamp.set_property("drop-out-of-segment", False)
            for element in (src, parse):
                top.add(element)
            for element in (pay, stamp):
                pay_bin.add(element)
            pay.link(stamp)
            pay_bin.add_pad(Gst.GhostPad.new("sink", pay.get_static_pad("sink")))
            pay_bin.add_pad(Gst.GhostPad.new("src", stamp.get_static_pad("src")))
            top.add(pay_bin)
            src.link(parse)
            parse.link(pay_bin)
            src.connect("need-data", self.need_data)
            src.connect("seek-data", self.seek_data)
            src.get_static_pad("src").add_probe(Gst.PadProbeType.EVENT_UPSTREAM, self.upstream_event)
            return top

        def upstream_event(self, _pad: Any, info: Any) -> Any:
            event = info.get_event()
            if event is not None and event.type == Gst.EventType.SEEK:
                rate, _fmt, _flags, _start_type, _start, stop_type, stop = event.parse_seek()
                with self.lock:
                    self.seek_rate = rate
                    self.seek_stop = stop if stop_type != Gst.SeekType.NONE else -1
            return Gst.PadProbeReturn.OK

        def seek_data(self, _appsrc: Any, offset: int) -> bool:
            with self.lock:
                target = offset
                if self.request.start_ns is not None:
                    target = max(target, self.request.start_ns)  # FFmpeg's Range: npt=0- is the URL's start
                # A Scale header wins; without one (rate 1) the URL's scale stays.
                self.rate = self.seek_rate if self.seek_rate != 1.0 else self.request.scale
                stops = [v for v in (self.seek_stop, self.request.end_ns) if v is not None and v > 0]
                self.stop_ns = min(stops) if stops else None
                self.timeline.seek(target)
                self.target_ns = target
                self.segment = None
                self.ended = False
            return True

        def need_data(self, appsrc: Any, _length: int) -> None:
            with self.lock:
                if self.ended:
                    return
                frame = self.timeline.next_frame()
                if frame is None or (self.stop_ns is not None and frame.pts_ns >= self.stop_ns) or self.rate <= 0:
                    self.ended = True
                    if self.segment is None:
                        # Nothing recorded in the range: the server still needs a segment downstream (it
                        # reads the stream's rates from it for the PLAY response), then the EOS.
                        segment = Gst.Segment.new()
                        segment.init(Gst.Format.TIME)
                        segment.applied_rate = self.rate if self.rate > 0 else 1.0
                        segment.start = segment.time = segment.position = self.target_ns
                        appsrc.get_static_pad("src").push_event(Gst.Event.new_segment(segment))
                    appsrc.emit("end-of-stream")
                    return
                if self.segment is not None and frame.discont:
                    # A gap: rtponviftimestamp marks the stretch's last packet (E) and the next one (D).
                    mark = Gst.Structure.new_from_string(
                        "GstOnvifTimestamp, ntp-offset=(guint64)0, discont=(boolean)true"
                    )
                    appsrc.get_static_pad("src").push_event(Gst.Event.new_custom(Gst.EventType.CUSTOM_DOWNSTREAM, mark))
                if self.segment is None or frame.discont:
                    # Each stretch of recording is a segment starting at its first frame's wall time. Scale is
                    # the segment's applied rate: timestamps run 1/scale as fast as the wall clock (so the
                    # sinks play it scale times faster, and the server answers Scale: <scale>), and stream
                    # time, which rtponviftimestamp writes into each packet, stays the wall clock.
                    base = 0 if self.segment is None else self.segment.to_running_time(Gst.Format.TIME, self.last_end)
                    segment = Gst.Segment.new()
                    segment.init(Gst.Format.TIME)
                    segment.applied_rate = self.rate
                    segment.start = segment.time = segment.position = frame.pts_ns
                    if self.stop_ns is not None:
                        segment.stop = frame.pts_ns + round(max(0, self.stop_ns - frame.pts_ns) / self.rate)
                    segment.base = base
                    self.segment = segment
                origin = self.segment.start
                pts = origin + round((frame.pts_ns - origin) / self.rate)
                duration = max(1, round(frame.duration_ns / self.rate))
                base_buffer = load_clip(frame.file)[1][frame.index]
                buffer = base_buffer.copy_region(
                    Gst.BufferCopyFlags.FLAGS | Gst.BufferCopyFlags.MEMORY, 0, base_buffer.get_size()
                )
                buffer.pts = buffer.dts = pts
                buffer.duration = duration
                if frame.discont:
                    buffer.set_flags(Gst.BufferFlags.DISCONT)
                self.last_end = pts + duration
                sample = Gst.Sample.new(buffer, None, self.segment, None)
            appsrc.emit("push-sample", sample)

    class ReplayFactory(GstRtspServer.RTSPOnvifMediaFactory):
        """A channel's recordings; one media per client (each has its own position)."""

        def __init__(self, replay: Replay) -> None:
            super().__init__()
            self.replay = replay
            self.set_shared(False)
            self.set_stop_on_disconnect(True)
            self.set_eos_shutdown(False)
            self.set_replay_support(True)
            self.set_media_gtype(GstRtspServer.RTSPOnvifMedia.__gtype__)  # the ONVIF factory makes no other
            self.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)

        def do_create_element(self, url: Any) -> Any:
            try:
                request = parse_replay_query(url.query)
            except ValueError as exc:
                _warn(f"{self.replay.path}: bad replay request {url.query!r}: {exc}")
                return None
            if not has_recording(list_segments(self.replay.dir), request):
                # Refused here (the client gets an error): a media that prerolls nothing never gets ready,
                # and a server waiting on one answers nobody else.
                _warn(f"{self.replay.path}: nothing recorded in {url.query or 'the store'}")
                return None
            return ReplaySession(self.replay, request).element()

    server = GstRtspServer.RTSPOnvifServer() if spec.replays else GstRtspServer.RTSPServer()
    server.set_address(spec.bind)
    server.set_service(str(spec.port))
    if spec.plays_log is not None:
        plays_log = spec.plays_log

        def on_play(_client: Any, ctx: Any) -> None:
            with open(plays_log, "a", encoding="utf-8") as log:
                log.write(f"{ctx.uri.abspath}\n")

        server.connect("client-connected", lambda _server, client: client.connect("play-request", on_play))
    permissions = None
    if spec.username is not None:
        role = "camera-user"
        auth = GstRtspServer.RTSPAuth()
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, role)
        auth.add_digest(spec.username, spec.password, token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role(role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role(role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)

    mount_points = server.get_mount_points()
    for mount in spec.mounts:
        factory = LoopingFactory(mount)
        if permissions is not None:
            factory.set_permissions(permissions)
        mount_points.add_factory(mount.path, factory)
    for replay in spec.replays:
        replay_factory = ReplayFactory(replay)
        if permissions is not None:
            replay_factory.set_permissions(permissions)
        mount_points.add_factory(replay.path, replay_factory)

    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        _warn(f"cannot listen on {spec.bind}:{spec.port} (port in use?)")
        return 1
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    # Time out sessions of clients that vanished without TEARDOWN, so shared media can be released.
    GLib.timeout_add_seconds(2, lambda: server.get_session_pool().cleanup() >= 0)
    # A parent that dies without stopping us (a killed test run) must not leave a server behind.
    parent = os.getppid()

    def parent_alive() -> bool:
        if os.getppid() != parent:
            _warn("parent process exited; stopping")
            loop.quit()
            return False
        return True

    GLib.timeout_add_seconds(1, parent_alive)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--spec", required=True, help="JSON spec of bind address, port, auth and mounts")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.spec, dict(os.environ))
        return run(spec)
    except SpecError as exc:
        _warn(str(exc))
        return EXIT_BAD_SPEC


if __name__ == "__main__":
    sys.exit(main())
