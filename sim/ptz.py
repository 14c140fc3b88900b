"""A simulated ONVIF PTZ camera: the ONVIF device of sim/onvif_device.py with a PTZ and an Imaging service,
whose RTSP picture (a PTZ mount of sim/rtsp_server.py) really moves.

The camera keeps a pan/tilt/zoom state in ONVIF's generic spaces (pan and tilt -1..1, right and up
positive; zoom 0..1) that moves with time: every axis runs at SPEED units per second at velocity 1
(ContinuousMove) or speed 1 (GotoPreset, GotoHomePosition, AbsoluteMove, RelativeMove), and stops at
the end of its range. A ContinuousMove lasts until Stop, another move, or its Timeout (the
configuration's DefaultPTZTimeout, DEFAULT_TIMEOUT_S, without one). Presets and the home position are
remembered for the life of the server.

The state is shared with the RTSP server (another process, under the system Python) through a small
JSON file (`state_path`): at every command the device writes the motion of each axis (start position,
start time, velocity, end time, range; wall-clock seconds) atomically, and the PTZ mount re-reads it
when it is replaced and evaluates it at each frame's wall time. Nothing is sent between the processes
while the camera moves, and both compute the same position for the same moment.

PTZ service (ver20): GetServiceCapabilities, GetNodes, GetNode, GetConfigurations, GetConfiguration,
ContinuousMove, Stop, AbsoluteMove, RelativeMove, GetStatus, GetPresets, SetPreset, GotoPreset,
RemovePreset, GotoHomePosition, SetHomePosition. Imaging service (ver20): GetServiceCapabilities,
GetMoveOptions, Move (focus: Continuous, Absolute, Relative), Stop, GetStatus; the focus moves like an
axis (0..1) and does not change the picture. GetServices, GetCapabilities and GetProfiles (Media1 and
Media2) of the vendor shape are answered with the PTZ and Imaging services and a PTZ configuration in
every profile added.

`make_ptz_picture` makes the picture the camera looks at: the first frame of vtest.avi (real footage
from Debian's opencv-doc, sim/footage.py), upscaled twice to 1536x1152.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from sim.onvif_device import HttpReply, OnvifDeviceServer, child_text, duration_s, find_child, local_name, namespace_of

__all__ = [
    "AXES",
    "DEFAULT_TIMEOUT_S",
    "NS_IMAGING",
    "NS_PTZ",
    "PICTURE_SIZE",
    "RANGES",
    "SPEED",
    "Motion",
    "PtzDeviceServer",
    "PtzMotion",
    "make_ptz_picture",
]

NS_PTZ: Final = "http://www.onvif.org/ver20/ptz/wsdl"
NS_IMAGING: Final = "http://www.onvif.org/ver20/imaging/wsdl"
NS_SCHEMA: Final = "http://www.onvif.org/ver10/schema"
NS_DEVICE: Final = "http://www.onvif.org/ver10/device/wsdl"
NS_ENV: Final = "http://www.w3.org/2003/05/soap-envelope"

AXES: Final = ("pan", "tilt", "zoom")
RANGES: Final = {"pan": (-1.0, 1.0), "tilt": (-1.0, 1.0), "zoom": (0.0, 1.0), "focus": (0.0, 1.0)}
SPEED: Final = 1.0  # units per second at velocity (or speed) 1, on every axis
DEFAULT_TIMEOUT_S: Final = 10.0
MAX_PRESETS: Final = 64
STATE_VERSION: Final = 1  # the state file's format; sim/rtsp_server.py reads it (PTZ_STATE_VERSION there)
PICTURE_SIZE: Final = (1536, 1152)
NODE_TOKEN: Final = "PTZNode_1"  # noqa: S105 - an ONVIF token, not a secret
CONFIG_TOKEN: Final = "PTZConfig_1"  # noqa: S105 - an ONVIF token, not a secret
_PICTURE_VERSION: Final = 1

_SPACE: Final = "http://www.onvif.org/ver10/tptz"
_POSITION_PT: Final = f"{_SPACE}/PanTiltSpaces/PositionGenericSpace"
_POSITION_Z: Final = f"{_SPACE}/ZoomSpaces/PositionGenericSpace"
_TRANSLATION_PT: Final = f"{_SPACE}/PanTiltSpaces/TranslationGenericSpace"
_TRANSLATION_Z: Final = f"{_SPACE}/ZoomSpaces/TranslationGenericSpace"
_VELOCITY_PT: Final = f"{_SPACE}/PanTiltSpaces/VelocityGenericSpace"
_VELOCITY_Z: Final = f"{_SPACE}/ZoomSpaces/VelocityGenericSpace"
_SPEED_PT: Final = f"{_SPACE}/PanTiltSpaces/GenericSpeedSpace"
_SPEED_Z: Final = f"{_SPACE}/ZoomSpaces/ZoomGenericSpeedSpace"


# --- the motion ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Motion:
    """One axis: `start` at wall time `t0`, then `velocity` units per second until `t1` (None: no end
    but the range), always within [lo, hi]. The same model as sim/rtsp_server.py's AxisMotion."""

    start: float
    velocity: float
    t0: float
    t1: float | None
    lo: float
    hi: float
    # Where a move toward a target arrives, exactly: start + velocity * (t1 - t0) misses it by a rounding
    # (t0 and t1 are 1.8e9 s wall times), and a camera at a preset must read the preset's position.
    target: float | None = None

    def at(self, t: float) -> float:
        if self.target is not None and self.t1 is not None and t >= self.t1:
            return self.target
        end = t if self.t1 is None else min(t, self.t1)
        return min(self.hi, max(self.lo, self.start + self.velocity * max(0.0, end - self.t0)))

    def moving(self, t: float) -> bool:
        """Under way at `t`: a velocity, before its end, not held at the limit it runs into."""
        if self.velocity == 0 or (self.t1 is not None and t >= self.t1):
            return False
        position = self.at(t)
        return not ((self.velocity > 0 and position >= self.hi) or (self.velocity < 0 and position <= self.lo))

    def to_json(self) -> dict[str, float | None]:
        return {"start": self.start, "velocity": self.velocity, "t0": self.t0, "t1": self.t1, "lo": self.lo,
                "hi": self.hi, "target": self.target}  # fmt: skip


def _rest(axis: str, position: float, t: float) -> Motion:
    lo, hi = RANGES[axis]
    return Motion(min(hi, max(lo, position)), 0.0, t, None, lo, hi)


def _toward(axis: str, start: float, target: float, speed: float, t: float) -> Motion:
    """From `start` to `target` (clamped to the range) at `speed` units per second, arriving and stopping."""
    lo, hi = RANGES[axis]
    target = min(hi, max(lo, target))
    distance = target - start
    if distance == 0 or speed <= 0:
        return _rest(axis, start, t)
    rate = math.copysign(speed * SPEED, distance)
    return Motion(start, rate, t, t + abs(distance) / (speed * SPEED), lo, hi, target)


class PtzMotion:
    """The camera's pan, tilt, zoom (and focus), moving with time; thread-safe. Every change is written
    to `state_path` (when given) for the RTSP server. `clock` gives wall-clock seconds (time.time)."""

    def __init__(
        self,
        state_path: Path | None = None,
        *,
        position: tuple[float, float, float] = (0.0, 0.0, 0.0),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state_path = state_path
        self.clock = clock
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one writer at a time, each writing the state as it is then
        now = clock()
        self._axes = {axis: _rest(axis, value, now) for axis, value in zip(AXES, position, strict=True)}
        self._focus = _rest("focus", 0.5, now)
        self._publish()

    # -- reading --

    def position(self, t: float | None = None) -> tuple[float, float, float]:
        t = self.clock() if t is None else t
        with self._lock:
            pan, tilt, zoom = (self._axes[axis].at(t) for axis in AXES)
        return pan, tilt, zoom

    def moving(self, t: float | None = None) -> tuple[bool, bool]:
        """(pan or tilt moving, zoom moving)."""
        t = self.clock() if t is None else t
        with self._lock:
            return (self._axes["pan"].moving(t) or self._axes["tilt"].moving(t), self._axes["zoom"].moving(t))

    def focus(self, t: float | None = None) -> tuple[float, bool]:
        t = self.clock() if t is None else t
        with self._lock:
            return self._focus.at(t), self._focus.moving(t)

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {"version": STATE_VERSION, "axes": {axis: self._axes[axis].to_json() for axis in AXES}}

    # -- commands --

    def continuous(self, velocities: dict[str, float], timeout_s: float) -> None:
        """The axes named move at these velocities (-1..1) for `timeout_s`; the others keep their motion."""
        now = self.clock()
        with self._lock:
            for axis, velocity in velocities.items():
                lo, hi = RANGES[axis]
                here = self._axes[axis].at(now)
                self._axes[axis] = Motion(here, velocity * SPEED, now, now + timeout_s, lo, hi)
        self._publish()

    def stop(self, pan_tilt: bool = True, zoom: bool = True) -> None:
        now = self.clock()
        axes = (["pan", "tilt"] if pan_tilt else []) + (["zoom"] if zoom else [])
        with self._lock:
            for axis in axes:
                self._axes[axis] = _rest(axis, self._axes[axis].at(now), now)
        self._publish()

    def move_to(self, target: dict[str, float], speeds: dict[str, float]) -> None:
        """The axes named go to their target at their speed (0..1), each arriving and stopping there."""
        now = self.clock()
        with self._lock:
            for axis, value in target.items():
                here = self._axes[axis].at(now)
                self._axes[axis] = _toward(axis, here, value, speeds.get(axis, 1.0), now)
        self._publish()

    def move_by(self, delta: dict[str, float], speeds: dict[str, float]) -> None:
        now = self.clock()
        with self._lock:
            for axis, value in delta.items():
                here = self._axes[axis].at(now)
                self._axes[axis] = _toward(axis, here, here + value, speeds.get(axis, 1.0), now)
        self._publish()

    def focus_continuous(self, velocity: float, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        now = self.clock()
        with self._lock:
            here = self._focus.at(now)
            self._focus = replace(
                self._focus, start=here, velocity=velocity * SPEED, t0=now, t1=now + timeout_s, target=None
            )

    def focus_to(self, target: float, speed: float = 1.0) -> None:
        now = self.clock()
        with self._lock:
            self._focus = _toward("focus", self._focus.at(now), target, speed, now)

    def focus_stop(self) -> None:
        now = self.clock()
        with self._lock:
            self._focus = _rest("focus", self._focus.at(now), now)

    def _publish(self) -> None:
        """Write the state atomically: the RTSP server sees the old file or the new one, never half of one."""
        if self.state_path is None:
            return
        with self._write_lock:  # a command answered on another thread meanwhile is in this state too
            state = self.to_json()
            tmp = self.state_path.with_name(f".{self.state_path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(state), encoding="utf-8")
            tmp.replace(self.state_path)


# --- the picture --------------------------------------------------------------------------------


def make_ptz_picture(out_dir: Path) -> Path:
    """The picture the PTZ camera looks at (cached): vtest.avi's first frame, real footage, upscaled 2x
    (bicubic) to PICTURE_SIZE, as a PNG. Raises sim.footage.FootageMissing without the footage."""
    import cv2  # here: the ONVIF device itself needs no OpenCV

    from sim.footage import VTEST, read_frames

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "ptz_picture.png"
    sidecar = out_dir / "ptz_picture.json"
    want = {"version": _PICTURE_VERSION, "source": VTEST, "frame": 0, "size": list(PICTURE_SIZE)}
    try:
        if target.is_file() and json.loads(sidecar.read_text(encoding="utf-8")) == want:
            return target
    except (OSError, ValueError):
        pass
    frame = read_frames(VTEST, limit=1)[0]
    picture = cv2.resize(frame, PICTURE_SIZE, interpolation=cv2.INTER_CUBIC)
    tmp = out_dir / f".ptz_picture.{os.getpid()}.png"
    if not cv2.imwrite(str(tmp), picture):
        raise OSError(f"cannot write {tmp}")
    tmp.replace(target)
    sidecar.write_text(json.dumps(want), encoding="utf-8")
    return target


# --- the ONVIF device ---------------------------------------------------------------------------


def _num(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _floats(el: ET.Element | None, *names: str) -> list[float | None]:
    """Attributes of `el` as numbers (None when absent or not a finite number)."""
    values: list[float | None] = []
    for name in names:
        raw = None if el is None else el.get(name)
        try:
            number = None if raw is None else float(raw)
        except ValueError:
            number = None
        values.append(number if number is not None and math.isfinite(number) else None)
    return values


def _direct(el: ET.Element | None, name: str) -> ET.Element | None:
    if el is None:
        return None
    return next((c for c in el if isinstance(c.tag, str) and local_name(c.tag) == name), None)


def _space(name: str, uri: str, lo: float, hi: float, y: bool = True) -> str:
    """A tt:Space2DDescription (y) or tt:Space1DDescription element."""
    x = f"<tt:XRange><tt:Min>{_num(lo)}</tt:Min><tt:Max>{_num(hi)}</tt:Max></tt:XRange>"
    yr = f"<tt:YRange><tt:Min>{_num(lo)}</tt:Min><tt:Max>{_num(hi)}</tt:Max></tt:YRange>" if y else ""
    return f"<tt:{name}><tt:URI>{uri}</tt:URI>{x}{yr}</tt:{name}>"


_NODE_SPACES: Final = (
    _space("AbsolutePanTiltPositionSpace", _POSITION_PT, -1, 1)
    + _space("AbsoluteZoomPositionSpace", _POSITION_Z, 0, 1, y=False)
    + _space("RelativePanTiltTranslationSpace", _TRANSLATION_PT, -2, 2)
    + _space("RelativeZoomTranslationSpace", _TRANSLATION_Z, -1, 1, y=False)
    + _space("ContinuousPanTiltVelocitySpace", _VELOCITY_PT, -1, 1)
    + _space("ContinuousZoomVelocitySpace", _VELOCITY_Z, -1, 1, y=False)
    + f"<tt:PanTiltSpeedSpace><tt:URI>{_SPEED_PT}</tt:URI><tt:XRange><tt:Min>0</tt:Min><tt:Max>1</tt:Max>"
    "</tt:XRange></tt:PanTiltSpeedSpace>"
    f"<tt:ZoomSpeedSpace><tt:URI>{_SPEED_Z}</tt:URI><tt:XRange><tt:Min>0</tt:Min><tt:Max>1</tt:Max>"
    "</tt:XRange></tt:ZoomSpeedSpace>"
)


def _configuration_content() -> str:
    """The inside of a tt:PTZConfiguration (Media1's PTZConfiguration, Media2's PTZ, GetConfigurations)."""
    return (
        f"<tt:Name>PTZ</tt:Name><tt:UseCount>2</tt:UseCount><tt:NodeToken>{NODE_TOKEN}</tt:NodeToken>"
        # "PantTilt" is how the ONVIF schema spells it.
        f"<tt:DefaultAbsolutePantTiltPositionSpace>{_POSITION_PT}</tt:DefaultAbsolutePantTiltPositionSpace>"
        f"<tt:DefaultAbsoluteZoomPositionSpace>{_POSITION_Z}</tt:DefaultAbsoluteZoomPositionSpace>"
        f"<tt:DefaultRelativePanTiltTranslationSpace>{_TRANSLATION_PT}</tt:DefaultRelativePanTiltTranslationSpace>"
        f"<tt:DefaultRelativeZoomTranslationSpace>{_TRANSLATION_Z}</tt:DefaultRelativeZoomTranslationSpace>"
        f"<tt:DefaultContinuousPanTiltVelocitySpace>{_VELOCITY_PT}</tt:DefaultContinuousPanTiltVelocitySpace>"
        f"<tt:DefaultContinuousZoomVelocitySpace>{_VELOCITY_Z}</tt:DefaultContinuousZoomVelocitySpace>"
        f'<tt:DefaultPTZSpeed><tt:PanTilt x="1" y="1" space="{_SPEED_PT}"/><tt:Zoom x="1" space="{_SPEED_Z}"/>'
        "</tt:DefaultPTZSpeed>"
        f"<tt:DefaultPTZTimeout>PT{_num(DEFAULT_TIMEOUT_S)}S</tt:DefaultPTZTimeout>"
        f"<tt:PanTiltLimits>{_space('Range', _POSITION_PT, -1, 1)}</tt:PanTiltLimits>"
        f"<tt:ZoomLimits>{_space('Range', _POSITION_Z, 0, 1, y=False)}</tt:ZoomLimits>"
    )


_SOURCE_TOKEN: Final = re.compile(r"SourceToken>\s*([^<\s]+)\s*<")


class PtzDeviceServer(OnvifDeviceServer):
    """An ONVIF PTZ camera on 127.0.0.1. `state_path`: the JSON file the RTSP server's PTZ mount follows
    (None: the state is kept in memory only). `home`: where it points at start, and its home position."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        main_uri: str,
        sub_uri: str | None = None,
        state_path: Path | None = None,
        vendor: str = "generic",
        auth: str | None = None,
        home: tuple[float, float, float] = (0.0, 0.0, 0.0),
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(vendor, username, password, main_uri=main_uri, sub_uri=sub_uri, auth=auth, port=port)
        self.motion = PtzMotion(state_path, position=home, clock=clock)
        self.home = home
        self.presets: dict[str, tuple[str, tuple[float, float, float]]] = {}  # token -> (name, position)
        self._presets_lock = threading.Lock()
        self._preset_serial = 0
        fragments = " ".join(t.template for k, t in self._templates.items() if k.endswith("Profile"))
        self.source_tokens = frozenset(_SOURCE_TOKEN.findall(fragments))

    # -- SOAP plumbing --

    @staticmethod
    def _envelope(body: str) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<env:Envelope xmlns:env="{NS_ENV}" xmlns:tt="{NS_SCHEMA}" xmlns:tptz="{NS_PTZ}" '
            f'xmlns:timg="{NS_IMAGING}"><env:Body>{body}</env:Body></env:Envelope>'
        )

    def _sender_fault(self, subsub: str, reason: str) -> HttpReply:
        return HttpReply(400, self._fault("Sender", "InvalidArgVal", subsub, reason))

    @property
    def _base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _profile_tokens(self) -> set[str]:
        tokens = {self.shape.main.token}
        if self.sub_uri is not None:
            tokens.add(self.shape.sub.token)
        return tokens

    def _check_profile(self, request: ET.Element) -> None:
        if child_text(request, "ProfileToken") not in self._profile_tokens():
            raise self._sender_fault("NoProfile", "no such profile")

    # -- what the vendor shape answers, with PTZ added --

    def _services_entry(self, namespace: str, path: str) -> str:
        return (
            f'<tds:Service xmlns:tds="{NS_DEVICE}" xmlns:tt="{NS_SCHEMA}"><tds:Namespace>{namespace}</tds:Namespace>'
            f"<tds:XAddr>{self._base}{path}</tds:XAddr>"
            "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>"
        )

    def _with_ptz(self, action: str, body: str) -> str:
        if action == "GetServices":
            entries = self._services_entry(NS_PTZ, "/onvif/ptz_service") + self._services_entry(
                NS_IMAGING, "/onvif/imaging_service"
            )
            return re.sub(r"(</[\w.-]+:GetServicesResponse>)", lambda m: entries + m.group(1), body, count=1)
        if action == "GetCapabilities":
            caps = f'<tt:PTZ xmlns:tt="{NS_SCHEMA}"><tt:XAddr>{self._base}/onvif/ptz_service</tt:XAddr></tt:PTZ>'
            if re.search(r"<([\w.-]+:)?Imaging>", body) is None:
                caps = (
                    f'<tt:Imaging xmlns:tt="{NS_SCHEMA}"><tt:XAddr>{self._base}/onvif/imaging_service</tt:XAddr>'
                    f"</tt:Imaging>{caps}"
                )
            return re.sub(r"(</[\w.-]+:Capabilities>)(?![\s\S]*</[\w.-]+:Capabilities>)", lambda m: caps + m.group(1),
                          body, count=1)  # fmt: skip
        if action == "GetProfiles":
            config = f'token="{CONFIG_TOKEN}">{_configuration_content()}'
            if "Configurations>" in body:  # Media2: Configurations/PTZ
                element = f'<tr2:PTZ xmlns:tr2="http://www.onvif.org/ver20/media/wsdl" xmlns:tt="{NS_SCHEMA}" '
                return re.sub(r"(</[\w.-]+:Configurations>)", lambda m: f"{element}{config}</tr2:PTZ>{m.group(1)}",
                              body)  # fmt: skip
            element = f'<tt:PTZConfiguration xmlns:tt="{NS_SCHEMA}" {config}</tt:PTZConfiguration>'
            return re.sub(r"(</[\w.-]+:Profiles>)", lambda m: element + m.group(1), body)
        return body

    # -- dispatch --

    def render(self, key: str, request: ET.Element, path: str = "/") -> str | None:
        namespace = namespace_of(request.tag)
        action = local_name(request.tag)
        if namespace == NS_PTZ:
            return self._envelope(self._ptz(action, request))
        if namespace == NS_IMAGING:
            return self._envelope(self._imaging(action, request))
        body = super().render(key, request, path)
        if body is None or action not in ("GetServices", "GetCapabilities", "GetProfiles"):
            return body
        return self._with_ptz(action, body)

    # -- the PTZ service --

    def _ptz(self, action: str, request: ET.Element) -> str:
        handler = {
            "GetServiceCapabilities": self._ptz_capabilities,
            "GetNodes": self._get_nodes,
            "GetNode": self._get_node,
            "GetConfigurations": self._get_configurations,
            "GetConfiguration": self._get_configuration,
            "ContinuousMove": self._continuous_move,
            "Stop": self._stop,
            "AbsoluteMove": self._absolute_move,
            "RelativeMove": self._relative_move,
            "GetStatus": self._get_status,
            "GetPresets": self._get_presets,
            "SetPreset": self._set_preset,
            "GotoPreset": self._goto_preset,
            "RemovePreset": self._remove_preset,
            "GotoHomePosition": self._goto_home,
            "SetHomePosition": self._set_home,
        }.get(action)
        if handler is None:
            raise HttpReply(400, self._fault("Receiver", "ActionNotSupported", None, f"{action} is not supported"))
        return handler(request)

    def _ptz_capabilities(self, _request: ET.Element) -> str:
        return (
            '<tptz:GetServiceCapabilitiesResponse><tptz:Capabilities EFlip="false" Reverse="false" '
            'GetCompatibleConfigurations="false" MoveStatus="true" StatusPosition="true"/>'
            "</tptz:GetServiceCapabilitiesResponse>"
        )

    def _node(self) -> str:
        return (
            f'<tptz:PTZNode token="{NODE_TOKEN}" FixedHomePosition="false"><tt:Name>PTZ</tt:Name>'
            f"<tt:SupportedPTZSpaces>{_NODE_SPACES}</tt:SupportedPTZSpaces>"
            f"<tt:MaximumNumberOfPresets>{MAX_PRESETS}</tt:MaximumNumberOfPresets>"
            "<tt:HomeSupported>true</tt:HomeSupported></tptz:PTZNode>"
        )

    def _get_nodes(self, _request: ET.Element) -> str:
        return f"<tptz:GetNodesResponse>{self._node()}</tptz:GetNodesResponse>"

    def _get_node(self, request: ET.Element) -> str:
        if child_text(request, "NodeToken") != NODE_TOKEN:
            raise self._sender_fault("NoEntity", "no such PTZ node")
        return f"<tptz:GetNodeResponse>{self._node()}</tptz:GetNodeResponse>"

    def _configuration(self, tag: str) -> str:
        return f'<tptz:{tag} token="{CONFIG_TOKEN}">{_configuration_content()}</tptz:{tag}>'

    def _get_configurations(self, _request: ET.Element) -> str:
        config = self._configuration("PTZConfiguration")
        return f"<tptz:GetConfigurationsResponse>{config}</tptz:GetConfigurationsResponse>"

    def _get_configuration(self, request: ET.Element) -> str:
        if child_text(request, "PTZConfigurationToken") != CONFIG_TOKEN:
            raise self._sender_fault("NoConfig", "no such PTZ configuration")
        config = self._configuration("PTZConfiguration")
        return f"<tptz:GetConfigurationResponse>{config}</tptz:GetConfigurationResponse>"

    def _vector(self, request: ET.Element, name: str, low: float, high: float, zoom_low: float) -> dict[str, float]:
        """The axes a PTZVector/PTZSpeed element of the request gives; a fault for a value out of range."""
        vector = _direct(request, name)
        values: dict[str, float] = {}
        pan_tilt, zoom = _direct(vector, "PanTilt"), _direct(vector, "Zoom")
        if pan_tilt is not None:
            pan, tilt = _floats(pan_tilt, "x", "y")
            if pan is not None:
                values["pan"] = pan
            if tilt is not None:
                values["tilt"] = tilt
        if zoom is not None:
            (z,) = _floats(zoom, "x")
            if z is not None:
                values["zoom"] = z
        for axis, value in values.items():
            lo = zoom_low if axis == "zoom" else low
            if not lo <= value <= high:
                raise self._sender_fault(f"Invalid{name}", f"{axis} {value} is out of range")
        return values

    def _speeds(self, request: ET.Element) -> dict[str, float]:
        speeds = self._vector(request, "Speed", 0.0, 1.0, 0.0)
        return {axis: value for axis, value in speeds.items() if value > 0}

    def _continuous_move(self, request: ET.Element) -> str:
        self._check_profile(request)
        velocities = self._vector(request, "Velocity", -1.0, 1.0, -1.0)
        timeout = duration_s(child_text(request, "Timeout"), DEFAULT_TIMEOUT_S)
        if timeout <= 0:
            raise self._sender_fault("TimeoutNotSupported", "Timeout must be above 0")
        self.motion.continuous(velocities, timeout)
        return "<tptz:ContinuousMoveResponse/>"

    def _stop(self, request: ET.Element) -> str:
        self._check_profile(request)
        pan_tilt = (child_text(request, "PanTilt") or "true").lower() != "false"
        zoom = (child_text(request, "Zoom") or "true").lower() != "false"
        self.motion.stop(pan_tilt, zoom)
        return "<tptz:StopResponse/>"

    def _absolute_move(self, request: ET.Element) -> str:
        self._check_profile(request)
        self.motion.move_to(self._vector(request, "Position", -1.0, 1.0, 0.0), self._speeds(request))
        return "<tptz:AbsoluteMoveResponse/>"

    def _relative_move(self, request: ET.Element) -> str:
        self._check_profile(request)
        self.motion.move_by(self._vector(request, "Translation", -2.0, 2.0, -1.0), self._speeds(request))
        return "<tptz:RelativeMoveResponse/>"

    @staticmethod
    def _position_xml(tag: str, position: tuple[float, float, float]) -> str:
        pan, tilt, zoom = position
        return (
            f'<tt:{tag}><tt:PanTilt x="{_num(pan)}" y="{_num(tilt)}" space="{_POSITION_PT}"/>'
            f'<tt:Zoom x="{_num(zoom)}" space="{_POSITION_Z}"/></tt:{tag}>'
        )

    def _get_status(self, request: ET.Element) -> str:
        self._check_profile(request)
        now = self.motion.clock()
        position = self.motion.position(now)
        pan_tilt, zoom = self.motion.moving(now)
        return (
            "<tptz:GetStatusResponse><tptz:PTZStatus>"
            f"{self._position_xml('Position', position)}"
            f"<tt:MoveStatus><tt:PanTilt>{'MOVING' if pan_tilt else 'IDLE'}</tt:PanTilt>"
            f"<tt:Zoom>{'MOVING' if zoom else 'IDLE'}</tt:Zoom></tt:MoveStatus>"
            f"<tt:UtcTime>{_iso(self.device_now())}</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>"
        )

    def _get_presets(self, request: ET.Element) -> str:
        self._check_profile(request)
        with self._presets_lock:
            items = list(self.presets.items())
        presets = "".join(
            f'<tptz:Preset token="{escape(token, {chr(34): "&quot;"})}"><tt:Name>{escape(name)}</tt:Name>'
            f"{self._position_xml('PTZPosition', position)}</tptz:Preset>"
            for token, (name, position) in items
        )
        return f"<tptz:GetPresetsResponse>{presets}</tptz:GetPresetsResponse>"

    def _set_preset(self, request: ET.Element) -> str:
        self._check_profile(request)
        name, token = child_text(request, "PresetName"), child_text(request, "PresetToken")
        position = self.motion.position()
        with self._presets_lock:
            if token is not None and token not in self.presets:
                raise self._sender_fault("NoToken", "no such preset")
            if name is not None and any(n == name and t != token for t, (n, _) in self.presets.items()):
                raise self._sender_fault("PresetExist", "a preset of that name exists")
            if token is None:
                if len(self.presets) >= MAX_PRESETS:
                    raise HttpReply(400, self._fault("Receiver", "Action", "TooManyPresets", "no room for a preset"))
                self._preset_serial += 1
                token = f"Preset_{self._preset_serial}"
            old_name = self.presets.get(token, (None, position))[0]
            self.presets[token] = (name or old_name or token, position)
        stored = f"<tptz:PresetToken>{escape(token)}</tptz:PresetToken>"
        return f"<tptz:SetPresetResponse>{stored}</tptz:SetPresetResponse>"

    def _goto_preset(self, request: ET.Element) -> str:
        self._check_profile(request)
        with self._presets_lock:
            preset = self.presets.get(child_text(request, "PresetToken") or "")
        if preset is None:
            raise self._sender_fault("NoToken", "no such preset")
        self._go(preset[1], request)
        return "<tptz:GotoPresetResponse/>"

    def _go(self, position: tuple[float, float, float], request: ET.Element) -> None:
        speeds = self._speeds(request)
        self.motion.move_to(dict(zip(AXES, position, strict=True)), speeds)

    def _remove_preset(self, request: ET.Element) -> str:
        self._check_profile(request)
        with self._presets_lock:
            if self.presets.pop(child_text(request, "PresetToken") or "", None) is None:
                raise self._sender_fault("NoToken", "no such preset")
        return "<tptz:RemovePresetResponse/>"

    def _goto_home(self, request: ET.Element) -> str:
        self._check_profile(request)
        self._go(self.home, request)
        return "<tptz:GotoHomePositionResponse/>"

    def _set_home(self, request: ET.Element) -> str:
        self._check_profile(request)
        self.home = self.motion.position()
        return "<tptz:SetHomePositionResponse/>"

    # -- the Imaging service (focus) --

    def _imaging(self, action: str, request: ET.Element) -> str:
        if action == "GetServiceCapabilities":
            return (
                '<timg:GetServiceCapabilitiesResponse><timg:Capabilities ImageStabilization="false" Presets="false" '
                'AdaptablePreset="false"/></timg:GetServiceCapabilitiesResponse>'
            )
        if action not in ("GetMoveOptions", "Move", "Stop", "GetStatus"):
            raise HttpReply(400, self._fault("Receiver", "ActionNotSupported", None, f"{action} is not supported"))
        if child_text(request, "VideoSourceToken") not in self.source_tokens:
            raise self._sender_fault("NoSource", "no such video source")
        if action == "GetMoveOptions":
            return (
                "<timg:GetMoveOptionsResponse><timg:MoveOptions>"
                "<tt:Absolute><tt:Position><tt:Min>0</tt:Min><tt:Max>1</tt:Max></tt:Position>"
                "<tt:Speed><tt:Min>0</tt:Min><tt:Max>1</tt:Max></tt:Speed></tt:Absolute>"
                "<tt:Relative><tt:Distance><tt:Min>-1</tt:Min><tt:Max>1</tt:Max></tt:Distance>"
                "<tt:Speed><tt:Min>0</tt:Min><tt:Max>1</tt:Max></tt:Speed></tt:Relative>"
                "<tt:Continuous><tt:Speed><tt:Min>-1</tt:Min><tt:Max>1</tt:Max></tt:Speed></tt:Continuous>"
                "</timg:MoveOptions></timg:GetMoveOptionsResponse>"
            )
        if action == "Move":
            self._focus_move(request)
            return "<timg:MoveResponse/>"
        if action == "Stop":
            self.motion.focus_stop()
            return "<timg:StopResponse/>"
        position, moving = self.motion.focus()
        return (
            "<timg:GetStatusResponse><timg:Status><tt:FocusStatus20>"
            f"<tt:Position>{_num(position)}</tt:Position><tt:MoveStatus>{'MOVING' if moving else 'IDLE'}"
            "</tt:MoveStatus></tt:FocusStatus20></timg:Status></timg:GetStatusResponse>"
        )

    def _focus_move(self, request: ET.Element) -> None:
        focus = find_child(request, "Focus")
        for kind in ("Continuous", "Absolute", "Relative"):
            move = _direct(focus, kind)
            if move is None:
                continue
            try:
                speed = float(child_text(move, "Speed") or "1")
                value = float(child_text(move, "Position" if kind == "Absolute" else "Distance") or "0")
                if not (math.isfinite(speed) and math.isfinite(value) and -1.0 <= speed <= 1.0):
                    raise ValueError(speed)
                if kind == "Continuous":
                    self.motion.focus_continuous(speed)
                elif kind == "Absolute":
                    self.motion.focus_to(value, abs(speed) or 1.0)
                else:
                    self.motion.focus_to(self.motion.focus()[0] + value, abs(speed) or 1.0)
            except ValueError:
                raise self._sender_fault("InvalidMove", f"bad {kind} focus move") from None
            return
        raise self._sender_fault("InvalidMove", "no focus move given")
