"""Dates, times, numbers and durations as each language writes them (Babel's CLDR data).

Chinese: 2026年12月7日, 2026年12月7日 14:05:09 (24-hour), 1,234.5, 99.50 %, 3小时5分. English keeps the
forms the product has always printed: 2026-12-07, 2026-12-07 14:05:09, 1,234.5, 99.50 %, 3 h 5 min.
Every function takes the language explicitly or reads the current one.
"""

from __future__ import annotations

import math
from datetime import date, datetime, tzinfo

from babel.dates import format_date as _babel_date

from gateway.i18n import Language, current

_ZH = "zh-CN"
DASH = "–"


def _lang(language: Language | None) -> Language:
    return language if language is not None else current()


def date_text(ts: float | None, tz: tzinfo, language: Language | None = None) -> str:
    if ts is None or not math.isfinite(ts):
        return DASH
    return day_text(datetime.fromtimestamp(ts, tz).date(), language)


def day_text(day: date, language: Language | None = None) -> str:
    """A calendar day: 2026年12月7日 / 2026-12-07."""
    if _lang(language) == _ZH:
        return _babel_date(day, format="long", locale="zh_CN")
    return day.isoformat()


def datetime_text(ts: float | None, tz: tzinfo, language: Language | None = None, *, seconds: bool = True) -> str:
    if ts is None or not math.isfinite(ts):
        return DASH
    dt = datetime.fromtimestamp(ts, tz)
    clock = dt.strftime("%H:%M:%S" if seconds else "%H:%M")
    if _lang(language) == _ZH:
        return f"{dt.year}年{dt.month}月{dt.day}日 {clock}"
    return f"{dt.strftime('%Y-%m-%d')} {clock}"


def number_text(value: float | None, digits: int = 1) -> str:
    """Both languages group thousands with a comma and use a decimal point (CLDR zh and en agree)."""
    if value is None or not math.isfinite(value):
        return DASH
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def percent_text(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    if value >= 100 - 0.5 * 10**-digits:
        return "100 %"
    return f"{value:.{digits}f} %"


def duration_text(seconds: float | None, language: Language | None = None) -> str:
    """A span as people say it, to the minute past an hour: 3小时5分 / 3 h 5 min; 2天4小时 / 2 d 4 h."""
    if seconds is None or not math.isfinite(seconds):
        return DASH
    s = max(0, round(seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if _lang(language) == _ZH:
        units = ("天", "小时", "分", "秒")
        sep = ""
    else:
        units = (" d", " h", " min", " s")
        sep = " "
    parts = list(zip((days, hours, minutes, secs), units, strict=True))
    if days:
        shown = parts[:2]
    elif hours:
        shown = parts[1:3]
    elif minutes:
        shown = parts[2:4]
    else:
        shown = parts[3:]
    kept = [f"{n}{u}" for n, u in shown if n] or [f"0{units[3]}"]
    return sep.join(kept)
