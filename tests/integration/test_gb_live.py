"""Live video, subscriptions and hostile input of a GB/T 28181 uplink, against a real `gateway run`.

One camera on a real GStreamer RTSP server, a fake upper platform on UDP (tests/support/
gbplatform.py) that INVITEs the camera's channel and receives the stream on sockets of its own: UDP,
RFC 4571 TCP where the gateway connects (offer setup:passive) and where the platform connects
(offer setup:active). What arrives is checked twice: by our RTP/PS demuxer (psdemux) and by ffprobe.
The media run has a second camera with a microphone (G.711 A-law): its sound arrives inside the PS,
and an offer without PS gets its video as an H.264 elementary stream (GB/T 28181-2022).

Two gateway runs in all (CI has two cores): one for the media paths and shared/replaced sessions,
one for subscriptions, the camera going away and coming back, and malformed requests.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.gb28181 import manscdp
from adapters.gb28181.ps import AUDIO_STREAM_ID, STREAM_TYPE_G711A, STREAM_TYPE_H264
from adapters.gb28181.psdemux import AccessUnit, PsDemuxer, RtpPsReader
from adapters.gb28181.sip import new_call_id, new_tag, request
from sim.clips import ClipInfo
from sim.server import RtspServerProcess
from tests.support.gateway import GatewayProcess, child_env, run_cli
from tests.support.gbplatform import (
    DOMAIN,
    LOCAL,
    SERVER_ID,
    UNIT_ID,
    Call,
    FakePlatform,
    TcpMedia,
    UdpMedia,
    play_offer,
    uplink_config,
)
from tests.support.mediacheck import aiortc_h264_frames, group_by_timestamp, nal_units, ps_streams, rtp_fields
from tests.support.ports import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

CHANNEL = "12010000001320000001"
CAMERA = "gate"
SOUND_CHANNEL = "12010000001320000002"  # a camera with a microphone, in the media run only
SOUND_CAMERA = "lobby-mic"
CLIP = "hd720_h264"
VIDEO_STREAM_ID = 0xE0
needs_ffprobe = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")


@dataclass
class Site:
    proc: GatewayProcess
    token: str
    sip_port: int
    rtsp: RtspServerProcess
    clip: ClipInfo
    platform: FakePlatform

    def get(self, path: str) -> Any:
        resp = self.proc.get(path, self.token)
        assert resp.status_code == 200, resp.text
        return resp.json() if path.startswith("/api") else resp.text

    def uplink(self) -> dict[str, Any]:
        (city,) = self.get("/api/v1/uplinks")
        assert city["id"] == "city"
        return dict(city)

    def camera_state(self) -> str:
        return str(self.get(f"/api/v1/cameras/{CAMERA}/health")["state"])


@pytest.fixture
def site(
    request: pytest.FixtureRequest, tmp_path: Path, gateway_storage_url: str, sim_clips: dict[str, ClipInfo]
) -> Iterator[Site]:
    """A gateway with one camera (an RTSP server) and one GB uplink to a fake platform, registered
    and with the camera online. Everything it starts is stopped however the test ends. Parametrized
    (indirect) with "sound", it has a second camera, with a microphone, on an RTSP server of its own."""
    platform = FakePlatform(password=secrets.token_urlsafe(12))
    platform.start()
    sip_port = free_port(socket.SOCK_DGRAM)
    platform.gateway = (LOCAL, sip_port)
    http_port = free_port()
    clip = sim_clips[CLIP]
    rtsp = RtspServerProcess([("/cam", clip)])
    sound = RtspServerProcess([("/cam", clip)], audio={"/cam": "pcma"}) if getattr(request, "param", None) else None
    proc: GatewayProcess | None = None
    try:
        rtsp.start()
        cameras = [
            {"id": CAMERA, "name": "Gate camera", "source": {"rtsp": rtsp.url("/cam")}, "gb_channel_id": CHANNEL}
        ]
        if sound is not None:
            sound.start()
            cameras.append(
                {
                    "id": SOUND_CAMERA,
                    "name": "Lobby",
                    "source": {"rtsp": sound.url("/cam")},
                    "gb_channel_id": SOUND_CHANNEL,
                }
            )
        config: dict[str, Any] = {
            "site": {"id": "it", "name": "Integration site", "unit": {"name": "U", "headcount": 5, "gb_id": UNIT_ID}},
            "cameras": cameras,
            "supervisor": {"connect_timeout_s": 3, "stall_timeout_s": 3, "backoff_initial_s": 0.5, "backoff_max_s": 1},
            "server": {"bind": LOCAL, "port": http_port},
            "storage": {"url": gateway_storage_url},
            "uplinks": {"gb28181": [uplink_config(platform.port, sip_port)]},
        }
        path = tmp_path / "site.yaml"
        path.write_text(yaml.safe_dump(config))
        env = child_env(IT_GB_PASSWORD=platform.password)
        added = run_cli(["user", "add", "it-admin", "--role", "admin", "-c", str(path)], env)
        assert added.returncode == 0, added.stderr
        token = added.stdout.split()[-1]
        proc = GatewayProcess(["run", "-c", str(path)], env, tmp_path / "gateway.log", http_port).start()
        s = Site(proc, token, sip_port, rtsp, clip, platform)
        assert platform.registered.wait(15), proc.log()
        wait_until("camera online", lambda: s.camera_state() == "online", 20, interval=0.05)
        yield s
    finally:
        try:
            if proc is not None:
                assert proc.stop() == 0, proc.log()[-4000:]
                assert "Traceback" not in proc.log(), proc.log()[-4000:]
        finally:
            rtsp.stop()
            if sound is not None:
                sound.stop()
            platform.close()


# --- checks ---------------------------------------------------------------------------------------


def nal_types(unit: bytes) -> set[int]:
    """H.264 NAL unit types of an Annex-B access unit."""
    return {unit[m.end()] & 0x1F for m in re.finditer(b"\x00\x00\x01", unit) if m.end() < len(unit)}


@dataclass
class Checked:
    units: list[AccessUnit]
    ps: bytes
    span_s: float  # RTP timestamp of the last frame minus the first's


def check_stream(items: list[bytes], *, tcp: bool, ssrc: str, clip: ClipInfo) -> Checked:
    """What a platform decoder needs: one SSRC (the y= one), payload type 96, no sequence gaps, a
    marker on every frame, timestamps that never go back, and a PS stream (pack headers, a PSM that
    says H.264, well-formed PES) that opens with an IDR picture carrying SPS and PPS.

    The last frame may be cut by the end of the capture (a BYE aborts the TCP connection), so the
    reader is not finished: only complete frames are judged."""
    reader = RtpPsReader(ssrc=int(ssrc), payload_type=96)
    frames = [f for item in items for f in (reader.feed_tcp(item) if tcp else reader.feed_rtp(item))]
    report = reader.report
    assert report.ok, report.errors[:5]
    assert report.ssrc == int(ssrc) and report.foreign_ssrc_packets == 0 and report.invalid_packets == 0
    assert report.gaps == 0 and report.lost_packets == 0 and report.late_packets == 0
    assert report.timestamp_regressions == 0 and report.frames_without_marker == 0
    assert len(frames) >= 10, f"only {len(frames)} frames"
    assert all(f.marker and not f.damaged for f in frames)
    stamps = [f.timestamp for f in frames]
    assert all(b >= a for a, b in itertools.pairwise(stamps)), stamps

    demuxer = PsDemuxer()
    units = [u for f in frames for u in demuxer.feed(f.data, end_of_frame=True)] + demuxer.flush()
    ps_report = demuxer.report
    assert ps_report.ok, ps_report.errors[:5]
    assert ps_report.bytes_skipped == 0
    assert ps_report.stream_types == {VIDEO_STREAM_ID: STREAM_TYPE_H264}
    assert len(units) == len(frames)  # one picture per RTP frame
    assert ps_report.packs >= len(units) and ps_report.psms >= 1 and ps_report.system_headers >= 1
    assert ps_report.pes_packets >= len(units) and 0 < ps_report.max_pes_length <= 0xFFFF
    assert all(u.stream_id == VIDEO_STREAM_ID and not u.damaged and u.pts is not None for u in units)
    first = units[0]
    assert first.psm and first.system_header and first.stream_type == STREAM_TYPE_H264
    assert {5, 7, 8} <= nal_types(first.data), nal_types(first.data)  # IDR with SPS and PPS
    # The stream runs at the camera's rate: one frame per 90000/fps ticks of the RTP clock.
    span_s = (stamps[-1] - stamps[0]) / 90000
    expected = span_s * clip.fps + 1
    assert 0.9 * expected - 2 <= len(units) <= 1.1 * expected + 2, (len(units), span_s)
    return Checked(units, b"".join(f.data for f in frames), span_s)


def ffprobe(ps: bytes, path: Path) -> dict[str, Any]:
    path.write_bytes(ps)
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-count_frames", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stderr == "", result.stderr
    streams: list[dict[str, Any]] = json.loads(result.stdout)["streams"]
    assert len(streams) == 1, streams
    return streams[0]


def assert_probe(checked: Checked, path: Path, clip: ClipInfo) -> None:
    stream = ffprobe(checked.ps, path)
    assert stream["codec_type"] == "video" and stream["codec_name"] == "h264"
    assert (stream["width"], stream["height"]) == (clip.width, clip.height)
    frames = int(stream["nb_read_frames"])
    assert len(checked.units) - 1 <= frames <= len(checked.units), (frames, len(checked.units))


def check_answer(call: Call, *, port_expected: bool = True) -> int:
    """The 200's SDP: sendonly PS on 96, our y=, our address; returns the m= port."""
    assert call.final is not None and call.final.status == 200
    assert call.final.content_type == "application/sdp"
    answer = call.answer
    attributes = answer.attributes()
    assert "sendonly" in attributes and "rtpmap:96 PS/90000" in attributes, answer.lines
    assert not [a for a in attributes if a.startswith("rtpmap:") and a != "rtpmap:96 PS/90000"]
    assert answer.value("c") == f"IN IP4 {LOCAL}" and answer.value("s") == "Play"
    assert (answer.value("o") or "").startswith(f"{CHANNEL} ")
    port = answer.port
    if port_expected:
        assert 1024 <= port <= 65535, answer.lines
    return port


def invite(platform: FakePlatform, offer: bytes, subject: str | None = None) -> Call:
    call = platform.invite(CHANNEL, offer, subject=subject)
    final = platform.final_of(call)
    statuses = platform.statuses(call.call_id)
    assert statuses[0] == 100 and final.status == 200, statuses  # 100 Trying first
    return call


def subject(ssrc: str, receiver_seq: str = "0") -> str:
    """GB/T 28181 Subject: sender channel:sender SSRC,receiver ID:receiver sequence."""
    return f"{CHANNEL}:{ssrc},{SERVER_ID}:{receiver_seq}"


def wait_streaming(first_at: Any, seconds: float) -> None:
    """Wait for the first media bytes (up to a GOP of waiting for an IDR), then `seconds` more."""
    wait_until("the first media packet", first_at, 10, interval=0.05)
    time.sleep(seconds)


def quiet(count: Any, settle: float = 0.3, window: float = 1.0) -> None:
    """Nothing more arrives: after `settle`, the count stays the same for `window` seconds."""
    time.sleep(settle)
    before = count()
    time.sleep(window)
    assert count() == before, "media still arriving after the session ended"


def rtsp_clients(port: int) -> int:
    """Established TCP connections to the RTSP server's port, from the client side (Linux
    /proc/net/tcp*, state 01): one per RTSP client session, whichever process holds it."""
    count = 0
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue
        for row in table.read_text().splitlines()[1:]:
            fields = row.split()
            remote, state = fields[2], fields[3]
            count += int(state == "01" and int(remote.rsplit(":", 1)[1], 16) == port)
    return count


def metric(text: str, name: str) -> float:
    match = re.search(rf'^{name}{{platform="city"}} (\S+)$', text, re.MULTILINE)
    assert match is not None, f"{name} not in /metrics"
    return float(match.group(1))


# --- 1. media: UDP, TCP both ways, shared and replaced sessions ------------------------------------


@needs_ffprobe
@pytest.mark.parametrize("site", ["sound"], indirect=True)
def test_live_video_over_udp_and_tcp_shared_and_replaced(site: Site, tmp_path: Path) -> None:
    platform, clip = site.platform, site.clip

    # UDP: INVITE, 100, 200 with our SDP, ACK, ~2.5 s of stream, BYE.
    media = UdpMedia()
    try:
        ssrc = "0100000001"
        call = invite(platform, play_offer(media.port, ssrc=ssrc), subject(ssrc))
        port = check_answer(call)
        answer = call.answer
        assert answer.value("m") == f"video {port} RTP/AVP 96" and answer.value("y") == ssrc
        assert call.to_tag and call.target == (LOCAL, site.sip_port)  # Contact: the gateway's SIP address
        platform.ack(call)
        wait_streaming(media.first_at, 2.5)

        (city,) = site.get("/api/v1/uplinks")
        (session,) = city["sessions"]
        assert (session["call_id"], session["channel_id"], session["camera_id"]) == (call.call_id, CHANNEL, CAMERA)
        assert session["state"] == "streaming" and session["transport"] == "udp"
        assert session["ssrc"] == ssrc and session["peer"] == f"{LOCAL}:{media.port}"
        assert session["bytes_sent"] > 0 and session["frames_sent"] > 0
        assert metric(site.get("/metrics"), "gateway_gb_sessions") == 1

        assert platform.bye(call).status == 200
        quiet(lambda: len(media.datagrams))
        sources = {addr for _, addr, _ in media.datagrams}
        assert sources == {(LOCAL, port)}  # sent from the port of our answer
        checked = check_stream(media.packets(), tcp=False, ssrc=ssrc, clip=clip)
        assert checked.span_s >= 1.5
        assert_probe(checked, tmp_path / "udp.ps", clip)
    finally:
        media.close()
    assert site.uplink()["sessions"] == []

    # TCP, offer setup:passive: the gateway connects to our port before its 200.
    tcp = TcpMedia().listen()
    try:
        ssrc = "0100000002"
        call = invite(platform, play_offer(tcp.port, ssrc=ssrc, transport="tcp", setup="passive"), subject(ssrc))
        assert check_answer(call, port_expected=False) == 9  # active: the discard port (RFC 4145), never 0
        attributes = call.answer.attributes()
        assert "setup:active" in attributes and "connection:new" in attributes
        assert call.answer.value("m") == "video 9 TCP/RTP/AVP 96" and call.answer.value("y") == ssrc
        peer = wait_until("the gateway's media connection", lambda: tcp.peer, 2, interval=0.05)  # made before the 200
        assert peer[0] == LOCAL
        platform.ack(call)
        wait_streaming(tcp.first_at, 2.0)
        (session,) = site.uplink()["sessions"]
        assert session["transport"] == "tcp-active" and session["bytes_sent"] > 0
        assert platform.bye(call).status == 200
        assert tcp.closed_by_peer.wait(5), "the gateway kept the media connection after BYE"
        checked = check_stream(tcp.chunks, tcp=True, ssrc=ssrc, clip=clip)
        assert_probe(checked, tmp_path / "tcp.ps", clip)
    finally:
        tcp.close()

    # TCP, offer setup:active: we connect to the port of the gateway's answer after the ACK.
    ssrc = "0100000003"
    call = invite(platform, play_offer(9, ssrc=ssrc, transport="tcp", setup="active"), subject(ssrc))
    port = check_answer(call)
    assert "setup:passive" in call.answer.attributes() and call.answer.value("y") == ssrc
    platform.ack(call)
    tcp = TcpMedia().connect(port)
    try:
        wait_streaming(tcp.first_at, 1.5)
        (session,) = site.uplink()["sessions"]
        assert session["transport"] == "tcp-passive" and session["bytes_sent"] > 0
        assert platform.bye(call).status == 200
        assert tcp.closed_by_peer.wait(5), "the gateway kept the media connection after BYE"
        check_stream(tcp.chunks, tcp=True, ssrc=ssrc, clip=clip)
    finally:
        tcp.close()

    # Two viewers of one camera: both stream, the camera is read once (one RTSP connection, two
    # consumers of its packet bus).
    assert rtsp_clients(site.rtsp.port) == 1
    first, second, third = UdpMedia(), UdpMedia(), UdpMedia()
    try:
        c1 = invite(platform, play_offer(first.port, ssrc="0100000011"), subject("0100000011"))
        platform.ack(c1)
        c2 = invite(platform, play_offer(second.port, ssrc="0100000012"), subject("0100000012"))
        platform.ack(c2)
        wait_until("both sessions streaming", lambda: first.datagrams and second.datagrams, 10, interval=0.05)
        wait_until(
            "2 sessions",
            lambda: len([s for s in site.uplink()["sessions"] if s["bytes_sent"] > 0]) == 2,
            10,
            interval=0.05,
        )
        sessions = site.uplink()["sessions"]
        assert {s["call_id"] for s in sessions} == {c1.call_id, c2.call_id}
        assert {s["ssrc"] for s in sessions} == {"0100000011", "0100000012"}
        assert rtsp_clients(site.rtsp.port) == 1
        assert site.get(f"/api/v1/cameras/{CAMERA}/health")["bus_subscribers"] == 2
        assert metric(site.get("/metrics"), "gateway_gb_sessions") == 2

        # The same Subject as the first: the platform restarts that view. The old session gets our
        # BYE, the new one streams, the other one is untouched.
        c3 = invite(platform, play_offer(third.port, ssrc="0100000013"), subject("0100000011"))
        bye = wait_until(
            "our BYE for the replaced session", lambda: platform.received("BYE", c1.call_id), 10, interval=0.05
        )[0].msg
        assert bye.from_tag == c1.to_tag and bye.to_tag == c1.from_tag  # inside the first dialog
        assert bye.cseq == (1, "BYE")
        platform.ack(c3)
        wait_until("the new session streaming", lambda: third.datagrams, 10, interval=0.05)
        quiet(lambda: len(first.datagrams), settle=0.0)
        before = len(second.datagrams)
        wait_until("the other session still streaming", lambda: len(second.datagrams) > before, 5, interval=0.05)
        sessions = site.uplink()["sessions"]
        assert {s["call_id"] for s in sessions} == {c2.call_id, c3.call_id}
        assert rtsp_clients(site.rtsp.port) == 1

        assert platform.bye(c1).status == 481  # already over: our BYE ended it
        assert platform.bye(c2).status == 200 and platform.bye(c3).status == 200
        quiet(lambda: len(second.datagrams) + len(third.datagrams))
    finally:
        for m in (first, second, third):
            m.close()
    check_stream(third.packets(), tcp=False, ssrc="0100000013", clip=clip)

    # Afterwards: no session, and counters that add up.
    city = wait_until(
        "byes_sent counted", lambda: (c := site.uplink())["counters"]["byes_sent"] == 1 and c, 10, interval=0.05
    )
    counters = city["counters"]
    assert city["sessions"] == [] and city["state"] == "registered"
    assert counters["invites"] == 6 and counters["invites_refused"] == 0
    assert counters["sessions_started"] == 6 and counters["sessions_ended"] == 6
    assert counters["byes_received"] == 5 and counters["byes_sent"] == 1 and counters["replaced"] == 1
    assert counters["byes_failed"] == 0 and counters["bytes_sent"] > 100_000
    assert site.get(f"/api/v1/cameras/{CAMERA}/health")["bus_subscribers"] == 0
    metrics = site.get("/metrics")
    assert metric(metrics, "gateway_gb_sessions") == 0
    assert metric(metrics, "gateway_gb_sessions_started_total") == 6
    assert metric(metrics, "gateway_gb_invites_total") == 6
    assert metric(metrics, "gateway_gb_byes_sent_total") == 1
    # Exact, not six digits: /metrics once wrote this counter as "1.23457e+06" (CI saw it 4 bytes off).
    assert metric(site.get("/metrics"), "gateway_gb_sent_bytes_total") == site.uplink()["counters"]["bytes_sent"]

    check_sound_and_elementary_stream(site)


def check_sound_and_elementary_stream(site: Site) -> None:
    """The camera with a microphone, viewed by two platform sessions at once: one offer with PS gets the
    G.711 A-law inside the PS, on the video's clock, as our demuxer and FFmpeg read it; one offer without
    PS (H264/90000 on 98 only, GB/T 28181-2022) gets the video as an H.264 elementary stream."""
    platform = site.platform
    wait_until(
        "the sound camera online", lambda: site.get(f"/api/v1/cameras/{SOUND_CAMERA}/health")["state"] == "online", 20
    )
    ps, es = UdpMedia(), UdpMedia()
    try:
        ps_ssrc, es_ssrc = "0100000031", "0100000032"
        ps_call = platform.invite(SOUND_CHANNEL, play_offer(ps.port, ssrc=ps_ssrc))
        es_call = platform.invite(SOUND_CHANNEL, play_offer(es.port, ssrc=es_ssrc, rtpmaps=["98 H264/90000"]))
        assert platform.final_of(ps_call).status == 200 and platform.final_of(es_call).status == 200
        # The sound travels inside the PS: the answer is the same one PS payload.
        attributes = ps_call.answer.attributes()
        assert "rtpmap:96 PS/90000" in attributes and len([a for a in attributes if a.startswith("rtpmap:")]) == 1
        assert ps_call.answer.value("m") == f"video {ps_call.answer.port} RTP/AVP 96"
        attributes = es_call.answer.attributes()
        assert "rtpmap:98 H264/90000" in attributes and "fmtp:98 packetization-mode=1" in attributes
        assert es_call.answer.value("m") == f"video {es_call.answer.port} RTP/AVP 98"
        platform.ack(ps_call)
        platform.ack(es_call)
        wait_until("both sessions streaming", lambda: ps.datagrams and es.datagrams, 10, interval=0.05)
        time.sleep(2.5)
        sessions = {s["call_id"]: s for s in site.uplink()["sessions"]}
        with_sound, elementary = sessions[ps_call.call_id], sessions[es_call.call_id]
        assert (with_sound["encoding"], with_sound["audio"]) == ("PS", "pcma") and with_sound["audio_frames_sent"] > 50
        assert (elementary["encoding"], elementary["audio"], elementary["audio_frames_sent"]) == ("H264", None, 0)
        assert platform.bye(ps_call).status == 200 and platform.bye(es_call).status == 200
        quiet(lambda: len(ps.datagrams) + len(es.datagrams), window=0.5)
    finally:
        ps.close()
        es.close()

    reader = RtpPsReader(ssrc=int(ps_ssrc), payload_type=96)
    frames = [f for d in ps.packets() for f in reader.feed_rtp(d)]
    assert reader.report.ok and reader.report.gaps == 0, reader.report.errors[:5]
    assert all(f.marker for f in frames) and len(frames) >= 50
    demuxer = PsDemuxer()
    units = [u for f in frames for u in demuxer.feed(f.data, end_of_frame=True)] + demuxer.flush()
    assert demuxer.report.ok, demuxer.report.errors[:5]
    assert demuxer.report.stream_types == {VIDEO_STREAM_ID: STREAM_TYPE_H264, AUDIO_STREAM_ID: STREAM_TYPE_G711A}
    video = [u for u in units if u.stream_id == VIDEO_STREAM_ID]
    audio = [u for u in units if u.stream_id == AUDIO_STREAM_ID]
    assert len(video) == len(frames) and {5, 7, 8} <= nal_types(video[0].data)  # from an IDR, sound or not
    # The camera sends 20 ms frames of 160 samples: about 50 a second, on the video's clock.
    span_s = ((video[-1].pts or 0) - (video[0].pts or 0)) / 90000
    assert span_s > 2.0 and 40 * span_s <= len(audio) <= 50 * span_s + 60, (len(audio), span_s)
    audio_pts = [u.pts or 0 for u in audio]
    assert all(b > a for a, b in itertools.pairwise(audio_pts))
    assert abs(audio_pts[0] - (video[0].pts or 0)) < 45000 and all(len(u.data) == 160 for u in audio)
    # FFmpeg: the video, and the sound decoding to 160 samples a frame at 8 kHz.
    found = ps_streams(b"".join(f.data for f in frames), audio="pcma")
    assert found["video"].codec == "h264"
    assert (found["video"].width, found["video"].height) == (site.clip.width, site.clip.height)
    assert found["audio"].stream_id == 0x1C0 and len(found["audio"].packets) == len(audio)
    assert found["audio"].sample_rate == 8000 and found["audio"].audio_samples == 160 * len(audio)

    # The elementary stream: payload type 98, one timestamp per picture with the marker on its last
    # packet; aiortc's RFC 6184 depayloader finds pictures that open with an IDR and its parameter sets.
    datagrams = es.packets()
    assert {rtp_fields(d)[3] for d in datagrams} == {98}
    runs = group_by_timestamp(datagrams)
    assert len(runs) >= 40 and all([rtp_fields(d)[2] for d in run] == [False] * (len(run) - 1) + [True] for run in runs)
    pictures = aiortc_h264_frames(datagrams)
    assert len(pictures) == len(runs)
    assert {5, 7, 8} <= {n[0] & 0x1F for n in nal_units(pictures[0])}


# --- 2. subscriptions, camera loss and return, hostile input --------------------------------------


def sip_bytes(method: str, call_id: str, body: bytes = b"", **kw: Any) -> bytes:
    uri = f"sip:{UNIT_ID}@{DOMAIN}"
    return request(
        method,
        uri,
        via_host=LOCAL,
        via_port=kw.pop("port"),
        transport="udp",
        from_uri=f"sip:{SERVER_ID}@{DOMAIN}",
        from_tag=new_tag(),
        to_uri=uri,
        call_id=call_id,
        cseq=1,
        body=body,
        content_type=manscdp.CONTENT_TYPE if body else None,
        **kw,
    ).to_bytes()


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + b"".join(
        b'<!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
    )
    + b"]>\n<Query><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>&lol9;</DeviceID></Query>\n"
)


def notify_events(platform: FakePlatform, call: Call) -> list[str]:
    """The Event of our channel in each catalog NOTIFY of the subscription, in order."""
    out = []
    for received in platform.received("NOTIFY", call.call_id):
        body = received.body
        assert body is not None and body.root == "Notify" and body.cmd_type == "Catalog", received.msg.body
        for item in body.element.iter("Item"):
            if item.findtext("DeviceID") == CHANNEL:
                out.append(item.findtext("Event") or "")
    return out


def test_subscriptions_camera_loss_and_hostile_input(site: Site) -> None:
    platform = site.platform

    # Hostile and wrong requests, each answered as RFC 3261 / GB/T 28181 want.
    unknown = platform.invite("12010000001320000099", play_offer(40000, ssrc="0100000009"))
    assert platform.final_of(unknown).status == 404
    audio = platform.invite(CHANNEL, play_offer(40000, ssrc="0100000009", video=False))
    assert platform.final_of(audio).status == 488
    assert audio.final is not None and "no video" in (audio.final.get("Warning") or "")

    bad_cseq = new_call_id(LOCAL)
    data = sip_bytes("MESSAGE", bad_cseq, b"<Query/>", port=platform.port)
    platform.send(data.replace(b"CSeq: 1 MESSAGE", b"CSeq: one MESSAGE"))
    assert platform.raw_status(bad_cseq)[0] == 400

    big = new_call_id(LOCAL)
    data = sip_bytes("MESSAGE", big, port=platform.port, extra_headers=[("X-Padding", "a" * (17 * 1024))])
    assert 16 * 1024 < len(data) < 64 * 1024
    platform.send(data)
    assert platform.raw_status(big)[0] == 413

    bomb = platform.query("Catalog", 1, body=BILLION_LAUGHS)
    assert platform.final(bomb, "MESSAGE").status == 400

    stray = new_call_id(LOCAL)  # a BYE in no dialog we know
    platform.send(sip_bytes("BYE", stray, port=platform.port, to_tag=new_tag()))
    assert platform.final(stray, "BYE").status == 481

    # ... and the gateway still answers queries.
    query = platform.query("Catalog", 7)
    assert platform.final(query, "MESSAGE").status == 200
    response = wait_until(
        "catalog response",
        lambda: [r.body for r in platform.received("MESSAGE") if r.body and r.body.sn == 7],
        10,
        interval=0.05,
    )[0]
    assert response.root == "Response" and CHANNEL in {i.findtext("DeviceID") for i in response.element.iter("Item")}
    city = site.uplink()
    assert city["counters"]["invites_refused"] == 2 and city["counters"]["dropped"] >= 2

    # Catalog subscription: 200 with Expires and a Response body, then a NOTIFY with every channel.
    catalog = platform.subscribe("Catalog", 21)
    ok = platform.final_of(catalog)
    assert ok.status == 200 and ok.expires == 3600 and ok.to_tag
    result = manscdp.parse(ok.body)
    assert (result.root, result.cmd_type, result.sn, result.field("Result")) == ("Response", "Catalog", 21, "OK")
    wait_until("initial catalog NOTIFY", lambda: notify_events(platform, catalog) == ["ON"], 10, interval=0.05)
    (first_notify,) = platform.received("NOTIFY", catalog.call_id)
    msg = first_notify.msg
    assert msg.get("Event") == "Catalog" and (msg.get("Subscription-State") or "").startswith("active;expires=")
    assert msg.from_tag == catalog.to_tag and msg.to_tag == catalog.from_tag

    alarm = platform.subscribe("Alarm", 22)
    assert platform.final_of(alarm).status == 200
    assert len(site.uplink()["subscriptions"]) == 2

    # A live session, streaming after all that.
    media = UdpMedia()
    try:
        ssrc = "0100000021"
        call = invite(platform, play_offer(media.port, ssrc=ssrc), subject(ssrc))
        platform.ack(call)
        wait_streaming(media.first_at, 1.0)

        # The camera goes away: the session gets our BYE, the catalog subscription OFF, the alarm
        # subscription a video alarm.
        site.rtsp.stop()
        wait_until("our BYE when the camera is lost", lambda: platform.received("BYE", call.call_id), 20, interval=0.05)
        quiet(lambda: len(media.datagrams), settle=0.0)
        wait_until("catalog NOTIFY OFF", lambda: notify_events(platform, catalog) == ["ON", "OFF"], 10, interval=0.05)
        alarms = wait_until(
            "alarm NOTIFY", lambda: [r.body for r in platform.received("NOTIFY", alarm.call_id)], 10, interval=0.05
        )
        assert len(alarms) == 1 and alarms[0] is not None
        body = alarms[0]
        assert (body.root, body.cmd_type, body.device_id) == ("Notify", "Alarm", CHANNEL)
        assert body.field("AlarmMethod") == "5" and body.element.findtext("Info/AlarmType") == "11"
        assert site.camera_state() not in ("online", "degraded")
        assert site.uplink()["sessions"] == []
        check_stream(media.packets(), tcp=False, ssrc=ssrc, clip=site.clip)
    finally:
        media.close()
    refused = platform.invite(CHANNEL, play_offer(40000, ssrc="0100000022"))
    assert platform.final_of(refused).status == 480  # no video to give

    # The camera comes back on the same port: catalog NOTIFY ON.
    site.rtsp.start()
    wait_until("catalog NOTIFY ON", lambda: notify_events(platform, catalog) == ["ON", "OFF", "ON"], 25, interval=0.05)
    # Counted when the platform's 200 reaches the gateway, a moment after we sent it.
    city = wait_until(
        "notify_sent counted", lambda: (c := site.uplink())["counters"]["notify_sent"] == 4 and c, 10, interval=0.05
    )
    counters = city["counters"]
    assert counters["notify_sent"] == 4 and counters["notify_failed"] == 0  # ON, alarm, OFF, ON
    assert counters["byes_sent"] == 1 and counters["byes_failed"] == 0
    assert counters["sessions_started"] == 1 and counters["byes_received"] == 0
    subs = {s["kind"]: s for s in city["subscriptions"]}
    assert subs["Catalog"]["notify_sent"] == 3 and subs["Alarm"]["notify_sent"] == 1
    assert 3500 < subs["Catalog"]["expires_in_s"] <= 3600
