"""Identity on real footage: the product's detector and tracker on vtest.avi and on the people clips.

    .venv/bin/python -m benchmarks.bench_tracking              # default model, 2 and 5 analysed fps
    .venv/bin/python -m benchmarks.bench_tracking --model yolo11n-pose-640 --json out.json

vtest.avi is PETS 2009 S2L1 (Debian's opencv-doc, extracted by `make setup`: 795 frames, 10 fps,
768x576), the sequence MOT 2015 publishes as PETS09-S2L1. Its ground truth is not installed anywhere
here (no PyPI package ships it, and nothing is downloaded), so vtest is scored without it: confirmed
track ids in all, ids that last at least a second, and ids per person against the 19 people of
MOT 2015's PETS09-S2L1 sequence statistics. The people clips (sim/people_clips.py) carry exact ground
truth, and are scored with CLEAR-MOT (MOTA, id switches) and IDF1, implemented below after Bernardin
& Stiefelhagen 2008 and Ristani et al. 2016 (a box matches at IoU >= 0.5).

Frames are taken from the decoded file at the analysed rate (every 5th frame at 2 fps): the motion
gate is left out, since people move through the whole of vtest and it would pass nearly every frame.
The detector runs once per frame with the tracker's low threshold; the baseline (the tracker before
issue 25, benchmarks/tracker_baseline.py) sees only the boxes at the configured confidence, as it did.
Detections are cached in var/bench_tracking/ so that reruns time only the trackers (--fresh redoes them).
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import av
import numpy as np

from benchmarks import tracker_baseline
from gateway.analytics.tracker import LOW_SCORE, Tracker, assign, iou
from gateway.config.analytics import AnalyticsConfig
from models.base import Detection, Image
from models.registry import load_detector
from sim.footage import VTEST, footage_path
from sim.people_clips import PEOPLE_CLIP_NAMES, PeopleClip, make_people_clips
from tests.support.clips import clip_dir, clips_locked

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "var" / "bench_tracking"
VTEST_PEOPLE = 19  # MOT 2015 sequence statistics of PETS09-S2L1: 19 ground-truth tracks
MATCH_IOU = 0.5
VISIBLE = 0.5  # ground-truth boxes less than this share inside the picture are neither hit nor missed


class AnyTracker(Protocol):
    def update(self, detections: Sequence[Detection], at: float, frame_size: tuple[int, int] | None = None) -> Any: ...


@dataclass
class Observed:
    """A tracker's output on one analysed frame: the confirmed tracks matched in it (id, box)."""

    at: float
    boxes: dict[int, tuple[float, float, float, float]]


@dataclass
class Run:
    frames: list[Observed] = field(default_factory=list)
    seen: dict[int, tuple[float, float]] = field(default_factory=dict)  # id -> first, last time reported
    update_ms: float = 0.0

    def summary(self) -> dict[str, float]:
        lasting = sum(1 for first, last in self.seen.values() if last - first >= 1.0)
        boxes = sum(len(f.boxes) for f in self.frames)
        return {"ids": len(self.seen), "ids_1s": lasting, "track_boxes": boxes, "tracker_ms": round(self.update_ms, 3)}


def track(
    make: Callable[[], AnyTracker], detections: list[tuple[float, list[Detection]]], size: tuple[int, int]
) -> Run:
    tracker, run = make(), Run()
    spent = 0.0
    for at, dets in detections:
        t0 = time.perf_counter()
        tracks = tracker.update(dets, at, size)
        spent += time.perf_counter() - t0
        boxes = {}
        for t in tracks:
            first, _ = run.seen.get(t.id, (at, at))
            run.seen[t.id] = (first, at)
            if t.last_seen == at:
                d = t.detection
                boxes[t.id] = (d.x1, d.y1, d.x2, d.y2)
        run.frames.append(Observed(at, boxes))
    run.update_ms = 1000 * spent / max(len(detections), 1)
    return run


# --- CLEAR-MOT and IDF1 -------------------------------------------------------------------------------

Truth = dict[int, tuple[tuple[float, float, float, float], bool]]  # person -> box, counted (visible)


def _match(truth: Truth, hyp: dict[int, tuple[float, float, float, float]]) -> dict[int, int]:
    """Person -> track id, one to one at IoU >= MATCH_IOU, maximising the summed IoU."""
    people, ids = list(truth), list(hyp)
    if not people or not ids:
        return {}
    cost = np.ones((len(people), len(ids)))
    for a, p in enumerate(people):
        for b, h in enumerate(ids):
            overlap = iou(truth[p][0], hyp[h])
            if overlap >= MATCH_IOU:
                cost[a, b] = 1.0 - overlap
    return {people[a]: ids[b] for a, b in assign(cost) if cost[a, b] < 1.0}


def mot_metrics(truth: list[Truth], run: Run) -> dict[str, float]:
    """MOTA, id switches and IDF1 of a run against per-frame ground truth (same frames, same order)."""
    gt = fp = fn = switches = 0
    last: dict[int, int] = {}  # person -> track id at their last match
    pair_frames: dict[tuple[int, int], int] = {}
    gt_count: dict[int, int] = {}
    hyp_count: dict[int, int] = {}
    for present, observed in zip(truth, run.frames, strict=True):
        # CLEAR-MOT keeps a correspondence that still holds before matching the rest afresh.
        kept = {
            p: h
            for p, h in last.items()
            if p in present and h in observed.boxes and iou(present[p][0], observed.boxes[h]) >= MATCH_IOU
        }
        rest_t = {p: v for p, v in present.items() if p not in kept}
        rest_h = {h: b for h, b in observed.boxes.items() if h not in kept.values()}
        matched = {**kept, **_match(rest_t, rest_h)}
        counted = {p for p, (_, visible) in present.items() if visible}
        ignored = {h for p, h in matched.items() if p not in counted}
        gt += len(counted)
        fn += sum(1 for p in counted if p not in matched)
        fp += sum(1 for h in observed.boxes if h not in matched.values())
        for p, h in matched.items():
            if p not in counted:
                continue
            if p in last and last[p] != h:
                switches += 1
            last[p] = h
            pair_frames[p, h] = pair_frames.get((p, h), 0) + 1
        for p in counted:
            gt_count[p] = gt_count.get(p, 0) + 1
        for h in observed.boxes:
            if h not in ignored:
                hyp_count[h] = hyp_count.get(h, 0) + 1
    # IDF1: the one-to-one person <-> id mapping that maximises the frames where they match.
    people, ids = sorted(gt_count), sorted(hyp_count)
    idtp = 0
    if people and ids:
        weight = np.zeros((len(people), len(ids)))
        for (p, h), n in pair_frames.items():
            if h in hyp_count:
                weight[people.index(p), ids.index(h)] = n
        idtp = int(sum(weight[a, b] for a, b in assign(-weight)))
    denominator = sum(gt_count.values()) + sum(hyp_count.values())
    return {
        "gt_boxes": gt,
        "fn": fn,
        "fp": fp,
        "id_switches": switches,
        "mota": round(1.0 - (fn + fp + switches) / gt, 3) if gt else 1.0,
        "idf1": round(2.0 * idtp / denominator, 3) if denominator else 1.0,
        "people": len(gt_count),
    }


# --- inputs -------------------------------------------------------------------------------------------


def _decode(path: Path, fmt: str | None) -> list[Image]:
    with av.open(str(path), format=fmt) as container:
        return [np.asarray(f.to_ndarray(format="bgr24"), np.uint8) for f in container.decode(video=0)]


def detections_for(
    key: str, images: Callable[[], list[Image]], steps: set[int], model: str, fresh: bool
) -> tuple[str, dict[int, list[Detection]]]:
    """The detector's name and the detections of every frame whose index is a multiple of one of `steps`,
    cached on disk."""
    path = CACHE / f"{key}-{model}-{LOW_SCORE:g}-v2.pickle"
    if path.is_file() and not fresh:
        cached: tuple[str, dict[int, list[Detection]]] = pickle.loads(path.read_bytes())  # our own, written below
        return cached
    settings = AnalyticsConfig().detector
    detector = load_detector(
        settings.backend, model=model, models_dir=settings.models_dir, threads=settings.threads, confidence=LOW_SCORE
    )
    out: dict[int, list[Detection]] = {}
    try:
        for n, image in enumerate(images()):
            if any(n % s == 0 for s in steps):
                out[n] = detector.detect(image)
    finally:
        detector.close()
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps((detector.name, out)))
    return detector.name, out


def _truth(clip: PeopleClip, n: int) -> Truth:
    out: Truth = {}
    for t in clip.tracks:
        box, visible = t.boxes[n], t.visible[n]
        if box is not None:
            x1, y1, x2, y2 = (float(v) for v in box)
            out[t.person] = ((x1, y1, x2, y2), (visible or 0.0) >= VISIBLE)
    return out


def trackers(confidence: float) -> dict[str, Callable[[], AnyTracker]]:
    def baseline() -> AnyTracker:
        inner = tracker_baseline.Tracker()

        class Filtered:
            def update(
                self, detections: Sequence[Detection], at: float, frame_size: tuple[int, int] | None = None
            ) -> Any:
                return inner.update([d for d in detections if d.score >= confidence], at, frame_size)

        return Filtered()

    def high_only() -> AnyTracker:
        inner = Tracker(high_score=confidence, low_score=confidence)
        return inner

    return {"baseline": baseline, "new, high boxes only": high_only, "new": lambda: Tracker(high_score=confidence)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    settings = AnalyticsConfig()
    parser.add_argument("--model", default=settings.detector.model)
    parser.add_argument("--fps", type=float, nargs="+", default=[settings.fps, 5.0])
    parser.add_argument("--clips", nargs="*", default=list(PEOPLE_CLIP_NAMES), help="people clips to score")
    parser.add_argument("--fresh", action="store_true", help="run the detector again instead of the cache")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    confidence = settings.detector.confidence
    makers = trackers(confidence)
    report: dict[str, Any] = {"model": args.model, "confidence": confidence, "low_score": LOW_SCORE}

    source_fps = 10
    steps = {max(1, round(source_fps / fps)) for fps in args.fps}
    name, vtest = detections_for("vtest", lambda: _decode(footage_path(VTEST), None), steps, args.model, args.fresh)
    report["detector"] = name
    for fps in args.fps:
        step = max(1, round(source_fps / fps))
        frames = [(n / source_fps, dets) for n, dets in sorted(vtest.items()) if n % step == 0]
        for name, make in makers.items():
            summary = track(make, frames, (768, 576)).summary()
            summary["ids_per_person"] = round(summary["ids"] / VTEST_PEOPLE, 2)
            report[f"vtest {fps:g} fps {name}"] = summary

    with clips_locked():
        clips = make_people_clips(clip_dir(), args.clips)
    for clip_name, clip in sorted(clips.items()):
        _, dets = detections_for(clip_name, lambda c=clip: _decode(c.path, "h264"), steps, args.model, args.fresh)  # type: ignore[misc]
        size = (clip.width, clip.height)
        for fps in args.fps:
            step = max(1, round(clip.fps / fps))
            indices = [n for n in sorted(dets) if n % step == 0]
            frames = [(n / clip.fps, dets[n]) for n in indices]
            truth = [_truth(clip, n) for n in indices]
            for name, make in makers.items():
                run = track(make, frames, size)
                report[f"{clip_name} {fps:g} fps {name}"] = {**run.summary(), **mot_metrics(truth, run)}

    for key, value in report.items():
        print(f"{key:<40} {value}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
