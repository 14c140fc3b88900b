"""Day and night: the site's night hours pick the quality thresholds and the minimum frame rate; the
camera's own tamper report weighs on the covered-lens verdict; references keep the camera's usual colour."""

from __future__ import annotations

import copy
from datetime import datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from adapters.common.media import Packet, StreamInfo
from gateway.config import CameraConfig, parse_config
from gateway.errors import ConfigError
from gateway.health.policy import LOW_FPS, HealthPolicy
from gateway.health.state import MeasuredStream
from gateway.quality.evidence import with_camera_tamper
from gateway.quality.frames import CheckResult, prepare
from gateway.quality.sampler import KeyframeSampler, SamplerSetup
from gateway.quality.scene import Reference
from gateway.quality.schedule import DayNight
from gateway.quality.thresholds import DEFAULT_THRESHOLDS, NIGHT_THRESHOLDS
from tests.support.configs import MINIMAL

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(hour: int, minute: int = 0) -> float:
    return datetime(2026, 12, 6, hour, minute, tzinfo=SHANGHAI).timestamp()


def config(policy: dict[str, object]) -> dict[str, object]:
    data = copy.deepcopy(MINIMAL)
    data["policy"] = policy
    return data


def test_night_spans_midnight_in_the_site_time_zone() -> None:
    schedule = DayNight("Asia/Shanghai", 19 * 60, 7 * 60, NIGHT_THRESHOLDS)
    moments = [(18, 59), (19, 0), (23, 30), (3, 0), (6, 59), (7, 0), (12, 0)]
    assert [schedule.is_night(at(h, m)) for h, m in moments] == [False, True, True, True, True, False, False]
    assert schedule.pick(DEFAULT_THRESHOLDS, at(2)) == (NIGHT_THRESHOLDS, True)
    assert schedule.pick(DEFAULT_THRESHOLDS, at(14)) == (DEFAULT_THRESHOLDS, False)
    # 19:00 in Shanghai is 11:00 UTC: the zone, not the machine's clock, decides.
    assert DayNight("UTC", 19 * 60, 7 * 60, NIGHT_THRESHOLDS).is_night(at(19)) is False


def test_night_policy_defaults_overrides_and_errors_name_the_key() -> None:
    policy = HealthPolicy.from_config(parse_config(MINIMAL, check_secrets=False))
    assert policy.day_night is not None and policy.day_night.timezone == "Asia/Shanghai"
    assert policy.day_night.night.dark_mean_luma < DEFAULT_THRESHOLDS.dark_mean_luma  # darker by right
    assert policy.night_min_fps is None

    custom = parse_config(
        config({"quality": {"thresholds": {"blur_min_sharpness": 0.5, "dark_mean_luma": 30},
                            "night": {"start": "20:30", "end": "06:00", "min_fps": 8,
                                      "thresholds": {"noise_max_sigma": 9}}}}),
        check_secrets=False,
    )  # fmt: skip
    night = custom.policy.quality.night_thresholds()
    assert night is not None
    assert night.blur_min_sharpness == 0.5  # a day override that night does not change holds at night
    assert night.dark_mean_luma == NIGHT_THRESHOLDS.dark_mean_luma  # the night value, not the day's 30
    assert night.noise_max_sigma == 9
    assert HealthPolicy.from_config(custom).night_min_fps == 8
    assert (
        parse_config(config({"quality": {"night": None}}), check_secrets=False).policy.quality.day_night("UTC") is None
    )

    bad = config({"quality": {"night": {"start": "25:00", "thresholds": {"no_such": 1}}}})
    bad["site"] = {**MINIMAL["site"], "timezone": "Mars/Olympus"}  # type: ignore[dict-item]
    with pytest.raises(ConfigError) as info:
        parse_config(bad, check_secrets=False)
    paths = [i.path for i in info.value.issues]
    assert "policy.quality.night.start" in paths
    assert "policy.quality.night.thresholds" in paths
    assert "site.timezone" in paths


def test_night_minimum_frame_rate_is_judged_only_at_night() -> None:
    policy = HealthPolicy.from_config(
        parse_config(config({"min_fps": 15, "quality": {"night": {"min_fps": 8}}}), check_secrets=False)
    )
    camera = CameraConfig.model_validate(MINIMAL["cameras"][0])
    night_stream = MeasuredStream(fps=12.5)
    assert policy.judge(camera, night_stream, now=at(23)).faults == ()
    day = policy.judge(camera, night_stream, now=at(12))
    assert day.faults == (LOW_FPS,) and "minimum 15" in (day.reason or "")
    night = policy.judge(camera, MeasuredStream(fps=5.0), now=at(2))
    assert night.faults == (LOW_FPS,) and "night minimum 8" in (night.reason or "")


def _keyframe(width: int = 320, height: int = 180) -> bytes:
    import av

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.options = {"x264-params": "repeat-headers=1"}
    frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
    return b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])


def test_the_sampler_uses_the_night_thresholds_at_night() -> None:
    data = _keyframe()
    info = StreamInfo("h264", 320, 180, None, 25.0, Fraction(1, 90000), None)
    schedule = DayNight("Asia/Shanghai", 19 * 60, 7 * 60, NIGHT_THRESHOLDS)
    for when, label in ((at(23), True), (at(11), False)):
        sampler = KeyframeSampler(info, 0.0, DEFAULT_THRESHOLDS, schedule, clock=lambda when=when: when)
        packets = [Packet("c", "h264", n * 3600, None, Fraction(1, 90000), True, data, n * 0.04) for n in range(3)]
        results = [r for p in packets if (r := sampler.offer(p)) is not None]
        assert results, "the pair of keyframes gave no diagnosis"
        dark = {r.name: r for r in results[0]}["dark"]
        assert ("night thresholds" in dark.detail) is label
        assert f"(min {(NIGHT_THRESHOLDS if label else DEFAULT_THRESHOLDS).dark_mean_luma:g})" in dark.detail


def test_a_camera_reporting_tamper_makes_an_uncertain_lens_check_fail() -> None:
    results = (
        CheckResult("dark", 12.0, "fail", "mean luma 12"),
        CheckResult("occlusion", float("nan"), "not_checkable", "whole frame too dark"),
    )
    assert with_camera_tamper(results, None) == results
    assert with_camera_tamper(results, False) == results
    occlusion = with_camera_tamper(results, True)[1]
    assert occlusion.state == "fail" and "the camera itself reports tampering" in occlusion.detail
    seen = (CheckResult("occlusion", 0.05, "pass", "5% of the frame is dark and featureless"),)
    kept = with_camera_tamper(seen, True)[0]
    assert kept.state == "pass" and "the camera reports tampering" in kept.detail


def test_reference_keeps_the_usual_colour_and_reads_old_references() -> None:
    image = np.zeros((180, 320, 3), np.uint8)
    image[:, :, 1] = np.linspace(60, 200, 320, dtype=np.uint8)[None, :]  # a green scene
    reference = Reference.from_prepared(prepare(image))
    assert reference.chroma is not None and reference.chroma[0] < -10  # green: negative a
    again = Reference.from_bytes(reference.to_bytes())
    assert again.chroma == pytest.approx(reference.chroma) and np.array_equal(again.image, reference.image)
    h, w = reference.image.shape
    old = b"QREF1" + h.to_bytes(2, "little") + w.to_bytes(2, "little") + reference.image.tobytes()
    legacy = Reference.from_bytes(old)  # stored before the colour was kept
    assert legacy.chroma is None and np.array_equal(legacy.image, reference.image)
    with pytest.raises(ValueError):
        Reference.from_bytes(reference.to_bytes()[:-1])


def test_an_old_reference_gets_the_usual_colour_from_the_next_good_picture() -> None:
    data = _keyframe()
    info = StreamInfo("h264", 320, 180, None, 25.0, Fraction(1, 90000), None)
    first = KeyframeSampler(info, 0.0)
    packets = [Packet("c", "h264", n * 3600, None, Fraction(1, 90000), True, data, n * 0.04) for n in range(3)]
    for p in packets:
        first.offer(p)
    stored = first.take_new_reference()
    assert stored is not None
    current = Reference.from_bytes(stored)
    h, w = current.image.shape
    legacy = b"QREF1" + h.to_bytes(2, "little") + w.to_bytes(2, "little") + current.image.tobytes()
    sampler = KeyframeSampler.from_setup(info, SamplerSetup(0.0, reference=legacy))
    for p in packets:
        sampler.offer(p)
    upgraded = sampler.take_new_reference()
    assert upgraded is not None
    again = Reference.from_bytes(upgraded)
    assert again.chroma == pytest.approx(current.chroma) and np.array_equal(again.image, current.image)
