"""What was forwarded to the upper platforms: registration intervals per uplink and live sessions.

The coverage report reads this to say, per camera, whether the city network could see it. Each
method is one short transaction on its own pooled connection, so it may run on the event loop for a
rare event (a registration) or in a worker thread (asyncio.to_thread) for the rest.

Rows a crash left open (ended_at NULL) are closed at the next start with ``close_open`` at the
previous run's last sign of life (:func:`previous_run_end`), the bound the uptime history uses for a
crashed run; reports also clip open rows at the time they are made.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Table, case, select, update

from gateway.storage import schema
from gateway.storage.db import Database

# Rows deleted per transaction when pruning, so the writer lock is never held for long: the history
# writer and the uplinks keep writing meanwhile.
_PRUNE_BATCH = 500
# A SIP Call-ID has no length limit; the column has one (PostgreSQL would refuse a longer value).
_CALL_ID_MAX = 255


@dataclass
class SessionSummary:
    """A camera's live sessions overlapping a period."""

    count: int = 0
    seconds: float = 0.0  # time inside the period, open sessions clipped at min(end, now)
    bytes_sent: int = 0  # whole-session totals of the sessions that ended (a total is known at the end)
    uplinks: set[str] = field(default_factory=set)


class ForwardLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- registrations --------------------------------------------------------------------------------

    def link_registered(self, uplink_id: str, at: float) -> None:
        """Open a registration interval; a refresh of a registration already held changes nothing."""
        t = schema.uplink_intervals
        with self._db.engine.begin() as conn:
            if _open_interval(conn, uplink_id) is None:
                conn.execute(t.insert().values(uplink_id=uplink_id, started_at=at))

    def link_unregistered(self, uplink_id: str, at: float, reason: str) -> None:
        """Close the uplink's open interval, if any (a failed first attempt has none)."""
        t = schema.uplink_intervals
        with self._db.engine.begin() as conn:
            row = _open_interval(conn, uplink_id)
            if row is not None:
                interval_id, started_at = row
                conn.execute(
                    update(t).where(t.c.id == interval_id).values(ended_at=max(at, started_at), end_reason=reason)
                )

    # -- live sessions --------------------------------------------------------------------------------

    def session_started(
        self, uplink_id: str, camera_id: str, channel_id: str, call_id: str, transport: str, at: float
    ) -> int:
        """Record a session the platform opened; return its id for ``session_ended``."""
        values = {
            "uplink_id": uplink_id,
            "camera_id": camera_id,
            "channel_id": channel_id,
            "call_id": call_id[:_CALL_ID_MAX],
            "transport": transport,
            "started_at": at,
        }
        with self._db.engine.begin() as conn:
            key = conn.execute(schema.uplink_sessions.insert().values(**values)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def session_ended(self, session_id: int, at: float, bytes_sent: int, reason: str) -> None:
        """Close a session; one already closed (BYE racing a teardown) keeps its first end."""
        t = schema.uplink_sessions
        with self._db.engine.begin() as conn:
            started_at = conn.execute(
                select(t.c.started_at).where(t.c.id == session_id, t.c.ended_at.is_(None))
            ).scalar()
            if started_at is None:
                return
            conn.execute(
                update(t)
                .where(t.c.id == session_id)
                # A wall clock stepped back must not make a negative duration.
                .values(ended_at=max(at, float(started_at)), bytes_sent=bytes_sent, end_reason=reason)
            )

    # -- stop and start ---------------------------------------------------------------------------

    def close_open(self, at: float, reason: str) -> int:
        """Close every open interval and session at ``at`` (never before its start); return how many.

        At a clean stop ``at`` is now; at start, for rows a crash left open, the previous run's end.
        """
        closed = 0
        with self._db.engine.begin() as conn:
            for t in (schema.uplink_intervals, schema.uplink_sessions):
                end = case((t.c.started_at > at, t.c.started_at), else_=at)
                closed += conn.execute(
                    update(t).where(t.c.ended_at.is_(None)).values(ended_at=end, end_reason=reason)
                ).rowcount
        return closed

    # -- queries ----------------------------------------------------------------------------------

    def uplink_intervals(
        self, start: float, end: float, now: float | None = None, uplink_ids: Iterable[str] | None = None
    ) -> dict[str, list[tuple[float, float]]]:
        """Each uplink's registered stretches inside [start, end), merged and in time order; open ones
        end at min(end, now). Uplinks never registered in the period are absent."""
        t = schema.uplink_intervals
        limit = min(end, time.time() if now is None else now)
        query = select(t.c.uplink_id, t.c.started_at, t.c.ended_at).where(
            t.c.started_at < end, (t.c.ended_at.is_(None)) | (t.c.ended_at > start)
        )
        if uplink_ids is not None:
            query = query.where(t.c.uplink_id.in_(list(uplink_ids)))
        spans: dict[str, list[tuple[float, float]]] = {}
        with self._db.engine.connect() as conn:
            for uplink_id, a, b in conn.execute(query.order_by(t.c.uplink_id, t.c.started_at)):
                lo, hi = max(a, start), min(limit if b is None else b, end)
                if hi > lo:
                    spans.setdefault(uplink_id, []).append((lo, hi))
        return {uplink_id: merge_spans(found) for uplink_id, found in spans.items()}

    def uplink_registered_seconds(self, start: float, end: float, now: float | None = None) -> dict[str, float]:
        """Seconds each uplink was registered inside [start, end) (see ``uplink_intervals``)."""
        return {
            uplink_id: sum(b - a for a, b in spans)
            for uplink_id, spans in self.uplink_intervals(start, end, now).items()
        }

    def camera_sessions(self, start: float, end: float, now: float | None = None) -> dict[str, SessionSummary]:
        """Live sessions overlapping [start, end) per camera; cameras with none are absent."""
        t = schema.uplink_sessions
        limit = min(end, time.time() if now is None else now)
        query = select(t.c.camera_id, t.c.uplink_id, t.c.started_at, t.c.ended_at, t.c.bytes_sent).where(
            t.c.started_at < end, (t.c.ended_at.is_(None)) | (t.c.ended_at > start)
        )
        found: dict[str, SessionSummary] = {}
        with self._db.engine.connect() as conn:
            for camera_id, uplink_id, a, b, sent in conn.execute(query):
                summary = found.setdefault(camera_id, SessionSummary())
                summary.count += 1
                summary.seconds += max(0.0, min(limit if b is None else b, end) - max(a, start))
                summary.bytes_sent += int(sent or 0)
                summary.uplinks.add(uplink_id)
        return found

    # -- retention --------------------------------------------------------------------------------

    # -- the catalog told to each platform ------------------------------------------------------------

    def told_catalog(self, uplink_id: str) -> dict[str, dict[str, object]]:
        """Channel ID -> the item as last told to the uplink's platform (empty before the first)."""
        t = schema.uplink_catalog
        with self._db.engine.connect() as conn:
            rows = conn.execute(select(t.c.channel_id, t.c.item).where(t.c.uplink_id == uplink_id)).all()
        return {str(channel): dict(item) for channel, item in rows if isinstance(item, dict)}

    def catalog_told(self, uplink_id: str, items: dict[str, dict[str, object]], at: float) -> None:
        """Replace what the uplink's platform was told, in one transaction."""
        t = schema.uplink_catalog
        with self._db.engine.begin() as conn:
            conn.execute(t.delete().where(t.c.uplink_id == uplink_id))
            if items:
                conn.execute(
                    t.insert(),
                    [
                        {"uplink_id": uplink_id, "channel_id": c, "item": item, "told_at": at}
                        for c, item in items.items()
                    ],
                )

    def prune(self, cutoff: float) -> int:
        """Delete intervals and sessions that ended before ``cutoff``; return how many rows went.

        Open rows stay whatever their age: a registration held for months is still evidence now.
        """
        deleted = 0
        for t in (schema.uplink_intervals, schema.uplink_sessions):
            deleted += _prune(self._db, t, cutoff)
        return deleted


def _prune(db: Database, t: Table, cutoff: float) -> int:
    deleted = 0
    while True:
        with db.engine.begin() as conn:
            ids = list(
                conn.execute(select(t.c.id).where(t.c.ended_at < cutoff).order_by(t.c.id).limit(_PRUNE_BATCH))
                .scalars()
                .all()
            )
            if not ids:
                return deleted
            deleted += conn.execute(t.delete().where(t.c.id.in_(ids))).rowcount


def _open_interval(conn: Connection, uplink_id: str) -> tuple[int, float] | None:
    t = schema.uplink_intervals
    row = conn.execute(
        select(t.c.id, t.c.started_at)
        .where(t.c.uplink_id == uplink_id, t.c.ended_at.is_(None))
        .order_by(t.c.started_at.desc())
        .limit(1)
    ).first()
    return None if row is None else (int(row[0]), float(row[1]))


def merge_spans(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, non-overlapping union of ``spans`` (touching spans join)."""
    merged: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        elif b > a:
            merged.append((a, b))
    return merged


def previous_run_end(db: Database, current_run_id: int | None) -> float | None:
    """When the gateway run before ``current_run_id`` (the latest run if None) was last known alive:
    its clean stop, else its last heartbeat (what the uptime history bounds a crashed run by); None
    when there is no such run."""
    r = schema.gateway_runs
    query = select(r.c.stopped_at, r.c.heartbeat_at).order_by(r.c.id.desc()).limit(1)
    if current_run_id is not None:
        query = query.where(r.c.id < current_run_id)  # ids only grow: the runs started before it
    with db.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    stopped, heartbeat = row
    return float(stopped if stopped is not None else heartbeat)
