"""The recording audit's history: one row per camera and day (its gaps), one per search of a device."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, delete, func, insert, select

from gateway.recordings.audit import DayAudit, Interval
from gateway.storage import schema
from gateway.storage.db import Database


@dataclass(frozen=True)
class StoredDay:
    camera_id: str
    day: date
    start: float
    end: float
    gaps: tuple[Interval, ...]
    checked_at: float

    @property
    def recorded_s(self) -> float:
        return self.end - self.start - sum(b - a for a, b in self.gaps)

    @property
    def completeness_percent(self) -> float:
        audited = self.end - self.start
        return 100.0 if audited <= 0 else 100.0 * self.recorded_s / audited


@dataclass(frozen=True)
class Check:
    """One search of a camera's recordings."""

    camera_id: str
    ts: float
    ok: bool
    error: str | None
    source: str
    recording_token: str | None
    earliest: float | None
    latest: float | None
    queries: int


class RecordingStore:
    """Blocking; call from a thread (asyncio.to_thread) on the event loop's side."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, check: Check, days: Sequence[DayAudit]) -> None:
        """A search and the days it audited, in one transaction: a day is replaced by its newer audit."""
        t = schema.recording_days
        with self._db.engine.begin() as conn:
            conn.execute(insert(schema.recording_checks).values(**check.__dict__))
            for day in days:
                key = day.day.isoformat()
                conn.execute(delete(t).where(and_(t.c.camera_id == check.camera_id, t.c.day == key)))
                conn.execute(
                    insert(t).values(
                        camera_id=check.camera_id,
                        day=key,
                        start=day.start,
                        end=day.end,
                        gaps=[list(g) for g in day.gaps],
                        checked_at=check.ts,
                    )
                )

    def days(self, camera_id: str, first: date, last: date) -> list[StoredDay]:
        t = schema.recording_days
        query = (
            select(t)
            .where(and_(t.c.camera_id == camera_id, t.c.day >= first.isoformat(), t.c.day <= last.isoformat()))
            .order_by(t.c.day)
        )
        with self._db.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            StoredDay(
                r.camera_id,
                date.fromisoformat(r.day),
                r.start,
                r.end,
                tuple((float(a), float(b)) for a, b in r.gaps),
                r.checked_at,
            )
            for r in rows
        ]

    def audited_until(self, camera_id: str) -> float | None:
        """The end of the latest audited part of a day: where the next search may start."""
        t = schema.recording_days
        with self._db.engine.connect() as conn:
            return conn.execute(select(func.max(t.c.end)).where(t.c.camera_id == camera_id)).scalar()

    def latest_check(self, camera_id: str) -> Check | None:
        return self.check_before(camera_id, None)

    def check_near(self, camera_id: str, ts: float) -> Check | None:
        """The last search up to ``ts``, or if none, the first after it (a report's period that ended
        before the first search is measured by that search)."""
        before = self.check_before(camera_id, ts)
        if before is not None:
            return before
        t = schema.recording_checks
        query = select(t).where(t.c.camera_id == camera_id, t.c.ts > ts).order_by(t.c.ts, t.c.id).limit(1)
        with self._db.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _check(row)

    def check_before(self, camera_id: str, ts: float | None) -> Check | None:
        """The last search of the camera's recordings up to ``ts`` (None: the last of all)."""
        t = schema.recording_checks
        query = select(t).where(t.c.camera_id == camera_id)
        if ts is not None:
            query = query.where(t.c.ts <= ts)
        query = query.order_by(t.c.ts.desc(), t.c.id.desc()).limit(1)
        with self._db.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _check(row)


def _check(row: Any) -> Check:
    return Check(
        row.camera_id, row.ts, row.ok, row.error, row.source, row.recording_token, row.earliest, row.latest, row.queries
    )
