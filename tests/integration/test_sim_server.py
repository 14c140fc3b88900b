"""The simulated cameras: real GStreamer RTSP servers read with PyAV over TCP."""

from __future__ import annotations

import importlib.util
import itertools
import secrets
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import av
import av.error
import pytest

from adapters.common.redact import with_credentials
from sim.clips import ClipInfo, make_clips
from sim.server import SERVER_SCRIPT, RtspServerProcess, SimulatorError

pytestmark = pytest.mark.integration

MOUNTS = {"/hd": "hd_h264", "/hevc": "hd_h265", "/sd": "sd_h264"}
FFMPEG_CODEC = {"h264": "h264", "h265": "hevc"}


@dataclass(frozen=True)
class Pkt:
    pts: int | None  # FFmpeg's RTSP demuxer leaves the first packet of a session without one
    keyframe: bool


def open_rtsp(url: str) -> Any:
    return av.open(url, options={"rtsp_transport": "tcp", "timeout": "5000000"})


def read_packets(container: Any, count: int, *, until_keyframes: int | None = None) -> list[Pkt]:
    """Up to `count` packets; fewer if the stream ends or `until_keyframes` keyframes were read."""
    packets: list[Pkt] = []
    for packet in container.demux(container.streams.video[0]):
        if packet.size:  # skip the empty flush packet at the end
            packets.append(Pkt(packet.pts, packet.is_keyframe))
        if len(packets) >= count or (until_keyframes and sum(p.keyframe for p in packets) >= until_keyframes):
            break
    return packets


def keyframe_indices(packets: list[Pkt]) -> list[int]:
    return [i for i, p in enumerate(packets) if p.keyframe]


@pytest.fixture(scope="module")
def server(sim_clips: dict[str, ClipInfo]) -> Iterator[RtspServerProcess]:
    with RtspServerProcess([(path, sim_clips[name]) for path, name in MOUNTS.items()]) as srv:
        yield srv


@pytest.mark.parametrize("path", MOUNTS)
def test_mount_serves_its_clip(server: RtspServerProcess, sim_clips: dict[str, ClipInfo], path: str) -> None:
    clip = sim_clips[MOUNTS[path]]
    with open_rtsp(server.url(path)) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.name, ctx.width, ctx.height) == (FFMPEG_CODEC[clip.codec], clip.width, clip.height)
        packets = read_packets(container, 2 * clip.gop + 1, until_keyframes=2)
    keys = keyframe_indices(packets)
    assert len(keys) >= 2, f"fewer than two keyframes in {len(packets)} packets"
    assert {b - a for a, b in itertools.pairwise(keys)} == {clip.gop}


def test_timestamps_continue_across_the_loop_point(tmp_path: Path) -> None:
    clip = make_clips(tmp_path, seconds=2.0, names=["sd_h264"])["sd_h264"]
    assert clip.frames == clip.gop == 50
    with RtspServerProcess([("/loop", clip)]) as srv, open_rtsp(srv.url("/loop")) as container:
        time_base = container.streams.video[0].time_base
        packets = read_packets(container, clip.frames + clip.gop // 2)
    stamps = [p.pts for p in packets if p.pts is not None]
    assert len(stamps) >= len(packets) - 1
    steps = {b - a for a, b in itertools.pairwise(stamps)}
    assert steps == {round(1 / (clip.fps * time_base))}, "one frame duration between every pair of frames"
    keys = keyframe_indices(packets)
    assert len(keys) >= 2 and {b - a for a, b in itertools.pairwise(keys)} == {clip.gop}


def test_two_clients_share_one_pipeline(server: RtspServerProcess) -> None:
    url = server.url("/sd")
    results: dict[str, list[Pkt]] = {}
    first_reading = threading.Event()

    def client(name: str, wait: threading.Event | None) -> None:
        if wait is not None:
            wait.wait(10)
        with open_rtsp(url) as container:
            if wait is None:
                results[name] = read_packets(container, 10)
                first_reading.set()
                results[name] += read_packets(container, 40)
            else:
                results[name] = read_packets(container, 25)

    threads = [
        threading.Thread(target=client, args=("a", None)),
        threading.Thread(target=client, args=("b", first_reading)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results["a"]) == 50 and len(results["b"]) == 25
    # A pipeline of its own would start client b on an IDR; the shared one is mid-GOP when b joins.
    assert not results["b"][0].keyframe


def test_digest_auth(sim_clips: dict[str, ClipInfo]) -> None:
    password = secrets.token_urlsafe(12)  # made per run
    with RtspServerProcess([("/sd", sim_clips["sd_h264"])], username="viewer", password=password) as srv:
        assert password not in Path(f"/proc/{srv.pid}/cmdline").read_text()
        assert "viewer" not in srv.url("/sd")
        with socket.create_connection((srv.bind, srv.port), timeout=5) as sock:
            sock.sendall(f"DESCRIBE {srv.url('/sd')} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
            reply = sock.recv(4096).decode()
        assert reply.startswith("RTSP/1.0 401")
        assert "WWW-Authenticate: Digest " in reply and "Basic" not in reply
        with pytest.raises(av.error.HTTPUnauthorizedError):
            open_rtsp(srv.url("/sd"))
        with pytest.raises(av.error.HTTPUnauthorizedError):
            open_rtsp(with_credentials(srv.url("/sd"), "viewer", "wrong"))
        with open_rtsp(with_credentials(srv.url("/sd"), "viewer", password)) as container:
            assert len(read_packets(container, 5)) == 5


def test_kill_then_start_on_the_same_port(sim_clips: dict[str, ClipInfo]) -> None:
    srv = RtspServerProcess([("/sd", sim_clips["sd_h264"])])
    assert not srv.running  # the constructor starts nothing
    with srv:
        port = srv.port
        with open_rtsp(srv.url("/sd")) as container:
            read_packets(container, 5)
            srv.kill()
            assert not srv.running
            try:  # FFmpeg reports a dropped RTSP connection as an error or as the end of the stream
                after_crash = read_packets(container, 100)
            except (av.error.FFmpegError, OSError):
                after_crash = []
            assert len(after_crash) < 100
        with pytest.raises((av.error.FFmpegError, OSError)):
            open_rtsp(srv.url("/sd"))
        srv.start()
        assert srv.running and srv.port == port
        with open_rtsp(srv.url("/sd")) as container:
            assert len(read_packets(container, 5)) == 5
    assert not srv.running


def test_missing_file_is_named(sim_clips: dict[str, ClipInfo], tmp_path: Path) -> None:
    missing = replace(sim_clips["sd_h264"], path=tmp_path / "nope.h264")
    with pytest.raises(SimulatorError, match=r"nope\.h264"):
        RtspServerProcess([("/x", missing)]).start()


def test_python_without_gstreamer_is_reported(sim_clips: dict[str, ClipInfo]) -> None:
    # The venv's Python cannot import Debian's gi.
    with pytest.raises(SimulatorError, match="GStreamer RTSP server not installed"):
        RtspServerProcess([("/sd", sim_clips["sd_h264"])], python=sys.executable).start()
    with pytest.raises(SimulatorError, match="GATEWAY_SIM_PYTHON"):
        RtspServerProcess([("/sd", sim_clips["sd_h264"])], python="/nonexistent/python3").start()


def test_port_in_use_is_reported(sim_clips: dict[str, ClipInfo]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        srv = RtspServerProcess([("/sd", sim_clips["sd_h264"])], port=taken.getsockname()[1])
        with pytest.raises(SimulatorError, match="cannot listen"):
            srv.start()
        assert not srv.running


def _load_server_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sim_rtsp_server", SERVER_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["hd_h264", "hd_h265"])
def test_server_splits_clips_into_access_units(sim_clips: dict[str, ClipInfo], name: str) -> None:
    clip = sim_clips[name]
    units = _load_server_script().split_access_units(clip.path.read_bytes(), clip.codec)
    assert len(units) == clip.frames
    assert [i for i, unit in enumerate(units) if unit.keyframe] == list(range(0, clip.frames, clip.gop))


def test_udp_transport(server: RtspServerProcess) -> None:
    with av.open(server.url("/sd"), options={"rtsp_transport": "udp", "timeout": "5000000"}) as container:
        assert len(read_packets(container, 10)) == 10


def test_access_units_group_slices_of_one_picture() -> None:
    split = _load_server_script().split_access_units
    h264 = b"".join(
        b"\x00\x00\x00\x01" + nal
        for nal in (
            b"\x67\x42",  # SPS
            b"\x68\xce",  # PPS
            b"\x65\x88\x80",  # IDR slice, first_mb_in_slice == 0
            b"\x65\x40\x80",  # IDR slice, first_mb_in_slice != 0: same picture
            b"\x41\x9a\x80",  # P slice: new picture
            b"\x41\x20\x80",
        )
    )
    assert [(len(u.data), u.keyframe) for u in split(h264, "h264")] == [(4 * 4 + 10, True), (4 * 2 + 6, False)]
    h265 = b"".join(
        b"\x00\x00\x01" + nal
        for nal in (
            b"\x40\x01\x0c",  # VPS
            b"\x42\x01\x01",  # SPS
            b"\x44\x01\xc0",  # PPS
            b"\x26\x01\xaf",  # IDR_W_RADL, first_slice_segment_in_pic_flag
            b"\x26\x01\x2f",  # its second slice segment
            b"\x02\x01\xd0",  # TRAIL_R: new picture
        )
    )
    assert [u.keyframe for u in split(h265, "h265")] == [True, False]
