"""Acceptance of person/behaviour detection on clips with people composited in (samples/).

The whole offline pipeline runs here: decode, 2 fps sampling, motion gate, the real YOLO pose
model (exported by setup into var/models), tracker and rules. Each clip's sidecar holds the
ground truth the assertions are drawn from.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from gateway.analytics.offline import ClipResult, run_clip
from gateway.config.analytics import AnalyticsConfig, CameraAnalytics
from models.base import Detector
from sim.people_clips import PeopleClip

SETTINGS = AnalyticsConfig()


def analyse(clip: PeopleClip, detector: Detector, rules: list[dict[str, Any]]) -> ClipResult:
    analytics = CameraAnalytics.model_validate({"image_size": f"{clip.width}x{clip.height}", "rules": rules})
    return run_clip(clip.path, analytics, SETTINGS, detector, start_wall=1_700_000_000.0)


def hits_of(result: ClipResult, rule_id: str) -> list[float]:
    return [h.at for h in result.hits if h.rule_id == rule_id]


def line(clip: PeopleClip) -> list[list[float]]:
    return [list(p) for p in clip.geometry["line"]]


def area(clip: PeopleClip) -> list[list[float]]:
    return [list(p) for p in clip.geometry["area"]]


def test_walking_people_are_detected_and_keep_their_track(
    people_clips: dict[str, PeopleClip], detector: Detector
) -> None:
    clip = people_clips["walk"]
    result = analyse(clip, detector, [])
    in_view = found = 0
    ids_per_person: dict[int, set[int]] = {1: set(), 2: set()}
    for frame in result.frames:
        n = round(frame.at * clip.fps)
        for track in clip.tracks:
            vis = track.visible[n] if n < len(track.visible) else None
            if vis == 1.0:
                in_view += 1
                found += bool(frame.detections)
        people = [t.person for t in clip.tracks if n < len(t.boxes) and t.boxes[n] is not None]
        if len(people) == 1 and frame.track_ids:
            ids_per_person[people[0]].update(frame.track_ids)
    assert in_view >= 10
    assert found / in_view >= 0.9
    # Each walker keeps one id from entering to leaving, and the two never share one.
    assert len(ids_per_person[1]) == 1 and len(ids_per_person[2]) == 1
    assert ids_per_person[1] != ids_per_person[2]


def test_line_crossing_counts_each_direction(people_clips: dict[str, PeopleClip], detector: Detector) -> None:
    clip = people_clips["walk"]
    towards = list(clip.geometry["towards"][0])
    result = analyse(
        clip,
        detector,
        [
            {"id": "in", "kind": "line_crossing", "line": line(clip), "towards": towards},
            {"id": "both", "kind": "line_crossing", "line": line(clip)},
        ],
    )
    truth = {e["direction"]: e["frame"] / clip.fps for e in clip.events if e["kind"] == "cross"}
    assert result.counts["in"] == {"towards": 1}
    assert result.counts["both"] == {"left": 1, "right": 1}
    # One hit for "in": the first walker, within a second of the frame they cross.
    (at,) = hits_of(result, "in")
    assert abs(at - truth["towards"]) <= 1.0
    both = sorted(hits_of(result, "both"))
    assert len(both) == 2 and abs(both[1] - truth["away"]) <= 1.0
    directions = [h.detail["direction"] for h in sorted(result.hits, key=lambda h: h.at) if h.rule_id == "both"]
    assert directions == ["right", "left"]


def test_intrusion_and_loitering_fire_once_per_episode(people_clips: dict[str, PeopleClip], detector: Detector) -> None:
    clip = people_clips["loiter"]
    result = analyse(
        clip,
        detector,
        [
            {"id": "keep-out", "kind": "intrusion", "polygon": area(clip), "cooldown_s": 0},
            {"id": "linger", "kind": "loitering", "polygon": area(clip), "dwell_s": 8, "cooldown_s": 0},
        ],
    )
    enter = next(e["frame"] for e in clip.events if e["kind"] == "enter") / clip.fps
    assert len(hits_of(result, "keep-out")) == 1
    assert abs(hits_of(result, "keep-out")[0] - enter) <= 1.5
    (linger,) = hits_of(result, "linger")
    assert 8.0 <= linger - enter <= 10.0


def test_crowding_fires_only_above_the_threshold(people_clips: dict[str, PeopleClip], detector: Detector) -> None:
    clip = people_clips["crowd"]
    result = analyse(
        clip,
        detector,
        [
            {"id": "over-4", "kind": "crowding", "polygon": area(clip), "max_people": 4},
            {"id": "over-5", "kind": "crowding", "polygon": area(clip), "max_people": 5},
        ],
    )
    (hit,) = [h for h in result.hits if h.rule_id == "over-4"]
    assert hit.detail["count"] == 5
    assert hits_of(result, "over-5") == []


def test_fall_fires_on_the_fall_clip_only(people_clips: dict[str, PeopleClip], detector: Detector) -> None:
    rule = [{"id": "fall", "kind": "fall"}]
    fall = people_clips["fall"]
    result = analyse(fall, detector, rule)
    fell = next(e["frame"] for e in fall.events if e["kind"] == "fall") / fall.fps
    (hit,) = result.hits
    assert fell <= hit.at <= fell + 2.5
    assert hit.detail.get("was_upright") is True
    for name in ("walk", "crowd"):
        assert analyse(people_clips[name], detector, rule).hits == [], name


def test_empty_scene_moves_but_raises_nothing(people_clips: dict[str, PeopleClip], detector: Detector) -> None:
    clip = people_clips["empty"]
    w, h = clip.width, clip.height
    whole = [[0, 0], [w, 0], [w, h], [0, h]]
    result = analyse(
        clip,
        detector,
        [
            {"id": "i", "kind": "intrusion", "polygon": whole},
            {"id": "l", "kind": "loitering", "dwell_s": 1},
            {"id": "c", "kind": "crowding", "max_people": 1},
            {"id": "f", "kind": "fall"},
            {"id": "x", "kind": "line_crossing", "line": [[w / 2, 0], [w / 2, h]]},
        ],
    )
    assert result.analyzer.motion > 0  # the gate saw the trolley and the lights, so the detector ran
    assert result.hits == []
    assert all(not f.detections for f in result.frames)


def test_motion_gate_skips_still_frames(people_clips: dict[str, PeopleClip], detector: Detector) -> None:
    # The loiter clip ends with the area empty and still: the detector must not run on every frame.
    clip = people_clips["loiter"]
    result = analyse(clip, detector, [])
    assert result.analyzer.detected < result.sampler.sampled
    assert statistics.median(len(f.detections) for f in result.frames) >= 1


def test_corrupt_packets_cost_frames_not_the_pipeline(
    people_clips: dict[str, PeopleClip], detector: Detector, tmp_path: Path
) -> None:
    clip = people_clips["walk"]
    data = bytearray(clip.path.read_bytes())
    # Scramble a stretch in the middle of the stream (slice data and start codes alike).
    mid = len(data) // 2
    data[mid : mid + 40_000] = bytes((b * 7 + 13) & 0xFF for b in data[mid : mid + 40_000])
    broken = tmp_path / "broken.h264"
    broken.write_bytes(bytes(data))
    analytics = CameraAnalytics.model_validate({"image_size": "1280x720"})
    result = run_clip(broken, analytics, SETTINGS, detector)
    assert result.sampler.sampled > 10  # it went on past the damage
    assert any(f.detections for f in result.frames)
