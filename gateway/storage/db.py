"""Database access: one engine per gateway, SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from adapters.common.redact import mask_url
from gateway.errors import StorageError
from gateway.storage import schema
from gateway.storage.migrations import MIGRATIONS

log = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while supervisors write; NORMAL sync is durable across app crashes
    # (only a power cut can lose the last transactions), which is the usual trade for WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    """Owns the engine. Constructing it opens nothing; `open()` connects and migrates."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise StorageError("database is not open")
        return self._engine

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    def open(self) -> Database:
        try:
            url = make_url(self.url)
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises several types for bad URLs
            raise StorageError(f"invalid storage url {self.display_url}: {exc}") from None
        kwargs: dict[str, Any] = {}
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 5}
        try:
            engine = create_engine(url, pool_pre_ping=True, **kwargs)
        except (SQLAlchemyError, ImportError) as exc:
            raise StorageError(f"cannot open storage {self.display_url}: {exc}") from None
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
        applied: list[int] = []
        try:
            with self.engine.begin() as conn:
                schema.schema_migrations.create(conn, checkfirst=True)
            current = self.schema_version()
            latest = max(m.version for m in MIGRATIONS)
            if current > latest:
                raise StorageError(
                    f"database schema version {current} is newer than this gateway knows ({latest}): "
                    "upgrade the gateway or use another database"
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
        except SQLAlchemyError as exc:
            raise StorageError(f"migrating {self.display_url} failed: {exc}") from None
        return applied
