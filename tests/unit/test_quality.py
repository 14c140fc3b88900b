"""Video quality checks on synthetic frames (made here with numpy/cv2) and on the sample clips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gateway.quality.checks import diagnose
from gateway.quality.frames import prepare
from gateway.quality.picture import (
    check_blank,
    check_blur,
    check_bright,
    check_colour_cast,
    check_dark,
    check_noise,
    check_occlusion,
)
from gateway.quality.replay import replay
from gateway.quality.sampler import SamplerSetup
from gateway.quality.scene import Reference, check_scene
from gateway.quality.temporal import Bitstream, FrozenTracker
from gateway.quality.thresholds import CHECK_NAMES, DEFAULT_THRESHOLDS, QualityThresholds
from sim.clips import ClipInfo
from tests.support.scenes import scene

SIZES = [(1920, 1080), (704, 576)]


def clock_at(seconds: int) -> str:
    return f"2024-05-01 {8 + seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def states(results: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {r.name: r.state for r in results}


def failures(results: list) -> set[str]:  # type: ignore[type-arg]
    return {r.name for r in results if r.state == "fail"}


def scaled(frame: np.ndarray, gain: float, offset: float = 0.0) -> np.ndarray:
    return np.asarray(np.clip(frame.astype(np.float32) * gain + offset, 0, 255), np.uint8)


def shifted(frame: np.ndarray, dx: float = 0.0, angle: float = 0.0) -> np.ndarray:
    h, w = frame.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    m[0, 2] += dx * w
    return np.asarray(cv2.warpAffine(frame, m, (w, h), borderMode=cv2.BORDER_REFLECT), np.uint8)


# --- clean frames: no false alarm --------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("variant", [0, 1, 2])
def test_clean_scene_passes_every_check(size: tuple[int, int], variant: int) -> None:
    w, h = size
    reference = Reference.from_prepared(prepare(scene(w, h, seed=99, variant=variant)))
    tracker = FrozenTracker(3)
    results = []
    for i in range(4):  # a live scene: a person walks, sensor noise and the clock change
        frame = scene(w, h, seed=i, variant=variant, clock=clock_at(i * 10), person_x=0.1 + 0.15 * i)
        # The next keyframe, 2 s later: fresh sensor noise, the person a step further.
        second = scene(w, h, seed=100 + i, variant=variant, clock=clock_at(i * 10 + 2), person_x=0.12 + 0.15 * i)
        results = diagnose(
            prepare(frame), thresholds=DEFAULT_THRESHOLDS, frozen=tracker, reference=reference, second=prepare(second)
        )
        assert failures(results) == set(), [r for r in results if r.state == "fail"]
    assert [r.name for r in results] == list(CHECK_NAMES)
    assert all(r.state == "pass" for r in results), results


@pytest.mark.parametrize("noise", [0.0, 6.0])
def test_clean_scene_without_and_with_mild_noise(noise: float) -> None:
    p = prepare(scene(noise=noise))
    checks = (check_blank, check_dark, check_bright, check_blur, check_occlusion, check_colour_cast, check_noise)
    assert [fn(p).state for fn in checks] == ["pass"] * len(checks)


# --- single-frame faults -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_black_frame(size: tuple[int, int]) -> None:
    w, h = size
    frame = np.full((h, w, 3), 4, np.uint8)
    results = diagnose(prepare(frame), frozen=FrozenTracker(), reference=None)
    r = {x.name: x for x in results}
    assert r["blank"].state == "fail" and "black" in r["blank"].detail
    assert r["dark"].state == "fail"
    # The content checks do not pile alarms onto a blank frame.
    for name in ("blur", "occlusion", "colour_cast", "noise", "scene_change"):
        assert r[name].state == "not_checkable"


@pytest.mark.parametrize("colour", [(128, 128, 128), (200, 60, 20), (255, 0, 0)])
def test_no_signal_screens_are_blank(colour: tuple[int, int, int]) -> None:
    frame = np.zeros((1080, 1920, 3), np.uint8)
    frame[:] = colour
    cv2.putText(frame, "NO SIGNAL", (800, 540), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
    grain = np.random.default_rng(0).normal(0, 3, frame.shape[:2])[..., None]
    frame = np.asarray(np.clip(frame + grain, 0, 255), np.uint8)
    result = check_blank(prepare(frame))
    assert result.state == "fail" and "uniform" in result.detail
    assert result.score >= 0.99


@pytest.mark.parametrize("size", SIZES)
def test_dark_frame(size: tuple[int, int]) -> None:
    p = prepare(scaled(scene(*size), 0.18))
    assert check_dark(p).state == "fail"
    assert check_blank(p).state == "pass"  # dark, not blank: the scene is still there
    assert check_occlusion(p).state == "not_checkable"


@pytest.mark.parametrize("size", SIZES)
def test_overexposed_frame(size: tuple[int, int]) -> None:
    p = prepare(scaled(scene(*size), 2.2, 60))
    assert check_bright(p).state == "fail"
    assert check_dark(p).state == "pass"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("sigma_1080", [4.0, 8.0])
def test_blurred_frame(size: tuple[int, int], sigma_1080: float) -> None:
    w, h = size
    frame = np.asarray(cv2.GaussianBlur(scene(w, h), (0, 0), sigma_1080 * w / 1920), np.uint8)
    result = check_blur(prepare(frame))
    assert result.state == "fail", result
    # The same scene in focus keeps a margin of 2x over the threshold.
    assert check_blur(prepare(scene(w, h))).score > 2 * DEFAULT_THRESHOLDS.blur_min_sharpness


@pytest.mark.parametrize("size", SIZES)
def test_covered_lens(size: tuple[int, int]) -> None:
    w, h = size
    frame = scene(w, h)
    # A hand close to the lens: a dark, nearly uniform blob over about 75 % of the picture.
    cv2.ellipse(frame, (int(w * 0.45), int(h * 0.55)), (int(w * 0.55), int(h * 0.55)), 0, 0, 360, (18, 20, 22), -1)
    covered = float(np.count_nonzero(frame.max(axis=2) < 30)) / (w * h)
    assert covered > 0.70
    results = diagnose(prepare(frame), frozen=FrozenTracker(), reference=None)
    assert "occlusion" in failures(results)
    assert "blank" not in failures(results)


@pytest.mark.parametrize("size", SIZES)
def test_colour_cast(size: tuple[int, int]) -> None:
    frame = scene(*size).astype(np.float32)
    frame[..., 0] *= 0.55  # blue channel weak, red strong: a red/yellow tint
    frame[..., 2] *= 1.25
    result = check_colour_cast(prepare(np.clip(frame, 0, 255).astype(np.uint8)))
    assert result.state == "fail", result
    assert "red" in result.detail or "yellow" in result.detail


def test_uniform_tints_in_each_direction() -> None:
    for bgr_gain in ((1.0, 1.0, 0.45), (1.0, 0.55, 1.0), (0.5, 1.0, 1.0)):
        frame = scene(variant=2).astype(np.float32) * np.array(bgr_gain, np.float32)
        assert check_colour_cast(prepare(frame.astype(np.uint8))).state == "fail", bgr_gain


@pytest.mark.parametrize("size", SIZES)
def test_heavy_noise(size: tuple[int, int]) -> None:
    w, h = size
    noisy = scene(w, h, noise=25.0)
    result = check_noise(prepare(noisy))
    assert result.state == "fail", result
    assert check_noise(prepare(scene(w, h))).state == "pass"


# --- not checkable -----------------------------------------------------------------------------------


def test_no_frame_or_tiny_frame_is_not_checkable() -> None:
    frames: list[np.ndarray | None] = [None, np.zeros((20, 30, 3), np.uint8), np.zeros((0, 0, 3), np.uint8)]
    for frame in frames:
        p = prepare(frame)
        assert not p.ok
        results = diagnose(p, frozen=FrozenTracker(), reference=None)
        assert [r.name for r in results] == list(CHECK_NAMES)
        assert all(r.state == "not_checkable" for r in results), results
        assert all(r.detail for r in results)


def test_grey_input_and_bgra_input_are_accepted() -> None:
    frame = scene(704, 576)
    for variant in (cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)):
        assert prepare(np.asarray(variant, np.uint8)).ok


# --- frozen -----------------------------------------------------------------------------------------


def _with_clock(base: np.ndarray, seconds: int) -> np.ndarray:
    w = base.shape[1]
    frame = base.copy()
    text = clock_at(seconds)
    org, scale = (int(40 * w / 1920), int(70 * w / 1920)), 1.6 * w / 1920
    cv2.putText(frame, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), max(1, 7 * w // 1920))
    cv2.putText(frame, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), max(1, 3 * w // 1920))
    return frame


@pytest.mark.parametrize("size", SIZES)
def test_frozen_picture_with_running_clock_is_frozen_after_three_repeats(size: tuple[int, int]) -> None:
    base = scene(*size, clock=None)
    tracker = FrozenTracker(3)
    results = []
    # One sample every 10 s, each with the next keyframe 2 s later, across a minute and an hour boundary.
    for seconds in [3530, 3540, 3550, 3560, 3570, 3580, 3590, 3600]:
        first, second = prepare(_with_clock(base, seconds)), prepare(_with_clock(base, seconds + 2))
        results.append(tracker.check(first, second=second, bitstream=Bitstream(40_000, 9, 120)))
    assert [r.state for r in results] == ["not_checkable"] * 2 + ["fail"] * 6, results
    assert "1/3" in results[0].detail and "confirming" in results[0].detail
    assert results[2].score == 0.0 and "only the clock changes" in results[2].detail


def test_frozen_without_a_second_keyframe_compares_with_the_previous_sample() -> None:
    base = scene(clock=None)
    tracker = FrozenTracker(3)
    results = [tracker.check(prepare(_with_clock(base, 60 * i))) for i in range(5)]
    assert results[0].detail.startswith("first sample")
    assert [r.state for r in results] == ["not_checkable"] * 3 + ["fail"] * 2
    assert "previous sample" in results[-1].detail


@pytest.mark.parametrize("size", SIZES)
def test_still_scene_with_fresh_sensor_noise_is_live_not_frozen(size: tuple[int, int]) -> None:
    """Nothing moves, but every picture has its own sensor noise: a live camera on a still scene."""
    tracker = FrozenTracker(3)
    results = [
        tracker.check(prepare(scene(*size, seed=i, noise=3.0)), second=prepare(scene(*size, seed=50 + i, noise=3.0)))
        for i in range(5)
    ]
    assert [r.state for r in results] == ["pass"] * 5, results
    assert all(r.score >= DEFAULT_THRESHOLDS.frozen_live_noise for r in results)
    assert "live picture" in results[-1].detail


def test_nearly_still_picture_is_not_checkable_never_frozen() -> None:
    """An encoder that smooths a still scene almost to nothing: between the bounds, no verdict."""
    base = scene(320, 180, noise=0.0, clock=None)  # the checks' own scale: no downscaling averages the specks
    rng = np.random.default_rng(5)
    tracker = FrozenTracker(3)
    results = []
    for _ in range(6):
        # A quarter of the pixels one level off: a median temporal noise of about 0.25 levels.
        speck = np.repeat((rng.random(base.shape[:2]) < 0.25).astype(np.uint8)[..., None], 3, axis=2)
        results.append(tracker.check(prepare(base), second=prepare(cv2.add(base, speck))))
    assert {r.state for r in results} == {"not_checkable"}, results
    noise = [r.score for r in results]
    assert all(DEFAULT_THRESHOLDS.frozen_repeat_noise < v < DEFAULT_THRESHOLDS.frozen_live_noise for v in noise)
    assert "cannot tell frozen from still" in results[-1].detail


def test_unchanged_keyframes_with_busy_p_frames_are_not_called_frozen() -> None:
    """The keyframes repeat but the P-frames between them carry data: the evidence disagrees."""
    base = scene(clock=None)
    tracker = FrozenTracker(3)
    results = [
        tracker.check(prepare(base), second=prepare(base), bitstream=Bitstream(40_000, 49, 2_000)) for _ in range(5)
    ]
    assert {r.state for r in results} == {"not_checkable"}, results
    assert "P-frames carry changes" in results[-1].detail


@pytest.mark.parametrize("size", SIZES)
def test_moving_person_is_not_frozen(size: tuple[int, int]) -> None:
    tracker = FrozenTracker(3)
    results = [
        tracker.check(prepare(scene(*size, seed=i, noise=0.0, clock=clock_at(i * 10), person_x=0.3 + 0.05 * i)))
        for i in range(5)
    ]
    assert [r.state for r in results[1:]] == ["pass"] * 4
    assert all("moved" in r.detail for r in results[1:])


def test_a_person_moving_once_then_a_repeat_is_frozen_once_confirmed() -> None:
    tracker = FrozenTracker(3)
    frames = [scene(noise=0.0, person_x=x) for x in (0.3, 0.5, 0.5, 0.5, 0.5, 0.5)]
    states = [tracker.check(prepare(f)).state for f in frames]
    # first: nothing to compare; second and third: the person moved within the window; then repeats.
    assert states == ["not_checkable", "pass", "pass", "not_checkable", "not_checkable", "fail"]


def test_tracker_resets_on_resolution_change() -> None:
    tracker = FrozenTracker(3)
    for i in range(3):
        tracker.check(prepare(scene(seed=i)))
    assert tracker.check(prepare(scene(704, 576))).state == "not_checkable"
    assert len(tracker) == 1
    with pytest.raises(ValueError):
        FrozenTracker(1)


# --- scene change against a reference ---------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("dx", "angle"), [(0.08, 0.0), (-0.06, 0.0), (0.0, 10.0), (0.03, -8.0)])
def test_moved_camera_is_detected(size: tuple[int, int], dx: float, angle: float) -> None:
    w, h = size
    reference = Reference.from_prepared(prepare(scene(w, h, seed=99)))
    result = check_scene(prepare(shifted(scene(w, h, seed=1), dx, angle)), reference)
    assert result.state == "fail", result
    assert "scene changed" in result.detail


@pytest.mark.parametrize("size", SIZES)
def test_lighting_people_and_vibration_are_not_a_scene_change(size: tuple[int, int]) -> None:
    w, h = size
    reference = Reference.from_prepared(prepare(scene(w, h, seed=99)))
    for frame in (
        scaled(scene(w, h, seed=1), 1.3),  # 30 % brighter
        scaled(scene(w, h, seed=2), 0.7),  # 30 % darker
        scene(w, h, seed=3, person_x=0.35),  # a person walks in
        scene(w, h, seed=4, person_x=0.7, clock=clock_at(3599)),
        shifted(scene(w, h, seed=5), 0.01, 0.5),  # vibration: 1 % and half a degree
    ):
        result = check_scene(prepare(frame), reference)
        assert result.state == "pass", result


def test_reference_round_trips_through_bytes() -> None:
    reference = Reference.from_prepared(prepare(scene()))
    data = reference.to_bytes()
    assert len(data) < 20_000
    again = Reference.from_bytes(data)
    assert np.array_equal(again.image, reference.image)
    assert check_scene(prepare(scene(seed=3)), again).state == "pass"
    with pytest.raises(ValueError):
        Reference.from_bytes(b"junk")
    with pytest.raises(ValueError):
        Reference.from_bytes(data[:-1])
    with pytest.raises(ValueError):
        Reference.from_prepared(prepare(None))


def test_scene_check_without_reference_or_texture_is_not_checkable() -> None:
    p = prepare(scene())
    assert check_scene(p, None).state == "not_checkable"
    flat = Reference.from_prepared(prepare(np.full((1080, 1920, 3), 90, np.uint8)))
    assert check_scene(p, flat).state == "not_checkable"
    small = Reference.from_prepared(prepare(scene(704, 576)))  # another aspect ratio
    assert check_scene(p, small).state == "not_checkable"


def test_thresholds_are_configurable() -> None:
    strict = QualityThresholds(dark_mean_luma=200.0)
    assert check_dark(prepare(scene()), strict).state == "fail"
    with pytest.raises(AttributeError):
        strict.dark_mean_luma = 1.0  # type: ignore[misc]


# --- the sample clips (made by the sample_clips fixture when absent) --------------------------------


def keyframes(clip: ClipInfo, limit: int = 4) -> list[np.ndarray]:
    import av

    frames: list[np.ndarray] = []
    path = clip.path
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.key_frame:
                frames.append(frame.to_ndarray(format="bgr24"))
                if len(frames) == limit:
                    break
    assert len(frames) >= 3, f"sample clip {path.name} has fewer than 3 keyframes"
    return frames


def test_clip_frozen_is_detected_over_several_samples(sample_clips: dict[str, ClipInfo]) -> None:
    clip = sample_clips["frozen"]
    results = [r["frozen"] for r in replay(clip.path, clip.codec, clip.fps, SamplerSetup(0.0), loops=2)]
    assert [r.state for r in results[2:]] == ["fail"] * (len(results) - 2)


def test_clip_dark_is_too_dark(sample_clips: dict[str, ClipInfo]) -> None:
    for frame in keyframes(sample_clips["dark"]):
        results = diagnose(prepare(frame), frozen=FrozenTracker(), reference=None)
        assert states(results)["dark"] == "fail"
        assert states(results)["blank"] == "pass"


@pytest.mark.parametrize("name", ["hd_h264", "hd_h265", "sd_h264", "hd720_h264"])
def test_clip_clean_has_no_alarm(name: str, sample_clips: dict[str, ClipInfo]) -> None:
    clip = sample_clips[name]
    per_sample = replay(clip.path, clip.codec, clip.fps, SamplerSetup(0.0), loops=2)
    assert len(per_sample) >= 3
    for results in per_sample:
        assert [r for r in results.values() if r.state == "fail"] == []
    assert all(r.state == "pass" for r in per_sample[-1].values()), per_sample[-1]
