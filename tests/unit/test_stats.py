from __future__ import annotations

from fractions import Fraction

from adapters.common.media import Packet, StreamInfo
from gateway.config import CameraConfig, Resolution
from gateway.health.policy import HealthPolicy
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
