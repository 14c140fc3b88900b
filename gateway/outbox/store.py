"""The outbox's tables: messages written before they are sent, and each destination's backlog.

Blocking; the Outbox calls it from one writer task (through a thread) and from each destination's
dispatcher. Every change that must stay consistent happens in one transaction: a message and its
delivery rows; the detection events read and the cursor that says so; a delivered batch and its
counters.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, delete, false, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.analytics.events import Event, EventStore
from gateway.storage import schema
from gateway.storage.db import Database

LEGACY_EVENTS_CURSOR = "events"  # the one cursor of a database from before instances (migration 11)
EVENTS_BATCH = 200  # detection events turned into messages per transaction


@dataclass(frozen=True)
class NewMessage:
    kind: str  # event | state | quality | health
    camera_id: str | None
    payload: dict[str, Any]
    created_at: float = field(default_factory=time.time)
    expires_at: float | None = None
    event_id: int | None = None
    event_kind: str | None = None  # the rule kind of a detection event, for destination filters
    msg_id: str | None = None  # default: a random one; a message whose msg_id is stored already is not stored again
    # The destinations it is for (a ticket's contact list); None: every destination whose route takes it.
    audience: frozenset[str] | None = None


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    msg_id: str
    kind: str
    camera_id: str | None
    created_at: float
    expires_at: float | None
    event_id: int | None
    payload: dict[str, Any]
    attempts: int = 0


@dataclass(frozen=True)
class Route:
    """Which messages one destination takes."""

    destination: str
    kinds: frozenset[str]
    cameras: frozenset[str] | None = None  # None: all
    event_kinds: frozenset[str] | None = None  # None: all

    def wants(self, message: NewMessage) -> bool:
        if message.kind not in self.kinds:
            return False
        if message.audience is not None and self.destination not in message.audience:
            return False
        if self.cameras is not None and message.camera_id not in self.cameras:
            return False
        return not (
            message.kind == "event" and self.event_kinds is not None and message.event_kind not in self.event_kinds
        )


@dataclass
class Counters:
    delivered: int = 0
    rejected: int = 0
    expired: int = 0
    dropped: int = 0
    last_delivered_at: float | None = None
    last_dropped_at: float | None = None


EventMessages = Callable[[Event], NewMessage | None]


class OutboxStore:
    """One instance's outbox. Several gateway processes may share the database, each with its own
    cameras: an instance writes, reads and bounds only its own messages (``instance`` column) and
    reads only its own cameras' events, past its own cursor."""

    def __init__(self, db: Database, site_id: str, instance: str = "", cameras: Iterable[str] | None = None) -> None:
        self._db = db
        self._site = site_id
        self._instance = instance or site_id
        self._cameras = sorted(cameras) if cameras is not None else None
        cursor = f"events:{self._instance}"
        # The cursor's name column is short; a long instance id is named by its digest instead.
        self._cursor = cursor if len(cursor) <= 40 else "events:" + hashlib.sha256(cursor.encode()).hexdigest()[:32]
        self._events = EventStore(db)

    def _mine(self) -> Any:
        return schema.outbox_messages.c.instance == self._instance

    # -- writing -----------------------------------------------------------------------------------

    def write(self, messages: Sequence[NewMessage], routes: Sequence[Route]) -> int:
        """Store the messages and their deliveries in one transaction; return how many had a taker."""
        with self._db.engine.begin() as conn:
            return self._insert(conn, messages, routes)

    def _insert(self, conn: Connection, messages: Iterable[NewMessage], routes: Sequence[Route]) -> int:
        stored = 0
        for message in messages:
            takers = [r.destination for r in routes if r.wants(message)]
            if not takers:
                continue
            if (
                message.msg_id is not None
                and conn.execute(
                    select(schema.outbox_messages.c.id).where(schema.outbox_messages.c.msg_id == message.msg_id)
                ).first()
            ):
                continue  # told already (a ticket's change published again after a restart)
            key = conn.execute(
                insert(schema.outbox_messages).values(
                    msg_id=message.msg_id or f"{self._site}:{message.kind}:{uuid.uuid4().hex}",
                    kind=message.kind,
                    camera_id=message.camera_id,
                    created_at=message.created_at,
                    expires_at=message.expires_at,
                    event_id=message.event_id,
                    payload=json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")),
                    instance=self._instance,
                )
            ).inserted_primary_key
            assert key is not None
            conn.execute(
                insert(schema.outbox_deliveries),
                [{"destination": d, "message_id": int(key[0]), "attempts": 0} for d in takers],
            )
            stored += 1
        return stored

    def start_events_cursor(self) -> int:
        """Where reading detection events starts: after the last one handed over before, or, the
        first time the outbox runs, after the newest event (history is not replayed to new uplinks).

        Also adopts what a gateway from before instances left: its messages and its cursor."""
        c, m = schema.outbox_cursors, schema.outbox_messages
        with self._db.engine.begin() as conn:
            conn.execute(update(m).where(m.c.instance.is_(None)).values(instance=self._instance))
            position = conn.execute(select(c.c.position).where(c.c.name == self._cursor)).scalar()
            if position is not None:
                return int(position)
            legacy = conn.execute(select(c.c.position).where(c.c.name == LEGACY_EVENTS_CURSOR)).scalar()
            if legacy is not None:
                conn.execute(delete(c).where(c.c.name == LEGACY_EVENTS_CURSOR))
                start = int(legacy)
            else:
                start = int(conn.execute(select(func.max(schema.events.c.id))).scalar() or 0)
            conn.execute(insert(c).values(name=self._cursor, position=start))
            return start

    def pull_events(
        self, to_message: EventMessages, routes: Sequence[Route], limit: int = EVENTS_BATCH
    ) -> tuple[int, int]:
        """Turn stored detection events past the cursor into messages; return (events read, stored).

        The events table is the source of truth: an event stored just before a crash is still sent
        after the restart, because the cursor only moves with the messages it produced.
        """
        # A cursor over ids is exact only if the ids it reads become visible in id order. They do:
        # an instance's events are all written by its one detector thread, one transaction at a
        # time, and other instances' events (interleaved ids on PostgreSQL) are not read here.
        c = schema.outbox_cursors
        with self._db.engine.begin() as conn:
            position = conn.execute(select(c.c.position).where(c.c.name == self._cursor)).scalar()
            after = int(position or 0)
            events = self._events.after(conn, after, limit, cameras=self._cameras)
            if not events:
                return 0, 0
            messages = [m for m in (to_message(e) for e in events) if m is not None]
            stored = self._insert(conn, messages, routes)
            last = events[-1].id
            assert last is not None
            conn.execute(update(c).where(c.c.name == self._cursor).values(position=last))
            return len(events), stored

    # -- delivering --------------------------------------------------------------------------------

    def next_batch(self, destination: str, limit: int) -> list[OutboxMessage]:
        m, d = schema.outbox_messages, schema.outbox_deliveries
        query = (
            select(m, d.c.attempts)
            .join(d, d.c.message_id == m.c.id)
            .where(d.c.destination == destination, self._mine())
            .order_by(m.c.id)
            .limit(limit)
        )
        with self._db.engine.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for row in rows:
            r = row._mapping
            out.append(
                OutboxMessage(
                    id=int(r["id"]),
                    msg_id=r["msg_id"],
                    kind=r["kind"],
                    camera_id=r["camera_id"],
                    created_at=float(r["created_at"]),
                    expires_at=r["expires_at"],
                    event_id=r["event_id"],
                    payload=json.loads(r["payload"]),
                    attempts=int(r["attempts"]),
                )
            )
        return out

    def settle(
        self,
        destination: str,
        *,
        delivered: Sequence[int] = (),
        rejected: Sequence[tuple[int, str]] = (),
        expired: Sequence[int] = (),
        failed: tuple[int, str] | None = None,
        now: float | None = None,
    ) -> None:
        """Record one delivery round: remove what is done, count it, note a failure on its row."""
        now = time.time() if now is None else now
        d = schema.outbox_deliveries
        done = [*delivered, *(i for i, _ in rejected), *expired]
        with self._db.engine.begin() as conn:
            for chunk in _chunks(done, 500):
                conn.execute(delete(d).where(and_(d.c.destination == destination, d.c.message_id.in_(chunk))))
            if failed is not None:
                message_id, error = failed
                conn.execute(
                    update(d)
                    .where(and_(d.c.destination == destination, d.c.message_id == message_id))
                    .values(attempts=d.c.attempts + 1, last_error=error[:500])
                )
            self._count(
                conn,
                destination,
                delivered=len(delivered),
                rejected=len(rejected),
                expired=len(expired),
                last_delivered_at=now if delivered else None,
            )

    def _count(
        self,
        conn: Connection,
        destination: str,
        *,
        delivered: int = 0,
        rejected: int = 0,
        expired: int = 0,
        dropped: int = 0,
        last_delivered_at: float | None = None,
        last_dropped_at: float | None = None,
    ) -> None:
        if not (delivered or rejected or expired or dropped):
            return
        c = schema.outbox_counters
        # Instances sharing a database share each destination's row; creating it must not race.
        upsert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(
            upsert(c)
            .values(destination=destination, delivered=0, rejected=0, expired=0, dropped=0)
            .on_conflict_do_nothing(index_elements=[c.c.destination])
        )
        values: dict[str, Any] = {
            "delivered": c.c.delivered + delivered,
            "rejected": c.c.rejected + rejected,
            "expired": c.c.expired + expired,
            "dropped": c.c.dropped + dropped,
        }
        if last_delivered_at is not None:
            values["last_delivered_at"] = last_delivered_at
        if last_dropped_at is not None:
            values["last_dropped_at"] = last_dropped_at
        conn.execute(update(c).where(c.c.destination == destination).values(**values))

    # -- reading state -----------------------------------------------------------------------------

    def backlog(self) -> dict[str, tuple[int, float | None]]:
        """Per destination: undelivered messages and the creation time of the oldest."""
        m, d = schema.outbox_messages, schema.outbox_deliveries
        query = (
            select(d.c.destination, func.count(), func.min(m.c.created_at))
            .join(m, m.c.id == d.c.message_id)
            .where(self._mine())
            .group_by(d.c.destination)
        )
        with self._db.engine.connect() as conn:
            return {row[0]: (int(row[1]), row[2]) for row in conn.execute(query)}

    def counters(self) -> dict[str, Counters]:
        c = schema.outbox_counters
        with self._db.engine.connect() as conn:
            rows = conn.execute(select(c)).all()
        return {
            r._mapping["destination"]: Counters(
                delivered=int(r._mapping["delivered"]),
                rejected=int(r._mapping["rejected"]),
                expired=int(r._mapping["expired"]),
                dropped=int(r._mapping["dropped"]),
                last_delivered_at=r._mapping["last_delivered_at"],
                last_dropped_at=r._mapping["last_dropped_at"],
            )
            for r in rows
        }

    def message_count(self) -> int:
        with self._db.engine.connect() as conn:
            query = select(func.count()).select_from(schema.outbox_messages).where(self._mine())
            return int(conn.execute(query).scalar() or 0)

    # -- keeping it bounded ------------------------------------------------------------------------

    def enforce_retention(self, max_messages: int, max_age_s: float, now: float | None = None) -> dict[str, int]:
        """Drop the oldest undelivered messages beyond the bounds; return the deliveries lost per
        destination (counted in outbox_counters). Then remove messages nobody waits for."""
        now = time.time() if now is None else now
        m, d = schema.outbox_messages, schema.outbox_deliveries
        lost: dict[str, int] = {}
        with self._db.engine.begin() as conn:
            # Delivered messages go first: they cost nothing to lose.
            undelivered = select(d.c.message_id).where(d.c.message_id == m.c.id).exists()
            conn.execute(delete(m).where(self._mine(), ~undelivered))
            total = int(conn.execute(select(func.count()).select_from(m).where(self._mine())).scalar() or 0)
            cut_id: int | None = None
            if total > max_messages:
                cut_id = conn.execute(
                    select(m.c.id).where(self._mine()).order_by(m.c.id).offset(total - max_messages).limit(1)
                ).scalar()
            too_old = m.c.created_at < now - max_age_s
            doomed = select(m.c.id).where(self._mine(), too_old if cut_id is None else or_(too_old, m.c.id < cut_id))
            rows = conn.execute(
                select(d.c.destination, func.count()).where(d.c.message_id.in_(doomed)).group_by(d.c.destination)
            ).all()
            for destination, count in rows:
                lost[destination] = int(count)
                self._count(conn, destination, dropped=int(count), last_dropped_at=now)
            if rows:
                conn.execute(delete(d).where(d.c.message_id.in_(doomed)))
            conn.execute(delete(m).where(m.c.id.in_(doomed)))
        return lost

    def forget_destinations(self, keep: Iterable[str]) -> int:
        """Remove the backlog of destinations no longer configured; return the rows removed. The
        destinations a kept one manages ("<kept>:<name>") are its own to keep or drop."""
        d, m = schema.outbox_deliveries, schema.outbox_messages
        kept = list(keep)
        mine = select(m.c.id).where(self._mine())
        managed = [d.c.destination.startswith(f"{k}:", autoescape=True) for k in kept]
        with self._db.engine.begin() as conn:
            result = conn.execute(
                delete(d).where(d.c.destination.not_in(kept), ~or_(false(), *managed), d.c.message_id.in_(mine))
            )
            return int(result.rowcount or 0)

    def drop_destination(self, destination: str, now: float | None = None) -> int:
        """Remove this instance's backlog of one destination (a subscription that ended), counting
        it as dropped; return how many messages it had waiting."""
        now = time.time() if now is None else now
        d, m = schema.outbox_deliveries, schema.outbox_messages
        mine = select(m.c.id).where(self._mine())
        with self._db.engine.begin() as conn:
            result = conn.execute(delete(d).where(d.c.destination == destination, d.c.message_id.in_(mine)))
            count = int(result.rowcount or 0)
            self._count(conn, destination, dropped=count, last_dropped_at=now if count else None)
            return count

    def forget_counters(self, destinations: Sequence[str]) -> None:
        """Remove the counters of destinations gone for good (subscriptions removed after they ended)."""
        c = schema.outbox_counters
        with self._db.engine.begin() as conn:
            for chunk in _chunks(list(destinations), 500):
                conn.execute(delete(c).where(c.c.destination.in_(chunk)))

    def snapshot(self, event_id: int) -> bytes | None:
        return self._events.snapshot(event_id)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
