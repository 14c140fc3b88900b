"""One query for many cameras where each camera needs its own index seek (its last row before a time).

A report of 1,000 cameras made one small query per camera for each such row: the statement's
overhead in SQLAlchemy, not the seek, was the cost. Here the camera ids travel as one JSON array
parameter, unnested by the database into a table that drives a correlated subquery per camera, so
each camera still gets its index seek, inside one statement compiled once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, FromClause, Select, Text, bindparam, cast, func

IDS = "ids"  # the name of the bound parameter that holds the ids (give it with ids_param)


def ids_table(dialect: str) -> FromClause:
    """A table of the ids of the JSON array bound as ``ids``, in one column named ``value``.

    SQLite's json_each and PostgreSQL's json_array_elements_text take the same parameter; a VALUES
    list would have one parameter per id and a statement compiled again for every count of ids.
    """
    param = bindparam(IDS, type_=Text)
    postgresql = dialect == "postgresql"
    unnested = func.json_array_elements_text(cast(param, JSON)) if postgresql else func.json_each(param)
    return unnested.table_valued("value").alias("ids")


def ids_param(ids: Sequence[str]) -> dict[str, Any]:
    return {IDS: orjson.dumps(list(ids)).decode()}


class PerDialect:
    """A statement built once for each database dialect it runs on (building one costs more than
    running it)."""

    def __init__(self, build: Callable[[str], Select[Any]]) -> None:
        self._build = build
        self._built: dict[str, Select[Any]] = {}

    def on(self, conn: Connection) -> Select[Any]:
        name = conn.dialect.name
        if name not in self._built:
            self._built[name] = self._build(name)
        return self._built[name]
