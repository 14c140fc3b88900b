"""The tracker before issue 25 (greedy IoU then centre distance), frozen here as the baseline of
benchmarks.bench_tracking. Not used by the product."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from models.base import Detection

Point = tuple[float, float]
Box = tuple[float, float, float, float]

HISTORY = 64  # foot points kept per track: 30 s at 2 fps, enough for direction and dwell displays
_PREDICT_MAX_S = 1.0  # do not extrapolate a lost track further than this: people stop and turn
_MAX_HEIGHT_RATIO = 2.0  # the distance fallback never pairs boxes whose heights differ more than this


def _history() -> deque[tuple[float, Point]]:
    return deque(maxlen=HISTORY)


@dataclass
class Track:
    id: int
    detection: Detection  # the latest matched detection; kept as is while the track is missed
    first_seen: float
    last_seen: float
    hits: int = 1
    confirmed: bool = False
    history: deque[tuple[float, Point]] = field(default_factory=_history)
    velocity: Point = (0.0, 0.0)  # of the box centre, pixels per second

    @property
    def foot(self) -> Point:
        return self.detection.foot

    @property
    def keypoints(self) -> npt.NDArray[np.float32] | None:
        return self.detection.keypoints

    def predicted(self, at: float) -> Box:
        """The last box moved along the velocity to time `at` (at most _PREDICT_MAX_S ahead)."""
        dt = min(max(at - self.last_seen, 0.0), _PREDICT_MAX_S)
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        d = self.detection
        return (d.x1 + dx, d.y1 + dy, d.x2 + dx, d.y2 + dy)


def iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _centre(box: Box) -> Point:
    return ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)


def _inside(p: Point, width: int, height: int) -> bool:
    return 0 <= p[0] < width and 0 <= p[1] < height


def _box(d: Detection) -> Box:
    return (d.x1, d.y1, d.x2, d.y2)


class Tracker:
    def __init__(
        self, iou_threshold: float = 0.3, max_age_s: float = 2.0, min_hits: int = 2, max_distance: float = 1.0
    ) -> None:
        if not 0 < iou_threshold <= 1:
            raise ValueError("iou_threshold must be in (0, 1]")
        if max_age_s < 0 or min_hits < 1 or max_distance < 0:
            raise ValueError("max_age_s and max_distance must be >= 0, min_hits >= 1")
        self.iou_threshold = iou_threshold
        self.max_age_s = max_age_s
        self.min_hits = min_hits
        self.max_distance = max_distance
        self._tracks: list[Track] = []
        self._next_id = 1
        self._last_at: float | None = None

    def tracks(self) -> list[Track]:
        """Every live track, confirmed or not, by id."""
        return list(self._tracks)

    def update(
        self, detections: Sequence[Detection], at: float, frame_size: tuple[int, int] | None = None
    ) -> list[Track]:
        """Match one frame's detections at stream time `at`; returns the confirmed live tracks by id.

        With `frame_size`, a track whose predicted centre has left the picture ends at once: someone
        who walked out must not lend their id to the next person walking in at the same edge.
        """
        if self._last_at is not None and at < self._last_at:
            self._tracks = []
        self._last_at = at
        if frame_size is not None:
            w, h = frame_size
            self._tracks = [t for t in self._tracks if _inside(_centre(t.predicted(at)), w, h)]
        predicted = [t.predicted(at) for t in self._tracks]
        pairs = self._match_iou(predicted, detections)
        self._match_distance(predicted, detections, pairs)

        kept: list[Track] = []
        for i, track in enumerate(self._tracks):
            j = pairs.get(i)
            if j is not None:
                self._hit(track, detections[j], at)
                kept.append(track)
            elif track.confirmed and at - track.last_seen <= self.max_age_s:
                kept.append(track)
        matched = set(pairs.values())
        for j, det in enumerate(detections):
            if j not in matched:
                kept.append(self._new(det, at))
        self._tracks = kept
        return [t for t in self._tracks if t.confirmed]

    def _match_iou(self, predicted: list[Box], detections: Sequence[Detection]) -> dict[int, int]:
        candidates: list[tuple[float, int, int]] = []
        for i, box in enumerate(predicted):
            label = self._tracks[i].detection.label
            for j, det in enumerate(detections):
                if det.label == label and (overlap := iou(box, _box(det))) >= self.iou_threshold:
                    candidates.append((-overlap, i, j))
        return _greedy(candidates, {})

    def _match_distance(self, predicted: list[Box], detections: Sequence[Detection], pairs: dict[int, int]) -> None:
        taken = set(pairs.values())
        candidates: list[tuple[float, int, int]] = []
        for i, box in enumerate(predicted):
            if i in pairs:
                continue
            label = self._tracks[i].detection.label
            # Size is the box's long side, not its height: a person who falls turns a tall box into a
            # wide one of about the same length, and must stay the same track through it.
            h1 = max(box[3] - box[1], box[2] - box[0], 1.0)
            c1 = _centre(box)
            for j, det in enumerate(detections):
                if j in taken or det.label != label:
                    continue
                h2 = max(det.height, det.width, 1.0)
                ratio = max(h1, h2) / min(h1, h2)
                if ratio > _MAX_HEIGHT_RATIO:
                    continue
                c2 = _centre(_box(det))
                reach = (h1 + h2) / 2.0
                dist = math.hypot(c1[0] - c2[0], c1[1] - c2[1]) / reach
                if dist <= self.max_distance:
                    # Distance in heights plus how different the sizes are: a far pair of the same
                    # size can beat a near pair where one box is a child or a partly hidden person.
                    candidates.append((dist + math.log(ratio), i, j))
        _greedy(candidates, pairs)

    def _hit(self, track: Track, det: Detection, at: float) -> None:
        dt = at - track.last_seen
        if dt > 0:
            old, new = _centre(_box(track.detection)), _centre(_box(det))
            raw = ((new[0] - old[0]) / dt, (new[1] - old[1]) / dt)
            # Smooth after the first estimate: box jitter alone would make a standing person drift.
            vx, vy = track.velocity
            track.velocity = raw if track.hits == 1 else ((vx + raw[0]) / 2.0, (vy + raw[1]) / 2.0)
        track.detection = det
        track.last_seen = at
        track.hits += 1
        track.confirmed = track.confirmed or track.hits >= self.min_hits
        track.history.append((at, det.foot))

    def _new(self, det: Detection, at: float) -> Track:
        track = Track(id=self._next_id, detection=det, first_seen=at, last_seen=at, confirmed=self.min_hits <= 1)
        track.history.append((at, det.foot))
        self._next_id += 1
        return track


def _greedy(candidates: list[tuple[float, int, int]], pairs: dict[int, int]) -> dict[int, int]:
    """Take pairs cheapest first; ties break on track then detection index, so runs repeat exactly."""
    taken = set(pairs.values())
    for _, i, j in sorted(candidates):
        if i not in pairs and j not in taken:
            pairs[i] = j
            taken.add(j)
    return pairs
