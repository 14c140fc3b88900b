"""The tickets table (gateway/storage/schema.py `tickets`): each method one short transaction; call them
in a worker thread (asyncio.to_thread) from the event loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, and_, func, or_, select, update

from gateway.storage import schema
from gateway.storage.db import Database


@dataclass(frozen=True)
class Ticket:
    id: int
    camera_id: str
    zone_id: str | None
    zone_kind: str | None
    fault: str
    detail: str
    since: float
    opened_at: float
    episode_at: float  # when people were first told of the current episode: the opening, or the last reopening
    acknowledged_at: float | None
    acknowledged_by: str | None
    note: str | None
    level: int
    told_at: float
    closed_at: float | None
    reopened: int

    @property
    def open(self) -> bool:
        return self.closed_at is None

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "camera_id": self.camera_id,
            "zone_id": self.zone_id,
            "zone_kind": self.zone_kind,
            "fault": self.fault,
            "detail": self.detail,
            "since": self.since,
            "opened_at": self.opened_at,
            "episode_at": self.episode_at,
            "state": "open" if self.open else "closed",
            "age_s": (self.closed_at or now) - self.since,
            "acknowledged_at": self.acknowledged_at,
            "acknowledged_by": self.acknowledged_by,
            "note": self.note,
            "level": self.level,
            "closed_at": self.closed_at,
            "repair_s": None if self.closed_at is None else self.closed_at - self.since,
            "reopened": self.reopened,
        }


def _ticket(row: Row[Any]) -> Ticket:
    m = row._mapping
    return Ticket(**{name: m[name] for name in Ticket.__dataclass_fields__})


class TicketStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def open_tickets(self, camera_ids: Sequence[str] | None = None) -> list[Ticket]:
        t = schema.tickets
        query = select(t).where(t.c.closed_at.is_(None))
        if camera_ids is not None:
            query = query.where(t.c.camera_id.in_(list(camera_ids)))
        with self._db.engine.connect() as conn:
            return [_ticket(r) for r in conn.execute(query.order_by(t.c.id))]

    def last_closed(self, camera_id: str, after: float) -> Ticket | None:
        """The camera's ticket closed most recently, if it closed after `after` (a reopen candidate)."""
        t = schema.tickets
        query = (
            select(t)
            .where(t.c.camera_id == camera_id, t.c.closed_at.is_not(None), t.c.closed_at >= after)
            .order_by(t.c.closed_at.desc())
            .limit(1)
        )
        with self._db.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _ticket(row)

    def get(self, ticket_id: int) -> Ticket | None:
        t = schema.tickets
        with self._db.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == ticket_id)).first()
        return None if row is None else _ticket(row)

    def open(
        self,
        camera_id: str,
        zone: tuple[str | None, str | None],
        fault: str,
        detail: str,
        since: float,
        at: float,
    ) -> Ticket:
        t = schema.tickets
        values = {
            "camera_id": camera_id,
            "zone_id": zone[0],
            "zone_kind": zone[1],
            "fault": fault,
            "detail": detail[:500],
            "since": since,
            "opened_at": at,
            "episode_at": at,
            "level": 0,
            "told_at": at,
            "reopened": 0,
        }
        with self._db.engine.begin() as conn:
            key = conn.execute(t.insert().values(**values)).inserted_primary_key
            assert key is not None
            row = conn.execute(select(t).where(t.c.id == int(key[0]))).one()
        return _ticket(row)

    def reopen(self, ticket_id: int, fault: str, detail: str, at: float) -> Ticket:
        """The fault is back soon after the ticket closed: open again, told afresh from the first list,
        to be acknowledged again; `since` stays, so its repair time counts from the first fault."""
        t = schema.tickets
        with self._db.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.id == ticket_id)
                .values(
                    closed_at=None,
                    fault=fault,
                    detail=detail[:500],
                    acknowledged_at=None,
                    acknowledged_by=None,
                    note=None,
                    level=0,
                    told_at=at,
                    episode_at=at,
                    reopened=t.c.reopened + 1,
                )
            )
            row = conn.execute(select(t).where(t.c.id == ticket_id)).one()
        return _ticket(row)

    def update_fault(self, ticket_id: int, fault: str, detail: str) -> None:
        t = schema.tickets
        with self._db.engine.begin() as conn:
            conn.execute(update(t).where(t.c.id == ticket_id).values(fault=fault, detail=detail[:500]))

    def acknowledge(self, ticket_id: int, who: str, note: str | None, at: float) -> Ticket | None:
        """Acknowledge an open ticket; None when there is no such open ticket. A second acknowledgement
        replaces the note, keeps the first person and time."""
        t = schema.tickets
        with self._db.engine.begin() as conn:
            row = conn.execute(select(t).where(t.c.id == ticket_id)).first()
            if row is None or row._mapping["closed_at"] is not None:
                return None
            values: dict[str, Any] = {"note": note}
            if row._mapping["acknowledged_at"] is None:
                values.update(acknowledged_at=at, acknowledged_by=who)
            conn.execute(update(t).where(t.c.id == ticket_id).values(**values))
            return _ticket(conn.execute(select(t).where(t.c.id == ticket_id)).one())

    def escalate(self, ticket_id: int, level: int, at: float) -> None:
        t = schema.tickets
        with self._db.engine.begin() as conn:
            conn.execute(update(t).where(t.c.id == ticket_id).values(level=level, told_at=at))

    def close(self, ticket_id: int, at: float) -> Ticket:
        t = schema.tickets
        with self._db.engine.begin() as conn:
            conn.execute(update(t).where(t.c.id == ticket_id).values(closed_at=at))
            return _ticket(conn.execute(select(t).where(t.c.id == ticket_id)).one())

    def search(
        self,
        *,
        state: str | None = None,
        camera_id: str | None = None,
        zone_id: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 200,
    ) -> list[Ticket]:
        """Tickets, newest first: open or closed, of a camera or zone, alive within [start, end)."""
        t = schema.tickets
        query = select(t)
        if state == "open":
            query = query.where(t.c.closed_at.is_(None))
        elif state == "closed":
            query = query.where(t.c.closed_at.is_not(None))
        if camera_id is not None:
            query = query.where(t.c.camera_id == camera_id)
        if zone_id is not None:
            query = query.where(t.c.zone_id == zone_id)
        if end is not None:
            query = query.where(t.c.opened_at < end)
        if start is not None:
            query = query.where(or_(t.c.closed_at.is_(None), t.c.closed_at >= start))
        query = query.order_by(t.c.opened_at.desc(), t.c.id.desc()).limit(limit)
        with self._db.engine.connect() as conn:
            return [_ticket(r) for r in conn.execute(query)]

    def count_open(self) -> int:
        t = schema.tickets
        with self._db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t).where(t.c.closed_at.is_(None))).scalar_one())

    def overlapping(self, start: float, end: float) -> list[Ticket]:
        """Every ticket opened before `end` and not closed before `start`: the report's period."""
        t = schema.tickets
        query = (
            select(t)
            .where(and_(t.c.opened_at < end, or_(t.c.closed_at.is_(None), t.c.closed_at >= start)))
            .order_by(t.c.opened_at, t.c.id)
        )
        with self._db.engine.connect() as conn:
            return [_ticket(r) for r in conn.execute(query)]
