"""A platform's DeviceControl and PTZ queries for one uplink: PTZCmd moves and presets driven through the
cameras' ONVIF PTZ (`gateway/ptz.py`, where one controller at a time holds a camera), and PresetQuery.

GB/T 28181 numbers presets 1-255; ONVIF names them by token. A preset the platform stores as number N
is an ONVIF preset named "N" (set over the token it already has, so N stays one preset); a camera's
own presets with other names get the free numbers in the camera's order, so that PresetQuery lists
every preset and a platform can call any of them.

Focus runs through the ONVIF Imaging service; the iris and the auxiliary switches through the
auxiliary commands the camera's PTZ node lists ("irisin"/"irisout", "tt:Wiper|On"...), refused when it
lists none. HomePosition (the guard position, 看守位) is kept here, not in the camera: ONVIF has no such
setting (`PtzControl.set_return`).

Cruise and scan are carried out by the gateway (`tours.py`): ONVIF cameras keep them as vendor
features with no common form. Any other PTZ command of the platform ends a running tour first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from adapters.gb28181 import manscdp
from adapters.gb28181.ptzcmd import AuxSwitch, Cruise, FocusIris, Preset, PtzMove, Scan
from gateway.errors import GatewayError
from gateway.gb28181.tours import Tours
from gateway.ptz import PresetInfo, PtzControl, ReturnSetting

log = logging.getLogger(__name__)

MAX_PRESET: Final = 255
# PresetQuery in one message: wvp keeps only the first part of a split answer.
PRESETS_PER_MESSAGE: Final = MAX_PRESET
# A direction bit with speed 0 still means "move": at this share of full speed.
DEFAULT_SPEED: Final = 0.5
# HomePosition without a ResetTime: back after this long idle.
DEFAULT_RETURN_S: Final = 60.0
# The zoom ratio a platform is told for the camera's full zoom; ONVIF's generic space gives none.
ZOOM_RATIO_MAX: Final = 30.0
# Auxiliary switch numbers as ONVIF auxiliary commands: annex A.3.7 names switch 1 the wiper; 2 is the
# light (infrared lamp) on the cameras that have one. Others are the device's own: not guessed.
AUX_COMMANDS: Final = {1: "tt:Wiper", 2: "tt:IRLamp"}


def velocity(speed: int, top: int) -> float:
    """A PTZCmd speed (0..top) as an ONVIF velocity magnitude (0..1]."""
    return DEFAULT_SPEED if speed <= 0 else min(speed / top, 1.0)


def numbered(presets: Sequence[PresetInfo]) -> list[tuple[int, PresetInfo]]:
    """Each preset with its GB number: its name or token when that is a number 1-255, else the next
    free number, in the camera's order."""
    out: dict[int, PresetInfo] = {}
    rest: list[PresetInfo] = []
    for preset in presets:
        for label in (preset.name, preset.token):
            if label is not None and label.isdigit() and 1 <= int(label) <= MAX_PRESET and int(label) not in out:
                out[int(label)] = preset
                break
        else:
            rest.append(preset)
    free = (n for n in range(1, MAX_PRESET + 1) if n not in out)
    for preset in rest:
        number = next(free, None)
        if number is None:
            break
        out[number] = preset
    return sorted(out.items())


class PtzCommands:
    """What the uplink does with a platform's PTZ: `who` names the platform to the other controllers."""

    def __init__(self, ptz: PtzControl, who: str) -> None:
        self._ptz = ptz
        self._who = who
        self.tours = Tours(ptz, who, self._token)

    async def run(self, camera_id: str, controls: Sequence[manscdp.Control]) -> list[bool | None]:
        """Carry out the controls in order; per control True (done), False (failed), None (no answer due)."""
        results: list[bool | None] = []
        for control in controls:
            try:
                results.append(await self._one(camera_id, control))
            except (GatewayError, ValueError) as exc:
                log.info("GB/T 28181 %s: %s on %s refused: %s", self._who, type(control).__name__, camera_id, exc)
                results.append(False)
        return results

    async def _one(self, camera_id: str, control: manscdp.Control) -> bool | None:
        if isinstance(control, manscdp.PtzControl):
            await self._ptz_command(camera_id, control.command)
            return None  # the standard asks no answer of a PTZCmd
        if isinstance(control, manscdp.HomePositionControl):
            await self._home_position(camera_id, control)
            return True
        raise GatewayError(f"{type(control).__name__} is not a PTZ command")

    async def _home_position(self, camera_id: str, control: manscdp.HomePositionControl) -> None:
        if not control.enabled:
            self._ptz.set_return(camera_id, self._who, None)
            return
        index = control.preset_index or 0
        token: str | None = None
        if index:
            found = dict(numbered(await self._ptz.presets(camera_id)))
            if index not in found:
                raise GatewayError(f"no preset {index} on the camera for the guard position")
            token = found[index].token
        after = float(control.reset_time) if control.reset_time else DEFAULT_RETURN_S
        self._ptz.set_return(camera_id, self._who, ReturnSetting(after, index, token))

    def home_position(self, camera_id: str) -> tuple[bool, int | None, int | None]:
        """HomePositionQuery: (enabled, ResetTime, PresetIndex) as the platform set them."""
        setting = self._ptz.return_setting(camera_id)
        if setting is None:
            return False, None, None
        return True, round(setting.after_s), setting.preset_index

    async def position(self, camera_id: str) -> tuple[float, float, float] | None:
        """PTZPosition: (pan 0-360°, tilt -90-90°, zoom ratio >= 1) from the camera's ONVIF status.

        The generic spaces carry no angles: pan -1..1 is read as -180..180° (the mapping most dome
        cameras give their generic space), tilt -1..1 as -90..90°, zoom 0..1 as 1x..ZOOM_RATIO_MAX.
        A platform gets where the camera points in those terms, not a surveyed bearing."""
        found = await self._ptz.position(camera_id)
        if found is None:
            return None
        pan, tilt, zoom = found
        return (
            (max(-1.0, min(1.0, pan)) * 180.0) % 360.0,
            max(-1.0, min(1.0, tilt)) * 90.0,
            1.0 + max(0.0, min(1.0, zoom)) * (ZOOM_RATIO_MAX - 1.0),
        )

    async def _token(self, camera_id: str, number: int) -> str:
        found = dict(numbered(await self._ptz.presets(camera_id))).get(number)
        if found is None:
            raise GatewayError(f"no preset {number} on the camera")
        return found.token

    async def _ptz_command(self, camera_id: str, command: object) -> None:
        setting_up = isinstance(command, Cruise | Scan) and command.action not in ("start",)
        if not setting_up:
            await self.tours.stop(camera_id)
        if isinstance(command, Cruise):
            await self.tours.cruise(camera_id, command)
        elif isinstance(command, Scan):
            await self.tours.scan(camera_id, command)
        elif isinstance(command, PtzMove):
            if command.is_stop:
                await self._ptz.stop(camera_id, self._who)
                return
            pan = {"right": 1.0, "left": -1.0, None: 0.0}[command.pan] * velocity(command.pan_speed, 255)
            tilt = {"up": 1.0, "down": -1.0, None: 0.0}[command.tilt] * velocity(command.tilt_speed, 255)
            zoom = {"in": 1.0, "out": -1.0, None: 0.0}[command.zoom] * velocity(command.zoom_speed, 15)
            await self._ptz.move(camera_id, self._who, pan=pan, tilt=tilt, zoom=zoom)
        elif isinstance(command, Preset):
            await self._preset(camera_id, command)
        elif isinstance(command, FocusIris):
            await self._focus_iris(camera_id, command)
        elif isinstance(command, AuxSwitch):
            name = AUX_COMMANDS.get(command.switch)
            if name is None:
                raise GatewayError(f"auxiliary switch {command.switch} has no ONVIF equivalent")
            await self._ptz.auxiliary(camera_id, self._who, f"{name}|{'On' if command.on else 'Off'}")
        else:
            raise GatewayError(f"{type(command).__name__} is not a PTZ command")

    async def _focus_iris(self, camera_id: str, command: FocusIris) -> None:
        if command.is_stop:
            await self._ptz.focus_stop(camera_id, self._who)
            return
        if command.focus is not None:
            sign = -1.0 if command.focus == "near" else 1.0
            await self._ptz.focus(camera_id, self._who, sign * velocity(command.focus_speed, 255))
        if command.iris is not None:
            await self._ptz.auxiliary(camera_id, self._who, "irisin" if command.iris == "close" else "irisout")

    async def _preset(self, camera_id: str, command: Preset) -> None:
        found = dict(numbered(await self._ptz.presets(camera_id)))
        existing = found.get(command.preset)
        if command.action == "set":
            token = existing.token if existing is not None else None
            await self._ptz.set_preset(camera_id, self._who, str(command.preset), token)
        elif existing is None:
            raise GatewayError(f"no preset {command.preset} on the camera")
        elif command.action == "call":
            await self._ptz.goto_preset(camera_id, self._who, existing.token)
        else:
            await self._ptz.remove_preset(camera_id, self._who, existing.token)

    async def preset_list(self, camera_id: str) -> list[tuple[int, str]]:
        return [(n, p.name or p.token) for n, p in numbered(await self._ptz.presets(camera_id))]
