"""The real `gateway` command as a child process, as an operator would run it, and a site around it.

`GatewayProcess` starts `gateway run` and waits for its /healthz; `run_cli` runs one console command;
`child_env` is the tests' environment without any GATEWAY_/CAM_ variable. `Site` is a whole site for
the integration and fault tests: a config on disk (cameras built with `camera()`), an admin token and
the gateway process that runs it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from sim.clips import ClipInfo
from tests.support.ports import free_port
from tests.support.storage import read
from tests.support.waiting import wait_until

GATEWAY = [sys.executable, "-m", "gateway.cli"]


class GatewayProcess:
    def __init__(
        self, args: list[str], env: dict[str, str], log_path: Path, port: int, *, launcher: list[str] | None = None
    ) -> None:
        self.args, self.env, self.log_path, self.port = args, env, log_path, port
        # A prefix that runs the gateway somewhere else, e.g. `nsenter -t PID -m --` into a mount
        # namespace; it must exec the gateway (not fork it), so that signals reach the gateway.
        self.launcher = list(launcher or [])
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 30.0) -> GatewayProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*self.launcher, *GATEWAY, *self.args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gateway did not answer within {timeout} s:\n{self.log()}")

    def stop(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, path: str, token: str) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=5)

    def delete(self, path: str, token: str) -> httpx.Response:
        return httpx.delete(f"{self.base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=5)


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GATEWAY, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "CAM_"))}
    env.update(extra)
    return env


def camera(cid: str, url: str, password_env: str = "IT_PW", **extra: Any) -> dict[str, Any]:
    """A camera of a `Site`: user `cam`, its password in `password_env`, in zone `gate`."""
    source = {"rtsp": url, **extra.pop("source", {})}
    return {
        "id": cid,
        "name": cid,
        "source": source,
        "credentials": {"username": "cam", "password": {"env": password_env}},
        "zones": ["gate"],
        **extra,
    }


class Site:
    """A site config on disk, an admin token, and the gateway process that runs it."""

    def __init__(
        self,
        tmp_path: Path,
        storage_url: str,
        cams: list[dict[str, Any]],
        env: dict[str, str],
        key_unit: bool = False,
    ) -> None:
        self.port = free_port()
        self.storage_url = storage_url
        self.path = tmp_path / "site.yaml"
        self.env = env
        self.log_path = tmp_path / "gateway.log"
        config = {
            "site": {"id": "it", "name": "Integration", "unit": {"name": "U", "headcount": 50, "key_unit": key_unit}},
            "zones": [{"id": "gate", "name": "Gate", "kind": "entrance"}],
            "cameras": cams,
            "supervisor": {
                "connect_timeout_s": 3,
                "stall_timeout_s": 3,
                "backoff_initial_s": 0.5,
                "backoff_max_s": 4,
                "sample_interval_s": 5,
            },
            "server": {"bind": "127.0.0.1", "port": self.port},
            "storage": {"url": storage_url},
        }
        self.path.write_text(yaml.safe_dump(config))
        added = run_cli(["user", "add", "it-admin", "--role", "admin", "-c", str(self.path)], env)
        assert added.returncode == 0, added.stderr
        self.token = added.stdout.split()[-1]
        self.proc = GatewayProcess(["run", "-c", str(self.path)], env, self.log_path, self.port)

    def get(self, path: str) -> Any:
        r = self.proc.get(path, self.token)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def cameras(self) -> dict[str, Any]:
        return {c["id"]: c for c in self.get("/api/v1/cameras")}

    def wait_for(self, want: dict[str, str], timeout: float = 20.0) -> tuple[dict[str, Any], float]:
        """Poll until each camera is in the wanted state; return the cameras and the time it took."""
        started = time.monotonic()
        cams: dict[str, Any] = {}

        def reached() -> bool:
            nonlocal cams
            cams = self.cameras()
            return all(
                cams[cid]["state"] == state and (state == "offline" or cams[cid]["measured"]["fps"])
                for cid, state in want.items()
            )

        def seen() -> str:
            return f"cameras to reach {want}: { {k: (v['state'], v['reason']) for k, v in cams.items()} }"

        wait_until(seen, reached, timeout, interval=0.1)
        return cams, time.monotonic() - started

    def state_rows(self, camera_id: str) -> list[tuple[float, str, str | None]]:
        rows = read(
            self.storage_url,
            "SELECT ts, state, reason FROM camera_state_changes WHERE camera_id = :camera_id ORDER BY ts, id",
            {"camera_id": camera_id},
        )
        return [(ts, state, reason) for ts, state, reason in rows]


def clip_kbps(clip: ClipInfo) -> float:
    """A clip's average bitrate, what the gateway should measure for it."""
    return clip.path.stat().st_size * 8 / clip.seconds / 1000
