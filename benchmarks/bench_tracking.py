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

Then the product's analyzer end to end (`pipelines`, skipped by --no-pipeline), for each --variants
entry MODEL@RUNTIME:regions|whole: the motion gate, whole frames or regions (gateway/analytics/regions.py),
the tracker. Reported per clip and rate: ids, inferences and persons per detector frame, CPU per
analysed frame; on the people clips MOTA/IDF1 and detection recall/precision against their ground
truth; on vtest recall/precision against two references made here by costlier detection (`reference`:
the 640 model on the whole frame, the issue's reference, and on 2x-enlarged overlapping tiles), since
its ground truth is not here. Takes about 10 minutes with the default five variants.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import av
import numpy as np

from benchmarks import tracker_baseline
from gateway.analytics.analyzer import CameraAnalyzer, detector_confidence, persons
from gateway.analytics.frames import Frame
from gateway.analytics.regions import suppress
from gateway.analytics.tracker import LOW_SCORE, Tracker, assign
from gateway.config.analytics import AnalyticsConfig, CameraAnalytics
from models.base import Detection, Detector, Image, iou
from models.registry import load_detector
from sim.footage import VTEST, footage_path
from sim.people_clips import PEOPLE_CLIP_NAMES, PeopleClip, make_people_clips
from tests.support.clips import clip_dir, clips_locked

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "var" / "bench_tracking"
VTEST_PEOPLE = 19  # MOT 2015 sequence statistics of PETS09-S2L1: 19 ground-truth tracks
MATCH_IOU = 0.5
DEFAULT_VARIANTS = [
    "yolo11n-pose-640@onnxruntime:whole",
    "yolo11n-pose-416@onnxruntime:whole",
    "yolo11n-pose-416@openvino:whole",
    "yolo11n-pose-416@openvino:regions",
    "yolo11n-pose-320@openvino:regions",
]
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
                boxes[t.id] = d.box
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


def pipeline(
    detector: Detector, images: list[Image], indices: list[int], fps_source: float, regions: bool
) -> tuple[Run, dict[str, float], list[list[Detection]]]:
    """The product's analyzer on these frames: motion gate, regions (or whole frames), tracker.

    Frames the gate passes over count as frames without boxes, as a camera's would; the detections
    returned are the persons of every listed frame (empty where the detector did not run).
    """
    settings = AnalyticsConfig.model_validate({"detector": {"regions": regions}})
    h, w = images[indices[0]].shape[:2]
    analyzer = CameraAnalyzer(
        "bench", CameraAnalytics.model_validate({"image_size": f"{w}x{h}"}), settings, tz=ZoneInfo("UTC")
    )
    run, found = Run(), []
    cpu0 = time.process_time()
    for n in indices:
        frame = Frame(images[n], n / fps_source, 0.0)
        look = analyzer.look(frame)
        boxes: dict[int, tuple[float, float, float, float]] = {}
        dets: list[Detection] = []
        if look is not None:
            dets = analyzer.detect(detector, frame, look)
            tracks, _ = analyzer.analyse(frame, dets, 0.0)
            for t in tracks:
                first, _ = run.seen.get(t.id, (frame.at, frame.at))
                run.seen[t.id] = (first, frame.at)
                if t.last_seen == frame.at:
                    d = t.detection
                    boxes[t.id] = d.box
        run.frames.append(Observed(frame.at, boxes))
        found.append(persons(dets, settings))
    spent = time.process_time() - cpu0
    c, r = analyzer.counters, analyzer.regions
    cost = {
        "detector_frames": c.detected,
        "inferences_per_detector_frame": round((r.full + r.regions) / max(c.detected, 1), 2),
        "persons_per_detector_frame": round(c.persons / max(c.detected, 1), 2),
        "cpu_ms_per_analysed_frame": round(1000 * spent / len(indices), 1),
    }
    return run, cost, found


def detection_scores(found: list[list[Detection]], truth: list[Truth]) -> dict[str, float]:
    """Recall and precision of the persons reported against ground truth (IoU >= MATCH_IOU), visible people only."""
    tp = fn = fp = 0
    for dets, present in zip(found, truth, strict=True):
        hyp = {i: d.box for i, d in enumerate(dets)}
        matched = _match(present, hyp)
        tp += sum(1 for p in matched if present[p][1])
        fn += sum(1 for p, (_, visible) in present.items() if visible and p not in matched)
        fp += len(hyp) - len(matched)
    return {
        "recall": round(tp / (tp + fn), 3) if tp + fn else 1.0,
        "precision": round(tp / (tp + fp), 3) if tp + fp else 1.0,
    }


def reference(kind: str, images: list[Image], indices: list[int]) -> list[Truth]:
    """Persons on vtest by a costlier detector, in place of the ground truth nobody here holds (cached).

    whole-640: yolo11n-pose-640 on the whole frame (onnxruntime fp32), the issue's reference;
    tiles-640: the same model on overlapping 320 px tiles (every 240 px) enlarged 2x to its input,
      merged by overlap: what this model can find at all, at about 12 inferences a frame.
    """
    path = CACHE / f"vtest-reference-{kind}-{len(indices)}-{indices[1] - indices[0]}.pickle"
    if path.is_file():
        cached: list[Truth] = pickle.loads(path.read_bytes())  # our own, written below
        return cached
    confidence = AnalyticsConfig().detector.confidence
    det = load_detector(
        "yolo_onnx",
        model="yolo11n-pose-640",
        models_dir=AnalyticsConfig().detector.models_dir,
        threads=2,
        confidence=confidence,
        runtime="onnxruntime",
    )
    out: list[Truth] = []
    try:
        for n in indices:
            image = images[n]
            if kind == "whole-640":
                found = det.detect(image)
            else:
                h, w = image.shape[:2]
                found = []
                for y in sorted({*range(0, max(h - 320, 0) + 1, 240), max(h - 320, 0)}):
                    for x in sorted({*range(0, max(w - 320, 0) + 1, 240), max(w - 320, 0)}):
                        found += [
                            replace(d, x1=d.x1 + x, y1=d.y1 + y, x2=d.x2 + x, y2=d.y2 + y, keypoints=None)
                            for d in det.detect(np.ascontiguousarray(image[y : y + 320, x : x + 320]))
                        ]
                found = suppress(found)
            out.append({i: (d.box, True) for i, d in enumerate(found)})
    finally:
        det.close()
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(out))
    return out


def pipelines(
    variants: list[str], fps_list: list[float], clip_names: list[str], settings: AnalyticsConfig
) -> dict[str, Any]:
    """Each variant (MODEL@RUNTIME:regions|whole) through the product's analyzer on vtest and the clips."""
    report: dict[str, Any] = {}
    vtest = _decode(footage_path(VTEST), None)
    with clips_locked():
        clips = make_people_clips(clip_dir(), clip_names)
    decoded = {name: _decode(clip.path, "h264") for name, clip in sorted(clips.items())}
    d = settings.detector
    for variant in variants:
        spec, _, look = variant.partition(":")
        model, _, runtime = spec.partition("@")
        detector = load_detector(
            d.backend,
            model=model,
            models_dir=d.models_dir,
            threads=d.threads,
            confidence=detector_confidence(settings),
            runtime=runtime or "auto",
        )
        try:
            for fps in fps_list:
                step = max(1, round(10 / fps))
                indices = list(range(0, len(vtest), step))
                run, cost, found = pipeline(detector, vtest, indices, 10, look == "regions")
                row = {**run.summary(), **cost, "ids_per_person": round(len(run.seen) / VTEST_PEOPLE, 2)}
                for kind in ("whole-640", "tiles-640"):
                    scores = detection_scores(found, reference(kind, vtest, indices))
                    row.update({f"{k}_vs_{kind}": v for k, v in scores.items()})
                report[f"vtest {fps:g} fps {detector.name} {look}"] = row
                for name, clip in sorted(clips.items()):
                    step = max(1, round(clip.fps / fps))
                    indices = list(range(0, len(decoded[name]), step))
                    truth = [_truth(clip, n) for n in indices]
                    run, cost, found = pipeline(detector, decoded[name], indices, clip.fps, look == "regions")
                    report[f"{name} {fps:g} fps {detector.name} {look}"] = {
                        **run.summary(),
                        **cost,
                        **mot_metrics(truth, run),
                        **detection_scores(found, truth),
                    }
                print(f"done: {variant} at {fps:g} fps", flush=True)
        finally:
            detector.close()
    return report


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
    parser.add_argument(
        "--variants",
        nargs="+",
        default=DEFAULT_VARIANTS,
        help="MODEL@RUNTIME:regions|whole runs of the product's analyzer (motion gate, regions, tracker)",
    )
    parser.add_argument("--no-pipeline", action="store_true", help="only the trackers on cached detections")
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

    if not args.no_pipeline:
        report.update(pipelines(args.variants, args.fps, args.clips, settings))

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
