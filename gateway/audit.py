"""The audit log: who signed in, viewed which camera, exported which report, changed what.

Append-only and hash-chained: each entry's hash covers its own fields and the previous entry's
hash. Editing an entry breaks its own hash; removing or inserting one breaks the link of the
entry after it. Dropping entries from the end leaves a shorter chain that still checks, so
`verify` prints the head (sequence number and hash) for an auditor to keep outside the box and
pass back later with `--head`: a kept head that is no longer in the chain means entries went missing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select

from gateway.config import GatewayConfig
from gateway.i18n import _
from gateway.storage import schema
from gateway.storage.db import Database, serialize

log = logging.getLogger(__name__)

GENESIS = "0" * 64
AUDIT_LOCK = 0x67776175646974  # advisory lock key of the audit chain on PostgreSQL ("gwaudit")
_MAX_IDS = 2000
SYSTEM_ACTOR = "system"

# What gets recorded. Kept as plain strings in the table so that auditors' queries stay readable.
LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGOUT = "logout"
LIVE_VIEW_START = "live_view_start"
LIVE_VIEW_STOP = "live_view_stop"
REPLAY_START = "replay_start"  # a recording viewed on the pages: who, which camera, which span
REPLAY_STOP = "replay_stop"
PTZ_CONTROL = "ptz_control"  # a camera moved, a preset set, called or removed: by whom
SNAPSHOT = "snapshot"
TICKET_OPEN = "ticket_open"  # a camera fault lasted past its grace time: a hidden danger (system)
TICKET_ESCALATE = "ticket_escalate"  # not acknowledged in time: the next contact list told (system)
TICKET_ACK = "ticket_ack"  # a person took the danger on: who, when, their note
TICKET_CLOSE = "ticket_close"  # the camera healthy again for the recovery time (system)
REPORT_EXPORT = "report_export"
AUDIT_EXPORT = "audit_export"
CONFIG_CHANGE = "config_change"
USER_ADD = "user_add"
USER_DISABLE = "user_disable"
USER_ENABLE = "user_enable"
PASSWORD_SET = "password_set"  # noqa: S105 - an action name
TOKEN_ISSUE = "token_issue"  # noqa: S105 - an action name
TOKEN_REVOKE = "token_revoke"  # noqa: S105 - an action name
GRANT_ADD = "grant_add"
GRANT_REMOVE = "grant_remove"
ACTIONS = (
    LOGIN,
    LOGIN_FAILED,
    LOGOUT,
    LIVE_VIEW_START,
    LIVE_VIEW_STOP,
    REPLAY_START,
    REPLAY_STOP,
    PTZ_CONTROL,
    SNAPSHOT,
    TICKET_OPEN,
    TICKET_ESCALATE,
    TICKET_ACK,
    TICKET_CLOSE,
    REPORT_EXPORT,
    AUDIT_EXPORT,
    CONFIG_CHANGE,
    USER_ADD,
    USER_DISABLE,
    USER_ENABLE,
    PASSWORD_SET,
    TOKEN_ISSUE,
    TOKEN_REVOKE,
    GRANT_ADD,
    GRANT_REMOVE,
)


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    ts: float
    actor: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
    source: str | None
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "source": self.source,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass
class AuditVerification:
    ok: bool
    checked: int
    problems: list[tuple[int, str]] = field(default_factory=list)
    head_seq: int = 0
    head_hash: str = GENESIS


def canonical_detail(detail: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(detail or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(
    seq: int, ts: float, actor: str, role: str, action: str, target: str, detail: str, source: str | None, prev: str
) -> str:
    # repr() of a float round-trips exactly, and both SQLite REAL and PostgreSQL double keep all 64 bits.
    fields = [seq, repr(float(ts)), actor, role, action, target, detail, source, prev]
    payload = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db
        # One writer at a time in this process, so that sequence numbers and links never race.
        self._lock = threading.Lock()

    def record(
        self,
        actor: str,
        role: str,
        action: str,
        target: str = "",
        detail: Mapping[str, Any] | None = None,
        source: str | None = None,
    ) -> AuditEntry:
        """Append one entry (blocking: call from a thread, or accept a few ms on the loop)."""
        t = schema.audit_log
        text = canonical_detail(detail)
        actor, target = actor[:100], target[:200]
        source = source[:64] if source else None
        with self._lock, self._db.engine.begin() as conn:
            # Gateways sharing a database append to one chain: each must see the head the last wrote.
            serialize(conn, AUDIT_LOCK)
            last = conn.execute(select(t.c.seq, t.c.hash).order_by(t.c.seq.desc()).limit(1)).first()
            seq = (last.seq + 1) if last is not None else 1
            prev = last.hash if last is not None else GENESIS
            now = time.time()
            digest = entry_hash(seq, now, actor, role, action, target, text, source, prev)
            conn.execute(
                t.insert().values(
                    seq=seq,
                    ts=now,
                    actor=actor,
                    role=role,
                    action=action,
                    target=target,
                    detail=text,
                    source=source,
                    prev_hash=prev,
                    hash=digest,
                )
            )
        return AuditEntry(seq, now, actor, role, action, target, json.loads(text), source, prev, digest)

    def record_quietly(self, *args: Any, **kwargs: Any) -> None:
        """Record, logging (not raising) a storage failure: for paths where the action already happened."""
        try:
            self.record(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the audit must never turn a done action into a 500
            log.error("audit: could not record %s: %s", kwargs.get("action") or args[2:3], exc)

    def query(
        self,
        start: float | None = None,
        end: float | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
        offset: int = 0,
        target: str | None = None,
    ) -> list[AuditEntry]:
        """Entries newest first."""
        stmt = self._filtered(select(schema.audit_log), start, end, actor, action, target)
        stmt = stmt.order_by(schema.audit_log.c.seq.desc()).limit(limit).offset(offset)
        with self._db.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(stmt)]

    def count(
        self,
        start: float | None = None,
        end: float | None = None,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
    ) -> int:
        stmt = self._filtered(select(func.count()).select_from(schema.audit_log), start, end, actor, action, target)
        with self._db.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    @staticmethod
    def _filtered(
        stmt: Select[Any],
        start: float | None,
        end: float | None,
        actor: str | None,
        action: str | None,
        target: str | None,
    ) -> Select[Any]:
        t = schema.audit_log
        if start is not None:
            stmt = stmt.where(t.c.ts >= start)
        if end is not None:
            stmt = stmt.where(t.c.ts < end)
        if actor:
            stmt = stmt.where(t.c.actor == actor)
        if action:
            stmt = stmt.where(t.c.action == action)
        if target:
            stmt = stmt.where(t.c.target == target)
        return stmt

    def entries(self, batch: int = 1000) -> Iterator[AuditEntry]:
        """Every entry, oldest first, read in batches (the log grows for years)."""
        t = schema.audit_log
        after = 0
        while True:
            with self._db.engine.connect() as conn:
                rows = conn.execute(select(t).where(t.c.seq > after).order_by(t.c.seq).limit(batch)).all()
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            after = rows[-1].seq

    def verify(self, head: tuple[int, str] | None = None) -> AuditVerification:
        """Check every entry's hash and link; `head` is a (seq, hash) seen earlier that must still be there."""
        result = AuditVerification(ok=True, checked=0)
        t = schema.audit_log
        prev_seq, prev_hash = 0, GENESIS
        head_found = head is None
        after = 0
        while True:
            with self._db.engine.connect() as conn:
                rows = conn.execute(select(t).where(t.c.seq > after).order_by(t.c.seq).limit(1000)).all()
            if not rows:
                break
            for row in rows:
                result.checked += 1
                own = entry_hash(
                    row.seq, row.ts, row.actor, row.role, row.action, row.target, row.detail, row.source, row.prev_hash
                )
                if own != row.hash:
                    result.problems.append((row.seq, _("entry was changed: its content does not match its hash")))
                if row.seq != prev_seq + 1:
                    missing = f"{prev_seq + 1}" if row.seq == prev_seq + 2 else f"{prev_seq + 1}-{row.seq - 1}"
                    result.problems.append(
                        (row.seq, _("entries before it are missing (seq {missing})").format(missing=missing))
                    )
                elif row.prev_hash != prev_hash:
                    result.problems.append(
                        (row.seq, _("link to the previous entry is broken: an entry before it was changed or replaced"))
                    )
                if head is not None and row.seq == head[0]:
                    head_found = row.hash == head[1]
                prev_seq, prev_hash = row.seq, row.hash
            after = rows[-1].seq
        if not head_found and head is not None:
            result.problems.append(
                (
                    head[0],
                    _("the head kept earlier (seq {seq}) is no longer in the log: entries were removed").format(
                        seq=head[0]
                    ),
                )
            )
        result.ok = not result.problems
        result.head_seq, result.head_hash = prev_seq, prev_hash
        return result


def config_fingerprint(config: GatewayConfig) -> dict[str, Any]:
    """What identifies a configuration in the log: a hash of all of it, and its camera and zone ids.

    Secrets in the config are references (environment variable or file names), never values, so
    hashing the whole of it tells changes apart without writing anything sensitive.
    """
    dumped = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), default=str)
    return {
        "sha256": hashlib.sha256(dumped.encode("utf-8")).hexdigest(),
        "cameras": sorted(c.id for c in config.cameras)[:_MAX_IDS],
        "zones": sorted(z.id for z in config.zones)[:_MAX_IDS],
    }


def record_config_change(log: AuditLog, config: GatewayConfig) -> AuditEntry | None:
    """At start: record the configuration when it differs from the one the last run recorded."""
    now = config_fingerprint(config)
    last = log.query(action=CONFIG_CHANGE, limit=1)
    before = last[0].detail if last else {}
    if before.get("sha256") == now["sha256"]:
        return None
    detail = dict(now)
    if last:
        detail["previous_sha256"] = before.get("sha256")
        for key in ("cameras", "zones"):
            old, new = set(before.get(key, [])), set(now[key])
            detail[f"{key}_added"] = sorted(new - old)
            detail[f"{key}_removed"] = sorted(old - new)
    return log.record(SYSTEM_ACTOR, SYSTEM_ACTOR, CONFIG_CHANGE, config.site.id, detail)


def to_csv(entries: list[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["seq", "time_utc", "actor", "role", "action", "target", "detail", "source", "prev_hash", "hash"])
    for e in entries:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e.ts))
        detail = canonical_detail(e.detail)
        writer.writerow([e.seq, when, e.actor, e.role, e.action, e.target, detail, e.source or "", e.prev_hash, e.hash])
    return out.getvalue()


def _entry(row: Any) -> AuditEntry:
    try:
        detail = json.loads(row.detail)
    except ValueError:
        detail = {"unreadable": row.detail[:200]}
    if not isinstance(detail, dict):
        detail = {"value": detail}
    return AuditEntry(
        row.seq, row.ts, row.actor, row.role, row.action, row.target, detail, row.source, row.prev_hash, row.hash
    )
