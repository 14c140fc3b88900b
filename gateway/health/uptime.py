"""Uptime over any window, computed from stored state changes and gateway runs.

A camera's time in a window is split into online, degraded, offline, disabled and unknown. Unknown
is time when no gateway run was watching the camera (the gateway was stopped or crashed, measured
from its last heartbeat) and the moment of connecting after a start: a gateway that was down is
not evidence that the camera was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, select

from gateway.storage import schema
from gateway.storage.db import Database

UNKNOWN = "unknown"
_UP = frozenset({"online", "degraded"})


@dataclass(frozen=True)
class Interval:
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
        """The camera's states over the window. ``conn`` and ``runs`` (all runs that may matter, by id)
        let a caller reading many cameras share one connection and one read of the runs."""
        if conn is None:
            with self._db.engine.connect() as own:
                return self.timeline(camera_id, start, end, now, conn=own, runs=runs)
        c = schema.camera_state_changes
        columns = (c.c.run_id, c.c.ts, c.c.state, c.c.reason, c.c.faults)
        before = conn.execute(
            select(*columns)
            .where(c.c.camera_id == camera_id, c.c.ts < start)
            .order_by(c.c.ts.desc(), c.c.id.desc())
            .limit(1)
        ).all()
        inside = conn.execute(
            select(*columns)
            .where(and_(c.c.camera_id == camera_id, c.c.ts >= start, c.c.ts < end))
            .order_by(c.c.ts, c.c.id)
        ).all()
        ids = {row.run_id for row in (*before, *inside)}
        if runs is None or not ids <= runs.keys():
            runs = {**(runs or {}), **self._runs_by_id(conn, ids - (runs or {}).keys(), now)}
        changes: dict[int, list[tuple[float, str, str | None, tuple[str, ...]]]] = {}
        for row in (*before, *inside):
            changes.setdefault(row.run_id, []).append((row.ts, row.state, row.reason, tuple(row.faults or ())))

        intervals: list[Interval] = []
        t = start
        for run in sorted((runs[i] for i in ids), key=lambda r: r.start):
            seg_start, seg_end = max(t, run.start, start), min(end, run.end)
            if seg_end <= seg_start:
                continue
            if seg_start > t:
                intervals.append(Interval(t, seg_start, UNKNOWN, "gateway not running"))
            intervals.extend(_segment(changes.get(run.id, []), seg_start, seg_end))
            t = seg_end
        if t < end:
            intervals.append(Interval(t, end, UNKNOWN, "gateway not running"))
        return _coalesce(intervals)

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


def _segment(changes: list[tuple[float, str, str | None, tuple[str, ...]]], start: float, end: float) -> list[Interval]:
    """The states of one run's changes between start and end; before the first change: unknown."""
    out: list[Interval] = []
    faults: tuple[str, ...] = ()
    state, reason, t = UNKNOWN, None, start
    for ts, new_state, new_reason, new_faults in changes:
        if ts <= start:
            state, reason, faults = new_state, new_reason, new_faults
            continue
        if ts >= end:
            break
        out.append(Interval(t, ts, state, reason, faults))
        state, reason, faults, t = new_state, new_reason, new_faults, ts
    out.append(Interval(t, end, state, reason, faults))
    # "connecting" right after a start is not evidence either way.
    return [Interval(i.start, i.end, UNKNOWN, "connecting") if i.state == "connecting" else i for i in out]


def _coalesce(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for iv in intervals:
        if iv.duration <= 0:
            continue
        last = out[-1] if out else None
        if last and (last.state, last.reason, last.faults) == (iv.state, iv.reason, iv.faults) and last.end == iv.start:
            out[-1] = Interval(last.start, iv.end, iv.state, iv.reason, iv.faults)
        else:
            out.append(iv)
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
