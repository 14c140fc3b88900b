"""The live analytics: a feeder thread per analysed camera, one detector thread for all of them.

Feeder: packets (the camera's bus, or its own sub-stream session) -> decode -> sample at the
analysis rate -> motion gate -> the camera's slot. Each camera has ONE slot: a frame that is
still waiting when the next one comes is replaced and counted as dropped, so a busy detector
sheds load evenly instead of falling behind (Frigate's habit). Detector: serves the cameras
in turn, detects, tracks, judges rules, stores events with their snapshots.

Optional at run time: if the detector cannot load (no onnxruntime, model missing or altered),
the service says why in its status and the log, and the rest of the gateway runs on.

Storage may fail (disk full, database gone): events that cannot be written wait in memory, in the
order they fired, with their snapshots, up to HELD_EVENTS_MAX; the detector thread retries every
HOLD_RETRY_S and before storing any newer event, so the events table keeps the order they fired in.
Past the bound the oldest held event is dropped, counted and logged. The status says `storage: failed`
while events wait.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from adapters.common.media import Packet
from gateway.analytics.analyzer import CameraAnalyzer, detector_confidence
from gateway.analytics.events import Event, EventBox, EventStore
from gateway.analytics.frames import Frame, FrameSampler
from gateway.analytics.regions import Look
from gateway.analytics.rules import RuleHit
from gateway.analytics.snapshot import event_label, render_snapshot
from gateway.config import CameraConfig, GatewayConfig
from gateway.errors import GatewayError
from gateway.pipeline.bus import BlockingSubscription, PacketBus
from gateway.streams.hub import StreamHub
from gateway.tasks import Watchdog
from models.base import Detection, Detector, RuntimeChoice
from models.errors import ModelError
from models.registry import load_detector

log = logging.getLogger(__name__)

# Packets a camera's feeder may fall behind before the oldest are dropped: about two seconds of
# 25 fps video. Dropping means waiting for the next keyframe, so this is a last resort.
FEED_QUEUE = 50
SUB_RETRY_S = (2.0, 30.0)
STOP_WAIT_S = 5.0
# Unstored events held in memory while storage fails. A held event carries its JPEG (tens to a few
# hundred KiB), so 200 bound the hold to tens of MiB: minutes of a busy site's events.
HELD_EVENTS_MAX = 200
HOLD_RETRY_S = 2.0

DetectorFactory = Callable[[GatewayConfig], Detector]


# The counters of a camera's status (below), zero before its feed runs.
_COUNTERS = (
    "decoded_frames",
    "sampled_frames",
    "decode_errors",
    "motion_frames",
    "detected_frames",
    "whole_frames",
    "region_frames",
    "region_inferences",
    "dropped_busy",
    "dropped_packets",
    "persons_detected",
    "events",
    "events_held",
    "events_dropped",
)


def detector_from_config(config: GatewayConfig) -> Detector:
    d = config.analytics.detector
    return load_detector(
        d.backend,
        model=d.model,
        models_dir=d.models_dir,
        threads=d.threads,
        confidence=detector_confidence(config.analytics),  # low boxes for the tracker's second matching
        runtime=d.runtime,
    )


def analysed_cameras(config: GatewayConfig) -> list[CameraConfig]:
    if not config.analytics.enabled:
        return []
    return [c for c in config.cameras if c.enabled and c.analytics is not None and c.analytics.enabled]


def cameras_needing_packets(config: GatewayConfig) -> set[str]:
    """Cameras whose main-stream packets analytics read from the bus, so must be read in-process."""
    return {c.id for c in analysed_cameras(config) if c.analytics is not None and c.analytics.stream == "main"}


@dataclass
class CameraFeed:
    camera: CameraConfig
    analyzer: CameraAnalyzer
    sampler: FrameSampler | None = None
    dropped_busy: int = 0  # frames replaced in the slot before the detector took them
    dropped_packets: int = 0  # packets the feeder fell behind on
    events: int = 0
    events_held: int = 0  # waiting in memory for storage to work again
    events_dropped: int = 0  # lost: storage failed and the hold was full, or the store refused them
    last_error: str | None = None
    connected: bool = False


@dataclass
class HeldEvent:
    feed: CameraFeed
    event: Event
    jpeg: bytes | None
    message: str


@dataclass
class DetectorStats:
    runs: int = 0
    errors: int = 0
    busy_s: float = 0.0
    recent_ms: deque[float] = field(default_factory=lambda: deque(maxlen=200))
    # From the frame's packet arriving to its detections being judged: what an alarm waits for.
    recent_lag_ms: deque[float] = field(default_factory=lambda: deque(maxlen=200))


class AnalyticsService:
    def __init__(
        self,
        config: GatewayConfig,
        buses: dict[str, PacketBus],
        events: EventStore,
        *,
        detector_factory: DetectorFactory = detector_from_config,
        watchdog: Watchdog | None = None,
        streams: StreamHub | None = None,
    ) -> None:
        self._watchdog = watchdog or Watchdog()
        self._streams = streams  # where sub streams come from, shared with live view
        self._config = config
        self._buses = buses
        self._events = events
        self._detector_factory = detector_factory
        self._loading: asyncio.Task[None] | None = None
        self._detector: Detector | None = None
        self._tz = ZoneInfo(config.site.timezone)
        self._feeds: dict[str, CameraFeed] = {}
        self._slots: dict[str, tuple[Frame, Look]] = {}
        self._served: dict[str, float] = {}
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._subs: list[BlockingSubscription] = []
        self.state = "off"  # off | loading | running | unavailable | stopped
        self.problem: str | None = None
        self.detector_stats = DetectorStats()
        self._started = time.monotonic()
        self._listeners: list[Callable[[Event], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        # Only the detector thread touches the hold; status() reads lengths and counters.
        self._held: deque[HeldEvent] = deque()
        self._retry_at = 0.0
        self.storage_error: str | None = None
        self.storage_failed_since: float | None = None
        self.events_dropped = 0

    def on_event(self, listener: Callable[[Event], None]) -> None:
        """Call `listener(event)` on the event loop for every stored event (uplinks, alarms)."""
        self._listeners.append(listener)

    @property
    def enabled(self) -> bool:
        return bool(analysed_cameras(self._config))

    async def start(self) -> None:
        """Starts loading the detector and returns: `ready()` waits for it.

        Loading a model (and timing its runtimes, for `runtime: auto`) takes a second or more; the
        gateway's API, camera health and uplinks do not wait for it. A gateway restarted after a crash
        answered 1.5-2 s later while it did, and the outage looked longer than the gateway's own gap.
        """
        cameras = analysed_cameras(self._config)
        if not cameras:
            return
        self._loop = asyncio.get_running_loop()
        self.state = "loading"
        self._loading = asyncio.create_task(self._load(cameras), name="analytics-load")

    async def ready(self) -> None:
        """Waits until the detector has loaded (or failed to) and the feeds run."""
        if self._loading is not None:
            await asyncio.shield(self._loading)

    async def _load(self, cameras: list[CameraConfig]) -> None:
        try:
            detector = await asyncio.to_thread(self._detector_factory, self._config)
        except ModelError as exc:
            self.state, self.problem = "unavailable", str(exc)
            log.error("analytics unavailable, the rest of the gateway runs on: %s", exc)
            return
        except Exception as exc:
            # Anything else a backend raises: reported in the status and the log, never silent.
            self.state, self.problem = "unavailable", f"the detector failed to load: {exc!r}"
            log.exception("analytics unavailable, the rest of the gateway runs on")
            return
        if self._stop.is_set():
            # Stopped while the model loaded: nothing is started.
            detector.close()
            self.state = "stopped"
            return
        self._detector = detector
        log.info("analytics: %s on %d camera(s)", self._detector.name, len(cameras))
        for camera in cameras:
            assert camera.analytics is not None
            expected = camera.expected.resolution
            analyzer = CameraAnalyzer(
                camera.id,
                camera.analytics,
                self._config.analytics,
                tz=self._tz,
                expected_size=(expected.width, expected.height) if expected else None,
            )
            feed = self._feeds[camera.id] = CameraFeed(camera, analyzer)
            if camera.analytics.stream == "main":
                sub = self._buses[camera.id].subscribe_blocking("analytics", FEED_QUEUE)
                self._subs.append(sub)
                self._spawn(functools.partial(self._feed_from_bus, feed, sub), f"analytics-{camera.id}")
            else:
                self._spawn(functools.partial(self._feed_from_sub_stream, feed), f"analytics-{camera.id}")
        self._spawn(self._detect_loop, "analytics-detector")
        self.state = "running"

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        self._threads.append(self._watchdog.thread(name, target, self._stop))

    async def stop(self) -> None:
        self._stop.set()
        if self._loading is not None:
            await self.ready()
        for sub in self._subs:
            sub.close()
        with self._ready:
            self._ready.notify_all()
        # One deadline for all: a sub-stream feeder can sit in a socket read until its timeout, and
        # they are daemon threads, so a slow one is left behind rather than holding up shutdown.
        deadline = time.monotonic() + STOP_WAIT_S
        for thread in self._threads:
            await asyncio.to_thread(thread.join, max(0.0, deadline - time.monotonic()))
        if self._detector is not None:
            self._detector.close()
        if self.state == "running":
            self.state = "stopped"

    # -- feeders -----------------------------------------------------------------------------------

    def _feed_from_bus(self, feed: CameraFeed, sub: BlockingSubscription) -> None:
        bus = self._buses[feed.camera.id]
        seen_dropped = 0
        info = None
        while not self._stop.is_set():
            packet = sub.get(0.5)
            if packet is None:
                continue
            if bus.info is not info or feed.sampler is None:
                # A new session (reconnect, new parameters): a fresh decoder from its first keyframe.
                info = bus.info
                if info is None:
                    continue
                feed.sampler = self._new_sampler(feed, info)
                if feed.sampler is None:
                    continue
            if sub.dropped != seen_dropped:
                feed.dropped_packets += sub.dropped - seen_dropped
                seen_dropped = sub.dropped
                feed.sampler.gap()
            feed.connected = True
            self._offer(feed, packet)

    def _feed_from_sub_stream(self, feed: CameraFeed) -> None:
        """The camera's sub stream from the StreamHub: one RTSP session shared with live view; the hub
        opens it for the first consumer and closes it after the last. Retried with backoff when it ends."""
        camera = feed.camera
        delay = SUB_RETRY_S[0]
        while not self._stop.is_set():
            hub, loop = self._streams, self._loop
            if hub is None or loop is None:
                feed.last_error = "sub stream: no stream hub"
                return
            hub_feed = None
            sub: BlockingSubscription | None = None
            try:
                hub_feed, info = asyncio.run_coroutine_threadsafe(hub.acquire(camera, "sub"), loop).result()
                sub = hub_feed.subscribe_blocking("analytics", FEED_QUEUE)
                feed.sampler = self._new_sampler(feed, info)
                if feed.sampler is None:
                    return
                feed.connected, feed.last_error, delay = True, None, SUB_RETRY_S[0]
                while not self._stop.is_set():
                    packet = sub.get(timeout=0.5)
                    if packet is None:
                        if sub.closed:
                            feed.last_error = f"sub stream: {hub_feed.error or 'ended'}"
                            break
                        continue
                    self._offer(feed, packet)
            except GatewayError as exc:
                feed.last_error = f"sub stream: {exc}"
            except Exception as exc:  # one camera's analysis must not end the others'
                log.exception("analytics: camera %s sub stream failed", camera.id)
                feed.last_error = f"sub stream: internal error {type(exc).__name__}"
            finally:
                if sub is not None:
                    sub.close()
                if hub_feed is not None:
                    loop.call_soon_threadsafe(hub.release, hub_feed)
            feed.connected = False
            self._stop.wait(delay)
            delay = min(delay * 2, SUB_RETRY_S[1])

    def _new_sampler(self, feed: CameraFeed, info: Any) -> FrameSampler | None:
        assert feed.camera.analytics is not None
        try:
            return FrameSampler(info, feed.camera.analytics.fps or self._config.analytics.fps)
        except ValueError as exc:
            feed.last_error = str(exc)
            return None

    def _offer(self, feed: CameraFeed, packet: Packet) -> None:
        assert feed.sampler is not None
        try:
            frame = feed.sampler.offer(packet)
            look = None if frame is None else feed.analyzer.look(frame)
            if frame is None or look is None:
                return
        except Exception as exc:  # noqa: BLE001 - a bad frame costs that frame, never the feeder
            feed.last_error = f"frame: {type(exc).__name__}: {exc}"
            feed.sampler.gap()
            return
        cid = feed.camera.id
        with self._ready:
            if cid in self._slots:
                feed.dropped_busy += 1
            self._slots[cid] = (frame, look)
            self._ready.notify()

    # -- the detector ------------------------------------------------------------------------------

    def _detect_loop(self) -> None:
        try:
            self._detect_frames()
        finally:
            # A last try, so that a clean stop after the disk was freed loses nothing.
            if self._held:
                self._flush_held()
            if self._held:
                lost = len(self._held)
                for item in self._held:
                    item.feed.events_held -= 1
                    item.feed.events_dropped += 1
                self.events_dropped += lost
                self._held.clear()
                log.error(
                    "analytics: LOST %d held event(s) at shutdown: storage still fails (%s)", lost, self.storage_error
                )

    def _detect_frames(self) -> None:
        assert self._detector is not None
        while not self._stop.is_set():
            if self._held and time.monotonic() >= self._retry_at:
                self._flush_held()
            with self._ready:
                while not self._slots and not self._stop.is_set():
                    self._ready.wait(0.5)
                    if self._held and time.monotonic() >= self._retry_at:
                        break
                if self._stop.is_set():
                    return
                if not self._slots:
                    continue
                # The camera served longest ago goes first. (Not the oldest frame: a camera whose slot
                # is refreshed just before each pick would always hold the newest one and starve.)
                cid = min(self._slots, key=lambda c: self._served.get(c, 0.0))
                frame, look = self._slots.pop(cid)
                self._served[cid] = time.monotonic()
            feed = self._feeds[cid]
            t0 = time.perf_counter()
            try:
                detections = feed.analyzer.detect(self._detector, frame, look)
            except Exception as exc:  # noqa: BLE001 - a frame the model chokes on is skipped, counted
                self.detector_stats.errors += 1
                feed.last_error = f"detector: {type(exc).__name__}: {exc}"
                continue
            spent = time.perf_counter() - t0
            stats = self.detector_stats
            stats.runs += 1
            stats.busy_s += spent
            stats.recent_ms.append(spent * 1000)
            wall = time.time() - (time.monotonic() - frame.arrival)
            try:
                _tracks, hits = feed.analyzer.analyse(frame, detections, wall)
            except Exception as exc:  # a rule bug costs this frame, not the camera
                log.exception("analytics: camera %s rules failed", cid)
                feed.last_error = f"rules: {type(exc).__name__}"
                continue
            stats.recent_lag_ms.append((time.monotonic() - frame.arrival) * 1000)
            for hit in hits:
                self._store(feed, frame, hit)

    def _store(self, feed: CameraFeed, frame: Frame, hit: RuleHit) -> None:
        event = event_from_hit(feed.camera.id, hit, frame)
        try:
            jpeg = render_snapshot(
                frame.image,
                event.boxes,
                label=event_label(hit.kind, hit.rule_id, hit.wall, self._tz),
                overlays=feed.analyzer.overlay(hit.rule_id),
                quality=self._config.analytics.snapshot_quality,
            )
        except Exception as exc:  # noqa: BLE001 - an event without its picture beats no event
            log.warning("analytics: snapshot of %s failed: %s", feed.camera.id, exc)
            jpeg = None
        log.info("event: camera %s: %s", feed.camera.id, hit.message)
        item = HeldEvent(feed, event, jpeg, hit.message)
        # Older held events go first (one try while storage still fails), so order is kept.
        if self._held:
            self._flush_held()
        if self._held or self._write(item) is False:
            self._hold(item)

    def _write(self, item: HeldEvent) -> bool | None:
        """Store one event: True when stored, False when storage failed (worth retrying), None when
        the store refused it for good (a bug in the event, not the disk) and it was dropped."""
        feed = item.feed
        try:
            event_id = self._events.add(item.event, item.jpeg)
        except (IntegrityError, DataError, ValueError) as exc:
            self.events_dropped += 1
            feed.events_dropped += 1
            feed.last_error = f"event refused: {type(exc).__name__}"
            log.error("analytics: event of %s refused by the store, dropped: %s", feed.camera.id, exc)
            return None
        except (SQLAlchemyError, OSError) as exc:
            self._storage_failed(feed, exc)
            return False
        feed.events += 1
        self._announce(replace(item.event, id=event_id, has_snapshot=item.jpeg is not None))
        return True

    def _storage_failed(self, feed: CameraFeed, exc: BaseException) -> None:
        reason = _storage_reason(exc)
        if self.storage_error != reason:
            log.error(
                "analytics: cannot store events (%s); holding up to %d in memory, retrying every %g s",
                reason,
                HELD_EVENTS_MAX,
                HOLD_RETRY_S,
            )
        self.storage_error = reason
        if self.storage_failed_since is None:
            self.storage_failed_since = time.time()
        feed.last_error = f"event store failed: {reason}"
        self._retry_at = time.monotonic() + HOLD_RETRY_S

    def _hold(self, item: HeldEvent) -> None:
        if len(self._held) >= HELD_EVENTS_MAX:
            # The oldest goes, as in the outbox: what is held stays in order, the newest survive.
            old = self._held.popleft()
            old.feed.events_held -= 1
            old.feed.events_dropped += 1
            self.events_dropped += 1
            log.error(
                "analytics: storage has failed (%s) and %d event(s) wait in memory: LOST the oldest, of camera "
                "%s at %.3f (%d lost so far)",
                self.storage_error,
                HELD_EVENTS_MAX,
                old.feed.camera.id,
                old.event.at,
                self.events_dropped,
            )
        self._held.append(item)
        item.feed.events_held += 1
        log.warning(
            "analytics: event of %s held in memory (%d waiting), storage failed: %s",
            item.feed.camera.id,
            len(self._held),
            self.storage_error,
        )

    def _flush_held(self) -> None:
        """Store held events oldest first; stop at the first that still fails."""
        while self._held:
            item = self._held[0]
            outcome = self._write(item)
            if outcome is False:
                return
            # Storage is back from the first write that works, before the held count reaches zero:
            # a reader that sees nothing held must not see storage still failed.
            self._storage_back(len(self._held))
            self._held.popleft()
            item.feed.events_held -= 1
        self._storage_back(0)

    def _storage_back(self, held: int) -> None:
        if self.storage_error is None:
            return
        log.warning(
            "analytics: storage works again after %s (%.1f s); storing %d held event(s)",
            self.storage_error,
            time.time() - (self.storage_failed_since or time.time()),
            held,
        )
        for feed in self._feeds.values():
            if (feed.last_error or "").startswith("event store failed"):
                feed.last_error = None
        self.storage_error = None
        self.storage_failed_since = None

    def _announce(self, event: Event) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            for listener in self._listeners:
                # The detector thread stores; listeners live on the loop, like the rest of the gateway.
                loop.call_soon_threadsafe(_notify, listener, event)

    @property
    def events_held(self) -> int:
        return len(self._held)

    # -- status ------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        stats = self.detector_stats
        elapsed = max(time.monotonic() - self._started, 1e-9)
        recent, lag = list(stats.recent_ms), list(stats.recent_lag_ms)
        # Only the YOLO detectors have one; HOG and the tests' fakes do not.
        selection = getattr(self._detector, "selection", None)
        cameras = {}
        for cid, feed in self._feeds.items():
            s = feed.sampler.counters if feed.sampler is not None else None
            a = feed.analyzer.counters
            cameras[cid] = {
                "stream": feed.camera.analytics.stream if feed.camera.analytics else "main",
                "connected": feed.connected,
                "decoded_frames": s.decoded if s else 0,
                "sampled_frames": s.sampled if s else 0,
                "decode_errors": s.decode_errors if s else 0,
                "motion_frames": a.motion,
                "detected_frames": a.detected,
                # of those: looked at whole, or in regions, and the inferences the regions took
                "whole_frames": feed.analyzer.regions.full,
                "region_frames": feed.analyzer.regions.cropped,
                "region_inferences": feed.analyzer.regions.regions,
                "dropped_busy": feed.dropped_busy,
                "dropped_packets": feed.dropped_packets,
                "persons_detected": a.persons,
                "events": feed.events,
                "events_held": feed.events_held,
                "events_dropped": feed.events_dropped,
                "line_counts": feed.analyzer.counts(),
                "last_error": feed.last_error,
            }
        # While the detector loads the feeds do not exist yet: their cameras are listed, with nothing done.
        for camera in analysed_cameras(self._config) if self.state == "loading" else ():
            if camera.id not in cameras:
                cameras[camera.id] = {
                    **dict.fromkeys(_COUNTERS, 0),
                    "stream": camera.analytics.stream if camera.analytics else "main",
                    "connected": False,
                    "line_counts": {},
                    "last_error": None,
                }
        return {
            "state": self.state,
            "problem": self.problem,
            # storage: failed while detection events cannot be written and wait in memory.
            "storage": "failed" if self.storage_error else "ok",
            "storage_error": self.storage_error,
            "storage_failed_since": self.storage_failed_since,
            "events_held": len(self._held),
            "events_dropped": self.events_dropped,
            "detector": None
            if self._detector is None
            else {
                "name": self._detector.name,
                # which runtime runs the model, what was asked for, auto's figures, why a fallback
                "runtime": selection.to_json() if isinstance(selection, RuntimeChoice) else None,
                "runs": stats.runs,
                "errors": stats.errors,
                "median_ms": round(statistics.median(recent), 1) if recent else None,
                "median_lag_ms": round(statistics.median(lag), 1) if lag else None,
                "busy_percent": round(100 * stats.busy_s / elapsed, 1),
            },
            "cameras": cameras,
        }


_FACE_POINTS = 5  # COCO keypoints 0-4: nose, eyes, ears
_FACE_MIN_SCORE = 0.5


def head_box(det: Detection) -> tuple[float, float, float, float] | None:
    """The face region of a pose detection, when the face is turned to the camera (nose and an eye
    seen): a square around the visible face points, clipped to the person's box. Uplinks that take
    face records (GA/T 1400) crop it; None for box-only detectors and for heads seen from behind."""
    kp = det.keypoints
    if kp is None or len(kp) < _FACE_POINTS:
        return None
    seen = [(float(x), float(y)) for x, y, conf in kp[:_FACE_POINTS] if conf >= _FACE_MIN_SCORE]
    nose_seen = kp[0][2] >= _FACE_MIN_SCORE
    eye_seen = kp[1][2] >= _FACE_MIN_SCORE or kp[2][2] >= _FACE_MIN_SCORE
    if not (nose_seen and eye_seen) or len(seen) < 2:
        return None
    xs, ys = [p[0] for p in seen], [p[1] for p in seen]
    # Face points span about half a face; a floor of a sixth of the person's width keeps a profile
    # (points almost in a line) from giving a sliver.
    side = max(max(xs) - min(xs), max(ys) - min(ys)) * 2.0
    side = max(side, det.width / 6)
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    x1, y1 = max(det.x1, cx - side / 2), max(det.y1, cy - side / 2)
    x2, y2 = min(det.x2, cx + side / 2), min(det.y2, cy + side / 2)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return None
    return round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)


def event_from_hit(camera_id: str, hit: RuleHit, frame: Frame) -> Event:
    h, w = frame.image.shape[:2]
    boxes = tuple(
        EventBox(round(d.x1, 1), round(d.y1, 1), round(d.x2, 1), round(d.y2, 1), round(d.score, 3), tid)
        for d, tid in zip(hit.boxes, hit.track_ids, strict=False)
    )
    detail = dict(hit.detail)
    heads = [[*box, tid] for d, tid in zip(hit.boxes, hit.track_ids, strict=False) if (box := head_box(d)) is not None]
    if heads:
        detail["heads"] = heads
    return Event(
        id=None,
        camera_id=camera_id,
        rule_id=hit.rule_id,
        kind=hit.kind,
        zone_id=hit.zone,
        at=hit.wall,
        track_ids=hit.track_ids,
        boxes=boxes,
        detail=detail,
        message=hit.message,
        frame_width=w,
        frame_height=h,
        has_snapshot=False,
    )


def _storage_reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig)
    if "full" in text.lower() or getattr(orig, "errno", None) == errno.ENOSPC:
        return "disk full"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _notify(listener: Callable[[Event], None], event: Event) -> None:
    try:
        listener(event)
    except Exception:  # a listener's failure must not reach the loop's exception handler silently
        log.exception("analytics: event listener failed")
