"""Detection latency: how fast the gateway sees a camera stop, stall, and come back.

    .venv/bin/python -m benchmarks.bench_detection --rounds 5

Three faults on a real local RTSP server: the server killed (TCP reset), the server frozen with
SIGSTOP (packets stop without a reset, like a hung encoder or a dead switch port), and the
server back after each. The baseline, measured in the same run, is a plain PyAV reader with
FFmpeg's default options and a fixed 5 s retry, which is how a naive integration watches a stream.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av

from benchmarks.common import REPO, Gateway, median
from sim.clips import make_clips
from sim.server import RtspServerProcess

GIVE_UP_S = 20.0


class NaiveWatcher:
    """A PyAV loop with FFmpeg defaults: reconnect 5 s after any error."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.online = False
        self._stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop:
            try:
                container = av.open(self.url, options={"rtsp_transport": "tcp"})
                for _packet in container.demux(container.streams.video[0]):
                    self.online = True
                    if self._stop:
                        return
            except (av.error.FFmpegError, OSError):
                pass
            self.online = False
            time.sleep(5)

    def stop(self) -> None:
        self._stop = True


def wait_until(check: Callable[[], bool], limit: float = GIVE_UP_S) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if check():
            return time.monotonic() - t0
        time.sleep(0.05)
    return float("inf")


def race(t0: float, gateway_done: Callable[[], bool], naive_done: Callable[[], bool]) -> tuple[float, float]:
    """Seconds from t0 until each watcher sees the change (inf past GIVE_UP_S)."""
    seen: dict[str, float] = {}
    while len(seen) < 2 and time.monotonic() - t0 < GIVE_UP_S:
        if "gw" not in seen and gateway_done():
            seen["gw"] = time.monotonic() - t0
        if "naive" not in seen and naive_done():
            seen["naive"] = time.monotonic() - t0
        time.sleep(0.05)
    return seen.get("gw", float("inf")), seen.get("naive", float("inf"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    clip = make_clips(REPO / "samples" / "clips", names={"hd720_h264"})["hd720_h264"]
    server = RtspServerProcess([("/cam", clip)])
    server.start()
    timings: dict[str, list[float]] = {k: [] for k in ("kill", "kill_back", "stall", "stall_back")}
    naive: dict[str, list[float]] = {k: [] for k in timings}
    with tempfile.TemporaryDirectory() as tmp:
        gateway = Gateway(Path(tmp), [{"id": "cam", "name": "cam", "source": {"rtsp": server.url("/cam")}}])
        gateway.start()
        watcher = NaiveWatcher(server.url("/cam"))

        def state() -> str:
            return str(gateway.cameras()["cam"]["state"])

        try:
            for _ in range(args.rounds):
                for fault in ("kill", "stall"):
                    wait_until(lambda: state() == "online" and watcher.online, 60)
                    time.sleep(2)
                    if fault == "kill":
                        server.kill()
                    else:
                        assert server.pid is not None
                        os.kill(server.pid, signal.SIGSTOP)
                    gw, nv = race(time.monotonic(), lambda: state() == "offline", lambda: not watcher.online)
                    timings[fault].append(gw)
                    naive[fault].append(nv)
                    time.sleep(3)
                    if fault == "kill":
                        server.start()
                    else:
                        assert server.pid is not None
                        os.kill(server.pid, signal.SIGCONT)
                    gw, nv = race(time.monotonic(), lambda: state() == "online", lambda: watcher.online)
                    timings[f"{fault}_back"].append(gw)
                    naive[f"{fault}_back"].append(nv)
        finally:
            watcher.stop()
            gateway.stop()
            server.stop()

    def fmt(values: list[float]) -> str | float:
        m = median(values)
        return f">{GIVE_UP_S:g}" if m == float("inf") else round(m, 2)

    results = {
        "rounds": args.rounds,
        "gateway_median_s": {k: fmt(v) for k, v in timings.items()},
        "gateway_max_s": {k: round(max(v), 2) for k, v in timings.items()},
        "naive_pyav_median_s": {k: fmt(v) for k, v in naive.items()},
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
