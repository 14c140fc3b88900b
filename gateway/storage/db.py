"""Database access: one engine per gateway, SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from adapters.common.redact import mask_url
from gateway.errors import StorageError
from gateway.i18n import _
from gateway.storage import schema
from gateway.storage.migrations import MIGRATIONS

log = logging.getLogger(__name__)

# Key of the PostgreSQL advisory lock held while migrating (any constant; this one spells "gwmigr").
MIGRATION_LOCK = 0x67776D69677200


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while supervisors write; NORMAL sync is durable across app crashes
    # (only a power cut can lose the last transactions), which is the usual trade for WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def serialize(conn: Connection, key: int) -> None:
    """Make writers that pass the same key take turns until this transaction ends, across processes.

    SQLite has one writer at a time anyway; PostgreSQL needs an advisory lock, for example where a
    row's value depends on the previous row (the audit chain) and several gateways share the database.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


class Database:
    """Owns the engine. Constructing it opens nothing; `open()` connects and migrates."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise StorageError(_("database is not open"))
        return self._engine

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    def open(self) -> Database:
        try:
            url = make_url(self.url)
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises several types for bad URLs
            raise StorageError(
                _("invalid storage url {display_url}: {exc}").format(display_url=self.display_url, exc=exc)
            ) from None
        kwargs: dict[str, Any] = {}
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 5}
        elif url.get_backend_name() == "postgresql":
            if url.get_driver_name() in ("", "psycopg2"):
                # psycopg 3 is what the gateway installs; SQLAlchemy's default for postgresql:// is psycopg2.
                url = url.set(drivername="postgresql+psycopg")
            # A database that does not answer must fail the caller in seconds, not hang it; the name
            # shows in pg_stat_activity, which is where a DBA of a shared server looks first.
            kwargs["connect_args"] = {"connect_timeout": 5, "application_name": "site-video-gateway"}
            # Keep-alive checks and recycling survive a server restart or a NAT that drops idle links.
            kwargs["pool_recycle"] = 1800
        try:
            engine = create_engine(url, pool_pre_ping=True, **kwargs)
        except (SQLAlchemyError, ImportError) as exc:
            raise StorageError(
                _("cannot open storage {display_url}: {exc}").format(display_url=self.display_url, exc=exc)
            ) from None
        if url.get_backend_name() == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        self._engine = engine
        self.migrate()
        return self

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> Database:
        return self.open()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            if not inspect(conn).has_table(schema.schema_migrations.name):
                return 0
            versions = conn.execute(select(schema.schema_migrations.c.version)).scalars().all()
        return max(versions, default=0)

    def migrate(self) -> list[int]:
        """Apply pending migrations, each in its own transaction; return the versions applied."""
        try:
            if self.engine.dialect.name != "postgresql":
                # One SQLite file serves one process. (A second connection held open here would also
                # keep SQLite's schema from before the migrations, and PRAGMAs read that stale copy.)
                return self._apply_pending()
            with self.engine.connect() as lock_conn:
                # Several gateway processes starting at once on one PostgreSQL database would race
                # to apply the same migration; the first takes the lock, the others then find nothing to do.
                lock_conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
                try:
                    return self._apply_pending()
                finally:
                    lock_conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                    lock_conn.commit()
        except SQLAlchemyError as exc:
            raise StorageError(
                _("migrating {display_url} failed: {exc}").format(display_url=self.display_url, exc=exc)
            ) from None

    def _apply_pending(self) -> list[int]:
        applied: list[int] = []
        with self.engine.begin() as conn:
            schema.schema_migrations.create(conn, checkfirst=True)
        current = self.schema_version()
        latest = max(m.version for m in MIGRATIONS)
        if current > latest:
            raise StorageError(
                _(
                    "database schema version {current} is newer than this gateway knows ({latest}): "
                    "upgrade the gateway or use another database"
                ).format(current=current, latest=latest)
            )
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            with self.engine.begin() as conn:
                migration.apply(conn)
                conn.execute(
                    schema.schema_migrations.insert().values(
                        version=migration.version, name=migration.name, applied_at=time.time()
                    )
                )
            log.info("storage: applied migration %d (%s)", migration.version, migration.name)
            applied.append(migration.version)
        return applied
