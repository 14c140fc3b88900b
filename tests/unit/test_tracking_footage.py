"""Rules that depend on identity, on real footage: vtest.avi (PETS 2009 S2L1, Debian's opencv-doc, extracted
by `make setup`), people walking along and across a walkway and passing each other.

The product's pipeline minus the decoder: every 5th frame (2 fps, the default rate) through the motion gate,
the real YOLO pose model loaded as the service loads it (down to the tracker's low score) and run on the
regions the analyzer plans (the default: crops around motion and tracked people, the whole frame on each
refresh), the tracker and the rules, which judge in picture coordinates. Nobody here holds this clip's
ground truth (benchmarks/bench_tracking.py says why), so the assertions are what identity must give
whatever the detector finds: a dwell that only a held id reaches, crossings that one person cannot make
twice the same way, ids not much above the clip's 19 people. The figures were measured with the tracker
before issue 25 beside it (docs/analytics.md): it cut the long stays but one into shorter ids, so the
loitering rule fired once, and it counted fewer crossings. With the whole frame only, the model found
0.8 people a frame here; with regions 5.4 (12 stays, 31 crossings over the whole clip; the test reads
its first 56 s: 6 stays, 22 crossings).
"""

from __future__ import annotations

import itertools
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from gateway.analytics.analyzer import CameraAnalyzer
from gateway.analytics.frames import Frame
from gateway.analytics.rules import RuleHit
from gateway.config.analytics import AnalyticsConfig, CameraAnalytics
from models.base import Detector
from sim.footage import VTEST, read_frames

SETTINGS = AnalyticsConfig()
SOURCE_FPS = 10
PEOPLE = 19  # MOT 2015's PETS09-S2L1 ground truth has 19 tracks
LINE_X = 450  # a line across the walkway, from the lawn's edge to the bottom of the picture
FRAMES = 560  # the first 56 s: enough stays and crossings for two thirds of the detector's time


@pytest.fixture(scope="module")
def run(detector: Detector) -> tuple[CameraAnalyzer, list[RuleHit], set[int]]:
    rules = [
        {"id": "walkway", "kind": "line_crossing", "line": [[LINE_X, 200], [LINE_X, 575]], "cooldown_s": 0},
        {"id": "stay", "kind": "loitering", "dwell_s": 15, "cooldown_s": 0},
    ]
    analytics = CameraAnalytics.model_validate({"image_size": "768x576", "rules": rules})
    analyzer = CameraAnalyzer("vtest", analytics, SETTINGS, tz=ZoneInfo("UTC"))
    step = round(SOURCE_FPS / SETTINGS.fps)
    hits: list[RuleHit] = []
    ids: set[int] = set()
    for n, image in enumerate(itertools.islice(read_frames(VTEST), FRAMES)):
        frame = Frame(np.ascontiguousarray(image), n / SOURCE_FPS, 0.0)
        look = None if n % step else analyzer.look(frame)
        if look is None:
            continue
        tracks, new = analyzer.analyse(frame, analyzer.detect(detector, frame, look), 1_700_000_000.0 + frame.at)
        hits.extend(new)
        ids.update(t.id for t in tracks)
    return analyzer, hits, ids


def test_most_people_are_found_and_ids_stay_near_one_per_person(
    run: tuple[CameraAnalyzer, list[RuleHit], set[int]],
) -> None:
    """The regions find the walkers the whole frame shrinks below the model's reach (5.0 people a frame
    in these 56 s, 5.4 over the whole clip, against 0.8 with regions off, measured 2026-12-07), and the
    tracker keeps them at about one id each (15 ids here): the issue's bound is 2 per person."""
    analyzer, _, ids = run
    assert analyzer.counters.persons >= 4 * analyzer.counters.detected, analyzer.counters
    assert analyzer.regions.cropped >= analyzer.regions.full * 10, analyzer.regions
    assert 10 <= len(ids) <= 2 * PEOPLE, sorted(ids)


def test_the_long_stays_are_timed_on_one_id_each(run: tuple[CameraAnalyzer, list[RuleHit], set[int]]) -> None:
    """Several people stay in view over 15 s: each stay fires once, on its own id. The tracker before
    issue 25 cut all but one of them into shorter ids, so the rule fired once."""
    _, hits, _ = run
    stays = [h.track_ids for h in hits if h.rule_id == "stay"]
    assert len(stays) >= 2 and len(set(stays)) == len(stays), stays


def test_line_crossings_are_counted_once_each(run: tuple[CameraAnalyzer, list[RuleHit], set[int]]) -> None:
    """One id never crosses the same way twice without crossing back (which a swapped id would do), and
    every crossing the rule fired is in the counts."""
    analyzer, hits, _ = run
    crossings = [(h.track_ids[0], h.detail["direction"]) for h in hits if h.rule_id == "walkway"]
    assert len(crossings) >= 3, crossings
    last: dict[int, object] = {}
    for tid, direction in crossings:
        assert last.get(tid) != direction, crossings
        last[tid] = direction
    assert sum(analyzer.counts()["walkway"].values()) == len(crossings)
