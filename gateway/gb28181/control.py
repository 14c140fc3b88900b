"""A platform's DeviceControl and PTZ queries for one uplink: PTZCmd moves and presets driven through the
cameras' ONVIF PTZ (`gateway/ptz.py`, where one controller at a time holds a camera), and PresetQuery.

GB/T 28181 numbers presets 1-255; ONVIF names them by token. A preset the platform stores as number N
is an ONVIF preset named "N" (set over the token it already has, so N stays one preset); a camera's
own presets with other names get the free numbers in the camera's order, so that PresetQuery lists
every preset and a platform can call any of them.

Not served yet (logged, and where the standard asks for an answer, answered `Result ERROR`): focus and
iris, cruise, scan, the auxiliary switch, GuardCmd, AlarmCmd, RecordCmd, TeleBoot, HomePosition
settings and snapshots (issue 22's next steps).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from adapters.gb28181 import manscdp
from adapters.gb28181.ptzcmd import FocusIris, Preset, PtzMove
from gateway.errors import GatewayError
from gateway.ptz import PresetInfo, PtzControl

log = logging.getLogger(__name__)

MAX_PRESET: Final = 255
# PresetQuery in one message: wvp keeps only the first part of a split answer.
PRESETS_PER_MESSAGE: Final = MAX_PRESET
# A direction bit with speed 0 still means "move": at this share of full speed.
DEFAULT_SPEED: Final = 0.5


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
        log.info("GB/T 28181 %s: %s on %s is not served yet", self._who, type(control).__name__, camera_id)
        needs_answer = isinstance(
            control,
            manscdp.GuardControl | manscdp.AlarmResetControl | manscdp.RecordControl | manscdp.HomePositionControl,
        )
        return False if needs_answer else None

    async def _ptz_command(self, camera_id: str, command: object) -> None:
        if isinstance(command, PtzMove):
            if command.is_stop:
                await self._ptz.stop(camera_id, self._who)
                return
            pan = {"right": 1.0, "left": -1.0, None: 0.0}[command.pan] * velocity(command.pan_speed, 255)
            tilt = {"up": 1.0, "down": -1.0, None: 0.0}[command.tilt] * velocity(command.tilt_speed, 255)
            zoom = {"in": 1.0, "out": -1.0, None: 0.0}[command.zoom] * velocity(command.zoom_speed, 15)
            await self._ptz.move(camera_id, self._who, pan=pan, tilt=tilt, zoom=zoom)
        elif isinstance(command, Preset):
            await self._preset(camera_id, command)
        elif isinstance(command, FocusIris) and command.is_stop:
            return  # the stop of a focus or iris move we did not start
        else:
            raise GatewayError(f"{type(command).__name__} is not served yet")

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
