"""The group of pictures a forwarded camera's bus keeps (gateway/pipeline/bus.py): what a new GB/T 28181
session gains, and what keeping it costs.

    .venv/bin/python -m benchmarks.bench_gop_cache --trials 6

On a real local RTSP server (GStreamer) serving the smart-codec clip `smart_h264_still` (1080p, a
keyframe every 10 s, as H.264+ sends a still scene), the product's reader (`read_session`) reads the
camera onto a bus, and a new subscriber arrives at a random moment:

* **first picture:** from subscribing to the first keyframe it holds, with the bus keeping its group
  (the product, for forwarded cameras) and without (the baseline: the next keyframe the camera sends);
* **cost:** the reader's CPU per second of stream with no subscriber, keeping the group against not
  publishing at all (what a camera nobody forwards costs), in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import threading
import time
from pathlib import Path

from adapters.rtsp import RtspSource
from benchmarks.common import REPO
from gateway.config import SupervisorConfig
from gateway.health.state import MeasuredStream
from gateway.pipeline.bus import GOP_CACHE_BYTES, PacketBus
from gateway.pipeline.readers import read_session
from sim.clips import make_smart_clips
from sim.server import RtspServerProcess

SETTINGS = SupervisorConfig(connect_timeout_s=10)
CLIP = "smart_h264_still"


def _reader(url: str, bus: PacketBus, stop: threading.Event) -> threading.Thread:
    def emit(_m: MeasuredStream, _at: float) -> None:
        pass

    def run() -> None:
        read_session(RtspSource("cam", url), SETTINGS, stop, emit, bus)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def first_picture_s(url: str, keep: bool, wait_s: float) -> float:
    """Seconds from a subscription made `wait_s` after the reader started to its first keyframe."""
    bus = PacketBus("cam", GOP_CACHE_BYTES if keep else 0)
    stop = threading.Event()
    thread = _reader(url, bus, stop)
    try:
        time.sleep(wait_s)
        start = time.monotonic()
        sub = bus.subscribe_blocking("gb", 10_000, gop=True)
        while True:
            packet = sub.get(15.0)
            if packet is None:
                raise RuntimeError("no keyframe within 15 s")
            if packet.keyframe:
                return time.monotonic() - start
    finally:
        stop.set()
        thread.join(5)


def reader_cpu(url: str, keep: bool, seconds: float) -> float:
    """The process's CPU seconds per second of stream while the reader reads with no subscriber."""
    bus = PacketBus("cam", GOP_CACHE_BYTES if keep else 0)
    stop = threading.Event()
    thread = _reader(url, bus, stop)
    time.sleep(2.0)  # past the opening
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    time.sleep(seconds)
    after = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic() - start
    stop.set()
    thread.join(5)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0, help="per CPU window")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    clips = make_smart_clips(REPO / "samples" / "clips", names={CLIP})
    rng = random.Random(7)
    with RtspServerProcess([("/still", clips[CLIP])]) as server:
        url = server.url("/still")
        # Each trial joins at a random moment after a full group was read (a keyframe is cached).
        waits = [11.0 + rng.uniform(0.0, 10.0) for _ in range(args.trials)]
        kept = [first_picture_s(url, True, w) for w in waits]
        waited = [first_picture_s(url, False, w) for w in waits]
        cpu_off = [reader_cpu(url, False, args.seconds) for _ in range(3)]
        cpu_on = [reader_cpu(url, True, args.seconds) for _ in range(3)]
    result = {
        "clip": CLIP,
        "trials": args.trials,
        "first_picture_s": {
            "kept_group_median": statistics.median(kept),
            "kept_group_max": max(kept),
            "next_keyframe_median": statistics.median(waited),
            "next_keyframe_max": max(waited),
        },
        "reader_cpu_ms_per_s": {
            "not_published": 1000 * statistics.median(cpu_off),
            "group_kept": 1000 * statistics.median(cpu_on),
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
