"""Coverage report generation for a large site: 1,000 cameras x 90 days of history (target: JSON < 1 s).

    .venv/bin/python -m benchmarks.bench_report [--cameras 1000] [--days 90] [--repeats 5] [--db PATH]

The history is synthetic but shaped like a real site's: a gateway restarted every week (one of
them a crash with a 20-minute gap), every tenth camera below HD for a week, every hundredth camera
flapping for an hour each day (20 outages a day). Two profiles (--history):

  typical   each camera reboots (2-minute outage) about once a week and has a quality incident
            (frozen, 1 min to 1 h) about every ten days
  heavy     each camera reboots every night and has a quality incident about every third day
            (about 5x the changes of "typical": a badly kept site) Stats samples are stored every
6 hours (the report reads only the last one per camera, by index, so their number hardly matters);
ONVIF inventory once a day per camera. The database is built once and reused (--db).

Figures are medians over --repeats runs, in one process on this machine:

  baseline: read rows   fetching every state change of the period with sqlite3, no processing
                        (the floor for any report that reads the history)
  baseline: per camera  the API's existing uptime path (HistoryReader.uptime) for every camera
  baseline: raw history the report model read from the raw history alone (rollups=False: the path
                        before daily roll-ups), and it + JSON; timed in turns with the roll-up path
  baseline: json module build from roll-ups + the same data written by the standard json module
                        (what orjson replaced), timed in turns too
  build                 the whole Report model (zones, cameras, incidents, findings) from the daily
                        roll-ups, with the timeline bars (HTML, PDF) and without (JSON, CSV)
  json/csv/html/pdf     build + render to each format
  roll-ups              computing and storing every day's roll-up once (the first long report, or
                        `gateway history rollup`), and one more day's (the daily upkeep)

--pages measures instead what a person opens: the report (with its timeline bars) gets synthetic
forwarding, recordings and hidden-danger sections for every camera (`with_sections`: two uplinks, one
camera in 20 not forwarded and one in 50 forwarded by an uplink never registered; recordings audited
every day, one camera in 8 with days below the target and long gaps, one in 40 not verifiable, one in
25 kept too briefly; a hidden-danger ticket per camera and month, 2 % of them open at the end, a third
of those overdue), is pickled once, and is rendered to HTML and PDF in Chinese in a fresh process per
render, median of --repeats rounds. With --baseline DIR (a checkout of other code: `git archive HEAD |
tar -x -C DIR`) each round renders the same report with that code too, in turns:

    .venv/bin/python -m benchmarks.bench_report --pages --baseline /tmp/before --repeats 3
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pypdf

from gateway.config import GatewayConfig
from gateway.health.rollup import rollup, whole_days
from gateway.health.uptime import HistoryReader
from gateway.reports.coverage import ReportPeriod, build_report, without_gc
from gateway.reports.model import (
    CameraForwarding,
    CameraRecordings,
    CameraReport,
    ForwardingReport,
    Report,
    Span,
    TicketFigures,
    TicketLine,
    TicketsReport,
    UplinkReport,
)
from gateway.reports.render import render
from gateway.storage import schema
from gateway.storage.db import Database

DAY = 86400.0
UNDRAWN = ("json", "csv")  # the formats the API builds without timeline bars (render.DRAWN has the others)
START = 1_760_000_000.0  # October 2025


def site_config(cameras: int, db_url: str) -> GatewayConfig:
    zones = [{"id": f"z{i}", "name": f"Zone {i}", "kind": "key_area"} for i in range(cameras // 4)]
    cams = [
        {
            "id": f"cam{i:04d}",
            "name": f"Camera {i}",
            "source": {"rtsp": f"rtsp://10.0.{i // 250}.{i % 250 + 1}/stream"},
            "zones": [f"z{i // 4}"],
        }
        for i in range(cameras)
    ]
    return GatewayConfig.model_validate(
        {
            "site": {"id": "big", "name": "Big site", "unit": {"name": "U", "headcount": 5000, "key_unit": True}},
            "zones": zones,
            "cameras": cams,
            "storage": {"url": db_url},
        }
    )


PROFILES = {"typical": (1 / 7, 0.1), "heavy": (1.0, 0.3)}  # P(reboot), P(quality incident) per camera-day


def build_history(path: Path, cameras: int, days: int, profile: str = "heavy") -> None:
    p_reboot, p_incident = PROFILES[profile]
    rng = random.Random(5)
    end = START + days * DAY
    db = sqlite3.connect(path)
    # Let the gateway create the schema, then fill it directly (much faster than the writer thread).
    runs: list[tuple[int, float, float, float | None]] = []
    t, run_id = START, 0
    while t < end:
        run_id += 1
        stop = min(end, t + 7 * DAY)
        crashed = run_id == 3
        runs.append((run_id, t, stop, None if crashed else stop))
        t = stop + (1200.0 if crashed else 5.0)
    db.executemany(
        "INSERT INTO gateway_runs (id, instance, started_at, heartbeat_at, stopped_at) VALUES (?, 'bench', ?, ?, ?)",
        [(r, s, h, st) for r, s, h, st in runs],
    )
    states: list[tuple[Any, ...]] = []
    samples: list[tuple[Any, ...]] = []
    inventory: list[tuple[Any, ...]] = []
    for c in range(cameras):
        cid = f"cam{c:04d}"
        below_hd_from = START + rng.randrange(days) * DAY if c % 10 == 0 else None
        for run, run_start, run_end, _ in runs:
            states.append((run, cid, run_start, "online", None, None))
            day = run_start - (run_start - START) % DAY
            while day < run_end:
                reboot = day + 3 * 3600 + rng.uniform(0, 600)
                if rng.random() < p_reboot and run_start < reboot < run_end - 300:
                    states.append((run, cid, reboot, "offline", "the stream ended", None))
                    states.append((run, cid, reboot + 120, "online", None, None))
                if rng.random() < p_incident:
                    at = day + rng.uniform(8 * 3600, 20 * 3600)
                    if run_start < at < run_end - 3600:
                        states.append((run, cid, at, "degraded", "picture frozen", '["quality:frozen"]'))
                        states.append((run, cid, at + rng.uniform(60, 3600), "online", None, None))
                if below_hd_from is not None and below_hd_from <= day < below_hd_from + 7 * DAY:
                    at = day + 12 * 3600
                    if run_start < at < run_end - 3600:
                        states.append((run, cid, at, "degraded", "704x576 is below HD (1920x1080)", '["below_hd"]'))
                        states.append((run, cid, at + 1800, "online", None, None))
                if c % 100 == 0:
                    at = day + 14 * 3600
                    for k in range(20):
                        if run_start < at + k * 180 + 120 < run_end:
                            states.append((run, cid, at + k * 180, "offline", "connection refused", None))
                            states.append((run, cid, at + k * 180 + 60, "online", None, None))
                day += DAY
            s = run_start
            while s < run_end:
                samples.append((run, cid, s, "online", "h264", 1920, 1080, 25.0))
                s += 6 * 3600
        d = START
        while d < end:
            inventory.append((cid, d, 1, rng.uniform(-2, 2), 1, d - 35 * DAY))
            d += DAY
    states.sort(key=lambda r: (r[1], r[2]))
    db.executemany(
        "INSERT INTO camera_state_changes (run_id, camera_id, ts, state, reason, faults) VALUES (?, ?, ?, ?, ?, ?)",
        states,
    )
    db.executemany(
        "INSERT INTO camera_samples (run_id, camera_id, ts, state, codec, width, height, fps, packets, bytes,"
        " ts_jumps, gaps, reconnects) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0)",
        samples,
    )
    db.executemany(
        "INSERT INTO camera_inventory (camera_id, ts, ok, clock_offset_s, recording_search, recordings_earliest)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        inventory,
    )
    db.commit()
    db.execute("ANALYZE")
    db.close()
    print(
        f"history: {len(runs)} runs, {len(states):,} state changes, {len(samples):,} samples,"
        f" {len(inventory):,} inventory rows"
    )


def median_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def in_turns(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float, object]]:
    """Median wall and CPU time of each, run in round-robin turns so that the neighbours' load falls on
    all alike (the CPU time of this process is the steadier figure on a shared box)."""
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    results: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            results[name] = fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name]), results[name]) for name in fns}


def stdlib_json(report: Report) -> bytes:
    """The report's JSON as the standard json module writes it (compact: its C encoder)."""
    with without_gc():  # as render() makes it
        data = report.to_dict()
        return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def rollup_costs(
    db: Database, reader: HistoryReader, config: GatewayConfig, period: ReportPeriod, repeats: int
) -> None:
    """Computing every day's roll-up once, then one day's (what each day adds), from an empty table."""
    ids, tz = [c.id for c in config.cameras], ZoneInfo(config.site.timezone)
    days = whole_days(period.start, period.end, tz)
    with db.engine.begin() as conn:
        conn.execute(schema.camera_days.delete())
    t0 = time.perf_counter()
    count = rollup(reader, ids, period.start, period.end, tz, period.now)
    print(f"{'roll up every day (once)':<34}{time.perf_counter() - t0:>9.2f}s   ({count:,} camera-days)")
    last = days[-1]

    def one_day() -> int:
        with db.engine.begin() as conn:
            conn.execute(schema.camera_days.delete().where(schema.camera_days.c.start == last.start))
        return rollup(reader, ids, last.start, last.end, tz, period.now)

    day_s, _ = median_time(one_day, repeats)
    print(f"{'roll up one more day (daily)':<34}{day_s:>9.2f}s   ({len(ids):,} cameras)")


def _figures(lines: list[TicketLine], target_s: float) -> TicketFigures:
    acked = [t.acknowledge_s for t in lines if t.acknowledge_s is not None]
    repaired = [t.repair_s for t in lines if t.repair_s is not None]
    return TicketFigures(
        opened=len(lines),
        due=len(lines),
        acknowledged_in_target=sum(1 for s in acked if s <= target_s),
        acknowledge_median_s=statistics.median(acked) if acked else None,
        acknowledge_worst_s=max(acked) if acked else None,
        repaired=len(repaired),
        repair_median_s=statistics.median(repaired) if repaired else None,
        repair_worst_s=max(repaired) if repaired else None,
        open_at_end=sum(1 for t in lines if t.open_at_end),
        overdue_at_end=sum(1 for t in lines if t.overdue),
        oldest_open_s=None,
    )


def with_sections(report: Report, seed: int = 26) -> Report:
    """``report`` with forwarding, recordings and hidden-danger sections for every camera (see --pages)."""
    rng = random.Random(seed)
    days = max(1, round((report.end - report.start) / DAY))
    target_s = 1800.0
    cams: list[CameraReport] = []
    lines: list[TicketLine] = []
    for index, cam in enumerate(report.cameras):
        uplinks = () if index % 20 == 7 else (("dead",) if index % 50 == 3 else ("city", "district"))
        registered = 0.0 if uplinks == ("dead",) else (report.end - report.start) * 0.995
        forwarding = CameraForwarding(
            uplinks,
            registered,
            99.5 if registered else 0.0,
            rng.randrange(200),
            rng.uniform(0, 9e5),
            rng.randrange(10**11),
        )
        short = index % 8 == 5
        below = tuple(
            (f"2025-10-{1 + d % 28:02d}", rng.uniform(80, 98.9)) for d in range(rng.randrange(1, 6) if short else 0)
        )
        gaps = tuple(
            Span(s, s + rng.uniform(600, 7200), "missing", "")
            for s in sorted(
                rng.uniform(report.start, report.end - 7200) for _ in range(rng.randrange(1, 8) if short else 0)
            )
        )
        audited = days * DAY
        recorded = audited - sum(g.duration_s for g in gaps)
        recordings = CameraRecordings(
            source="recorder nvr1, channel ch1",
            verifiable=index % 40 != 11,
            days=days,
            audited_s=audited,
            recorded_s=recorded,
            completeness_percent=100.0 * recorded / audited,
            days_below=below,
            long_gaps=gaps,
            retained_days=60.0 if index % 25 == 9 else 120.0,
            last_error=None,
        )
        cams.append(replace(cam, forwarding=forwarding, recordings=recordings))
        for month in range(max(1, days // 30)):
            since = report.start + (month * 30 + rng.uniform(0, 29)) * DAY
            still_open = rng.random() < 0.02
            ack = rng.uniform(60, 3 * target_s)
            overdue = still_open and rng.random() < 1 / 3
            lines.append(
                TicketLine(
                    id=len(lines) + 1,
                    camera_id=cam.id,
                    zone_id=cam.zones[0] if cam.zones else None,
                    fault=rng.choice(("offline", "picture", "below_hd")),
                    detail="the stream ended",
                    since=since,
                    opened_at=since + 600,
                    first_told_at=since + 600,
                    reopened=0,
                    acknowledged_at=None if overdue else since + 600 + ack,
                    acknowledged_by=None if overdue else "li",
                    note=None,
                    closed_at=None if still_open else since + 600 + ack + 3600,
                    state_at_end="open" if still_open else "closed",
                    acknowledge_s=None if overdue else ack,
                    repair_s=None if still_open else 600 + ack + 3600,
                    overdue=overdue,
                )
            )
    lines.sort(key=lambda t: (not t.open_at_end, not t.overdue, t.opened_at))
    by_camera: dict[str, list[TicketLine]] = {}
    by_zone: dict[str, list[TicketLine]] = {zone.id: [] for zone in report.zones}
    for line in lines:
        by_camera.setdefault(line.camera_id, []).append(line)
        by_zone.setdefault(line.zone_id or "", []).append(line)
    forwarded = [c for c in cams if c.forwarding is not None and c.forwarding.forwarded]
    uplink_ids = {
        u: tuple(c.id for c in forwarded if c.forwarding and u in c.forwarding.uplinks)
        for u in ("city", "district", "dead")
    }
    forwarding_section = ForwardingReport(
        uplinks=tuple(
            UplinkReport(
                u, ids, 0.0 if u == "dead" else (report.end - report.start) * 0.995, 0.0 if u == "dead" else 99.5
            )
            for u, ids in uplink_ids.items()
        ),
        cameras=len(cams),
        forwarded=len(forwarded),
        registered=len(forwarded) - len(uplink_ids["dead"]),
        key_area_cameras=len(cams),
        key_area_forwarded=len(forwarded),
        history=True,
        definition="forwarded: configured for an uplink",
    )
    tickets = TicketsReport(
        acknowledge_target_s=target_s,
        site=_figures(lines, target_s),
        zones={zone: _figures(found, target_s) for zone, found in by_zone.items()},
        cameras={cam: _figures(found, target_s) for cam, found in by_camera.items()},
        tickets=tuple(lines),
        definition="tickets: synthetic",
    )
    return replace(report, cameras=tuple(cams), forwarding=forwarding_section, tickets=tickets)


# Renders a pickled report with the code on the path it is given (a fresh process: the baseline's modules
# and the working tree's never meet) and prints its time, size and pages.
_RENDER = """
import io, json, pickle, sys, time
sys.path.insert(0, sys.argv[1])
import pypdf
from gateway.reports.render import render
with open(sys.argv[2], "rb") as f:
    report = pickle.load(f)
t0 = time.perf_counter()
body = render(report, sys.argv[3], "zh-CN").body
took = time.perf_counter() - t0
pages = len(pypdf.PdfReader(io.BytesIO(body)).pages) if sys.argv[3] == "pdf" else 0
print(json.dumps({"s": took, "bytes": len(body), "pages": pages}))
"""


def render_apart(tree: Path, pickled: Path, fmt: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", _RENDER, str(tree), str(pickled), fmt], capture_output=True, text=True, env=env, cwd=tree
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def render_pages(report: Report, baseline: Path | None, repeats: int) -> None:
    """--pages: HTML and PDF of ``report`` with every section, by this tree and by ``baseline``, in turns."""
    report = with_sections(report)
    trees = {"after": Path(__file__).resolve().parents[1]}
    if baseline is not None:
        trees = {"before": baseline.resolve(), **trees}
    with tempfile.TemporaryDirectory() as tmp:
        pickled = Path(tmp) / "report.pickle"
        pickled.write_bytes(pickle.dumps(report))
        runs: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(repeats):
            for fmt in ("html", "pdf"):
                for name, tree in trees.items():
                    runs.setdefault((name, fmt), []).append(render_apart(tree, pickled, fmt))
    tickets = report.tickets
    assert tickets is not None
    print(
        f"\n{len(report.cameras)} cameras with forwarding, recordings and {len(tickets.tickets):,} tickets"
        f" ({sum(t.open_at_end for t in tickets.tickets)} open at the end), Chinese, medians of {repeats}"
    )
    for (name, fmt), found in runs.items():
        took = statistics.median(r["s"] for r in found)
        size = found[-1]["bytes"] / 1e6
        extra = f", {int(found[-1]['pages'])} pages" if fmt == "pdf" else ""
        print(f"{name + ' ' + fmt:<34}{took:>9.2f}s   ({size:.2f} MB{extra})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--history", choices=sorted(PROFILES), default="typical")
    parser.add_argument("--db", type=Path, help="default /tmp/bench_report-<history>.db")
    parser.add_argument("--pages", action="store_true", help="HTML and PDF with every section (see above)")
    parser.add_argument("--baseline", type=Path, help="with --pages: a checkout to render the same report with")
    args = parser.parse_args()
    args.db = args.db or Path(f"/tmp/bench_report-{args.history}.db")

    url = f"sqlite:///{args.db}"
    marker = args.db.with_suffix(f".{args.cameras}x{args.days}")
    if not marker.exists():
        args.db.unlink(missing_ok=True)
        Database(url).open().close()
        started = time.perf_counter()
        build_history(args.db, args.cameras, args.days, args.history)
        print(f"built {args.db} in {time.perf_counter() - started:.0f} s")
        marker.touch()
    config = site_config(args.cameras, url)
    period = ReportPeriod(START, START + args.days * DAY, f"{args.days} days", START + args.days * DAY + 60)

    with Database(url) as db:
        reader = HistoryReader(db)
        if args.pages:
            render_pages(build_report(config, reader, period), args.baseline, args.repeats)
            return
        raw = sqlite3.connect(args.db)

        def read_rows() -> int:
            return len(
                raw.execute(
                    "SELECT run_id, camera_id, ts, state, reason, faults FROM camera_state_changes"
                    " WHERE ts >= ? AND ts < ?",
                    (period.start, period.end),
                ).fetchall()
            )

        def per_camera() -> int:
            return len([reader.uptime(c.id, period.start, period.end, period.now) for c in config.cameras])

        rows_s, rows = median_time(read_rows, args.repeats)
        per_camera_s, _ = median_time(per_camera, max(1, args.repeats // 2))
        print(f"\n{args.cameras} cameras x {args.days} days ({args.history}), {rows:,} state changes in the period")
        print(f"{'step':<34}{'median':>10}")
        rollup_costs(db, reader, config, period, args.repeats)
        print(f"{'baseline: read rows (sqlite3)':<34}{rows_s:>9.2f}s")
        print(f"{'baseline: uptime per camera (API)':<34}{per_camera_s:>9.2f}s")
        timed = in_turns(
            {
                "raw": lambda: build_report(config, reader, period, rollups=False),
                "raw+json": lambda: render(build_report(config, reader, period, rollups=False), "json"),
                "drawn": lambda: build_report(config, reader, period),
                "undrawn": lambda: build_report(config, reader, period, drawn=False),
                "undrawn+json": lambda: render(build_report(config, reader, period, drawn=False), "json"),
                "undrawn+stdlib": lambda: stdlib_json(build_report(config, reader, period, drawn=False)),
            },
            args.repeats,
        )
        for name, label in (
            ("raw", "baseline: build, raw history"),
            ("raw+json", "baseline: + JSON, raw history"),
            ("drawn", "build, with bars (raw history)"),
            ("undrawn", "build from roll-ups, no bars"),
            ("undrawn+stdlib", "baseline: + JSON, json module"),
            ("undrawn+json", "build from roll-ups + JSON"),
        ):
            print(f"{label:<34}{timed[name][0]:>9.2f}s   (CPU {timed[name][1]:.2f} s, in turns)")
        for fmt in ("json", "csv", "html", "pdf"):
            # JSON and CSV draw no timeline bars, and the API builds their reports without them.
            build_s, _, report = timed["undrawn" if fmt in UNDRAWN else "drawn"]
            assert isinstance(report, Report)
            repeats = args.repeats if fmt != "pdf" else max(1, args.repeats // 2)
            render_s, out = median_time(lambda fmt=fmt, report=report: render(report, fmt), repeats)  # type: ignore[misc]
            body: bytes = out.body  # type: ignore[attr-defined]
            # The PDF's page count as a reader sees it (pypdf reads it back): issue 26 bounds it.
            pages = f", {len(pypdf.PdfReader(io.BytesIO(body)).pages)} pages" if fmt == "pdf" else ""
            took = f"{build_s + render_s:>9.2f}s"
            print(f"{'build + ' + fmt:<34}{took}   ({render_s:.2f} s to render, {len(body) / 1e6:.2f} MB{pages})")


if __name__ == "__main__":
    main()
