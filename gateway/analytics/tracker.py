"""A multi-object tracker for persons at a few analysed frames a second, ByteTrack style.

Pure logic: the caller passes each frame's detections and its stream time; nothing here reads a
clock. Each frame:

1. every track's box is predicted to the frame's time by a constant-velocity Kalman filter on the
   box centre and size (at 2-5 fps two people walking past each other overlap the *other* person's
   last box more than their own; the filter also carries a track through a short miss);
2. detections scoring at least `high_score` are assigned to the live confirmed tracks (seen now or
   missed for up to `max_age_s`) by an optimal assignment (Hungarian) on a cost of box overlap,
   centre distance in body sizes and size difference; a pair is allowed when its IoU reaches
   `iou_threshold` or its centres are within `max_distance` body sizes of similar size;
3. detections between `low_score` and `high_score` (a person half hidden while crossing someone, a
   blurred walker) are assigned to the confirmed tracks still unmatched, under a stricter gate: they
   keep a track alive but never start one;
4. the high-score detections left are assigned to the unconfirmed tracks, then start new tracks.

A track is confirmed after `min_hits` matched frames in a row; an unconfirmed track that misses a
frame is dropped (detector noise rarely repeats at the same place). A confirmed track that misses
frames stays alive, with its last box, for `max_age_s`; rules tell by `last_seen < at`. Ids are
never reused. If time goes backwards (the stream restarted), every track is dropped; ids keep
counting up.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from models.base import Box, Detection, iou

Point = tuple[float, float]
Vector = npt.NDArray[np.float64]

HISTORY = 64  # foot points kept per track: 30 s at 2 fps, enough for direction and dwell displays
# Detections under this score are not asked of the detector: below it YOLO's boxes are mostly
# background. Between it and the detector's configured confidence they only extend tracks.
LOW_SCORE = 0.1
_PREDICT_MAX_S = 2.0  # do not extrapolate a lost track further than this: people stop and turn
_MAX_SIZE_RATIO = 2.0  # never pair boxes whose sizes differ more than this
_LOW_MAX_DISTANCE = 0.5  # the low-score gate, in body sizes: such a box must be where the track is
_UNMATCHED = 1e6  # cost of a forbidden pair: larger than any sum of allowed ones

# Kalman noise, in body sizes (the box's long side) so that it scales with distance to the camera.
_MEASURE_STD = 0.1  # box jitter of one detection (arms and legs swing, the detector wobbles)
_ACCEL_STD = 0.3  # velocity change per second, in body sizes a second: walkers keep their pace, so a hidden
# one is carried straight through a crossing (0.3 to 2 tried on vtest: 0.3 made the fewest ids)
_INIT_VELOCITY_STD = 1.0  # a new track's velocity is unknown: about a walking pace either way


def _history() -> deque[tuple[float, Point]]:
    return deque(maxlen=HISTORY)


@dataclass
class _Motion:
    """Kalman state (centre x, y, width, height, and their rates per second) at the last match."""

    mean: Vector
    cov: Vector

    @classmethod
    def start(cls, box: Box) -> _Motion:
        size = _size(box)
        mean = np.zeros(8)
        mean[:4] = _xywh(box)
        std = np.array([_MEASURE_STD] * 4 + [_INIT_VELOCITY_STD] * 2 + [_MEASURE_STD] * 2) * size
        return cls(mean, np.diag(std**2))

    def predict(self, dt: float) -> tuple[Vector, Vector]:
        f = np.eye(8)
        f[range(4), range(4, 8)] = dt
        size = max(self.mean[2], self.mean[3], 1.0)
        # White-noise acceleration: position variance grows as dt^3, velocity as dt; the size
        # changes far less than the position.
        q = (_ACCEL_STD * size) ** 2 * np.array([1.0, 1.0, 0.1, 0.1])
        noise = np.zeros((8, 8))
        noise[range(4), range(4)] = q * dt**3 / 3.0
        noise[range(4, 8), range(4, 8)] = q * dt
        noise[range(4), range(4, 8)] = noise[range(4, 8), range(4)] = q * dt**2 / 2.0
        return f @ self.mean, f @ self.cov @ f.T + noise

    def update(self, box: Box, dt: float) -> None:
        mean, cov = self.predict(dt)
        r = np.diag(np.full(4, (_MEASURE_STD * _size(box)) ** 2))
        s = cov[:4, :4] + r
        gain = np.linalg.solve(s, cov[:4, :]).T
        self.mean = mean + gain @ (np.array(_xywh(box)) - mean[:4])
        self.cov = cov - gain @ cov[:4, :]


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
    motion: _Motion | None = field(default=None, repr=False, compare=False)

    @property
    def foot(self) -> Point:
        return self.detection.foot

    @property
    def keypoints(self) -> npt.NDArray[np.float32] | None:
        return self.detection.keypoints

    def predicted(self, at: float) -> Box:
        """Where the box should be at time `at` (extrapolated at most _PREDICT_MAX_S)."""
        dt = min(max(at - self.last_seen, 0.0), _PREDICT_MAX_S)
        if self.motion is None:
            dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
            d = self.detection
            return (d.x1 + dx, d.y1 + dy, d.x2 + dx, d.y2 + dy)
        m = self.motion.mean
        cx, cy = m[0] + m[4] * dt, m[1] + m[5] * dt
        # The size keeps the last measured one: its rate is noise over a few frames.
        w, h = max(m[2], 1.0), max(m[3], 1.0)
        return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _centre(box: Box) -> Point:
    return ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)


def _xywh(box: Box) -> tuple[float, float, float, float]:
    return ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0, box[2] - box[0], box[3] - box[1])


def _size(box: Box) -> float:
    # The long side, not the height: a person who falls turns a tall box into a wide one of about
    # the same length, and must stay the same track through it.
    return max(box[3] - box[1], box[2] - box[0], 1.0)


def _inside(p: Point, width: int, height: int) -> bool:
    return 0 <= p[0] < width and 0 <= p[1] < height


class Tracker:
    def __init__(
        self,
        iou_threshold: float = 0.3,
        max_age_s: float = 2.0,
        min_hits: int = 2,
        max_distance: float = 1.0,
        *,
        high_score: float = 0.4,
        low_score: float = LOW_SCORE,
    ) -> None:
        if not 0 < iou_threshold <= 1:
            raise ValueError("iou_threshold must be in (0, 1]")
        if max_age_s < 0 or min_hits < 1 or max_distance < 0:
            raise ValueError("max_age_s and max_distance must be >= 0, min_hits >= 1")
        if not 0 <= low_score <= high_score:
            raise ValueError("need 0 <= low_score <= high_score")
        self.iou_threshold = iou_threshold
        self.max_age_s = max_age_s
        self.min_hits = min_hits
        self.max_distance = max_distance
        self.high_score = high_score
        self.low_score = low_score
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

        With `frame_size`, a track whose predicted centre has left the picture ends as soon as it is
        missed: someone who walked out must not lend their id to the next person walking in at the
        same edge.
        """
        if self._last_at is not None and at < self._last_at:
            self._tracks = []
        previous, self._last_at = self._last_at, at

        def gone(t: Track) -> bool:
            return frame_size is not None and not _inside(_centre(t.predicted(at)), *frame_size)

        # A track seen in the last frame may still match someone half out of the picture whose
        # centre the motion already puts outside; one missed there has left.
        self._tracks = [t for t in self._tracks if t.last_seen == previous or not gone(t)]
        high = [j for j, d in enumerate(detections) if d.score >= self.high_score]
        low = [j for j, d in enumerate(detections) if self.low_score <= d.score < self.high_score]
        confirmed = [i for i, t in enumerate(self._tracks) if t.confirmed]
        tentative = [i for i, t in enumerate(self._tracks) if not t.confirmed]
        predicted = [t.predicted(at) for t in self._tracks]

        pairs = self._assign(confirmed, high, predicted, detections, self.max_distance)
        left = [i for i in confirmed if i not in pairs]
        pairs.update(self._assign(left, low, predicted, detections, min(self.max_distance, _LOW_MAX_DISTANCE)))
        taken = set(pairs.values())
        pairs.update(
            self._assign(tentative, [j for j in high if j not in taken], predicted, detections, self.max_distance)
        )

        kept: list[Track] = []
        for i, track in enumerate(self._tracks):
            j = pairs.get(i)
            if j is not None:
                self._hit(track, detections[j], at)
                kept.append(track)
            elif track.confirmed and at - track.last_seen <= self.max_age_s and not gone(track):
                kept.append(track)
        taken = set(pairs.values())
        kept.extend(self._new(detections[j], at) for j in high if j not in taken)
        self._tracks = kept
        return [t for t in self._tracks if t.confirmed]

    def _assign(
        self,
        rows: list[int],
        cols: list[int],
        predicted: list[Box],
        detections: Sequence[Detection],
        max_distance: float,
    ) -> dict[int, int]:
        """Tracks `rows` to detections `cols` at the least total cost; pairs outside the gate stay apart."""
        if not rows or not cols:
            return {}
        cost = np.full((len(rows), len(cols)), _UNMATCHED)
        for a, i in enumerate(rows):
            box, label = predicted[i], self._tracks[i].detection.label
            s1, c1 = _size(box), _centre(box)
            for b, j in enumerate(cols):
                det = detections[j]
                if det.label != label:
                    continue
                other = det.box
                s2, c2 = _size(other), _centre(other)
                ratio = max(s1, s2) / min(s1, s2)
                if ratio > _MAX_SIZE_RATIO:
                    continue
                overlap = iou(box, other)
                dist = math.hypot(c1[0] - c2[0], c1[1] - c2[1]) / ((s1 + s2) / 2.0)
                if overlap >= self.iou_threshold or dist <= max_distance:
                    # Distance in body sizes plus how different the sizes are: a far pair of the
                    # same size can beat a near pair where one box is a child or a half-hidden person.
                    cost[a, b] = (1.0 - overlap) + dist + math.log(ratio)
        return {rows[a]: cols[b] for a, b in assign(cost) if cost[a, b] < _UNMATCHED}

    def _hit(self, track: Track, det: Detection, at: float) -> None:
        box = det.box
        if track.motion is None:
            track.motion = _Motion.start(track.detection.box)
        track.motion.update(box, min(max(at - track.last_seen, 0.0), _PREDICT_MAX_S))
        track.velocity = (float(track.motion.mean[4]), float(track.motion.mean[5]))
        track.detection = det
        track.last_seen = at
        track.hits += 1
        track.confirmed = track.confirmed or track.hits >= self.min_hits
        track.history.append((at, det.foot))

    def _new(self, det: Detection, at: float) -> Track:
        track = Track(
            id=self._next_id,
            detection=det,
            first_seen=at,
            last_seen=at,
            confirmed=self.min_hits <= 1,
            motion=_Motion.start(det.box),
        )
        track.history.append((at, det.foot))
        self._next_id += 1
        return track


def assign(cost: npt.NDArray[np.float64]) -> list[tuple[int, int]]:
    """Minimum-cost assignment of rows to columns (Hungarian, shortest augmenting paths): the pairs.

    Written here rather than taken from scipy (tens of MB for one function) or `lap`: the matrices are
    a few dozen tracks by a few dozen boxes, which this O(n^3) loop solves in well under a millisecond
    beside the detector's tens. Every row is paired when rows <= columns, else every column is.
    """
    if cost.size == 0:
        return []
    transposed = cost.shape[0] > cost.shape[1]
    c = cost.T if transposed else cost
    n, m = c.shape
    # Potentials u (rows) and v (columns); p[j]: the row (1-based) holding column j; column 0 is virtual.
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    p = np.zeros(m + 1, dtype=np.int64)
    way = np.zeros(m + 1, dtype=np.int64)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            free = ~used[1:]
            reduced = c[i0 - 1] - u[i0] - v[1:]
            better = free & (reduced < minv[1:])
            minv[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[p[used]] += delta
            v[used] -= delta
            minv[1:][free] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = int(way[j0])
            p[j0] = p[j1]
            j0 = j1
    pairs = [(int(p[j]) - 1, j - 1) for j in range(1, m + 1) if p[j]]
    if transposed:
        pairs = [(b, a) for a, b in pairs]
    return sorted(pairs)
