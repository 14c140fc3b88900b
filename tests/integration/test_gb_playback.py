"""GB/T 28181 Playback and Download of the simulated NVR's recordings, as a city platform asks for them,
and the same recordings watched on the pages by WebRTC.

Real parts: the recordings on disk (sim/recordings.py), the NVR's ONVIF Profile G search and replay
(sim/nvr.py), the GStreamer RTSP server replaying them (Range, Scale), a gateway process, and the
Python platform (tests/support/gbplatform.py) that INVITEs, drives the playback with MANSRTSP INFO and
receives the PS over RTP on its own TCP socket. What arrives is checked by our RTP/PS demuxer and by
ffprobe; where the replay is in the recording comes from the NVR's own frame times (the ONVIF replay
header extension, shown in the uplink's session status).

One gateway run for the whole module (CI has two cores).
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.gb28181 import manscdp
from adapters.gb28181.psdemux import PsDemuxer, RtpPsReader
from adapters.gb28181.sip import SipMessage, header_params
from sim.clips import ClipInfo
from sim.nvr import NvrDeviceServer
from sim.recordings import RecordingStore, make_recordings
from sim.server import RtspServerProcess
from tests.support.faultproxy import FaultProxy
from tests.support.gateway import Site, camera, child_env
from tests.support.gbplatform import LOCAL, SERVER_ID, UNIT_ID, Call, FakePlatform, TcpMedia, uplink_config
from tests.support.ports import free_port
from tests.support.storage import new_url
from tests.support.waiting import wait_until
from tests.support.webrtc import offer_viewer, receive_frames

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed"),
]

CHANNELS = ("ch1", "ch2")
GB = {"gate": "12010000001320000001", "hall": "12010000001320000002", "yard": "12010000001320000003"}
GOP_S = 1.0  # the recording clip's keyframe interval
FPS = 10  # ... and its frame rate


@dataclass
class Playback:
    site: Site
    platform: FakePlatform
    store: RecordingStore
    yesterday: datetime
    tmp: Path

    def sessions(self) -> list[dict[str, Any]]:
        (city,) = self.site.get("/api/v1/uplinks")
        return list(city["sessions"])

    def session(self, call: Call) -> dict[str, Any] | None:
        return next((s for s in self.sessions() if s["call_id"] == call.call_id), None)


@pytest.fixture(scope="module")
def nvr_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sim_clips: dict[str, ClipInfo]
) -> Iterator[Playback]:
    tmp = tmp_path_factory.mktemp("playback")
    now = datetime.now(UTC).replace(microsecond=0)
    store = make_recordings(tmp / "nvr", CHANNELS, days=3, now=now)
    password = secrets.token_urlsafe(10)
    platform = FakePlatform(password=secrets.token_urlsafe(12))
    platform.start()
    sip_port = free_port(socket.SOCK_DGRAM)
    platform.gateway = (LOCAL, sip_port)
    replays = [(f"/replay/{c}", store.root / c) for c in CHANNELS]
    live = [("/live", sim_clips["hd720_h264"])]
    try:
        with (
            contextlib.ExitStack() as stack,
            RtspServerProcess(live, replays=replays, username="admin", password=password) as rtsp,
        ):
            nvr = NvrDeviceServer(store.root, CHANNELS, "admin", password, replay_base=f"rtsp://127.0.0.1:{rtsp.port}")
            with nvr:
                # yard's camera answers slowly at first (its answers trickle for 1.5 s): the gateway must
                # register only once it has read it, or a platform that asks for the catalog at
                # registration and does not subscribe would keep it OFF.
                slow = FaultProxy(("127.0.0.1", rtsp.port)).start()
                stack.callback(slow.stop)
                slow.set_mode("throttle", 300)
                cams = [
                    camera(cid, (slow if cid == "yard" else rtsp).url("/live"), gb_channel_id=GB[cid]) for cid in GB
                ]
                for cam in cams:
                    cam["credentials"]["username"] = "admin"
                env = child_env(IT_PW=password, IT_NVR_PW=password, IT_GB_PASSWORD=platform.password or "")
                site = Site(tmp, new_url(request, tmp), cams, env)
                config = yaml.safe_load(site.path.read_text())
                config["site"]["timezone"] = "UTC"
                config["site"]["unit"]["gb_id"] = UNIT_ID
                config["cameras"][0]["recordings"] = {"recorder": "nvr1", "channel": "ch1"}
                config["cameras"][1]["recordings"] = {"recorder": "nvr1", "channel": "ch2"}
                config["cameras"][2]["recordings"] = {"recorder": "dead", "channel": "ch1"}
                credentials = {"username": "admin", "password": {"env": "IT_NVR_PW"}}
                config["recorders"] = [
                    {
                        "id": "nvr1",
                        "onvif": {"host": "127.0.0.1", "port": nvr.port},
                        "credentials": credentials,
                        "max_queries_per_minute": 600,
                        "max_replay_sessions": 2,
                    },
                    # Nothing listens there: its cameras' replays fail, their live video must not.
                    {"id": "dead", "onvif": {"host": "127.0.0.1", "port": free_port()}, "credentials": credentials},
                ]
                config["uplinks"] = {"gb28181": [uplink_config(platform.port, sip_port, max_sessions=8)]}
                site.path.write_text(yaml.safe_dump(config))
                site.proc.start()
                threading.Timer(1.5, slow.set_mode, ("pass",)).start()
                try:
                    assert platform.registered.wait(15), site.proc.log()[-3000:]
                    asked = platform.query("Catalog", 99)
                    assert platform.final(asked, "MESSAGE").status == 200
                    catalog = wait_until(
                        "the catalog asked at registration",
                        lambda: [r.body for r in platform.received("MESSAGE") if r.body and r.body.sn == 99],
                        10,
                        interval=0.05,
                    )[0]
                    statuses = {i.findtext("DeviceID"): i.findtext("Status") for i in catalog.element.iter("Item")}
                    assert all(statuses[GB[cid]] == "ON" for cid in GB), statuses
                    site.wait_for(dict.fromkeys(GB, "online"))
                    yesterday = datetime.combine(now.date() - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
                    yield Playback(site, platform, store, yesterday, tmp)
                finally:
                    assert site.proc.stop() == 0, site.proc.log()[-4000:]
                    log = site.proc.log()
                    assert "Traceback" not in log, log[-4000:]
                    assert password not in log
    finally:
        platform.close()


# --- the platform's side ------------------------------------------------------------------------------


def replay_offer(kind: str, channel: str, start: datetime, end: datetime, port: int, ssrc: str, **attrs: str) -> bytes:
    """A platform's Playback / Download offer (GB/T 28181-2016 clause 9.8, 9.9): TCP, the gateway connects."""
    lines = [
        "v=0",
        f"o={SERVER_ID} 0 0 IN IP4 {LOCAL}",
        f"s={kind}",
        f"u={channel}:0",
        f"c=IN IP4 {LOCAL}",
        f"t={int(start.timestamp())} {int(end.timestamp())}",
        f"m=video {port} TCP/RTP/AVP 96",
        "a=recvonly",
        "a=rtpmap:96 PS/90000",
        "a=setup:passive",
        "a=connection:new",
        *(f"a={k}:{v}" for k, v in attrs.items()),
        f"y={ssrc}",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def open_replay(
    pb: Playback, cid: str, start: datetime, end: datetime, kind: str = "Playback", **attrs: str
) -> tuple[Call, TcpMedia, str]:
    media = TcpMedia().listen()
    ssrc = "1" + str(secrets.randbelow(10**9)).zfill(9)
    call = pb.platform.invite(GB[cid], replay_offer(kind, GB[cid], start, end, media.port, ssrc, **attrs))
    final = pb.platform.final_of(call, timeout=20)
    assert final.status == 200, (final.status, final.get("Warning"))
    via = header_params(final.vias[0])  # RFC 3581: the platform's Via had rport
    assert (via["rport"], via["received"]) == (str(pb.platform.port), LOCAL)
    answer = call.answer
    assert answer.value("s") == kind and answer.value("y") == ssrc and "sendonly" in answer.attributes()
    pb.platform.ack(call)
    return call, media, ssrc


def refused(pb: Playback, cid: str, start: datetime, end: datetime) -> SipMessage:
    call = pb.platform.invite(GB[cid], replay_offer("Playback", GB[cid], start, end, 9, "1000000001"))
    return pb.platform.final_of(call, timeout=30)


def info(pb: Playback, call: Call, body: str) -> SipMessage:
    """INFO with a MANSRTSP body in the playback's dialog; the gateway's final answer to it."""
    msg = pb.platform.in_dialog(call, "INFO", body=body.encode(), content_type="Application/MANSRTSP")
    pb.platform.send(msg)
    return pb.platform.answer_to(msg)


def media_status(pb: Playback, call: Call, timeout: float) -> manscdp.Manscdp:
    def found() -> manscdp.Manscdp | None:
        for received in pb.platform.received("MESSAGE", call.call_id):
            body = received.body
            if body is not None and body.cmd_type == "MediaStatus":
                return body
        return None

    status: manscdp.Manscdp = wait_until("MediaStatus in the playback's dialog", found, timeout, interval=0.1)
    return status


def decoded(media: TcpMedia, ssrc: str, path: Path) -> tuple[int, int]:
    """(frames our demuxer found, frames ffprobe decoded) in what the platform received."""
    reader = RtpPsReader(ssrc=int(ssrc), payload_type=96)
    frames = reader.feed_tcp(media.data())
    assert reader.report.ok and reader.report.gaps == 0, reader.report.errors[:5]
    demuxer = PsDemuxer()
    units = [u for f in frames for u in demuxer.feed(f.data, end_of_frame=True)] + demuxer.flush()
    assert demuxer.report.ok, demuxer.report.errors[:5]
    path.write_bytes(b"".join(f.data for f in frames))
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    codec, width, height, count = probe.stdout.strip().split(",")
    assert (codec, width, height) == ("h264", "640", "360"), probe.stdout
    return len(units), int(count)


def position(pb: Playback, call: Call) -> float:
    session = pb.session(call)
    assert session is not None and session["position"] is not None, session
    return float(session["position"])


# --- tests ----------------------------------------------------------------------------------------------


def test_playback_sends_the_span_then_media_status_and_bye(nvr_site: Playback) -> None:
    pb = nvr_site
    start = pb.yesterday + timedelta(hours=9, seconds=3, milliseconds=500)
    end = start + timedelta(seconds=6)
    call, media, ssrc = open_replay(pb, "gate", start, end)
    try:
        first = wait_until("the first recorded frame sent", lambda: (pb.session(call) or {}).get("first_recorded"), 10)
        assert start.timestamp() - GOP_S <= first <= start.timestamp()  # the keyframe that opens the span
        status = media_status(pb, call, 20)
        assert status.root == "Notify" and status.field("NotifyType") == "121" and status.device_id == GB["gate"]
        wait_until("the gateway's BYE after MediaStatus", lambda: pb.platform.received("BYE", call.call_id), 10)
        media.closed_by_peer.wait(5)
    finally:
        media.close()
    ours, ffprobes = decoded(media, ssrc, pb.tmp / "playback.ps")
    # 6 s at 10 fps, and the frames from the keyframe before the start (up to one GOP).
    assert 6 * FPS <= ours <= (6 + GOP_S) * FPS + 1, ours
    assert ffprobes == ours
    assert pb.session(call) is None


def test_the_platform_pauses_resumes_seeks_and_speeds_up(nvr_site: Playback) -> None:
    pb = nvr_site
    start = pb.yesterday + timedelta(hours=8)
    call, media, _ = open_replay(pb, "hall", start, start + timedelta(hours=2))
    try:
        wait_until("the first media bytes", media.first_at, 10, interval=0.05)
        time.sleep(1.0)
        paused = info(pb, call, "PAUSE MANSRTSP/1.0\r\nCSeq: 1\r\nPauseTime: now\r\n")
        assert paused.status == 200 and paused.body.startswith(b"MANSRTSP/1.0 200 OK")
        time.sleep(0.5)
        held, at = len(media.data()), position(pb, call)
        time.sleep(1.5)
        assert len(media.data()) == held, "media still arriving while paused"

        assert info(pb, call, "PLAY MANSRTSP/1.0\r\nCSeq: 2\r\nRange: npt=now-\r\n").status == 200
        wait_until("media again after PLAY", lambda: len(media.data()) > held, 5, interval=0.05)
        time.sleep(0.5)
        assert at < position(pb, call) <= at + 1.5  # on from where it paused, not from elsewhere

        seek = info(pb, call, "PLAY MANSRTSP/1.0\r\nCSeq: 3\r\nRange: npt=1800-\r\n")
        assert seek.status == 200
        target = start.timestamp() + 1800
        wait_until("the seek's position", lambda: position(pb, call) >= target - GOP_S, 10, interval=0.1)
        assert position(pb, call) <= target + 2.0  # landed within a GOP, then played on a moment

        fast = info(pb, call, "PLAY MANSRTSP/1.0\r\nCSeq: 4\r\nScale: 2.0\r\n")
        assert fast.status == 200 and b"Scale: 2" in fast.body, fast.body
        time.sleep(1.0)
        began, wall = position(pb, call), time.monotonic()
        time.sleep(3.0)
        rate = (position(pb, call) - began) / (time.monotonic() - wall)
        assert 1.6 <= rate <= 2.4, rate  # twice the recording per wall-clock second

        bad = info(pb, call, "FASTER PLEASE\r\n")
        assert bad.status == 400
        assert pb.platform.bye(call).status == 200
    finally:
        media.close()
    wait_until("the session to end", lambda: pb.session(call) is None, 5)


def test_download_is_faster_than_real_time(nvr_site: Playback) -> None:
    pb = nvr_site
    start = pb.yesterday + timedelta(hours=13)
    span = 20
    began = time.monotonic()
    call, media, ssrc = open_replay(
        pb, "gate", start, start + timedelta(seconds=span), kind="Download", downloadspeed="4"
    )
    try:
        media_status(pb, call, 30)
        took = time.monotonic() - began
        wait_until("the gateway's BYE", lambda: pb.platform.received("BYE", call.call_id), 10)
    finally:
        media.close()
    assert took < span / 2, took  # 4x asked; real time would be 20 s
    ours, ffprobes = decoded(media, ssrc, pb.tmp / "download.ps")
    assert span * FPS <= ours <= span * FPS + 1 and ffprobes == ours


def test_refusals_name_the_reason_and_live_video_goes_on(nvr_site: Playback) -> None:
    pb = nvr_site
    missing = pb.yesterday - timedelta(hours=12)  # ch2 recorded nothing the day before yesterday
    nothing = refused(pb, "hall", missing, missing + timedelta(minutes=10))
    assert nothing.status == 404 and "nothing recorded" in (nothing.get("Warning") or "")

    spanless = pb.platform.invite(
        GB["gate"], replay_offer("Playback", GB["gate"], *[pb.yesterday] * 2, 9, "1000000002")
    )
    assert pb.platform.final_of(spanless).status == 400

    # nvr1 allows two replays at once: a third is refused while two run.
    start = pb.yesterday + timedelta(hours=15)
    calls = [open_replay(pb, cid, start, start + timedelta(hours=1)) for cid in ("gate", "hall")]
    try:
        busy = refused(pb, "gate", start, start + timedelta(hours=1))
        assert busy.status == 486
    finally:
        for call, media, _ in calls:
            assert pb.platform.bye(call).status == 200
            media.close()

    # A recorder that does not answer: a clear refusal, and the camera's live video is unaffected.
    dead = refused(pb, "yard", start, start + timedelta(hours=1))
    assert dead.status == 503 and "recorder" in (dead.get("Warning") or "")
    assert pb.site.cameras()["yard"]["state"] == "online"


async def test_a_recording_is_watched_by_webrtc_and_audited(nvr_site: Playback) -> None:
    pb = nvr_site
    start = pb.yesterday + timedelta(hours=9, minutes=20, seconds=5, milliseconds=500)
    span = (start.isoformat(), (start + timedelta(minutes=10)).isoformat())
    pc, resp = await offer_viewer(pb.site.proc.base, pb.site.token, "gate", replay=span)
    try:
        assert resp.status_code == 201, resp.text
        answer = resp.json()
        assert (answer["mode"], answer["codec"]) == ("passthrough", "h264")
        frames = await receive_frames(pc, 15, 15)
        assert (frames[-1].width, frames[-1].height) == (640, 360)
        (view,) = [s for s in pb.site.get("/api/v1/live/sessions") if s["session_id"] == answer["session_id"]]
        assert view["kind"] == "replay" and view["start"] == start.timestamp()
        # Where the replay is, by the NVR's own frame times: from the keyframe before the start, on.
        assert start.timestamp() - GOP_S <= view["position"] <= start.timestamp() + 10
        gone = pb.site.proc.delete(f"/api/v1/cameras/gate/webrtc/{answer['session_id']}", pb.site.token)
        assert gone.status_code == 204
    finally:
        await pc.close()

    def audited() -> list[dict[str, Any]] | None:
        entries = pb.site.get("/api/v1/audit?action=replay_stop")["entries"]
        return entries or None

    (stop,) = wait_until("the replay in the audit log", audited, 10, interval=0.1)
    (begun,) = pb.site.get("/api/v1/audit?action=replay_start")["entries"]
    assert begun["target"] == "gate" and begun["detail"]["start"] == start.timestamp()
    assert stop["detail"]["reason"].startswith("closed by")

    missing = pb.yesterday - timedelta(hours=12)  # hall's NVR channel recorded nothing that day
    nothing = (missing.isoformat(), (missing + timedelta(minutes=5)).isoformat())
    pc, resp = await offer_viewer(pb.site.proc.base, pb.site.token, "hall", replay=nothing)
    await pc.close()
    assert resp.status_code == 404 and "nothing recorded" in resp.json()["error"]
