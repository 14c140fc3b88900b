"""The database of a gateway under test, on the backend the run chose (`pytest --storage=...`), and
reads of it through SQLAlchemy, so that the same assertions hold on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text

from gateway.storage.db import Database

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer


def backend(config: pytest.Config) -> str:
    """The backend of whole-gateway tests: PostgreSQL under --storage=postgresql, else SQLite."""
    return "postgresql" if config.getoption("storage") == "postgresql" else "sqlite"


def new_url(request: pytest.FixtureRequest, directory: Path, *, kind: str | None = None) -> str:
    """A fresh migrated database for one gateway, usable from fixtures of any scope."""
    if (kind or backend(request.config)) == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.new_database(migrated=True)
    return f"sqlite:///{directory}/gateway.db"


def read(url: str, sql: str, params: Mapping[str, Any] | None = None) -> list[Sequence[Any]]:
    """Rows of a query written in the SQL both backends speak (named parameters: `:name`)."""
    with Database(url) as db, db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql), dict(params or {}))]


def integrity_ok(url: str) -> bool:
    """SQLite's own check of its file; PostgreSQL keeps its files consistent itself (WAL, checksums)."""
    if not url.startswith("sqlite"):
        return True
    return bool(read(url, "PRAGMA integrity_check")[0][0] == "ok")
