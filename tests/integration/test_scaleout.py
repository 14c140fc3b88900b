"""Scale-out: several gateway processes, each owning a shard of the site's cameras, on one real
PostgreSQL database; the coverage report spans them all."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from sim.clips import ClipInfo
from sim.server import RtspServerProcess
from tests.support.gateway import GatewayProcess, camera, child_env, run_cli
from tests.support.ports import free_port
from tests.support.postgres import PostgresServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SHARDS = {"gw-a": ["cam1", "cam2"], "gw-b": ["cam3", "cam4"], "gw-c": ["cam5", "cam6"]}


@pytest.fixture(scope="module")
def password() -> str:
    return secrets.token_urlsafe(10)


@pytest.fixture(scope="module")
def servers(sim_clips: dict[str, ClipInfo], password: str) -> Iterator[tuple[RtspServerProcess, RtspServerProcess]]:
    clip = sim_clips["sd_h264"]
    # cam5 and cam6 come from a server of their own, which the test kills: an outage in one shard.
    with (
        RtspServerProcess([(f"/c{i}", clip) for i in range(1, 5)], username="cam", password=password) as steady,
        RtspServerProcess([("/c5", clip), ("/c6", clip)], username="cam", password=password) as flaky,
    ):
        yield steady, flaky


def _get(proc: GatewayProcess, token: str, path: str) -> Any:
    r = proc.get(path, token)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


def _wait(procs: dict[str, GatewayProcess], token: str, want: str, cams: set[str], timeout: float = 30) -> None:
    states: dict[str, str] = {}

    def reached() -> bool:
        nonlocal states
        states = {c["id"]: c["state"] for p in procs.values() for c in _get(p, token, "/api/v1/cameras")}
        return all(states.get(cid) == want for cid in cams)

    wait_until(lambda: f"cameras {sorted(cams)} {want}: {states}", reached, timeout, interval=0.2)


def test_shards_on_one_postgresql_database_report_as_one_site(
    tmp_path: Path,
    postgres_server: PostgresServer,
    servers: tuple[RtspServerProcess, RtspServerProcess],
    password: str,
) -> None:
    steady, flaky = servers
    # An empty database: the three processes start together and race to migrate it.
    url = postgres_server.new_database(migrated=False)
    cams = [camera(f"cam{i}", (steady if i <= 4 else flaky).url(f"/c{i}")) for i in range(1, 7)]
    site: dict[str, Any] = {
        "site": {"id": "city-1", "name": "Scale-out", "unit": {"name": "U", "headcount": 900}},
        "zones": [{"id": "gate", "name": "Gate", "kind": "entrance"}],
        "cameras": cams,
        "policy": {"hd_min_resolution": "640x360"},
        "supervisor": {"connect_timeout_s": 3, "stall_timeout_s": 3, "backoff_initial_s": 0.5, "backoff_max_s": 2},
        "storage": {"url": url},
    }
    site_path = tmp_path / "site.yaml"
    site_path.write_text(yaml.safe_dump(site))
    env = child_env(IT_PW=password)
    procs: dict[str, GatewayProcess] = {}
    for name, shard in SHARDS.items():
        port = free_port()
        config = {**site, "instance": {"id": name, "cameras": shard}, "server": {"bind": "127.0.0.1", "port": port}}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        procs[name] = GatewayProcess(["run", "-c", str(path)], env, tmp_path / f"{name}.log", port)
    failures: list[BaseException] = []

    def start_one(proc: GatewayProcess) -> None:
        try:
            proc.start()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    starters = [threading.Thread(target=start_one, args=(p,)) for p in procs.values()]
    for t in starters:
        t.start()
    for t in starters:
        t.join(60)
    assert failures == []
    # One user for the whole site: users live in the shared database.
    added = run_cli(["user", "add", "city-admin", "--role", "admin", "-c", str(site_path)], env)
    assert added.returncode == 0, added.stderr
    token = added.stdout.split()[-1]
    try:
        for name, proc in procs.items():
            assert proc.proc is not None and proc.proc.poll() is None, proc.log()
            # Each instance shows and watches its own shard.
            assert sorted(c["id"] for c in _get(proc, token, "/api/v1/cameras")) == SHARDS[name]
        _wait(procs, token, "online", {f"cam{i}" for i in range(1, 7)})
        start = time.time()
        time.sleep(3)
        down_at = time.time()
        flaky.kill()
        _wait(procs, token, "offline", {"cam5", "cam6"}, timeout=15)
        time.sleep(3)
        flaky.start()
        up_at = time.time()
        _wait(procs, token, "online", {"cam5", "cam6"}, timeout=20)
        time.sleep(2)
        end = time.time()
        # Any instance's API reports on the whole site, read from the shared database.
        live = _get(procs["gw-a"], token, f"/api/v1/reports/coverage?from={start}&to={end}")
        assert sorted(c["id"] for c in live["cameras"]) == [f"cam{i}" for i in range(1, 7)]
    finally:
        codes = {name: proc.stop() for name, proc in procs.items()}
    assert codes == dict.fromkeys(SHARDS, 0), {n: p.log()[-2000:] for n, p in procs.items()}
    for proc in procs.values():
        assert "Traceback" not in proc.log() and password not in proc.log()

    done = run_cli(["report", "-c", str(site_path), "--from", str(start), "--to", str(end), "--format", "json"], env)
    assert done.returncode in (0, 1), done.stderr
    report = {c["id"]: c for c in json.loads(done.stdout)["cameras"]}
    assert sorted(report) == [f"cam{i}" for i in range(1, 7)]
    window = end - start
    for cid, cam in report.items():
        seconds = cam["seconds"]
        # Every second of the window is accounted for once, and nothing is unknown: each camera
        # was watched by exactly one instance the whole time.
        assert sum(seconds.values()) == pytest.approx(window, abs=0.05), (cid, seconds)
        assert seconds.get("unknown", 0) < 0.5, (cid, seconds)
        if cid in ("cam5", "cam6"):
            [outage] = cam["outages"]
            assert seconds["offline"] == pytest.approx(up_at - down_at, abs=3.0), (cid, seconds)
            assert outage["reasons"] and not outage["ongoing"], outage
        else:
            assert cam["outages"] == [] and seconds.get("offline", 0) == 0, (cid, cam["outages"])

    engine = create_engine(url)
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT instance, stopped_at IS NOT NULL FROM gateway_runs ORDER BY instance")).all()
        writers = conn.execute(
            text(
                "SELECT c.camera_id, count(DISTINCT r.instance) FROM camera_state_changes c "
                "JOIN gateway_runs r ON r.id = c.run_id GROUP BY c.camera_id"
            )
        ).all()
        migrations = conn.execute(text("SELECT count(*), count(DISTINCT version) FROM schema_migrations")).one()
    engine.dispose()
    assert [tuple(r) for r in runs] == [("gw-a", True), ("gw-b", True), ("gw-c", True)]
    assert sorted(tuple(w) for w in writers) == [(f"cam{i}", 1) for i in range(1, 7)]
    assert migrations[0] == migrations[1]
