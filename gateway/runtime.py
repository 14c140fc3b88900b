"""The running parts of one gateway, built by create_app and handed to routes as a dependency."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from gateway.auth import UserStore
from gateway.config import GatewayConfig
from gateway.health.history import StateHistory
from gateway.health.state import CameraState, CameraStatus, HealthTracker
from gateway.storage.db import Database
from gateway.supervisor import CameraSupervisor, SourceFactory, rtsp_source_factory

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    config: GatewayConfig
    db: Database
    users: UserStore
    tracker: HealthTracker
    history: StateHistory
    source_factory: SourceFactory = rtsp_source_factory
    supervisors: list[CameraSupervisor] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start_cameras(self) -> None:
        for camera in self.config.cameras:
            if not camera.enabled:
                self.tracker.set_state(camera.id, CameraState.DISABLED, "disabled in config")
                continue
            supervisor = CameraSupervisor(camera, self.config.supervisor, self.tracker, self.source_factory)
            self.supervisors.append(supervisor)
            self._tasks.append(asyncio.create_task(supervisor.run(), name=f"supervisor-{camera.id}"))
        log.info("started %d camera supervisor(s)", len(self.supervisors))

    async def stop_cameras(self) -> None:
        for supervisor in self.supervisors:
            supervisor.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.supervisors.clear()

    def status(self, camera_id: str) -> CameraStatus:
        return self.tracker.get(camera_id)
