"""What ONVIF cameras say about themselves: identity, profiles, stream URIs, clock, recordings.

Read at start and every `onvif.refresh_s`; each reading is stored, and a change of the main stream
(a camera switched to a lower resolution) is logged as a compliance event. Supervisors of ONVIF
cameras get their RTSP URL from here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from adapters.onvif import Inventory, MediaProfile, OnvifClient, OnvifError, VideoEncoding
from adapters.rtsp import Reason, SourceError
from gateway.config import CameraConfig, GatewayConfig, SourceConfig
from gateway.errors import SecretUnavailableError
from gateway.storage import schema
from gateway.storage.db import Database

log = logging.getLogger(__name__)

_ONVIF_TO_REASON = {
    "unreachable": Reason.UNREACHABLE,
    "timeout": Reason.TIMEOUT,
    "auth failed": Reason.AUTH_FAILED,
}
_VIDEO_CODECS = ("h264", "h265")


@dataclass(frozen=True)
class CameraInventory:
    camera_id: str
    ts: float
    ok: bool
    error: str | None = None
    inventory: Inventory | None = None
    main: MediaProfile | None = None
    sub: MediaProfile | None = None

    @property
    def clock_offset_s(self) -> float | None:
        return self.inventory.clock.offset_s if self.inventory else None

    @property
    def recording_search(self) -> bool | None:
        return None if self.inventory is None else self.inventory.recordings is not None

    def retention_days(self) -> float | None:
        """Days between the oldest and newest recorded video; None when not verifiable."""
        rec = self.inventory.recordings if self.inventory else None
        if rec is None or rec.earliest is None or rec.latest is None:
            return None
        return round((rec.latest - rec.earliest).total_seconds() / 86400, 2)


def choose_profile(profiles: list[MediaProfile], token: str | None) -> MediaProfile | None:
    """The named profile, else the largest H.264/H.265 profile that has a stream URI."""
    if token is not None:
        return next((p for p in profiles if p.token == token), None)
    candidates = [p for p in profiles if p.stream_uri and p.encoding and p.encoding.codec in _VIDEO_CODECS]
    if not candidates:
        candidates = [p for p in profiles if p.stream_uri]
    return max(candidates, key=lambda p: _area(p.encoding), default=None)


def _area(encoding: VideoEncoding | None) -> int:
    if encoding is None or encoding.width is None or encoding.height is None:
        return 0
    return encoding.width * encoding.height


ClientFactory = Callable[..., OnvifClient]


@dataclass
class InventoryService:
    config: GatewayConfig
    db: Database
    client_factory: ClientFactory = OnvifClient
    latest: dict[str, CameraInventory] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def onvif_cameras(self) -> list[CameraConfig]:
        return [c for c in self.config.cameras if c.enabled and c.source.onvif is not None]

    async def run(self) -> None:
        """Refresh every ONVIF camera now and then every onvif.refresh_s."""
        while True:
            await asyncio.gather(*(self.refresh(c) for c in self.onvif_cameras()))
            await asyncio.sleep(self.config.onvif.refresh_s)

    async def refresh(self, camera: CameraConfig) -> CameraInventory:
        lock = self._locks.setdefault(camera.id, asyncio.Lock())
        async with lock:
            reading = await self._read(camera)
            previous = self.latest.get(camera.id)
            self.latest[camera.id] = reading
        _log_changes(camera.id, previous, reading)
        await asyncio.to_thread(self._store, reading)
        return reading

    async def _read(self, camera: CameraConfig) -> CameraInventory:
        onvif = camera.source.onvif
        assert onvif is not None
        now = time.time()
        try:
            username = camera.credentials.username if camera.credentials else None
            password = (
                camera.credentials.password.resolve() if camera.credentials and camera.credentials.password else None
            )
            async with self.client_factory(
                onvif.host, onvif.port, username, password, timeout_s=self.config.onvif.timeout_s
            ) as client:
                inventory = await client.inventory()
                if self._clock_to_set(inventory):
                    inventory = await self._set_clock(camera, client, inventory)
        except OnvifError as exc:
            return CameraInventory(camera.id, now, ok=False, error=f"{exc.reason}: {exc.detail}")
        except SecretUnavailableError as exc:
            return CameraInventory(camera.id, now, ok=False, error=f"credentials unavailable: {exc}")
        main = choose_profile(inventory.profiles, onvif.profile)
        sub = choose_profile(inventory.profiles, onvif.sub_profile) if onvif.sub_profile else None
        error = None if main is not None else f"no profile {onvif.profile!r} with a stream" if onvif.profile else None
        return CameraInventory(camera.id, now, ok=True, error=error, inventory=inventory, main=main, sub=sub)

    def _clock_to_set(self, inventory: Inventory) -> bool:
        offset = inventory.clock.offset_s
        return (
            self.config.onvif.set_clock != "off"
            and offset is not None
            and abs(offset) > self.config.policy.max_clock_drift_s
        )

    async def _set_clock(self, camera: CameraConfig, client: OnvifClient, inventory: Inventory) -> Inventory:
        """Correct the camera's clock as configured, and read the inventory again to record the result."""
        onvif = self.config.onvif
        before = inventory.clock.offset_s
        try:
            if onvif.set_clock == "ntp":
                await client.set_system_time(ntp_server=onvif.ntp_server)
            else:
                await client.set_system_time()
        except OnvifError as exc:
            log.warning("camera %s: could not set its clock (%+.1f s off): %s", camera.id, before, exc.reason)
            return inventory
        after = await client.inventory()
        # Unfinished: this belongs in the tamper-evident audit trail (issue 8) once it exists.
        log.warning(
            "camera %s: clock set (%s), offset %+.1f s -> %s",
            camera.id,
            onvif.set_clock if onvif.set_clock == "manual" else f"ntp {onvif.ntp_server}",
            before,
            f"{after.clock.offset_s:+.1f} s" if after.clock.offset_s is not None else "unknown",
        )
        return after

    def _store(self, reading: CameraInventory) -> None:
        inv = reading.inventory
        rec = inv.recordings if inv else None
        row: dict[str, Any] = {
            "camera_id": reading.camera_id,
            "ts": reading.ts,
            "ok": reading.ok,
            "error": reading.error,
            "manufacturer": inv.info.manufacturer if inv else None,
            "model": inv.info.model if inv else None,
            "firmware": inv.info.firmware if inv else None,
            "serial": inv.info.serial if inv else None,
            "clock_offset_s": reading.clock_offset_s,
            "ntp": inv.clock.ntp if inv else None,
            "main_profile": _profile_json(reading.main),
            "profiles": [_profile_json(p) for p in inv.profiles] if inv else None,
            "recordings_earliest": rec.earliest.timestamp() if rec and rec.earliest else None,
            "recordings_latest": rec.latest.timestamp() if rec and rec.latest else None,
            "recording_search": reading.recording_search,
        }
        with self.db.engine.begin() as conn:
            conn.execute(schema.camera_inventory.insert().values(**row))

    async def resolve(self, camera: CameraConfig) -> CameraConfig:
        """The camera with an rtsp:// source: itself, or an ONVIF camera's main stream URI."""
        if camera.source.onvif is None:
            return camera
        reading = self.latest.get(camera.id)
        if reading is None or reading.main is None or not reading.main.stream_uri:
            reading = await self.refresh(camera)
        if not reading.ok:
            reason = _ONVIF_TO_REASON.get((reading.error or "").split(":", 1)[0], Reason.PROTOCOL)
            raise SourceError(reason, f"ONVIF: {reading.error}")
        if reading.main is None or not reading.main.stream_uri:
            raise SourceError(Reason.NO_VIDEO, reading.error or "the camera offers no video stream over ONVIF")
        source = SourceConfig(rtsp=reading.main.stream_uri, transport=camera.source.transport)
        return camera.model_copy(update={"source": source})

    async def resolve_stream(self, camera: CameraConfig, stream: Literal["main", "sub"]) -> CameraConfig:
        """The camera with rtsp:// URLs for ``stream``: an ONVIF camera's main stream URI and, for the sub
        stream, the URI of its ``onvif.sub_profile``."""
        resolved = await self.resolve(camera)
        if stream == "main" or camera.source.onvif is None:
            return resolved
        if camera.source.onvif.sub_profile is None:
            raise SourceError(Reason.UNSUPPORTED_SOURCE, f"camera {camera.id!r} has no onvif.sub_profile")
        reading = self.latest.get(camera.id)
        if reading is None or reading.sub is None or not reading.sub.stream_uri:
            reading = await self.refresh(camera)
        if reading.sub is None or not reading.sub.stream_uri:
            raise SourceError(
                Reason.NO_VIDEO, f"the camera has no ONVIF profile {camera.source.onvif.sub_profile!r} with a stream"
            )
        source = resolved.source.model_copy(update={"sub_rtsp": reading.sub.stream_uri})
        return resolved.model_copy(update={"source": source})


def _profile_json(profile: MediaProfile | None) -> dict[str, Any] | None:
    return asdict(profile) if profile is not None else None


def _log_changes(camera_id: str, previous: CameraInventory | None, reading: CameraInventory) -> None:
    if reading.ok and previous is not None and not previous.ok:
        log.info("camera %s: ONVIF answers again", camera_id)
    if not reading.ok and (previous is None or previous.ok):
        log.warning("camera %s: ONVIF inventory failed: %s", camera_id, reading.error)
    old = previous.main.encoding if previous and previous.main else None
    new = reading.main.encoding if reading.main else None
    if old and new and _area(new) < _area(old):
        # A camera switched to a lower resolution no longer gives the coverage it was counted for.
        log.warning(
            "camera %s: compliance event: main stream lowered from %sx%s to %sx%s",
            camera_id,
            old.width,
            old.height,
            new.width,
            new.height,
        )
    elif old and new and (old.codec, old.width, old.height) != (new.codec, new.width, new.height):
        log.info("camera %s: main stream changed to %s %sx%s", camera_id, new.codec, new.width, new.height)
