"""The StreamHub end to end: the one owner of camera streams, with the real RTSP server, a simulated ONVIF
device and `gateway run`.

* An ONVIF camera (known by its device address only) gives snapshots and live video whether the
  cameras are read in the gateway's process or by worker processes: the hub resolves its stream URI.
  (Before the hub, live view of an ONVIF camera read by a worker failed: "ONVIF sources are not
  supported yet".) Neither opens a second RTSP session: in-process the viewer joins the health
  reader's bus, with workers the worker sends the camera's packets over its pipe (counted at the server).
* Analytics and live view on the same sub stream are one RTSP session, counted at the server.
* The city platform's GB/T 28181 INVITE plays an ONVIF and an RTSP camera, in-process and with worker
  processes, without a second session.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sim.clips import ClipInfo
from sim.onvif_device import OnvifDeviceServer
from sim.server import RtspServerProcess
from tests.support.analytics import MODELS
from tests.support.gateway import Site, camera, child_env
from tests.support.gbplatform import (
    LOCAL,
    UNIT_ID,
    FakePlatform,
    UdpMedia,
    play_offer,
    uplink_config,
)
from tests.support.ports import free_port
from tests.support.storage import new_url
from tests.support.waiting import wait_until
from tests.support.webrtc import offer_viewer, receive_frames

pytestmark = pytest.mark.integration


def _onvif_camera(cid: str, device: OnvifDeviceServer, **onvif: str) -> dict[str, Any]:
    return {
        "id": cid,
        "name": cid,
        "source": {"onvif": {"host": "127.0.0.1", "port": device.port, **onvif}},
        "credentials": {"username": "admin", "password": {"env": "IT_PW"}},
        "zones": ["gate"],
    }


async def _view(site: Site, camera_id: str) -> int:
    pc, resp = await offer_viewer(site.proc.base, site.token, camera_id)
    try:
        assert resp.status_code == 201, resp.text
        frames = await receive_frames(pc, 5, within_s=20)
        return len(frames)
    finally:
        await pc.close()


CHANNELS = {"side-gate": "12010000001320000009", "front": "12010000001320000010"}


@dataclass
class HubSite:
    site: Site
    rtsp: RtspServerProcess
    platform: FakePlatform


# One site per way of reading (in the gateway's process, by worker processes) for the tests of the ONVIF
# and the RTSP camera: live view and snapshots, then the platform's INVITEs, on the same two sessions.
@pytest.fixture(scope="module", params=[0, 2], ids=["in-process", "worker-processes"])
def hub_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sim_clips: dict[str, ClipInfo]
) -> Iterator[HubSite]:
    tmp = tmp_path_factory.mktemp("hub")
    password = secrets.token_urlsafe(10)
    platform = FakePlatform(password=secrets.token_urlsafe(12))
    platform.start()
    sip_port = free_port(socket.SOCK_DGRAM)
    platform.gateway = (LOCAL, sip_port)
    mounts = [("/main", sim_clips["hd_h264"]), ("/sub", sim_clips["sd_h264"])]
    try:
        with RtspServerProcess(mounts, username="admin", password=password) as rtsp:
            # Behind NAT: the device names an address of its own (127.0.0.2, where nothing listens), which
            # the gateway must read on the address it was given, never follow.
            behind_nat = {
                k: rtsp.url(p).replace("127.0.0.1", "127.0.0.2") for k, p in (("main", "/main"), ("sub", "/sub"))
            }
            device = OnvifDeviceServer(
                "generic", "admin", password, main_uri=behind_nat["main"], sub_uri=behind_nat["sub"], auth="wsse"
            )
            with device:
                credentials = {"username": "admin", "password": {"env": "IT_PW"}}
                cams = [
                    {**_onvif_camera("side-gate", device), "gb_channel_id": CHANNELS["side-gate"]},
                    {**camera("front", rtsp.url("/main"), credentials=credentials), "gb_channel_id": CHANNELS["front"]},
                ]
                env = child_env(IT_PW=password, IT_GB_PASSWORD=platform.password or "")
                site = Site(tmp, new_url(request, tmp), cams, env)
                config = yaml.safe_load(site.path.read_text())
                config["site"]["unit"]["gb_id"] = UNIT_ID
                # Two cameras are enough to make the worker processes read both (none is analysed).
                config["supervisor"]["workers"] = request.param
                config["uplinks"] = {"gb28181": [uplink_config(platform.port, sip_port)]}
                site.path.write_text(yaml.safe_dump(config))
                site.proc.start()
                try:
                    assert platform.registered.wait(15), site.proc.log()[-3000:]
                    site.wait_for({"side-gate": "online", "front": "online"}, timeout=30)
                    yield HubSite(site, rtsp, platform)
                    log = site.log_path.read_text()
                finally:
                    site.proc.stop()
    finally:
        platform.close()
    assert "not supported yet" not in log
    assert password not in log


def test_onvif_and_rtsp_cameras_give_snapshots_and_live_video(hub_site: HubSite) -> None:
    site, rtsp = hub_site.site, hub_site.rtsp
    # Both cameras' health readers play the same mount: two sessions, and no more after.
    assert rtsp.plays("/main") == 2
    for cid in ("side-gate", "front"):
        resp = httpx.get(
            f"{site.proc.base}/api/v1/cameras/{cid}/snapshot",
            headers={"Authorization": f"Bearer {site.token}"},
            timeout=20,
        )
        assert resp.status_code == 200, (cid, resp.text)
        assert resp.content[:2] == b"\xff\xd8", cid  # a JPEG
        assert asyncio.run(_view(site, cid)) == 5, cid
    assert rtsp.plays("/main") == 2, "a snapshot or a viewer opened a second session"


def test_analytics_and_live_view_share_one_sub_stream_session(
    tmp_path: Path, gateway_storage_url: str, sim_clips: dict[str, ClipInfo]
) -> None:
    password = secrets.token_urlsafe(10)
    # An H.265 main stream: live view takes the H.264 sub stream, which analytics also reads.
    mounts = [("/hall", sim_clips["hd_h265"]), ("/hall-sub", sim_clips["sd_h264"])]
    with RtspServerProcess(mounts, username="cam", password=password) as rtsp:
        hall = camera(
            "hall",
            rtsp.url("/hall"),
            source={"sub_rtsp": rtsp.url("/hall-sub")},
            analytics={"stream": "sub", "rules": []},
        )
        site = Site(tmp_path, gateway_storage_url, [hall], child_env(IT_PW=password))
        config = yaml.safe_load(site.path.read_text())
        config["analytics"] = {"fps": 2, "detector": {"models_dir": str(MODELS)}}
        site.path.write_text(yaml.safe_dump(config))
        site.proc.start()
        try:
            site.wait_for({"hall": "online"}, timeout=30)

            def analysing() -> bool:
                cams = site.get("/api/v1/analytics").get("cameras", {})
                return bool(cams.get("hall", {}).get("connected"))

            wait_until(lambda: f"analytics on the sub stream: {site.get('/api/v1/analytics')}", analysing, 60)
            assert rtsp.plays("/hall-sub") == 1
            assert asyncio.run(_view(site, "hall")) == 5
            # The viewer joined the analytics' session: still one PLAY of the sub stream.
            assert rtsp.plays("/hall-sub") == 1
            assert rtsp.plays("/hall") == 1  # the health reader's, and only it
        finally:
            site.proc.stop()


def test_gb28181_invite_plays_an_onvif_and_an_rtsp_camera(hub_site: HubSite) -> None:
    """The city platform INVITEs the channels of a camera known only by its ONVIF address and of an RTSP
    camera; with worker processes both are read there and tapped for the sessions."""
    platform, rtsp = hub_site.platform, hub_site.rtsp
    received: dict[str, int] = {}
    for n, (cid, channel) in enumerate(CHANNELS.items()):
        media = UdpMedia()
        try:
            call = platform.invite(channel, play_offer(media.port, ssrc=f"010000000{n}"))
            assert platform.final_of(call).status == 200, cid
            platform.ack(call)
            wait_until(f"the first media packet of {cid}", media.first_at, 15, interval=0.05)
            assert platform.bye(call).status == 200
            received[cid] = len(media.packets())
        finally:
            media.close()
    # Both health readers play the one mount; the sessions opened nothing more.
    assert rtsp.plays("/main") == 2
    assert all(count > 10 for count in received.values()), received
