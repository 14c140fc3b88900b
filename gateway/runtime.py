"""The running parts of one gateway (built and connected by gateway.compose), started and stopped here;
handed to the routes as a dependency."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from gateway import audit
from gateway.access import GrantStore
from gateway.admin import Admin
from gateway.analytics.events import EventStore
from gateway.analytics.service import AnalyticsService
from gateway.audit import AuditLog, record_config_change
from gateway.auth import User, UserStore
from gateway.config import GatewayConfig
from gateway.device_events import DeviceEventService
from gateway.gb28181.ledger import ForwardLedger, previous_run_end
from gateway.gb28181.service import Gb28181Service
from gateway.health.history import HistoryWriter, prune
from gateway.health.policy import HealthPolicy
from gateway.health.rollup import rollup
from gateway.health.state import CameraStatus, HealthTracker
from gateway.health.uptime import HistoryReader
from gateway.inventory import InventoryService
from gateway.liveview.webrtc import LiveViewService
from gateway.outbox.service import Outbox
from gateway.pipeline.bus import PacketBus
from gateway.pipeline.readers import Reader
from gateway.ptz import PtzControl
from gateway.quality.references import QualityReferences
from gateway.recordings.replay import Replays
from gateway.recordings.service import RecordingAudit
from gateway.sessions import SessionStore
from gateway.storage.db import Database
from gateway.streams.hub import StreamHub
from gateway.supervisor import CameraSupervisor
from gateway.tasks import Watchdog
from gateway.tickets.service import TicketService

log = logging.getLogger(__name__)


# The last heartbeat bounds a run that ended without a clean stop (crash, power cut), so this is the
# most monitored time a crash can be credited with.
HEARTBEAT_S = 5.0
SNAPSHOT_AUDIT_S = 300.0
SESSION_ROWS_KEPT_S = 7 * 86400.0
PRUNE_EVERY_S = 6 * 3600.0
# Each day's roll-up is made within this long of its end, ahead of the first long report that reads it;
# the days this far back are checked, so a gateway that was stopped over a midnight catches up.
ROLLUP_EVERY_S = 3600.0
ROLLUP_BACK_S = 3 * 86400.0


@dataclass
class Runtime:
    """The gateway's parts, built and connected by :func:`gateway.compose.build_runtime`; this class
    only runs them: :meth:`start` starts the camera supervisors and the periodic jobs, :meth:`stop`
    ends everything in order."""

    # This process's part of the site (its shard of cameras); site_config is the whole site, which
    # reports read from the shared database. They are the same object unless instance.cameras is set.
    config: GatewayConfig
    site_config: GatewayConfig
    db: Database
    users: UserStore
    tracker: HealthTracker
    history: HistoryWriter
    reader: HistoryReader
    # Packets of each camera's main stream in this process (its reader's, or a worker's tap).
    buses: dict[str, PacketBus]
    # The one owner of camera streams: live view, snapshots, analytics and GB/T 28181 acquire from it.
    streams: StreamHub
    # Reads every camera for health: threads here, worker processes, or both (RoutedReader).
    camera_reader: Reader
    workers: int
    inventory: InventoryService
    device_events: DeviceEventService
    references: QualityReferences
    events: EventStore
    analytics: AnalyticsService
    uplinks: Gb28181Service
    ledger: ForwardLedger
    live: LiveViewService
    outbox: Outbox
    recordings: RecordingAudit
    replays: Replays
    ptz: PtzControl
    tickets: TicketService
    audit: AuditLog
    grants: GrantStore
    sessions: SessionStore
    admin: Admin
    # Every long-lived task and thread runs under it: one that dies is logged, shown and started again.
    watchdog: Watchdog
    started_at: float = field(default_factory=time.time)
    supervisors: dict[str, CameraSupervisor] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _snapshot_audited: dict[tuple[str, str], float] = field(default_factory=dict)

    async def start(self, *, cameras: bool = True) -> None:
        policy = HealthPolicy.from_config(self.config)
        await asyncio.to_thread(self.references.load)
        try:
            await asyncio.to_thread(record_config_change, self.audit, self.config)
        except SQLAlchemyError as exc:
            log.error("audit: recording the configuration failed: %s", exc)
        # Every run opens with each camera's state, so uptime never has to guess across a restart.
        self.tracker.announce()
        # Registrations and sessions a crash left open end where that run's history ends.
        try:
            ended = previous_run_end(self.db, self.history.run_id) or time.time()
            await asyncio.to_thread(self.ledger.close_open, ended, "gateway stopped unexpectedly")
        except SQLAlchemyError as exc:
            log.error("forwarding ledger: closing a crashed run's rows failed: %s", exc)
        await self.outbox.start()
        self._every(HEARTBEAT_S, self._heartbeat, "history-heartbeat")
        self._every(self.config.supervisor.sample_interval_s, self._sample, "history-sampler")
        self._every(PRUNE_EVERY_S, self._prune, "history-pruner")
        self._every(ROLLUP_EVERY_S, self._rollup, "history-rollup")
        if not cameras:
            return
        if self.inventory.onvif_cameras():
            self._tasks.append(self.watchdog.task("onvif-inventory", self.inventory.run))
        if self.device_events.cameras():
            self._tasks.append(
                self.watchdog.task("onvif-events", self.device_events.run, finished=self.device_events.stopping)
            )
        if self.recordings.cameras():
            self._tasks.append(self.watchdog.task("recording-audit", self.recordings.run))
        if self.config.tickets.enabled:
            self._tasks.append(self.watchdog.task("tickets", self.tickets.run))
        enabled = [c for c in self.config.cameras if c.enabled]
        settings = self.config.supervisor
        for camera in enabled:
            supervisor = CameraSupervisor(
                camera,
                settings,
                policy,
                self.tracker,
                self.camera_reader,
                resolve=self.inventory.resolve,
                references=self.references,
                tamper=self.device_events.tamper_active,
            )
            self.supervisors[camera.id] = supervisor
            self._tasks.append(
                self.watchdog.task(f"supervisor-{camera.id}", supervisor.run, finished=supervisor.stopping)
            )
        await self.analytics.start()
        # Uplinks last: the catalog a platform asks for right after registering lists live states.
        await self.uplinks.start()
        log.info(
            "started %d camera supervisor(s), read %s",
            len(self.supervisors),
            f"by {self.workers} worker process(es)" if self.workers else "in this process",
        )

    def _every(self, seconds: float, fn: Callable[[], Awaitable[None]], name: str) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                await fn()

        self._tasks.append(self.watchdog.task(name, loop))

    async def _heartbeat(self) -> None:
        self.history.heartbeat()

    async def _prune(self) -> None:
        cutoff = time.time() - self.config.storage.samples_days * 86400
        try:
            deleted = await asyncio.to_thread(prune, self.db, cutoff)
        except SQLAlchemyError as exc:
            log.error("history: pruning old samples failed: %s", exc)
            return
        if deleted:
            log.info("history: pruned %d sample(s) older than %d days", deleted, self.config.storage.samples_days)
        days = self.config.analytics.events_days
        try:
            deleted = await asyncio.to_thread(self.events.prune, time.time() - days * 86400)
        except SQLAlchemyError as exc:
            log.error("analytics: pruning old events failed: %s", exc)
            return
        if deleted:
            log.info("analytics: pruned %d event(s) older than %d days", deleted, days)
        try:
            await asyncio.to_thread(self.ledger.prune, cutoff)
        except SQLAlchemyError as exc:
            log.error("forwarding ledger: pruning failed: %s", exc)
        try:
            # Sign-ins are in the audit log for good; the session rows only serve live cookies.
            await asyncio.to_thread(self.sessions.prune, time.time() - SESSION_ROWS_KEPT_S)
        except SQLAlchemyError as exc:
            log.error("web sessions: pruning failed: %s", exc)

    async def _rollup(self) -> None:
        """The daily roll-ups of this process's cameras for the days just over (none, mostly: stored)."""
        now = time.time()
        cameras = [c.id for c in self.config.cameras]
        tz = ZoneInfo(self.config.site.timezone)
        try:
            await asyncio.to_thread(rollup, self.reader, cameras, now - ROLLUP_BACK_S, now, tz, now)
        except SQLAlchemyError as exc:
            log.error("history: daily roll-up failed: %s", getattr(exc, "orig", exc))

    async def _sample(self) -> None:
        self.history.record_samples(self.tracker.all())

    async def stop(self) -> None:
        # Unregister first, while the platform can still be told cleanly that we are going.
        await self.uplinks.stop()
        await self.live.stop()
        try:
            self.ledger.close_open(time.time(), "gateway stopped")
        except SQLAlchemyError as exc:
            log.error("forwarding ledger: closing rows at stop failed: %s", exc)
        self.device_events.stop()
        for supervisor in self.supervisors.values():
            supervisor.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.supervisors.clear()
        await self.analytics.stop()
        await self.recordings.aclose()
        await self.ptz.aclose()
        # After every consumer has let go of its feeds.
        stuck = await self.streams.close()
        if stuck:
            log.warning("streams: pull threads still running at stop: %s", ", ".join(stuck))
        await self.camera_reader.close()
        # After the cameras: their last states are written before the outbox closes.
        await self.outbox.stop()
        if not await asyncio.to_thread(self.references.wait_written, 5.0):
            log.warning("quality: a reference picture was still being stored at stop")
        # A last sample, so that the stored figures reach up to the stop.
        self.history.record_samples(self.tracker.all())

    def audit_snapshot(self, user: User, camera_id: str, source: str | None) -> None:
        """Blocking. One entry per user and camera per SNAPSHOT_AUDIT_S: a dashboard of thumbnails
        refreshing every few seconds would otherwise bury the log, and the question an auditor asks
        ("did this officer see pictures of this camera, and when") is answered either way."""
        now = time.monotonic()
        key = (user.name, camera_id)
        if now - self._snapshot_audited.get(key, -SNAPSHOT_AUDIT_S) < SNAPSHOT_AUDIT_S:
            return
        self._snapshot_audited[key] = now
        detail = {"coalesced_s": SNAPSHOT_AUDIT_S}
        self.audit.record_quietly(user.name, user.role.value, audit.SNAPSHOT, camera_id, detail, source)

    def status(self, camera_id: str) -> CameraStatus:
        return self.tracker.get(camera_id)
