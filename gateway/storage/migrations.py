"""Ordered schema migrations. Append new ones; never edit one that has shipped.

Migrations create tables from the Table objects in schema.py while those tables are unchanged
since their creation. A later migration that alters a table must first copy that table's old
shape into the migration that created it, so that a fresh database replays history exactly.
tests/unit/test_storage.py checks that a migrated database matches schema.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from gateway.storage import schema


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _initial(conn: Connection) -> None:
    for table in (schema.users, schema.api_tokens):
        table.create(conn)


def _camera_history(conn: Connection) -> None:
    for table in (schema.gateway_runs, schema.camera_state_changes, schema.camera_samples):
        table.create(conn)


def _camera_inventory(conn: Connection) -> None:
    schema.camera_inventory.create(conn)


def _device_events(conn: Connection) -> None:
    schema.device_events.create(conn)


def _camera_quality(conn: Connection) -> None:
    schema.camera_quality.create(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "users and api tokens", _initial),
    Migration(2, "gateway runs, camera state changes and stats samples", _camera_history),
    Migration(3, "camera inventory from ONVIF", _camera_inventory),
    Migration(4, "events reported by cameras over ONVIF", _device_events),
    Migration(5, "picture-quality checks of sampled keyframes", _camera_quality),
)
