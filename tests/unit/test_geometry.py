from __future__ import annotations

import pytest

from gateway.analytics import geometry

SQUARE = [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)]
# A "U" open at the top: the notch (40..60, 0..60) is outside.
U_SHAPE = [(0.0, 0.0), (40.0, 0.0), (40.0, 60.0), (60.0, 60.0), (60.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)]


@pytest.mark.parametrize(
    ("polygon", "needle"),
    [
        ([(0.0, 0.0), (1.0, 1.0)], "at least 3"),
        ([(0.0, 0.0), (10.0, 0.0), (0.0, 0.0), (0.0, 10.0)], "repeat"),
        ([(0.0, 0.0), (10.0, 10.0), (10.0, 0.0), (0.0, 10.0)], "crosses itself"),
        ([(0.0, 0.0), (5.0, 5.0), (10.0, 10.0)], "no area"),
    ],
)
@pytest.mark.usefixtures("english")
def test_polygon_problem_names_what_is_wrong(polygon: list[tuple[float, float]], needle: str) -> None:
    problem = geometry.polygon_problem(polygon)
    assert problem is not None and needle in problem


def test_polygon_problem_accepts_convex_and_concave() -> None:
    assert geometry.polygon_problem(SQUARE) is None
    assert geometry.polygon_problem(U_SHAPE) is None


def test_contains_convex_and_concave() -> None:
    assert geometry.contains(SQUARE, (50, 50))
    assert not geometry.contains(SQUARE, (150, 50))
    assert not geometry.contains(SQUARE, (-1, 50))
    assert geometry.contains(U_SHAPE, (20, 20))
    assert not geometry.contains(U_SHAPE, (50, 20))  # in the notch
    assert geometry.contains(U_SHAPE, (50, 80))


def test_outside_lists_indexes_of_points_off_the_picture() -> None:
    points = [(0.0, 0.0), (1920.0, 1080.0), (1921.0, 10.0), (10.0, -1.0)]
    assert geometry.outside(points, 1920, 1080) == [2, 3]


def test_segments_intersect() -> None:
    assert geometry.segments_intersect((0, 0), (10, 10), (0, 10), (10, 0))
    assert geometry.segments_intersect((0, 0), (10, 0), (10, 0), (20, 5))  # touching at an end
    assert not geometry.segments_intersect((0, 0), (10, 0), (0, 1), (10, 1))  # parallel
    assert geometry.segments_intersect((0, 0), (10, 0), (5, 0), (20, 0))  # collinear overlap
    assert not geometry.segments_intersect((0, 0), (10, 0), (11, 0), (20, 0))  # collinear apart
    assert not geometry.segments_intersect((0, 0), (10, 0), (15, -5), (15, 5))  # would meet the extension


def test_side_with_hysteresis_margin() -> None:
    a, b = (0.0, 100.0), (200.0, 100.0)
    assert geometry.distance_to_line(a, b, (50, 130)) == pytest.approx(30)
    below, above = geometry.side(a, b, (50, 130)), geometry.side(a, b, (50, 70))
    assert {below, above} == {1, -1}
    assert geometry.side(a, b, (50, 103), margin=4) == 0
    assert geometry.side(a, b, (50, 105), margin=4) == below
    assert geometry.side(a, b, (50, 100)) == 0


def test_scale() -> None:
    assert geometry.scale(SQUARE[:2], 0.5, 2.0) == [(0.0, 0.0), (50.0, 0.0)]
    assert geometry.scale_point((10.0, 10.0), 0.5, 2.0) == (5.0, 20.0)
    assert geometry.area(SQUARE) == 10000
