from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from gateway.errors import StorageError
from gateway.storage import schema
from gateway.storage.db import Database
from gateway.storage.migrations import MIGRATIONS


def test_fresh_database_is_migrated_to_latest_and_matches_schema(tmp_path: Path) -> None:
    with Database(f"sqlite:///{tmp_path}/sub/dir/g.db") as db:
        assert db.schema_version() == max(m.version for m in MIGRATIONS)
        insp = inspect(db.engine)
        for table in schema.metadata.sorted_tables:
            columns = {c["name"] for c in insp.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_migrations_are_idempotent_and_ordered(tmp_path: Path) -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(set(versions)) and versions[0] == 1
    url = f"sqlite:///{tmp_path}/g.db"
    with Database(url) as db:
        pass
    with Database(url) as db:
        assert db.migrate() == []
        with db.engine.connect() as conn:
            rows = conn.execute(schema.schema_migrations.select()).all()
        assert [r.version for r in rows] == versions


def test_partial_database_gets_only_missing_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/g.db"
    with Database(url) as db, db.engine.begin() as conn:
        # Roll back to version 1 as an older gateway would have left it.
        for table in (
            schema.outbox_cursors,
            schema.outbox_counters,
            schema.outbox_deliveries,
            schema.outbox_messages,
            schema.audit_log,
            schema.web_sessions,
            schema.grants,
            schema.uplink_sessions,
            schema.uplink_intervals,
            schema.event_snapshots,
            schema.events,
            schema.quality_references,
            schema.camera_quality,
            schema.device_events,
            schema.camera_inventory,
            schema.camera_samples,
            schema.camera_state_changes,
            schema.gateway_runs,
        ):
            table.drop(conn)
        conn.execute(text("ALTER TABLE users DROP COLUMN password_hash"))
        conn.execute(schema.schema_migrations.delete().where(schema.schema_migrations.c.version > 1))
    with Database(url) as db:
        assert db.schema_version() == max(versions := [m.version for m in MIGRATIONS])
        assert inspect(db.engine).has_table("camera_state_changes")
        assert inspect(db.engine).has_table("camera_samples")
        assert inspect(db.engine).has_table("camera_inventory")
        assert versions


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/g.db"
    with Database(url) as db, db.engine.begin() as conn:
        conn.execute(schema.schema_migrations.insert().values(version=999, name="future", applied_at=0))
    with pytest.raises(StorageError, match="newer than this gateway"):
        Database(url).open()


def test_bad_urls_give_storage_errors_without_passwords() -> None:
    with pytest.raises(StorageError) as info:
        Database("postgresql://gw:TopSecret1@127.0.0.1:1/x").open()
    assert "TopSecret1" not in str(info.value)
    with pytest.raises(StorageError):
        Database("not a url").open()
