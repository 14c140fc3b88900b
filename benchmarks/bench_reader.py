"""Memory and CPU of one reading process: N camera sessions, the light reader against FFmpeg's.

    .venv/bin/python -m benchmarks.bench_reader --sessions 100        # ~3 min

What a worker process does, without the gateway around it: N threads each run `read_session` (the
readers' loop: stream figures, bursts, picture-quality samples) on the same 1080p25 H.264 streams from
a real local RTSP server (GStreamer), with the heap settings of gateway/pipeline/heap.py. Each
reader (FFmpeg's; the light one keeping every picture's bytes, as before it skimmed; the light one
skimming on a thread per session, as before the reading loop; the light one as the gateway runs it,
every session on one thread), with the quality checks off and on, runs in a fresh process, alternating,
--repeats times:
the anonymous memory the sessions added (smaps_rollup) and the process's CPU over --seconds, after
--settle seconds. Medians; the FFmpeg rows are the baseline.

`--readers`, `--quality` and `--heaps` pick a part of the matrix; `--heaps gateway small-maps` also runs
each with the heap before the quality samples were taken one at a time (every buffer over 128 KiB
mapped), beside the gateway's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO

CHILD = "child"


def _anon_mb() -> float:
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Whole:
    """The light reader as it was before it skimmed: every picture's bytes (read_session sees no `skim`)."""

    def __init__(self, source: Any) -> None:
        self.open, self.packets, self.close = source.open, source.packets, source.close


READERS = ("ffmpeg", "light-whole", "light-thread", "light")
HEAPS = ("gateway", "small-maps")


def child(reader: str, urls: list[str], quality_s: float, settle_s: float, seconds: float, heap: str) -> None:
    from adapters.rtsp import RtspSource
    from adapters.rtsp.live import LightRtspSource
    from gateway.config import SupervisorConfig
    from gateway.pipeline.heap import READERS_HEAP, SMALL_MAPS, keep_heap_small, start_trimming
    from gateway.pipeline.loop import ReadingLoop
    from gateway.pipeline.readers import read_session
    from gateway.quality.sampler import SamplerSetup

    keep_heap_small(settings=READERS_HEAP if heap == "gateway" else SMALL_MAPS)
    start_trimming()
    settings = SupervisorConfig(quality_interval_s=quality_s)
    stop = threading.Event()
    # The gateway's: one thread reads every session nobody views (gateway.pipeline.loop).
    loop = ReadingLoop(settings.read_batch_s) if reader == "light" else None
    before = _anon_mb()
    for i, url in enumerate(urls):
        source: Any = RtspSource(f"c{i}", url) if reader == "ffmpeg" else LightRtspSource(f"c{i}", url)
        if reader == "light-whole":
            source = _Whole(source)
        threading.Thread(
            target=read_session,
            args=(source, settings, stop, lambda _m, _at: None, None, SamplerSetup(quality_s), loop),
            daemon=True,
        ).start()
    time.sleep(settle_s)
    c0, t0 = os.times(), time.monotonic()
    time.sleep(seconds)
    c1, elapsed = os.times(), time.monotonic() - t0
    cores = (c1.user + c1.system - c0.user - c0.system) / elapsed
    print(json.dumps({"anon_mb_per_session": (_anon_mb() - before) / len(urls), "cores": cores}), flush=True)
    os._exit(0)  # the reading threads are inside sockets; nothing to tidy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--settle", type=float, default=20.0, help="past every session's first quality sample")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--readers", nargs="+", choices=READERS, default=list(READERS))
    ap.add_argument("--quality", nargs="+", choices=("off", "on"), default=["off", "on"])
    ap.add_argument(
        "--heaps",
        nargs="+",
        choices=HEAPS,
        default=["gateway"],
        help="C heap settings: the gateway's (frames on the heap), or every buffer over 128 KiB mapped (before)",
    )
    args = ap.parse_args()

    from sim.clips import make_clips
    from sim.server import RtspServerProcess

    clip = make_clips(REPO / "samples" / "clips", names={"hd_h264"})["hd_h264"]
    runs: dict[str, list[dict[str, float]]] = {}
    with RtspServerProcess([(f"/cam{i}", clip) for i in range(10)]) as server:
        urls = [server.url(f"/cam{i % 10}") for i in range(args.sessions)]
        for _ in range(args.repeats):
            for quality in args.quality:
                for reader in args.readers:
                    for heap in args.heaps:
                        interval = "60" if quality == "on" else "0"
                        cmd = [sys.executable, "-m", "benchmarks.bench_reader", CHILD, reader, interval, heap]
                        cmd += [str(args.settle), str(args.seconds), *urls]
                        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True, cwd=REPO)
                        name = f"{reader}, quality {quality}" + (f", heap {heap}" if len(args.heaps) > 1 else "")
                        runs.setdefault(name, []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{args.sessions} sessions in one process, medians of {args.repeats}:")
    print(f"{'reader':<44}{'MB per session':>16}{'cores':>8}")
    for name, results in runs.items():
        mb = statistics.median(r["anon_mb_per_session"] for r in results)
        cores = statistics.median(r["cores"] for r in results)
        print(f"{name:<44}{mb:>16.3f}{cores:>8.3f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        _, _, reader, quality, heap, settle, seconds, *urls = sys.argv
        child(reader, urls, float(quality), float(settle), float(seconds), heap)
    else:
        main()
