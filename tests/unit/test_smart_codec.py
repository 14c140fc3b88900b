"""Streams as smart codecs (H.264+/H.265+, Smart Codec) send them: long GOPs, keyframes that outweigh
the rest of their GOP, near-zero bitrate on a still scene, a lowered frame rate at night. Measured and
reported; judged only by the explicit policy.stream limits."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.common.media import Packet, StreamInfo
from gateway.app import create_app
from gateway.config import CameraConfig, GatewayConfig, Resolution, parse_config
from gateway.errors import ConfigError
from gateway.health.policy import (
    LONG_KEYFRAME_INTERVAL,
    LOW_BITRATE,
    MIN_REALTIME_RATIO,
    RECOVERY_MARGIN,
    HealthPolicy,
)
from gateway.health.state import MeasuredStream
from gateway.health.stats import GAP_S, StreamStats
from gateway.health.uptime import HistoryReader
from gateway.reports.coverage import ReportPeriod, build_report
from gateway.reports.render import render
from gateway.sessions import SESSION_COOKIE
from gateway.storage import schema
from gateway.storage.db import Database
from tests.support.apisite import USER_PASSWORD, bearer, seed, site_config

INFO = StreamInfo("h264", 1920, 1080, None, 25.0, Fraction(1, 90000), None)
# The sizes of the sim's smart_h264_still clip (sim/clips.py): a 10 s GOP of a still scene.
KEY, P = 34_000, 70
CAM = CameraConfig.model_validate({"id": "c", "name": "C", "source": {"rtsp": "rtsp://h/x"}})
HD = Resolution(width=1280, height=720)


def frames(
    seconds: float, *, fps: float = 25.0, gop: int = 250, key: int = KEY, p: int = P, link_bps: float | None = None
) -> Iterator[Packet]:
    """A camera's frames as they arrive: at once, or over a link of `link_bps` bytes a second that each
    frame waits its turn on (a keyframe takes key / link_bps seconds, the frames behind it queue)."""
    free = 0.0
    for i in range(round(seconds * fps)):
        t = i / fps
        size = key if i % gop == 0 else p
        arrival = max(t, free) + (size / link_bps if link_bps else 0.0)
        free = arrival
        pts = round(t * 90000)
        yield Packet("c", "h264", pts, pts, INFO.time_base, i % gop == 0, b"\0" * size, arrival)


def whole_gop_kbps(*, gop: int = 250, fps: float = 25.0, key: int = KEY, p: int = P) -> float:
    return (key + (gop - 1) * p) * 8 / (gop / fps) / 1000


def test_bitrate_over_whole_gops_holds_still_where_a_5_s_window_swings() -> None:
    stats = StreamStats(INFO)
    seen: list[MeasuredStream] = []
    sizes: list[tuple[float, int]] = []
    for packet in frames(60):
        stats.add(packet)
        seen.append(stats.snapshot())
        sizes.append((packet.arrival, packet.size))
    judged = [m for m in seen if m.bitrate_gops]
    true = whole_gop_kbps()
    assert true == pytest.approx(41.1, abs=0.1)
    assert {m.bitrate_kbps for m in judged} == {round(true, 1)}
    assert all(m.bitrate_gops == 1 and m.bitrate_span_s == 10.0 for m in judged)
    # What the figure was before: bytes over the last 5 s, 16 or 70 kb/s of the same stream.
    window = [sum(s for t, s in sizes[: i + 1] if t > at - 5.0) * 8 / 5 / 1000 for i, (at, _) in enumerate(sizes)]
    steady = window[250:]
    assert min(steady) < true / 2 and max(steady) > true * 1.5
    last = seen[-1]
    assert (last.gop_frames, last.keyframe_interval_s, last.fps) == (250, 10.0, 25.0)
    assert last.since_keyframe_s == pytest.approx(9.96)


def test_short_gops_still_average_over_at_least_the_window() -> None:
    stats = StreamStats(INFO)
    for packet in frames(20, gop=50, key=20_000, p=2_000):
        stats.add(packet)
    m = stats.snapshot()
    assert m.bitrate_gops == 3 and m.bitrate_span_s == 6.0  # three 2 s GOPs reach back 5 s
    assert m.bitrate_kbps == pytest.approx(whole_gop_kbps(gop=50, key=20_000, p=2_000), abs=0.1)


def test_before_the_first_whole_gop_the_bitrate_is_the_window_and_is_not_judged() -> None:
    stats = StreamStats(INFO)
    for packet in frames(6):
        stats.add(packet)
    m = stats.snapshot()
    assert m.bitrate_gops == 0 and m.bitrate_kbps is not None and m.bitrate_span_s == pytest.approx(5.0)
    assert m.keyframe_interval_s is None and m.since_keyframe_s == pytest.approx(5.96)
    strict = HealthPolicy(hd_min=HD, min_fps=15, min_bitrate_kbps=10_000)
    assert strict.judge(CAM, m).faults == ()


def test_a_gop_that_overruns_the_last_one_counts_in_the_bitrate() -> None:
    # Keyframes stop after 20 s: the figure must follow what the camera sends now, not the old GOPs.
    stats = StreamStats(INFO)
    for packet in frames(21):
        stats.add(packet)
    before = stats.snapshot().bitrate_kbps
    assert before == pytest.approx(whole_gop_kbps(), abs=0.1)
    pts0 = 21 * 90000
    for i in range(25 * 30):  # 30 s of P-frames of 7 bytes
        pts = pts0 + i * 3600
        stats.add(Packet("c", "h264", pts, pts, INFO.time_base, False, b"\0" * 7, 21 + i / 25))
    after = stats.snapshot()
    assert before is not None and after.bitrate_kbps is not None and after.bitrate_kbps < before / 2
    assert after.since_keyframe_s == pytest.approx(31.0, abs=0.05)


@pytest.mark.parametrize("link_x", [4.0, 2.0, 1.5])
def test_keyframe_bursts_on_a_thin_link_are_not_slow_delivery(link_x: float) -> None:
    """A link `link_x` times the average bitrate: each keyframe crawls over it for 1.7 s (4x) to 4.4 s
    (1.5x), the frames behind it then arrive in a burst. The video is late for a moment, not behind."""
    link = whole_gop_kbps() * 1000 / 8 * link_x
    stats = StreamStats(INFO)
    lowest = lowest_idle = 1.0
    for packet in frames(60, link_bps=link):
        stats.add(packet)
        m = stats.snapshot(packet.arrival)
        lowest = min(lowest, m.realtime_ratio or 1.0)
        # What the supervisor judges with while the next keyframe is still on the way.
        lowest_idle = min(lowest_idle, m.realtime_ratio_idle or 1.0)
    assert KEY / link < 2 * 3.0 - 1.0  # shorter than the frame-silence rule at the default stall timeout
    assert lowest > MIN_REALTIME_RATIO * RECOVERY_MARGIN and lowest_idle > MIN_REALTIME_RATIO * RECOVERY_MARGIN
    assert (GAP_S, stats.snapshot().fps) == (1.0, 25.0)


def test_night_frame_rate_and_gop_in_frames() -> None:
    # 12.5 fps, the day's 50-frame GOP: 4 s between keyframes. No jump, no gap at 80 ms a frame.
    stats = StreamStats(INFO)
    for packet in frames(30, fps=12.5, gop=50, key=40_000, p=180):
        stats.add(packet)
    m = stats.snapshot()
    assert (m.fps, m.gop_frames, m.keyframe_interval_s) == (12.5, 50, 4.0)
    assert m.ts_jumps == 0 and m.gaps == 0 and m.realtime_ratio == pytest.approx(1.0, abs=0.02)
    assert m.bitrate_gops == 2
    assert m.bitrate_kbps == pytest.approx(whole_gop_kbps(gop=50, fps=12.5, key=40_000, p=180), abs=0.1)
    # The default policy judges the frame rate (min_fps 15); a site that accepts night rates lowers it.
    assert HealthPolicy(hd_min=HD, min_fps=15).judge(CAM, m).faults == ("low_fps",)
    assert HealthPolicy(hd_min=HD, min_fps=10).judge(CAM, m).faults == ()


SMART = MeasuredStream(
    width=1920,
    height=1080,
    fps=25.0,
    bitrate_kbps=41.1,
    bitrate_span_s=10.0,
    bitrate_gops=1,
    gop_frames=250,
    keyframe_interval_s=10.0,
    since_keyframe_s=3.0,
    realtime_ratio=1.0,
)


def test_the_default_policy_judges_neither_keyframe_interval_nor_bitrate() -> None:
    assert HealthPolicy(hd_min=HD, min_fps=15).judge(CAM, SMART).reason is None


def test_max_keyframe_interval_when_set() -> None:
    assert HealthPolicy(hd_min=HD, min_fps=15, max_keyframe_interval_s=10).judge(CAM, SMART).reason is None
    strict = HealthPolicy(hd_min=HD, min_fps=15, max_keyframe_interval_s=4)
    verdict = strict.judge(CAM, SMART)
    assert verdict.faults == (LONG_KEYFRAME_INTERVAL,)
    assert verdict.reason == "keyframe interval over the maximum 4 s"
    # A 2 s GOP camera whose keyframes stop: judged once the open GOP passes the limit.
    late = MeasuredStream(fps=25.0, gop_frames=50, keyframe_interval_s=2.0, since_keyframe_s=3.9)
    assert strict.judge(CAM, late).faults == ()
    assert strict.judge(CAM, replace(late, since_keyframe_s=4.1)).faults == (LONG_KEYFRAME_INTERVAL,)


def test_min_bitrate_when_set_with_a_recovery_margin() -> None:
    policy = HealthPolicy(hd_min=HD, min_fps=15, min_bitrate_kbps=64)
    verdict = policy.judge(CAM, SMART)
    assert verdict.faults == (LOW_BITRATE,) and verdict.reason == "bitrate below the minimum 64 kb/s"
    at_floor = MeasuredStream(fps=25.0, bitrate_kbps=66.0, bitrate_gops=1)
    assert policy.judge(CAM, at_floor).reason is None
    assert policy.judge(CAM, at_floor, previous=verdict.reason).faults == (LOW_BITRATE,)  # not 10 % above yet
    assert policy.judge(CAM, MeasuredStream(fps=25.0, bitrate_kbps=71.0, bitrate_gops=1), verdict.reason).reason is None
    both = HealthPolicy(hd_min=HD, min_fps=15, max_keyframe_interval_s=4, min_bitrate_kbps=64).judge(CAM, SMART)
    assert both.faults == (LONG_KEYFRAME_INTERVAL, LOW_BITRATE)


SITE = {"site": {"id": "s1", "name": "Site", "unit": {"name": "Unit", "headcount": 10}}}


def test_policy_stream_keys_default_to_not_judged() -> None:
    config = parse_config(SITE)
    assert config.policy.stream.max_keyframe_interval_s is None and config.policy.stream.min_bitrate_kbps is None
    policy = HealthPolicy.from_config(config)
    assert policy.max_keyframe_interval_s is None and policy.min_bitrate_kbps is None
    assert policy.describe()["max_keyframe_interval_s"] is None


def test_policy_stream_keys_are_validated_with_their_key_paths() -> None:
    config = parse_config({**SITE, "policy": {"stream": {"max_keyframe_interval_s": 12, "min_bitrate_kbps": 32.5}}})
    policy = HealthPolicy.from_config(config)
    assert (policy.max_keyframe_interval_s, policy.min_bitrate_kbps) == (12.0, 32.5)
    assert policy.describe()["min_bitrate_kbps"] == 32.5
    bad = {"max_keyframe_interval_s": 0, "min_bitrate_kbps": float("nan"), "max_gop_s": 3}
    with pytest.raises(ConfigError) as info:
        parse_config({**SITE, "policy": {"stream": bad}})
    assert sorted(i.path for i in info.value.issues) == [
        "policy.stream.max_gop_s",
        "policy.stream.max_keyframe_interval_s",
        "policy.stream.min_bitrate_kbps",
    ]
    with pytest.raises(ConfigError, match=r"policy\.stream\.min_bitrate_kbps"):
        parse_config({**SITE, "policy": {"stream": {"min_bitrate_kbps": "fast"}}})


T0 = 1_763_600_000.0


def test_the_coverage_report_counts_and_names_the_new_faults(tmp_path: Path) -> None:
    config = GatewayConfig.model_validate(
        {
            **SITE,
            "zones": [{"id": "gate", "name": "Gate", "kind": "entrance"}],
            "cameras": [{"id": "c", "name": "C", "source": {"rtsp": "rtsp://h/x"}, "zones": ["gate"]}],
            "policy": {"stream": {"max_keyframe_interval_s": 4, "min_bitrate_kbps": 64}},
        }
    )
    policy = HealthPolicy.from_config(config).describe()
    with Database(f"sqlite:///{tmp_path}/g.db") as db:
        with db.engine.begin() as conn:
            key = conn.execute(
                schema.gateway_runs.insert().values(
                    instance="t", started_at=T0, heartbeat_at=T0 + 100, stopped_at=T0 + 100, policy=policy
                )
            ).inserted_primary_key
            assert key is not None
            rows = [
                (T0, "online", None, None),
                (T0 + 10, "degraded", "keyframe interval over the maximum 4 s", [LONG_KEYFRAME_INTERVAL]),
                (
                    T0 + 40,
                    "degraded",
                    "keyframe interval over the maximum 4 s; bitrate below the minimum 64 kb/s",
                    [LONG_KEYFRAME_INTERVAL, LOW_BITRATE],
                ),
                (T0 + 70, "online", None, None),
            ]
            conn.execute(
                schema.camera_state_changes.insert(),
                [
                    {"run_id": key[0], "camera_id": "c", "ts": ts, "state": st, "reason": r, "faults": f}
                    for ts, st, r, f in rows
                ],
            )
        report = build_report(config, HistoryReader(db), ReportPeriod(T0, T0 + 100, "custom", T0 + 100))
    cam = report.cameras[0]
    assert [(i.fault, i.start - T0, i.end - T0) for i in cam.incidents] == [
        (LONG_KEYFRAME_INTERVAL, 10, 70),
        (LOW_BITRATE, 40, 70),
    ]
    assert cam.good_percent == 40.0
    messages = [f.message for f in report.findings if f.subject == "camera c"]
    assert any(m.startswith("keyframe interval over the maximum (4 s) for") for m in messages), messages
    assert any(m.startswith("bitrate below the minimum (64 kb/s) for") for m in messages), messages
    # The runs were judged under the policy stated: no warning about another policy.
    assert not any(f.subject == "policy" for f in report.findings)
    assert (report.policy.max_keyframe_interval_s, report.policy.min_bitrate_kbps) == (4.0, 64.0)
    rows_out = list(csv.DictReader(io.StringIO(render(report, "csv", "en").body.decode("utf-8-sig"))))
    assert "max_keyframe_interval_s=4; min_bitrate_kbps=64" in rows_out[0]["detail"]


def test_the_api_and_camera_page_show_the_figures_and_the_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = site_config(tmp_path, monkeypatch)
    stream = config.policy.stream.model_copy(update={"max_keyframe_interval_s": 12.0})
    config = config.model_copy(update={"policy": config.policy.model_copy(update={"stream": stream})})
    tokens = seed(config)
    with TestClient(create_app(config, start_cameras=False)) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        runtime.tracker.update_measured("a1", SMART, time.time())
        # The keyframes are late: 13 s since the last one of a 10 s GOP.
        runtime.tracker.update_measured("b1", replace(SMART, since_keyframe_s=13.0), time.time())
        measured = client.get("/api/v1/cameras/a1", headers=bearer(tokens["admin"])).json()["measured"]
        assert {k: measured[k] for k in ("bitrate_kbps", "bitrate_span_s", "bitrate_gops", "since_keyframe_s")} == {
            "bitrate_kbps": 41.1,
            "bitrate_span_s": 10.0,
            "bitrate_gops": 1,
            "since_keyframe_s": 3.0,
        }
        login = runtime.sessions.login("admin-u", USER_PASSWORD, "testclient")
        client.cookies.set(SESSION_COOKIE, login.token)
        # The figures as an English reader sees them (the user's switch); zh-CN's words are checked after.
        client.cookies.set("lang", "en")
        page = client.get("/cameras/a1")
        assert page.status_code == 200
        text = re.sub(r"\s+", " ", page.text)
        assert '41 kb/s <span class="muted">(1 GOP, 10 s)</span>' in text
        assert "keyframe every ≤ 12 s" in text  # the limit set
        assert "last keyframe" not in text
        assert "any</td>" in text  # no minimum bitrate: not judged
        late = re.sub(r"\s+", " ", client.get("/cameras/b1").text)
        assert "(last keyframe 13 s ago)" in late
        client.cookies.delete("lang")
        chinese = re.sub(r"\s+", " ", client.get("/cameras/a1").text)
        assert '41 kb/s <span class="muted">(1 个 GOP，10 秒)</span>' in chinese
        assert "关键帧间隔 ≤ 12 秒" in chinese and "不限</td>" in chinese
