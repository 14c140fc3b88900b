"""Uptime over any window, computed from stored state changes and gateway runs.

A camera's time in a window is split into online, degraded, offline, disabled and unknown. Unknown
is time when no gateway run was watching the camera (the gateway was stopped or crashed, measured
from its last heartbeat) and the moment of connecting after a start: a gateway that was down is
not evidence that the camera was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Select, Text, bindparam, select, type_coerce

from gateway.storage import schema
from gateway.storage.batch import PerDialect, ids_param, ids_table
from gateway.storage.db import Database

UNKNOWN = "unknown"
_UP = frozenset({"online", "degraded"})


class Interval(NamedTuple):
    # A tuple, not a dataclass: reports over months of history make hundreds of thousands of these.
    start: float
    end: float
    state: str
    reason: str | None = None
    faults: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Outage:
    start: float
    end: float
    reasons: tuple[str, ...]
    ongoing: bool

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class UptimeSummary:
    camera_id: str
    start: float
    end: float
    seconds: dict[str, float]  # per state, "unknown" included
    outages: list[Outage] = field(default_factory=list)

    @property
    def up_s(self) -> float:
        return sum(v for k, v in self.seconds.items() if k in _UP)

    @property
    def down_s(self) -> float:
        return self.seconds.get("offline", 0.0)

    @property
    def unknown_s(self) -> float:
        return self.seconds.get(UNKNOWN, 0.0)

    @property
    def uptime_percent(self) -> float | None:
        """Share of the *known* monitored time the camera delivered video; None when nothing is known."""
        known = self.up_s + self.down_s
        return round(100.0 * self.up_s / known, 3) if known > 0 else None


@dataclass(frozen=True)
class Run:
    id: int
    instance: str
    start: float
    end: float  # stopped_at, or the last heartbeat of a run that did not stop cleanly, or now
    clean: bool
    current: bool


class HistoryReader:
    def __init__(self, db: Database, current_run_id: int | None = None) -> None:
        self._db = db
        self._current_run_id = current_run_id

    @property
    def engine(self) -> Engine:
        return self._db.engine

    def run_policies(self, run_ids: list[int]) -> dict[int, dict[str, Any] | None]:
        """The policy each run judged cameras under (None for runs from before it was stored)."""
        if not run_ids:
            return {}
        r = schema.gateway_runs
        with self._db.engine.connect() as conn:
            rows = conn.execute(select(r.c.id, r.c.policy).where(r.c.id.in_(run_ids))).all()
        return {row.id: row.policy for row in rows}

    def runs(self, start: float, end: float, now: float) -> list[Run]:
        r = schema.gateway_runs
        with self._db.engine.connect() as conn:
            rows = conn.execute(
                select(r).where(r.c.started_at < end, r.c.heartbeat_at >= start - 3600).order_by(r.c.started_at)
            ).all()
        runs = [self._run(row, now) for row in rows]
        return [run for run in runs if run.end > start]

    def _run(self, row: object, now: float) -> Run:
        current = row.id == self._current_run_id  # type: ignore[attr-defined]
        stopped = row.stopped_at  # type: ignore[attr-defined]
        end = now if current else (stopped if stopped is not None else row.heartbeat_at)  # type: ignore[attr-defined]
        return Run(
            id=row.id,  # type: ignore[attr-defined]
            instance=row.instance,  # type: ignore[attr-defined]
            start=row.started_at,  # type: ignore[attr-defined]
            end=end,
            clean=stopped is not None,
            current=current,
        )

    def gateway_down(self, start: float, end: float, now: float) -> list[Interval]:
        """Parts of the window that no gateway run covered."""
        covered = _merge([(max(start, r.start), min(end, r.end)) for r in self.runs(start, end, now)])
        gaps, t = [], start
        for a, b in covered:
            if a > t:
                gaps.append(Interval(t, a, UNKNOWN, "gateway not running"))
            t = max(t, b)
        if t < end:
            gaps.append(Interval(t, end, UNKNOWN, "gateway not running"))
        return gaps

    def timeline(
        self,
        camera_id: str,
        start: float,
        end: float,
        now: float,
        *,
        conn: Connection | None = None,
        runs: dict[int, Run] | None = None,
    ) -> list[Interval]:
        return self.timelines([camera_id], start, end, now, conn=conn, runs=runs)[camera_id]

    def timelines(
        self,
        camera_ids: list[str],
        start: float,
        end: float,
        now: float,
        *,
        conn: Connection | None = None,
        runs: dict[int, Run] | None = None,
    ) -> dict[str, list[Interval]]:
        """Each camera's states over the window, read with one query for the window's changes and one
        for every camera's state when the window opens. ``runs`` (all runs that may matter, by id) may
        be given by a caller that has them already."""
        if conn is None:
            with self._db.engine.connect() as own:
                return self.timelines(camera_ids, start, end, now, conn=own, runs=runs)
        wanted = set(camera_ids)
        changes: dict[str, list[tuple[int, float, str, str | None, tuple[str, ...]]]] = {cid: [] for cid in camera_ids}
        if camera_ids:
            before = conn.execute(_BEFORE.on(conn), {**ids_param(camera_ids), "start": start}).all()
            for cid, run_id, ts, state, reason, faults in before:
                changes[cid].append((run_id, ts, state, reason, _faults(faults)))
        inside = _INSIDE_FEW if len(camera_ids) <= 20 else _INSIDE_ALL
        params: dict[str, Any] = {"start": start, "end": end, "cids": camera_ids}
        for cid, run_id, ts, state, reason, faults in conn.execute(inside, params).all():
            if cid in wanted:
                changes[cid].append((run_id, ts, state, reason, _faults(faults)))
        ids = {change[0] for rows in changes.values() for change in rows}
        known = runs or {}
        if not ids <= known.keys():
            known = {**known, **self._runs_by_id(conn, ids - known.keys(), now)}
        return {cid: _assemble(rows, known, start, end) for cid, rows in changes.items()}

    def runs_by_id(self, start: float, end: float, now: float) -> dict[int, Run]:
        return {run.id: run for run in self.runs(start, end, now)}

    def _runs_by_id(self, conn: Connection, ids: set[int], now: float) -> dict[int, Run]:
        if not ids:
            return {}
        r = schema.gateway_runs
        rows = conn.execute(select(r).where(r.c.id.in_(ids))).all()
        return {row.id: self._run(row, now) for row in rows}

    def uptime(self, camera_id: str, start: float, end: float, now: float) -> UptimeSummary:
        timeline = self.timeline(camera_id, start, end, now)
        seconds: dict[str, float] = {}
        for iv in timeline:
            seconds[iv.state] = seconds.get(iv.state, 0.0) + iv.duration
        return UptimeSummary(
            camera_id=camera_id,
            start=start,
            end=end,
            seconds={k: round(v, 3) for k, v in seconds.items()},
            outages=outages(timeline, now),
        )


_C = schema.camera_state_changes
# The faults column is read as text and decoded only where present (most rows have none): SQLAlchemy's
# JSON type would decode every row of a months-long report. PostgreSQL's driver hands over lists.
_COLUMNS = (_C.c.camera_id, _C.c.run_id, _C.c.ts, _C.c.state, _C.c.reason, type_coerce(_C.c.faults, Text))


def _build_before(dialect: str) -> Select[Any]:
    ids = ids_table(dialect)
    inner = _C.alias("inner")
    # Each camera's last change before the window: one seek of the (camera_id, ts) index each.
    last = (
        select(inner.c.id)
        .where(inner.c.camera_id == ids.c.value, inner.c.ts < bindparam("start"))
        .order_by(inner.c.ts.desc(), inner.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(*_COLUMNS).select_from(ids.join(_C, _C.c.id == last))


_BEFORE = PerDialect(_build_before)
_INSIDE_ALL = (
    select(*_COLUMNS)
    .where(_C.c.ts >= bindparam("start"), _C.c.ts < bindparam("end"))
    .order_by(_C.c.camera_id, _C.c.ts, _C.c.id)
)
_INSIDE_FEW = (
    select(*_COLUMNS)
    .where(
        _C.c.camera_id.in_(bindparam("cids", expanding=True)), _C.c.ts >= bindparam("start"), _C.c.ts < bindparam("end")
    )
    .order_by(_C.c.camera_id, _C.c.ts, _C.c.id)
)


def _faults(value: object) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        value = json.loads(value)
    return tuple(value) if isinstance(value, list) else ()


def _assemble(
    changes: list[tuple[int, float, str, str | None, tuple[str, ...]]], runs: dict[int, Run], start: float, end: float
) -> list[Interval]:
    """One camera's intervals from its changes (oldest first), each read within the run that wrote it."""
    by_run: dict[int, list[tuple[float, str, str | None, tuple[str, ...]]]] = {}
    for run_id, ts, state, reason, faults in changes:
        by_run.setdefault(run_id, []).append((ts, state, reason, faults))
    intervals: list[Interval] = []
    t = start
    for run in sorted((runs[i] for i in by_run), key=lambda r: r.start):
        seg_start, seg_end = max(t, run.start, start), min(end, run.end)
        if seg_end <= seg_start:
            continue
        if seg_start > t:
            intervals.append(Interval(t, seg_start, UNKNOWN, "gateway not running"))
        intervals.extend(_segment(by_run[run.id], seg_start, seg_end))
        t = seg_end
    if t < end:
        intervals.append(Interval(t, end, UNKNOWN, "gateway not running"))
    return _coalesce(intervals)


def _segment(changes: list[tuple[float, str, str | None, tuple[str, ...]]], start: float, end: float) -> list[Interval]:
    """The states of one run's changes between start and end; before the first change: unknown.

    "connecting" right after a start is not evidence either way, so it reads as unknown too.
    """
    out: list[Interval] = []
    faults: tuple[str, ...] = ()
    reason: str | None = None
    state, t = UNKNOWN, start
    for ts, new_state, new_reason, new_faults in changes:
        if new_state == "connecting":
            new_state, new_reason = UNKNOWN, "connecting"
        if ts <= start:
            state, reason, faults = new_state, new_reason, new_faults
            continue
        if ts >= end:
            break
        out.append(Interval(t, ts, state, reason, faults))
        state, reason, faults, t = new_state, new_reason, new_faults, ts
    out.append(Interval(t, end, state, reason, faults))
    return out


def _coalesce(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    last: Interval | None = None
    for iv in intervals:
        if iv[1] <= iv[0]:
            continue
        if last is not None and last[2:] == iv[2:] and last[1] == iv[0]:
            last = out[-1] = Interval(last[0], iv[1], iv[2], iv[3], iv[4])
        else:
            out.append(iv)
            last = iv
    return out


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def outages(timeline: list[Interval], now: float) -> list[Outage]:
    """Runs of consecutive offline intervals, whatever the reasons along the way."""
    found: list[Outage] = []
    current: list[Interval] = []
    for iv in [*timeline, Interval(float("inf"), float("inf"), "end")]:
        if iv.state == "offline" and (not current or current[-1].end == iv.start):
            current.append(iv)
            continue
        if current:
            reasons = tuple(dict.fromkeys(i.reason or "unknown" for i in current))
            end = current[-1].end
            found.append(Outage(current[0].start, end, reasons, ongoing=end >= now - 1e-6))
            current = []
        if iv.state == "offline":
            current.append(iv)
    return found
