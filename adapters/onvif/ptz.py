"""ONVIF PTZ (ver20 PTZ service) and the focus moves of the Imaging service, on the SOAP client.

`open_ptz(client)` finds the PTZ service (GetServices, or GetCapabilities on older devices), reads the
media profiles (Media1 GetProfiles, else Media2) for one with a PTZ configuration, and returns a `Ptz`
bound to that profile: continuous, relative and absolute moves, stop, presets, the home position and
the status. Velocities and positions are in the generic spaces every ONVIF PTZ device offers: pan and
tilt from -1 to 1 (pan right and tilt up positive), zoom from 0 (wide) to 1 (tele), velocities from -1
to 1, speeds from 0 to 1. A device without PTZ (no PTZ service, or no profile with a PTZ
configuration) gives OnvifError("not supported") that says which; a fault from the device names the
operation it answered.

Focus (Imaging service, `Move` with a Continuous focus speed, `Stop`, `GetStatus`) uses the video
source of the same profile. The Imaging service has no iris move: the iris is an exposure setting, or
an auxiliary command of the PTZ node on the cameras that list one (`PtzNode.auxiliary_commands`, e.g.
"irisin"), sent with `Ptz.send_auxiliary`.

Parsing is by local name through the hardened parsing of adapters.onvif.soap, as in the rest of the
client: vendors put elements in odd namespaces and leave optional ones out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from adapters.onvif.soap import (
    NS_DEVICE,
    NS_MEDIA,
    NS_MEDIA2,
    NS_SCHEMA,
    OnvifError,
    child,
    children,
    descendant,
    descendants,
    local_name,
    text_of,
    xsd_datetime,
)

__all__ = [
    "NS_IMAGING",
    "NS_PTZ",
    "FocusStatus",
    "Preset",
    "Ptz",
    "PtzDevice",
    "PtzNode",
    "PtzPosition",
    "PtzProfile",
    "PtzStatus",
    "open_ptz",
    "parse_focus_status",
    "parse_nodes",
    "parse_presets",
    "parse_profiles",
    "parse_status",
    "ptz_profiles",
    "ptz_service_url",
]

NS_PTZ: Final = "http://www.onvif.org/ver20/ptz/wsdl"
NS_IMAGING: Final = "http://www.onvif.org/ver20/imaging/wsdl"
_TRUE: Final = frozenset({"true", "1"})


class PtzDevice(Protocol):
    """What this module needs of `adapters.onvif.client.OnvifClient` (tests pass a fake)."""

    async def call(self, url: str, action: str, body: str, *, timeout_s: float | None = None) -> Element: ...

    async def services(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class PtzPosition:
    """A position in the generic spaces; an axis the device did not report is None."""

    pan: float | None
    tilt: float | None
    zoom: float | None


@dataclass(frozen=True)
class PtzStatus:
    position: PtzPosition | None
    pan_tilt_move: str | None  # "IDLE", "MOVING", "UNKNOWN", as the device says
    zoom_move: str | None
    error: str | None
    utc_time: datetime | None

    @property
    def moving(self) -> bool:
        return "MOVING" in ((self.pan_tilt_move or "").upper(), (self.zoom_move or "").upper())


@dataclass(frozen=True)
class Preset:
    token: str
    name: str | None
    position: PtzPosition | None  # many devices leave it out


@dataclass(frozen=True)
class PtzNode:
    token: str
    name: str | None
    home_supported: bool | None
    max_presets: int | None
    absolute: bool  # it lists an absolute pan/tilt or zoom position space
    relative: bool  # ... a relative translation space
    continuous: bool  # ... a continuous velocity space
    auxiliary_commands: tuple[str, ...]


@dataclass(frozen=True)
class PtzProfile:
    """A media profile that has a PTZ configuration."""

    token: str
    name: str | None
    configuration_token: str
    node_token: str | None
    video_source_token: str | None  # for the Imaging service (focus)
    default_timeout_s: float | None  # the configuration's DefaultPTZTimeout


@dataclass(frozen=True)
class FocusStatus:
    position: float | None
    move: str | None  # "IDLE", "MOVING", "UNKNOWN"
    error: str | None


# --- values -----------------------------------------------------------------------------------


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _int(value: str | None) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


def _bool(value: str | None) -> bool | None:
    return None if value is None else value.strip().lower() in _TRUE


def _duration(seconds: float) -> str:
    """xs:duration with millisecond resolution: PT2S, PT0.5S (a continuous move's timeout is often short)."""
    millis = max(1, round(seconds * 1000))
    whole, rest = divmod(millis, 1000)
    return f"PT{whole}S" if rest == 0 else f"PT{whole}.{rest:03d}".rstrip("0") + "S"


def _duration_s(value: str | None) -> float | None:
    """'PT1M30.5S' -> 90.5; None for anything else."""
    if not value:
        return None
    text = value.strip().upper()
    if not text.startswith("PT"):
        return None
    total, number = 0.0, ""
    for char in text[2:]:
        if char.isdigit() or char == ".":
            number += char
            continue
        factor = {"H": 3600.0, "M": 60.0, "S": 1.0}.get(char)
        if factor is None or not number:
            return None
        try:
            total += float(number) * factor
        except ValueError:
            return None
        number = ""
    return None if number else total


def _num(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _check(name: str, value: float, low: float, high: float) -> float:
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be a number from {low:g} to {high:g}, not {value!r}")
    return float(value)


def _vector(tag: str, pan: float | None, tilt: float | None, zoom: float | None) -> str:
    """A tt:PTZVector or tt:PTZSpeed element in the request's namespace (prefix tptz); axes left None are omitted."""
    pan_tilt = "" if pan is None or tilt is None else f'<tt:PanTilt x="{_num(pan)}" y="{_num(tilt)}"/>'
    zoom_el = "" if zoom is None else f'<tt:Zoom x="{_num(zoom)}"/>'
    return f"<tptz:{tag}>{pan_tilt}{zoom_el}</tptz:{tag}>"


def _speed(speed: float | None) -> str:
    if speed is None:
        return ""
    speed = _check("speed", speed, 0.0, 1.0)
    return _vector("Speed", speed, speed, speed)


# --- parsing ----------------------------------------------------------------------------------


def _position(el: Element | None) -> PtzPosition | None:
    """A tt:PTZVector (Position, PTZPosition): PanTilt x/y and Zoom x attributes."""
    if el is None:
        return None
    pan_tilt, zoom = child(el, "PanTilt"), child(el, "Zoom")
    if pan_tilt is None and zoom is None:
        return None
    return PtzPosition(
        pan=None if pan_tilt is None else _float(pan_tilt.get("x")),
        tilt=None if pan_tilt is None else _float(pan_tilt.get("y")),
        zoom=None if zoom is None else _float(zoom.get("x")),
    )


def parse_status(body: Element) -> PtzStatus:
    """A GetStatusResponse body (its PTZStatus)."""
    status = descendant(body, "PTZStatus")
    if status is None:
        raise OnvifError("bad response", "GetStatus without PTZStatus")
    move = child(status, "MoveStatus")
    pan_tilt_move, zoom_move = text_of(move, "PanTilt"), text_of(move, "Zoom")
    if move is not None and pan_tilt_move is None and zoom_move is None:
        pan_tilt_move = zoom_move = text_of(move)  # early firmwares: one MoveStatus for both
    return PtzStatus(
        position=_position(child(status, "Position")),
        pan_tilt_move=pan_tilt_move,
        zoom_move=zoom_move,
        error=text_of(status, "Error"),
        utc_time=xsd_datetime(text_of(status, "UtcTime")),
    )


def parse_presets(body: Element) -> list[Preset]:
    """A GetPresetsResponse body: its presets in the device's order (one without a token is skipped)."""
    response = descendant(body, "GetPresetsResponse")
    response = body if response is None else response
    return [
        Preset(token=token, name=text_of(preset, "Name"), position=_position(child(preset, "PTZPosition")))
        for preset in children(response, "Preset")
        if (token := preset.get("token"))
    ]


def parse_nodes(body: Element) -> list[PtzNode]:
    """A GetNodesResponse (PTZNode elements) or GetNodeResponse (PTZNode) body."""
    nodes: list[PtzNode] = []
    for node in descendants(body, "PTZNode"):
        token = node.get("token")
        if not token:
            continue
        spaces = child(node, "SupportedPTZSpaces")
        names = set() if spaces is None else {local_name(c.tag) for c in spaces if isinstance(c.tag, str)}
        nodes.append(
            PtzNode(
                token=token,
                name=text_of(node, "Name"),
                home_supported=_bool(text_of(node, "HomeSupported")),
                max_presets=_int(text_of(node, "MaximumNumberOfPresets")),
                absolute=bool(names & {"AbsolutePanTiltPositionSpace", "AbsoluteZoomPositionSpace"}),
                relative=bool(names & {"RelativePanTiltTranslationSpace", "RelativeZoomTranslationSpace"}),
                continuous=bool(names & {"ContinuousPanTiltVelocitySpace", "ContinuousZoomVelocitySpace"}),
                auxiliary_commands=tuple(
                    cmd for aux in children(node, "AuxiliaryCommands") if (cmd := text_of(aux)) is not None
                ),
            )
        )
    return nodes


def parse_profiles(body: Element) -> list[PtzProfile]:
    """The profiles of a GetProfiles answer (Media1 or Media2) that have a PTZ configuration."""
    response = descendant(body, "GetProfilesResponse")
    response = body if response is None else response
    found: list[PtzProfile] = []
    for prof in children(response, "Profiles"):
        token = prof.get("token")
        config = child(prof, "PTZConfiguration")  # Media1
        source = text_of(prof, "VideoSourceConfiguration", "SourceToken")
        if config is None:  # Media2: Configurations/PTZ and Configurations/VideoSource
            config = child(prof, "Configurations", "PTZ")
            source = text_of(prof, "Configurations", "VideoSource", "SourceToken")
        config_token = None if config is None else config.get("token")
        if not token or not config_token:
            continue
        found.append(
            PtzProfile(
                token=token,
                name=text_of(prof, "Name"),
                configuration_token=config_token,
                node_token=text_of(config, "NodeToken"),
                video_source_token=source,
                default_timeout_s=_duration_s(text_of(config, "DefaultPTZTimeout")),
            )
        )
    return found


def parse_focus_status(body: Element) -> FocusStatus:
    """An Imaging GetStatusResponse body (Status/FocusStatus20)."""
    focus = descendant(body, "FocusStatus20")
    if focus is None:
        focus = descendant(body, "FocusStatus")
    if focus is None:
        raise OnvifError("bad response", "Imaging GetStatus without FocusStatus20")
    return FocusStatus(
        position=_float(text_of(focus, "Position")),
        move=text_of(focus, "MoveStatus"),
        error=text_of(focus, "Error"),
    )


# --- the exchanges ----------------------------------------------------------------------------


async def _call(device: PtzDevice, url: str, namespace: str, operation: str, body: str) -> Element:
    """One call, its failure naming the operation (the detail is already redacted by the client)."""
    try:
        return await device.call(url, f"{namespace}/{operation}", body)
    except OnvifError as exc:
        raise OnvifError(exc.reason, f"{operation}: {exc.detail}") from None


async def ptz_service_url(device: PtzDevice) -> str:
    """The PTZ service's address (re-based by the client); OnvifError("not supported") without one."""
    url = (await device.services()).get(NS_PTZ)
    if url is None:
        raise OnvifError("not supported", "the device offers no PTZ service")
    return url


async def ptz_profiles(device: PtzDevice) -> list[PtzProfile]:
    """The media profiles with a PTZ configuration (Media1 GetProfiles, else Media2's), in the device's order."""
    services = await device.services()
    if NS_MEDIA in services or NS_MEDIA2 not in services:
        # Nothing advertised: many devices still answer Media1 on the device address.
        url = services.get(NS_MEDIA) or services.get(NS_DEVICE)
        if url is None:
            raise OnvifError("not supported", "the device offers no media service")
        body = await _call(device, url, NS_MEDIA, "GetProfiles", f'<trt:GetProfiles xmlns:trt="{NS_MEDIA}"/>')
    else:
        body = await _call(
            device,
            services[NS_MEDIA2],
            NS_MEDIA2,
            "GetProfiles",
            f'<tr2:GetProfiles xmlns:tr2="{NS_MEDIA2}"><tr2:Type>All</tr2:Type></tr2:GetProfiles>',
        )
    return parse_profiles(body)


async def open_ptz(device: PtzDevice, profile_token: str | None = None) -> Ptz:
    """PTZ control of one profile (`profile_token`, or the first profile with a PTZ configuration).

    Raises OnvifError("not supported") when the device has no PTZ service, no profile with a PTZ
    configuration, or the profile named has none."""
    url = await ptz_service_url(device)
    profiles = await ptz_profiles(device)
    if not profiles:
        raise OnvifError("not supported", "no media profile of the device has a PTZ configuration")
    if profile_token is None:
        profile = profiles[0]
    else:
        chosen = next((p for p in profiles if p.token == profile_token), None)
        if chosen is None:
            detail = f"profile {profile_token!r} has no PTZ configuration (or there is no such profile)"
            raise OnvifError("not supported", detail)
        profile = chosen
    imaging = (await device.services()).get(NS_IMAGING)
    return Ptz(device, url, profile, imaging_url=imaging)


class Ptz:
    """PTZ moves, presets and status of one media profile; made by `open_ptz`."""

    def __init__(self, device: PtzDevice, url: str, profile: PtzProfile, *, imaging_url: str | None = None) -> None:
        self.device = device
        self.url = url
        self.profile = profile
        self.imaging_url = imaging_url
        self._node: PtzNode | None = None
        self._node_asked = False

    def _request(self, operation: str, inner: str = "") -> str:
        return (
            f'<tptz:{operation} xmlns:tptz="{NS_PTZ}" xmlns:tt="{NS_SCHEMA}">'
            f"<tptz:ProfileToken>{escape(self.profile.token)}</tptz:ProfileToken>{inner}</tptz:{operation}>"
        )

    async def _ptz(self, operation: str, inner: str = "") -> Element:
        return await _call(self.device, self.url, NS_PTZ, operation, self._request(operation, inner))

    # -- the node --

    async def nodes(self) -> list[PtzNode]:
        body = await _call(self.device, self.url, NS_PTZ, "GetNodes", f'<tptz:GetNodes xmlns:tptz="{NS_PTZ}"/>')
        return parse_nodes(body)

    async def node(self) -> PtzNode | None:
        """The profile's PTZ node (what it can do); None when the device will not say."""
        if not self._node_asked:
            try:
                nodes = await self.nodes()
            except OnvifError as exc:
                if exc.reason not in ("not supported", "bad response"):
                    raise
                nodes = []
            wanted = self.profile.node_token
            self._node = next((n for n in nodes if n.token == wanted), nodes[0] if len(nodes) == 1 else None)
            self._node_asked = True
        return self._node

    # -- moves --

    async def continuous_move(
        self, pan: float = 0.0, tilt: float = 0.0, zoom: float = 0.0, timeout_s: float | None = None
    ) -> None:
        """Move at these velocities (-1..1) until stop(), another move, or `timeout_s` (the device's
        default timeout, DefaultPTZTimeout, when None)."""
        pan, tilt = _check("pan velocity", pan, -1.0, 1.0), _check("tilt velocity", tilt, -1.0, 1.0)
        zoom = _check("zoom velocity", zoom, -1.0, 1.0)
        timeout = ""
        if timeout_s is not None:
            if not (math.isfinite(timeout_s) and timeout_s > 0):
                raise ValueError(f"timeout_s must be above 0, not {timeout_s!r}")
            timeout = f"<tptz:Timeout>{_duration(timeout_s)}</tptz:Timeout>"
        await self._ptz("ContinuousMove", _vector("Velocity", pan, tilt, zoom) + timeout)

    async def stop(self, pan_tilt: bool = True, zoom: bool = True) -> None:
        """Stop the pan/tilt movement, the zoom movement, or both."""
        flags = f"<tptz:PanTilt>{str(pan_tilt).lower()}</tptz:PanTilt><tptz:Zoom>{str(zoom).lower()}</tptz:Zoom>"
        await self._ptz("Stop", flags)

    async def relative_move(
        self, pan: float = 0.0, tilt: float = 0.0, zoom: float = 0.0, speed: float | None = None
    ) -> None:
        """Move by a translation (pan and tilt -2..2, zoom -1..1, generic translation space), at `speed`
        (0..1; the device's default when None). OnvifError("not supported") when the node offers no
        relative translation space."""
        pan, tilt = _check("pan translation", pan, -2.0, 2.0), _check("tilt translation", tilt, -2.0, 2.0)
        zoom = _check("zoom translation", zoom, -1.0, 1.0)
        node = await self.node()
        if node is not None and not node.relative:
            raise OnvifError("not supported", f"PTZ node {node.token!r} offers no relative move")
        await self._ptz("RelativeMove", _vector("Translation", pan, tilt, zoom) + _speed(speed))

    async def absolute_move(self, pan: float, tilt: float, zoom: float, speed: float | None = None) -> None:
        """Move to a position (pan and tilt -1..1, zoom 0..1) at `speed` (0..1; the device's default when None)."""
        pan, tilt = _check("pan", pan, -1.0, 1.0), _check("tilt", tilt, -1.0, 1.0)
        zoom = _check("zoom", zoom, 0.0, 1.0)
        await self._ptz("AbsoluteMove", _vector("Position", pan, tilt, zoom) + _speed(speed))

    # -- presets and home --

    async def presets(self) -> list[Preset]:
        """The presets with their positions where the device gives them."""
        return parse_presets(await self._ptz("GetPresets"))

    async def get_presets(self) -> list[tuple[str, str | None]]:
        """(token, name) of every preset, in the device's order."""
        return [(p.token, p.name) for p in await self.presets()]

    async def set_preset(self, name: str | None = None, token: str | None = None) -> str:
        """Store the current position as a preset: a new one (`token` None), or over preset `token`.
        Returns the preset's token."""
        inner = "" if name is None else f"<tptz:PresetName>{escape(name)}</tptz:PresetName>"
        if token is not None:
            inner += f"<tptz:PresetToken>{escape(token)}</tptz:PresetToken>"
        body = await self._ptz("SetPreset", inner)
        stored = text_of(descendant(body, "PresetToken"))
        if stored is None:
            raise OnvifError("bad response", "SetPreset without PresetToken")
        return stored

    async def goto_preset(self, token: str, speed: float | None = None) -> None:
        await self._ptz("GotoPreset", f"<tptz:PresetToken>{escape(token)}</tptz:PresetToken>{_speed(speed)}")

    async def remove_preset(self, token: str) -> None:
        await self._ptz("RemovePreset", f"<tptz:PresetToken>{escape(token)}</tptz:PresetToken>")

    async def goto_home_position(self, speed: float | None = None) -> None:
        await self._ptz("GotoHomePosition", _speed(speed))

    async def set_home_position(self) -> None:
        await self._ptz("SetHomePosition")

    # -- status --

    async def get_status(self) -> PtzStatus:
        return parse_status(await self._ptz("GetStatus"))

    async def send_auxiliary(self, command: str) -> str | None:
        """A PTZ node auxiliary command ("irisin", "tt:Wiper|On", ...); the device's answer text."""
        body = await self._ptz("SendAuxiliaryCommand", f"<tptz:AuxiliaryData>{escape(command)}</tptz:AuxiliaryData>")
        return text_of(descendant(body, "AuxiliaryResponse"))

    # -- focus (Imaging service) --

    def _imaging(self) -> tuple[str, str]:
        if self.imaging_url is None:
            raise OnvifError("not supported", "the device offers no Imaging service")
        if self.profile.video_source_token is None:
            raise OnvifError("not supported", f"profile {self.profile.token!r} names no video source")
        return self.imaging_url, escape(self.profile.video_source_token)

    async def focus_move(self, speed: float) -> None:
        """Continuous focus move at `speed` (-1..1: negative is near, positive far, as the device's
        GetMoveOptions range allows) until focus_stop()."""
        speed = _check("focus speed", speed, -1.0, 1.0)
        url, source = self._imaging()
        await _call(
            self.device,
            url,
            NS_IMAGING,
            "Move",
            f'<timg:Move xmlns:timg="{NS_IMAGING}" xmlns:tt="{NS_SCHEMA}"><timg:VideoSourceToken>{source}'
            f"</timg:VideoSourceToken><timg:Focus><tt:Continuous><tt:Speed>{_num(speed)}</tt:Speed>"
            "</tt:Continuous></timg:Focus></timg:Move>",
        )

    async def focus_stop(self) -> None:
        url, source = self._imaging()
        await _call(
            self.device,
            url,
            NS_IMAGING,
            "Stop",
            f'<timg:Stop xmlns:timg="{NS_IMAGING}"><timg:VideoSourceToken>{source}</timg:VideoSourceToken></timg:Stop>',
        )

    async def focus_status(self) -> FocusStatus:
        url, source = self._imaging()
        body = await _call(
            self.device,
            url,
            NS_IMAGING,
            "GetStatus",
            f'<timg:GetStatus xmlns:timg="{NS_IMAGING}"><timg:VideoSourceToken>{source}</timg:VideoSourceToken>'
            "</timg:GetStatus>",
        )
        return parse_focus_status(body)
