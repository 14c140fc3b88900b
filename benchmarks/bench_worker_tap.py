"""Packets of a camera read by a worker process, for a viewer or the city platform in the main process.

    .venv/bin/python -m benchmarks.bench_worker_tap --streams 8 --seconds 12

Four ways, measured in one run on the same 1080p25 H.264 streams from a real local RTSP server
(GStreamer), each beside the baseline of the workers reading the streams for health alone:

* **tap (the product):** the worker sends the camera's packets over its pipe (pickled), the main
  process publishes them on the camera's bus (gateway/pipeline/workers.py, gateway/streams/hub.py);
* **second session:** the main process opens its own RTSP session of the camera (what the stream hub
  did before the tap: one more session at the camera, which many cameras limit to a few);
* **shared memory:** a prototype written for this measurement only: the reading process copies each
  packet into a ``multiprocessing.shared_memory`` ring and sends its place (offset, size, timing)
  over a pipe; the main process copies it out. It has no overwrite protection (a slow reader would
  read torn packets), which a real one would need;
* **moving the camera:** the worker's session stops and the main process reads the camera itself:
  the price is the gap, the time without packets (and without health figures) until the new
  session delivers its first keyframe.

Reported: CPU per stream over the workers' baseline (main and reading processes, median of the
windows), the delay from a packet's arrival in the reading process to its delivery in the main
process (median and p99), and the time from asking to the first keyframe.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import statistics
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any

from adapters.common.media import Packet
from adapters.rtsp import RtspSource
from benchmarks.common import CLK_TCK, REPO, median
from gateway.config import CameraConfig, SupervisorConfig
from gateway.health.state import MeasuredStream
from gateway.pipeline.bus import PacketBus, Subscription
from gateway.pipeline.readers import ThreadReader
from gateway.pipeline.workers import ProcessReader
from gateway.quality.sampler import SamplerSetup
from gateway.streams.hub import Feed, StreamHub
from sim.clips import make_clips
from sim.server import RtspServerProcess

SETTINGS = SupervisorConfig(connect_timeout_s=10)
NO_QUALITY = SamplerSetup(0.0)
RING = 64 * 1024 * 1024
TIME_BASE = Fraction(1, 90000)


def own_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads), not its children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def ignore(session: int, measured: MeasuredStream, at: float) -> None:
    pass


@dataclass
class Window:
    main: float  # cores
    reader: float  # cores, the reading process(es)


async def window(seconds: float, reader_pids: list[int]) -> Window:
    me = os.getpid()
    m0, r0, t0 = own_cpu(me), sum(own_cpu(p) for p in reader_pids), time.monotonic()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - t0
    return Window((own_cpu(me) - m0) / wall, (sum(own_cpu(p) for p in reader_pids) - r0) / wall)


async def windows(seconds: float, repeats: int, reader_pids: list[int]) -> Window:
    ws = [await window(seconds / repeats, reader_pids) for _ in range(repeats)]
    return Window(median([w.main for w in ws]), median([w.reader for w in ws]))


class Drain:
    """Consumes subscriptions the way a sender would, recording each packet's delay."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.first_key: dict[str, float] = {}

    def add(self, name: str, sub: Subscription, since: float) -> None:
        async def run() -> None:
            async for packet in sub:
                self.delays.append(time.monotonic() - packet.arrival)
                if packet.keyframe and name not in self.first_key:
                    self.first_key[name] = time.monotonic() - since

        self.tasks.append(asyncio.create_task(run()))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- shared memory prototype ----------------------------------------------------------------------


def shm_reader(urls: list[str], conn: Connection, shm_name: str, transfer: Any) -> None:
    """Child process: read every stream, copy each packet into the ring, send its place when asked."""
    shm = SharedMemory(name=shm_name)
    ring = shm.buf
    assert ring is not None
    lock = threading.Lock()
    state = {"offset": 0}

    def read(index: int, url: str) -> None:
        source = RtspSource(f"s{index}", url, transport="tcp", connect_timeout_s=10, read_timeout_s=10)
        source.open()
        for packet in source.packets():
            if not transfer.value:
                continue
            size = len(packet.data)
            with lock:
                offset = state["offset"] if state["offset"] + size <= RING else 0
                ring[offset : offset + size] = packet.data
                state["offset"] = offset + size
                conn.send((index, offset, size, packet.pts, packet.keyframe, packet.arrival))

    for i, url in enumerate(urls):
        threading.Thread(target=read, args=(i, url), daemon=True).start()
    threading.Event().wait()


async def run_shared_memory(urls: list[str], seconds: float, repeats: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    shm = SharedMemory(create=True, size=RING)
    ring = shm.buf
    assert ring is not None
    transfer = ctx.Value("b", 0)
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=shm_reader, args=(urls, child, shm.name, transfer), daemon=True)
    proc.start()
    assert proc.pid is not None
    buses = [PacketBus(f"s{i}") for i in range(len(urls))]
    drain = Drain()

    def receive() -> None:
        while True:
            try:
                index, offset, size, pts, key, arrival = parent.recv()
            except (EOFError, OSError):
                return
            data = bytes(ring[offset : offset + size])
            buses[index].publish(Packet(f"s{index}", "h264", pts, pts, TIME_BASE, key, data, arrival))

    threading.Thread(target=receive, daemon=True).start()
    await asyncio.sleep(3)  # sessions open
    base = await windows(seconds, repeats, [proc.pid])
    since = time.monotonic()
    for i, bus in enumerate(buses):
        drain.add(f"s{i}", bus.subscribe("viewer", 512), since)
    transfer.value = 1
    tapped = await windows(seconds, repeats, [proc.pid])
    transfer.value = 0
    await drain.stop()
    proc.kill()
    proc.join()
    # The receiving thread ends with the pipe; until it has, the ring may still be exported.
    with contextlib.suppress(BufferError):
        ring.release()
        shm.close()
    shm.unlink()
    return summary("shared memory", base, tapped, drain, len(urls))


def summary(name: str, base: Window, with_: Window, drain: Drain, streams: int) -> dict[str, Any]:
    return {
        "way": name,
        "main_cores_per_stream": (with_.main - base.main) / streams,
        "reader_cores_per_stream": (with_.reader - base.reader) / streams,
        "baseline_reader_cores_per_stream": base.reader / streams,
        "delay_ms_median": statistics.median(drain.delays) * 1000 if drain.delays else None,
        "delay_ms_p99": pct(drain.delays, 0.99) * 1000 if drain.delays else None,
        "first_keyframe_s_median": median(list(drain.first_key.values())) if drain.first_key else None,
        "packets": len(drain.delays),
    }


# --- the product's ways ---------------------------------------------------------------------------


def cameras_for(urls: list[str]) -> list[CameraConfig]:
    return [
        CameraConfig.model_validate({"id": f"cam{i}", "name": f"cam{i}", "source": {"rtsp": url}, "zones": ["z"]})
        for i, url in enumerate(urls)
    ]


def worker_pids() -> list[int]:
    return [p.pid for p in multiprocessing.active_children() if p.name.startswith("gateway-reader") and p.pid]


async def run_product(urls: list[str], seconds: float, repeats: int, server: RtspServerProcess) -> list[dict[str, Any]]:
    cams = cameras_for(urls)
    buses = {c.id: PacketBus(c.id) for c in cams}
    reader = ProcessReader(SETTINGS, [c.id for c in cams], 1, buses=buses)
    sessions = [asyncio.create_task(reader.run_session(c, 1, ignore, NO_QUALITY)) for c in cams]
    tap_hub = StreamHub(SETTINGS, buses, lambda _cid: False)
    tap_hub.attach_tap(reader)
    pull_hub = StreamHub(SETTINGS, buses, lambda _cid: False)  # no tap: it opens sessions of its own
    await asyncio.sleep(4)  # sessions open
    pids = worker_pids()
    results = []

    async def consumers(hub: StreamHub, name: str, settle: float) -> tuple[Window, Drain, list[Feed]]:
        drain = Drain()
        since = time.monotonic()
        feeds = []
        for cam in cams:
            feed, _ = await hub.acquire(cam)
            feeds.append(feed)
            drain.add(cam.id, feed.bus.subscribe("viewer", 512), since)
        await asyncio.sleep(settle)
        drain.delays.clear()
        return await windows(seconds, repeats, pids), drain, feeds

    base = await windows(seconds, repeats, pids)
    plays_before = server.plays()
    tapped, drain, feeds = await consumers(tap_hub, "tap", 2.0)
    results.append(
        {**summary("tap (pipe)", base, tapped, drain, len(cams)), "extra_sessions": server.plays() - plays_before}
    )
    await drain.stop()
    for feed in feeds:
        tap_hub.release(feed)
    await asyncio.sleep(1)

    base = await windows(seconds, repeats, pids)
    plays_before = server.plays()
    pulled, drain, feeds = await consumers(pull_hub, "pull", 2.0)
    row = summary("second session", base, pulled, drain, len(cams))
    # The second session is read in the main process: its delay is the reading itself, not a crossing.
    row["delay_ms_median"] = row["delay_ms_p99"] = None
    results.append({**row, "extra_sessions": server.plays() - plays_before})
    await drain.stop()
    for feed in feeds:
        pull_hub.release(feed)
    await pull_hub.close()

    # Moving the camera: stop the worker's session, read it here, time the hole in its packets.
    gaps = []
    threads = ThreadReader(SETTINGS, buses)
    moved = []
    for cam in cams[: min(4, len(cams))]:
        bus = buses[cam.id]
        sub = bus.subscribe("health", 512)
        stopped = time.monotonic()
        reader.stop_session(cam.id)
        moved.append(asyncio.create_task(threads.run_session(cam, 2, ignore, NO_QUALITY)))
        while True:
            packet = await asyncio.wait_for(sub.get(), 15)
            if packet.keyframe and packet.arrival > stopped:
                gaps.append(time.monotonic() - stopped)
                break
        sub.close()
    results.append(
        {
            "way": "moving the camera",
            "gap_s_median": median(gaps),
            "gap_s_max": max(gaps),
            "note": "main process then reads the camera as the second session does",
        }
    )
    await threads.close()
    await tap_hub.close()
    await reader.close()
    for task in [*sessions, *moved]:
        task.cancel()
    await asyncio.gather(*sessions, *moved, return_exceptions=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=12.0, help="measuring time per window set")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    clip = make_clips(REPO / "samples" / "clips", names={"hd_h264"})["hd_h264"]
    mounts = [(f"/cam{i}", clip) for i in range(args.streams)]
    with RtspServerProcess(mounts) as server:
        urls = [server.url(path) for path, _ in mounts]
        results = asyncio.run(run_product(urls, args.seconds, args.repeats, server))
        results.append(asyncio.run(run_shared_memory(urls, args.seconds, args.repeats)))
    info = {"streams": args.streams, "clip": "hd_h264 (1080p25 H.264, ~1.5 Mbit/s)", "results": results}
    text = json.dumps(info, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
