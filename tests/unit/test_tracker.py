from __future__ import annotations

import numpy as np
import pytest

from gateway.analytics.tracker import HISTORY, Track, Tracker, assign
from models.base import Detection, iou

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


def test_assignment_is_optimal_not_greedy() -> None:
    cost = np.array([[1.0, 2.0], [1.5, 9.0]])  # greedy takes (0, 0) first and is left with 9
    assert assign(cost) == [(0, 1), (1, 0)]
    assert assign(np.array([[3.0], [1.0], [2.0]])) == [(1, 0)]
    assert assign(np.zeros((0, 3))) == []


def test_every_track_is_kept_where_a_greedy_pick_would_drop_one() -> None:
    """Three walkers in a row: the nearest box of the left one is also the only one the middle one can
    reach. Greedy gives it to the left walker; the optimal assignment moves him to the far box."""
    tracker = Tracker(max_distance=0.7)
    for k in range(3):
        tracker.update([person(100, 500), person(160, 500)], k * STEP)
    tracks = tracker.update([person(120, 500), person(50, 500)], 3 * STEP)
    assert by_x(tracks) == {1: 50.0, 2: 120.0}


def test_people_crossing_behind_each_other_keep_their_ids() -> None:
    """At 2 fps one walker is hidden behind the other for a second while they pass: both come out of
    the crossing with the ids they went in with (the Kalman prediction carries the hidden one)."""
    tracker = Tracker()
    seen: dict[int, list[float]] = {1: [], 2: []}
    for k in range(14):
        right, left = person(100 + 40 * k, 500), person(620 - 40 * k, 510)
        hidden = 6 <= k <= 7  # the two are within a body width: only the nearer one is detected
        tracks = tracker.update([right] if hidden else [right, left], k * STEP)
        for t in tracks:
            if t.last_seen == k * STEP:
                seen[t.id].append(t.foot[0])
    assert [t.id for t in tracker.tracks()] == [1, 2]
    assert seen[1] == sorted(seen[1]) and seen[2] == sorted(seen[2], reverse=True)
    assert seen[2][-1] == 620 - 40 * 13


def test_a_short_miss_is_bridged_at_the_predicted_place() -> None:
    """A walker missed for 1.5 s reappears where the motion says: same id, no new track."""
    tracker = Tracker(max_age_s=2.0)
    for k in range(4):
        tracker.update([person(100 + 30 * k, 500)], k * STEP)
    for k in range(4, 7):
        assert ids(tracker.update([], k * STEP)) == [1]
    tracks = tracker.update([person(100 + 30 * 7, 500)], 7 * STEP)
    assert ids(tracks) == [1] and tracks[0].last_seen == 7 * STEP
    assert [t.id for t in tracker.tracks()] == [1]


def test_low_score_boxes_keep_a_track_but_never_start_one() -> None:
    tracker = Tracker(high_score=0.4, low_score=0.1)
    for k in range(3):
        tracker.update([person(100 + 20 * k, 500)], k * STEP)
    faint = [Detection(d.x1, d.y1, d.x2, d.y2, 0.2) for d in (person(160, 500), person(700, 500))]
    tracks = tracker.update(faint, 3 * STEP)
    assert ids(tracks) == [1] and tracks[0].last_seen == 3 * STEP and tracks[0].detection.score == 0.2
    assert [t.id for t in tracker.tracks()] == [1]  # the faint box far away started nothing
    assert tracker.update([Detection(0, 0, 40, 100, 0.05)], 4 * STEP) == [tracks[0]]  # under low_score: ignored


def test_a_low_score_box_far_from_the_track_is_not_taken() -> None:
    tracker = Tracker(high_score=0.4, low_score=0.1)
    for k in range(3):
        tracker.update([person(100, 500)], k * STEP)
    far = person(185, 500)  # within a body size (the high-score gate) but outside the stricter low gate
    tracks = tracker.update([Detection(far.x1, far.y1, far.x2, far.y2, 0.2)], 3 * STEP)
    assert tracks[0].last_seen == 2 * STEP


def test_ids_are_never_reused_after_tracks_die() -> None:
    tracker = Tracker(max_age_s=0.5)
    seen: list[int] = []
    for k in range(20):
        x = 100 + 300 * (k // 4)  # a new person every 2 s, far from the last
        seen.extend(t.id for t in tracker.update([person(x, 500)], k * STEP) if t.id not in seen)
    assert seen == sorted(seen) == list(range(1, len(seen) + 1))


def test_a_walker_leaving_keeps_the_id_to_the_edge_and_never_lends_it() -> None:
    size = (640, 480)
    tracker = Tracker()
    for k in range(6):  # walking left 60 px a frame: the motion puts the centre out before the box is
        tracks = tracker.update([person(320 - 60 * k, 400)], k * STEP, size)
    assert ids(tracks) == [1]
    edge = Detection(0, 300, 25, 400, 0.9)  # half out, centre inside; predicted centre already out
    assert ids(tracker.update([edge], 6 * STEP, size)) == [1]
    tracker.update([], 7 * STEP, size)
    assert tracker.tracks() == []  # missed with its predicted centre outside: gone at once
    tracker.update([person(15, 400)], 8 * STEP, size)
    assert ids(tracker.update([person(45, 400)], 9 * STEP, size)) == [2]  # someone walking in: a new id
