"""The gateway with ONVIF cameras: discovery, --write, probe, and running on the written config.

The ONVIF device is a real HTTP SOAP server on 127.0.0.1 whose stream URI points at the real RTSP
test server, as a camera's does.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.clips import ClipInfo
from sim.onvif_device import DiscoveryResponder, OnvifDeviceServer
from sim.server import RtspServerProcess
from tests.support.gateway import GatewayProcess, child_env, run_cli

# LANGUAGE=en: the CLI's words are checked in English here (its Chinese in test_messages_language.py).
from tests.support.ports import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SKEW_S = 3600.0  # the camera's clock is an hour fast: ONVIF auth must still work


@pytest.fixture(scope="module")
def password() -> str:
    return secrets.token_urlsafe(10)


@pytest.fixture(scope="module")
def camera_site(sim_clips: dict[str, ClipInfo], password: str) -> Iterator[dict[str, Any]]:
    """One camera: its RTSP server, its ONVIF device service, and its WS-Discovery responder."""
    with RtspServerProcess(
        [("/main", sim_clips["hd_h264"]), ("/sub", sim_clips["sd_h264"])], username="admin", password=password
    ) as rtsp:
        device = OnvifDeviceServer(
            "generic",
            "admin",
            password,
            main_uri=rtsp.url("/main"),
            sub_uri=rtsp.url("/sub"),
            clock_skew_s=SKEW_S,
            auth="wsse",
            recordings=(datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)),
        )
        with device:
            discovery_port = free_port(socket.SOCK_DGRAM)
            with DiscoveryResponder(device.xaddr, discovery_port):
                yield {"device": device, "discovery_port": discovery_port, "rtsp": rtsp}


def test_discover_write_check_and_run(
    tmp_path: Path, gateway_storage_url: str, camera_site: dict[str, Any], password: str
) -> None:
    api_port = free_port()
    path = tmp_path / "site.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "site": {"id": "onvif-site", "name": "ONVIF site", "unit": {"name": "U", "headcount": 10}},
                "zones": [{"id": "gate", "name": "Gate", "kind": "entrance"}],
                "server": {"bind": "127.0.0.1", "port": api_port},
                "storage": {"url": gateway_storage_url},
            }
        )
    )
    env = child_env(CAM_PW=password, LANGUAGE="en")
    found = run_cli(
        [
            "discover",
            "--no-multicast",
            "--hosts",
            "127.0.0.1",
            "--port",
            str(camera_site["discovery_port"]),
            "--timeout",
            "1.5",
            "--write",
            str(path),
            "--user",
            "admin",
            "--password-env",
            "CAM_PW",
        ],
        env,
    )
    assert found.returncode == 0, found.stderr
    assert "1 ONVIF device(s) found" in found.stdout and "added 1 camera(s)" in found.stdout
    again = run_cli(
        [
            "discover",
            "--no-multicast",
            "--hosts",
            "127.0.0.1",
            "--port",
            str(camera_site["discovery_port"]),
            "--timeout",
            "1",
            "--write",
            str(path),
        ],
        env,
    )
    assert "added 0 camera(s)" in again.stdout  # already in the config
    written = yaml.safe_load(path.read_text())
    [cam] = written["cameras"]
    assert cam["source"]["onvif"] == {"host": "127.0.0.1", "port": camera_site["device"].port}
    assert cam["credentials"] == {"username": "admin", "password": {"env": "CAM_PW"}}
    assert password not in path.read_text()
    checked = run_cli(["check-config", str(path)], env)
    assert checked.returncode == 0, checked.stdout

    token = run_cli(["user", "add", "a", "--role", "auditor", "-c", str(path)], env).stdout.split()[-1]
    proc = GatewayProcess(["run", "-c", str(path)], env, tmp_path / "gateway.log", api_port)
    proc.start()
    try:
        deadline = time.monotonic() + 25
        health: dict[str, Any] = {}
        while time.monotonic() < deadline:
            health = proc.get(f"/api/v1/cameras/{cam['id']}/health", token).json()
            if health["state"] == "online" and health["measured"]["fps"] and health["device"]:
                break
            time.sleep(0.3)
    finally:
        assert proc.stop() == 0, proc.log()[-4000:]
    assert health["state"] == "online", health
    assert (health["measured"]["codec"], health["measured"]["width"]) == ("h264", 1920)
    device = health["device"]
    assert device["ok"] and device["manufacturer"]
    assert device["clock_offset_s"] == pytest.approx(SKEW_S, abs=2)
    assert device["clock_ok"] is False  # an hour off is far beyond policy.max_clock_drift_s
    assert device["retention_verifiable"] is True and device["retention_days"] == 50.0
    assert device["retention_ok"] is True  # policy default: 30 days
    assert password not in proc.log()


def test_probe_onvif_url(camera_site: dict[str, Any], password: str) -> None:
    port = camera_site["device"].port
    env = child_env(CAM_PW=password, LANGUAGE="en")
    done = run_cli(["probe", "--json", "--password-env", "CAM_PW", f"onvif://admin@127.0.0.1:{port}"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert "clock +3600" in result["onvif"][0] or "clock +3599" in result["onvif"][0], result["onvif"]
    [stream] = result["streams"]
    assert stream["ok"] and stream["width"] == 1920 and stream["url"].startswith("rtsp://admin:***@")
    assert password not in done.stdout
    # A wrong password, from the environment as a right one would come (never written into a URL here).
    wrong_env = child_env(CAM_PW=secrets.token_urlsafe(8), LANGUAGE="en")
    wrong = run_cli(["probe", "--password-env", "CAM_PW", f"onvif://admin@127.0.0.1:{port}"], wrong_env)
    assert wrong.returncode == 1 and "auth failed" in wrong.stdout


def _onvif_site(tmp_path: Path, storage_url: str, device: OnvifDeviceServer, **onvif: Any) -> tuple[Path, int]:
    api_port = free_port()
    path = tmp_path / "site.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "site": {"id": "onvif-site", "name": "ONVIF site", "unit": {"name": "U", "headcount": 10}},
                "cameras": [
                    {
                        "id": "cam",
                        "name": "Cam",
                        "source": {"onvif": {"host": "127.0.0.1", "port": device.port}},
                        "credentials": {"username": "admin", "password": {"env": "CAM_PW"}},
                    }
                ],
                "onvif": onvif,
                "server": {"bind": "127.0.0.1", "port": api_port},
                "storage": {"url": storage_url},
            }
        )
    )
    return path, api_port


def test_gateway_corrects_a_skewed_camera_clock_when_told_to(
    tmp_path: Path, gateway_storage_url: str, camera_site: dict[str, Any], password: str
) -> None:
    rtsp: RtspServerProcess = camera_site["rtsp"]
    with OnvifDeviceServer("generic", "admin", password, main_uri=rtsp.url("/main"), clock_skew_s=-1800) as device:
        path, api_port = _onvif_site(tmp_path, gateway_storage_url, device, set_clock="manual")
        env = child_env(CAM_PW=password, LANGUAGE="en")
        info = run_cli(["onvif", "info", "cam", "-c", str(path)], env)
        assert info.returncode == 0, info.stdout + info.stderr
        assert _offset(info.stdout) == pytest.approx(-1800, abs=2)
        token = run_cli(["user", "add", "a", "--role", "admin", "-c", str(path)], env).stdout.split()[-1]
        proc = GatewayProcess(["run", "-c", str(path)], env, tmp_path / "gateway.log", api_port)
        proc.start()
        try:
            deadline = time.monotonic() + 20
            device_info: dict[str, Any] | None = None
            while time.monotonic() < deadline:
                device_info = proc.get("/api/v1/cameras/cam/health", token).json()["device"]
                if device_info:
                    break
                time.sleep(0.3)
        finally:
            proc.stop()
    assert device_info is not None and device_info["clock_offset_s"] == pytest.approx(0, abs=2)
    assert device_info["clock_ok"] is True
    # The offset is read to within a second, so compare the logged figure as a number.
    logged = re.search(r"camera cam: clock set \(manual\), offset ([-+0-9.]+) s", proc.log())
    assert logged is not None and float(logged.group(1)) == pytest.approx(-1800, abs=2), proc.log()


def test_onvif_set_time_cli(
    tmp_path: Path, gateway_storage_url: str, camera_site: dict[str, Any], password: str
) -> None:
    rtsp: RtspServerProcess = camera_site["rtsp"]
    with OnvifDeviceServer("hik-like", "admin", password, main_uri=rtsp.url("/main"), clock_skew_s=600) as device:
        path, _ = _onvif_site(tmp_path, gateway_storage_url, device)
        env = child_env(CAM_PW=password, LANGUAGE="en")
        done = run_cli(["onvif", "set-time", "cam", "-c", str(path)], env)
        assert done.returncode == 0, done.stderr
        assert _offset(done.stdout) == pytest.approx(600, abs=2), done.stdout
        again = run_cli(["onvif", "info", "cam", "-c", str(path)], env)
    assert _offset(again.stdout) == pytest.approx(0, abs=2), again.stdout
    assert password not in done.stdout + done.stderr + again.stdout


def _offset(text: str) -> float:
    """The first clock offset a `gateway onvif` command printed."""
    found = re.search(r"clock offset ([-+]?[0-9.]+)", text)
    assert found, text
    return float(found.group(1))


def test_camera_events_are_stored_across_a_camera_reboot(
    tmp_path: Path, gateway_storage_url: str, camera_site: dict[str, Any], password: str
) -> None:
    rtsp: RtspServerProcess = camera_site["rtsp"]
    with OnvifDeviceServer("generic", "admin", password, main_uri=rtsp.url("/main")) as device:
        path, api_port = _onvif_site(tmp_path, gateway_storage_url, device, events=True)
        env = child_env(CAM_PW=password, LANGUAGE="en")
        token = run_cli(["user", "add", "a", "--role", "operator", "-c", str(path)], env).stdout.split()[-1]
        assert run_cli(["user", "grant", "a", "--camera", "cam", "-c", str(path)], env).returncode == 0
        proc = GatewayProcess(["run", "-c", str(path)], env, tmp_path / "gateway.log", api_port)
        started = time.time()
        proc.start()

        def events() -> list[dict[str, Any]]:
            return list(proc.get(f"/api/v1/cameras/cam/device-events?from={started - 5}", token).json())

        try:
            time.sleep(3)  # subscribed
            device.emit_event("tns1:RuleEngine/CellMotionDetector/Motion", {"IsMotion": "true"})
            wait_until(
                "a motion event",
                lambda: any(e["kind"] == "motion" and e["operation"] != "Initialized" for e in events()),
                20.0,
                interval=0.3,
            )
            device.reboot()  # the camera forgets the subscription: the gateway must notice and subscribe again
            time.sleep(2)
            device.emit_event("tns1:VideoSource/GlobalSceneChange/ImagingService", {"State": "true"})
            wait_until("a tamper event", lambda: any(e["kind"] == "tamper" for e in events()), 30, interval=0.3)
            tampers = proc.get(f"/api/v1/cameras/cam/device-events?from={started - 5}&kind=tamper", token).json()
        finally:
            proc.stop()
    assert len(tampers) == 1 and tampers[0]["data"]["State"] == "true"
    assert "the camera reports tampering" in proc.log()
