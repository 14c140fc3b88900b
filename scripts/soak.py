"""Soak: a real `gateway run` against simulated RTSP cameras that flap on a schedule, for minutes or hours.

    .venv/bin/python -m scripts.soak --hours 4          # `make soak`
    .venv/bin/python -m scripts.soak --minutes 30 --detector

Each camera has an RTSP server of its own (sim/), so one camera's outage never touches another.
Every cycle the flapping cameras go down in their own way (server killed, server stopped, stream stalled
with SIGSTOP, mount removed) for a short or a long outage; two control cameras are never down. The gateway
process (and its reader processes) is sampled from /proc; at the end of each cycle, once every camera is
back online, a "quiet" sample is taken: after the warm-up cycle, fds, threads and child processes must be
back at the warm-up level (plus a small constant). RSS growth over the second half is fitted with
Theil-Sen. The stored state changes are compared with the schedule: each flap must be one offline episode.

Writes samples.csv, summary.json and summary.md to var/soak/<timestamp>/ (or --out); exits 1 when the
gateway is not flat or a flap was missed, 2 when the soak could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import secrets
import signal
import sqlite3
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from sim.clips import ClipInfo, make_clips
from sim.server import RtspServerProcess, free_port
from tests.support.gateway import GatewayProcess, run_cli

REPO = Path(__file__).resolve().parents[1]
PASSWORD_ENV = "SOAK_CAM_PW"  # noqa: S105 - the name of a variable, not a password

# (camera id, clip name, how it flaps; "control" is never down). Cameras 2 and 4 stop in the same cycle
# slot as others so that overlapping outages are part of the run.
CAMERAS: tuple[tuple[str, str, str], ...] = (
    ("cam-kill", "hd720_h264", "kill"),
    ("cam-restart", "hd720_h265", "restart"),
    ("cam-stall", "hd720_h264", "stall"),
    ("cam-unmount", "hd720_h264", "unmount"),
    ("cam-control-1", "hd720_h264", "control"),
    ("cam-control-2", "hd720_h265", "control"),
)
MOUNT = "/live"


@dataclass(frozen=True)
class Profile:
    """Timings of one soak: the schedule, the gateway's supervisor and the judgement."""

    cycle_s: float
    short_s: float  # outage lengths alternate short, long, short ... cycle by cycle
    long_s: float
    offsets_s: tuple[float, ...]  # when, within a cycle, each flapping camera goes down
    sample_s: float
    settle_s: float  # after every camera is back online, before the quiet sample
    online_timeout_s: float
    poll_s: float  # the dashboard's poll of the API
    supervisor: dict[str, float]
    warmup_cycles: int = 1
    fd_tolerance: int = 4
    thread_tolerance: int = 3
    rss_slope_limit_mib_h: float = 8.0
    rss_growth_limit_mib: float = 256.0
    min_fit_s: float = 600.0  # a slope over less than this is reported, not judged


LONG = Profile(
    cycle_s=240,
    short_s=10,
    long_s=75,
    offsets_s=(15, 25, 35, 45),
    sample_s=5,
    settle_s=5,
    online_timeout_s=90,
    poll_s=2,
    # The gateway's defaults, except a shorter sample interval so that the history grows as it would on a
    # busy site.
    supervisor={"sample_interval_s": 15},
)

FAST = Profile(
    cycle_s=19,
    short_s=4,
    long_s=6.5,
    offsets_s=(1, 1.5, 2, 2.5),
    sample_s=1,
    settle_s=1.5,
    online_timeout_s=9,
    poll_s=1,
    supervisor={
        "connect_timeout_s": 2.5,
        "stall_timeout_s": 2.5,
        "backoff_initial_s": 0.3,
        "backoff_max_s": 1.5,
        "probe_interval_s": 0.5,
        "sample_interval_s": 5,
    },
    fd_tolerance=4,
    thread_tolerance=3,
    rss_growth_limit_mib=96,
)


@dataclass
class Flap:
    camera: str
    kind: str
    cycle: int
    at_s: float  # scheduled, from the soak's start
    outage_s: float
    down_at: float = 0.0  # wall clock, as done
    up_at: float = 0.0
    recorded: bool = False
    reasons: tuple[str, ...] = ()  # as stored, in order: a camera's reason may change while it is down


@dataclass
class Sample:
    t: float  # seconds from the soak's start
    wall: float
    tag: str  # "periodic" or "quiet"
    cycle: int
    rss_kib: int
    fds: int
    threads: int
    children: int
    children_rss_kib: int
    children_fds: int
    children_threads: int
    db_bytes: int
    online: int


SAMPLE_FIELDS = list(Sample.__dataclass_fields__)


@dataclass
class Result:
    ok: bool
    problems: list[str]
    summary: dict[str, Any]
    out_dir: Path
    samples: list[Sample] = field(default_factory=list)
    flaps: list[Flap] = field(default_factory=list)


def schedule(profile: Profile, cycles: int) -> list[Flap]:
    """The flaps of `cycles` cycles; cycle 0 starts at 0 s."""
    flapping = [(cid, kind) for cid, _clip, kind in CAMERAS if kind != "control"]
    flaps = []
    for cycle in range(cycles):
        outage = profile.short_s if cycle % 2 == 0 else profile.long_s
        for (cid, kind), offset in zip(flapping, profile.offsets_s, strict=True):
            flaps.append(Flap(cid, kind, cycle, cycle * profile.cycle_s + offset, outage))
    return flaps


# --- /proc ---------------------------------------------------------------------------------------------


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))  # noqa: PTH208 - only the count is needed


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (reader processes and multiprocessing's resource tracker)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            # A process may end between the listing and the read.
            with contextlib.suppress(OSError, ValueError, IndexError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found.extend(kids)
        frontier.extend(kids)
    return sorted(found)


def proc_figures(pid: int) -> tuple[int, int, int]:
    """(VmRSS in KiB, open fds, threads) of one process."""
    status = _status(pid)
    return int(status["VmRSS"].split()[0]), _fd_count(pid), int(status["Threads"])


def theil_sen_slope(points: list[tuple[float, float]], max_points: int = 400) -> float:
    """Median of the pairwise slopes: one outlier (a GC pause, a burst) does not tilt it."""
    if len(points) > max_points:
        step = len(points) / max_points
        points = [points[int(i * step)] for i in range(max_points)]
    slopes = [(y2 - y1) / (x2 - x1) for i, (x1, y1) in enumerate(points) for x2, y2 in points[i + 1 :] if x2 != x1]
    return statistics.median(slopes) if slopes else 0.0


# --- the parts -------------------------------------------------------------------------------------------


class Camera:
    """One simulated camera: its own RTSP server on a fixed port, which the flaps kill, stall or empty."""

    def __init__(self, cid: str, clip: ClipInfo, kind: str, password: str) -> None:
        self.cid, self.clip, self.kind, self.password = cid, clip, kind, password
        self.port = free_port()
        self.server = self._server([(MOUNT, clip)])

    def _server(self, mounts: list[tuple[str, ClipInfo]]) -> RtspServerProcess:
        return RtspServerProcess(mounts, port=self.port, username="cam", password=self.password)

    @property
    def url(self) -> str:
        return self.server.url(MOUNT)

    def down(self) -> None:
        if self.kind == "kill":
            self.server.kill()
        elif self.kind == "restart":
            self.server.stop()
        elif self.kind == "stall":
            # Packets stop with the sockets open, as when a camera's encoder or a switch port hangs.
            assert self.server.pid is not None
            os.kill(self.server.pid, signal.SIGSTOP)
        elif self.kind == "unmount":
            # The camera answers, but its stream path is gone (a reconfigured or reset camera).
            self.server.stop()
            self.server = self._server([("/other", self.clip)])
            self.server.start()

    def up(self) -> None:
        if self.kind in ("kill", "restart"):
            self.server.start()
        elif self.kind == "stall":
            assert self.server.pid is not None
            os.kill(self.server.pid, signal.SIGCONT)
        elif self.kind == "unmount":
            self.server.stop()
            self.server = self._server([(MOUNT, self.clip)])
            self.server.start()

    def stop(self) -> None:
        if self.server.pid is not None and self.server.running:
            os.kill(self.server.pid, signal.SIGCONT)
        self.server.stop()


class Gateway:
    """`gateway run` as a child process (the tests' GatewayProcess), with an admin token and an API client."""

    def __init__(self, out_dir: Path, config: dict[str, Any], env: dict[str, str]) -> None:
        self.port = int(config["server"]["port"])
        self.base = f"http://127.0.0.1:{self.port}"
        self.path = out_dir / "site.yaml"
        self.path.write_text(yaml.safe_dump(config))
        added = run_cli(["user", "add", "soak", "--role", "admin", "-c", str(self.path)], env)
        if added.returncode != 0:
            raise RuntimeError(f"gateway user add failed: {added.stderr}")
        self.token = added.stdout.split()[-1]
        self.client = httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=10)
        self.process = GatewayProcess(["run", "-c", str(self.path)], env, out_dir / "gateway.log", self.port)

    def start(self, timeout: float = 60.0) -> None:
        self.process.start(timeout)

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid

    def states(self) -> dict[str, str]:
        r = self.client.get("/api/v1/cameras")
        r.raise_for_status()
        return {c["id"]: c["state"] for c in r.json()}

    def stop(self, timeout: float = 30.0) -> int:
        self.client.close()
        if self.process.proc is None:
            return -1
        return self.process.stop(timeout)


class Sampler:
    """Samples the gateway from /proc every `interval` seconds on a thread, and on demand (quiet points)."""

    def __init__(self, gateway: Gateway, db: Path, started: float, interval: float, csv_path: Path) -> None:
        self.gateway, self.db, self.started, self.interval = gateway, db, started, interval
        self.samples: list[Sample] = []
        self.csv_path = csv_path
        with csv_path.open("w", newline="") as handle:
            csv.DictWriter(handle, fieldnames=SAMPLE_FIELDS).writeheader()
        self.online = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)
        self.cycle = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample("periodic")

    def sample(self, tag: str) -> Sample | None:
        pid = self.gateway.pid
        try:
            rss, fds, threads = proc_figures(pid)
            kids = descendants(pid)
            figures = [proc_figures(k) for k in kids]
        except (OSError, KeyError, ValueError):
            return None  # the gateway (or a child) went away between the reads; the next sample tells
        db_bytes = sum(
            p.stat().st_size for p in (self.db, Path(f"{self.db}-wal"), Path(f"{self.db}-shm")) if p.exists()
        )
        sample = Sample(
            t=round(time.time() - self.started, 2),
            wall=round(time.time(), 2),
            tag=tag,
            cycle=self.cycle,
            rss_kib=rss,
            fds=fds,
            threads=threads,
            children=len(kids),
            children_rss_kib=sum(f[0] for f in figures),
            children_fds=sum(f[1] for f in figures),
            children_threads=sum(f[2] for f in figures),
            db_bytes=db_bytes,
            online=self.online,
        )
        with self._lock:
            self.samples.append(sample)
            # Row by row, so that an hours-long run that dies still leaves its figures behind.
            with self.csv_path.open("a", newline="") as handle:
                csv.DictWriter(handle, fieldnames=SAMPLE_FIELDS).writerow(asdict(sample))
        return sample


class Dashboard:
    """Polls the API as an operator's dashboard would; counts what failed."""

    def __init__(self, gateway: Gateway, sampler: Sampler, interval: float) -> None:
        self.gateway, self.sampler, self.interval = gateway, sampler, interval
        self.polls = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-dashboard", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        # A client of its own: httpx.Client is not shared across threads here.
        with httpx.Client(base_url=self.gateway.base, headers=self.gateway.client.headers, timeout=10) as client:
            while not self._stop.wait(self.interval):
                try:
                    cams = client.get("/api/v1/cameras")
                    cams.raise_for_status()
                    self.sampler.online = sum(c["state"] == "online" for c in cams.json())
                    client.get("/healthz").raise_for_status()
                    client.get("/metrics").raise_for_status()
                    self.polls += 1
                except (httpx.HTTPError, ValueError) as exc:
                    self.errors.append(f"{time.time():.1f} {exc!r}"[:300])


# --- the gateway's view ---------------------------------------------------------------------------------


Episode = tuple[float, float | None, tuple[str, ...]]


def offline_episodes(db: Path, camera: str, since: float) -> list[Episode]:
    """(start, end or None, reasons) of each stored offline episode of `camera` since `since`."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT ts, state, reason FROM camera_state_changes WHERE camera_id = ? AND ts >= ? ORDER BY ts, id",
            (camera, since),
        ).fetchall()
    episodes: list[Episode] = []
    start: float | None = None
    reasons: list[str] = []
    for ts, state, reason in rows:
        if state == "offline":
            start = ts if start is None else start
            if (reason or "?") not in reasons:
                reasons.append(reason or "?")
        elif start is not None:
            episodes.append((start, ts, tuple(reasons)))
            start, reasons = None, []
    if start is not None:
        episodes.append((start, None, tuple(reasons)))
    return episodes


def match_flaps(flaps: list[Flap], episodes: dict[str, list[Episode]]) -> int:
    """Mark each flap that one stored offline episode explains; return the episodes nothing explains."""
    spurious = 0
    now = time.time()  # the repair of a flap cut short by an interruption is the cleanup's, at the end
    for cid, eps in episodes.items():
        mine = [f for f in flaps if f.camera == cid and f.down_at]
        for start, _end, reasons in eps:
            # Detection lags the fault (a stall takes stall_timeout_s); it never leads it.
            hit = next((f for f in mine if not f.recorded and f.down_at - 1.0 <= start <= (f.up_at or now) + 1.0), None)
            if hit is None:
                spurious += 1
            else:
                hit.recorded, hit.reasons = True, reasons
    return spurious


# --- the run -----------------------------------------------------------------------------------------------


def site_config(cams: list[Camera], db: Path, profile: Profile, detector: bool, workers: int | None) -> dict[str, Any]:
    cameras: list[dict[str, Any]] = []
    for i, cam in enumerate(cams):
        entry: dict[str, Any] = {
            "id": cam.cid,
            "name": cam.cid,
            "source": {"rtsp": cam.url},
            "credentials": {"username": "cam", "password": {"env": PASSWORD_ENV}},
            "zones": ["gate"],
        }
        if detector and i % 2 == 0:
            size = f"{cam.clip.width}x{cam.clip.height}"
            whole = [
                [0, 0],
                [cam.clip.width - 1, 0],
                [cam.clip.width - 1, cam.clip.height - 1],
                [0, cam.clip.height - 1],
            ]
            entry["analytics"] = {
                "image_size": size,
                "rules": [{"id": "all", "kind": "intrusion", "polygon": whole, "cooldown_s": 30}],
            }
        cameras.append(entry)
    supervisor: dict[str, Any] = dict(profile.supervisor)
    if workers is not None:
        supervisor["workers"] = workers
    config: dict[str, Any] = {
        "site": {"id": "soak", "name": "Soak", "unit": {"name": "Soak", "headcount": 50, "key_unit": False}},
        "zones": [{"id": "gate", "name": "Gate", "kind": "entrance"}],
        "cameras": cameras,
        "supervisor": supervisor,
        "server": {"bind": "127.0.0.1", "port": free_port()},
        "storage": {"url": f"sqlite:///{db}"},
    }
    if detector:
        config["analytics"] = {"fps": 1.0, "detector": {"models_dir": str(REPO / "var" / "models")}}
    return config


def wait_all_online(gateway: Gateway, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all(s == "online" for s in gateway.states().values()):
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    return False


def soak(
    seconds: float,
    profile: Profile = LONG,
    out_dir: Path | None = None,
    *,
    detector: bool = False,
    workers: int | None = None,
    clips_dir: Path | None = None,
    log: Callable[[str], None] = print,
    stop: threading.Event | None = None,
) -> Result:
    """Run a soak of about `seconds` (whole cycles, at least warm-up + 2) and judge it."""
    cycles = max(profile.warmup_cycles + 2, round(seconds / profile.cycle_s))
    stop = stop or threading.Event()
    out_dir = out_dir or REPO / "var" / "soak" / time.strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    clips = make_clips(clips_dir or REPO / "samples" / "clips", names={c for _, c, _ in CAMERAS})
    password = secrets.token_urlsafe(12)
    cams = [Camera(cid, clips[clip], kind, password) for cid, clip, kind in CAMERAS]
    by_id = {c.cid: c for c in cams}
    db = out_dir / "gateway.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "CAM_"))}
    env[PASSWORD_ENV] = password
    flaps = schedule(profile, cycles)
    problems: list[str] = []
    quiet_missed: list[int] = []
    gateway: Gateway | None = None
    sampler: Sampler | None = None
    dashboard: Dashboard | None = None
    exit_code = -1
    started = time.time()
    try:
        for cam in cams:
            cam.server.start()
        gateway = Gateway(out_dir, site_config(cams, db, profile, detector, workers), env)
        gateway.start()
        if not wait_all_online(gateway, 60):
            raise RuntimeError(f"cameras never all online: {gateway.states()}")
        started = time.time()
        sampler = Sampler(gateway, db, started, profile.sample_s, out_dir / "samples.csv")
        sampler.online = len(cams)  # until the dashboard's first poll: they were all online a moment ago
        dashboard = Dashboard(gateway, sampler, profile.poll_s)
        sampler.start()
        dashboard.start()
        sampler.sample("start")
        log(f"soak: {cycles} cycles of {profile.cycle_s:g} s, {len(flaps)} flaps; writing {out_dir}")
        events = sorted(
            [(f.at_s, 1, f, "down") for f in flaps] + [(f.at_s + f.outage_s, 0, f, "up") for f in flaps],
            key=lambda e: (e[0], e[1]),
        )
        pending = list(events)
        for cycle in range(cycles):
            sampler.cycle = cycle
            cycle_end = (cycle + 1) * profile.cycle_s
            while pending and pending[0][0] < cycle_end:
                at, _, flap, what = pending.pop(0)
                if stop.wait(max(0.0, started + at - time.time())):
                    break
                if what == "down":
                    by_id[flap.camera].down()
                    flap.down_at = time.time()
                else:
                    by_id[flap.camera].up()
                    flap.up_at = time.time()
            if not wait_all_online(gateway, profile.online_timeout_s):
                quiet_missed.append(cycle)
                log(f"soak: cycle {cycle}: cameras not all back online: {gateway.states()}")
            time.sleep(profile.settle_s)
            quiet = sampler.sample("quiet")
            if quiet is not None:
                log(
                    f"soak: cycle {cycle} quiet: rss {quiet.rss_kib / 1024:.1f} MiB, fds {quiet.fds}, "
                    f"threads {quiet.threads}, children {quiet.children}, db {quiet.db_bytes / 1e6:.2f} MB"
                )
            if stop.wait(max(0.0, started + cycle_end - time.time())):
                break
        if stop.is_set():
            problems.append("interrupted before the end of the schedule")
    except (RuntimeError, OSError, httpx.HTTPError) as exc:
        problems.append(f"the soak could not run: {exc}")
    finally:
        if dashboard is not None:
            dashboard.stop()
        if sampler is not None:
            sampler.stop()
        if gateway is not None:
            exit_code = gateway.stop()
        for cam in cams:
            cam.stop()
    samples = sampler.samples if sampler is not None else []
    poll = (dashboard.polls, dashboard.errors) if dashboard is not None else (0, [])
    result = judge(profile, flaps, samples, db, started, exit_code, quiet_missed, poll, problems, out_dir)
    write_outputs(result)
    return result


def judge(
    profile: Profile,
    flaps: list[Flap],
    samples: list[Sample],
    db: Path,
    started: float,
    exit_code: int,
    quiet_missed: list[int],
    poll: tuple[int, list[str]],
    problems: list[str],
    out_dir: Path,
) -> Result:
    problems = list(problems)
    if exit_code != 0:
        problems.append(f"gateway exited with {exit_code} on SIGTERM")
    episodes = {cid: offline_episodes(db, cid, started) for cid, _, _ in CAMERAS} if db.exists() else {}
    spurious = match_flaps(flaps, episodes)
    done = [f for f in flaps if f.down_at]
    missed = [f for f in done if not f.recorded]
    if missed:
        problems.append(f"{len(missed)} of {len(done)} flaps not in the stored state changes")
    if spurious:
        problems.append(f"{spurious} offline episode(s) that no flap explains")
    if len(done) < len(flaps):
        problems.append(f"only {len(done)} of {len(flaps)} scheduled flaps were done")
    if quiet_missed:
        problems.append(f"cameras not all back online at the end of cycle(s) {quiet_missed}")
    if poll[1]:
        problems.append(f"{len(poll[1])} API poll(s) failed, first: {poll[1][0]}")

    quiet = [s for s in samples if s.tag == "quiet"]
    base = [s for s in quiet if s.cycle == profile.warmup_cycles - 1]
    after = [s for s in quiet if s.cycle >= profile.warmup_cycles]
    figures: dict[str, Any] = {}
    if base and after:
        b = base[-1]
        for name, tol in (
            ("fds", profile.fd_tolerance),
            ("threads", profile.thread_tolerance),
            ("children", 0),
            ("children_fds", profile.fd_tolerance),
            ("children_threads", profile.thread_tolerance),
        ):
            values = [getattr(s, name) for s in after]
            worst = max(values)
            figures[name] = {"warmup": getattr(b, name), "after_cycles": values, "max": worst, "tolerance": tol}
            if worst > getattr(b, name) + tol:
                problems.append(f"{name} not back to the warm-up level: {getattr(b, name)} -> {values}")
    else:
        problems.append("no quiet samples after the warm-up")

    warm = [s for s in samples if s.cycle >= profile.warmup_cycles]
    rss: dict[str, Any] = {}
    if warm:
        half = warm[len(warm) // 2 :]
        span_s = half[-1].t - half[0].t
        slope = theil_sen_slope([(s.t / 3600, (s.rss_kib + s.children_rss_kib) / 1024) for s in half])
        total = [(s.rss_kib + s.children_rss_kib) / 1024 for s in samples]
        rss = {
            "start_mib": round(total[0], 1),
            "warmup_end_mib": round((warm[0].rss_kib + warm[0].children_rss_kib) / 1024, 1),
            "end_mib": round(total[-1], 1),
            "max_mib": round(max(total), 1),
            "second_half_slope_mib_per_h": round(slope, 2),
            "second_half_span_s": round(span_s, 1),
            "slope_judged": span_s >= profile.min_fit_s,
            "slope_limit_mib_per_h": profile.rss_slope_limit_mib_h,
            "growth_limit_mib": profile.rss_growth_limit_mib,
        }
        if span_s >= profile.min_fit_s and slope > profile.rss_slope_limit_mib_h:
            problems.append(f"RSS grows {slope:.1f} MiB/h over the second half (limit {profile.rss_slope_limit_mib_h})")
        growth = max(total) - rss["warmup_end_mib"]
        if growth > profile.rss_growth_limit_mib:
            problems.append(f"RSS grew {growth:.0f} MiB after the warm-up (limit {profile.rss_growth_limit_mib})")

    per_camera = {}
    for cid, _clip, kind in CAMERAS:
        mine = [f for f in done if f.camera == cid]
        per_camera[cid] = {
            "kind": kind,
            "scheduled": len(mine),
            "recorded": sum(f.recorded for f in mine),
            "offline_episodes": len(episodes.get(cid, [])),
            "reasons": sorted({r for f in mine for r in f.reasons}),
        }
    duration = (samples[-1].t if samples else 0.0) / 60
    db_sizes = [s.db_bytes for s in samples]
    summary = {
        "ok": not problems,
        "problems": problems,
        "duration_min": round(duration, 1),
        "cycles": len({f.cycle for f in flaps}),
        "cycle_s": profile.cycle_s,
        "samples": len(samples),
        "flaps": {
            "scheduled": len(flaps),
            "done": len(done),
            "recorded": len(done) - len(missed),
            "spurious": spurious,
        },
        "cameras": per_camera,
        "rss": rss,
        "quiet": figures,
        "db_bytes": {"start": db_sizes[0] if db_sizes else 0, "end": db_sizes[-1] if db_sizes else 0},
        "api": {"polls": poll[0], "errors": len(poll[1])},
        "gateway_exit_code": exit_code,
        "profile": asdict(profile),
    }
    return Result(not problems, problems, summary, out_dir, samples, flaps)


def write_outputs(result: Result) -> None:
    out = result.out_dir
    (out / "summary.json").write_text(json.dumps(result.summary, indent=2) + "\n")
    s = result.summary
    rss, quiet = s["rss"], s["quiet"]
    lines = [
        f"# Soak {out.name}: {'flat' if s['ok'] else 'NOT FLAT'}",
        "",
        f"- duration: {s['duration_min']} min, {s['cycles']} cycles of {s['cycle_s']} s, {s['samples']} samples",
        f"- flaps: {s['flaps']['scheduled']} scheduled, {s['flaps']['done']} done, {s['flaps']['recorded']} recorded,"
        f" {s['flaps']['spurious']} spurious offline episodes",
    ]
    if rss:
        lines.append(
            f"- RSS (gateway + readers): start {rss['start_mib']} MiB, after warm-up {rss['warmup_end_mib']} MiB,"
            f" end {rss['end_mib']} MiB, max {rss['max_mib']} MiB; second-half Theil-Sen slope"
            f" {rss['second_half_slope_mib_per_h']} MiB/h over {rss['second_half_span_s']} s"
            f" ({'judged' if rss['slope_judged'] else 'too short to judge'})"
        )
    for name, fig in quiet.items():
        lines.append(
            f"- {name} at quiet points: warm-up {fig['warmup']}, after cycles max {fig['max']} (+{fig['tolerance']})"
        )
    lines.append(f"- DB: {s['db_bytes']['start']} -> {s['db_bytes']['end']} bytes")
    lines.append(
        f"- API polls: {s['api']['polls']}, errors {s['api']['errors']}; gateway exit {s['gateway_exit_code']}"
    )
    lines += ["", "| camera | flaps | scheduled | recorded | episodes | reasons |", "|---|---|---|---|---|---|"]
    for cid, cam in s["cameras"].items():
        lines.append(
            f"| {cid} | {cam['kind']} | {cam['scheduled']} | {cam['recorded']} | {cam['offline_episodes']} |"
            f" {', '.join(cam['reasons'])} |"
        )
    if s["problems"]:
        lines += ["", "## Problems", "", *(f"- {p}" for p in s["problems"])]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--hours", type=float, help="length of the soak (default 4 h)")
    length.add_argument("--minutes", type=float, help="length of the soak in minutes")
    parser.add_argument("--fast", action="store_true", help="the CI test's fast schedule (cycles of 19 s)")
    parser.add_argument("--detector", action="store_true", help="run person detection on half of the cameras")
    parser.add_argument("--workers", type=int, default=None, help="camera reader processes (default: the gateway's)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default var/soak/<timestamp>)")
    args = parser.parse_args(argv)
    seconds = args.minutes * 60 if args.minutes is not None else (args.hours or 4.0) * 3600
    stop = threading.Event()
    # An interrupted soak still stops its gateway and cameras and judges what it saw; a background job
    # started by a non-interactive shell ignores SIGINT, so SIGTERM does the same.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    profile = FAST if args.fast else LONG
    result = soak(seconds, profile, args.out, detector=args.detector, workers=args.workers, stop=stop)
    print((result.out_dir / "summary.md").read_text())
    if any(p.startswith("the soak could not run") for p in result.problems):
        return 2
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
