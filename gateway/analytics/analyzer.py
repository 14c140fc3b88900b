"""One camera's analysis, without threads: which frames deserve the detector, and what its
detections mean once tracked and judged by the camera's rules.

The live service splits the two halves across threads (gating in the camera's feeder thread,
tracking and rules in the detector thread); the offline `gateway detect` runs them in a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from gateway.analytics.frames import Frame, Motion, MotionGate
from gateway.analytics.geometry import Point, scale
from gateway.analytics.regions import Look, RegionCounters, detect_regions, plan
from gateway.analytics.rules import RuleEngine, RuleHit
from gateway.analytics.tracker import LOW_SCORE, Track, Tracker
from gateway.config.analytics import AnalyticsConfig, CameraAnalytics, LineCrossingRule
from models.base import Box, Detection, Detector

# How often people who stand still are looked at again: often enough that the tracker (which
# forgets a person after two seconds unseen) keeps them, half the cost of the full rate.
STILL_INTERVAL_S = 1.0


def detector_confidence(settings: AnalyticsConfig) -> float:
    """The score to load the detector with: low enough for the tracker's second association."""
    return min(settings.detector.confidence, LOW_SCORE)


def persons(detections: list[Detection], settings: AnalyticsConfig) -> list[Detection]:
    """The detections that count as people: at or above the configured confidence."""
    return [d for d in detections if d.score >= settings.detector.confidence]


def trails(tracks: list[Track], looks: int = 3) -> list[Box]:
    """Where each tracked person stood in their last looks: their box now, moved to each foot point."""
    out: list[Box] = []
    for t in tracks:
        w, h = t.detection.width, t.detection.height
        for _at, (fx, fy) in list(t.history)[-looks:]:
            out.append((fx - w / 2, fy - h, fx + w / 2, fy))
    return out


@dataclass
class AnalyzerCounters:
    frames: int = 0  # sampled frames offered to the gate
    motion: int = 0  # of those, with motion
    refreshes: int = 0  # sent to the detector without motion, because a refresh was due
    tracking: int = 0  # sent without motion, because people were being tracked
    detected: int = 0  # frames the detector ran on
    persons: int = 0  # detections, summed
    hits: int = 0  # rule hits


class CameraAnalyzer:
    def __init__(
        self,
        camera_id: str,
        analytics: CameraAnalytics,
        settings: AnalyticsConfig,
        *,
        tz: ZoneInfo,
        expected_size: tuple[int, int] | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.analytics = analytics
        self._settings = settings
        self._tz = tz
        self._config_size = analytics.size() or expected_size
        self._gate = MotionGate(settings.motion)
        # The detector is asked for boxes down to LOW_SCORE (detector_confidence): those under the
        # configured confidence only keep existing tracks alive (a person half hidden by another).
        self._tracker = Tracker(high_score=settings.detector.confidence)
        self._engine: RuleEngine | None = None
        self._frame_size: tuple[int, int] | None = None
        self._last_detect_at: float | None = None
        self._last_full_at: float | None = None
        self.last_motion: Motion | None = None
        self.counters = AnalyzerCounters()
        self.regions = RegionCounters()

    # -- the feeder's half -------------------------------------------------------------------------

    def look(self, frame: Frame) -> Look | None:
        """What the detector should look at in this frame, or None: motion, people still being
        tracked, or a refresh due. Cheap: runs on every sampled frame."""
        self.counters.frames += 1
        motion = self.last_motion = self._gate.check(frame.image)
        since = None if self._last_detect_at is None else frame.at - self._last_detect_at
        refresh = self._settings.motion.refresh_s
        # The whole frame now and then, moving or not: someone who came in unseen (during a gap, or
        # too slowly for the gate) is in no region until the whole picture is looked at.
        full = not self._settings.detector.regions or (
            self._last_full_at is None or (refresh > 0 and frame.at - self._last_full_at >= refresh)
        )
        if not self._settings.motion.enabled or motion.moving:
            self.counters.motion += motion.moving
            return Look(motion.boxes, full)
        if self._tracker.tracks() and (since is None or since >= STILL_INTERVAL_S):
            # A person standing still makes no motion but must stay tracked (loitering, falls).
            self.counters.tracking += 1
            return Look((), full)
        if refresh > 0 and (since is None or since >= refresh):
            self.counters.refreshes += 1
            return Look((), True)
        return None

    # -- the detector's half -----------------------------------------------------------------------

    def detect(self, detector: Detector, frame: Frame, look: Look) -> list[Detection]:
        """Run the detector where `look` says, in regions around the motion and the tracked people
        when it can (gateway/analytics/regions.py): detections in frame pixels either way."""
        h, w = frame.image.shape[:2]
        regions = None
        if not look.full:
            tracks = self._tracker.tracks()
            tracked = [t.predicted(frame.at) for t in tracks]
            d = self._settings.detector
            regions = plan(
                tracked, look.motion, (w, h), detector.input_size, d.region_zoom, d.max_regions, trails(tracks)
            )
        if regions is None:
            self.regions.full += 1
            self._last_full_at = frame.at
            return detector.detect(frame.image)
        return detect_regions(detector, frame.image, regions, self.regions)

    def analyse(self, frame: Frame, detections: list[Detection], wall: float) -> tuple[list[Track], list[RuleHit]]:
        """Track these detections (from `frame`) and judge them; wall: the frame's epoch time."""
        self._last_detect_at = frame.at
        self.counters.detected += 1
        self.counters.persons += len(persons(detections, self._settings))
        h, w = frame.image.shape[:2]
        if self._engine is None or self._frame_size != (w, h):
            # The first frame (or a resolution change after a camera reconfiguration) fixes the scale.
            self._frame_size = (w, h)
            self._engine = RuleEngine(
                self.analytics.rules, config_size=self._config_size, frame_size=(w, h), tz=self._tz
            )
        tracks = self._tracker.update(detections, frame.at, (w, h))
        hits = self._engine.update(tracks, frame.at, wall)
        self.counters.hits += len(hits)
        return tracks, hits

    def counts(self) -> dict[str, dict[str, int]]:
        return self._engine.counts() if self._engine is not None else {}

    def overlay(self, rule_id: str) -> list[list[Point]]:
        """The rule's polygon or line in frame pixels, to draw on its snapshot."""
        rule = next((r for r in self.analytics.rules if r.id == rule_id), None)
        if rule is None or self._frame_size is None:
            return []
        sx, sy = 1.0, 1.0
        if self._config_size is not None:
            sx = self._frame_size[0] / self._config_size[0]
            sy = self._frame_size[1] / self._config_size[1]
        if isinstance(rule, LineCrossingRule):
            return [scale(list(rule.line), sx, sy)]
        return [scale(rule.polygon, sx, sy)] if rule.polygon else []
