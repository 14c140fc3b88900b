from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

import pytest

from adapters.common.media import Packet, StreamInfo
from gateway.config import CameraConfig, Resolution
from gateway.health.policy import (
    MIN_REALTIME_RATIO,
    RECOVERY_MARGIN,
    SLOW_DELIVERY,
    SLOW_DELIVERY_REASON,
    HealthPolicy,
)
from gateway.health.state import MeasuredStream
from gateway.health.stats import StreamStats

INFO = StreamInfo("h264", 1280, 720, None, 25.0, Fraction(1, 90000), None)


def feed(
    stats: StreamStats,
    n: int,
    *,
    start: int = 0,
    step: int = 3600,
    gop: int = 50,
    size: int = 5000,
    t0: float = 0.0,
    arrival_step: float = 0.04,
) -> None:
    for i in range(n):
        pts = start + i * step
        stats.add(Packet("c", "h264", pts, pts, INFO.time_base, i % gop == 0, b"\0" * size, t0 + i * arrival_step))


def test_fps_bitrate_and_gop_from_timestamps() -> None:
    stats = StreamStats(INFO)
    # Packets arrive in bursts (all at once): timestamps, not arrival, give the frame rate.
    feed(stats, 300, arrival_step=0.0001)
    m = stats.snapshot()
    assert m.fps == 25.0
    assert m.bitrate_kbps == 1000.0  # 5000 bytes * 8 * 25 fps
    assert m.gop_frames == 50 and m.keyframe_interval_s == 2.0
    assert (m.width, m.height, m.resolution_source) == (1280, 720, "sdp")
    assert m.ts_jumps == 0 and m.gaps == 0 and m.packets == 300


def test_jumps_and_gaps_are_counted() -> None:
    stats = StreamStats(INFO)
    feed(stats, 50)
    feed(stats, 50, start=50 * 3600 + 90000 * 60, t0=50 * 0.04)  # the clock leaps a minute ahead
    feed(stats, 50, start=0, t0=100 * 0.04 + 3.0)  # camera restarted its clock, after a 3 s pause
    m = stats.snapshot()
    assert m.ts_jumps == 2
    assert m.gaps == 1 and 2.9 < m.max_gap_s < 3.1
    assert m.fps == 25.0  # the window restarted after each jump


def test_first_packet_without_timestamp_still_counts_its_keyframe() -> None:
    stats = StreamStats(INFO)
    stats.add(Packet("c", "h264", None, None, INFO.time_base, True, b"\0" * 10, 0.0))
    feed(stats, 100, start=3600, gop=50, t0=0.04)
    assert stats.snapshot().gop_frames == 50


def test_policy_degradation_and_hysteresis() -> None:
    policy = HealthPolicy(hd_min=Resolution(width=1920, height=1080), min_fps=15)
    cam = CameraConfig.model_validate(
        {"id": "c", "name": "C", "source": {"rtsp": "rtsp://h/x"}, "expected": {"fps": 25}}
    )
    ok = MeasuredStream(width=1920, height=1080, fps=25.0)
    assert policy.degradation(cam, ok) is None
    slow = MeasuredStream(width=1920, height=1080, fps=12.0)
    reason = policy.degradation(cam, slow)
    assert reason == "frame rate below the minimum 15 fps"
    # Just above the threshold is not enough to recover...
    assert policy.degradation(cam, MeasuredStream(width=1920, height=1080, fps=15.5), previous=reason) == reason
    # ...10 % above is.
    assert policy.degradation(cam, MeasuredStream(width=1920, height=1080, fps=16.6), previous=reason) is None
    cam30 = cam.model_copy(update={"expected": cam.expected.model_copy(update={"fps": 60.0})})
    assert policy.degradation(cam30, MeasuredStream(width=1920, height=1080, fps=25.0)) == (
        "frame rate below half the expected 60 fps"
    )
    sd = MeasuredStream(width=704, height=576, fps=25.0)
    assert policy.degradation(cam, sd) == "704x576 is below HD (1920x1080)"
    portrait = MeasuredStream(width=1080, height=1920, fps=25.0)
    assert policy.degradation(cam, portrait) is None


def feed_timed(stats: StreamStats, frames: list[tuple[float, float]], size: int = 5000) -> list[float | None]:
    """Feed (media time s, arrival s) frames; return the realtime ratio a snapshot shows after each."""
    seen = []
    for media, arrival in frames:
        pts = round(media * 90000)
        stats.add(Packet("c", "h264", pts, pts, INFO.time_base, False, b"\0" * size, arrival))
        seen.append(stats.snapshot().realtime_ratio)
    return seen


def realtime(seconds: float, *, media0: float = 0.0, arrival0: float = 0.0) -> list[tuple[float, float]]:
    return [(media0 + i * 0.04, arrival0 + i * 0.04) for i in range(round(seconds / 0.04))]


def test_a_link_too_thin_for_the_stream_reads_slower_than_real_time() -> None:
    stats = StreamStats(INFO)
    before = feed_timed(stats, realtime(5.0))
    assert before[-1] == pytest.approx(1.0, abs=0.02)
    # Throttled: the frames keep their 40 ms spacing but one arrives every 0.5 s.
    after = feed_timed(stats, [(5.0 + i * 0.04, 5.0 + i * 0.5) for i in range(12)])
    m = stats.snapshot()
    assert m.fps == 25.0  # stream time alone sees nothing wrong
    assert m.realtime_ratio is not None and m.realtime_ratio < 0.1
    # Not on the first slow frame: only once slowness has lasted the sustain span.
    first_slow = next(i for i, r in enumerate(after) if r is not None and r < MIN_REALTIME_RATIO)
    assert 3 <= first_slow <= 8, after  # 2 to 4 s after the cut, at 0.5 s a frame
    # Delivery back to real time ends it within the window.
    back = feed_timed(stats, realtime(3.0, media0=5.5, arrival0=11.0))
    assert back[-1] is not None and back[-1] > 0.9


def test_jitter_and_read_bursts_are_not_slowness() -> None:
    stats = StreamStats(INFO)
    rng = random.Random(7)
    # The pacer reads every 0.5 s; on top, the scheduler delays reads by up to 0.4 s at random,
    # and once the process stalls 2 s and catches up in one burst.
    frames: list[tuple[float, float]] = []
    read_at = 0.0
    for i in range(1500):
        media = i * 0.04
        if media >= read_at:
            read_at = media + 0.5 + rng.uniform(0, 0.4) + (2.0 if i == 700 else 0.0)
        frames.append((media, max(read_at, media)))
    ratios = [r for r in feed_timed(stats, frames) if r is not None]
    assert len(ratios) > 1000 and min(ratios) >= MIN_REALTIME_RATIO * RECOVERY_MARGIN, min(ratios)


def test_a_start_up_burst_is_not_slowness() -> None:
    stats = StreamStats(INFO)
    # The server sends its buffered GOP (2 s) at once, then real time; arrival then lags a little.
    burst = [(i * 0.04, 0.001 * i) for i in range(50)]
    steady = [(2.0 + i * 0.04, 0.3 + i * 0.04) for i in range(200)]
    ratios = feed_timed(stats, burst + steady)
    assert ratios[:20] == [None] * 20  # nothing judged before the window is long enough
    assert all(r is None or r >= 0.9 for r in ratios), ratios


@pytest.mark.parametrize("pause_s", [0.5, 1.5, 2.0, 2.9, 6.0])
def test_a_stream_pausing_its_clock_is_not_slowness(pause_s: float) -> None:
    stats = StreamStats(INFO)
    # Silence, then real time again from the next timestamp: a one-off lag, not a falling behind.
    ratios = feed_timed(stats, realtime(5.0) + realtime(5.0, media0=5.0, arrival0=5.0 + pause_s))
    assert all(r is None or r >= MIN_REALTIME_RATIO * RECOVERY_MARGIN for r in ratios), min(r for r in ratios if r)
    assert stats.snapshot().gaps == (1 if pause_s > 1 else 0)


def test_a_clock_that_runs_on_through_a_pause_or_resets_starts_delivery_afresh() -> None:
    stats = StreamStats(INFO)
    feed_timed(stats, realtime(5.0))
    # 4 s of silence with the camera's clock running on: a jump, explained by the silence.
    ratios = feed_timed(stats, realtime(1.0, media0=9.0, arrival0=9.0))
    assert ratios == [None] * len(ratios)
    ratios = feed_timed(stats, realtime(4.0, media0=0.0, arrival0=10.0))  # the camera restarted its clock
    assert stats.snapshot().ts_jumps == 2
    assert ratios[-1] == pytest.approx(1.0, abs=0.02)


def test_frames_skipped_on_a_busy_link_count_as_not_delivered() -> None:
    stats = StreamStats(INFO)
    feed_timed(stats, realtime(5.0))
    # A camera that drops what its link cannot carry: five frames get through (4 a second), then
    # its timestamps leap 2 s ahead. In stream time each leap is a clock jump and the fps is fine;
    # delivered, the leap is one frame.
    frames = [(5.0 + g * 2.0 + k * 0.04, 5.0 + (g * 5 + k) * 0.25) for g in range(1, 6) for k in range(5)]
    feed_timed(stats, frames)
    m = stats.snapshot()
    assert m.ts_jumps == 5 and m.fps == 25.0
    assert m.realtime_ratio is not None and m.realtime_ratio < 0.3


def test_slow_delivery_degrades_with_its_own_code_and_hysteresis() -> None:
    policy = HealthPolicy(hd_min=Resolution(width=1280, height=720), min_fps=15)
    cam = CameraConfig.model_validate({"id": "c", "name": "C", "source": {"rtsp": "rtsp://h/x"}})
    hd: dict[str, Any] = {"width": 1280, "height": 720, "fps": 25.0}
    assert policy.judge(cam, MeasuredStream(**hd, realtime_ratio=None)).reason is None  # not measured yet
    assert policy.judge(cam, MeasuredStream(**hd, realtime_ratio=0.97)).reason is None
    slow = policy.judge(cam, MeasuredStream(**hd, realtime_ratio=0.04))
    assert slow.faults == (SLOW_DELIVERY,) and slow.reason == SLOW_DELIVERY_REASON
    assert "real time" in SLOW_DELIVERY_REASON
    assert policy.judge(cam, MeasuredStream(**hd, realtime_ratio=0.52), previous=slow.reason).faults == (SLOW_DELIVERY,)
    assert policy.judge(cam, MeasuredStream(**hd, realtime_ratio=0.6), previous=slow.reason).reason is None


def test_a_sparse_trickle_reads_slow_counting_the_time_since_the_last_packet() -> None:
    stats = StreamStats(INFO)
    feed_timed(stats, realtime(5.0))
    # Throttled to one frame a second: judged at each packet and between them.
    feed_timed(stats, [(5.0 + i * 0.04, 5.0 + i * 1.0) for i in range(1, 6)])
    last = 10.0
    at_packet = stats.snapshot().realtime_ratio
    assert at_packet is not None and at_packet < MIN_REALTIME_RATIO
    # Between packets the silence since the last one counts: the ratio only falls.
    later = stats.snapshot(now=last + 0.9).realtime_ratio
    assert later is not None and later <= at_packet
    assert stats.snapshot().realtime_ratio_idle == stats.snapshot(now=last + 5.0).realtime_ratio


def test_two_packets_in_three_seconds_read_slow_as_soon_as_judged_between_them() -> None:
    stats = StreamStats(INFO)
    feed_timed(stats, realtime(5.0))
    # After the cut a packet every 1.5 s: 2 packets in any 3 s, a few hundredths of a second of
    # media. Each 1.5 s silence counts as GAP_S of arrival time, still far too little media for it.
    feed_timed(stats, [(5.0 + i * 0.04, 5.0 + i * 1.5) for i in range(1, 5)])
    m = stats.snapshot()
    assert m.realtime_ratio is not None and m.realtime_ratio < MIN_REALTIME_RATIO
    assert m.realtime_ratio_idle is not None and m.realtime_ratio_idle < 0.1


def test_a_stream_that_stops_is_left_to_the_stall_timeout() -> None:
    stats = StreamStats(INFO)
    feed_timed(stats, realtime(5.0))
    # Nothing more arrives: however long the silence, at most GAP_S of it counts.
    for silence in (0.5, 1.0, 2.9, 10.0):
        ratio = stats.snapshot(now=5.0 + silence).realtime_ratio
        assert ratio is not None and ratio >= MIN_REALTIME_RATIO * RECOVERY_MARGIN, (silence, ratio)
    assert stats.snapshot().realtime_ratio_idle == pytest.approx(1.0, abs=0.02)
