"""Probe 50 streams at once with `gateway probe` vs running `ffprobe` on each (the usual way).

    .venv/bin/python -m benchmarks.bench_probe --streams 50 --repeats 3

The streams are 1080p25 H.264 from a real local RTSP server. ffprobe runs one stream after the
other (how a script over a camera list does it); ffprobe with all 50 at once is printed as well.
gateway probe also measures fps from timestamps and the GOP, which ffprobe does not.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.common import REPO, median
from sim.clips import make_clips
from sim.server import RtspServerProcess

FFPROBE = ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0", "-show_streams", "-of", "json"]


def timed(fn: object) -> float:
    t0 = time.monotonic()
    fn()  # type: ignore[operator]
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=50)
    ap.add_argument("--mounts", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    clip = make_clips(REPO / "samples" / "clips", names={"hd_h264"})["hd_h264"]
    with RtspServerProcess([(f"/cam{i}", clip) for i in range(args.mounts)]) as server:
        urls = [server.url(f"/cam{i % args.mounts}") for i in range(args.streams)]
        ok: list[int] = []

        def gateway_probe() -> None:
            out = subprocess.run(
                [sys.executable, "-m", "gateway.cli", "probe", "--json", *urls], capture_output=True, text=True
            )
            ok.append(sum(1 for r in json.loads(out.stdout) if r["ok"] and r["gop_frames"]))

        def ffprobe_each() -> None:
            for url in urls:
                subprocess.run([*FFPROBE, url], capture_output=True, check=True)

        def ffprobe_parallel() -> None:
            with ThreadPoolExecutor(args.streams) as pool:
                list(pool.map(lambda u: subprocess.run([*FFPROBE, u], capture_output=True, check=True), urls))

        ours = [timed(gateway_probe) for _ in range(args.repeats)]
        each = [timed(ffprobe_each) for _ in range(args.repeats)]
        parallel = [timed(ffprobe_parallel) for _ in range(args.repeats)]

    results = {
        "streams": args.streams,
        "gateway_probe_wall_s": round(median(ours), 2),
        "gateway_probe_complete": min(ok),
        "ffprobe_one_by_one_wall_s": round(median(each), 2),
        "ffprobe_per_stream_s": round(median(each) / args.streams, 2),
        "ffprobe_all_at_once_wall_s": round(median(parallel), 2),
        "speedup_vs_ffprobe_one_by_one": round(median(each) / median(ours), 1),
        "speedup_vs_ffprobe_all_at_once": round(median(parallel) / median(ours), 1),
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
