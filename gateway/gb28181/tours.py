"""Cruise (巡航) and scan (扫描) of PTZCmd (annex A.3.5, A.3.6), carried out by the gateway.

ONVIF keeps both as vendor features (preset tours at best, with no common form), so the gateway drives
them itself through the moves every ONVIF PTZ camera has:

- **Cruise.** A group is a list of preset numbers with a dwell time (seconds at each, `DEFAULT_DWELL_S`
  until set) and a speed; started, the camera goes from preset to preset, round and round.
- **Scan.** A group has a left and a right boundary (the pan where the camera pointed when each was
  set) and a speed; started, the camera sweeps from one to the other and back (AbsoluteMove at the
  speed, the tilt and zoom it had).

A tour runs until the platform sends any other PTZ command (a stop included), another controller takes
the camera (its own command, or the guard position's return), or the camera stops answering. Its moves
are made without holding the camera, so that a person can always take over. Groups live in memory,
per platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from adapters.gb28181.ptzcmd import Cruise, Scan
from gateway.errors import GatewayError
from gateway.ptz import PtzControl

log = logging.getLogger(__name__)

DEFAULT_DWELL_S: Final = 5.0
MAX_POINTS: Final = 32  # presets per cruise group
SPEED_TOP: Final = 0xFFF  # the 12-bit speed of annex A.3.5/A.3.6
DEFAULT_SPEED: Final = 0.5
POLL_S: Final = 0.2  # while a scan sweeps, how often it asks where the camera is
SWEEP_LIMIT_S: Final = 120.0  # a sweep that has not arrived by then is given up
ARRIVED: Final = 0.01  # generic pan units

# (camera id, preset number) -> the ONVIF token, or GatewayError when the camera has no such preset.
PresetToken = Callable[[str, int], Awaitable[str]]


@dataclass
class _CruiseGroup:
    presets: list[int] = field(default_factory=list)
    dwell_s: float = DEFAULT_DWELL_S
    speed: float | None = None


@dataclass
class _ScanGroup:
    left: float | None = None
    right: float | None = None
    speed: float = DEFAULT_SPEED


def _speed(value: int) -> float | None:
    return None if value <= 0 else min(value / SPEED_TOP, 1.0)


class Tours:
    """The cruise and scan groups of one platform and the tour running on each camera."""

    def __init__(self, ptz: PtzControl, who: str, preset_token: PresetToken) -> None:
        self._ptz = ptz
        self._who = who
        self._token = preset_token
        self._cruises: dict[tuple[str, int], _CruiseGroup] = {}
        self._scans: dict[tuple[str, int], _ScanGroup] = {}
        self._running: dict[str, asyncio.Task[None]] = {}

    def running(self, camera_id: str) -> bool:
        task = self._running.get(camera_id)
        return task is not None and not task.done()

    async def stop(self, camera_id: str) -> None:
        """End the camera's tour, if one runs (before any other command of the platform)."""
        task = self._running.pop(camera_id, None)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def aclose(self) -> None:
        for camera_id in list(self._running):
            await self.stop(camera_id)

    async def cruise(self, camera_id: str, command: Cruise) -> None:
        key = (camera_id, command.group)
        group = self._cruises.setdefault(key, _CruiseGroup())
        if command.action == "add":
            if command.preset not in group.presets:
                if len(group.presets) >= MAX_POINTS:
                    raise GatewayError(f"cruise group {command.group} already has {MAX_POINTS} presets")
                await self._token(camera_id, command.preset)  # a preset the camera has
                group.presets.append(command.preset)
        elif command.action == "delete":
            if command.preset == 0:
                self._cruises.pop(key, None)
            elif command.preset in group.presets:
                group.presets.remove(command.preset)
        elif command.action == "dwell":
            group.dwell_s = float(max(command.value, 1))
        elif command.action == "speed":
            group.speed = _speed(command.value)
        else:
            if len(group.presets) < 2:
                raise GatewayError(f"cruise group {command.group} has fewer than two presets")
            self._start(camera_id, self._run_cruise(camera_id, group), f"cruise {command.group}")

    async def scan(self, camera_id: str, command: Scan) -> None:
        key = (camera_id, command.group)
        group = self._scans.setdefault(key, _ScanGroup())
        if command.action in ("left", "right"):
            found = await self._ptz.position(camera_id)
            if found is None:
                raise GatewayError("the camera does not say where it points")
            setattr(group, command.action, found[0])
        elif command.action == "speed":
            group.speed = _speed(command.speed) or DEFAULT_SPEED
        else:
            if group.left is None or group.right is None or abs(group.left - group.right) < ARRIVED:
                raise GatewayError(f"scan group {command.group} has no left and right boundary")
            self._start(camera_id, self._run_scan(camera_id, group), f"scan {command.group}")

    def _start(self, camera_id: str, work: Awaitable[None], what: str) -> None:
        holder = self._ptz.holder(camera_id)
        if holder not in (None, self._who):
            raise GatewayError(f"camera {camera_id!r} is being controlled by {holder}")

        async def run() -> None:
            try:
                await work
            except GatewayError as exc:
                log.info("PTZ %s of %s by %s ended: %s", what, camera_id, self._who, exc)

        self._running[camera_id] = asyncio.create_task(run(), name=f"ptz-{what}-{camera_id}")
        log.info("PTZ %s of %s started by %s", what, camera_id, self._who)

    def _still_ours(self, camera_id: str) -> None:
        holder = self._ptz.holder(camera_id)
        if holder not in (None, self._who):
            raise GatewayError(f"taken over by {holder}")

    async def _run_cruise(self, camera_id: str, group: _CruiseGroup) -> None:
        while True:
            for number in list(group.presets):
                self._still_ours(camera_id)
                self._ptz.touch(camera_id)
                await self._ptz.goto_preset(camera_id, None, await self._token(camera_id, number))
                await asyncio.sleep(group.dwell_s)

    async def _run_scan(self, camera_id: str, group: _ScanGroup) -> None:
        assert group.left is not None and group.right is not None
        ends = (group.right, group.left)
        while True:
            for target in ends:
                self._still_ours(camera_id)
                self._ptz.touch(camera_id)
                found = await self._ptz.position(camera_id)
                if found is None:
                    raise GatewayError("the camera does not say where it points")
                _pan, tilt, zoom = found
                await self._ptz.move_to(camera_id, None, target, tilt, zoom, group.speed)
                await self._arrive(camera_id, target)

    async def _arrive(self, camera_id: str, target: float) -> None:
        async with asyncio.timeout(SWEEP_LIMIT_S):
            while True:
                await asyncio.sleep(POLL_S)
                self._still_ours(camera_id)
                found = await self._ptz.position(camera_id)
                if found is not None and abs(found[0] - target) < ARRIVED:
                    return
