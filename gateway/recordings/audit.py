"""The recording audit's arithmetic: recorded spans of a camera turned into days, gaps and completeness.

Pure functions over epoch seconds, so that the numbers can be checked against recordings on disk
without any device. A day is a calendar day in the site's time zone (23 or 25 hours across a
daylight-saving change); today counts only up to now.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[float, float]


@dataclass(frozen=True)
class DayAudit:
    """One camera's recordings on one day."""

    day: date
    start: float  # the day's first instant (epoch seconds)
    end: float  # the end of the audited part: the day's end, or now for today
    spans: tuple[Interval, ...]  # recorded, clipped to [start, end), merged, sorted
    gaps: tuple[Interval, ...]  # not recorded, within [start, end)

    @property
    def audited_s(self) -> float:
        return max(0.0, self.end - self.start)

    @property
    def recorded_s(self) -> float:
        return sum(b - a for a, b in self.spans)

    @property
    def completeness_percent(self) -> float:
        """Share of the audited part of the day that is recorded (100 for an empty audited part)."""
        return 100.0 if self.audited_s <= 0 else 100.0 * self.recorded_s / self.audited_s


def merged(spans: Iterable[Interval]) -> list[Interval]:
    """Sorted, overlapping or touching spans joined, empty ones dropped."""
    out: list[Interval] = []
    for a, b in sorted((a, b) for a, b in spans if b > a):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def clipped(spans: Sequence[Interval], start: float, end: float) -> list[Interval]:
    """``spans`` (merged) cut to [start, end)."""
    return [(max(a, start), min(b, end)) for a, b in spans if b > start and a < end]


def gaps_in(spans: Sequence[Interval], start: float, end: float) -> list[Interval]:
    """The parts of [start, end) that ``spans`` (merged, clipped) leave uncovered."""
    gaps: list[Interval] = []
    at = start
    for a, b in spans:
        if a > at:
            gaps.append((at, a))
        at = max(at, b)
    if at < end:
        gaps.append((at, end))
    return gaps


def day_bounds(day: date, tz: ZoneInfo) -> Interval:
    first = datetime.combine(day, time(0), tzinfo=tz)
    following = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return first.timestamp(), following.timestamp()


def days_between(start: float, end: float, tz: ZoneInfo) -> list[date]:
    """The calendar days (in ``tz``) that [start, end) touches."""
    first = datetime.fromtimestamp(start, tz).date()
    last = datetime.fromtimestamp(max(start, end - 1e-6), tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def audit_days(spans: Iterable[Interval], start: float, end: float, tz: ZoneInfo, now: float) -> list[DayAudit]:
    """Each day of [start, end) with its recorded spans and gaps; a day's audited part stops at ``now``
    and never starts before ``start`` (a day the search did not cover in full is audited in part)."""
    joined = merged(spans)
    days = []
    for day in days_between(start, min(end, now), tz):
        first, following = day_bounds(day, tz)
        lo, hi = max(first, start), min(following, end, now)
        if hi <= lo:
            continue
        inside = clipped(joined, lo, hi)
        days.append(DayAudit(day, lo, hi, tuple(inside), tuple(gaps_in(inside, lo, hi))))
    return days
