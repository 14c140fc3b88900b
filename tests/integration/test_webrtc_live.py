"""WebRTC live view against a real `gateway run`: a real RTSP server (sim) serving the 1080p
H.264 clip and a real aiortc viewer on 127.0.0.1 that decodes what it receives.

Run twice: with the camera read by a thread of the gateway (viewers subscribe to its bus) and by
a worker process (the gateway opens an RTSP pull of its own for the viewers)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import av
import cv2
import httpx
import numpy as np
import pytest
import yaml
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from adapters.webrtc import restrict_host_addresses
from sim.clips import ClipInfo
from sim.server import RtspServerProcess
from tests.support.gateway import GatewayProcess, child_env, run_cli
from tests.support.ports import free_port
from tests.support.storage import new_url
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

CAMERA = "gate"
CLIP = "hd_h264"
LOCAL = "127.0.0.1"
OTHER = "other"
H265 = "lobby-h265"


@dataclass
class Site:
    proc: GatewayProcess
    token: str
    clip: ClipInfo
    police_token: str = ""

    def headers(self, role: str = "admin") -> dict[str, str]:
        # The refusals are checked in English (the site speaks Chinese by default).
        token = self.token if role == "admin" else self.police_token
        return {"Authorization": f"Bearer {token}", "Accept-Language": "en"}


# One site per reader kind for the whole module: each test leaves no viewer behind, and starting a site
# (a server, a gateway, three CLI calls) took 10-25 s of the suite's time per test when each had its own.
@pytest.fixture(scope="module", params=[0, 1], ids=["thread-reader", "worker-process"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sim_clips: dict[str, ClipInfo]
) -> Iterator[Site]:
    tmp_path = tmp_path_factory.mktemp("webrtc")
    gateway_storage_url = new_url(request, tmp_path)
    clip = sim_clips[CLIP]
    rtsp = RtspServerProcess([("/cam", clip), ("/other", clip), ("/h265", sim_clips["hd_h265"])])
    http_port = free_port()
    proc: GatewayProcess | None = None
    try:
        rtsp.start()
        config: dict[str, Any] = {
            "site": {"id": "it", "name": "Integration site", "unit": {"name": "U", "headcount": 5}},
            "cameras": [
                {"id": CAMERA, "name": "Gate camera", "source": {"rtsp": rtsp.url("/cam")}},
                {"id": OTHER, "name": "Other camera", "source": {"rtsp": rtsp.url("/other")}},
                {"id": H265, "name": "Lobby H.265", "source": {"rtsp": rtsp.url("/h265")}},
            ],
            "supervisor": {
                "connect_timeout_s": 3,
                "stall_timeout_s": 3,
                "backoff_initial_s": 0.5,
                "backoff_max_s": 1,
                "workers": request.param,
            },
            "server": {"bind": LOCAL, "port": http_port},
            "storage": {"url": gateway_storage_url},
            "live_view": {"max_viewers_per_camera": 2, "ice_addresses": [LOCAL]},
        }
        path = tmp_path / "site.yaml"
        path.write_text(yaml.safe_dump(config))
        env = child_env()
        added = run_cli(["user", "add", "it-admin", "--role", "admin", "-c", str(path)], env)
        assert added.returncode == 0, added.stderr
        token = added.stdout.split()[-1]
        # An officer granted the gate camera only: the other one must look as if it did not exist.
        police = run_cli(["user", "add", "it-police", "--role", "police", "-c", str(path)], env)
        assert police.returncode == 0, police.stderr
        granted = run_cli(["user", "grant", "it-police", "--camera", CAMERA, "-c", str(path)], env)
        assert granted.returncode == 0, granted.stderr
        proc = GatewayProcess(["run", "-c", str(path)], env, tmp_path / "gateway.log", http_port).start()
        s = Site(proc, token, clip, police.stdout.split()[-1])

        def online() -> bool:
            return bool(proc.get(f"/api/v1/cameras/{CAMERA}/health", token).json()["state"] == "online")

        wait_until("camera online", online, 20, interval=0.05)
        yield s
    finally:
        try:
            if proc is not None:
                assert proc.stop() == 0, proc.log()[-4000:]
                assert "Traceback" not in proc.log(), proc.log()[-4000:]
        finally:
            rtsp.stop()


@dataclass
class Viewer:
    pc: RTCPeerConnection
    session_id: str
    answer: dict[str, Any]


async def open_viewer(site: Site, camera: str = CAMERA, role: str = "admin") -> Viewer | httpx.Response:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    restrict_host_addresses(pc, [LOCAL])
    await pc.setLocalDescription(await pc.createOffer())
    async with httpx.AsyncClient(base_url=site.proc.base, headers=site.headers(role), timeout=20) as client:
        resp = await client.post(
            f"/api/v1/cameras/{camera}/webrtc", json={"sdp": pc.localDescription.sdp, "type": "offer"}
        )
    if resp.status_code != 201:
        await pc.close()
        return resp
    body = resp.json()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="answer"))
    return Viewer(pc, body["session_id"], body)


async def receive_frames(pc: RTCPeerConnection, count: int, within_s: float) -> list[av.VideoFrame]:
    (transceiver,) = pc.getTransceivers()
    track = transceiver.receiver.track
    frames: list[av.VideoFrame] = []
    async with asyncio.timeout(within_s):
        while len(frames) < count:
            frames.append(await track.recv())
    return frames


async def test_viewers_receive_and_decode_passthrough_video(site: Site) -> None:
    first = await open_viewer(site)
    assert isinstance(first, Viewer), first.text
    assert first.answer["type"] == "answer" and first.answer["mode"] == "passthrough"
    assert first.answer["codec"] == "h264"
    assert "127.0.0.1" in first.answer["sdp"] and "192." not in first.answer["sdp"]
    second = await open_viewer(site)
    assert isinstance(second, Viewer), second.text
    try:
        # Limit: two viewers per camera in this config.
        third = await open_viewer(site)
        assert isinstance(third, httpx.Response) and third.status_code == 429, third
        assert "live viewers" in third.json()["error"]

        for viewer in (first, second):
            frames = await receive_frames(viewer.pc, 15, 30)
            assert {(f.width, f.height) for f in frames} == {(site.clip.width, site.clip.height)}
            stamps = [f.pts for f in frames]
            assert all(b > a for a, b in itertools.pairwise(stamps)), stamps
            # 15 frames of a 25 fps camera span about 0.56 s of the 90 kHz clock.
            span = (stamps[-1] - stamps[0]) / 90000
            assert 0.3 < span < 1.5, span
            picture = frames[-1].to_ndarray(format="gray")
            assert picture.std() > 5  # a real picture, not a grey decoder default

        async with httpx.AsyncClient(base_url=site.proc.base, headers=site.headers(), timeout=10) as client:
            sessions = [s for s in (await client.get("/api/v1/live/sessions")).json() if s["camera_id"] == CAMERA]
            assert {s["session_id"] for s in sessions} == {first.session_id, second.session_id}
            assert all(s["state"] == "connected" and s["viewer"] == "it-admin" for s in sessions)
            resp = await client.delete(f"/api/v1/cameras/{CAMERA}/webrtc/{first.session_id}")
            assert resp.status_code == 204, resp.text
            resp = await client.delete(f"/api/v1/cameras/{CAMERA}/webrtc/{first.session_id}")
            assert resp.status_code == 404
            sessions = [s for s in (await client.get("/api/v1/live/sessions")).json() if s["camera_id"] == CAMERA]
            assert [s["session_id"] for s in sessions] == [second.session_id]
        wait_until(
            "first viewer's connection ended",
            lambda: first.pc.connectionState in ("closed", "failed"),
            15,
            interval=0.05,
        )
    finally:
        await first.pc.close()
        await second.pc.close()


async def test_refusals_are_clear(site: Site) -> None:
    unknown = await open_viewer(site, "no-such-camera")
    assert isinstance(unknown, httpx.Response) and unknown.status_code == 404
    assert "no camera" in unknown.json()["error"]
    async with httpx.AsyncClient(base_url=site.proc.base, headers=site.headers(), timeout=10) as client:
        bad = await client.post(f"/api/v1/cameras/{CAMERA}/webrtc", json={"sdp": "hello", "type": "offer"})
        assert bad.status_code == 422 and "v=0" in bad.json()["error"], bad.text
        audio = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
        bad = await client.post(f"/api/v1/cameras/{CAMERA}/webrtc", json={"sdp": audio, "type": "offer"})
        assert bad.status_code == 422 and "no video m-line" in bad.json()["error"], bad.text
        anon = await client.post(f"/api/v1/cameras/{CAMERA}/webrtc", json={"sdp": audio}, headers={"Authorization": ""})
        assert anon.status_code == 401


async def test_snapshot_is_a_jpeg_of_the_camera(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.proc.base, headers=site.headers(), timeout=20) as client:
        resp = await client.get(f"/api/v1/cameras/{CAMERA}/snapshot")
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(resp.content, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape == (site.clip.height, site.clip.width, 3)
        assert image.std() > 5
        again = await client.get(f"/api/v1/cameras/{CAMERA}/snapshot")
        assert again.content == resp.content  # cached for a dashboard refresh
        missing = await client.get("/api/v1/cameras/nope/snapshot")
        assert missing.status_code == 404


async def test_police_see_only_granted_cameras_and_the_audit_log_says_what_they_watched(site: Site) -> None:
    refused = await open_viewer(site, OTHER, role="police")
    assert isinstance(refused, httpx.Response) and refused.status_code == 404, refused
    assert "no camera" in refused.json()["error"]
    async with httpx.AsyncClient(base_url=site.proc.base, headers=site.headers("police"), timeout=20) as client:
        assert (await client.get(f"/api/v1/cameras/{OTHER}/snapshot")).status_code == 404
        assert (await client.get(f"/api/v1/cameras/{CAMERA}/snapshot")).status_code == 200
        assert (await client.get("/api/v1/live/sessions")).status_code == 403
    viewer = await open_viewer(site, CAMERA, role="police")
    assert isinstance(viewer, Viewer), viewer.text
    try:
        frames = await receive_frames(viewer.pc, 5, 30)
        assert frames[-1].width == site.clip.width
    finally:
        async with httpx.AsyncClient(base_url=site.proc.base, headers=site.headers("police"), timeout=10) as client:
            resp = await client.delete(f"/api/v1/cameras/{CAMERA}/webrtc/{viewer.session_id}")
            assert resp.status_code == 204, resp.text
        await viewer.pc.close()

    def audited() -> list[dict[str, Any]] | None:
        entries = site.proc.get("/api/v1/audit?actor=it-police", site.token).json()["entries"]
        actions = {e["action"] for e in entries}
        return entries if {"live_view_start", "live_view_stop", "snapshot"} <= actions else None

    entries = wait_until("live view and snapshot in the audit log", audited, 10, interval=0.05)
    stop = next(e for e in entries if e["action"] == "live_view_stop")
    assert stop["target"] == CAMERA and stop["role"] == "police" and stop["detail"]["duration_s"] > 0
    assert stop["source"] == LOCAL
    assert site.proc.get("/api/v1/audit/verify", site.token).json()["ok"] is True


async def test_an_h265_camera_without_sub_stream_is_transcoded_and_says_so(site: Site) -> None:
    # Browsers cannot be counted on to decode H.265 over WebRTC: the picture is decoded and
    # re-encoded, and the answer labels it, so the page can tell the officer it is not the original.
    viewer = await open_viewer(site, H265)
    assert isinstance(viewer, Viewer), viewer.text
    try:
        assert viewer.answer["mode"] == "transcoded", viewer.answer
        frames = await receive_frames(viewer.pc, 5, 40)
        # Scaled down to keep one transcode within reach of a small box.
        assert frames[-1].width <= 1280 and frames[-1].to_ndarray(format="gray").std() > 5
    finally:
        await viewer.pc.close()
