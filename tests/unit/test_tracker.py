from __future__ import annotations

import pytest

from gateway.analytics.tracker import HISTORY, Track, Tracker, iou
from models.base import Detection

STEP = 0.5  # 2 analysed frames a second


def person(cx: float, foot_y: float, w: float = 40.0, h: float = 100.0) -> Detection:
    return Detection(cx - w / 2, foot_y - h, cx + w / 2, foot_y, 0.9)


def ids(tracks: list[Track]) -> list[int]:
    return [t.id for t in tracks]


def by_x(tracks: list[Track]) -> dict[int, float]:
    return {t.id: t.foot[0] for t in tracks}


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0


def test_a_person_is_confirmed_on_the_second_frame_and_keeps_the_id() -> None:
    tracker = Tracker()
    assert tracker.update([person(100, 500)], 0.0) == []
    assert len(tracker.tracks()) == 1 and not tracker.tracks()[0].confirmed
    for k in range(1, 10):
        tracks = tracker.update([person(100 + 10 * k, 500)], k * STEP)
        assert ids(tracks) == [1]
    track = tracks[0]
    assert track.confirmed and track.hits == 10
    assert track.first_seen == 0.0 and track.last_seen == 9 * STEP
    assert track.history[-1] == (9 * STEP, (190.0, 500.0))
    assert track.keypoints is None


def test_min_hits_one_confirms_at_once() -> None:
    assert ids(Tracker(min_hits=1).update([person(100, 500)], 0.0)) == [1]


def test_one_frame_noise_is_never_reported_and_is_dropped() -> None:
    tracker = Tracker()
    tracker.update([person(100, 500)], 0.0)
    assert tracker.update([], STEP) == []
    assert tracker.tracks() == []
    # The next detection elsewhere starts a new id: ids are never reused.
    tracker.update([person(800, 500)], 2 * STEP)
    assert ids(tracker.update([person(800, 500)], 3 * STEP)) == [2]


def test_fast_walker_is_kept_by_the_distance_fallback() -> None:
    tracker = Tracker()
    for k in range(8):  # 70 px a frame with a 40 px wide box: consecutive boxes never overlap
        tracks = tracker.update([person(100 + 70 * k, 500)], k * STEP)
    assert ids(tracks) == [1]


def test_a_jump_further_than_a_body_height_is_a_new_person() -> None:
    tracker = Tracker(max_age_s=0.0)
    tracker.update([person(100, 500)], 0.0)
    tracker.update([person(100, 500)], STEP)
    tracks = tracker.update([person(400, 500)], 2 * STEP)
    assert ids(tracks) == []  # the old one died (max_age 0) and the new one is not confirmed yet
    assert ids(tracker.update([person(400, 500)], 3 * STEP)) == [2]


def test_similar_size_is_preferred_over_a_slightly_nearer_box() -> None:
    tracker = Tracker()
    tracker.update([person(100, 500)], 0.0)
    tracker.update([person(100, 500)], STEP)
    small = person(150, 500, w=16, h=45)  # a child or a half-hidden person, nearer
    same = person(170, 500)  # the walker, a bit further
    tracks = tracker.update([small, same], 2 * STEP)
    assert ids(tracks) == [1]
    assert tracks[0].detection == same


def test_crossing_paths_keep_their_ids() -> None:
    tracker = Tracker()
    for k in range(12):  # two people walk towards each other on the same row and pass
        left_walker, right_walker = person(100 + 35 * k, 500), person(500 - 35 * k, 505)
        tracks = tracker.update([right_walker, left_walker], k * STEP)
        if k >= 1:
            positions = by_x(tracks)
            assert positions[1] == pytest.approx(500 - 35 * k)
            assert positions[2] == pytest.approx(100 + 35 * k)


def test_short_miss_keeps_the_id_and_the_last_box() -> None:
    tracker = Tracker(max_age_s=2.0)
    for k in range(3):
        tracker.update([person(100 + 10 * k, 500)], k * STEP)
    # Lost for 1.5 s: still reported, with its last box and an old last_seen.
    for k in range(3, 6):
        tracks = tracker.update([], k * STEP)
        assert ids(tracks) == [1]
        assert tracks[0].last_seen == 2 * STEP < k * STEP
        assert tracks[0].foot == (120.0, 500.0)
    tracks = tracker.update([person(160, 500)], 6 * STEP)
    assert ids(tracks) == [1] and tracks[0].last_seen == 6 * STEP


def test_a_track_missed_longer_than_max_age_dies() -> None:
    tracker = Tracker(max_age_s=1.0)
    tracker.update([person(100, 500)], 0.0)
    tracker.update([person(100, 500)], STEP)
    tracker.update([], 1.0)
    assert ids(tracker.update([], 1.5)) == [1]  # missed exactly max_age_s
    assert tracker.update([], 2.0) == []
    tracker.update([person(100, 500)], 2.5)
    assert ids(tracker.update([person(100, 500)], 3.0)) == [2]


def test_a_new_person_entering_gets_the_next_id() -> None:
    tracker = Tracker()
    for k in range(3):
        tracker.update([person(100, 500)], k * STEP)
    tracker.update([person(100, 500), person(900, 600)], 3 * STEP)
    tracks = tracker.update([person(900, 600), person(100, 500)], 4 * STEP)
    assert by_x(tracks) == {1: 100.0, 2: 900.0}


def test_runs_are_deterministic() -> None:
    def run() -> list[list[tuple[int, float]]]:
        tracker = Tracker()
        out = []
        for k in range(10):
            dets = [person(100 + 30 * k, 500), person(400 - 30 * k, 500), person(300, 300 + 5 * k, h=60)]
            out.append([(t.id, t.foot[0]) for t in tracker.update(dets, k * STEP)])
        return out

    assert run() == run()


def test_history_is_bounded() -> None:
    tracker = Tracker()
    for k in range(HISTORY + 20):
        tracks = tracker.update([person(100 + k, 500)], k * STEP)
    assert len(tracks[0].history) == HISTORY
    assert tracks[0].history[-1][0] == (HISTORY + 19) * STEP


def test_time_going_backwards_drops_tracks_but_not_the_id_counter() -> None:
    tracker = Tracker()
    tracker.update([person(100, 500)], 10.0)
    tracker.update([person(100, 500)], 10.5)
    assert tracker.update([person(100, 500)], 0.0) == []
    assert ids(tracker.update([person(100, 500)], 0.5)) == [2]


def test_other_labels_do_not_match() -> None:
    tracker = Tracker()
    tracker.update([person(100, 500)], 0.0)
    car = Detection(80, 400, 120, 500, 0.9, label="car")
    assert tracker.update([car], STEP) == []


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Tracker(iou_threshold=0)
    with pytest.raises(ValueError):
        Tracker(min_hits=0)
