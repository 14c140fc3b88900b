"""The composition root: where the gateway's parts are built and connected.

`gateway run` (the app's lifespan) runs the whole gateway with :func:`running_gateway`, which builds
it with :func:`build_runtime`: every service, which reader reads which camera, and who listens to
whom. The CLI commands that need only what is stored (users, the audit log, reports, quality
references) and the demo open those parts with :func:`open_stores`. Nothing else constructs the
database, a service or the runtime; :class:`gateway.runtime.Runtime` only starts and stops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from gateway import __version__
from gateway.access import GrantStore
from gateway.admin import Admin
from gateway.analytics.events import EventStore
from gateway.analytics.service import AnalyticsService, cameras_needing_packets
from gateway.audit import AuditLog
from gateway.auth import UserStore
from gateway.config import CameraConfig, GatewayConfig, SupervisorConfig
from gateway.device_events import DeviceEventService
from gateway.errors import GatewayError
from gateway.gb28181.catalog import selected_cameras
from gateway.gb28181.ledger import ForwardLedger
from gateway.gb28181.service import Gb28181Service, device_info_from
from gateway.health.history import HistoryWriter
from gateway.health.policy import HealthPolicy
from gateway.health.state import CameraState, HealthTracker, StateOf, is_up
from gateway.health.uptime import HistoryReader
from gateway.inventory import InventoryService
from gateway.liveview.webrtc import AuditHook, LiveViewService
from gateway.outbox.destinations import build_outbox
from gateway.pipeline.bus import GOP_CACHE_BYTES, PacketBus
from gateway.pipeline.readers import Reader, RoutedReader, ThreadReader
from gateway.pipeline.workers import ProcessReader, default_worker_count
from gateway.ptz import PtzControl
from gateway.quality.references import QualityReferences
from gateway.recordings.replay import Replays
from gateway.recordings.service import RecordingAudit
from gateway.recordings.store import RecordingStore
from gateway.runtime import Runtime
from gateway.sessions import SessionStore
from gateway.storage.db import Database
from gateway.streams.hub import StreamHub
from gateway.streams.sources import (
    LightSources,
    Source,
    SourceFactory,
    StreamName,
    camera_source,
    rtsp_source_factory,
)
from gateway.tasks import Watchdog
from gateway.tickets.service import TicketService
from gateway.tickets.store import TicketStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stores:
    """What the gateway keeps in its database, for commands that do not run it."""

    db: Database
    users: UserStore
    grants: GrantStore
    audit: AuditLog
    admin: Admin
    history: HistoryReader
    ledger: ForwardLedger
    references: QualityReferences
    recordings: RecordingStore


@contextmanager
def open_stores(config: GatewayConfig) -> Iterator[Stores]:
    with Database(config.storage.url) as db:
        users = UserStore(db)
        grants = GrantStore(db, config, users)
        audit = AuditLog(db)
        admin = Admin(users, grants, SessionStore(db, users, audit, config.server), audit)
        yield Stores(
            db,
            users,
            grants,
            audit,
            admin,
            HistoryReader(db),
            ForwardLedger(db),
            QualityReferences(db),
            RecordingStore(db),
        )


def camera_readers(
    config: GatewayConfig,
    buses: dict[str, PacketBus],
    source_factory: SourceFactory,
    gop_cameras: frozenset[str] = frozenset(),
) -> tuple[Reader, ProcessReader | None, int]:
    """Who reads each camera for health: (the reader, its worker processes' part if any, their count).

    Cameras analysed on their main stream are read in this process: analytics takes every packet.
    The others go to worker processes on a large site (supervisor.workers, automatic by default);
    a viewed or forwarded one is tapped there (gateway/pipeline/workers.py), not opened again."""
    settings = config.supervisor
    enabled = [c.id for c in config.cameras if c.enabled]
    workers = settings.workers
    if workers is None:
        workers = default_worker_count(len(enabled), settings.cameras_per_worker)
    local = cameras_needing_packets(config)
    remote = [cid for cid in enabled if cid not in local]
    if source_factory is rtsp_source_factory and settings.rtsp_reader == "light":
        # The forwarded cameras (gop_cameras) are those whose sound a platform may take.
        source_factory = LightSources(frozenset(c.id for c in config.cameras if c.source.audio and c.id in gop_cameras))
    if workers == 0 or not remote:
        return ThreadReader(settings, buses, source_factory), None, 0
    processes = ProcessReader(settings, remote, workers, source_factory, buses=buses, gop_cameras=gop_cameras)
    if not local:
        return processes, processes, workers
    return RoutedReader(ThreadReader(settings, buses, source_factory), processes, local), processes, workers


def state_of(tracker: HealthTracker) -> StateOf:
    def state(camera_id: str) -> CameraState | None:
        try:
            return tracker.get(camera_id).state
        except KeyError:
            return None

    return state


def live_view_auditor(audit: AuditLog, users: UserStore) -> AuditHook:
    """What live view calls for each view started and ended: an audit entry, written off the event loop
    so that a slow disk never stalls video."""

    def role_of(name: str) -> str:
        try:
            return users.get(name).role.value
        except GatewayError:
            return ""

    def record(action: str, actor: str, camera_id: str, detail: dict[str, Any], source: str | None) -> None:
        def write() -> None:
            audit.record_quietly(actor, role_of(actor), action, camera_id, detail, source)

        try:
            asyncio.get_running_loop().run_in_executor(None, write)
        except RuntimeError:  # at shutdown the executor may be gone: write here rather than lose it
            write()

    return record


def build_runtime(
    config: GatewayConfig,
    site_config: GatewayConfig,
    db: Database,
    tracker: HealthTracker,
    history: HistoryWriter,
    reader: HistoryReader,
    source_factory: SourceFactory = rtsp_source_factory,
) -> Runtime:
    """Every part of a running gateway, connected; nothing runs until ``Runtime.start``."""
    watchdog = Watchdog()
    users = UserStore(db)
    audit = AuditLog(db)
    grants = GrantStore(db, site_config, users)
    sessions = SessionStore(db, users, audit, config.server)
    # The cameras forwarded to GB/T 28181 platforms keep their group of pictures: a session starts at once.
    forwarded = frozenset(c.id for up in config.uplinks.gb28181 for c in selected_cameras(config, up))
    buses = {c.id: PacketBus(c.id, GOP_CACHE_BYTES if c.id in forwarded else 0) for c in config.cameras}
    camera_reader, processes, workers = camera_readers(config, buses, source_factory, forwarded)
    local_ids = frozenset(c.id for c in config.cameras) if processes is None else cameras_needing_packets(config)
    inventory = InventoryService(config, db)

    def open_source(camera: CameraConfig, settings: SupervisorConfig, stream: StreamName) -> Source:
        # The injected factory (tests, the demo) makes main-stream sources; sub streams are RTSP.
        return source_factory(camera, settings) if stream == "main" else camera_source(camera, settings, stream)

    streams = StreamHub(
        config.supervisor, buses, local_ids.__contains__, resolve=inventory.resolve_stream, open_source=open_source
    )
    if processes is not None:
        streams.attach_tap(processes)
    camera_state = state_of(tracker)
    events = EventStore(db)
    analytics = AnalyticsService(config, buses, events, watchdog=watchdog, streams=streams)
    ledger = ForwardLedger(db)
    recordings = RecordingAudit(config, RecordingStore(db))
    replays = Replays(recordings)
    ptz = PtzControl(config, idle_release_s=config.ptz.idle_release_s, safety_stop_s=config.ptz.safety_stop_s)
    uplinks = Gb28181Service(
        config,
        camera_state,
        device_info_from(inventory.latest),
        streams,
        ledger,
        recordings=recordings.spans,
        replays=replays,
        ptz=ptz,
        snapshot=lambda camera_id, max_age_s: live.snapshot(camera_id, max_age_s),
    )
    live = LiveViewService(
        config, streams, camera_state, on_audit=live_view_auditor(audit, users), replays=replays, watchdog=watchdog
    )
    outbox = build_outbox(config, db, watchdog)
    outbox.health_source = tracker.all
    references = QualityReferences(db)

    async def ticket_picture(camera_id: str) -> bytes | None:
        # The picture now while video comes (a covered or frozen camera shows what is wrong), else how
        # the view looked when it was good (an offline camera has nothing newer).
        if is_up(camera_state(camera_id)):
            with contextlib.suppress(GatewayError):
                return await live.snapshot(camera_id)
        return references.get(camera_id)

    tickets = TicketService(config, TicketStore(db), outbox.publish, audit_entry=audit.record, picture=ticket_picture)
    # Who hears what: state changes, detections.
    for listener in (uplinks.camera_changed, live.camera_changed, outbox.camera_changed, tickets.camera_changed):
        tracker.subscribe(listener)
    analytics.on_event(uplinks.detection_event)
    analytics.on_event(outbox.event_stored)
    return Runtime(
        config=config,
        site_config=site_config,
        db=db,
        users=users,
        tracker=tracker,
        history=history,
        reader=reader,
        buses=buses,
        streams=streams,
        camera_reader=camera_reader,
        workers=workers,
        inventory=inventory,
        device_events=DeviceEventService(config, db),
        references=references,
        events=events,
        analytics=analytics,
        uplinks=uplinks,
        ledger=ledger,
        live=live,
        outbox=outbox,
        recordings=recordings,
        replays=replays,
        ptz=ptz,
        tickets=tickets,
        audit=audit,
        grants=grants,
        sessions=sessions,
        admin=Admin(users, grants, sessions, audit),
        watchdog=watchdog,
    )


@asynccontextmanager
async def running_gateway(
    config: GatewayConfig, *, start_cameras: bool = True, source_factory: SourceFactory = rtsp_source_factory
) -> AsyncIterator[Runtime]:
    """The whole gateway, started, for as long as the context lasts; stopped and closed after, also when
    building or starting it fails halfway (the run's row is closed, the database released)."""
    db = Database(config.storage.url).open()
    history: HistoryWriter | None = None
    runtime: Runtime | None = None
    try:
        # A process sharing the database with others watches only its shard: another instance's
        # cameras must not get states from this run, or their uptime would mix two watchers.
        local = config.for_instance()
        history = HistoryWriter(db, instance=config.instance_id())
        run_id = history.start(policy=HealthPolicy.from_config(config).describe())
        # Cameras start the run in its first instant, so the run has no unexplained gap in its history.
        tracker = HealthTracker(
            [c.id for c in local.cameras],
            since=history.started_at,
            disabled=frozenset(c.id for c in local.cameras if not c.enabled),
        )
        tracker.subscribe(history.record_state)
        tracker.subscribe_quality(history.record_quality)
        reader = HistoryReader(db, current_run_id=run_id)
        runtime = build_runtime(local, config, db, tracker, history, reader, source_factory)
        log.info(
            "gateway %s: site %s, instance %s, %d of %d camera(s), storage %s, run %d",
            __version__,
            config.site.id,
            history.instance,
            len(local.cameras),
            len(config.cameras),
            db.display_url,
            run_id,
        )
        await runtime.start(cameras=start_cameras)
        yield runtime
    finally:
        if runtime is not None:
            try:
                await runtime.stop()
            except Exception:  # the history and the database must still be closed
                log.exception("stopping the gateway failed")
        if history is not None:
            history.close()
        db.close()
        log.info("gateway stopped")
