from __future__ import annotations

import secrets
import threading

import pytest
from sqlalchemy import inspect, select, text

from gateway.audit import AuditLog
from gateway.errors import StorageError
from gateway.storage import schema
from gateway.storage.db import Database
from gateway.storage.migrations import MIGRATIONS


def test_fresh_database_is_migrated_to_latest_and_matches_schema(empty_storage_url: str) -> None:
    with Database(empty_storage_url) as db:
        assert db.schema_version() == max(m.version for m in MIGRATIONS)
        insp = inspect(db.engine)
        indexes = {i["name"] for t in schema.metadata.sorted_tables for i in insp.get_indexes(t.name)}
        for table in schema.metadata.sorted_tables:
            columns = {c["name"] for c in insp.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
            assert {i.name for i in table.indexes} <= indexes, table.name
        with db.engine.connect() as conn:
            if db.engine.dialect.name == "sqlite":
                assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
                assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            else:
                assert db.engine.dialect.driver == "psycopg"


def test_migrations_are_idempotent_and_ordered(empty_storage_url: str) -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(set(versions)) and versions[0] == 1
    with Database(empty_storage_url) as db:
        pass
    with Database(empty_storage_url) as db:
        assert db.migrate() == []
        with db.engine.connect() as conn:
            rows = conn.execute(schema.schema_migrations.select()).all()
        assert [r.version for r in rows] == versions


def test_gateways_starting_together_migrate_once(empty_storage_url: str, storage_backend: str) -> None:
    """Several processes opening one new database at the same moment: one migrates, none fails."""
    if storage_backend == "sqlite":
        pytest.skip("a SQLite file serves one gateway process; several share a PostgreSQL database")
    applied: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        db = Database(empty_storage_url)
        start.wait()
        try:
            db.open()
            applied.append([])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(applied) == 4
    with Database(empty_storage_url) as db, db.engine.connect() as conn:
        versions = conn.execute(select(schema.schema_migrations.c.version)).scalars().all()
    assert sorted(versions) == [m.version for m in MIGRATIONS]


def test_the_audit_chain_stays_one_chain_with_several_writers(storage_url: str, storage_backend: str) -> None:
    """Gateways sharing a database append to one hash chain; concurrent appends must not fork it."""
    if storage_backend == "sqlite":
        pytest.skip("a SQLite file serves one gateway process; several share a PostgreSQL database")
    dbs = [Database(storage_url).open() for _ in range(3)]
    try:
        logs = [AuditLog(db) for db in dbs]
        errors: list[BaseException] = []

        def append(log: AuditLog, who: str) -> None:
            try:
                for i in range(15):
                    log.record(who, "admin", "user.add", f"u{i}", {"n": i})
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=append, args=(log, f"gw{i}")) for i, log in enumerate(logs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        result = logs[0].verify()
        assert result.problems == [] and result.ok and result.checked == 45
    finally:
        for db in dbs:
            db.close()


def test_partial_database_gets_only_missing_migrations(storage_url: str) -> None:
    with Database(storage_url) as db, db.engine.begin() as conn:
        # Roll back to version 1 as an older gateway would have left it.
        for table in (
            schema.camera_days,
            schema.tickets,
            schema.gat1400_subscriptions,
            schema.uplink_catalog,
            schema.recording_checks,
            schema.recording_days,
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
    with Database(storage_url) as db:
        assert db.schema_version() == max(versions := [m.version for m in MIGRATIONS])
        assert inspect(db.engine).has_table("camera_state_changes")
        assert inspect(db.engine).has_table("camera_samples")
        assert inspect(db.engine).has_table("camera_inventory")
        columns = {c["name"] for c in inspect(db.engine).get_columns("outbox_messages")}
        assert "instance" in columns and versions


@pytest.mark.usefixtures("english")
def test_newer_schema_is_refused(storage_url: str) -> None:
    with Database(storage_url) as db, db.engine.begin() as conn:
        conn.execute(schema.schema_migrations.insert().values(version=999, name="future", applied_at=0))
    with pytest.raises(StorageError, match="newer than this gateway"):
        Database(storage_url).open()


def test_bad_urls_give_storage_errors_without_passwords() -> None:
    password = "pw-" + secrets.token_urlsafe(12)  # made per run: no credential in the source
    with pytest.raises(StorageError) as info:
        Database(f"postgresql://gw:{password}@127.0.0.1:1/x").open()
    assert password not in str(info.value)
    with pytest.raises(StorageError):
        Database("not a url").open()
