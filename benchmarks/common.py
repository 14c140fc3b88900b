"""Shared helpers for the benchmarks: process CPU and memory from /proc, a gateway under test."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """The process and all its descendants (the gateway's camera reader processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid: int, *, alone: bool = False) -> float:
    """User + system CPU time of a process and its descendants (`alone`: of the process only), all
    threads included."""
    total = 0.0
    for p in [pid] if alone else tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (shared pages counted in each: an upper bound)."""
    total = 0.0
    for p in tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def threads(pid: int) -> int:
    return sum(len(os.listdir(f"/proc/{p}/task")) for p in tree(pid) if Path(f"/proc/{p}").exists())


def cpu_share(pid: int, seconds: float) -> float:
    """Share of one core the process used over `seconds` of wall time (1.0 = one full core)."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Gateway:
    """`gateway run` on a generated config, in its own process, with an admin token."""

    def __init__(
        self, workdir: Path, cameras: list[dict[str, Any]], extra: dict[str, Any] | None = None, **supervisor: Any
    ) -> None:
        from sim.server import free_port

        self.port = free_port()
        self.workdir = workdir
        config = {
            "site": {"id": "bench", "name": "Benchmark", "unit": {"name": "U", "headcount": 1}},
            "cameras": cameras,
            "supervisor": {"sample_interval_s": 60, **supervisor},
            "server": {"bind": "127.0.0.1", "port": self.port},
            "storage": {"url": f"sqlite:///{workdir}/gateway.db"},
            "logging": {"level": "WARNING"},
            **(extra or {}),
        }
        self.config_path = workdir / "site.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "user",
                "add",
                "bench",
                "--role",
                "admin",
                "-c",
                str(self.config_path),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        self.token = out.stdout.split()[-1]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> None:
        log = (self.workdir / "gateway.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "run", "-c", str(self.config_path)], stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()  # not left running behind the benchmark
        raise RuntimeError(f"gateway did not answer within {timeout_s:g} s")

    def cameras(self) -> dict[str, Any]:
        r = httpx.get(
            f"http://127.0.0.1:{self.port}/api/v1/cameras",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,  # 500 cameras starting on 2 cores: the first answers are slow
        )
        return {c["id"]: c for c in r.json()}

    def wait_all(self, states: tuple[str, ...] = ("online", "degraded"), timeout: float = 120) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                cams = self.cameras()
            except httpx.TimeoutException:
                continue  # a gateway too busy to answer in 30 s: that is part of what is measured
            if all(c["state"] in states for c in cams.values()):
                return time.monotonic() - started
            time.sleep(0.5)
        bad = {k: (v["state"], v["reason"]) for k, v in self.cameras().items() if v["state"] not in states}
        raise RuntimeError(f"{len(bad)} camera(s) not in {states}: {list(bad.items())[:5]}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
