"""Plane geometry for zone polygons and crossing lines, in image pixel coordinates (y grows down)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from gateway.i18n import _

Point = tuple[float, float]


def cross(o: Point, a: Point, b: Point) -> float:
    """z of (a - o) x (b - o): > 0 when b lies to one side of o->a, < 0 the other, 0 on the line."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _on_segment(p: Point, q: Point, r: Point) -> bool:
    """r is collinear with p-q: is it within the segment's bounding box?"""
    return min(p[0], q[0]) <= r[0] <= max(p[0], q[0]) and min(p[1], q[1]) <= r[1] <= max(p[1], q[1])


def segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Do the closed segments p1-p2 and q1-q2 share a point (touching counts)?"""
    d1, d2 = cross(q1, q2, p1), cross(q1, q2, p2)
    d3, d4 = cross(p1, p2, q1), cross(p1, p2, q2)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return (
        (d1 == 0 and _on_segment(q1, q2, p1))
        or (d2 == 0 and _on_segment(q1, q2, p2))
        or (d3 == 0 and _on_segment(p1, p2, q1))
        or (d4 == 0 and _on_segment(p1, p2, q2))
    )


def area(polygon: Sequence[Point]) -> float:
    """Unsigned shoelace area."""
    total = 0.0
    for i, (x1, y1) in enumerate(polygon):
        x2, y2 = polygon[(i + 1) % len(polygon)]
        total += x1 * y2 - x2 * y1
    return abs(total) / 2.0


def polygon_problem(polygon: Sequence[Point]) -> str | None:
    """Why this cannot be a zone (too few points, no area, edges crossing), or None when it can."""
    if len(polygon) < 3:
        return _("a polygon needs at least 3 points")
    if len(set(polygon)) != len(polygon):
        return _("a polygon must not repeat a point")
    n = len(polygon)
    edges = [(polygon[i], polygon[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbours share a corner by construction
            if segments_intersect(*edges[i], *edges[j]):
                return _("the polygon crosses itself (edge {first} meets edge {second})").format(
                    first=i + 1, second=j + 1
                )
    if area(polygon) == 0:
        return _("the polygon has no area (all points on one line)")
    return None


def outside(points: Sequence[Point], width: int, height: int) -> list[int]:
    """Indexes of the points that lie outside a width x height image."""
    return [i for i, (x, y) in enumerate(points) if not (0 <= x <= width and 0 <= y <= height)]


def contains(polygon: Sequence[Point], p: Point) -> bool:
    """Even-odd ray casting; points exactly on an edge may fall either way, which zones can live with."""
    x, y = p
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def scale(points: Sequence[Point], sx: float, sy: float) -> list[Point]:
    return [(x * sx, y * sy) for x, y in points]


def distance_to_line(a: Point, b: Point, p: Point) -> float:
    """Perpendicular distance from p to the infinite line through a and b (a != b)."""
    return abs(cross(a, b, p)) / math.hypot(b[0] - a[0], b[1] - a[1])


def side(a: Point, b: Point, p: Point, margin: float = 0.0) -> int:
    """+1 or -1 for the two sides of the line a-b, 0 when p lies within `margin` pixels of it.

    The margin is the hysteresis band of crossing lines: a foot jittering on the line stays 0
    instead of flipping sides every frame.
    """
    if distance_to_line(a, b, p) <= margin:
        return 0
    return 1 if cross(a, b, p) > 0 else -1


def scale_point(p: Point, sx: float, sy: float) -> Point:
    return (p[0] * sx, p[1] * sy)
