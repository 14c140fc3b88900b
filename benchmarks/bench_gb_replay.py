"""CPU per GB/T 28181 replay session (RTSP replay from an NVR -> PS over RTP/UDP), beside live forwarding.

    .venv/bin/python -m benchmarks.bench_gb_replay --streams 5 10 20 --seconds 15

Replay: N replay sessions in one Python process (asyncio), each what a GB/T 28181 Playback runs after
the ACK (gateway/gb28181/sessions.py `_stream_replay`): `Replays.open` -> `RtspReplay` (DESCRIBE,
SETUP, PLAY with `Range: clock=...` and `Require: onvif-replay`, RTP interleaved over one TCP
connection, depayloaded into access units), `Replay.play(at=start)`, and every frame, through
`Replay.frames()` and a copy of `_replay_packets`, to a lossless `MediaSender` sending PS over RTP/UDP.
The recordings are served by the simulated NVR: the real GStreamer RTSP server of sim/ (its replay
mount, the ONVIF dialect, paced at 1x by its clock), its CPU reported apart (it stands for the NVR).

Live: the same N streams through bench_gb_forward's session path (its `run_ours(..., sessions=True)`:
a camera PacketBus fed from memory by one thread, a bus subscription and a MediaSender per stream),
run just before each replay size, so both stand on the same machine minutes apart.

The clip: both paths play bench_gb_forward's 1080p25 4 Mbit/s clip (GOP 50). The recordings are
made from it (its Matroska remux, hard-linked as the store's one segment file, as sim/recordings.py
does with its own clip), not from sim/recordings.py's 640x360 10 fps clip, so that both paths carry
the same frames and bytes: RTP packets per second set most of the cost and differ 25-fold between the
two clips. CPU per frame and per Mbit are reported too, for other clips.

CPU is measured as bench_gb_forward does (its `measure`): the sender process's on-CPU time from
/proc schedstat over the window, cut into slices, the median slice quoted; the RTSP server's and the
receiver's over the whole window. Both paths send to bench_gb_forward's draining receiver process.
`--profile N` instead runs N replay sessions under cProfile and prints where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import json
import multiprocessing as mp
import os
import pstats
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from adapters.common.media import Packet
from adapters.gb28181.media import MediaSender, MediaTarget
from benchmarks.bench_gb_forward import (
    FPS,
    Receiver,
    Result,
    access_units,
    cpu_ns,
    make_clip,
    measure,
    remux_mkv,
    run_ours,
    summarise,
)
from benchmarks.common import REPO
from gateway.recordings.replay import Replay, Replays
from gateway.recordings.sources import Found, ReplayTarget
from sim.recordings import segment_name
from sim.server import RtspServerProcess

MOUNT = "/replay/ch1"
# The store: one channel, one segment file standing for 4 h of recording from this instant.
RECORDED_FROM = datetime(2026, 12, 6, tzinfo=UTC)
RECORDED_S = 4 * 3600
# How long to wait for all sessions to be playing before giving up.
OPEN_TIMEOUT_S = 60.0


# --- the NVR's recordings ---------------------------------------------------------------------------


def make_store(root: Path, mkv: Path) -> Path:
    """A channel directory whose one segment is the clip, as sim/recordings.py lays a store out."""
    channel = root / "ch1"
    channel.mkdir(parents=True)
    target = channel / segment_name(RECORDED_FROM, RECORDED_S)
    try:
        os.link(mkv, target)
    except OSError:
        shutil.copyfile(mkv, target)
    return channel


class _Nvr:
    """The recording source of every benchmark camera: the NVR's ONVIF replay URI, at most `limit` at once."""

    description = "benchmark NVR"

    def __init__(self, url: str, limit: int) -> None:
        self._url = url
        self._limit = limit

    async def search(self, start: float, end: float) -> Found:
        raise NotImplementedError  # not verifiable: Replays does not search

    async def replay(self, start: float, end: float) -> ReplayTarget:
        return ReplayTarget(self._url, None, None, True, "nvr", self._limit)


class _Catalog:
    def __init__(self, source: _Nvr) -> None:
        self._source = source

    def source_of(self, camera_id: str) -> _Nvr:
        return self._source

    def verifiable(self, camera_id: str) -> bool:
        return False

    async def spans(self, camera_id: str, start: float, end: float) -> list[tuple[float, float]] | None:
        return None


# --- the replaying process ---------------------------------------------------------------------------


def replay_main(url: str, streams: int, port: int, counters: Any, stop: Any, profile: str | None) -> None:
    """N replay sessions in one asyncio loop. counters[i] = frames sent by session i; [n] = RTP packets
    sent; [n+1] = sessions playing; [n+2] = frames dropped; [n+3] = sessions that ended early."""
    profiler = cProfile.Profile() if profile else None
    collections = _GcTimer() if profile else None
    asyncio.run(_replays(url, streams, port, counters, stop, profiler, collections))
    if profiler is not None and profile:
        profiler.dump_stats(profile)
        Path(profile + ".gc").write_text(json.dumps(collections.report() if collections else {}))


class _GcTimer:
    """The garbage collector's passes and time, per generation, while enabled (gc.callbacks)."""

    def __init__(self) -> None:
        self.on = False
        self._began = 0.0
        self.passes = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        elif self.on:
            generation = info["generation"]
            self.passes[generation] += 1
            self.seconds[generation] += time.perf_counter() - self._began

    def report(self) -> dict[str, list[float]]:
        return {"passes": [float(p) for p in self.passes], "seconds": [round(s, 4) for s in self.seconds]}


async def _replays(
    url: str,
    streams: int,
    port: int,
    counters: Any,
    stop: Any,
    profiler: cProfile.Profile | None,
    collections: _GcTimer | None,
) -> None:
    replays = Replays(_Catalog(_Nvr(url, streams)))
    start = RECORDED_FROM.timestamp()
    end = start + RECORDED_S
    opened: list[Replay] = []
    senders: list[MediaSender] = []
    for i in range(streams):
        replay = await replays.open(f"cam{i}", start, end)
        opened.append(replay)
        info = replay.info
        extradata = info.extradata if info.extradata and info.extradata.startswith((b"\0\0\1", b"\0\0\0\1")) else None
        codec: Literal["h264", "h265"] = "h264" if info.codec == "h264" else "h265"
        target = MediaTarget(transport="udp", ssrc=200_000_000 + i, remote_ip="127.0.0.1", remote_port=port)
        senders.append(MediaSender(target, codec, parameter_sets=extradata, lossless=True))

    positions: dict[str, float] = {}

    async def packets(replay: Replay) -> AsyncIterator[Packet]:
        # gateway/gb28181/sessions.py `_replay_packets`: the position follows each frame's recorded time.
        async for frame in replay.frames():
            if frame.recorded is not None:
                positions[replay.camera_id] = frame.recorded
            yield frame.packet

    async def one(replay: Replay, sender: MediaSender) -> None:
        try:
            await sender.run(packets(replay))
        finally:
            if not stop.is_set():
                counters[streams + 3] += 1

    async def count() -> None:
        while True:
            for i, sender in enumerate(senders):
                counters[i] = sender.stats.frames_sent
            counters[streams] = sum(s.stats.packets_sent for s in senders)
            counters[streams + 2] = sum(s.stats.frames_dropped for s in senders)
            await asyncio.sleep(0.2)

    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []
    counting = asyncio.create_task(count())
    try:
        # As unsynchronised cameras, and as bench_gb_forward's streams: the sessions' frame instants
        # spread over one frame period.
        t0 = loop.time() + 0.1
        for i, (replay, sender) in enumerate(zip(opened, senders, strict=True)):
            delay = t0 + i / FPS / streams - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await replay.play(at=replay.start)
            tasks.append(asyncio.create_task(one(replay, sender)))
            counters[streams + 1] = i + 1
        if profiler is not None:
            profiler.enable()
        if collections is not None:
            collections.on = True
        while not stop.is_set():  # a multiprocessing Event: polled
            done, _ = await asyncio.wait(tasks, timeout=0.2)
            if len(done) == len(tasks):
                break
        if profiler is not None:
            profiler.disable()
        if collections is not None:
            collections.on = False
    finally:
        counting.cancel()
        for sender in senders:
            sender.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(r.aclose() for r in opened), return_exceptions=True)


# --- measuring ---------------------------------------------------------------------------------------


@dataclass
class Row:
    path: str  # "live" or "replay"
    result: Result
    us_cpu_per_frame: float
    ms_cpu_per_mbit: float  # CPU ms per Mbit of video received by the platform
    nvr_cpu_cores: float | None = None  # the RTSP server's, over the window (replay only)
    frames_dropped: int = 0
    ended_early: int = 0


def derived(result: Result, frames_s: float) -> tuple[float, float]:
    """(µs of CPU per frame, ms of CPU per Mbit received) from the median-slice cores."""
    mbit_s = result.received_mbps_per_stream * result.streams
    per_frame = result.cpu_cores * 1e6 / frames_s if frames_s else float("nan")
    per_mbit = result.cpu_cores * 1e3 / mbit_s if mbit_s else float("nan")
    return round(per_frame, 1), round(per_mbit, 2)


def run_replay(
    server: RtspServerProcess,
    streams: int,
    receiver: Receiver,
    warmup: float,
    seconds: float,
    slices: int,
    profile: str | None = None,
) -> Row | None:
    ctx = mp.get_context("spawn")  # a clean interpreter, as bench_gb_forward's senders
    counters = ctx.RawArray("q", streams + 4)
    stop = ctx.Event()
    args = (server.url(MOUNT), streams, receiver.port, counters, stop, profile)
    proc = ctx.Process(target=replay_main, args=args, daemon=True)
    proc.start()
    assert proc.pid is not None and server.pid is not None
    try:
        deadline = time.monotonic() + OPEN_TIMEOUT_S
        while counters[streams + 1] < streams:
            if not proc.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{counters[streams + 1]} of {streams} replays playing (exit {proc.exitcode})")
            time.sleep(0.1)
        time.sleep(warmup)
        if profile:
            time.sleep(seconds)
            return None
        extra0 = list(counters[streams:])
        nvr0, t0 = cpu_ns([server.pid]), time.monotonic()
        window = measure(
            [proc.pid], lambda: [float(c) for c in counters[:streams]], receiver.totals, receiver.pid, seconds, slices
        )
        nvr1, t1 = cpu_ns([server.pid]), time.monotonic()
        extra1 = list(counters[streams:])
    finally:
        stop.set()
        proc.join(15)
        if proc.is_alive():
            proc.kill()
    if proc.exitcode != 0:
        raise RuntimeError(f"replay process exited with {proc.exitcode}")
    result = summarise("replay", streams, window)
    per_frame, per_mbit = derived(result, sum(window.fps))
    return Row(
        "replay",
        result,
        per_frame,
        per_mbit,
        nvr_cpu_cores=round((nvr1 - nvr0) / 1e9 / (t1 - t0), 3),
        frames_dropped=extra1[2] - extra0[2],
        ended_early=extra1[3],
    )


def run_live(
    aus: list[tuple[bytes, bool]], streams: int, receiver: Receiver, warmup: float, seconds: float, slices: int
) -> Row:
    result = run_ours(aus, streams, receiver.port, receiver, warmup, seconds, slices, sessions=True)
    result.kind = "live"
    # run_ours gives no per-stream window: the paced fps times the streams stands in for frames/s.
    per_frame, per_mbit = derived(result, result.fps_median * streams)
    return Row("live", result, per_frame, per_mbit)


# --- report ------------------------------------------------------------------------------------------


def table(rows: list[Row], clip_mbps: float) -> str:
    lines = [
        "| path | streams | CPU, cores | CPU per stream, ms/s | streams per core | CPU per frame, µs "
        "| CPU per Mbit, ms | paced fps, min / median | system share of CPU "
        f"| received Mbit/s per stream (clip {clip_mbps:.2f}) | NVR (RTSP server) CPU, cores | receiver CPU, cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r = row.result
        nvr = "" if row.nvr_cpu_cores is None else f"{row.nvr_cpu_cores:.3f}"
        lines.append(
            f"| {row.path} | {r.streams} | {r.cpu_cores:.3f} | {r.ms_cpu_per_stream_s:.2f} | {r.streams_per_core:.0f} "
            f"| {row.us_cpu_per_frame:.0f} | {row.ms_cpu_per_mbit:.2f} | {r.fps_min:.2f} / {r.fps_median:.2f} "
            f"| {r.system_share:.0%} | {r.received_mbps_per_stream:.2f} | {nvr} | {r.receiver_cpu_cores:.3f} |"
        )
    return "\n".join(lines)


def print_profile(path: str, top: int = 30) -> None:
    out = io.StringIO()
    stats = pstats.Stats(path, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    out.write("\n")
    stats.sort_stats("cumulative").print_stats(top)
    print(out.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--streams", type=int, nargs="*", default=[5, 10, 20], help="sessions of each path per run")
    ap.add_argument("--seconds", type=float, default=15, help="measured window per run")
    ap.add_argument("--slices", type=int, default=3, help="the window is cut into this many; the median is quoted")
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--no-live", action="store_true", help="replays only (no live baseline)")
    ap.add_argument("--profile", type=int, metavar="N", help="run N replays under cProfile instead, and print it")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    clip = make_clip(REPO / "samples" / "clips")
    mkv = remux_mkv(clip)
    aus = access_units(clip)
    clip_mbps = sum(len(a) for a, _ in aus) * 8 / (len(aus) / FPS) / 1e6
    print(f"clip {clip.name}: {len(aus)} frames at {FPS} fps, {clip_mbps:.2f} Mbit/s", flush=True)

    rows: list[Row] = []
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-gb-replay-")))
        channel = make_store(root, mkv)
        server = stack.enter_context(RtspServerProcess([], replays=[(MOUNT, channel)]))
        receiver = stack.enter_context(Receiver())
        time.sleep(0.5)
        if args.profile:
            path = str(root / "replay.prof")
            run_replay(server, args.profile, receiver, args.warmup, args.seconds, args.slices, profile=path)
            print_profile(path)
            print("garbage collector while profiled (generations 0, 1, 2):", Path(path + ".gc").read_text())
            return
        for n in args.streams:
            if not args.no_live:
                rows.append(run_live(aus, n, receiver, args.warmup, args.seconds, args.slices))
                print(json.dumps(asdict(rows[-1])), flush=True)
            replayed = run_replay(server, n, receiver, args.warmup, args.seconds, args.slices)
            assert replayed is not None
            rows.append(replayed)
            print(json.dumps(asdict(rows[-1])), flush=True)

    live = {r.result.streams: r for r in rows if r.path == "live"}
    ratios = {
        str(r.result.streams): round(
            r.result.ms_cpu_per_stream_s / live[r.result.streams].result.ms_cpu_per_stream_s, 2
        )
        for r in rows
        if r.path == "replay" and r.result.streams in live
    }
    print()
    print(table(rows, clip_mbps))
    print()
    if ratios:
        print("replay / live CPU per stream:", ", ".join(f"{n} streams {v:.2f}" for n, v in ratios.items()))
    for row in rows:
        r = row.result
        if r.fps_min < FPS * 0.96:
            print(f"WARNING: {row.path} x{r.streams} did not hold {FPS} fps (slowest stream {r.fps_min})")
        if row.ended_early or row.frames_dropped:
            print(f"WARNING: {row.path} x{r.streams}: {row.ended_early} ended early, {row.frames_dropped} dropped")
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "clip": {"path": str(clip.relative_to(REPO)), "frames": len(aus), "fps": FPS, "mbps": round(clip_mbps, 3)},
        "seconds": args.seconds,
        "slices": args.slices,
        "rows": [asdict(r) for r in rows],
        "ratio_replay_over_live_per_stream": ratios,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
