"""Scale-out on PostgreSQL: several gateway processes writing history to one database, and the
site report read back from it, each beside the same work on SQLite in the same run.

    .venv/bin/python -m benchmarks.bench_scaleout [--cameras 200] [--samples 20] [--report-cameras 1000]
        [--days 30] [--repeats 3]

Starts its own PostgreSQL server (Debian's binaries, 127.0.0.1, fsync on, as a real one would run)
and measures:

  history writes   each process runs the gateway's HistoryWriter for its shard of cameras and
                   writes N stats samples per camera plus a state change per sample (the rows a
                   gateway writes every sample interval); figure: rows per second over all
                   processes, from first write to last commit. 1, 2 and 4 processes on PostgreSQL;
                   baseline: 1 process on SQLite (one file serves one process).
  report           the coverage report model for --report-cameras cameras x --days days of
                   history (bench_report's synthetic "typical" site), on SQLite (baseline) and the
                   same rows copied to PostgreSQL; median of --repeats.

The machine is shared and noisy: medians and ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from benchmarks.bench_report import DAY, START, build_history, site_config
from gateway.health.history import HistoryWriter
from gateway.health.state import CameraState, CameraStatus, MeasuredStream
from gateway.health.uptime import HistoryReader
from gateway.reports.coverage import build_report
from gateway.reports.period import ReportPeriod
from gateway.storage import schema
from gateway.storage.db import Database
from tests.support.postgres import PostgresServer, wait_for


def _writer(url: str, instance: str, cameras: list[str], samples: int, ready: Any, go: Any, out: Any) -> None:
    db = Database(url).open()
    writer = HistoryWriter(db, instance=instance)
    writer.start()
    ready.release()
    go.wait()
    started = time.perf_counter()
    t = time.time()
    measured = MeasuredStream(codec="h264", fps=25.0)
    for i in range(samples):
        state = CameraState.ONLINE if i % 2 else CameraState.DEGRADED
        statuses = [CameraStatus(cid, state, None, t + i, measured=measured) for cid in cameras]
        for status in statuses:
            writer.record_state(status)
        writer.record_samples(statuses, at=t + i)
    writer.close(timeout_s=600)
    out.put((started, time.perf_counter(), 2 * samples * len(cameras)))
    db.close()


def history_rate(url: str, processes: int, cameras: int, samples: int) -> float:
    """Rows per second over `processes` gateway processes sharing `cameras` cameras."""
    Database(url).open().close()
    ctx = multiprocessing.get_context("spawn")
    ready, go, out = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    per = cameras // processes
    procs = [
        ctx.Process(
            target=_writer,
            args=(url, f"gw{p}", [f"p{p}c{c}" for c in range(per)], samples, ready, go, out),
        )
        for p in range(processes)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    go.set()
    results = [out.get(timeout=900) for _ in procs]
    for p in procs:
        p.join()
    # perf_counter is per process but the same clock (CLOCK_MONOTONIC) on Linux.
    span = max(r[1] for r in results) - min(r[0] for r in results)
    return sum(r[2] for r in results) / span


def copy_tables(src_url: str, dst_url: str) -> None:
    with Database(src_url) as src, Database(dst_url) as dst:
        for table in (
            schema.gateway_runs,
            schema.camera_state_changes,
            schema.camera_samples,
            schema.camera_inventory,
        ):
            with src.engine.connect() as a:
                rows = [dict(r._mapping) for r in a.execute(select(table))]
            with dst.engine.begin() as b:
                for i in range(0, len(rows), 5000):
                    b.execute(insert(table), rows[i : i + 5000])
        with dst.engine.begin() as b:
            # The ids were copied: move the sequences past them, as pg_restore would.
            for table in (schema.gateway_runs, schema.camera_state_changes, schema.camera_samples):
                b.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table.name}))"
                )
            b.exec_driver_sql("ANALYZE")


def report_time(url: str, cameras: int, days: int, repeats: int) -> float:
    config = site_config(cameras, url)
    period = ReportPeriod(START, START + days * DAY, f"{days} days", START + days * DAY + 60)
    times = []
    with Database(url) as db:
        reader = HistoryReader(db)
        for _ in range(repeats):
            t0 = time.perf_counter()
            build_report(config, reader, period)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=200, help="cameras over all writer processes")
    parser.add_argument("--samples", type=int, default=20, help="sample intervals each camera writes")
    parser.add_argument("--report-cameras", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    server = PostgresServer(durable=True).start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    try:
        wait_for(server)
        print(f"history writes: {args.cameras} cameras x {args.samples} intervals (a state change and a sample each)")
        sqlite_rates = [
            history_rate(f"sqlite:///{tmp}/w{i}.db", 1, args.cameras, args.samples) for i in range(args.repeats)
        ]
        base = statistics.median(sqlite_rates)
        print(f"  {'SQLite, 1 process (baseline)':<32}{base:>10,.0f} rows/s")
        for processes in (1, 2, 4):
            rates = [
                history_rate(server.new_database(migrated=False), processes, args.cameras, args.samples)
                for _ in range(args.repeats)
            ]
            rate = statistics.median(rates)
            print(f"  {f'PostgreSQL, {processes} process(es)':<32}{rate:>10,.0f} rows/s   {rate / base:.2f}x")

        print(f"\nreport model: {args.report_cameras} cameras x {args.days} days (typical history)")
        sqlite_db = tmp / "report.db"
        sqlite_url = f"sqlite:///{sqlite_db}"
        Database(sqlite_url).open().close()
        build_history(sqlite_db, args.report_cameras, args.days, "typical")
        pg_url = server.new_database(migrated=False)
        copy_tables(sqlite_url, pg_url)
        s = report_time(sqlite_url, args.report_cameras, args.days, args.repeats)
        p = report_time(pg_url, args.report_cameras, args.days, args.repeats)
        print(f"  {'SQLite (baseline)':<32}{s:>9.2f} s")
        print(f"  {'PostgreSQL':<32}{p:>9.2f} s   {p / s:.2f}x")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
