"""Detection events of the analytics rules, stored with an optional JPEG snapshot.

Every method opens its own connection from the engine's pool, so the store may be called from the
pipeline's worker threads and from the API's thread pool at once. Snapshots live in their own table:
listing, counting and pruning events never read image bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, func, select

from gateway.config.analytics import RULE_KINDS
from gateway.storage import schema
from gateway.storage.db import Database

MAX_LIMIT = 10_000
# Rows deleted per transaction when pruning, so the writer lock is never held for long: the history
# writer and the pipeline keep writing meanwhile.
_PRUNE_BATCH = 500


@dataclass(frozen=True)
class EventBox:
    """One tracked person's box, in pixels of the analysed frame."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    track_id: int

    def to_row(self) -> list[float | int]:
        return [self.x1, self.y1, self.x2, self.y2, self.score, self.track_id]

    @classmethod
    def from_row(cls, row: Sequence[float | int]) -> EventBox:
        x1, y1, x2, y2, score, track_id = row
        return cls(float(x1), float(y1), float(x2), float(y2), float(score), int(track_id))


@dataclass(frozen=True)
class Event:
    id: int | None  # None until stored
    camera_id: str
    rule_id: str
    kind: str  # one of gateway.config.analytics.RULE_KINDS
    zone_id: str | None
    at: float  # Unix seconds (wall clock) of the frame that fired the rule
    track_ids: tuple[int, ...]
    boxes: tuple[EventBox, ...]
    detail: dict[str, Any]
    message: str
    frame_width: int
    frame_height: int
    has_snapshot: bool = False


def _check(event: Event) -> None:
    """Refuse what would make a row the API cannot show (the pipeline is new; fail at the source)."""
    if event.kind not in RULE_KINDS:
        raise ValueError(f"unknown event kind {event.kind!r}; kinds: {', '.join(sorted(RULE_KINDS))}")
    if not math.isfinite(event.at) or event.at < 0:
        raise ValueError(f"event time must be Unix seconds, not {event.at!r}")
    if event.frame_width <= 0 or event.frame_height <= 0:
        raise ValueError(f"frame size must be positive, not {event.frame_width}x{event.frame_height}")


def _event(row: Row[Any]) -> Event:
    m = row._mapping
    return Event(
        id=int(m["id"]),
        camera_id=m["camera_id"],
        rule_id=m["rule_id"],
        kind=m["kind"],
        zone_id=m["zone_id"],
        at=float(m["ts"]),
        track_ids=tuple(int(t) for t in m["track_ids"]),
        boxes=tuple(EventBox.from_row(b) for b in m["boxes"]),
        detail=dict(m["detail"]),
        message=m["message"],
        frame_width=int(m["frame_width"]),
        frame_height=int(m["frame_height"]),
        has_snapshot=bool(m["has_snapshot"]),
    )


class EventStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, event: Event, snapshot_jpeg: bytes | None = None) -> int:
        """Store the event (and its snapshot, in the same transaction); return its id.

        `event.id` and `event.has_snapshot` are ignored: the database assigns the one, the snapshot
        given here decides the other.
        """
        _check(event)
        t = schema.events
        values = {
            "camera_id": event.camera_id,
            "rule_id": event.rule_id,
            "kind": event.kind,
            "zone_id": event.zone_id,
            "ts": event.at,
            "track_ids": list(event.track_ids),
            "boxes": [b.to_row() for b in event.boxes],
            "detail": event.detail,
            "message": event.message,
            "frame_width": event.frame_width,
            "frame_height": event.frame_height,
            "has_snapshot": snapshot_jpeg is not None,
        }
        with self._db.engine.begin() as conn:
            key = conn.execute(t.insert().values(**values)).inserted_primary_key
            assert key is not None
            event_id = int(key[0])
            if snapshot_jpeg is not None:
                conn.execute(schema.event_snapshots.insert().values(event_id=event_id, image=snapshot_jpeg))
        return event_id

    def after(self, conn: Connection, after_id: int, limit: int, cameras: Sequence[str] | None = None) -> list[Event]:
        """Events stored after `after_id` (of these cameras), oldest first, read inside the caller's transaction."""
        t = schema.events
        query = select(t).where(t.c.id > after_id)
        if cameras is not None:
            query = query.where(t.c.camera_id.in_(cameras))
        rows = conn.execute(query.order_by(t.c.id).limit(limit)).all()
        return [_event(r) for r in rows]

    def query(
        self,
        camera_ids: Sequence[str] | None = None,
        zone: str | None = None,
        kind: str | None = None,
        rule: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[Event]:
        """Events newest first, at most `limit`; `since` <= time < `until`.

        Paging is by id (pass the last id seen as `before_id`), not by time: ids only grow, so a page
        neither skips nor repeats events when new ones arrive between two requests.
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be 1..{MAX_LIMIT}, not {limit}")
        t = schema.events
        where: list[ColumnElement[bool]] = []
        if camera_ids is not None:
            where.append(t.c.camera_id.in_(list(camera_ids)))
        if zone is not None:
            where.append(t.c.zone_id == zone)
        if kind is not None:
            where.append(t.c.kind == kind)
        if rule is not None:
            where.append(t.c.rule_id == rule)
        if since is not None:
            where.append(t.c.ts >= since)
        if until is not None:
            where.append(t.c.ts < until)
        if before_id is not None:
            where.append(t.c.id < before_id)
        query = select(t).where(*where).order_by(t.c.id.desc()).limit(limit)
        with self._db.engine.connect() as conn:
            return [_event(row) for row in conn.execute(query)]

    def get(self, event_id: int) -> Event | None:
        with self._db.engine.connect() as conn:
            row = conn.execute(select(schema.events).where(schema.events.c.id == event_id)).first()
        return _event(row) if row is not None else None

    def snapshot(self, event_id: int) -> bytes | None:
        t = schema.event_snapshots
        with self._db.engine.connect() as conn:
            image = conn.execute(select(t.c.image).where(t.c.event_id == event_id)).scalar()
        return bytes(image) if image is not None else None

    def prune(self, before_epoch: float) -> int:
        """Delete events (and their snapshots) older than `before_epoch`; return how many events went."""
        t, snaps = schema.events, schema.event_snapshots
        deleted = 0
        while True:
            with self._db.engine.begin() as conn:
                ids = list(
                    conn.execute(select(t.c.id).where(t.c.ts < before_epoch).order_by(t.c.id).limit(_PRUNE_BATCH))
                    .scalars()
                    .all()
                )
                if not ids:
                    return deleted
                # Explicitly, not by ON DELETE CASCADE: SQLite honours that only with foreign_keys=ON.
                conn.execute(snaps.delete().where(snaps.c.event_id.in_(ids)))
                deleted += conn.execute(t.delete().where(t.c.id.in_(ids))).rowcount

    def counts(self, since: float) -> dict[str, dict[str, int]]:
        """Events since `since` per camera and kind: {camera_id: {kind: n}}; absent where none."""
        t = schema.events
        query = (
            select(t.c.camera_id, t.c.kind, func.count().label("n"))
            .where(t.c.ts >= since)
            .group_by(t.c.camera_id, t.c.kind)
        )
        result: dict[str, dict[str, int]] = {}
        with self._db.engine.connect() as conn:
            for camera_id, kind, n in conn.execute(query):
                result.setdefault(camera_id, {})[kind] = int(n)
        return result
