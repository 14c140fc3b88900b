"""Persist camera history: one row per state change, a periodic stats sample, and gateway runs.

All writes go through one background thread, so the event loop never waits on the disk. Writes
that fail (disk full, database locked) are kept and retried; a clean shutdown drains everything.
"""

from __future__ import annotations

import logging
import math
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, update
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InvalidRequestError,
    SQLAlchemyError,
    StatementError,
)

from gateway.health import rollup
from gateway.health.state import CameraStatus
from gateway.quality.frames import CheckResult
from gateway.storage import schema
from gateway.storage.db import Database

log = logging.getLogger(__name__)

# Samples are expendable, state changes are not: past this many pending samples (the database has
# been failing for a long while) the oldest samples are dropped and counted.
MAX_PENDING_SAMPLES = 100_000
_RETRY_MAX_S = 30.0
# Unchanged picture-quality verdicts are stored this often (seconds), changes at once.
QUALITY_KEEP_S = 600.0


@dataclass
class _Pending:
    """What the writer thread has taken from the queue and not yet written."""

    states: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    quality: list[dict[str, Any]] = field(default_factory=list)
    heartbeat: float | None = None
    stop: float | None = None

    def __bool__(self) -> bool:
        return bool(self.states or self.samples or self.quality or self.heartbeat or self.stop)


class HistoryWriter:
    """Owns this process's run row and writes history rows in the background."""

    def __init__(self, db: Database, instance: str | None = None) -> None:
        self._db = db
        self.instance = instance or socket.gethostname()
        self.run_id: int | None = None
        self.started_at: float | None = None
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.dropped_samples = 0
        self.failed_writes = 0
        self.rejected_rows = 0
        self._quality_last: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._beat: float | None = None  # the run's last heartbeat written

    def start(self, policy: dict[str, Any] | None = None) -> int:
        """Open a new run (synchronously, at start-up) and start the writer thread."""
        now = time.time()
        with self._db.engine.begin() as conn:
            key = conn.execute(
                schema.gateway_runs.insert().values(
                    instance=self.instance, started_at=now, heartbeat_at=now, policy=policy
                )
            ).inserted_primary_key
        assert key is not None
        self.run_id, self.started_at = int(key[0]), now
        self._beat = now
        self._thread = threading.Thread(target=self._writer, name="history-writer", daemon=True)
        self._thread.start()
        return self.run_id

    def record_state(self, new: CameraStatus, _old: CameraStatus | None = None) -> None:
        row = {"run_id": self.run_id, "camera_id": new.camera_id, "ts": new.since, "state": new.state.value}
        self._queue.put(("state", {**row, "reason": new.reason, "faults": list(new.faults) or None}))

    def record_samples(self, statuses: list[CameraStatus], at: float | None = None) -> None:
        ts = at or time.time()
        for s in statuses:
            m = s.measured
            self._queue.put(
                (
                    "sample",
                    {
                        "run_id": self.run_id,
                        "camera_id": s.camera_id,
                        "ts": ts,
                        "state": s.state.value,
                        "codec": m.codec,
                        "profile": m.profile,
                        "width": m.width,
                        "height": m.height,
                        "fps": m.fps,
                        "bitrate_kbps": m.bitrate_kbps,
                        "gop_frames": m.gop_frames,
                        "keyframe_interval_s": m.keyframe_interval_s,
                        "packets": m.packets,
                        "bytes": m.bytes,
                        "ts_jumps": m.ts_jumps,
                        "gaps": m.gaps,
                        "reconnects": s.reconnects,
                    },
                )
            )

    def record_quality(self, camera_id: str, at: float, results: tuple[CheckResult, ...]) -> None:
        """Store a diagnosis when a check changes state, else at most every QUALITY_KEEP_S per camera.

        Nine rows a minute per camera would be most of the database for a large site; the verdicts
        that matter for coverage are in the state changes, these rows keep the scores behind them.
        """
        last = self._quality_last.get(camera_id)
        states = tuple(r.state for r in results)
        if last is not None and last[1] == states and at - last[0] < QUALITY_KEEP_S:
            return
        self._quality_last[camera_id] = (at, states)
        for r in results:
            row = {"run_id": self.run_id, "camera_id": camera_id, "ts": at, "check": r.name, "state": r.state}
            # A check that could not run has no score (NaN): store NULL, which SQL can compare.
            score = r.score if math.isfinite(r.score) else None
            self._queue.put(("quality", {**row, "score": score, "detail": r.detail}))

    def heartbeat(self) -> None:
        self._queue.put(("heartbeat", time.time()))

    def close(self, timeout_s: float = 10.0) -> None:
        if self._thread is None:
            return
        self._queue.put(("stop", time.time()))
        self._thread.join(timeout_s)
        self._thread = None

    def pending(self) -> int:
        return self._queue.qsize()

    # -- writer thread -----------------------------------------------------------------------------

    def _writer(self) -> None:
        pending = _Pending()
        delay = 1.0
        while True:
            try:
                # Block for new work, or only until the next retry when a write has failed.
                self._absorb(*self._queue.get(timeout=delay if pending else None), pending)
                while True:  # everything else already waiting goes into the same transaction
                    self._absorb(*self._queue.get_nowait(), pending)
            except queue.Empty:
                pass
            if len(pending.samples) > MAX_PENDING_SAMPLES:
                excess = len(pending.samples) - MAX_PENDING_SAMPLES
                del pending.samples[:excess]
                self.dropped_samples += excess
                log.error("history: dropped %d stats samples the database could not take", excess)
            if self._flush(pending):
                if pending.stop is not None:
                    return
                pending, delay = _Pending(), 1.0
            else:
                delay = min(delay * 2, _RETRY_MAX_S)
                if pending.stop is not None and time.time() - pending.stop > 5:
                    log.error("history: giving up on %d state change(s) at shutdown", len(pending.states))
                    return

    @staticmethod
    def _absorb(kind: str, item: Any, pending: _Pending) -> None:
        if kind == "state":
            pending.states.append(item)
        elif kind == "sample":
            pending.samples.append(item)
        elif kind == "quality":
            pending.quality.append(item)
        elif kind == "heartbeat":
            pending.heartbeat = item
        elif kind == "stop":
            pending.stop = item

    def _flush(self, pending: _Pending) -> bool:
        try:
            with self._db.engine.begin() as conn:
                self._write(conn, pending)
        except SQLAlchemyError as exc:
            if _refused(exc):
                # Some row can never be written (a bug, not the disk): write the rest one by one, so
                # that one bad row does not block every later state change behind it.
                log.error("history: a batch was refused (%s); writing it row by row", type(exc).__name__)
                try:
                    self._write_row_by_row(pending)
                except SQLAlchemyError as again:
                    return self._failed(pending, again)
            else:
                return self._failed(pending, exc)
        except Exception as exc:  # noqa: BLE001 - the writer thread must outlive any bug: retried, said
            return self._failed(pending, exc)
        if self.failed_writes:
            log.info("history: writes work again")
            self.failed_writes = 0
        self._beat = pending.stop or pending.heartbeat or self._beat
        return True

    def _failed(self, pending: _Pending, exc: BaseException) -> bool:
        self.failed_writes += 1
        if self.failed_writes == 1 or self.failed_writes % 100 == 0:
            pending_rows = len(pending.states) + len(pending.samples) + len(pending.quality)
            log.error(
                "history: write failed (%d rows pending, will retry): %s",
                pending_rows,
                exc,
                exc_info=None if isinstance(exc, SQLAlchemyError) else exc,
            )
        return False

    def _write(self, conn: Connection, pending: _Pending) -> None:
        for table, rows in self._groups(pending):
            if rows:
                conn.execute(table.insert(), rows)
        _invalidate_rollups(conn, pending.states)
        last_seen = pending.stop or pending.heartbeat
        if last_seen is not None and self._beat is not None and last_seen - self._beat > rollup.STALE_RUN_S:
            # Readers took this run for over (no heartbeat for that long) and may have rolled up days
            # with its cameras unknown after the last heartbeat: they were watched after all.
            rollup.forget_after(conn, self._beat)
        if last_seen is not None:
            values: dict[str, float] = {"heartbeat_at": last_seen}
            if pending.stop is not None:
                values["stopped_at"] = pending.stop
            runs = schema.gateway_runs
            conn.execute(update(runs).where(runs.c.id == self.run_id).values(values))

    @staticmethod
    def _groups(pending: _Pending) -> list[tuple[Table, list[dict[str, Any]]]]:
        return [
            (schema.camera_state_changes, pending.states),
            (schema.camera_samples, pending.samples),
            (schema.camera_quality, pending.quality),
        ]

    def _write_row_by_row(self, pending: _Pending) -> None:
        states = list(pending.states)
        for table, rows in self._groups(pending):
            # Each row leaves the batch once written or refused, so that a retry after the database
            # itself failed half-way (raised to _flush) writes no row twice.
            while rows:
                try:
                    with self._db.engine.begin() as conn:
                        conn.execute(table.insert(), [rows[0]])
                except SQLAlchemyError as exc:
                    if not _refused(exc):
                        raise
                    self.rejected_rows += 1
                    log.error("history: dropped a %s row the database refuses: %s", table.name, exc)
                rows.pop(0)
        with self._db.engine.begin() as conn:
            self._write(conn, _Pending(heartbeat=pending.heartbeat, stop=pending.stop))
            _invalidate_rollups(conn, states)


def _refused(exc: SQLAlchemyError) -> bool:
    """A write that will fail the same way every time (bad rows), as opposed to a full disk or a lock."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    if isinstance(exc, DBAPIError):
        return False  # the database itself: disk full, locked, connection lost - worth retrying
    return isinstance(exc, StatementError | InvalidRequestError)


def _invalidate_rollups(conn: Connection, states: list[dict[str, Any]]) -> None:
    """A state change changes its camera's history from its time on: the daily roll-ups of the days
    it reaches are computed again when next read. Changes are nearly always of the current day, which
    has no roll-up yet, so this deletes nothing; a late write (a clock put back, a replayed batch) does."""
    earliest: dict[str, float] = {}
    for row in states:
        cid, ts = row["camera_id"], row["ts"]
        if ts < earliest.get(cid, math.inf):
            earliest[cid] = ts
    rollup.invalidate(conn, earliest)


def prune(db: Database, older_than: float) -> int:
    """Delete stats samples and ONVIF readings older than `older_than` (Unix time); return the count.

    The daily roll-ups of those days go too (their summaries hold the days' last samples); state
    changes are kept, so a report over those days computes them again from what is left."""
    deleted = 0
    with db.engine.begin() as conn:
        for table in (schema.camera_samples, schema.camera_inventory, schema.camera_quality):
            deleted += conn.execute(table.delete().where(table.c.ts < older_than)).rowcount
        rollup.forget_before(conn, older_than)
    return deleted
