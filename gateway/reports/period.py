"""Report periods: a day, an ISO week or a month in the site's time zone, or custom from/to."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.errors import InvalidRequestError
from gateway.i18n import gettext as _
from gateway.period import parse_period
from gateway.reports.coverage import ReportPeriod

KINDS = ("day", "week", "month")


def report_period(
    *,
    kind: str | None,
    day: str | None,
    start: str | None,
    end: str | None,
    tz: ZoneInfo,
    now: float | None = None,
) -> ReportPeriod:
    """A period from the query: ``kind`` (day|week|month) around ``day`` (default today), or from/to.

    A period reaching past now is cut at now: a report never claims time that has not happened.
    """
    now = time.time() if now is None else now
    if kind is not None:
        if start is not None or end is not None:
            raise InvalidRequestError(_("give either 'period' (with an optional 'date') or 'from'/'to', not both"))
        if kind not in KINDS:
            raise InvalidRequestError(
                _("'period' must be one of {kinds}, not {kind!r}").format(kinds=", ".join(KINDS), kind=kind[:20])
            )
        anchor = _date(day, tz, now)
        first, last, label = _calendar(kind, anchor)
        start_s = datetime.combine(first, datetime.min.time(), tz).timestamp()
        end_s = datetime.combine(last, datetime.min.time(), tz).timestamp()
    else:
        if day is not None:
            raise InvalidRequestError(_("'date' goes with 'period' (day, week or month)"))
        window = parse_period(start, end, tz, now)
        start_s, end_s, label = window.start, window.end, "custom"
    if start_s >= now:
        raise InvalidRequestError(_("the period has not begun yet"))
    if end_s > now:
        end_s, label = now, f"{label} (to date)"
    return ReportPeriod(start_s, end_s, label, now)


def _date(value: str | None, tz: ZoneInfo, now: float) -> date:
    if value is None:
        return datetime.fromtimestamp(now, tz).date()
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequestError(
            _("'date' must look like 2026-11-22, not {value!r}").format(value=value[:20])
        ) from None


def _calendar(kind: str, anchor: date) -> tuple[date, date, str]:
    if kind == "day":
        return anchor, anchor + timedelta(days=1), f"day {anchor.isoformat()}"
    if kind == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        year, week, _ = monday.isocalendar()
        return monday, monday + timedelta(days=7), f"week {year}-W{week:02d}"
    first = anchor.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following, f"month {first:%Y-%m}"
