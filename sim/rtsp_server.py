#!/usr/bin/env python3
"""Simulated RTSP cameras: serve pre-encoded H.264/H.265 elementary streams in an endless loop.

Standalone on purpose: it runs under the system Python, the only one where Debian's GStreamer
introspection bindings (python3-gi) import, so it uses the standard library and gi only.

    usage: rtsp_server.py --spec SPEC.json

SPEC: {"bind": "127.0.0.1", "port": 8554,
       "auth": null | {"username": "...", "password_env": "ENV_NAME"},
       "mounts": [{"path": "/cam1", "file": "/abs/x.h264", "codec": "h264" | "h265", "fps": 25,
                   "audio": null | "pcma" | "pcmu" | "aac"}],
       "replays": [{"path": "/replay/ch1", "dir": "/abs/store/ch1"}],
       "ptz": [{"path": "/ptz", "picture": "/abs/picture.png", "state": "/abs/ptz-state.json",
                "width": 640, "height": 360, "fps": 12}]}

fps may be fractional, e.g. 12.5: a 25 fps camera at half rate at night.

A mount with "audio" also sends a sound track, as cameras with a microphone do: a 1 kHz tone (a
test tone, audiotestsrc) as G.711 A-law (pcma: RTP payload 8, 20 ms packets), G.711 mu-law (pcmu:
payload 0) or AAC-LC (aac: 16 kHz mono, RFC 3640 mpeg4-generic, payload 97), in the same pipeline as the
video, so both tracks share one clock as a camera's do.

A PTZ mount is a camera that pans, tilts and zooms over a still picture larger than its view: each frame
is the window of the picture that the PTZ state (a JSON file the simulated ONVIF PTZ device of
sim/ptz.py writes at every command) shows at the frame's wall time, scaled to width x height and
encoded to H.264 (x264, one keyframe a second). Pan and tilt move the window, zoom shrinks it
(ptz_window). The state file is re-read whenever it was replaced; without one the camera looks at its
home (0, 0, 0).

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


# --- PTZ: a window over a larger picture that follows a pan/tilt/zoom state (pure Python, no GStreamer)
#
# The simulated ONVIF PTZ camera (sim/ptz.py, in the test's or the demo's process) writes its motion to a
# small JSON file at each command; a PTZ mount re-reads the file when it was replaced and evaluates it at
# each frame's wall time. Each axis moves linearly from a start position and time at a velocity until an
# end time (a timeout, a stop, the arrival at a preset), clamped to its range, so both processes compute
# the same position for the same moment without talking to each other. The format is sim/ptz.py's
# (PtzMotion.to_json; kept in step, this script imports nothing of the project).

PTZ_AXES = ("pan", "tilt", "zoom")
PTZ_WIDE_FRACTION = 2 / 3  # the window's width at zoom 0, of the picture's width
PTZ_MAX_ZOOM = 3.0  # the window's magnification at zoom 1 (linear in zoom between 1x and this)
PTZ_STATE_VERSION = 1


@dataclass(frozen=True)
class AxisMotion:
    """One axis: `start` at wall time `t0`, then `velocity` units per second until `t1` (None: no end
    but the range), always within [lo, hi]."""

    start: float
    velocity: float
    t0: float
    t1: float | None
    lo: float
    hi: float
    target: float | None = None  # where a move toward a target arrives, exactly (sim/ptz.py's Motion)

    def at(self, t: float) -> float:
        if self.target is not None and self.t1 is not None and t >= self.t1:
            return self.target
        end = t if self.t1 is None else min(t, self.t1)
        return min(self.hi, max(self.lo, self.start + self.velocity * max(0.0, end - self.t0)))


PTZ_HOME = (AxisMotion(0.0, 0.0, 0.0, None, -1.0, 1.0),) * 2 + (AxisMotion(0.0, 0.0, 0.0, None, 0.0, 1.0),)


def parse_ptz_state(raw: Any) -> tuple[AxisMotion, ...]:
    """(pan, tilt, zoom) motions of a state file's JSON; ValueError for anything else."""
    try:
        if raw["version"] != PTZ_STATE_VERSION:
            raise ValueError(f"PTZ state version {raw['version']!r}")
        motions = []
        for name in PTZ_AXES:
            axis = raw["axes"][name]
            t1 = None if axis["t1"] is None else float(axis["t1"])
            values = [float(axis[k]) for k in ("start", "velocity", "t0", "lo", "hi")]
            if not all(math.isfinite(v) for v in values) or (t1 is not None and not math.isfinite(t1)):
                raise ValueError(f"PTZ state: a number of {name} is not finite")
            target = axis.get("target")
            target = None if target is None else float(target)
            if target is not None and not math.isfinite(target):
                raise ValueError(f"PTZ state: the target of {name} is not finite")
            motions.append(AxisMotion(values[0], values[1], values[2], t1, values[3], values[4], target))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a PTZ state: {exc!r}") from None
    return tuple(motions)


def read_ptz_state(path: str) -> tuple[AxisMotion, ...] | None:
    """The motions in the state file; None when there is none (yet) or it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_ptz_state(json.load(handle))
    except (OSError, ValueError):
        return None


def ptz_position(motions: tuple[AxisMotion, ...], t: float) -> tuple[float, float, float]:
    pan, tilt, zoom = (m.at(t) for m in motions)
    return pan, tilt, zoom


def _even(value: float) -> int:
    return 2 * round(value / 2)


def ptz_window(
    pan: float, tilt: float, zoom: float, picture: tuple[int, int], output: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The part of the picture (x, y, width, height: even numbers, the width a multiple of 8) the camera shows.

    At zoom 0 the window is PTZ_WIDE_FRACTION of the picture's width with the output's aspect ratio;
    zoom magnifies it up to PTZ_MAX_ZOOM about its centre. Pan moves the centre across the picture
    (-1: the window's left edge on the picture's, at zoom 0), tilt up and down (1: the top)."""
    pw, ph = picture
    ow, oh = output
    w0 = pw * PTZ_WIDE_FRACTION
    h0 = w0 * oh / ow
    if h0 > ph:
        h0 = float(ph)
        w0 = h0 * ow / oh
    magnification = 1.0 + (PTZ_MAX_ZOOM - 1.0) * min(1.0, max(0.0, zoom))
    # A width of a multiple of 8 keeps the rows of every I420 plane a multiple of 4 bytes, the stride
    # GStreamer assumes for raw video: the crop is then tightly packed exactly as the caps describe it.
    w = max(8, min(pw, 8 * round(w0 / magnification / 8)))
    h = max(2, min(ph, _even(h0 / magnification)))
    cx = pw / 2 + min(1.0, max(-1.0, pan)) * (pw - w0) / 2
    cy = ph / 2 - min(1.0, max(-1.0, tilt)) * (ph - h0) / 2
    x = min(pw - w, max(0, _even(cx - w / 2)))
    y = min(ph - h, max(0, _even(cy - h / 2)))
    return x, y, w, h


def crop_i420(data: bytes | memoryview, size: tuple[int, int], window: tuple[int, int, int, int]) -> bytes:
    """A window of a tightly packed I420 picture (width a multiple of 8, height even), itself tightly packed
    (the window's x, y and height even, its width a multiple of 8, as ptz_window makes it)."""
    width, height = size
    x, y, w, h = window
    view = memoryview(data)
    rows = [view[(y + r) * width + x : (y + r) * width + x + w] for r in range(h)]
    half_w, plane = width // 2, width * height // 4
    for base in (width * height, width * height + plane):
        rows += [view[base + (y // 2 + r) * half_w + x // 2 : base + (y // 2 + r) * half_w + (x + w) // 2]
                 for r in range(h // 2)]  # fmt: skip
    return b"".join(rows)


# --- spec --------------------------------------------------------------------------------------------


class SpecError(Exception):
    pass


AUDIO_CODECS = ("pcma", "pcmu", "aac")


def audio_branch(codec: str, aac_encoder: str = "voaacenc") -> str:
    """The launch-line branch of a mount's sound track (stream pay1, beside the video's pay0)."""
    tone = "audiotestsrc is-live=false wave=sine freq=1000 volume=0.3"
    if codec == "pcma":
        return f"{tone} samplesperbuffer=160 ! audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 pt=8"
    if codec == "pcmu":
        return f"{tone} samplesperbuffer=160 ! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0"
    if codec == "aac":
        return (
            f"{tone} samplesperbuffer=1024 ! audioconvert ! audioresample ! audio/x-raw,rate=16000,channels=1 ! "
            f"{aac_encoder} ! rtpmp4gpay name=pay1 pt=97"
        )
    raise ValueError(f"audio must be one of {', '.join(AUDIO_CODECS)}, not {codec!r}")


@dataclass(frozen=True)
class Mount:
    path: str
    file: str
    codec: str
    fps: float
    audio: str | None = None  # "pcma" | "pcmu" | "aac": a sound track beside the video

    @property
    def rate(self) -> Fraction:
        """The frame rate as the caps and timestamps need it, a fraction: 12.5 is 25/2."""
        return Fraction(self.fps).limit_denominator(1001)


@dataclass(frozen=True)
class Replay:
    path: str
    dir: str  # one channel's directory of segment files


@dataclass(frozen=True)
class PtzMount:
    """A PTZ camera: a window over `picture` (any image GStreamer decodes; its width a multiple of 8 and
    its height even) following the state file `state`, encoded to H.264 at width x height, fps."""

    path: str
    picture: str
    state: str
    width: int = 640
    height: int = 360
    fps: float = 12.0

    @property
    def rate(self) -> Fraction:
        return Fraction(self.fps).limit_denominator(1001)


@dataclass(frozen=True)
class Spec:
    bind: str
    port: int
    mounts: tuple[Mount, ...]
    username: str | None = None
    password: str | None = None
    plays_log: str | None = None  # a file that gets the path of every PLAY: tests count RTSP sessions
    replays: tuple[Replay, ...] = ()
    ptz: tuple[PtzMount, ...] = ()


def load_spec(path: str, environ: dict[str, str]) -> Spec:
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
        mounts = tuple(
            Mount(
                str(m["path"]),
                str(m["file"]),
                str(m["codec"]),
                float(m.get("fps", 25)),
                None if m.get("audio") is None else str(m["audio"]),
            )
            for m in raw.get("mounts", [])
        )
        replays = tuple(Replay(str(r["path"]), str(r["dir"])) for r in raw.get("replays", []))
        ptz = tuple(
            PtzMount(
                str(p["path"]),
                str(p["picture"]),
                str(p["state"]),
                int(p.get("width", 640)),
                int(p.get("height", 360)),
                float(p.get("fps", 12)),
            )
            for p in raw.get("ptz", [])
        )
        bind, port, auth = str(raw.get("bind", "127.0.0.1")), int(raw["port"]), raw.get("auth")
        plays_log = None if raw.get("plays_log") is None else str(raw["plays_log"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpecError(f"bad spec {path}: {exc!r}") from exc
    if not mounts and not replays and not ptz:
        raise SpecError("spec has no mounts")
    for cam in ptz:
        if not cam.path.startswith("/"):
            raise SpecError(f"mount path must start with '/': {cam.path!r}")
        if not os.path.isfile(cam.picture):
            raise SpecError(f"PTZ mount {cam.path}: picture not found: {cam.picture}")
        if not os.path.isdir(os.path.dirname(os.path.abspath(cam.state))):
            raise SpecError(f"PTZ mount {cam.path}: the state file's directory does not exist: {cam.state}")
        if not (16 <= cam.width <= 3840 and 16 <= cam.height <= 2160 and cam.width % 2 == 0 == cam.height % 2):
            raise SpecError(f"PTZ mount {cam.path}: width and height must be even, 16 to 3840 x 2160")
        if not (math.isfinite(cam.fps) and 0 < cam.fps <= 60):
            raise SpecError(f"PTZ mount {cam.path}: fps must be a number above 0, at most 60")
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
        if mount.audio is not None and mount.audio not in AUDIO_CODECS:
            raise SpecError(f"mount {mount.path}: audio must be one of {', '.join(AUDIO_CODECS)}, not {mount.audio!r}")
    if auth is None:
        return Spec(bind, port, mounts, plays_log=plays_log, replays=replays, ptz=ptz)
    try:
        username, password_env = str(auth["username"]), str(auth["password_env"])
    except (KeyError, TypeError) as exc:
        raise SpecError(f"bad auth in spec: {exc!r}") from exc
    password = environ.get(password_env)
    if not password:
        raise SpecError(f"auth password environment variable {password_env} is not set")
    return Spec(bind, port, mounts, username, password, plays_log, replays, ptz)


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
            sound = ""
            if mount.audio is not None:
                # voaacenc where Debian has it (gstreamer1.0-plugins-bad), else FFmpeg's AAC encoder.
                aac = "voaacenc" if Gst.ElementFactory.find("voaacenc") is not None else "avenc_aac"
                sound = " " + audio_branch(mount.audio, aac)
            self.set_launch(
                f'( appsrc name=src is-live=false format=time caps="{media},stream-format=byte-stream,'
                f'alignment=au,framerate={rate.numerator}/{rate.denominator}" ! {parse} ! {pay} name=pay0 pt=96'
                f" config-interval=-1{sound} )"
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

    def load_picture(path: str) -> tuple[bytes, tuple[int, int]]:
        """A picture file decoded to tightly packed I420, and its size."""
        pipeline = Gst.parse_launch(
            "filesrc name=file ! decodebin ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink sync=false"
        )
        pipeline.get_by_name("file").set_property("location", path)
        sink = pipeline.get_by_name("sink")
        pipeline.set_state(Gst.State.PLAYING)
        try:
            sample = sink.emit("try-pull-sample", 10 * Gst.SECOND)
        finally:
            pipeline.set_state(Gst.State.NULL)
        if sample is None:
            raise SpecError(f"no picture in {path}")
        structure = sample.get_caps().get_structure(0)
        width, height = structure.get_value("width"), structure.get_value("height")
        buffer = sample.get_buffer()
        data = buffer.extract_dup(0, buffer.get_size())
        if width % 8 or height % 2 or len(data) != width * height * 3 // 2:
            raise SpecError(f"{path}: its width must be a multiple of 8 and its height even, not {width}x{height}")
        return data, (width, height)

    class PtzFactory(GstRtspServer.RTSPMediaFactory):
        """A PTZ camera: each frame is the window of the picture that the PTZ state shows at the wall time
        the frame goes out, scaled to the output size and encoded to H.264. One shared pipeline per mount."""

        def __init__(self, cam: PtzMount) -> None:
            super().__init__()
            self.cam = cam
            self.picture, self.size = load_picture(cam.picture)
            rate = cam.rate
            self._caps_rate = f"{rate.numerator}/{rate.denominator}"
            self._frame_ns = (Gst.SECOND * rate.denominator, rate.numerator)
            self._state_key: tuple[int, ...] | None = None
            self._state: tuple[AxisMotion, ...] = PTZ_HOME
            keyframes = max(1, round(cam.fps))  # one a second: a client that joins waits at most that
            self.set_launch(
                "( appsrc name=src is-live=false format=time ! videoscale ! "
                f"video/x-raw,width={cam.width},height={cam.height},pixel-aspect-ratio=1/1 ! "
                f"x264enc tune=zerolatency speed-preset=ultrafast threads=1 key-int-max={keyframes} bitrate=1200 ! "
                "video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
            )
            self.set_shared(True)
            self.set_stop_on_disconnect(True)
            self.set_eos_shutdown(False)
            self.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
            self.connect("media-configure", self._on_media_configure)

        def state(self) -> tuple[AxisMotion, ...]:
            """The state file's motion, read again whenever the file was replaced."""
            try:
                st = os.stat(self.cam.state)
                key: tuple[int, ...] | None = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
            except OSError:
                key = None
            if key != self._state_key:
                self._state_key = key
                self._state = read_ptz_state(self.cam.state) or PTZ_HOME
            return self._state

        def _on_media_configure(self, _factory: Any, media: Any) -> None:
            appsrc = media.get_element().get_by_name_recurse_up("src")
            appsrc.connect("need-data", self._need_data, {"n": 0, "window": None, "data": b""})

        @staticmethod
        def _wall_time_of(appsrc: Any, pts: int) -> float:
            """When the frame at `pts` goes out: the pipeline's clock runs it at base time + pts. Before the
            pipeline plays (preroll), and for anything implausible, now."""
            now = time.time()
            clock = appsrc.get_clock()
            if clock is None or appsrc.get_base_time() == 0:
                return now
            ahead = (appsrc.get_base_time() + pts - clock.get_time()) / Gst.SECOND
            return now + ahead if 0.0 < ahead < 5.0 else now

        def _need_data(self, appsrc: Any, _length: int, media_state: dict[str, Any]) -> None:
            n = media_state["n"]
            media_state["n"] = n + 1
            per, rate = self._frame_ns
            pts = n * per // rate
            pan, tilt, zoom = ptz_position(self.state(), self._wall_time_of(appsrc, pts))
            window = ptz_window(pan, tilt, zoom, self.size, (self.cam.width, self.cam.height))
            caps = None
            if window != media_state["window"]:
                media_state["window"] = window
                media_state["data"] = crop_i420(self.picture, self.size, window)
                caps = Gst.Caps.from_string(
                    f"video/x-raw,format=I420,width={window[2]},height={window[3]},"
                    f"framerate={self._caps_rate},pixel-aspect-ratio=1/1"
                )
            buffer = Gst.Buffer.new_wrapped(media_state["data"])
            buffer.pts = buffer.dts = pts
            buffer.duration = (n + 1) * per // rate - pts
            appsrc.emit("push-sample", Gst.Sample.new(buffer, caps, None, None))

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
    for cam in spec.ptz:
        ptz_factory = PtzFactory(cam)
        if permissions is not None:
            ptz_factory.set_permissions(permissions)
        mount_points.add_factory(cam.path, ptz_factory)

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
