"""End to end: how many cameras one box analyses at 2 fps with motion gating, and what it costs.

    .venv/bin/python -m benchmarks.bench_analytics --cameras 16 --seconds 60

A real gateway process reads N cameras from a local GStreamer RTSP server. Each camera has a
main stream (read for health, never decoded) and a 640x360 sub stream that analytics decode.
The mix is mostly idle, like a real site at most hours: 10 of 16 cameras show a still night
scene, 2 a room where things move but nobody is there, and 4 have people (walking, loitering,
a crowd). Three runs, each measured over the same window after a warm-up:
  baseline   the same cameras, analytics off (health monitoring only)
  gated      analytics on, motion gate on (the default)
  ungated    analytics on, motion gate off (the detector sees every sampled frame)
  whole      as gated, with regions off: the detector sees whole frames only (before issue 25)
A run may name the detector's runtime (--runs baseline,gated@onnxruntime,gated@openvino): the
runtimes side by side in one run of the bench; without one the config's default (auto) picks.
Reported: gateway CPU (cores, median of 10 s windows), the CPU analytics add over the baseline,
what is left of the box's 2 cores, analysed fps per camera, frames dropped because the detector
was busy, detector time per frame, and the lag from packet arrival to judged detections.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import numpy as np

from benchmarks.common import REPO, Gateway, cpu_share, median
from sim.clips import ClipInfo, make_clips
from sim.people_clips import make_people_clips
from sim.server import RtspServerProcess

SUB_SIZE = (640, 360)
# (clip, cameras out of 16): scaled to the camera count asked for.
MIX = [("dark", 10), ("empty", 2), ("walk", 2), ("loiter", 1), ("crowd", 1)]


def rescale(clip: ClipInfo, out_dir: Path, size: tuple[int, int]) -> ClipInfo:
    """The clip re-encoded at `size` with the same GOP: what a camera's sub stream would send."""
    target = out_dir / f"{clip.name}-{size[0]}x{size[1]}.h264"
    if not target.exists():
        fmt = "h264" if clip.codec == "h264" else "hevc"
        with av.open(str(clip.path), format=fmt) as src, av.open(str(target), mode="w", format="h264") as dst:
            stream = dst.add_stream(
                "libx264",
                rate=clip.fps,
                options={
                    "preset": "veryfast",
                    "x264-params": f"keyint={clip.gop}:min-keyint={clip.gop}:scenecut=0:bframes=0:repeat-headers=1",
                },
            )
            stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
            stream.bit_rate = 400_000
            for n, frame in enumerate(src.decode(video=0)):
                image = cv2.resize(frame.to_ndarray(format="bgr24"), size, interpolation=cv2.INTER_AREA)
                i420 = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), np.uint8)
                out = av.VideoFrame.from_ndarray(i420, format="yuv420p")
                out.pts = n
                dst.mux(stream.encode(out))
            dst.mux(stream.encode(None))
    return ClipInfo(clip.name + "-sub", target, "h264", size[0], size[1], clip.fps, clip.frames, clip.gop)


def camera_mix(count: int) -> list[str]:
    total = sum(n for _, n in MIX)
    names: list[str] = []
    for name, n in MIX:
        names += [name] * max(1 if n else 0, round(n * count / total))
    return (names + ["dark"] * count)[:count]


def measure(gw: Gateway, seconds: float, names: list[str]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {gw.token}"}

    def status() -> dict[str, Any]:
        return dict(httpx.get(f"http://127.0.0.1:{gw.port}/api/v1/analytics", headers=headers, timeout=10).json())

    before, t0 = status(), time.monotonic()
    windows = [cpu_share(gw.pid, 10.0) for _ in range(max(1, int(seconds // 10)))]
    after, elapsed = status(), time.monotonic() - t0
    out: dict[str, Any] = {"cpu_cores": round(median(windows), 3)}
    cams_before, cams_after = before.get("cameras", {}), after.get("cameras", {})
    if cams_after:
        fps = [(cams_after[c]["sampled_frames"] - cams_before[c]["sampled_frames"]) / elapsed for c in cams_after]
        detected = sum(cams_after[c]["detected_frames"] - cams_before[c]["detected_frames"] for c in cams_after)
        dropped = sum(cams_after[c]["dropped_busy"] - cams_before[c]["dropped_busy"] for c in cams_after)
        inferences = sum(
            cams_after[c][k] - cams_before[c][k] for c in cams_after for k in ("whole_frames", "region_inferences")
        )
        persons = sum(cams_after[c]["persons_detected"] - cams_before[c]["persons_detected"] for c in cams_after)
        sampled = sum(cams_after[c]["sampled_frames"] - cams_before[c]["sampled_frames"] for c in cams_after)
        det = after["detector"] or {}
        per_scene: dict[str, list[float]] = {}
        for i, name in enumerate(names):
            c = f"cam{i}"
            runs = cams_after[c]["detected_frames"] - cams_before[c]["detected_frames"]
            per_scene.setdefault(name, []).append(runs / elapsed)
        out["detector_fps_per_camera"] = {k: round(statistics.mean(v), 2) for k, v in sorted(per_scene.items())}
        out.update(
            {
                "analysed_fps_min": round(min(fps), 2),
                "analysed_fps_median": round(statistics.median(fps), 2),
                "sampled_frames": sampled,
                "detector_frames": detected,
                "detector_share_percent": round(100 * detected / sampled, 1) if sampled else 0.0,
                "inferences_per_detector_frame": round(inferences / detected, 2) if detected else 0.0,
                "persons_per_detector_frame": round(persons / detected, 2) if detected else 0.0,
                "dropped_busy": dropped,
                "detector_median_ms": det.get("median_ms"),
                "lag_median_ms": det.get("median_lag_ms"),
                "events": sum(c["events"] for c in cams_after.values()),
                "detector": det.get("name"),
                "runtime_choice": det.get("runtime"),
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60.0, help="measured window per run")
    ap.add_argument("--warmup", type=float, default=20.0)
    ap.add_argument("--model", default="yolo11n-pose-416")
    ap.add_argument("--threads", type=int, default=None, help="detector threads (default: the config default)")
    ap.add_argument(
        "--runs",
        default="baseline,gated,ungated",
        help="which runs, comma-separated; RUN@RUNTIME sets the detector runtime of one (gated@onnxruntime)",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    samples = REPO / "samples" / "clips"
    base = make_clips(samples, names={"dark"})
    people = make_people_clips(samples, names={"empty", "walk", "loiter", "crowd"})
    mains: dict[str, ClipInfo] = {"dark": base["dark"]}
    for name, p in people.items():
        mains[name] = ClipInfo(name, p.path, "h264", p.width, p.height, p.fps, p.frames, p.gop)
    subs = {name: rescale(clip, samples, SUB_SIZE) for name, clip in mains.items()}
    names = camera_mix(args.cameras)
    mounts: list[tuple[str, ClipInfo]] = []
    for i, name in enumerate(names):
        mounts += [(f"/cam{i}", mains[name]), (f"/cam{i}/sub", subs[name])]
    server = RtspServerProcess(mounts)
    server.start()
    results: dict[str, Any] = {"cameras": args.cameras, "mix": {n: names.count(n) for n in sorted(set(names))}}
    try:
        for spec in args.runs.split(","):
            run, _, runtime = spec.partition("@")
            cameras = []
            for i, name in enumerate(names):
                cam: dict[str, Any] = {
                    "id": f"cam{i}",
                    "name": f"{name} {i}",
                    "source": {"rtsp": server.url(f"/cam{i}"), "sub_rtsp": server.url(f"/cam{i}/sub")},
                }
                if run != "baseline":
                    cam["analytics"] = {
                        "stream": "sub",
                        "image_size": f"{SUB_SIZE[0]}x{SUB_SIZE[1]}",
                        "rules": [{"id": "crowd", "kind": "crowding", "max_people": 3}],
                    }
                cameras.append(cam)
            extra = {
                "analytics": {
                    "detector": {
                        "model": args.model,
                        "models_dir": str(REPO / "var" / "models"),
                        **({"threads": args.threads} if args.threads else {}),
                        **({"runtime": runtime} if runtime else {}),
                        "regions": run != "whole",
                    },
                    "motion": {"enabled": run != "ungated"},
                }
            }
            with tempfile.TemporaryDirectory() as tmp:
                gw = Gateway(Path(tmp), cameras, extra=extra)
                gw.start()
                try:
                    gw.wait_all()
                    time.sleep(args.warmup)
                    results[spec] = measure(gw, args.seconds, names)
                finally:
                    gw.stop()
            print(spec, json.dumps(results[spec]), flush=True)
    finally:
        server.stop()
    for run in args.runs.split(","):
        if run == "baseline" or run not in results or "baseline" not in results:
            continue
        results[run]["added_cpu_cores"] = round(results[run]["cpu_cores"] - results["baseline"]["cpu_cores"], 3)
        results[run]["left_of_2_cores"] = round(2.0 - results[run]["cpu_cores"], 3)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
