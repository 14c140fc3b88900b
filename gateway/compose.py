"""The composition root: where the gateway's parts are built and connected.

`gateway run` (the app's lifespan) runs the whole gateway with :func:`running_gateway`; the CLI commands
that need only what is stored (users, the audit log, reports, quality references) and the demo open
those parts with :func:`open_stores`. Nothing else constructs the database or the runtime.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from gateway import __version__
from gateway.access import GrantStore
from gateway.admin import Admin
from gateway.audit import AuditLog
from gateway.auth import UserStore
from gateway.config import GatewayConfig
from gateway.gb28181.ledger import ForwardLedger
from gateway.health.history import HistoryWriter
from gateway.health.policy import HealthPolicy
from gateway.health.state import HealthTracker
from gateway.health.uptime import HistoryReader
from gateway.quality.references import QualityReferences
from gateway.runtime import Runtime
from gateway.sessions import SessionStore
from gateway.storage.db import Database
from gateway.streams.sources import SourceFactory, rtsp_source_factory

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


@contextmanager
def open_stores(config: GatewayConfig) -> Iterator[Stores]:
    with Database(config.storage.url) as db:
        users = UserStore(db)
        grants = GrantStore(db, config, users)
        audit = AuditLog(db)
        admin = Admin(users, grants, SessionStore(db, users, audit, config.server), audit)
        yield Stores(db, users, grants, audit, admin, HistoryReader(db), ForwardLedger(db), QualityReferences(db))


@asynccontextmanager
async def running_gateway(
    config: GatewayConfig, *, start_cameras: bool = True, source_factory: SourceFactory = rtsp_source_factory
) -> AsyncIterator[Runtime]:
    """The whole gateway, started, for as long as the context lasts; stopped and closed after."""
    db = Database(config.storage.url).open()
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
    runtime = Runtime(
        config=local,
        site_config=config,
        db=db,
        users=UserStore(db),
        tracker=tracker,
        history=history,
        reader=HistoryReader(db, current_run_id=run_id),
        source_factory=source_factory,
    )
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
    try:
        yield runtime
    finally:
        await runtime.stop()
        history.close()
        db.close()
        log.info("gateway stopped")
