from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import TypeAdapter

from gateway.analytics.rules import RuleEngine, RuleHit, posture
from gateway.analytics.tracker import Track
from gateway.config.analytics import Rule
from models.base import Detection

TZ = ZoneInfo("Asia/Shanghai")
NOON = datetime(2024, 6, 1, 12, 0, tzinfo=TZ).timestamp()
STEP = 0.5
BOX = [(100.0, 100.0), (300.0, 100.0), (300.0, 300.0), (100.0, 300.0)]
_RULE: TypeAdapter[Rule] = TypeAdapter(Rule)


def rule(**fields: object) -> Rule:
    fields.setdefault("id", "r1")
    fields.setdefault("cooldown_s", 0)
    return _RULE.validate_python(fields)


def engine(*rules: Rule, config_size: tuple[int, int] | None = None, frame: tuple[int, int] = (640, 480)) -> RuleEngine:
    return RuleEngine(rules, config_size=config_size, frame_size=frame, tz=TZ)


def keypoints(shoulders: tuple[float, float], hips: tuple[float, float], conf: float = 0.9) -> npt.NDArray[np.float32]:
    kp = np.zeros((17, 3), dtype=np.float32)
    for i, dx in ((5, -8), (6, 8)):
        kp[i] = (shoulders[0] + dx, shoulders[1], conf)
    for i, dx in ((11, -8), (12, 8)):
        kp[i] = (hips[0] + dx, hips[1], conf)
    return kp


def track(
    tid: int,
    foot: tuple[float, float],
    at: float,
    *,
    last_seen: float | None = None,
    confirmed: bool = True,
    w: float = 40.0,
    h: float = 100.0,
    kp: npt.NDArray[np.float32] | None = None,
) -> Track:
    x, y = foot
    det = Detection(x - w / 2, y - h, x + w / 2, y, 0.9, keypoints=kp)
    seen = at if last_seen is None else last_seen
    return Track(id=tid, detection=det, first_seen=0.0, last_seen=seen, hits=5, confirmed=confirmed)


def step(eng: RuleEngine, at: float, *tracks: Track, wall: float | None = None) -> list[RuleHit]:
    return eng.update(list(tracks), at, NOON + at if wall is None else wall)


def walk(eng: RuleEngine, tid: int, points: Sequence[tuple[float, float]], start: float = 0.0) -> list[RuleHit]:
    hits: list[RuleHit] = []
    for k, p in enumerate(points):
        at = start + k * STEP
        hits += step(eng, at, track(tid, p, at))
    return hits


# -- intrusion ----------------------------------------------------------------------------------------


def test_intrusion_fires_once_after_min_seconds() -> None:
    eng = engine(rule(kind="intrusion", polygon=BOX, min_seconds=2, zone="vault"))
    hits = [(k * STEP, step(eng, k * STEP, track(7, (200, 200), k * STEP))) for k in range(12)]
    fired = [(at, h) for at, hs in hits for h in hs]
    assert [at for at, _ in fired] == [2.0]
    hit = fired[0][1]
    assert (hit.rule_id, hit.kind, hit.zone, hit.track_ids) == ("r1", "intrusion", "vault", (7,))
    assert hit.detail == {"inside_s": 2.0, "count": 1}
    assert hit.wall == NOON + 2.0 and hit.boxes[0].foot == (200, 200)
    assert "r1" in hit.message and "vault" in hit.message
    json.dumps(hit.detail)


def test_intrusion_ignores_outside_and_unconfirmed_tracks() -> None:
    eng = engine(rule(kind="intrusion", polygon=BOX))
    assert step(eng, 0.0, track(1, (500, 200), 0.0), track(2, (200, 200), 0.0, confirmed=False)) == []


def test_a_short_excursion_continues_the_episode_a_long_one_ends_it() -> None:
    eng = engine(rule(kind="intrusion", polygon=BOX))
    assert len(step(eng, 0.0, track(1, (200, 200), 0.0))) == 1
    step(eng, 0.5, track(1, (400, 200), 0.5))
    step(eng, 1.0, track(1, (400, 200), 1.0))
    assert step(eng, 1.5, track(1, (200, 200), 1.5)) == []  # out for 1 s: same episode
    for at in (2.0, 2.5, 3.0):
        step(eng, at, track(1, (400, 200), at))
    assert len(step(eng, 3.5, track(1, (200, 200), 3.5))) == 1  # out for 1.5 s: a new episode


def test_a_dead_track_ends_its_episode() -> None:
    eng = engine(rule(kind="intrusion", polygon=BOX))
    assert len(step(eng, 0.0, track(1, (200, 200), 0.0))) == 1
    step(eng, 0.5)
    assert len(step(eng, 1.0, track(1, (200, 200), 1.0))) == 1


def test_intrusion_cooldown_folds_a_second_intruder_into_nothing() -> None:
    eng = engine(rule(kind="intrusion", polygon=BOX, cooldown_s=10))
    assert len(step(eng, 0.0, track(1, (200, 200), 0.0))) == 1
    # Person 2 arrives inside the cooldown: no hit then, nor when the cooldown ends.
    for k in range(1, 40):
        at = k * STEP
        assert step(eng, at, track(1, (200, 200), at), track(2, (150, 150), at)) == []
    # A third person after the cooldown fires, and the hit lists everyone inside.
    hits = step(eng, 20.0, track(1, (200, 200), 20.0), track(2, (150, 150), 20.0), track(3, (250, 250), 20.0))
    assert [h.track_ids for h in hits] == [(1, 2, 3)]
    assert hits[0].detail["count"] == 3


def test_schedule_wrapping_past_midnight_in_the_site_time_zone() -> None:
    night = rule(kind="intrusion", polygon=BOX, schedule="22:00-06:00")
    inside = track(1, (200, 200), 0.0)

    def fires(hour: int, minute: int, tz: ZoneInfo = TZ) -> bool:
        wall = datetime(2024, 6, 1, hour, minute, tzinfo=tz).timestamp()
        return bool(engine(night).update([inside], 0.0, wall))

    assert not fires(21, 59)
    assert fires(22, 0)
    assert fires(2, 30)
    assert not fires(6, 0)
    assert not fires(12, 0)
    # 14:00 UTC is 22:00 in Shanghai: the window is the site's, not UTC's.
    assert fires(14, 0, ZoneInfo("UTC"))
    assert not fires(22, 0, ZoneInfo("UTC"))


def test_outside_the_schedule_no_state_builds_up() -> None:
    eng = engine(rule(kind="intrusion", polygon=BOX, min_seconds=5, schedule="22:00-06:00"))
    opening = datetime(2024, 6, 1, 22, 0, tzinfo=TZ).timestamp()
    fired = []
    for k in range(40):  # inside from 21:59:50 on
        at = k * STEP
        wall = opening - 10 + at
        fired += [wall - opening for _ in step(eng, at, track(1, (200, 200), at), wall=wall)]
    assert fired == [5.0]  # timed from the opening, not from 21:59:50


# -- loitering ----------------------------------------------------------------------------------------


def test_loitering_whole_picture_and_short_misses_do_not_reset_the_dwell() -> None:
    eng = engine(rule(kind="loitering", dwell_s=10))
    fired: list[tuple[float, RuleHit]] = []
    for k in range(40):
        at = k * STEP
        # The detector loses the person now and then: the tracker keeps the last box.
        last_seen = at - STEP if k % 4 == 3 else at
        fired += [(at, h) for h in step(eng, at, track(4, (600, 450), at, last_seen=last_seen))]
    assert [(at, h.track_ids, h.detail) for at, h in fired] == [(10.0, (4,), {"dwell_s": 10.0})]


def test_loitering_lists_only_the_tracks_whose_dwell_passed() -> None:
    eng = engine(rule(kind="loitering", polygon=BOX, dwell_s=3))
    hits = []
    for k in range(10):
        at = k * STEP
        people = [track(1, (200, 200), at)] + ([track(2, (150, 150), at)] if k >= 4 else [])
        hits += step(eng, at, *people)
    assert [h.track_ids for h in hits] == [(1,)]
    assert "r1" in hits[0].message


def test_loitering_cooldown_is_per_rule() -> None:
    eng = engine(rule(kind="loitering", polygon=BOX, dwell_s=1, cooldown_s=60))
    hits = []
    for k in range(10):
        at = k * STEP
        hits += step(eng, at, track(1, (200, 200), at), track(2, (150, 150), at))
    assert [h.track_ids for h in hits] == [(1, 2)]


# -- line crossing ------------------------------------------------------------------------------------

HLINE = ((100.0, 200.0), (500.0, 200.0))
VLINE = ((300.0, 50.0), (300.0, 450.0))


def test_line_both_ways_named_down_and_up() -> None:
    eng = engine(rule(kind="line_crossing", line=HLINE))
    hits = walk(eng, 1, [(300, 150), (300, 180), (300, 230), (300, 260), (300, 170), (300, 120)])
    assert [h.detail["direction"] for h in hits] == ["down", "up"]
    assert eng.counts() == {"r1": {"down": 1, "up": 1}}
    assert hits[0].track_ids == (1,) and "down" in hits[0].message


def test_vertical_line_named_right_and_left() -> None:
    eng = engine(rule(kind="line_crossing", line=VLINE))
    hits = walk(eng, 1, [(250, 300), (350, 300), (250, 300)])
    assert [h.detail["direction"] for h in hits] == ["right", "left"]
    # The point order of the line does not change the names.
    eng = engine(rule(kind="line_crossing", line=(VLINE[1], VLINE[0])))
    assert [h.detail["direction"] for h in walk(eng, 1, [(250, 300), (350, 300)])] == ["right"]


def test_towards_counts_only_one_way_and_every_time() -> None:
    eng = engine(rule(kind="line_crossing", line=HLINE, towards=(300, 400)))
    hits = walk(eng, 1, [(300, 150), (300, 250), (300, 150), (300, 250), (300, 150)])
    assert [h.detail for h in hits] == [{"direction": "towards"}] * 2
    assert eng.counts() == {"r1": {"towards": 2}}


def test_line_cooldown_is_per_track_and_counts_go_on() -> None:
    eng = engine(rule(kind="line_crossing", line=HLINE, cooldown_s=30))
    hits = []
    for k, y in enumerate([150, 250, 150, 250]):
        at = k * STEP
        # Two people cross side by side: both get a hit; the back-and-forth of one is only counted.
        hits += step(eng, at, track(1, (250, y), at), track(2, (350, y), at))
    assert [h.track_ids for h in hits] == [(1,), (2,)]
    assert eng.counts() == {"r1": {"down": 4, "up": 2}}


def test_jitter_on_the_line_does_not_count() -> None:
    eng = engine(rule(kind="line_crossing", line=HLINE))
    hits = walk(eng, 1, [(300, 198), (300, 203), (300, 197), (300, 202), (300, 199), (300, 201)])
    assert hits == [] and eng.counts() == {"r1": {"down": 0, "up": 0}}
    # From clearly above, through the band, to clearly below: one crossing.
    hits = walk(eng, 2, [(300, 180), (300, 202), (300, 198), (300, 203), (300, 220), (300, 202)])
    assert [h.detail["direction"] for h in hits] == ["down"]


def test_passing_beside_the_end_of_the_line_does_not_count() -> None:
    eng = engine(rule(kind="line_crossing", line=HLINE))
    assert walk(eng, 1, [(600, 150), (600, 250), (300, 250)]) == []
    assert [h.detail["direction"] for h in walk(eng, 1, [(300, 150)], start=2.0)] == ["up"]


def test_a_missed_track_gives_no_new_point() -> None:
    eng = engine(rule(kind="line_crossing", line=HLINE))
    step(eng, 0.0, track(1, (300, 150), 0.0))
    assert step(eng, 0.5, track(1, (300, 250), 0.5, last_seen=0.0)) == []
    assert len(step(eng, 1.0, track(1, (300, 250), 1.0))) == 1


# -- crowding -----------------------------------------------------------------------------------------


def crowd(n: int, at: float, last_seen: float | None = None) -> list[Track]:
    return [track(i + 1, (120 + 20 * i, 250), at, last_seen=last_seen) for i in range(n)]


def test_crowding_at_the_limit_is_quiet_above_it_fires_once() -> None:
    eng = engine(rule(kind="crowding", polygon=BOX, max_people=3))
    assert all(step(eng, k * STEP, *crowd(3, k * STEP)) == [] for k in range(4))
    hits = [h for k in range(4, 10) for h in step(eng, k * STEP, *crowd(4, k * STEP))]
    assert [(h.at, h.detail) for h in hits] == [(2.0, {"count": 4, "limit": 3})]
    assert hits[0].track_ids == (1, 2, 3, 4) and len(hits[0].boxes) == 4


def test_crowding_min_seconds_and_short_dips() -> None:
    eng = engine(rule(kind="crowding", max_people=2, min_seconds=2))
    counts = [3, 3, 2, 3, 3, 3, 3, 3]  # a one-frame dip does not restart the episode
    fired = [k * STEP for k, n in enumerate(counts) for _ in step(eng, k * STEP, *crowd(n, k * STEP))]
    assert fired == [2.0]


def test_crowding_episode_ends_after_two_calm_seconds() -> None:
    eng = engine(rule(kind="crowding", max_people=2))
    counts = [3, 3, 2, 2, 3, 2, 2, 2, 2, 2, 3]
    fired = [k * STEP for k, n in enumerate(counts) for _ in step(eng, k * STEP, *crowd(n, k * STEP))]
    assert fired == [0.0, 5.0]


def test_crowding_counts_only_recently_seen_tracks() -> None:
    eng = engine(rule(kind="crowding", max_people=2))
    stale = crowd(3, 5.0, last_seen=3.5)
    assert step(eng, 5.0, *stale) == []
    assert len(step(eng, 5.5, *crowd(3, 5.5, last_seen=4.5))) == 1


def test_crowding_cooldown_is_per_rule() -> None:
    eng = engine(rule(kind="crowding", max_people=1, cooldown_s=60))
    counts = [2, 1, 1, 1, 1, 1, 2]
    fired = [k * STEP for k, n in enumerate(counts) for _ in step(eng, k * STEP, *crowd(n, k * STEP))]
    assert fired == [0.0]


# -- fall ---------------------------------------------------------------------------------------------


def test_posture_from_keypoints_and_aspect_fallback() -> None:
    upright = Detection(0, 0, 40, 100, 0.9, keypoints=keypoints((20, 20), (20, 60)))
    leaning = Detection(0, 0, 40, 100, 0.9, keypoints=keypoints((0, 20), (40, 60)))  # 45 degrees
    lying = Detection(0, 0, 100, 40, 0.9, keypoints=keypoints((10, 20), (60, 30)))
    assert posture(upright) == (False, {"torso_angle": 0.0})
    assert posture(leaning) == (False, {"torso_angle": 45.0})
    down, how = posture(lying)
    assert down and how["torso_angle"] == pytest.approx(78.7, abs=0.1)
    # Faint keypoints: judged by the box.
    faint = keypoints((10, 20), (60, 30), conf=0.1)
    assert posture(Detection(0, 0, 100, 40, 0.9, keypoints=faint)) == (True, {"aspect": 2.5})
    assert posture(Detection(0, 0, 40, 100, 0.9)) == (False, {"aspect": 0.4})
    assert posture(Detection(0, 0, 60, 50, 0.9))[0] is False  # 1.2 is within the margin
    # Keypoints say lying although the box is tall (foreshortened towards the camera): keypoints win.
    assert posture(Detection(0, 0, 40, 100, 0.9, keypoints=keypoints((0, 50), (40, 55))))[0]


def test_fall_after_standing_fires_once_with_the_torso_angle() -> None:
    eng = engine(rule(kind="fall", min_seconds=1))
    fired = []
    for k in range(12):
        at = k * STEP
        if k < 4:
            t = track(3, (200, 400), at, kp=keypoints((200, 320), (200, 360)))
        else:
            t = track(3, (200, 400), at, w=100, h=40, kp=keypoints((160, 380), (230, 385)))
        fired += [(at, h) for h in step(eng, at, t)]
    assert len(fired) == 1
    at, hit = fired[0]
    assert at == 3.0 and hit.kind == "fall" and hit.track_ids == (3,)
    assert hit.detail == {"torso_angle": 85.9, "was_upright": True}
    json.dumps(hit.detail)


def test_fall_aspect_fallback_and_a_new_episode_after_getting_up() -> None:
    eng = engine(rule(kind="fall", min_seconds=0.5))
    lying = [True] * 3 + [False] * 4 + [True] * 3
    fired = []
    for k, down in enumerate(lying):
        at = k * STEP
        t = track(5, (200, 400), at, w=100, h=40) if down else track(5, (200, 400), at)
        fired += [(at, h.detail) for h in step(eng, at, t)]
    assert fired == [(0.5, {"aspect": 2.5, "was_upright": False}), (4.0, {"aspect": 2.5, "was_upright": True})]


def test_fall_outside_the_polygon_is_ignored() -> None:
    eng = engine(rule(kind="fall", polygon=BOX, min_seconds=0))
    assert step(eng, 0.0, track(1, (500, 400), 0.0, w=100, h=40)) == []
    assert len(step(eng, 0.5, track(1, (200, 200), 0.5, w=100, h=40))) == 1


# -- engine -------------------------------------------------------------------------------------------


def test_geometry_is_scaled_from_config_to_frame_size() -> None:
    big_box = [(800.0, 400.0), (1200.0, 400.0), (1200.0, 800.0), (800.0, 800.0)]
    rules = (
        rule(id="area", kind="intrusion", polygon=big_box),
        rule(id="gate", kind="line_crossing", line=((800, 600), (1200, 600)), towards=(1000, 1000)),
    )
    eng = engine(*rules, config_size=(1920, 1080), frame=(960, 540))
    # In frame pixels the area is (400..600, 200..400) and the line y = 300 from x 400 to 600.
    assert step(eng, 0.0, track(1, (700, 300), 0.0)) == []
    assert [h.rule_id for h in step(eng, 0.5, track(1, (500, 280), 0.5))] == ["area"]
    assert [h.rule_id for h in step(eng, 1.0, track(1, (500, 320), 1.0))] == ["gate"]
    assert eng.counts() == {"gate": {"towards": 1}}


def test_stream_time_going_back_keeps_the_cooldown() -> None:
    eng = engine(rule(kind="intrusion", polygon=BOX, cooldown_s=30))
    assert len(step(eng, 100.0, track(1, (200, 200), 100.0))) == 1
    # The source restarted: stream time starts again at 0 and the tracker hands out new ids.
    assert step(eng, 0.0, track(2, (200, 200), 0.0)) == []
    step(eng, 0.5)
    assert step(eng, 20.0, track(3, (200, 200), 20.0)) == []
    assert len(step(eng, 31.0, track(4, (200, 200), 31.0))) == 1


def test_rules_are_independent() -> None:
    eng = engine(
        rule(id="a", kind="intrusion", polygon=BOX),
        rule(id="b", kind="loitering", dwell_s=1),
        rule(id="c", kind="crowding", max_people=1),
    )
    hits = [h.rule_id for k in range(3) for h in step(eng, k * STEP, *crowd(2, k * STEP))]
    assert hits == ["a", "c", "b"]


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        RuleEngine([], config_size=(0, 10), frame_size=(640, 480), tz=TZ)


def test_line_margin_grows_with_the_frame() -> None:
    eng = engine(rule(kind="line_crossing", line=HLINE), frame=(1920, 1080))  # margin about 11 px
    assert walk(eng, 1, [(300, 192), (300, 208), (300, 191), (300, 209)]) == []
    assert len(walk(eng, 1, [(300, 185), (300, 215)], start=2.0)) == 1
