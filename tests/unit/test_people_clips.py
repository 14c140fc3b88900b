"""People clips: they decode as promised, their sidecars hold the ground truth, and that truth tells the story
each scenario is meant to tell (a crossing each way, a long stay, five then three, a fall, nobody)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from sim.people_clips import PEOPLE_CLIP_NAMES, PeopleClip, make_people_clips


def _decode(clip: PeopleClip) -> tuple[list[np.ndarray], list[bool]]:
    with av.open(str(clip.path), format="h264") as container:
        stream = container.streams.video[0]
        keys: list[bool] = []
        images: list[np.ndarray] = []
        for packet in container.demux(stream):
            if packet.size:
                keys.append(bool(packet.is_keyframe))
            images.extend(frame.to_ndarray(format="gray") for frame in packet.decode())
    return images, keys


@pytest.fixture(scope="module")
def decoded(people_clips: dict[str, PeopleClip]) -> dict[str, list[np.ndarray]]:
    return {name: _decode(clip)[0] for name, clip in people_clips.items()}


def test_all_clips_are_made(people_clips: dict[str, PeopleClip]) -> None:
    assert set(people_clips) == set(PEOPLE_CLIP_NAMES)


@pytest.mark.parametrize("name", PEOPLE_CLIP_NAMES)
def test_clip_decodes_with_the_promised_size_length_and_gop(people_clips: dict[str, PeopleClip], name: str) -> None:
    clip = people_clips[name]
    assert (clip.width, clip.height, clip.fps, clip.gop) == (1280, 720, 10, 10)
    assert 8.0 <= clip.seconds <= 21.0
    images, keys = _decode(clip)
    assert len(images) == len(keys) == clip.frames
    assert {image.shape for image in images} == {(720, 1280)}
    assert keys == [n % clip.gop == 0 for n in range(clip.frames)]  # fixed GOP, an IDR every second


@pytest.mark.parametrize("name", PEOPLE_CLIP_NAMES)
def test_sidecar_holds_the_ground_truth(people_clips: dict[str, PeopleClip], name: str) -> None:
    clip = people_clips[name]
    meta = json.loads(clip.path.with_suffix(".json").read_text())
    assert meta["path"] == clip.path.name
    assert (meta["width"], meta["height"], meta["fps"], meta["frames"], meta["gop"]) == (
        clip.width,
        clip.height,
        clip.fps,
        clip.frames,
        clip.gop,
    )
    assert meta["geometry"] == {k: [list(p) for p in v] for k, v in clip.geometry.items()}
    assert meta["phases"] == {k: list(v) for k, v in clip.phases.items()}
    assert meta["events"] == list(clip.events)
    assert set(meta["people"]) == {str(t.person) for t in clip.tracks}
    for track in clip.tracks:
        person = meta["people"][str(track.person)]
        assert [None if b is None else tuple(b) for b in person["boxes"]] == list(track.boxes)
        assert len(person["boxes"]) == len(person["visible"]) == len(person["tilt"]) == clip.frames


@pytest.mark.parametrize("name", PEOPLE_CLIP_NAMES)
def test_boxes_are_inside_the_frame_and_people_of_a_plausible_size(
    people_clips: dict[str, PeopleClip], name: str
) -> None:
    clip = people_clips[name]
    for track in clip.tracks:
        present = [n for n, box in enumerate(track.boxes) if box is not None]
        assert present == list(range(present[0], present[-1] + 1))  # nobody blinks out and back
        for n in present:
            box, visible, tilt, feet = track.boxes[n], track.visible[n], track.tilt[n], track.feet[n]
            assert box is not None and visible is not None and tilt is not None and feet is not None
            x1, y1, x2, y2 = box
            assert 0 <= x1 < x2 <= clip.width and 0 <= y1 < y2 <= clip.height
            assert 0.0 < visible <= 1.0
            if visible == 1.0 and abs(tilt) < 10:
                assert 200 <= y2 - y1 <= 350  # upright people, fully in view, are 200-350 px tall
                assert abs(y2 - feet[1]) <= 2 and x1 <= feet[0] <= x2


def test_walk_crosses_the_line_once_each_way(people_clips: dict[str, PeopleClip]) -> None:
    clip = people_clips["walk"]
    (line_a, line_b), (towards,) = clip.geometry["line"], clip.geometry["towards"]
    assert line_a[0] == line_b[0] == 640 and towards[0] > 640
    assert [(e["kind"], e["person"], e["direction"]) for e in clip.events] == [
        ("cross", 1, "towards"),
        ("cross", 2, "away"),
    ]
    first, second = clip.tracks
    # Each enters from outside the picture and leaves it, so trackers see whole tracks; never both at once.
    for track in clip.tracks:
        present = [n for n, box in enumerate(track.boxes) if box is not None]
        assert all((track.visible[n] or 1.0) < 0.5 for n in (present[0], present[-1]))
        assert 1.0 in track.visible
    last_first = max(n for n, b in enumerate(first.boxes) if b is not None)
    assert last_first < min(n for n, b in enumerate(second.boxes) if b is not None)


def _runs(values: tuple[int, ...], wanted: int) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    start = None
    for n, value in enumerate((*values, -1)):
        if value == wanted and start is None:
            start = n
        elif value != wanted and start is not None:
            runs.append((start, n))
            start = None
    return runs


def test_loiter_stays_over_twelve_seconds_then_leaves_the_area_empty(people_clips: dict[str, PeopleClip]) -> None:
    clip = people_clips["loiter"]
    assert clip.in_area is not None
    (stay,) = _runs(clip.in_area, 1)
    assert (stay[1] - stay[0]) / clip.fps >= 12.0
    assert (clip.frames - stay[1]) / clip.fps >= 3.0  # a few seconds with the area empty at the end
    assert [e["kind"] for e in clip.events] == ["enter", "leave"]


def test_crowd_is_five_then_three(people_clips: dict[str, PeopleClip]) -> None:
    clip = people_clips["crowd"]
    assert clip.in_area is not None
    five, three = clip.phases["five"], clip.phases["three"]
    assert set(clip.in_area[five[0] : five[1]]) == {5} and (five[1] - five[0]) / clip.fps >= 5.5
    assert set(clip.in_area[three[0] : three[1]]) == {3} and (three[1] - three[0]) / clip.fps >= 5.0
    assert all(len(clip.boxes_at(n)) == 5 for n in range(*five))


def test_fall_turns_the_person_onto_the_floor(people_clips: dict[str, PeopleClip]) -> None:
    clip = people_clips["fall"]
    (track,) = clip.tracks
    for n in range(*clip.phases["upright"]):
        assert track.tilt[n] == 0.0
    lying = range(*clip.phases["lying"])
    assert (len(lying) / clip.fps) >= 5.0
    for n in lying:
        box, tilt = track.boxes[n], track.tilt[n]
        assert box is not None and tilt is not None and 75.0 <= tilt <= 90.0
        assert box[2] - box[0] > 1.8 * (box[3] - box[1])  # clearly wider than tall
        assert track.visible[n] == 1.0
    falling = clip.phases["falling"]
    assert (falling[1] - falling[0]) / clip.fps == 0.5
    assert [(e["kind"], e["frame"]) for e in clip.events] == [("fall", falling[0] + 4)]


def test_nobody_stands_pixel_still(people_clips: dict[str, PeopleClip], decoded: dict[str, list[np.ndarray]]) -> None:
    # A loiterer or a lying person whose pixels never change would pass only a frozen-frame detector's test.
    for name, phase in (("loiter", "stay"), ("fall", "lying"), ("crowd", "three")):
        clip, images = people_clips[name], decoded[name]
        first, end = clip.phases[phase]
        box = next(t.boxes[first] for t in clip.tracks if t.boxes[end - 1] is not None)
        assert box is not None
        x1, y1, x2, y2 = box
        a, b = (images[n][y1:y2, x1:x2].astype(np.int16) for n in (first + 5, first + 15))
        assert np.abs(a - b).mean() > 2.0, name


def test_the_empty_scene_moves_without_anyone(
    people_clips: dict[str, PeopleClip], decoded: dict[str, list[np.ndarray]]
) -> None:
    clip, images = people_clips["empty"], decoded["empty"]
    assert clip.tracks == () and clip.events == ()
    dim_start, dim_end = clip.phases["dim"]
    bright, dim = images[dim_start - 5].mean(), images[dim_end - 5].mean()
    assert dim < bright * 0.8  # the lights go down ...
    assert images[-1].mean() > dim * 1.2  # ... and up again
    changed = [np.abs(images[n].astype(np.int16) - images[n - 5]).mean() for n in range(5, clip.frames, 5)]
    assert min(changed) > 0.5  # something moves all the time: a motion gate fires with nobody there


def test_unknown_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nope"):
        make_people_clips(tmp_path, {"nope"})


def test_cache_is_reused_until_the_sidecar_differs(tmp_path: Path) -> None:
    (clip,) = make_people_clips(tmp_path, {"empty"}).values()
    stamp = clip.path.stat().st_mtime_ns
    assert make_people_clips(tmp_path, {"empty"})["empty"] == clip
    assert clip.path.stat().st_mtime_ns == stamp
    sidecar = tmp_path / "empty.json"
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "generator_version": meta["generator_version"] - 1}))
    make_people_clips(tmp_path, {"empty"})
    assert clip.path.stat().st_mtime_ns != stamp
    assert json.loads(sidecar.read_text()) == meta
