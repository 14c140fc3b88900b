"""Pure helpers of the web pages: the sign-in redirect check and the server-drawn SVG charts."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest

from gateway import i18n
from gateway.health.uptime import Interval
from gateway.web.charts import BAR_WIDTH, SamplePoint, history_chart, nice_ceiling, time_ticks, uptime_bar
from gateway.web.security import safe_next, tokens_match

TZ = ZoneInfo("Asia/Shanghai")
T0 = 1_700_000_000.0  # 2023-11-15 06:13:20 +08:00


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/cameras/gate", "/cameras/gate"),
        ("/events?camera=a&kind=intrusion", "/events?camera=a&kind=intrusion"),
        (None, "/"),
        ("", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("/a\\b", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("cameras", "/"),
        ("/a\r\nSet-Cookie: x=1", "/"),
        ("/" + "a" * 3000, "/"),
    ],
)
def test_safe_next_keeps_only_local_paths(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_tokens_match_needs_both_and_equal() -> None:
    assert tokens_match("abc", "abc")
    assert not tokens_match("abc", "abd")
    assert not tokens_match("", "")
    assert not tokens_match(None, "abc")


def test_uptime_bar_scales_states_and_computes_uptime() -> None:
    intervals = [
        Interval(T0, T0 + 3600, "unknown", "gateway not running"),
        Interval(T0 + 3600, T0 + 7200, "online"),
        Interval(T0 + 7200, T0 + 9000, "offline", "no packets"),
        Interval(T0 + 9000, T0 + 14400, "online"),
    ]
    bar = uptime_bar(intervals, T0, T0 + 14400, TZ)
    states = [(s.state, s.x, s.w) for s in bar.segments]
    assert states == [
        ("unknown", 0.0, 250.0),
        ("online", 250.0, 250.0),
        ("offline", 500.0, 125.0),
        ("online", 625.0, 375.0),
    ]
    # 9000 s up of 10,800 s known: the unwatched hour counts neither way.
    assert bar.uptime_percent == pytest.approx(100 * 9000 / 10800, abs=0.01)
    # Titled in the site's language (zh-CN by default): Chinese dates, the state's term, the reason as given.
    assert bar.segments[2].title == "2023年11月15日 08:13 – 2023年11月15日 08:43 (0:30:00)：离线，no packets"
    with i18n.using("en"):
        english = uptime_bar(intervals, T0, T0 + 14400, TZ)
    assert english.segments[2].title == "2023-11-15 08:13 – 2023-11-15 08:43 (0:30:00): offline — no packets"
    assert sum(s.w for s in bar.segments) == pytest.approx(BAR_WIDTH)


def test_uptime_bar_keeps_a_brief_outage_visible() -> None:
    day = 86400.0
    intervals = [
        Interval(T0, T0 + day / 2, "online"),
        Interval(T0 + day / 2, T0 + day / 2 + 20, "offline", "timeout"),  # 0.23 units of 1000
        Interval(T0 + day / 2 + 20, T0 + day, "online"),
    ]
    bar = uptime_bar(intervals, T0, T0 + day, TZ)
    assert "offline" in {s.state for s in bar.segments}
    assert all(s.w >= 0.5 for s in bar.segments)


def test_uptime_bar_of_nothing_known() -> None:
    bar = uptime_bar([Interval(T0, T0 + 60, "unknown")], T0, T0 + 60, TZ)
    assert bar.uptime_percent is None and [s.state for s in bar.segments] == ["unknown"]


@pytest.mark.parametrize(
    ("value", "top"), [(0, 1), (0.7, 1), (1, 1), (1.2, 2), (24, 25), (25.1, 50), (1480, 2000), (2600, 5000)]
)
def test_nice_ceiling(value: float, top: float) -> None:
    assert nice_ceiling(value) == top


def test_time_ticks_fall_on_local_hours() -> None:
    ticks = time_ticks(T0, T0 + 86400, TZ)
    assert 4 <= len(ticks) <= 8
    assert all(0 <= pos <= 1 for pos, _ in ticks)
    assert all(re.fullmatch(r"\d\d:00", label) for _, label in ticks)
    assert [pos for pos, _ in ticks] == sorted(pos for pos, _ in ticks)


def _points(path: str) -> list[tuple[str, float, float]]:
    return [(c, float(x), float(y)) for c, x, y in re.findall(r"([ML])([\d.]+) ([\d.]+)", path)]


def test_history_chart_draws_lines_and_breaks_at_gaps() -> None:
    samples = [SamplePoint(T0 + i * 60, "online", 25.0, 1000.0) for i in range(10)]
    # Twenty minutes with no sample (gateway stopped), then the camera again at a lower rate.
    samples += [SamplePoint(T0 + 1800 + i * 60, "online", 12.5, 500.0) for i in range(10)]
    samples.append(SamplePoint(T0 + 2500, "offline", None, None))
    chart = history_chart(samples, [Interval(T0, T0 + 3600, "online")], T0, T0 + 3600, TZ, 60.0)
    fps, bitrate = chart.panels
    assert fps.max_value == 50 and bitrate.max_value == 2000
    points = _points(fps.path)
    assert [c for c, _, _ in points].count("M") == 2  # two runs, not joined across the gap
    top_y = {round(y, 1) for _, _, y in points[:10]}
    low_y = {round(y, 1) for _, _, y in points[10:]}
    assert len(top_y) == 1 and len(low_y) == 1
    (y25,) = top_y
    (y12,) = low_y
    assert y25 < y12  # higher rate, higher on screen
    assert y12 - y25 == pytest.approx(fps.height / 4, abs=0.2)
    assert all(chart.plot_x <= x <= chart.plot_x + chart.plot_w for _, x, _ in points)
    assert fps.latest == "12.5 fps" and chart.samples == 21
    assert [b.state for b in chart.bands] == ["online"]


def test_history_chart_without_samples_has_empty_paths() -> None:
    chart = history_chart([], [], T0, T0 + 3600, TZ, 60.0)
    assert all(p.path == "" and p.latest is None for p in chart.panels)


def test_history_chart_averages_dense_samples_per_column() -> None:
    samples = [SamplePoint(T0 + i * 5, "online", 25.0 if i % 2 else 15.0, 800.0) for i in range(17280)]
    chart = history_chart(samples, [], T0, T0 + 86400, TZ, 5.0)
    points = _points(chart.panels[0].path)
    assert len(points) <= chart.plot_w + 1
    assert {c for c, _, _ in points[1:]} == {"L"}
