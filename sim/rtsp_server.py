#!/usr/bin/env python3
"""Simulated RTSP cameras: serve pre-encoded H.264/H.265 elementary streams in an endless loop.

Standalone on purpose: it runs under the system Python, the only one where Debian's GStreamer
introspection bindings (python3-gi) import, so it uses the standard library and gi only.

    usage: rtsp_server.py --spec SPEC.json

SPEC: {"bind": "127.0.0.1", "port": 8554,
       "auth": null | {"username": "...", "password_env": "ENV_NAME"},
       "mounts": [{"path": "/cam1", "file": "/abs/x.h264", "codec": "h264" | "h265", "fps": 25}]}

fps may be fractional, e.g. 12.5: a 25 fps camera at half rate at night.

Prints exactly one line "READY <port>" to stdout once listening; everything else goes to stderr.
Exit codes: 0 on SIGTERM/SIGINT, 2 for a bad spec or missing file, 3 when GStreamer's RTSP server
bindings are not installed, 1 when the server cannot listen.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

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
class Spec:
    bind: str
    port: int
    mounts: tuple[Mount, ...]
    username: str | None = None
    password: str | None = None
    plays_log: str | None = None  # a file that gets the path of every PLAY: tests count RTSP sessions


def load_spec(path: str, environ: dict[str, str]) -> Spec:
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
        mounts = tuple(
            Mount(str(m["path"]), str(m["file"]), str(m["codec"]), float(m.get("fps", 25))) for m in raw["mounts"]
        )
        bind, port, auth = str(raw.get("bind", "127.0.0.1")), int(raw["port"]), raw.get("auth")
        plays_log = None if raw.get("plays_log") is None else str(raw["plays_log"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpecError(f"bad spec {path}: {exc!r}") from exc
    if not mounts:
        raise SpecError("spec has no mounts")
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
        return Spec(bind, port, mounts, plays_log=plays_log)
    try:
        username, password_env = str(auth["username"]), str(auth["password_env"])
    except (KeyError, TypeError) as exc:
        raise SpecError(f"bad auth in spec: {exc!r}") from exc
    password = environ.get(password_env)
    if not password:
        raise SpecError(f"auth password environment variable {password_env} is not set")
    return Spec(bind, port, mounts, username, password, plays_log)


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

    server = GstRtspServer.RTSPServer()
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
