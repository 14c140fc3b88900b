"""Per-zone behaviour rules evaluated on tracked persons: pure logic, times are passed in.

`RuleEngine.update(tracks, at, wall)` is called once per analysed frame with the tracker's live
tracks, the frame's stream time `at` (seconds) and its wall-clock time `wall` (epoch seconds). It
returns the rule hits of that frame. Every rule judges a track by its foot point (bottom centre of
the box), with the rule geometry scaled from the config picture size to the analysed frame size.
Only confirmed tracks count. A track the detector missed for a moment (alive, `last_seen < at`)
keeps its last box: it still counts as inside an area, but gives no new point for lines.

Semantics, pinned by tests/unit/test_rules.py:

- Thresholds are inclusive: "for min_seconds" means `now - start >= min_seconds`.
- Episodes: a track's episode in an area (intrusion, loitering) or in a posture (fall) ends when the
  track has been outside it (or upright) for more than `GRACE_S` (1 s), or when the track dies. A
  shorter excursion neither resets the timer nor lets the rule fire again.
- Cooldown, per rule (intrusion, loitering, crowding, fall): after a hit, the rule stays silent for
  `cooldown_s`. A would-be hit inside the cooldown is dropped and its episode counts as reported, so
  a second intruder arriving during the cooldown never fires, even after it ends.
- intrusion: fires when a track has been inside the polygon for >= min_seconds; the hit lists every
  track inside at that moment; detail {"inside_s": longest stay, "count": tracks inside}.
- loitering: like intrusion with dwell_s (polygon None = whole picture), but the hit lists only the
  tracks whose dwell just passed; detail {"dwell_s": longest of them}.
- line_crossing: a track's foot moves from one side of the line to the other and the movement
  segment meets the line segment itself, not its extension. Points within a margin (0.5 % of the
  frame diagonal, at least 3 px) of the infinite line are ignored, so jitter on the line never
  counts, and the movement is taken from the last point clearly on a side. With `towards`, only
  crossings that end on its side count (direction "towards"); without it both count, named
  "down"/"up" for a line more horizontal than vertical (y grows down), else "right"/"left". Every
  counted crossing goes into `counts()`, also inside the cooldown; hits are rate-limited per
  (rule, track), so people crossing together each get a hit (one hit per crossing track), and a
  person walking back and forth is counted on every crossing but gets at most one hit per cooldown.
- crowding: tracks seen within the last `CROWD_RECENT_S` (1 s) with foot inside the polygon (whole
  picture when None). The episode starts when the count first exceeds max_people and ends once it
  has stayed <= max_people for `CROWD_CALM_S` (2 s); short dips do not restart it. It fires once, when
  the count is over the limit and the episode is >= min_seconds old; detail {"count", "limit"}.
- fall: a track is lying when its torso (mid-shoulders to mid-hips from keypoints with confidence
  >= 0.3; one shoulder or hip is enough on its side) leans more than 60 degrees from vertical; without
  those keypoints, when the box is wider than 1.3 x its height. Lying inside the area (None = whole
  picture) for >= min_seconds fires once per episode; detail {"torso_angle"} or {"aspect"} of the
  first track (by id) of the hit, and "was_upright": whether that track was seen upright before.
- Schedules: the window is judged on `wall` in the site time zone. Outside it a rule neither fires nor
  keeps state (episode timers are cleared; the cooldown and the line counts are kept), so a person
  already inside when the window opens is timed from the opening: with min_seconds 0 an intrusion
  going on at 21:59 fires on the first frame at 22:00.
- Stream time going backwards (a restarted source) is absorbed: the engine keeps its own clock
  running on from the last value, so cooldowns and episodes stay consistent.
"""

from __future__ import annotations

import math
import zoneinfo
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from gateway.analytics import geometry
from gateway.analytics.tracker import Track
from gateway.config.analytics import (
    CrowdingRule,
    FallRule,
    IntrusionRule,
    LineCrossingRule,
    LoiteringRule,
    Rule,
    in_schedule,
)
from models.base import Detection

Point = tuple[float, float]

GRACE_S = 1.0  # an episode survives this long out of the area (or upright): boxes jitter at edges
# Hysteresis band on each side of a crossing line: 0.5 % of the frame diagonal (4 px at 640x480,
# 11 px at 1080p, about what a standing person's foot point jitters), at least 3 px.
LINE_MARGIN_SHARE = 0.005
LINE_MARGIN_MIN_PX = 3.0
CROWD_RECENT_S = 1.0  # a track missed longer than this no longer counts towards a crowd
CROWD_CALM_S = 2.0  # the count must stay at or under the limit this long to end a crowding episode
LYING_ANGLE = 60.0  # degrees of torso lean from vertical
LYING_ASPECT = 1.3  # box width / height, when the torso keypoints are missing
KEYPOINT_CONF = 0.3
_SHOULDERS, _HIPS = (5, 6), (11, 12)  # COCO keypoint indexes


@dataclass(frozen=True)
class RuleHit:
    rule_id: str
    kind: str
    zone: str | None
    at: float  # stream seconds of the frame
    wall: float  # epoch seconds of the frame
    track_ids: tuple[int, ...]
    boxes: tuple[Detection, ...]  # the latest detection of each track, frame pixels
    detail: dict[str, object] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class _Frame:
    tracks: list[Track]  # confirmed only
    now: float  # the engine's monotonic clock
    at: float  # stream seconds, comparable with Track.last_seen
    wall: float


@dataclass
class _Episode:
    since: float
    last_in: float  # last time the track was inside / lying
    fired: bool = False
    detail: dict[str, object] = field(default_factory=dict)


R = TypeVar("R", bound=IntrusionRule | LoiteringRule | CrowdingRule | FallRule | LineCrossingRule)
D = TypeVar("D", bound=IntrusionRule | LoiteringRule)


class _Check(ABC, Generic[R]):
    def __init__(self, rule: R) -> None:
        self.rule = rule
        self.window = rule.window()
        self.last_hit: float | None = None

    @abstractmethod
    def update(self, frame: _Frame) -> list[RuleHit]: ...

    def reset(self) -> None:
        """Forget episode state (leaving the schedule window); the cooldown is kept."""

    def _admit(self, now: float) -> bool:
        """A hit is due: let it through (and start the cooldown) unless the rule is cooling down."""
        if self.last_hit is not None and now - self.last_hit < self.rule.cooldown_s:
            return False
        self.last_hit = now
        return True

    def _hit(self, frame: _Frame, tracks: Sequence[Track], detail: dict[str, object], what: str) -> RuleHit:
        where = f"rule '{self.rule.id}'" + (f", zone '{self.rule.zone}'" if self.rule.zone else "")
        return RuleHit(
            rule_id=self.rule.id,
            kind=self.rule.kind,
            zone=self.rule.zone,
            at=frame.at,
            wall=frame.wall,
            track_ids=tuple(t.id for t in tracks),
            boxes=tuple(t.detection for t in tracks),
            detail=detail,
            message=f"{what} ({where}).",
        )


class _Area:
    """A scaled polygon, or the whole picture when None."""

    def __init__(self, polygon: Sequence[Point] | None, sx: float, sy: float) -> None:
        self.polygon = geometry.scale(polygon, sx, sy) if polygon is not None else None

    def contains(self, p: Point) -> bool:
        return self.polygon is None or geometry.contains(self.polygon, p)


def _people(n: int) -> str:
    return f"{n} person" if n == 1 else f"{n} people"


def _take_due(episodes: dict[int, _Episode], candidates: list[Track], now: float, threshold: float) -> list[Track]:
    """The candidates whose episode has lasted `threshold` and not fired yet; marks them fired, so a
    hit swallowed by the cooldown still counts as reported."""
    due = [t for t in candidates if not episodes[t.id].fired and now - episodes[t.id].since >= threshold]
    for t in due:
        episodes[t.id].fired = True
    return due


def _end_episodes(episodes: dict[int, _Episode], alive: set[int], now: float, still: set[int]) -> None:
    """Drop the episodes of dead tracks and of tracks out of the condition for more than GRACE_S."""
    for tid in list(episodes):
        if tid not in alive or (tid not in still and now - episodes[tid].last_in > GRACE_S):
            del episodes[tid]


class _DwellCheck(_Check[D]):
    """Intrusion and loitering: one track staying in an area for a while."""

    def __init__(self, rule: D, area: _Area, threshold: float) -> None:
        super().__init__(rule)
        self.area = area
        self.threshold = threshold
        self.episodes: dict[int, _Episode] = {}

    def reset(self) -> None:
        self.episodes.clear()

    def update(self, frame: _Frame) -> list[RuleHit]:
        inside = [t for t in frame.tracks if self.area.contains(t.foot)]
        for t in inside:
            episode = self.episodes.setdefault(t.id, _Episode(since=frame.now, last_in=frame.now))
            episode.last_in = frame.now
        _end_episodes(self.episodes, {t.id for t in frame.tracks}, frame.now, {t.id for t in inside})
        due = _take_due(self.episodes, inside, frame.now, self.threshold)
        if not due or not self._admit(frame.now):
            return []
        return [self._report(frame, inside, due)]

    @abstractmethod
    def _report(self, frame: _Frame, inside: list[Track], due: list[Track]) -> RuleHit: ...

    def _longest(self, tracks: list[Track], now: float) -> float:
        return round(max(now - self.episodes[t.id].since for t in tracks), 1)


class _Intrusion(_DwellCheck[IntrusionRule]):
    def _report(self, frame: _Frame, inside: list[Track], due: list[Track]) -> RuleHit:
        longest = self._longest(inside, frame.now)
        detail: dict[str, object] = {"inside_s": longest, "count": len(inside)}
        return self._hit(frame, inside, detail, f"Intrusion: {_people(len(inside))} inside the area")


class _Loitering(_DwellCheck[LoiteringRule]):
    def _report(self, frame: _Frame, inside: list[Track], due: list[Track]) -> RuleHit:
        longest = self._longest(due, frame.now)
        what = f"Loitering: {_people(len(due))} stayed at least {self.threshold:g} s (longest {longest:g} s)"
        return self._hit(frame, due, {"dwell_s": longest}, what)


class _Crowding(_Check[CrowdingRule]):
    def __init__(self, rule: CrowdingRule, area: _Area) -> None:
        super().__init__(rule)
        self.area = area
        self.episode: _Episode | None = None

    def reset(self) -> None:
        self.episode = None

    def update(self, frame: _Frame) -> list[RuleHit]:
        inside = [t for t in frame.tracks if frame.at - t.last_seen <= CROWD_RECENT_S and self.area.contains(t.foot)]
        limit = self.rule.max_people
        if len(inside) <= limit:
            if self.episode is not None and frame.now - self.episode.last_in >= CROWD_CALM_S:
                self.episode = None
            return []
        if self.episode is None:
            self.episode = _Episode(since=frame.now, last_in=frame.now)
        self.episode.last_in = frame.now
        if self.episode.fired or frame.now - self.episode.since < self.rule.min_seconds:
            return []
        self.episode.fired = True
        if not self._admit(frame.now):
            return []
        detail: dict[str, object] = {"count": len(inside), "limit": limit}
        return [self._hit(frame, inside, detail, f"Crowding: {_people(len(inside))} where at most {limit} may be")]


def posture(det: Detection) -> tuple[bool, dict[str, object]]:
    """(lying?, how it was judged): torso angle from keypoints, else the box aspect ratio."""
    kp = det.keypoints
    if kp is not None and len(kp) > max(_HIPS):
        shoulders = [kp[i] for i in _SHOULDERS if kp[i][2] >= KEYPOINT_CONF]
        hips = [kp[i] for i in _HIPS if kp[i][2] >= KEYPOINT_CONF]
        if shoulders and hips:
            sx = sum(float(p[0]) for p in shoulders) / len(shoulders)
            sy = sum(float(p[1]) for p in shoulders) / len(shoulders)
            hx = sum(float(p[0]) for p in hips) / len(hips)
            hy = sum(float(p[1]) for p in hips) / len(hips)
            if math.hypot(hx - sx, hy - sy) >= 1.0:  # a torso of no length has no direction
                angle = math.degrees(math.atan2(abs(hx - sx), abs(hy - sy)))
                return angle > LYING_ANGLE, {"torso_angle": round(angle, 1)}
    aspect = det.width / det.height if det.height > 0 else math.inf
    return aspect > LYING_ASPECT, {"aspect": round(aspect, 2) if math.isfinite(aspect) else None}


class _Fall(_Check[FallRule]):
    def __init__(self, rule: FallRule, area: _Area) -> None:
        super().__init__(rule)
        self.area = area
        self.episodes: dict[int, _Episode] = {}
        self.upright: set[int] = set()  # tracks seen standing at some time

    def reset(self) -> None:
        self.episodes.clear()
        self.upright.clear()

    def update(self, frame: _Frame) -> list[RuleHit]:
        lying: list[Track] = []
        for t in frame.tracks:
            down, how = posture(t.detection)
            if not down:
                self.upright.add(t.id)
            elif self.area.contains(t.foot):
                episode = self.episodes.setdefault(t.id, _Episode(since=frame.now, last_in=frame.now))
                episode.last_in = frame.now
                episode.detail = how
                lying.append(t)
        alive = {t.id for t in frame.tracks}
        _end_episodes(self.episodes, alive, frame.now, {t.id for t in lying})
        self.upright &= alive
        due = _take_due(self.episodes, lying, frame.now, self.rule.min_seconds)
        if not due or not self._admit(frame.now):
            return []
        first = self.episodes[due[0].id]
        detail = {**first.detail, "was_upright": due[0].id in self.upright}
        what = f"Possible fall: {_people(len(due))} lying for at least {self.rule.min_seconds:g} s"
        return [self._hit(frame, due, detail, what)]


class _Line(_Check[LineCrossingRule]):
    def __init__(self, rule: LineCrossingRule, sx: float, sy: float, margin: float) -> None:
        super().__init__(rule)
        self.a = geometry.scale_point(rule.line[0], sx, sy)
        self.b = geometry.scale_point(rule.line[1], sx, sy)
        self.margin = margin
        dx, dy = self.b[0] - self.a[0], self.b[1] - self.a[1]
        self.names: dict[int, str]
        if rule.towards is not None:
            self.names = {geometry.side(self.a, self.b, geometry.scale_point(rule.towards, sx, sy)): "towards"}
        elif abs(dx) >= abs(dy):
            down = 1 if dx > 0 else -1  # the side of a point straight below the line
            self.names = {down: "down", -down: "up"}
        else:
            right = 1 if dy < 0 else -1  # the side of a point straight right of the line
            self.names = {right: "right", -right: "left"}
        self.counts = dict.fromkeys(self.names.values(), 0)
        self.sides: dict[int, tuple[int, Point]] = {}  # track -> last clear side and the point there
        self.track_hits: dict[int, float] = {}

    def reset(self) -> None:
        self.sides.clear()

    def update(self, frame: _Frame) -> list[RuleHit]:
        alive = {t.id for t in frame.tracks}
        for table in (self.sides, self.track_hits):
            for tid in [k for k in table if k not in alive]:
                del table[tid]
        hits: list[RuleHit] = []
        for t in frame.tracks:
            if t.last_seen < frame.at:
                continue  # missed this frame: its box is old, not a new position
            direction = self._crossing(t)
            if direction is None:
                continue
            self.counts[direction] += 1
            last = self.track_hits.get(t.id)
            if last is not None and frame.now - last < self.rule.cooldown_s:
                continue
            self.track_hits[t.id] = frame.now
            self.last_hit = frame.now
            verb = (
                "crossed the line in the watched direction" if direction == "towards" else f"crossed going {direction}"
            )
            hits.append(self._hit(frame, [t], {"direction": direction}, f"Line crossing: track {t.id} {verb}"))
        return hits

    def _crossing(self, t: Track) -> str | None:
        p = t.foot
        now_side = geometry.side(self.a, self.b, p, self.margin)
        if now_side == 0:
            return None
        before = self.sides.get(t.id)
        self.sides[t.id] = (now_side, p)
        if before is None or before[0] == now_side:
            return None
        if not geometry.segments_intersect(before[1], p, self.a, self.b):
            return None  # went round the end of the line
        return self.names.get(now_side)


class RuleEngine:
    """One camera's rules, evaluated frame by frame on tracked persons."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        config_size: tuple[int, int] | None,
        frame_size: tuple[int, int],
        tz: zoneinfo.ZoneInfo,
        line_margin_px: float | None = None,
    ) -> None:
        fw, fh = frame_size
        cw, ch = config_size or frame_size
        if min(fw, fh, cw, ch) <= 0:
            raise ValueError("picture sizes must be positive")
        sx, sy = fw / cw, fh / ch
        if line_margin_px is None:
            line_margin_px = max(LINE_MARGIN_MIN_PX, LINE_MARGIN_SHARE * math.hypot(fw, fh))
        self.tz = tz
        self._checks = [_build(rule, sx, sy, line_margin_px) for rule in rules]
        self._last_at: float | None = None
        self._offset = 0.0

    def counts(self) -> dict[str, dict[str, int]]:
        """Line crossings so far per line rule and direction."""
        return {c.rule.id: dict(c.counts) for c in self._checks if isinstance(c, _Line)}

    def update(self, tracks: Sequence[Track], at: float, wall: float) -> list[RuleHit]:
        frame = _Frame([t for t in tracks if t.confirmed], self._clock(at), at, wall)
        local = datetime.fromtimestamp(wall, self.tz)
        minute = local.hour * 60 + local.minute
        hits: list[RuleHit] = []
        for check in self._checks:
            if check.window is not None and not in_schedule(check.window, minute):
                check.reset()
            else:
                hits.extend(check.update(frame))
        return hits

    def _clock(self, at: float) -> float:
        if self._last_at is not None and at < self._last_at:
            self._offset += self._last_at - at
        self._last_at = at
        return at + self._offset


def _build(rule: Rule, sx: float, sy: float, margin: float) -> _Intrusion | _Loitering | _Crowding | _Fall | _Line:
    if isinstance(rule, IntrusionRule):
        return _Intrusion(rule, _Area(rule.polygon, sx, sy), rule.min_seconds)
    if isinstance(rule, LoiteringRule):
        return _Loitering(rule, _Area(rule.polygon, sx, sy), rule.dwell_s)
    if isinstance(rule, CrowdingRule):
        return _Crowding(rule, _Area(rule.polygon, sx, sy))
    if isinstance(rule, FallRule):
        return _Fall(rule, _Area(rule.polygon, sx, sy))
    return _Line(rule, sx, sy, margin)
