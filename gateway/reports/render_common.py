"""What every rendering of a report shares: colours and words of the timeline states, numbers, local
times in the current language, the timeline bars' drawing, and the short lists of the longest events.

Every function that makes words reads the current language (`gateway.i18n.current()`): the renderers
run inside `i18n.using(language)`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.i18n import N_, current, gettext
from gateway.i18n.formats import date_text, datetime_text, duration_text
from gateway.reports.model import Finding, Report, Span, hms

_ = gettext

# Timeline colours, shared by HTML and PDF so a printed page and a screen agree.
STATE_COLOURS = {
    "online": "#2e9d57",
    "degraded": "#e0a000",
    "offline": "#d64545",
    "disabled": "#8a94a3",
    "unknown": "#d9dde3",
}
# What the HTML timeline rects are filled with; unknown is hatched so it never reads as "disabled".
STATE_FILLS = {**STATE_COLOURS, "unknown": "url(#tl-unknown)"}
#: The legend's words for each state (translated where shown: `state_label`).
STATE_LABELS = {
    "online": N_("online"),
    "degraded": N_("degraded (not counted as coverage)"),
    "offline": N_("offline"),
    "disabled": N_("disabled"),
    "unknown": N_("unknown (gateway not watching)"),
}
# When spans too short to see are folded together the worst state wins, so a brief outage stays visible.
_SEVERITY = {"online": 0, "disabled": 1, "unknown": 2, "degraded": 3, "offline": 4}

DASH = "—"


def state_label(state: str) -> str:
    return gettext(STATE_LABELS.get(state, state))


def finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value


# The pages a person reads (HTML, PDF) list at most this many outages and incidents per camera and
# gaps per zone: the longest ones, in time order, with a line saying how many more the CSV and JSON
# hold. A camera that reboots every night has 90 outages in a quarter; the few longest say what an
# auditor needs of them, and keep a page per detailed camera (reports/digest.py).
LIST_LIMIT = 5


def longest(items: Sequence[Any], limit: int = LIST_LIMIT) -> list[Any]:
    """The ``limit`` longest of ``items`` (each with ``start`` and ``duration_s``), in time order."""
    if len(items) <= limit:
        return list(items)
    return sorted(sorted(items, key=lambda x: -x.duration_s)[:limit], key=lambda x: x.start)


def more_note(items: Sequence[Any], limit: int = LIST_LIMIT) -> str:
    """'' or '… and N shorter one(s), h:mm:ss in all; the CSV and JSON exports list every one'."""
    if len(items) <= limit:
        return ""
    shown = longest(items, limit)
    rest = len(items) - limit
    rest_s = sum(x.duration_s for x in items) - sum(x.duration_s for x in shown)
    return _("… and {count} shorter one(s), {duration} in all; the CSV and JSON exports list every one").format(
        count=rest, duration=hms(rest_s)
    )


def num(value: float | None, digits: int = 3) -> str:
    """A plain decimal without float noise or exponent; empty when unknown."""
    value = finite(value)
    if value is None:
        return ""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def pct(value: float | None) -> str:
    value = finite(value)
    return DASH if value is None else f"{value:.2f} %"


VERDICTS = {True: N_("PASS"), False: N_("FAIL"), None: N_("NOT JUDGED")}


def verdict(passed: bool | None) -> str:
    """合格 / 不合格 / 未判定; PASS / FAIL / NOT JUDGED."""
    return gettext(VERDICTS[passed])


def state_of(state: str) -> str:
    return state if state in STATE_COLOURS else "unknown"


def offset_label(seconds: float | None) -> str:
    value = finite(seconds)
    return DASH if value is None else f"{value:+.1f} s"


def retention_label(days: float | None) -> str:
    value = finite(days)
    return _("not verifiable") if value is None else _("{days} d").format(days=f"{value:.0f}")


def fps_label(fps: float | None) -> str:
    value = finite(fps)
    return DASH if value is None else f"{value:.1f}"


def size_label(count: int) -> str:
    """Bytes in decimal units, as network traffic is counted: ``0 B``, ``12.3 MB``."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    order = {"fail": 0, "warn": 1, "info": 2}
    return sorted(findings, key=lambda f: order.get(f.severity, 3))


class Clock:
    """Local time of one report in the current language (the zone lookup is done once, not per cell).

    Chinese: 2026年11月20日 03:10:00; English: 2026-11-20 03:10:00. Both 24-hour.
    """

    def __init__(self, report: Report) -> None:
        self.tz = ZoneInfo(report.timezone)
        self.zh = current() == "zh-CN"

    def dt(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.tz)

    def iso(self, ts: float | None) -> str:
        value = finite(ts)
        return "" if value is None else self.dt(value).isoformat(timespec="seconds")

    def text(self, ts: float, seconds: bool = True) -> str:
        return datetime_text(ts, self.tz, "zh-CN" if self.zh else "en", seconds=seconds)

    def date(self, ts: float) -> str:
        return date_text(ts, self.tz, "zh-CN" if self.zh else "en")

    def day_month(self, ts: float) -> str:
        """An axis label: 11月20日 / 11-20."""
        dt = self.dt(ts)
        return f"{dt.month}月{dt.day}日" if self.zh else dt.strftime("%m-%d")

    def span(self, start: float, end: float) -> str:
        """``2026-11-20 03:10:00 – 04:25:00``: the end's date only when it differs from the start's."""
        first, last = self.dt(start), self.dt(end)
        shown = last.strftime("%H:%M:%S") if last.date() == first.date() else self.text(end)
        return f"{self.text(start)} – {shown}"

    def utc_offset(self) -> str:
        offset = self.dt(0).strftime("%z")
        return f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"


def duration(seconds: float | None) -> str:
    """A span as people say it, in the current language: 3小时5分 / 3 h 5 min."""
    return duration_text(seconds)


@dataclass(frozen=True)
class Segment:
    """One drawn piece of a timeline bar: ``x`` and ``w`` in bar units, possibly several short spans folded."""

    x: float
    w: float
    state: str
    start: float
    end: float
    detail: str
    spans: int


def segments(spans: Sequence[Span], start: float, end: float, width: float, min_width: float) -> list[Segment]:
    """Spans scaled onto a bar ``width`` wide: same-state neighbours joined, runs too thin to see folded.

    The count stays below about ``2 * width / min_width`` whatever the number of spans, which is what keeps
    a 1,000-camera report quick to draw; a folded run takes its worst state.
    """
    if end <= start or width <= 0:
        return []
    scale = width / (end - start)
    out: list[Segment] = []
    for span in sorted(spans, key=lambda s: s.start):
        s0, s1 = max(span.start, start), min(span.end, end)
        if s1 <= s0:
            continue
        state = state_of(span.state)
        x0, x1 = (s0 - start) * scale, (s1 - start) * scale
        if out:
            last = out[-1]
            contiguous = x0 - (last.x + last.w) <= min_width
            thin = last.w < min_width and (x1 - last.x) < 2 * min_width
            if contiguous and (last.state == state or thin):
                worst = state if _SEVERITY[state] > _SEVERITY[last.state] else last.state
                details = last.detail if last.state == state or not span.detail else span.detail
                if worst == last.state and last.detail:
                    details = last.detail
                out[-1] = Segment(
                    last.x, x1 - last.x, worst, last.start, s1, details, last.spans + (0 if last.state == state else 1)
                )
                continue
        out.append(Segment(x0, x1 - x0, state, s0, s1, span.detail, 1))
    return out
