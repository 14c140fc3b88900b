"""Ordered schema migrations. Append new ones; never edit one that has shipped.

Migrations create tables from the Table objects in schema.py while those tables are unchanged
since their creation. A later migration that alters a table must first copy that table's old
shape into the migration that created it, so that a fresh database replays history exactly.
tests/unit/test_storage.py checks that a migrated database matches schema.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from gateway.storage import schema


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


# The shape migration 1 created, before migration 9 added the password hash.
_v1 = MetaData()
_v1_users = Table(
    "users",
    _v1,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
)


def _initial(conn: Connection) -> None:
    _v1_users.create(conn)
    schema.api_tokens.create(conn)


# The shapes migration 2 created, before migration 6 added columns to them.
_v2 = MetaData()
_v2_gateway_runs = Table(
    "gateway_runs",
    _v2,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instance", String(100), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("stopped_at", Float, nullable=True),
)
_v2_camera_state_changes = Table(
    "camera_state_changes",
    _v2,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("gateway_runs.id"), nullable=False),
    Column("camera_id", String(64), nullable=False),
    Column("ts", Float, nullable=False),
    Column("state", String(20), nullable=False),
    Column("reason", Text, nullable=True),
    Index("ix_camera_state_changes_camera_ts", "camera_id", "ts"),
)


def _camera_history(conn: Connection) -> None:
    for table in (_v2_gateway_runs, _v2_camera_state_changes, schema.camera_samples):
        table.create(conn)


def _camera_inventory(conn: Connection) -> None:
    schema.camera_inventory.create(conn)


def _device_events(conn: Connection) -> None:
    schema.device_events.create(conn)


def _camera_quality(conn: Connection) -> None:
    schema.camera_quality.create(conn)


def _add_column(conn: Connection, table: Table, name: str) -> None:
    column = table.c[name]
    kind = column.type.compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"))


def _coverage(conn: Connection) -> None:
    _add_column(conn, schema.gateway_runs, "policy")
    _add_column(conn, schema.camera_state_changes, "faults")
    schema.quality_references.create(conn)


def _analytics_events(conn: Connection) -> None:
    for table in (schema.events, schema.event_snapshots):
        table.create(conn)


def _uplink_ledger(conn: Connection) -> None:
    for table in (schema.uplink_intervals, schema.uplink_sessions):
        table.create(conn)


def _people(conn: Connection) -> None:
    _add_column(conn, schema.users, "password_hash")
    for table in (schema.grants, schema.web_sessions, schema.audit_log):
        table.create(conn)


# The shape migration 10 created, before migration 11 added the instance column.
_v10 = MetaData()
_v10_outbox_messages = Table(
    "outbox_messages",
    _v10,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("msg_id", String(80), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("camera_id", String(64), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("event_id", Integer, nullable=True),
    Column("payload", Text, nullable=False),
    Index("ix_outbox_messages_created", "created_at"),
)


def _outbox(conn: Connection) -> None:
    _v10_outbox_messages.create(conn)
    for table in (schema.outbox_deliveries, schema.outbox_counters, schema.outbox_cursors):
        table.create(conn)


def _instances(conn: Connection) -> None:
    _add_column(conn, schema.outbox_messages, "instance")
    next(i for i in schema.outbox_messages.indexes if i.name == "ix_outbox_messages_instance").create(conn)


def _recordings(conn: Connection) -> None:
    for table in (schema.recording_days, schema.recording_checks):
        table.create(conn)


def _uplink_catalog(conn: Connection) -> None:
    schema.uplink_catalog.create(conn)


def _gat1400_subscriptions(conn: Connection) -> None:
    schema.gat1400_subscriptions.create(conn)


def _tickets(conn: Connection) -> None:
    schema.tickets.create(conn)


def _camera_days(conn: Connection) -> None:
    schema.camera_days.create(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "users and api tokens", _initial),
    Migration(2, "gateway runs, camera state changes and stats samples", _camera_history),
    Migration(3, "camera inventory from ONVIF", _camera_inventory),
    Migration(4, "events reported by cameras over ONVIF", _device_events),
    Migration(5, "picture-quality checks of sampled keyframes", _camera_quality),
    Migration(6, "fault codes of degraded states, run policies, quality reference pictures", _coverage),
    Migration(7, "analytics events and their snapshots", _analytics_events),
    Migration(8, "GB/T 28181 uplink registrations and live sessions", _uplink_ledger),
    Migration(9, "passwords, camera grants, web sessions and the audit log", _people),
    Migration(10, "the outbox of MQTT, webhook and GA/T 1400 messages", _outbox),
    Migration(11, "gateway instances sharing one database: whose outbox messages are whose", _instances),
    Migration(12, "the recording audit: recorded days and gaps, searches of recording devices", _recordings),
    Migration(13, "the GB/T 28181 catalog each uplink last told its platform", _uplink_catalog),
    Migration(14, "subscriptions GA/T 1400 platforms hold at this gateway", _gat1400_subscriptions),
    Migration(15, "hidden-danger tickets of camera faults", _tickets),
    Migration(16, "daily roll-ups of camera history for long reports", _camera_days),
)
