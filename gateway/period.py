"""Time windows in query strings: `from` and `to` as ISO 8601 or Unix seconds.

The API's routes and the report periods (gateway/reports/period.py) both use it, so it sits below both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.errors import InvalidRequestError
from gateway.i18n import _

# A window longer than this is almost certainly a typo (a year 2205 instead of 2025).
MAX_WINDOW_S = 400 * 86400.0
DEFAULT_WINDOW_S = 86400.0


@dataclass(frozen=True)
class Period:
    start: float
    end: float
    now: float


def parse_instant(value: str, name: str, tz: ZoneInfo) -> float:
    """Unix seconds, or ISO 8601; a time without a zone is read in the site's time zone."""
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise InvalidRequestError(
            _("'{name}' must be ISO 8601 (2025-03-01T08:00:00+08:00) or Unix seconds, not {value}").format(
                name=name, value=repr(value[:40])
            )
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.timestamp()


def parse_period(start: str | None, end: str | None, tz: ZoneInfo, now: float | None = None) -> Period:
    now = time.time() if now is None else now
    end_s = parse_instant(end, "to", tz) if end else now
    start_s = parse_instant(start, "from", tz) if start else end_s - DEFAULT_WINDOW_S
    if start_s >= end_s:
        raise InvalidRequestError(_("'from' must be before 'to'"))
    if end_s - start_s > MAX_WINDOW_S:
        raise InvalidRequestError(_("the period may span at most {days:.0f} days").format(days=MAX_WINDOW_S / 86400))
    if start_s < 0 or end_s > now + 366 * 86400:
        raise InvalidRequestError(_("the period lies outside any plausible time"))
    return Period(start_s, end_s, now)
