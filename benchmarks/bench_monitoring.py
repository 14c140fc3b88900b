"""Monitoring cost: N camera streams watched by the gateway vs decoding them (what peers do).

    .venv/bin/python -m benchmarks.bench_monitoring --streams 500 --compare-ffmpeg

Both sides read the same 1080p25 H.264 streams from a real local RTSP server (GStreamer). The
gateway's processes are counted (main and camera reader processes); the server's CPU is printed
for context. The decoding baseline
runs in the same invocation with PyAV (thread_type AUTO), on fewer streams because decoding 200 is
beyond this machine, and is reported per stream. With --compare-ffmpeg the gateway runs a second
time, in the same invocation, as it read cameras before the light reader (supervisor.rtsp_reader
ffmpeg, 50 cameras per worker process): the baseline of the memory figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, Gateway, cpu_seconds, cpu_share, median, rss_mb, threads, tree
from sim.clips import make_clips
from sim.server import RtspServerProcess

DECODER = textwrap.dedent(
    """
    import sys, threading, av
    def decode(url):
        c = av.open(url, options={"rtsp_transport": "tcp"})
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for packet in c.demux(s):
            for _ in packet.decode():
                pass
    for url in sys.argv[1:]:
        threading.Thread(target=decode, args=(url,), daemon=True).start()
    print("started", flush=True)
    threading.Event().wait()
    """
)


def measure(pid: int, seconds: float, repeats: int) -> tuple[list[float], list[float]]:
    """Shares of a core over `repeats` windows: the gateway's processes together, and its main one alone."""
    shares, main = [], []
    for _ in range(repeats):
        c0, m0, t0 = cpu_seconds(pid), cpu_seconds(pid, alone=True), time.monotonic()
        time.sleep(seconds / repeats)
        elapsed = time.monotonic() - t0
        shares.append((cpu_seconds(pid) - c0) / elapsed)
        main.append((cpu_seconds(pid, alone=True) - m0) / elapsed)
    return shares, main


def run_gateway(
    workdir: Path,
    cams: list[dict[str, Any]],
    streams: int,
    seconds: float,
    supervisor: dict[str, Any],
    server_pid: int,
) -> dict[str, object]:
    """Start the gateway on `cams`, wait for all online, measure; the figures of one run."""
    workdir.mkdir()
    gateway = Gateway(workdir, cams, **supervisor)
    started = time.monotonic()
    try:
        gateway.start(timeout_s=300)
        ready_s: float | None = None
        try:
            gateway.wait_all(timeout=300)
            ready_s = time.monotonic() - started  # from the command, not from the API answering
        except RuntimeError as exc:
            print(f"not all online within 300 s: {exc}", flush=True)
        time.sleep(10)  # settle: every session past its first second
        server_cpu = cpu_share(server_pid, 5)
        shares, main_shares = measure(gateway.pid, seconds, 5)
        rss = rss_mb(gateway.pid)
        n_threads = threads(gateway.pid)
        processes = len(tree(gateway.pid))
        online = sum(1 for c in gateway.cameras().values() if c["state"] in ("online", "degraded"))
    finally:
        gateway.stop()
    figures: dict[str, object] = {
        "reader": supervisor.get("rtsp_reader", "light"),
        "gateway_cpu_cores": round(median(shares), 4),
        "main_process_cpu_cores": round(median(main_shares), 4),
        "gateway_cpu_per_stream_pct": round(100 * median(shares) / streams, 3),
        "gateway_rss_mb": round(rss, 1),
        "gateway_rss_per_stream_mb": round(rss / streams, 2),
        "gateway_threads": n_threads,
        "gateway_processes": processes,
        "online_at_end": online,
        "all_online_after_start_s": None if ready_s is None else round(ready_s, 1),
        "server_cpu_cores": round(server_cpu, 3),
    }
    print(json.dumps(figures), flush=True)  # as each run ends: a later run that fails loses nothing
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--mounts", type=int, default=20, help="distinct RTSP paths the streams are spread over")
    ap.add_argument("--decode-streams", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0, help="measuring time per side")
    ap.add_argument("--workers", type=int, default=None, help="supervisor.workers (default: automatic)")
    ap.add_argument("--read-batch", type=float, default=None, help="supervisor.read_batch_s (default: 0.5)")
    ap.add_argument("--quality-interval", type=float, default=None, help="supervisor.quality_interval_s (default: 60)")
    ap.add_argument("--compare-ffmpeg", action="store_true", help="also run the gateway with FFmpeg's reader")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    clip = make_clips(REPO / "samples" / "clips", names={"hd_h264"})["hd_h264"]
    kbps = clip.path.stat().st_size * 8 / clip.seconds / 1000
    mounts = [(f"/cam{i}", clip) for i in range(args.mounts)]
    results: dict[str, object] = {
        "streams": args.streams,
        "stream": f"{clip.width}x{clip.height} {clip.fps} fps H.264, {kbps:.0f} kbit/s, GOP {clip.gop}",
    }
    with RtspServerProcess(mounts) as server, tempfile.TemporaryDirectory() as tmp:
        urls = [server.url(f"/cam{i % args.mounts}") for i in range(args.streams)]
        cams = [{"id": f"c{i:03d}", "name": f"c{i}", "source": {"rtsp": u}} for i, u in enumerate(urls)]
        overrides = {
            "workers": args.workers,
            "read_batch_s": args.read_batch,
            "quality_interval_s": args.quality_interval,
        }
        overrides = {k: v for k, v in overrides.items() if v is not None}
        results.update(run_gateway(Path(tmp) / "light", cams, args.streams, args.seconds, overrides, server.pid or 0))
        if args.compare_ffmpeg:
            before = {"rtsp_reader": "ffmpeg", "cameras_per_worker": 50, **overrides}
            baseline = run_gateway(Path(tmp) / "ffmpeg", cams, args.streams, args.seconds, before, server.pid or 0)
            results.update({f"ffmpeg_{k}": v for k, v in baseline.items()})

        decoder = subprocess.Popen(
            [sys.executable, "-c", DECODER, *urls[: args.decode_streams]], stdout=subprocess.PIPE, text=True
        )
        try:
            assert decoder.stdout is not None
            decoder.stdout.readline()
            time.sleep(5)
            dshares, _ = measure(decoder.pid, args.seconds, 5)
            drss = rss_mb(decoder.pid)
        finally:
            decoder.kill()
            decoder.wait()
        per_stream_decode = median(dshares) / args.decode_streams
        results.update(
            baseline_decode_streams=args.decode_streams,
            baseline_cpu_per_stream_pct=round(100 * per_stream_decode, 2),
            baseline_rss_per_stream_mb=round(drss / args.decode_streams, 1),
            cpu_ratio_baseline_over_gateway=round(
                per_stream_decode / (float(results["gateway_cpu_cores"]) / args.streams),  # type: ignore[arg-type]
                1,
            ),
        )

    print(json.dumps(results, indent=2))
    print(
        f"\n{args.streams} streams: gateway {results['gateway_cpu_cores']:.3f} cores "
        f"({results['gateway_cpu_per_stream_pct']}% of a core per stream), "
        f"{results['gateway_rss_per_stream_mb']} MB RSS per stream; decoding baseline "
        f"{results['baseline_cpu_per_stream_pct']}% per stream -> "
        f"{results['cpu_ratio_baseline_over_gateway']}x less CPU"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
