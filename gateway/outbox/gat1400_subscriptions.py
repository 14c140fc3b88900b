"""The subscriptions GA/T 1400 platforms hold at this gateway, as stored (`gat1400_subscriptions`), and
what one covers: which cameras (ResourceURI) and which records (SubscribeDetail).

Stored in the database rather than a file under the data directory: the outbox that carries their
notifications is there, a subscription and its outbox destination must agree after any crash, and
gateways sharing a PostgreSQL database each keep their own rows (the `instance` column) the way
they keep their own outbox messages. Blocking; the platform calls it through a thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, insert, select, update

from adapters.gat1400.objects import Gat1400ProtocolError
from adapters.gat1400.subscribe import (
    DETAIL_FACES,
    DETAIL_PERSONS,
    SUBSCRIBE_ACTIVE,
    Subscribe,
    parse_subscribe,
    subscribe_object,
)
from gateway.storage import schema
from gateway.storage.db import Database

log = logging.getLogger(__name__)

SLOTS = 64  # NotificationID sequence = (message id x SLOTS + slot) mod 100000; config caps subscriptions at 64
ENDED_KEPT_S = 7 * 86_400.0
OFFERED_NAMES = {DETAIL_PERSONS: "persons", DETAIL_FACES: "faces"}


@dataclass(frozen=True)
class SubscriptionRecord:
    key: int  # the row id: the outbox destination is "<uplink>:<key>"
    sub: Subscribe
    slot: int
    status: int
    platform: str | None
    begin_at: float | None
    end_at: float | None
    created_at: float
    updated_at: float
    ended_at: float | None = None
    end_reason: str | None = None
    sent: int = 0
    failed: int = 0
    dropped: int = 0

    @property
    def active(self) -> bool:
        return self.status == SUBSCRIBE_ACTIVE


def offered_details(faces: bool) -> frozenset[str]:
    return frozenset({DETAIL_PERSONS, DETAIL_FACES} if faces else {DETAIL_PERSONS})


def subscribed_cameras(
    resource_uri: Iterable[str] | None,
    device_of: Mapping[str, str],
    gateway_device_id: str,
    allowed: Iterable[str] | None = None,
) -> frozenset[str]:
    """The cameras a ResourceURI covers. An entry covers every camera when it is the gateway's own
    ID (the view library subscribed to) or when none is given; a camera when it is that camera's
    device ID; the cameras under an administrative division (2, 4, 6 or 8 digits: the leading digits
    of a device ID). ResourceClass is not consulted: its numbering differs between platforms."""
    entries = [e for e in (resource_uri or ()) if e]
    cameras = set(device_of)
    if entries and gateway_device_id not in entries:
        covered = set()
        for camera, device in device_of.items():
            for entry in entries:
                if device == entry or (len(entry) in (2, 4, 6, 8) and entry.isdigit() and device.startswith(entry)):
                    covered.add(camera)
                    break
        cameras = covered
    if allowed is not None:
        cameras &= set(allowed)
    return frozenset(cameras)


def _record(row: Row[Any]) -> SubscriptionRecord:
    m = row._mapping
    return SubscriptionRecord(
        key=int(m["id"]),
        sub=parse_subscribe(m["subscribe"]),
        slot=int(m["slot"]),
        status=int(m["status"]),
        platform=m["platform"],
        begin_at=m["begin_at"],
        end_at=m["end_at"],
        created_at=float(m["created_at"]),
        updated_at=float(m["updated_at"]),
        ended_at=m["ended_at"],
        end_reason=m["end_reason"],
        sent=int(m["sent"]),
        failed=int(m["failed"]),
        dropped=int(m["dropped"]),
    )


class SubscriptionStore:
    """One uplink's subscriptions in one gateway instance."""

    def __init__(self, db: Database, instance: str, uplink_id: str) -> None:
        self._db = db
        self._instance = instance
        self._uplink = uplink_id

    def _mine(self) -> Any:
        t = schema.gat1400_subscriptions
        return and_(t.c.instance == self._instance, t.c.uplink_id == self._uplink)

    def load(self) -> list[SubscriptionRecord]:
        t = schema.gat1400_subscriptions
        with self._db.engine.connect() as conn:
            rows = conn.execute(select(t).where(self._mine()).order_by(t.c.id)).all()
        records = []
        for row in rows:
            try:
                records.append(_record(row))
            except Gat1400ProtocolError as exc:  # a row no longer readable must not hold up the others
                log.error("GA/T 1400 %s: stored subscription %s unreadable, skipped: %s", self._uplink, row.id, exc)
        return records

    def save(
        self,
        sub: Subscribe,
        platform: str | None,
        begin_at: float | None,
        end_at: float | None,
        now: float | None = None,
    ) -> SubscriptionRecord:
        """Store a subscription made or changed: an ended one of the same id is taken up again, with
        a free slot."""
        now = time.time() if now is None else now
        t = schema.gat1400_subscriptions
        values = {
            "subscribe": subscribe_object(sub, SUBSCRIBE_ACTIVE),
            "platform": platform or None,
            "begin_at": begin_at,
            "end_at": end_at,
            "updated_at": now,
        }
        with self._db.engine.begin() as conn:
            row = conn.execute(select(t).where(self._mine(), t.c.subscribe_id == sub.subscribe_id)).first()
            if row is not None and int(row._mapping["status"]) == SUBSCRIBE_ACTIVE:
                conn.execute(update(t).where(t.c.id == row._mapping["id"]).values(**values))
                key = int(row._mapping["id"])
            elif row is not None:
                key = int(row._mapping["id"])
                slot = self._free_slot(conn)
                conn.execute(
                    update(t)
                    .where(t.c.id == key)
                    .values(**values, slot=slot, status=SUBSCRIBE_ACTIVE, ended_at=None, end_reason=None)
                )
            else:
                slot = self._free_slot(conn)
                inserted = conn.execute(
                    insert(t).values(
                        **values,
                        instance=self._instance,
                        uplink_id=self._uplink,
                        subscribe_id=sub.subscribe_id,
                        slot=slot,
                        status=SUBSCRIBE_ACTIVE,
                        created_at=now,
                        sent=0,
                        failed=0,
                        dropped=0,
                    )
                ).inserted_primary_key
                assert inserted is not None
                key = int(inserted[0])
            saved = conn.execute(select(t).where(t.c.id == key)).one()
        return _record(saved)

    def _free_slot(self, conn: Connection) -> int:
        t = schema.gat1400_subscriptions
        used = {
            int(s) for s in conn.execute(select(t.c.slot).where(self._mine(), t.c.status == SUBSCRIBE_ACTIVE)).scalars()
        }
        free = next((s for s in range(SLOTS) if s not in used), None)
        if free is None:
            raise ValueError(f"all {SLOTS} notification slots are in use")
        return free

    def end(self, key: int, status: int, reason: str, sub: Subscribe, now: float | None = None) -> None:
        """Mark a subscription cancelled or expired."""
        now = time.time() if now is None else now
        t = schema.gat1400_subscriptions
        with self._db.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.id == key)
                .values(
                    status=status,
                    ended_at=now,
                    end_reason=reason[:500],
                    updated_at=now,
                    subscribe=subscribe_object(sub, status),
                )
            )

    def add_counts(self, key: int, *, sent: int = 0, failed: int = 0, dropped: int = 0) -> None:
        if not (sent or failed or dropped):
            return
        t = schema.gat1400_subscriptions
        with self._db.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.id == key)
                .values(sent=t.c.sent + sent, failed=t.c.failed + failed, dropped=t.c.dropped + dropped)
            )

    def prune(self, before: float) -> list[int]:
        """Remove subscriptions that ended before `before`; return their keys."""
        t = schema.gat1400_subscriptions
        with self._db.engine.begin() as conn:
            old = t.c.ended_at < before
            keys = [
                int(k)
                for k in conn.execute(select(t.c.id).where(self._mine(), t.c.status != SUBSCRIBE_ACTIVE, old)).scalars()
            ]
            if keys:
                conn.execute(delete(t).where(t.c.id.in_(keys)))
        return keys
