"""Server-drawn SVG charts for the pages: the geometry is computed here, the templates only print it.

Everything here returns numbers and short strings for a Jinja template (autoescaped), never markup,
so a camera's name or a reason can never inject anything into a chart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.health.uptime import Interval
from gateway.i18n import N_, formats, gettext
from gateway.i18n.terms import CAMERA_STATES, reason_text, term
from gateway.reports.model import Span, hms
from gateway.reports.render import segments

BAR_WIDTH = 1000.0
# Spans thinner than this (in bar units) fold into their neighbour, worst state winning, so a
# brief outage stays visible and a flapping camera does not draw thousands of rects.
_MIN_SEGMENT = 2.0
_UP = frozenset({"online", "degraded"})
_TICK_STEPS_S = (3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 2 * 86_400, 7 * 86_400)


@dataclass(frozen=True)
class BarSegment:
    x: float
    w: float
    state: str
    title: str


@dataclass(frozen=True)
class UptimeBar:
    segments: tuple[BarSegment, ...]
    uptime_percent: float | None  # online or degraded, as a share of the known time
    seconds: dict[str, float]


def local_text(ts: float, tz: ZoneInfo, *, seconds: bool = True) -> str:
    return formats.datetime_text(ts, tz, seconds=seconds)


# What a span of the recordings bar means (its `reason`), drawn in the uptime bar's colours.
RECORDED, NOT_RECORDED, NOT_AUDITED = N_("recorded"), N_("not recorded"), N_("not audited")

# (state, detail, how many spans were folded into the segment) -> what the segment's tooltip says.
Describe = Callable[[str, str, int], str]


def _state_words(state: str, detail: str, spans: int) -> str:
    what = term(CAMERA_STATES, state)
    if spans > 1:
        what = gettext("{n} short spans, worst {state}").format(n=spans, state=what)
    return what + (gettext(" — ") + reason_text(detail) if detail else "")


def _recording_words(state: str, detail: str, spans: int) -> str:
    what = gettext(detail) if detail else term(CAMERA_STATES, state)
    if spans > 1:
        return gettext("{n} short spans, worst {state}").format(n=spans, state=what)
    return what


def uptime_bar(
    intervals: Iterable[Interval], start: float, end: float, tz: ZoneInfo, describe: Describe = _state_words
) -> UptimeBar:
    """A camera's states over ``start..end`` as segments of a bar ``BAR_WIDTH`` wide."""
    spans = []
    seconds: dict[str, float] = {}
    for iv in intervals:
        s0, s1 = max(iv.start, start), min(iv.end, end)
        if s1 <= s0:
            continue
        seconds[iv.state] = seconds.get(iv.state, 0.0) + (s1 - s0)
        spans.append(Span(s0, s1, iv.state, iv.reason or ""))
    up = sum(v for k, v in seconds.items() if k in _UP)
    known = up + seconds.get("offline", 0.0)
    drawn = tuple(
        BarSegment(
            x=round(seg.x, 2),
            w=round(max(seg.w, 0.5), 2),
            state=seg.state,
            title=_segment_title(seg.start, seg.end, describe(seg.state, seg.detail, seg.spans), tz),
        )
        for seg in segments(spans, start, end, BAR_WIDTH, _MIN_SEGMENT)
    )
    return UptimeBar(drawn, round(100.0 * up / known, 2) if known > 0 else None, seconds)


def recordings_bar(
    days: Iterable[tuple[float, float, Sequence[tuple[float, float]]]], start: float, end: float, tz: ZoneInfo
) -> UptimeBar:
    """What a camera's recording device holds over ``start..end``: recorded, not recorded (a gap the
    recording audit found), and not audited (no finding); ``days`` are (audited start, end, gaps)."""
    intervals: list[Interval] = []
    at = start
    for day_start, day_end, gaps in sorted(days):
        lo, hi = max(day_start, start), min(day_end, end)
        if hi <= lo:
            continue
        if lo > at:
            intervals.append(Interval(at, lo, "unknown", NOT_AUDITED))
        cursor = lo
        for a, b in sorted(gaps):
            a, b = max(a, lo), min(b, hi)
            if b <= a:
                continue
            if a > cursor:
                intervals.append(Interval(cursor, a, "online", RECORDED))
            intervals.append(Interval(a, b, "offline", NOT_RECORDED))
            cursor = b
        if cursor < hi:
            intervals.append(Interval(cursor, hi, "online", RECORDED))
        at = max(at, hi)
    if at < end:
        intervals.append(Interval(at, end, "unknown", NOT_AUDITED))
    # Drawn in the uptime bar's colours (recorded as online, not recorded as offline), titled in its words.
    bar = uptime_bar(intervals, start, end, tz, _recording_words)
    recorded, missing = bar.seconds.get("online", 0.0), bar.seconds.get("offline", 0.0)
    share = round(100.0 * recorded / (recorded + missing), 2) if recorded + missing > 0 else None
    return UptimeBar(bar.segments, share, bar.seconds)


def _segment_title(start: float, end: float, what: str, tz: ZoneInfo) -> str:
    head = f"{local_text(start, tz, seconds=False)} – {local_text(end, tz, seconds=False)} ({hms(end - start)})"
    return head + gettext(": ") + what


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above ``value``: a y-axis top a person reads at a glance."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        top = step * 10.0**exponent
        if top >= value * (1 - 1e-9):
            return top
    return 10.0 ** (exponent + 1)  # pragma: no cover - the loop always returns


def time_ticks(start: float, end: float, tz: ZoneInfo, max_ticks: int = 8) -> list[tuple[float, str]]:
    """Tick positions (0..1 of the window) and labels on whole local hours or midnights."""
    length = end - start
    if length <= 0:
        return []
    step = next((s for s in _TICK_STEPS_S if length / s <= max_ticks), _TICK_STEPS_S[-1])
    first = datetime.fromtimestamp(start, tz).replace(minute=0, second=0, microsecond=0)
    if step >= 86_400:
        first = first.replace(hour=0)
    elif step > 3600:
        first = first.replace(hour=first.hour - first.hour % (step // 3600))
    ticks: list[tuple[float, str]] = []
    # Walk in local wall-clock steps so a DST change or a +05:45 zone still labels whole hours.
    current = first
    for _ in range(10 * max_ticks):
        ts = current.timestamp()
        if ts > end:
            break
        if ts >= start:
            ticks.append(((ts - start) / length, current.strftime("%H:%M" if step < 86_400 else "%m-%d")))
        current = (current.replace(tzinfo=None) + timedelta(seconds=step)).replace(tzinfo=tz)
    return ticks


@dataclass(frozen=True)
class SamplePoint:
    ts: float
    state: str
    fps: float | None
    bitrate_kbps: float | None


@dataclass(frozen=True)
class Panel:
    label: str
    unit: str
    top: float
    height: float
    max_value: float
    yticks: tuple[tuple[float, str], ...]  # (y, label)
    path: str  # SVG path data: only numbers and M/L commands
    latest: str | None


@dataclass(frozen=True)
class HistoryChart:
    width: float
    height: float
    plot_x: float
    plot_w: float
    band_top: float
    band_height: float
    bands: tuple[BarSegment, ...]
    panels: tuple[Panel, ...]
    xticks: tuple[tuple[float, str], ...]  # (x, label)
    samples: int


# Layout of the history chart in its own units (the SVG scales to the page's width).
_CHART_W = 1000.0
_PLOT_X = 64.0
_PLOT_RIGHT = 12.0
_BAND_TOP = 8.0
_BAND_H = 12.0
_PANEL_H = 110.0
_PANEL_GAP = 34.0
_AXIS_H = 26.0


def history_chart(
    samples: Sequence[SamplePoint],
    intervals: Iterable[Interval],
    start: float,
    end: float,
    tz: ZoneInfo,
    sample_interval_s: float,
) -> HistoryChart:
    """Frame rate and bitrate over the window, under a band of the camera's states.

    A line breaks where samples are missing for longer than a few sample intervals (the gateway was
    stopped, or the camera sent nothing): joining across the gap would draw figures nobody measured.
    """
    plot_w = _CHART_W - _PLOT_X - _PLOT_RIGHT
    band = uptime_bar(intervals, start, end, tz)
    scale = plot_w / BAR_WIDTH
    bands = tuple(
        BarSegment(round(_PLOT_X + s.x * scale, 2), round(s.w * scale, 2), s.state, s.title) for s in band.segments
    )
    max_gap = max(3.0 * sample_interval_s, 30.0)
    ordered = sorted((s for s in samples if start <= s.ts <= end), key=lambda s: s.ts)
    panels = []
    top = _BAND_TOP + _BAND_H + 28.0
    series: tuple[tuple[str, str, list[float | None]], ...] = (
        (gettext("Frame rate"), "fps", [s.fps for s in ordered]),
        (gettext("Bitrate"), "kb/s", [s.bitrate_kbps for s in ordered]),
    )
    for label, unit, figures in series:
        # Figures of a camera that is not delivering video are stale: draw nothing for them.
        values = [(s.ts, v if s.state in _UP else None) for s, v in zip(ordered, figures, strict=True)]
        finite = [v for _, v in values if v is not None and math.isfinite(v)]
        top_value = nice_ceiling(max(finite) * 1.05) if finite else 1.0
        path = _line_path(values, start, end, _PLOT_X, plot_w, top, _PANEL_H, top_value, max_gap)
        yticks = tuple(
            (round(top + _PANEL_H - frac * _PANEL_H, 2), _number(top_value * frac)) for frac in (0.0, 0.5, 1.0)
        )
        latest = _number(finite[-1]) + f" {unit}" if finite else None
        panels.append(Panel(label, unit, top, _PANEL_H, top_value, yticks, path, latest))
        top += _PANEL_H + _PANEL_GAP
    height = top - _PANEL_GAP + _AXIS_H
    xticks = tuple((round(_PLOT_X + frac * plot_w, 2), text) for frac, text in time_ticks(start, end, tz))
    return HistoryChart(
        _CHART_W, height, _PLOT_X, plot_w, _BAND_TOP, _BAND_H, bands, tuple(panels), xticks, len(ordered)
    )


def _number(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.1f}"


def _line_path(
    values: Sequence[tuple[float, float | None]],
    start: float,
    end: float,
    x0: float,
    width: float,
    top: float,
    height: float,
    top_value: float,
    max_gap: float,
) -> str:
    """SVG path data for a line through the values, averaged per drawn unit, broken at gaps."""
    if end <= start:
        return ""
    scale = width / (end - start)
    # Average the samples that land on one unit of the x axis: a day at 5 s samples is 17,280 points
    # for a line 924 units wide.
    buckets: list[tuple[int, float, int, float]] = []  # (column, sum, count, last ts)
    breaks: set[int] = set()
    last_ts: float | None = None
    for ts, value in values:
        if value is None or not math.isfinite(value):
            last_ts = None
            if buckets:
                breaks.add(len(buckets))
            continue
        if last_ts is not None and ts - last_ts > max_gap and buckets:
            breaks.add(len(buckets))
        last_ts = ts
        column = int((ts - start) * scale)
        if buckets and buckets[-1][0] == column and len(buckets) not in breaks:
            col, total, count, _ = buckets[-1]
            buckets[-1] = (col, total + value, count + 1, ts)
        else:
            buckets.append((column, value, 1, ts))
    parts: list[str] = []
    for i, (column, total, count, _) in enumerate(buckets):
        x = x0 + min(column + 0.5, width)
        y = top + height - min(total / count / top_value, 1.0) * height
        command = "M" if i == 0 or i in breaks else "L"
        parts.append(f"{command}{x:.1f} {y:.1f}")
    # A lone point between two gaps would draw nothing; a one-unit stub keeps it visible.
    for i, part in enumerate(parts):
        if part.startswith("M") and (i + 1 == len(parts) or parts[i + 1].startswith("M")):
            parts[i] = part + " h1"
    return " ".join(parts)
