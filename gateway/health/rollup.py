"""Daily roll-ups of camera history, and each camera's history over a report's period.

A roll-up is one camera's settled day (local midnight to midnight in the site's time zone): the
day's intervals when the camera was not online (its "holes", with states, reasons and faults), cut at
midnight from the timeline the direct path computes (HistoryReader.timelines), and a summary for
people. Time per state, outages, incidents and zone coverage follow from the holes by the functions
below, the same ones the direct path runs on a whole timeline: so both paths give the same figures.

A JSON or CSV report reads one row per camera and day, and the raw history only for the part of its
period not yet settled (today). Missing days are computed and stored when a report asks for them or
by the gateway's hourly task; the history writer deletes the days a late state change reaches, and
pruning deletes the days it prunes.
"""

from __future__ import annotations

import collections
import json
import logging
import operator
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection, Select, bindparam, delete, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.health.policy import BELOW_HD, LOW_FPS
from gateway.health.uptime import UNKNOWN, HistoryReader, Interval, Run
from gateway.reports.model import Incident, Outage
from gateway.storage import schema
from gateway.storage.batch import PerDialect, ids_param, ids_table

log = logging.getLogger(__name__)

# Of the stored data's format; rows of another version are computed again.
VERSION = 1
STATES = ("online", "degraded", "offline", "disabled", UNKNOWN)
# A run that has neither stopped nor sent a heartbeat for this long, and was not followed by a run of
# the same instance, is taken as over: its end (the last heartbeat) will not move any more.
STALE_RUN_S = 3600.0
# A day is at most 25 hours (DST): the bound that lets a late write find the days it touches by index.
_LONGEST_DAY_S = 25 * 3600.0

Measured = tuple[str | None, str | None, float | None]  # resolution, codec, fps


@dataclass(frozen=True)
class DaySpan:
    day: str  # YYYY-MM-DD
    start: float
    end: float


# --- the interval code both paths share -----------------------------------------------------------


def legacy_faults(reason: str | None) -> tuple[str, ...]:
    """Fault codes of a degraded state stored before faults had their own column."""
    text = reason or ""
    found = tuple(code for code, marker in ((LOW_FPS, "frame rate below"), (BELOW_HD, "below HD")) if marker in text)
    return found or ("degraded",)


def seconds_and_outages(timeline: Iterable[Hole], now: float) -> tuple[dict[str, float], tuple[Outage, ...]]:
    """Time per state, and the runs of consecutive offline intervals (one pass: months of history)."""
    seconds = dict.fromkeys(STATES, 0.0)
    found: list[Outage] = []
    add = found.append  # bound once: called for each of up to 100,000 outages
    o_start = o_end = 0.0
    reasons: tuple[str, ...] = ()  # of the outage being followed; empty: none
    # One tuple per reason, shared by the outages that have it alone (most): 100,000 fewer objects to
    # make and free in a long report.
    alone: dict[str, tuple[str, ...]] = {}
    for start, end, state, reason, _ in timeline:
        # Added in the timeline's order, state by state, as before: the same floats to the last bit.
        if state in seconds:
            seconds[state] += end - start
        else:
            seconds[state] = end - start
        if state == "offline":
            why = reason or "unknown"
            if reasons and o_end == start:
                o_end = end
                if why not in reasons:
                    reasons += (why,)
            else:
                if reasons:
                    add(Outage(o_start, o_end, reasons, False))
                o_start, o_end = start, end
                reasons = alone.get(why) or alone.setdefault(why, (why,))
        elif reasons:
            add(Outage(o_start, o_end, reasons, False))
            reasons = ()
    if reasons:
        add(Outage(o_start, o_end, reasons, o_end >= now - 1e-6))
    return seconds, tuple(found)


def incidents(timeline: Iterable[Hole], end: float, now: float) -> tuple[Incident, ...]:
    """Each fault's stretches of degraded time (a stretch may hold several faults at once)."""
    open_: dict[str, tuple[float, float, str]] = {}
    found: list[Incident] = []
    # Unpacked, not read by attribute: most of a long history's intervals are passed over here.
    for iv_start, iv_end, state, reason, faults in timeline:
        if state != "degraded":
            if not open_:
                continue
            faults = ()
        elif not faults:
            faults = legacy_faults(reason)
        for fault in list(open_):
            if fault not in faults:
                s, e, detail = open_.pop(fault)
                found.append(Incident(fault, s, e, detail, ongoing=False))
        for fault in faults:
            if fault in open_ and open_[fault][1] == iv_start:
                s, _, detail = open_[fault]
                open_[fault] = (s, iv_end, detail)
            else:
                if fault in open_:
                    s, e, detail = open_.pop(fault)
                    found.append(Incident(fault, s, e, detail, ongoing=False))
                open_[fault] = (iv_start, iv_end, reason or fault)
    for fault, (s, e, detail) in open_.items():
        found.append(Incident(fault, s, e, detail, ongoing=_ongoing(e, end, now)))
    return tuple(sorted(found, key=lambda i: (i.start, i.fault)))


def _ongoing(incident_end: float, end: float, now: float) -> bool:
    return incident_end >= end - 1e-6 and end >= now - 1e-6


def fault_seconds(found: Iterable[Incident]) -> dict[str, float]:
    by_fault: dict[str, float] = {}
    for inc in found:
        # duration_s, without a property call for each of 30,000 incidents
        by_fault[inc.fault] = by_fault.get(inc.fault, 0.0) + (inc.end - inc.start)
    return by_fault


# --- days ----------------------------------------------------------------------------------------


def whole_days(start: float, end: float, tz: ZoneInfo) -> list[DaySpan]:
    """The local days that lie wholly inside [start, end)."""
    days: list[DaySpan] = []
    d = datetime.fromtimestamp(start, tz).date()
    while True:
        a, b = _midnight(d, tz), _midnight(d + timedelta(days=1), tz)
        if b > end:
            return days
        if a >= start:
            days.append(DaySpan(d.isoformat(), a, b))
        d += timedelta(days=1)


def local_days(start: float, end: float, tz: ZoneInfo) -> list[DaySpan]:
    """The local days that overlap [start, end)."""
    days: list[DaySpan] = []
    d = datetime.fromtimestamp(start, tz).date()
    while (a := _midnight(d, tz)) < end:
        days.append(DaySpan(d.isoformat(), a, _midnight(d + timedelta(days=1), tz)))
        d += timedelta(days=1)
    return days


def _midnight(d: date, tz: ZoneInfo) -> float:
    return datetime.combine(d, datetime.min.time(), tz).timestamp()


def settled_until(conn: Connection, now: float) -> float:
    """The time up to which the stored history will not change any more (save late writes).

    The end of a run that is still open is its last heartbeat so far, which moves on; it is settled
    once the run stopped, was followed by a run of the same instance (it crashed), or is stale.
    """
    r = schema.gateway_runs
    rows = conn.execute(select(r.c.instance, r.c.started_at, r.c.heartbeat_at, r.c.stopped_at)).all()
    latest_start: dict[str, float] = {}
    for row in rows:
        latest_start[row.instance] = max(latest_start.get(row.instance, row.started_at), row.started_at)
    until = now
    for row in rows:
        if row.stopped_at is not None or row.started_at < latest_start[row.instance]:
            continue
        if row.heartbeat_at < now - STALE_RUN_S:
            continue
        until = min(until, row.heartbeat_at)
    return until


# --- one camera's history over a period ------------------------------------------------------------


# A hole as the interval functions read it: start, end, state, reason, faults (an Interval's tuple, or
# as parsed from a stored day: a list or None).
Hole = tuple[float, float, str, str | None, Sequence[str] | None]
_START, _END, _STATE, _REASON, _FAULTS = (operator.itemgetter(i) for i in range(5))


@dataclass(slots=True)  # not frozen: its lists are cut at the period's edges as it is made
class Holes:
    """A camera's intervals not online, in order, by column.

    A report reads 150,000 of them: the columns are sliced out of the parsed days in C, where making
    an Interval of each took 0.03-0.04 s of the report's build, and as many objects to free after it.
    """

    starts: list[float]
    ends: list[float]
    states: list[str]
    reasons: list[str | None]
    faults: list[Sequence[str] | None]

    @classmethod
    def of(cls, intervals: Iterable[Interval]) -> Holes:
        found = holes_of(intervals)
        return cls(
            list(map(_START, found)),
            list(map(_END, found)),
            list(map(_STATE, found)),
            list(map(_REASON, found)),
            list(map(_FAULTS, found)),
        )

    @classmethod
    def of_flat(cls, flat: list[Any]) -> Holes:
        """From values in a row, five by five, as a day's holes are stored."""
        return cls(flat[0::_HOLE], flat[1::_HOLE], flat[2::_HOLE], flat[3::_HOLE], flat[4::_HOLE])

    def __iter__(self) -> Iterator[Hole]:
        return zip(self.starts, self.ends, self.states, self.reasons, self.faults, strict=True)

    def __len__(self) -> int:
        return len(self.starts)

    def extend(self, intervals: Iterable[Interval]) -> None:
        more = Holes.of(intervals)
        self.starts += more.starts
        self.ends += more.ends
        self.states += more.states
        self.reasons += more.reasons
        self.faults += more.faults

    def clip(self, start: float, end: float) -> Holes:
        """cut() of the holes: only the first and last can reach past the edges."""
        first = 0
        while first < len(self.ends) and self.ends[first] <= start:
            first += 1
        stop = len(self.starts)
        while stop > first and self.starts[stop - 1] >= end:
            stop -= 1
        holes = self
        if first or stop < len(self.starts):
            holes = Holes(
                self.starts[first:stop],
                self.ends[first:stop],
                self.states[first:stop],
                self.reasons[first:stop],
                self.faults[first:stop],
            )
        if holes.starts and holes.starts[0] < start:
            holes.starts[0] = start
        if holes.ends and holes.ends[-1] > end:
            holes.ends[-1] = end
        return holes


@dataclass(frozen=True)
class CameraHistory:
    """A camera's history over a report's period: what the report reads of it."""

    start: float
    end: float
    seconds: dict[str, float]  # per state (STATES at least), unrounded
    outages: tuple[Outage, ...]
    incidents: tuple[Incident, ...]
    holes: Holes  # the intervals not online, in order (one cut at a midnight is in two)
    sample: Measured | None  # the last measured stream in the period
    timeline: list[Interval] | None  # the whole timeline, when it was read (for drawing)

    def online(self) -> list[tuple[float, float]]:
        # From each hole's end (or the start) to the next one's start (or the end), where there is time
        # between: the columns by map, in C (a zone of four cameras over 90 days asks for 600 spans).
        ends = [self.start, *self.holes.ends]
        starts = [*self.holes.starts, self.end]
        return [(a, b) for a, b in zip(ends, starts, strict=True) if b > a]

    def unknown(self) -> list[tuple[float, float]]:
        h = self.holes
        return [(s, e) for s, e, state in zip(h.starts, h.ends, h.states, strict=True) if state == UNKNOWN]


def from_timeline(
    timeline: list[Interval], start: float, end: float, now: float, sample: Measured | None, *, keep: bool
) -> CameraHistory:
    """The direct path: everything from the period's whole timeline (kept, to draw it, if ``keep``)."""
    seconds, outages = seconds_and_outages(timeline, now)
    found = incidents(timeline, end, now)
    return CameraHistory(start, end, seconds, outages, found, Holes.of(timeline), sample, timeline if keep else None)


def from_holes(holes: Holes, start: float, end: float, now: float, sample: Measured | None) -> CameraHistory:
    """The same figures from the time not online alone, by the same functions: online time between two
    holes ends an outage or an incident as it would, by not touching the next hole; online time itself
    is what the holes leave of the period."""
    seconds, outages = seconds_and_outages(holes, now)
    seconds["online"] = (end - start) - sum(v for k, v in seconds.items() if k != "online")
    return CameraHistory(start, end, seconds, outages, incidents(holes, end, now), holes, sample, None)


def holes_of(timeline: Iterable[Interval]) -> list[Interval]:
    return [iv for iv in timeline if iv.state != "online"]


# --- storing and reading roll-ups ----------------------------------------------------------------

_D = schema.camera_days
_HOLE = 5  # values per hole in a stored day: start, end, state, reason, faults


def _flat(holes: list[Interval]) -> list[Any]:
    """A day's holes as one flat list, as stored: each nested list would be one more object to parse,
    and a 90-day report parses 90,000 days."""
    flat: list[Any] = []
    for iv in holes:
        flat += (iv.start, iv.end, iv.state, iv.reason, list(iv.faults) if iv.faults else None)
    return flat


def _summary(timeline: list[Interval], day: DaySpan, sample: tuple[float, Measured] | None) -> str:
    """What the day was, for people and programs reading the table (reports read the holes)."""
    seconds, outages = seconds_and_outages(timeline, float("inf"))
    found = incidents(timeline, day.end, float("inf"))
    return _dumps(
        {
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
            "faults": {k: round(v, 3) for k, v in fault_seconds(found).items()},
            "outages": len(outages),
            "longest_outage_s": round(max((o.duration_s for o in outages), default=0.0), 3),
            "incidents": len(found),
            "sample": None
            if sample is None
            else dict(zip(("ts", "resolution", "codec", "fps"), (sample[0], *sample[1]), strict=True)),
        }
    )


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# A camera's stored days: the holes (a flat JSON array, as stored) by day start.
Stored = dict[str, dict[float, str]]


def _stored(conn: Connection, camera_ids: Sequence[str], days: Sequence[DaySpan]) -> Stored:
    """The stored days' holes of each camera (every camera of ``camera_ids`` has an entry)."""
    found: Stored = {cid: {} for cid in camera_ids}
    if not days or not camera_ids:
        return found
    ends = {d.start: d.end for d in days}
    query = (
        select(_D.c.camera_id, _D.c.start, _D.c.end, _D.c.holes)
        .where(_D.c.start >= days[0].start, _D.c.start < days[-1].end, _D.c.version == VERSION)
        .order_by(_D.c.camera_id, _D.c.start)
    )
    if len(camera_ids) <= 20:
        query = query.where(_D.c.camera_id.in_(camera_ids))
    rows = conn.execute(query).all()
    if not rows:
        return found
    # Column by column by index: unpacking 90,000 rows of SQLAlchemy's took longer than reading them.
    cids, starts, stored_ends, holes = (list(map(operator.itemgetter(i), rows)) for i in range(4))
    if list(map(ends.get, starts)) != stored_ends:
        # Days of another time zone's cut among them: row by row.
        for cid, start, end, text in rows:
            if cid in found and ends.get(start) == end:
                found[cid][start] = text
        return found
    # Each camera's rows are consecutive (ordered by camera): a dict per camera made in C, where one
    # statement per row of 90,000 was a tenth of a report's time.
    at = 0
    for cid, count in collections.Counter(cids).items():
        if cid in found:
            found[cid] = dict(zip(starts[at : at + count], holes[at : at + count], strict=True))
        at += count
    return found


def _missing(stored: Stored, camera_ids: Sequence[str], days: Sequence[DaySpan]) -> bool:
    return any(len(stored[cid]) < len(days) for cid in camera_ids)


def _parse_cameras(stored: Stored, camera_ids: Sequence[str], days: Sequence[DaySpan]) -> list[Any]:
    """Each camera's holes over ``days`` as one flat list, in the order of ``camera_ids``.

    The days' stored arrays are joined as text into one array per camera, parsed in one call: a parse
    per row, or joining the parsed lists, costs more than the parsing itself over 90,000 days.
    """
    starts = [d.start for d in days]
    cameras = []
    for cid in camera_ids:
        mine = stored[cid]
        cameras.append("[" + ",".join([t[1:-1] for t in map(mine.__getitem__, starts) if t != "[]"]) + "]")
    return list(orjson.loads("[" + ",".join(cameras) + "]"))


def _samples(
    conn: Connection, camera_ids: set[str], start: float, end: float
) -> dict[str, list[tuple[float, Measured]]]:
    """Every measured sample of the cameras within [start, end], oldest first (for cutting into days)."""
    s = schema.camera_samples
    rows = conn.execute(
        select(s.c.camera_id, s.c.ts, s.c.width, s.c.height, s.c.codec, s.c.fps)
        .where(s.c.ts >= start, s.c.ts <= end, s.c.width.is_not(None))
        .order_by(s.c.camera_id, s.c.ts)
    ).all()
    found: dict[str, list[tuple[float, Measured]]] = {}
    for cid, ts, width, height, codec, fps in rows:
        if cid in camera_ids:
            found.setdefault(cid, []).append((ts, (f"{width}x{height}", codec, fps)))
    return found


def _last_of(samples: list[tuple[float, Measured]], start: float, end: float) -> tuple[float, Measured] | None:
    """The last sample within [start, end] (both included, as a window reads them)."""
    for found in reversed(samples):
        if found[0] <= end:
            return found if found[0] >= start else None
    return None


_S = schema.camera_samples


def _build_last_samples(dialect: str) -> Select[Any]:
    ids = ids_table(dialect)
    inner = _S.alias("inner")
    # The camera's last measured sample in the window: one seek of the (camera_id, ts) index each.
    last = (
        select(inner.c.id)
        .where(
            inner.c.camera_id == ids.c.value,
            inner.c.ts >= bindparam("start"),
            inner.c.ts <= bindparam("end"),
            inner.c.width.is_not(None),
        )
        .order_by(inner.c.ts.desc(), inner.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(ids.c.value, _S.c.width, _S.c.height, _S.c.codec, _S.c.fps).select_from(ids.join(_S, _S.c.id == last))


_LAST_SAMPLES = PerDialect(_build_last_samples)


def last_samples(conn: Connection, camera_ids: Sequence[str], start: float, end: float) -> dict[str, Measured]:
    """The last measured stream of each camera within [start, end] (both included), in one query;
    cameras without one are left out. Reports read it from the samples whatever the period (a day's
    is in its roll-up's summary)."""
    if not camera_ids:
        return {}
    params = {**ids_param(camera_ids), "start": start, "end": end}
    return {
        cid: (f"{width}x{height}", codec, fps)
        for cid, width, height, codec, fps in conn.execute(_LAST_SAMPLES.on(conn), params).all()
    }


def cut(timeline: list[Interval], start: float, end: float) -> list[Interval]:
    """The part of a timeline within [start, end): what a window of its own gives."""
    out: list[Interval] = []
    for iv in timeline:
        if iv.end <= start:
            continue
        if iv.start >= end:
            break
        if iv.start < start or iv.end > end:
            iv = iv._replace(start=max(iv.start, start), end=min(iv.end, end))
        out.append(iv)
    return out


@dataclass(frozen=True)
class _Computed:
    holes: list[Interval]
    summary: str


def compute_days(
    reader: HistoryReader,
    conn: Connection,
    camera_ids: Sequence[str],
    days: Sequence[DaySpan],
    now: float,
    runs: dict[int, Run] | None = None,
) -> dict[tuple[str, float], _Computed]:
    """The roll-ups of settled ``days`` (in order) for the cameras, from the raw history: one window
    from the first to the last, cut at each midnight."""
    if not days or not camera_ids:
        return {}
    start, end = days[0].start, days[-1].end
    timelines = reader.timelines(list(camera_ids), start, end, now, conn=conn, runs=runs)
    samples = _samples(conn, set(camera_ids), start, end)
    out: dict[tuple[str, float], _Computed] = {}
    for cid in camera_ids:
        timeline, mine = timelines[cid], samples.get(cid, [])
        for d in days:
            day = cut(timeline, d.start, d.end)
            out[(cid, d.start)] = _Computed(holes_of(day), _summary(day, d, _last_of(mine, d.start, d.end)))
    return out


def store_days(conn: Connection, computed: dict[tuple[str, float], _Computed], days: Sequence[DaySpan]) -> None:
    if not computed:
        return
    by_start = {d.start: d for d in days}
    conn.execute(
        delete(_D).where(_D.c.camera_id == bindparam("cid"), _D.c.start == bindparam("day_start")),
        [{"cid": cid, "day_start": start} for cid, start in computed],
    )
    built = time.time()
    conn.execute(
        _D.insert(),
        [
            {
                "camera_id": cid,
                "start": start,
                "end": by_start[start].end,
                "day": by_start[start].day,
                "version": VERSION,
                "built_at": built,
                "holes": _dumps(_flat(found.holes)),
                "summary": found.summary,
            }
            for (cid, start), found in computed.items()
        ],
    )


def _fill(
    reader: HistoryReader,
    conn: Connection,
    camera_ids: Sequence[str],
    days: Sequence[DaySpan],
    stored: Stored,
    now: float,
    runs: dict[int, Run] | None,
) -> tuple[dict[tuple[str, float], _Computed], list[DaySpan]]:
    """The roll-ups missing from ``stored``, computed in one window over the days that miss any."""
    wanted = [d for d in days if any(d.start not in stored[cid] for cid in camera_ids)]
    if not wanted:
        return {}, wanted
    cids = [cid for cid in camera_ids if any(d.start not in stored[cid] for d in wanted)]
    computed = compute_days(reader, conn, cids, wanted, now, runs)
    return {(cid, start): v for (cid, start), v in computed.items() if start not in stored[cid]}, wanted


def _keep(reader: HistoryReader, computed: dict[tuple[str, float], _Computed], days: Sequence[DaySpan]) -> None:
    """Store roll-ups a report computed; a report made without storing them is still right."""
    if not computed:
        return
    try:
        with reader.engine.begin() as conn:
            store_days(conn, computed, days)
    except SQLAlchemyError as exc:
        # The statement's parameters (every row) stay out of the log: the driver's own words suffice.
        log.warning("history: could not store %d daily roll-up(s): %s", len(computed), getattr(exc, "orig", exc))


def rollup(reader: HistoryReader, camera_ids: Sequence[str], start: float, end: float, tz: ZoneInfo, now: float) -> int:
    """Compute and store the missing roll-ups of the settled days that overlap [start, end); how many.

    For the gateway's hourly task (runtime.py) and the benchmark; reports do the same for the days they
    read."""
    with reader.engine.connect() as conn:
        days = [d for d in local_days(start, end, tz) if d.end <= settled_until(conn, now)]
        fresh, wanted = _fill(reader, conn, camera_ids, days, _stored(conn, camera_ids, days), now, None)
    _keep(reader, fresh, wanted)
    return len(fresh)


def invalidate(conn: Connection, earliest: dict[str, float]) -> None:
    """Forget the roll-ups of the days a late state change touches: those ending after its time."""
    if not earliest:
        return
    conn.execute(
        delete(_D).where(
            _D.c.camera_id == bindparam("cid"),
            _D.c.start > bindparam("floor"),
            _D.c.end > bindparam("ts"),
        ),
        [{"cid": cid, "floor": ts - _LONGEST_DAY_S, "ts": ts} for cid, ts in earliest.items()],
    )


def forget_after(conn: Connection, since: float) -> None:
    """Delete the roll-ups of every camera's days that end after ``since``."""
    conn.execute(delete(_D).where(_D.c.end > since))


def forget_before(conn: Connection, older_than: float) -> int:
    """Delete the roll-ups of days that begin before ``older_than`` (their samples were pruned)."""
    return int(conn.execute(delete(_D).where(_D.c.start < older_than)).rowcount or 0)


# --- a report's period --------------------------------------------------------------------------


def period_history(
    reader: HistoryReader,
    conn: Connection,
    camera_ids: Sequence[str],
    start: float,
    end: float,
    now: float,
    *,
    tz: ZoneInfo | None,
    runs: dict[int, Run] | None = None,
    whole: bool = True,
) -> dict[str, CameraHistory]:
    """Every camera's history over a report's period: the settled days from their roll-ups (computed
    and stored when missing; the first and last cut at the period's edges), the rest (today) from the
    raw history. All from the raw history when no time zone is given, or for ``whole`` timelines (to
    draw): reading every interval anyway, the roll-ups would only add to it."""
    ids = list(camera_ids)
    days: list[DaySpan] = []
    if tz is not None and not whole:
        settled = settled_until(conn, now)
        days = [d for d in local_days(start, end, tz) if d.end <= settled]
    if not days:
        timelines = reader.timelines(ids, start, end, now, conn=conn, runs=runs)
        samples = last_samples(conn, ids, start, end)
        return {cid: from_timeline(timelines[cid], start, end, now, samples.get(cid), keep=whole) for cid in ids}
    stored = _stored(conn, ids, days)
    if _missing(stored, ids, days):
        fresh, wanted = _fill(reader, conn, ids, days, stored, now, runs)
        _keep(reader, fresh, wanted)
        for (cid, day_start), computed in fresh.items():
            stored[cid][day_start] = _dumps(_flat(computed.holes))
    last = min(days[-1].end, end)
    tail = reader.timelines(ids, last, end, now, conn=conn, runs=runs) if last < end else {}
    samples = last_samples(conn, ids, start, end)
    out: dict[str, CameraHistory] = {}
    for cid, flat in zip(ids, _parse_cameras(stored, ids, days), strict=True):
        # The days at the edges are cut where the period begins and ends (the same intervals a window
        # beginning or ending there has); the days between lie inside it.
        holes = Holes.of_flat(flat).clip(start, end)
        if cid in tail:
            holes.extend(tail[cid])
        out[cid] = from_holes(holes, start, end, now, samples.get(cid))
    return out
