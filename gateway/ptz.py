"""PTZ of the site's cameras, for every controller: a person on the camera page or the API, a city
platform over GB/T 28181. The cameras are driven through ONVIF PTZ (`adapters/onvif/ptz.py`).

- **One controller at a time.** Whoever moved a camera last keeps it until `idle_release_s` passes
  without a command of theirs; another controller's command meanwhile is refused (409, naming who
  holds it), so that two people, or a person and the city platform, do not fight over a camera.
- **A move always ends.** Every ContinuousMove carries the device's own timeout (`safety_stop_s`): a
  controller that never sends its stop (a closed browser tab, a lost platform) leaves the camera still.
- **One conversation per camera.** A camera's PTZ connection is opened on first use and kept; its
  commands are sent one at a time (a lock per camera), never two at once on one client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from adapters.onvif.client import OnvifClient
from adapters.onvif.ptz import Ptz, open_ptz
from adapters.onvif.soap import OnvifError
from gateway.config import CameraConfig, GatewayConfig
from gateway.errors import ConflictError, GatewayError, NotFoundError, SecretUnavailableError
from gateway.i18n import _

log = logging.getLogger(__name__)

IDLE_RELEASE_S: Final = 30.0
SAFETY_STOP_S: Final = 5.0
ONVIF_TIMEOUT_S: Final = 5.0
# A camera found without PTZ is not asked again for this long (a config or firmware change may add it).
NOT_SUPPORTED_TTL_S: Final = 600.0


class PtzNotSupportedError(ConflictError):
    """The camera has no PTZ (no ONVIF address, or its device offers none): nothing to control."""


class PtzUnavailableError(GatewayError):
    """The camera's PTZ could not be reached or refused the command."""

    http_status = 503


@dataclass
class _Hold:
    who: str
    until: float


@dataclass(frozen=True)
class PresetInfo:
    token: str
    name: str | None


@dataclass(frozen=True)
class ReturnSetting:
    """The guard position (看守位, GB/T 28181 HomePosition): `after_s` seconds after the last command,
    the camera goes back to the preset `preset_token` (None: the camera's own home position).
    `preset_index` is the number the platform gave, kept for its HomePositionQuery."""

    after_s: float
    preset_index: int
    preset_token: str | None


class PtzControl:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        idle_release_s: float = IDLE_RELEASE_S,
        safety_stop_s: float = SAFETY_STOP_S,
        clock: Callable[[], float] = time.monotonic,
        connect: Callable[[CameraConfig], OnvifClient] | None = None,
    ) -> None:
        self._config = config
        self._idle_release_s = idle_release_s
        self._safety_stop_s = safety_stop_s
        self._clock = clock
        self._connect = connect or _onvif_client
        self._clients: dict[str, OnvifClient] = {}
        self._ptz: dict[str, Ptz] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._holds: dict[str, _Hold] = {}
        self._unsupported: dict[str, tuple[float, str]] = {}
        # The guard position is kept by the gateway, not the camera: ONVIF has no such setting.
        self._returns: dict[str, ReturnSetting] = {}
        self._return_tasks: dict[str, asyncio.Task[None]] = {}

    # --- who may -----------------------------------------------------------------------------------

    def camera(self, camera_id: str) -> CameraConfig:
        camera = self._config.camera(camera_id)
        if camera is None:
            raise NotFoundError(_("no camera {camera_id}").format(camera_id=repr(camera_id)))
        if camera.source.onvif is None:
            raise PtzNotSupportedError(
                _("camera {camera_id} has no PTZ: it is not configured with an ONVIF address").format(
                    camera_id=repr(camera_id)
                )
            )
        return camera

    def holder(self, camera_id: str) -> str | None:
        hold = self._holds.get(camera_id)
        return hold.who if hold is not None and hold.until > self._clock() else None

    def _take(self, camera_id: str, who: str) -> None:
        holder = self.holder(camera_id)
        if holder is not None and holder != who:
            left = self._holds[camera_id].until - self._clock()
            raise ConflictError(
                _("camera {camera_id} is being controlled by {holder} (free in {left:.0f} s)").format(
                    camera_id=repr(camera_id), holder=holder, left=left
                )
            )
        self._holds[camera_id] = _Hold(who, self._clock() + self._idle_release_s)

    # --- commands --------------------------------------------------------------------------------

    async def move(self, camera_id: str, who: str, *, pan: float = 0.0, tilt: float = 0.0, zoom: float = 0.0) -> None:
        """Move at these velocities (-1..1) until stop, another move, or the safety stop."""
        for name, value in (("pan", pan), ("tilt", tilt), ("zoom", zoom)):
            if not -1.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within -1 and 1")
        await self._run(
            camera_id, who, "move", lambda p: p.continuous_move(pan, tilt, zoom, timeout_s=self._safety_stop_s)
        )

    async def stop(self, camera_id: str, who: str) -> None:
        await self._run(camera_id, who, "stop", lambda p: p.stop())

    async def presets(self, camera_id: str) -> list[PresetInfo]:
        found = await self._run(camera_id, None, "presets", lambda p: p.get_presets())
        return [PresetInfo(token, name) for token, name in found]

    async def goto_preset(self, camera_id: str, who: str | None, token: str) -> None:
        await self._run(camera_id, who, "goto preset", lambda p: p.goto_preset(token))

    async def set_preset(self, camera_id: str, who: str, name: str, token: str | None = None) -> str:
        stored: str = await self._run(camera_id, who, "set preset", lambda p: p.set_preset(name=name, token=token))
        return stored

    async def remove_preset(self, camera_id: str, who: str, token: str) -> None:
        await self._run(camera_id, who, "remove preset", lambda p: p.remove_preset(token))

    async def home(self, camera_id: str, who: str) -> None:
        await self._run(camera_id, who, "home", lambda p: p.goto_home_position())

    async def set_home(self, camera_id: str, who: str) -> None:
        await self._run(camera_id, who, "set home", lambda p: p.set_home_position())

    async def focus(self, camera_id: str, who: str, speed: float) -> None:
        """Continuous focus (-1 near .. 1 far) through the Imaging service, until focus_stop."""
        await self._run(camera_id, who, "focus", lambda p: p.focus_move(speed))

    async def focus_stop(self, camera_id: str, who: str) -> None:
        await self._run(camera_id, who, "focus stop", lambda p: p.focus_stop())

    async def auxiliary(self, camera_id: str, who: str, command: str) -> None:
        """An auxiliary command the camera's PTZ node lists ("tt:Wiper|On"); refused when it lists none
        such, rather than sent blind."""

        async def send(p: Ptz) -> None:
            node = await p.node()
            offered = node.auxiliary_commands if node is not None else ()
            if command not in offered:
                raise PtzNotSupportedError(
                    _("camera {camera_id} offers no auxiliary command {command}").format(
                        camera_id=repr(camera_id), command=repr(command)
                    )
                )
            await p.send_auxiliary(command)

        await self._run(camera_id, who, "auxiliary", send)

    def touch(self, camera_id: str) -> None:
        """Someone is using the camera without holding it (a cruise or scan): the guard position waits."""
        self._schedule_return(camera_id)

    def return_setting(self, camera_id: str) -> ReturnSetting | None:
        return self._returns.get(camera_id)

    def set_return(self, camera_id: str, who: str, setting: ReturnSetting | None) -> None:
        """Set or clear the guard position; the clock starts now."""
        self.camera(camera_id)
        holder = self.holder(camera_id)
        if holder not in (None, who):
            self._take(camera_id, who)  # refused (409): the one in control keeps it
        if setting is None:
            self._returns.pop(camera_id, None)
            task = self._return_tasks.pop(camera_id, None)
            if task is not None:
                task.cancel()
            return
        self._returns[camera_id] = setting
        self._schedule_return(camera_id)

    def _schedule_return(self, camera_id: str) -> None:
        setting = self._returns.get(camera_id)
        if setting is None:
            return
        old = self._return_tasks.pop(camera_id, None)
        if old is not None:
            old.cancel()
        task = asyncio.create_task(self._return_later(camera_id, setting), name=f"ptz-return-{camera_id}")
        self._return_tasks[camera_id] = task
        task.add_done_callback(lambda t: self._return_ended(camera_id, t))

    def _return_ended(self, camera_id: str, task: asyncio.Task[None]) -> None:
        if self._return_tasks.get(camera_id) is task:
            del self._return_tasks[camera_id]
        if not task.cancelled() and task.exception() is not None:
            log.warning("PTZ: guard position of %s failed: %s", camera_id, task.exception())

    async def _return_later(self, camera_id: str, setting: ReturnSetting) -> None:
        await asyncio.sleep(setting.after_s)
        token = setting.preset_token
        what = "guard position"
        # No controller holds the camera here: every command of one would have rescheduled this.
        await self._run(
            camera_id,
            None,
            what,
            (lambda p: p.goto_home_position()) if token is None else (lambda p: p.goto_preset(token)),
        )
        log.info("PTZ: %s back at its guard position after %.0f s idle", camera_id, setting.after_s)

    async def move_to(
        self, camera_id: str, who: str | None, pan: float, tilt: float, zoom: float, speed: float | None = None
    ) -> None:
        """AbsoluteMove to a position of the generic space (pan, tilt -1..1; zoom 0..1)."""
        await self._run(camera_id, who, "move to", lambda p: p.absolute_move(pan, tilt, zoom, speed))

    async def moving(self, camera_id: str) -> bool:
        status = await self._run(camera_id, None, "status", lambda p: p.get_status())
        return bool(status.moving)

    async def position(self, camera_id: str) -> tuple[float, float, float] | None:
        status = await self._run(camera_id, None, "status", lambda p: p.get_status())
        pos = status.position
        return None if pos is None else (pos.pan or 0.0, pos.tilt or 0.0, pos.zoom or 0.0)

    async def aclose(self) -> None:
        tasks = list(self._return_tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in self._clients.values():
            try:
                await client.aclose()
            except Exception:  # closing at shutdown: nothing to do about a socket that will not close
                log.debug("PTZ: closing an ONVIF client failed", exc_info=True)
        self._clients.clear()
        self._ptz.clear()

    # --- plumbing --------------------------------------------------------------------------------

    async def _run(self, camera_id: str, who: str | None, what: str, command: Callable[[Ptz], Any]) -> Any:
        camera = self.camera(camera_id)
        if who is not None and self.holder(camera_id) not in (None, who):
            self._take(camera_id, who)  # refused at once (409), without waiting for the camera
        lock = self._locks.setdefault(camera_id, asyncio.Lock())
        async with lock:
            ptz = await self._open(camera)
            if who is not None:
                self._take(camera_id, who)  # only a camera that has PTZ is held
                self._schedule_return(camera_id)  # idle counts from the last command
            try:
                return await command(ptz)
            except OnvifError as exc:
                if exc.reason in ("unreachable", "timeout"):
                    await self._forget(camera_id)  # connect afresh next time
                raise PtzUnavailableError(
                    _("camera {camera_id}: PTZ {what} failed: {exc}").format(
                        camera_id=repr(camera_id), what=what, exc=exc
                    )
                ) from None

    async def _open(self, camera: CameraConfig) -> Ptz:
        ptz = self._ptz.get(camera.id)
        if ptz is not None:
            return ptz
        refused = self._unsupported.get(camera.id)
        if refused is not None and self._clock() - refused[0] < NOT_SUPPORTED_TTL_S:
            raise PtzNotSupportedError(
                _("camera {camera} has no PTZ: {reason}").format(camera=repr(camera.id), reason=refused[1])
            )
        try:
            client = self._connect(camera)
        except SecretUnavailableError as exc:
            raise PtzUnavailableError(_("camera {camera}: {exc}").format(camera=repr(camera.id), exc=exc)) from None
        await client.__aenter__()
        self._clients[camera.id] = client
        onvif = camera.source.onvif
        try:
            ptz = await open_ptz(client, onvif.profile if onvif is not None else None)
        except OnvifError as exc:
            await self._forget(camera.id)
            if exc.reason == "not supported":
                self._unsupported[camera.id] = (self._clock(), exc.detail)
                raise PtzNotSupportedError(
                    _("camera {camera} has no PTZ: {detail}").format(camera=repr(camera.id), detail=exc.detail)
                ) from None
            raise PtzUnavailableError(
                _("camera {camera}: PTZ unreachable: {exc}").format(camera=repr(camera.id), exc=exc)
            ) from None
        self._ptz[camera.id] = ptz
        return ptz

    async def _forget(self, camera_id: str) -> None:
        self._ptz.pop(camera_id, None)
        client = self._clients.pop(camera_id, None)
        if client is not None:
            try:
                await client.aclose()
            except Exception:
                log.debug("PTZ: closing an ONVIF client failed", exc_info=True)


def _onvif_client(camera: CameraConfig) -> OnvifClient:
    onvif = camera.source.onvif
    assert onvif is not None  # PtzControl.camera() checked
    creds = camera.credentials
    password = creds.password.resolve() if creds is not None and creds.password is not None else None
    username = creds.username if creds is not None else None
    return OnvifClient(onvif.host, onvif.port, username, password, timeout_s=ONVIF_TIMEOUT_S)
