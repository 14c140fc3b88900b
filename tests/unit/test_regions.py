"""Detection in regions: where the crops go, how their detections come back to picture pixels, and
when the whole frame is used instead (gateway/analytics/regions.py, the analyzer's look and detect).

The fake detector finds white blocks ("people") in whatever crop it is given, clipped by the crop's
edges as a real model's boxes are, so cut people, offsets and duplicates happen as they would.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from gateway.analytics.analyzer import CameraAnalyzer, trails
from gateway.analytics.frames import Frame, MotionGate
from gateway.analytics.regions import RegionCounters, detect_regions, plan, square, suppress
from gateway.analytics.tracker import Track
from gateway.config.analytics import AnalyticsConfig, CameraAnalytics, MotionConfig
from models.base import Box, Detection, Image

HD = (1920, 1080)


class BlockDetector:
    """Finds white blocks; each call's crop size is kept, to tell what was looked at."""

    name = "blocks"
    input_size = 416
    has_keypoints = True

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def detect(self, image: Image) -> list[Detection]:
        self.calls.append((image.shape[1], image.shape[0]))
        mask = (image[:, :, 0] > 200).astype(np.uint8)
        count, _labels, stats, _c = cv2.connectedComponentsWithStats(mask)
        found = []
        for x, y, w, h, _area in stats[1:count].tolist():
            kpts = np.zeros((17, 3), np.float32)
            kpts[:, 0], kpts[:, 1], kpts[:, 2] = x + w / 2, y, 1.0  # every point on the top centre
            found.append(Detection(float(x), float(y), float(x + w), float(y + h), 0.9, keypoints=kpts))
        return found

    def close(self) -> None:
        pass


def picture(*people: Box, size: tuple[int, int] = HD) -> Image:
    image = np.zeros((size[1], size[0], 3), np.uint8)
    for x1, y1, x2, y2 in people:
        image[int(y1) : int(y2), int(x1) : int(x2)] = 255
    return image


def boxes(found: list[Detection]) -> list[Box]:
    return sorted(d.box for d in found)


def contains(outer: Box, inner: Box) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


# -- plan ------------------------------------------------------------------------------------------


def test_nothing_of_interest_means_the_whole_frame() -> None:
    assert plan([], [], HD, 416, 1.0, 4) is None


def test_a_small_box_gets_a_square_of_the_model_side_centred_on_it() -> None:
    (region,) = plan([], [(1000, 500, 1040, 600)], HD, 416, 1.0, 4) or []
    assert region == (812.0, 342.0, 1228.0, 758.0)


def test_a_square_near_the_corner_is_moved_inside_the_picture() -> None:
    assert square((0, 1050, 30, 1080), 416, HD) == (0.0, 664.0, 416.0, 1080.0)
    assert square((1900, 0, 1920, 20), 416, HD) == (1504.0, 0.0, 1920.0, 416.0)


def test_a_large_person_gets_a_margin_around_them() -> None:
    (region,) = plan([], [(800, 200, 1000, 560)], HD, 416, 1.0, 4) or []
    assert region[2] - region[0] == pytest.approx(450) and contains(region, (800, 200, 1000, 560))


def test_when_everything_is_large_enough_in_the_whole_frame_one_inference_sees_it_all() -> None:
    near_camera = [(800, 100, 1000, 600), (1300, 300, 1500, 800)]  # 108 px of the 416 input when whole
    assert plan([], near_camera, HD, 416, 2.0, 3) is None
    assert plan([], [*near_camera, (100, 100, 130, 180)], HD, 416, 2.0, 3) is not None  # and someone far away
    person = (800, 100, 1000, 600)
    assert plan([person], [(950, 300, 990, 340)], HD, 416, 2.0, 3) is None  # the tracked person's arm moving
    assert plan([person], [(1500, 300, 1540, 340)], HD, 416, 2.0, 3) is not None  # something small elsewhere
    # the ghost the adapting background keeps of a walker where they just were is not someone small
    now, before, ghost = (1000, 100, 1150, 600), (700, 100, 850, 600), (720, 500, 800, 560)
    assert plan([now], [ghost], HD, 416, 2.0, 3) is not None
    assert plan([now], [ghost], HD, 416, 2.0, 3, trails=[before]) is None
    sub_stream = [(200, 100, 300, 330)]  # 640x360: 150 px of the input
    assert plan([], sub_stream, (640, 360), 416, 2.0, 3) is None


def test_boxes_that_fit_one_square_share_it() -> None:
    near = [(1000, 500, 1040, 600), (1100, 520, 1150, 640), (1020, 610, 1060, 700)]
    (region,) = plan([], near, HD, 416, 1.0, 4) or []
    assert all(contains(region, b) for b in near)


def test_boxes_apart_get_a_square_each_and_the_cap_merges_the_nearest() -> None:
    apart = [(100, 100, 150, 250), (900, 100, 950, 250), (1700, 100, 1750, 250), (900, 800, 950, 950)]
    regions = plan([], apart, HD, 416, 1.0, 4) or []
    assert len(regions) == 4 and all(r[2] - r[0] == 416 for r in regions)
    capped = plan([], apart, HD, 416, 1.0, 3) or []
    assert len(capped) == 3 and all(any(contains(r, b) for r in capped) for b in apart)
    # the two top-left-most were not the pair merged: the top middle and the one below it are nearest
    assert max(r[3] - r[1] for r in capped) > 416


def test_a_region_nearly_as_large_as_the_picture_gives_way_to_the_whole_frame() -> None:
    assert plan([], [(100, 0, 1700, 1080)], HD, 416, 1.0, 4) is None
    assert plan([], [(0, 0, 40, 100), (1880, 980, 1920, 1080)], HD, 416, 1.0, 1) is None


def test_a_region_inside_another_is_dropped() -> None:
    big, small = (600, 100, 1000, 900), (1200, 300, 1230, 360)
    regions = plan([], [big, small], HD, 416, 1.0, 1) or []
    assert len(regions) == 1
    regions = plan([], [big, (700, 400, 720, 440)], HD, 100, 1.0, 4) or []
    assert len(regions) == 1 and contains(regions[0], big)


# -- detect_regions --------------------------------------------------------------------------------


def test_detections_come_back_in_picture_pixels_with_their_keypoints() -> None:
    person = (1010.0, 520.0, 1050.0, 640.0)
    det, counters = BlockDetector(), RegionCounters()
    found = detect_regions(det, picture(person), plan([], [person], HD, 416, 1.0, 4) or [], counters)
    assert boxes(found) == [person]
    kpts = found[0].keypoints
    assert kpts is not None and kpts[0, 0] == pytest.approx(1030) and kpts[0, 1] == pytest.approx(520)
    assert det.calls == [(416, 416)] and counters == RegionCounters(cropped=1, regions=1)


def test_a_person_cut_by_a_region_edge_is_looked_at_again_whole() -> None:
    walker, standing = (1000.0, 500.0, 1040.0, 600.0), (1190.0, 560.0, 1300.0, 760.0)
    region = (812.0, 342.0, 1228.0, 758.0)  # the walker's, cutting the one standing on its right
    det, counters = BlockDetector(), RegionCounters()
    found = detect_regions(det, picture(walker, standing), [region], counters)
    assert boxes(found) == [walker, standing]
    assert counters.retries == 1 and counters.regions == 2


def test_a_person_cut_by_one_region_and_whole_in_another_costs_no_second_look() -> None:
    a, b = (1000.0, 500.0, 1040.0, 600.0), (1250.0, 520.0, 1290.0, 640.0)
    regions = [(812.0, 342.0, 1228.0, 758.0), (1062.0, 372.0, 1478.0, 788.0)]
    det, counters = BlockDetector(), RegionCounters()
    found = detect_regions(det, picture(a, b), regions, counters)
    assert boxes(found) == [a, b]  # each found whole once, the cut copies left out
    assert counters.retries == 0 and counters.regions == 2


def test_a_person_cut_by_the_picture_edge_is_kept_as_seen() -> None:
    person = (0.0, 300.0, 30.0, 420.0)
    det, counters = BlockDetector(), RegionCounters()
    found = detect_regions(det, picture(person), [square(person, 416, HD)], counters)
    assert boxes(found) == [person] and counters.retries == 0


def test_one_person_found_by_two_regions_is_kept_once() -> None:
    low = Detection(10, 10, 50, 110, 0.5)
    high = Detection(12, 11, 52, 112, 0.8)
    other = Detection(200, 10, 240, 110, 0.6)
    assert suppress([low, other, high]) == [high, other]


# -- the motion gate's boxes and the analyzer ------------------------------------------------------


def test_the_motion_gate_boxes_what_moved_in_frame_pixels() -> None:
    gate = MotionGate(MotionConfig())
    assert gate.check(picture()).moving  # the first frame has nothing to compare with
    assert not gate.check(picture()).moving
    motion = gate.check(picture((1200, 400, 1260, 560), (300, 700, 340, 800)))
    assert motion.moving and len(motion.boxes) == 2
    big, small = motion.boxes
    assert contains((1180, 380, 1280, 580), big) and contains(big, (1215, 415, 1245, 545))
    assert contains((280, 680, 360, 820), small)


def analyzer(**detector: object) -> CameraAnalyzer:
    settings = AnalyticsConfig.model_validate({"fps": 2, "motion": {"refresh_s": 10}, "detector": detector})
    return CameraAnalyzer("c", CameraAnalytics.model_validate({}), settings, tz=ZoneInfo("UTC"))


def walk(a: CameraAnalyzer, det: BlockDetector, seconds: float) -> list[list[Detection]]:
    """A person walking right at 100 px/s, looked at twice a second."""
    out = []
    for n in range(int(seconds * 2)):
        at = n / 2
        x = 300 + 100 * at
        frame = Frame(picture((x, 500, x + 40, 620)), at, at)
        look = a.look(frame)
        if look is not None:
            found = a.detect(det, frame, look)
            a.analyse(frame, found, at)
            out.append(found)
    return out


def test_the_analyzer_looks_at_the_whole_frame_first_then_around_the_walker_then_whole_on_refresh() -> None:
    a, det = analyzer(), BlockDetector()
    seen = walk(a, det, 12)
    assert len(seen) == 24 and all(len(f) == 1 for f in seen)  # the walker, in picture pixels, every time
    assert seen[5][0].x1 == pytest.approx(300 + 100 * 2.5)
    assert a.regions.full == 2  # the first frame and the refresh at 10 s
    crops = [c for c in det.calls if c != HD]
    assert det.calls.count(HD) == 2 and len(crops) == 22 and all(w <= 416 and h <= 416 for w, h in crops)


def test_with_regions_off_every_look_is_the_whole_frame() -> None:
    a, det = analyzer(regions=False), BlockDetector()
    seen = walk(a, det, 3)
    assert all(len(f) == 1 for f in seen) and det.calls == [HD] * len(seen) and a.regions.cropped == 0


def test_zoom_lets_a_region_be_smaller_than_the_model_input() -> None:
    a, det = analyzer(region_zoom=1.0), BlockDetector()
    walk(a, det, 2)
    assert (416, 416) in det.calls and not any(w < 416 for w, _h in det.calls)
    a, det = analyzer(region_zoom=2.0), BlockDetector()
    walk(a, det, 2)
    assert (208, 208) in det.calls


def test_trails_put_the_tracked_person_box_on_their_last_foot_points() -> None:
    track = Track(id=1, detection=Detection(300, 100, 340, 220, 0.9), first_seen=0.0, last_seen=1.0)
    for at, foot in [(0.0, (100.0, 200.0)), (0.5, (200.0, 210.0)), (1.0, (320.0, 220.0)), (1.5, (400.0, 220.0))]:
        track.history.append((at, foot))
    assert trails([track]) == [(180.0, 90.0, 220.0, 210.0), (300.0, 100.0, 340.0, 220.0), (380.0, 100.0, 420.0, 220.0)]
