"""Events cameras report themselves over ONVIF (motion, tamper): subscribed by PullPoint, stored.

The subscription is kept alive across camera reboots by the adapter's watch_events, which
recreates it when the camera forgets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from adapters.onvif import OnvifClient, OnvifEvent, WatchStats, watch_events
from gateway.config import CameraConfig, GatewayConfig
from gateway.errors import SecretUnavailableError
from gateway.storage import schema
from gateway.storage.db import Database

log = logging.getLogger(__name__)
RETRY_S = 60.0


@dataclass
class DeviceEventService:
    config: GatewayConfig
    db: Database
    stats: dict[str, WatchStats] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def cameras(self) -> list[CameraConfig]:
        if not self.config.onvif.events:
            return []
        return [c for c in self.config.cameras if c.enabled and c.source.onvif is not None]

    async def run(self) -> None:
        await asyncio.gather(*(self._watch(c) for c in self.cameras()))

    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    async def _watch(self, camera: CameraConfig) -> None:
        onvif = camera.source.onvif
        assert onvif is not None
        stats = self.stats.setdefault(camera.id, WatchStats())
        while not self._stop.is_set():
            try:
                user = camera.credentials.username if camera.credentials else None
                password = (
                    camera.credentials.password.resolve()
                    if camera.credentials and camera.credentials.password
                    else None
                )
                async with OnvifClient(
                    onvif.host, onvif.port, user, password, timeout_s=self.config.onvif.timeout_s
                ) as client:
                    await watch_events(client, lambda e: self._store(camera.id, e), stop=self._stop, stats=stats)
            except SecretUnavailableError as exc:
                log.error("camera %s: ONVIF events: %s", camera.id, exc)
            except Exception:
                # One camera's events must not end the others': report, wait, and try again.
                log.exception("camera %s: ONVIF events failed", camera.id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), RETRY_S)

    async def _store(self, camera_id: str, event: OnvifEvent) -> None:
        data: dict[str, object] = {**event.source, **event.data}
        if event.utc is not None:
            # The camera's clock may be hours or a day off (the clock-offset check reports it):
            # kept for people, never used to file the event.
            data["camera_time"] = event.utc.isoformat()
        row = {
            "camera_id": camera_id,
            # History, queries and reports run on the gateway's clock: an event is filed when it arrived.
            "ts": time.time(),
            "kind": event.kind,
            "topic": event.topic[:200],
            "operation": event.operation,
            "data": data,
        }
        try:
            await asyncio.to_thread(self._insert, row)
        except SQLAlchemyError as exc:
            log.error("camera %s: could not store an ONVIF event: %s", camera_id, exc)
        if event.kind == "tamper" and event.operation != "Initialized":
            log.warning("camera %s: the camera reports tampering (%s)", camera_id, event.topic)

    def _insert(self, row: dict[str, object]) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(schema.device_events.insert().values(**row))
