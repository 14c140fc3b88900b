"""The recording audit of a large site: SOAP requests sent to the NVR and wall time.

    .venv/bin/python -m benchmarks.bench_recording_audit --cameras 200 --days 30

One simulated NVR (sim/nvr.py: ONVIF Profile G over HTTP on 127.0.0.1, WS-Security) holds `--cameras`
channels of `--days` days of recordings on disk (sim/recordings.py, the default gaps), and the gateway's
recording audit searches every camera once, as its first round does (the whole retention period), one
camera after the other as it does for one recorder. The device's query budget is lifted here, so the
wall time is the exchange itself; the time the default budget (30 requests a minute) would take is
computed from the count.

Baseline in the same run: the same audit with every camera asking the NVR for its list of recordings
again (the index TTL at 0), as the audit did before the list was shared by the cameras of a device.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.onvif.client import OnvifClient
from gateway.config import parse_config
from gateway.recordings.service import RecordingAudit
from gateway.recordings.sources import ProfileGRecordings, Recorder, RecordingSource
from gateway.recordings.store import RecordingStore
from gateway.storage.db import Database
from sim.nvr import NvrDeviceServer
from sim.recordings import make_recordings

DEFAULT_BUDGET_PER_MIN = 30
UNLIMITED = 10**9


@dataclass
class Round:
    wall_s: float
    queries: int
    device_requests: int
    cameras_ok: int


def site_config(cameras: int, db_url: str) -> dict[str, Any]:
    return {
        "site": {"id": "bench", "name": "Bench", "unit": {"name": "U", "headcount": 10}, "timezone": "UTC"},
        "zones": [{"id": "z", "name": "Z", "kind": "entrance"}],
        "cameras": [
            {
                "id": f"cam{i:03d}",
                "name": f"cam{i:03d}",
                "source": {"rtsp": f"rtsp://127.0.0.1/cam{i:03d}"},
                "zones": ["z"],
                "recordings": {"recorder": "nvr1", "channel": f"ch{i:03d}"},
            }
            for i in range(cameras)
        ],
        "recorders": [{"id": "nvr1", "onvif": {"host": "127.0.0.1", "port": 1}}],
        "policy": {"retention_days": 30},
        "storage": {"url": db_url},
    }


async def audit_round(nvr: NvrDeviceServer, password: str, cameras: int, db_url: str, ttl_s: float) -> Round:
    config = parse_config(site_config(cameras, db_url), check_secrets=False)

    def connect() -> OnvifClient:
        return OnvifClient("127.0.0.1", nvr.port, "admin", password, timeout_s=30)

    recorder = Recorder(UNLIMITED, connect, ttl_s=ttl_s)
    sources: dict[str, RecordingSource] = {
        f"cam{i:03d}": ProfileGRecordings(f"nvr1 ch{i:03d}", recorder, f"ch{i:03d}") for i in range(cameras)
    }
    before = len(nvr.requests)
    with Database(db_url) as db:
        audit = RecordingAudit(config, RecordingStore(db), sources)
        started = time.perf_counter()
        checks = [(await audit.check(cid))[0] for cid in sources]
        wall = time.perf_counter() - started
        await audit.aclose()
    return Round(wall, sum(c.queries for c in checks), len(nvr.requests) - before, sum(c.ok for c in checks))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=200)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    channels = tuple(f"ch{i:03d}" for i in range(args.cameras))
    now = datetime.now(UTC).replace(microsecond=0)
    password = secrets.token_urlsafe(10)
    with tempfile.TemporaryDirectory() as tmp:
        made = time.perf_counter()
        # Six-hour segments: the same spans and gaps as hour segments, fewer files to lay out.
        store = make_recordings(Path(tmp) / "nvr", channels, days=args.days, now=now, segment_s=6 * 3600)
        made_s = time.perf_counter() - made
        nvr = NvrDeviceServer(
            store.root, channels, "admin", password, replay_base="rtsp://127.0.0.1:1", now=lambda: now
        )
        with nvr:
            results = {}
            for name, ttl in (("baseline: list per camera", 0.0), ("shared list (the product)", 600.0)):
                url = f"sqlite:///{Path(tmp) / (name[:4] + '.db')}"
                r = asyncio.run(audit_round(nvr, password, args.cameras, url, ttl))
                results[name] = {
                    "wall_s": round(r.wall_s, 2),
                    "queries": r.queries,
                    "queries_per_camera": round(r.queries / args.cameras, 2),
                    "device_requests_seen": r.device_requests,
                    "cameras_ok": r.cameras_ok,
                    "minutes_at_default_budget": round(r.queries / DEFAULT_BUDGET_PER_MIN, 1),
                }
    out = {"cameras": args.cameras, "days": args.days, "recordings_laid_out_s": round(made_s, 1), "results": results}
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
