"""The live analytics end to end: GStreamer RTSP cameras on 127.0.0.1, `gateway run` as a process, the real model.

One gateway watches three cameras for the whole module: `walk` (a line crossing and an intrusion on the
main stream), `empty` (motion without anyone: must stay silent) and `crowd` (analysed on its sub stream).
A second gateway, whose models folder is empty, shows that analytics fail softly.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import yaml

from sim.people_clips import PeopleClip
from sim.server import RtspServerProcess
from tests.support.analytics import MODELS, clip_info, walk_rules
from tests.support.gateway import GatewayProcess, child_env, run_cli
from tests.support.ports import free_port
from tests.support.storage import new_url, read
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

ANALYSIS_FPS = 2.0
# A person crosses the walk clip's line 2.8 s into a 13 s loop; allow a late start and a busy box.
EVENT_DEADLINE_S = 40.0


@dataclass
class Gateway:
    proc: GatewayProcess
    path: Path
    env: dict[str, str]
    tokens: dict[str, str]  # role -> token
    storage_url: str

    def get(self, path: str, role: str = "admin") -> Any:
        r = self.proc.get(path, self.tokens[role])
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def analytics(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/api/v1/analytics")
        return result

    def events(self, camera: str, role: str = "operator") -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get(f"/api/v1/events?camera={camera}", role)["events"]
        return result

    def cameras(self) -> dict[str, dict[str, Any]]:
        return {c["id"]: c for c in self.get("/api/v1/cameras")}


def camera(cid: str, url: str, analytics: dict[str, Any], **source: str) -> dict[str, Any]:
    return {
        "id": cid,
        "name": cid,
        "source": {"rtsp": url, **source},
        "credentials": {"username": "cam", "password": {"env": "IT_PW"}},
        "analytics": analytics,
    }


def make_gateway(
    tmp: Path,
    storage_url: str,
    cams: list[dict[str, Any]],
    env: dict[str, str],
    models_dir: Path,
    roles: tuple[str, ...],
) -> Gateway:
    port = free_port()
    config = {
        "site": {"id": "it", "name": "Analytics", "unit": {"name": "U", "headcount": 50, "key_unit": False}},
        "cameras": cams,
        "supervisor": {"connect_timeout_s": 3, "stall_timeout_s": 3, "backoff_initial_s": 0.5, "backoff_max_s": 4},
        # The people clips run at 10 fps: below the default minimum of 15 they would all be "degraded".
        "policy": {"min_fps": 8},
        "server": {"bind": "127.0.0.1", "port": port},
        "storage": {"url": storage_url},
        "analytics": {"fps": ANALYSIS_FPS, "detector": {"models_dir": str(models_dir)}},
    }
    path = tmp / "site.yaml"
    path.write_text(yaml.safe_dump(config))
    tokens = {}
    for role in roles:
        added = run_cli(["user", "add", f"it-{role}", "--role", role, "-c", str(path)], env)
        assert added.returncode == 0, added.stderr
        tokens[role] = added.stdout.split()[-1]
    if "operator" in roles:
        # The site's operator looks after every camera; police get only the walk camera.
        granted = run_cli(["user", "grant", "it-operator", "--all", "-c", str(path)], env)
        assert granted.returncode == 0, granted.stderr
    if "police" in roles:
        granted = run_cli(["user", "grant", "it-police", "--camera", "walk", "-c", str(path)], env)
        assert granted.returncode == 0, granted.stderr
    proc = GatewayProcess(["run", "-c", str(path)], env, tmp / "gateway.log", port)
    return Gateway(proc, path, env, tokens, storage_url)


@pytest.fixture(scope="module")
def rtsp_password() -> str:
    return secrets.token_urlsafe(10)


@pytest.fixture(scope="module")
def server(people_clips: dict[str, PeopleClip], rtsp_password: str) -> Iterator[RtspServerProcess]:
    mounts = [(f"/{name}", clip_info(people_clips[name])) for name in ("walk", "empty", "crowd")]
    mounts.append(("/crowd-sub", clip_info(people_clips["crowd"])))
    with RtspServerProcess(mounts, username="cam", password=rtsp_password) as srv:
        yield srv


@pytest.fixture(scope="module")
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    server: RtspServerProcess,
    people_clips: dict[str, PeopleClip],
    rtsp_password: str,
) -> Iterator[Gateway]:
    walk, crowd = people_clips["walk"], people_clips["crowd"]
    area = [list(p) for p in crowd.geometry["area"]]
    cams = [
        camera("walk", server.url("/walk"), walk_rules(walk)),
        camera("empty", server.url("/empty"), walk_rules(walk)),
        camera(
            "crowd",
            server.url("/crowd"),
            {
                "stream": "sub",
                "image_size": f"{crowd.width}x{crowd.height}",
                "rules": [{"id": "hall", "kind": "crowding", "max_people": 4, "polygon": area, "cooldown_s": 0}],
            },
            sub_rtsp=server.url("/crowd-sub"),
        ),
    ]
    env = child_env(IT_PW=rtsp_password)
    tmp = tmp_path_factory.mktemp("live")
    gw = make_gateway(tmp, new_url(request, tmp), cams, env, MODELS, ("admin", "operator", "police"))
    gw.proc.start()
    try:
        yield gw
    finally:
        gw.proc.stop()


def first_event(gw: Gateway, camera: str, kind: str) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        return next((e for e in gw.events(camera) if e["kind"] == kind), None)

    return probe


def test_a_line_crossing_arrives_with_boxes_and_a_snapshot(site: Gateway) -> None:
    event = wait_until("a line crossing on camera walk", first_event(site, "walk", "line_crossing"), EVENT_DEADLINE_S)
    assert event["camera_id"] == "walk" and event["rule_id"] == "door"
    assert event["detail"]["direction"] == "towards", event
    w, h = event["frame_width"], event["frame_height"]
    assert (w, h) == (1280, 720)
    assert event["boxes"] and len(event["boxes"]) == len(event["track_ids"])
    for box in event["boxes"]:
        assert 0 <= box["x1"] < box["x2"] <= w and 0 <= box["y1"] < box["y2"] <= h, box
        assert 0 < box["score"] <= 1
    assert event["snapshot_url"] == f"/api/v1/events/{event['id']}/snapshot"
    r = site.proc.get(event["snapshot_url"], site.tokens["operator"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content[:2] == b"\xff\xd8"
    image = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape[1] <= w and image.shape[0] <= h and image.shape[2] == 3
    # The intrusion rule on the same camera fires too, and the event is also reachable by its id.
    wait_until("an intrusion on camera walk", first_event(site, "walk", "intrusion"), EVENT_DEADLINE_S)
    assert site.get(f"/api/v1/events/{event['id']}", "operator") == event


def test_analytics_status_shows_the_work(site: Gateway) -> None:
    wait_until(
        "camera walk analysed",
        lambda: True if site.analytics()["cameras"]["walk"]["sampled_frames"] else None,
        EVENT_DEADLINE_S,
    )
    before, t0 = site.analytics()["cameras"]["walk"]["sampled_frames"], time.monotonic()
    time.sleep(4)  # the sampled frames' rate needs a few seconds of video
    status = site.analytics()
    rate = (status["cameras"]["walk"]["sampled_frames"] - before) / (time.monotonic() - t0)
    assert status["state"] == "running" and status["problem"] is None, status
    assert rate == pytest.approx(ANALYSIS_FPS, abs=0.8), status
    assert status["detector"]["runs"] > 0 and status["detector"]["errors"] == 0, status
    assert status["detector"]["name"].startswith("yolo11n-pose-416"), status
    for cid, stream in (("walk", "main"), ("empty", "main"), ("crowd", "sub")):
        cam = status["cameras"][cid]
        assert cam["connected"] and cam["stream"] == stream and cam["decode_errors"] == 0, (cid, cam)


def test_an_empty_scene_raises_nothing_though_it_moves(site: Gateway) -> None:
    # Watch for as long as it takes the walk camera to raise an event, and the empty one to see motion.
    wait_until("a line crossing on camera walk", first_event(site, "walk", "line_crossing"), EVENT_DEADLINE_S)
    # At least 3 s of analysed frames with the trolley, the swaying shadow and the dimming lights.
    wait_until(
        "motion on camera empty",
        lambda: site.analytics()["cameras"]["empty"]["detected_frames"] >= 6 or None,
        EVENT_DEADLINE_S,
    )
    cam = site.analytics()["cameras"]["empty"]
    assert cam["motion_frames"] > 0 and cam["detected_frames"] > 0, cam
    # Every detector frame was looked at whole or in regions; the moving things made regions.
    assert cam["whole_frames"] + cam["region_frames"] <= cam["detected_frames"] + 1, cam
    assert cam["region_inferences"] >= cam["region_frames"] > 0, cam
    assert site.events("empty") == []
    assert cam["events"] == 0, cam


def test_a_crowd_on_the_sub_stream(site: Gateway) -> None:
    event = wait_until("crowding on camera crowd", first_event(site, "crowd", "crowding"), EVENT_DEADLINE_S)
    assert event["rule_id"] == "hall"
    assert event["detail"]["limit"] == 4 and event["detail"]["count"] > 4, event
    assert len(event["track_ids"]) == event["detail"]["count"]
    assert site.analytics()["cameras"]["crowd"]["stream"] == "sub"


def test_health_and_metrics_are_undisturbed(site: Gateway) -> None:
    def all_up() -> dict[str, dict[str, Any]] | None:
        cams = site.cameras()
        return cams if all(c["state"] in ("online", "degraded") for c in cams.values()) else None

    wait_until("cameras online", all_up, 20)
    wait_until("a line crossing on camera walk", first_event(site, "walk", "line_crossing"), EVENT_DEADLINE_S)
    cams = site.cameras()
    assert {cid: (c["state"], c["reason"]) for cid, c in cams.items()} == {
        "walk": ("online", None),
        "empty": ("online", None),
        "crowd": ("online", None),
    }
    states = {row[0] for row in read(site.storage_url, "SELECT state FROM camera_state_changes")}
    assert states <= {"connecting", "online", "degraded"}, states
    r = site.proc.get("/metrics", site.tokens["admin"])
    assert r.status_code == 200
    assert 'gateway_camera_up{camera="walk"} 1' in r.text
    log = site.proc.log()
    assert "Traceback" not in log and site.env["IT_PW"] not in log


def test_police_see_the_events_of_their_granted_cameras_only(site: Gateway) -> None:
    police = site.proc.get("/api/v1/events", site.tokens["police"])
    assert police.status_code == 200, police.text
    seen = police.json()["events"]
    assert seen and {e["camera_id"] for e in seen} == {"walk"}, seen
    crowd = site.events("crowd", "operator")
    assert crowd, "the crowd camera has events for staff"
    assert site.proc.get(f"/api/v1/events/{crowd[0]['id']}", site.tokens["police"]).status_code == 404
    assert site.proc.get(f"/api/v1/events/{crowd[0]['id']}/snapshot", site.tokens["police"]).status_code == 404
    assert site.proc.get("/api/v1/events?camera=crowd", site.tokens["police"]).status_code == 422
    assert site.proc.get("/api/v1/events", site.tokens["operator"]).status_code == 200
    assert httpx.get(f"{site.proc.base}/api/v1/events", timeout=5).status_code == 401


def test_a_missing_model_fails_softly(
    tmp_path: Path,
    gateway_storage_url: str,
    server: RtspServerProcess,
    people_clips: dict[str, PeopleClip],
    rtsp_password: str,
) -> None:
    empty_models = tmp_path / "no-models"
    empty_models.mkdir()
    cams = [camera("walk", server.url("/walk"), walk_rules(people_clips["walk"]))]
    gw = make_gateway(tmp_path, gateway_storage_url, cams, child_env(IT_PW=rtsp_password), empty_models, ("admin",))
    gw.proc.start()
    try:
        wait_until("camera walk online", lambda: gw.cameras()["walk"]["state"] == "online" or None, 20)
        status = gw.analytics()
    finally:
        assert gw.proc.stop() == 0, gw.proc.log()[-4000:]
    assert status["state"] == "unavailable", status
    assert status["detector"] is None and status["cameras"] == {}
    problem = status["problem"]
    assert str(empty_models / "yolo11n-pose-416.onnx") in problem, problem
    assert "python -m models.export" in problem, problem
    assert "analytics unavailable" in gw.proc.log()
    checked = run_cli(["check-config", str(gw.path)], gw.env)
    assert checked.returncode == 2, checked
    assert "analytics.detector.model" in checked.stdout, checked.stdout
    assert "missing" in checked.stdout and "models.export" in checked.stdout, checked.stdout
