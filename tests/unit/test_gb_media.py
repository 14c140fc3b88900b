"""GB/T 28181 media sessions: a camera's packets to a platform as PS over RTP, over UDP, TCP active and
TCP passive, on real sockets on 127.0.0.1, checked by our own RTP/PS reader and by ffprobe."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from adapters.common.media import Packet
from adapters.gb28181.media import Clock, MediaError, MediaSender, MediaStats, MediaTarget
from adapters.gb28181.ps import STREAM_TYPE_H264, STREAM_TYPE_H265
from adapters.gb28181.psdemux import AccessUnit, PsDemuxer, PsFrame, RtpPsReader
from adapters.gb28181.sdp import build_answer, parse_offer
from tests.support.ports import free_port

if TYPE_CHECKING:
    from sim.clips import ClipInfo

Frames = list[tuple[bytes, bool]]  # (Annex-B access unit, keyframe)

SSRC = 100000001  # y=0100000001
FRAME_TICKS = 3600  # 90 kHz at 25 fps
_CLIPS = {"h264": ("hd_h264", "h264"), "h265": ("hd_h265", "hevc")}
_FFPROBE = [
    *("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0"),
    *("-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "json"),
]
needs_ffprobe = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")


@pytest.fixture(scope="module")
def clip_frames(sample_clips: dict[str, ClipInfo]) -> dict[str, Frames]:
    """Access units of the 1080p H.264 and H.265 sample clips (200 frames, a keyframe every 50)."""
    import av

    out: dict[str, Frames] = {}
    for codec, (name, fmt) in _CLIPS.items():
        with av.open(str(sample_clips[name].path), format=fmt) as container:
            out[codec] = [(bytes(p), bool(p.is_keyframe)) for p in container.demux(video=0) if p.size]
    return out


@dataclass(frozen=True)
class Segment:
    """Frames [start, stop) of a clip, as a source would deliver them (pts counting from pts0)."""

    start: int
    stop: int
    pts0: int = 0
    time_base: Fraction = Fraction(1, 25)
    ticks: int = 1  # pts step per frame, in time_base units


async def feed(
    frames: Frames,
    codec: str,
    segments: list[Segment],
    *,
    pace: float = 0.0,
    split: Callable[[bytes, bool], list[tuple[bytes, bool]]] | None = None,
) -> AsyncIterator[Packet]:
    """The fake camera: one Packet per access unit (several with one pts when `split` slices them)."""
    for seg in segments:
        for n in range(seg.start, seg.stop):
            data, key = frames[n]
            pts = seg.pts0 + (n - seg.start) * seg.ticks
            for part, part_key in split(data, key) if split else [(data, key)]:
                yield Packet("cam1", codec, pts, pts, seg.time_base, part_key, part, time.monotonic())
            if pace:
                await asyncio.sleep(pace)


@dataclass
class Checked:
    frames: list[PsFrame]
    units: list[AccessUnit]
    ps: bytes


def check_rtp(reader: RtpPsReader, frames: list[PsFrame], expected_frames: int, stream_type: int) -> Checked:
    """The platform's view: one SSRC, no gaps, a marker per frame, timestamps that only go forward,
    and a PS stream that opens with a keyframe (system header + PSM)."""
    frames = frames + reader.finish()
    report = reader.report
    assert report.ok, report.errors
    assert report.ssrc == SSRC and report.gaps == 0 and report.lost_packets == 0
    assert report.frames_without_marker == 0 and report.timestamp_regressions == 0
    assert report.frames == len(frames) == expected_frames
    assert all(f.marker and not f.damaged for f in frames)
    stamps = [f.timestamp for f in frames]
    assert all(b > a for a, b in itertools.pairwise(stamps))
    demuxer = PsDemuxer()
    units = [u for f in frames for u in demuxer.feed(f.data, end_of_frame=True)] + demuxer.flush()
    assert demuxer.report.ok, demuxer.report.errors
    assert len(units) == expected_frames
    assert units[0].psm and units[0].system_header and units[0].stream_type == stream_type
    assert demuxer.report.stream_types == {0xE0: stream_type}
    return Checked(frames, units, b"".join(f.data for f in frames))


def ffprobe(ps: bytes, path: Path) -> dict[str, object]:
    path.write_bytes(ps)
    result = subprocess.run([*_FFPROBE, str(path)], capture_output=True, text=True, timeout=60, check=True)
    assert result.stderr == ""
    stream: dict[str, object] = json.loads(result.stdout)["streams"][0]
    return stream


def assert_probe(ps: bytes, path: Path, codec: str, frames: int) -> None:
    stream = ffprobe(ps, path)
    assert stream["codec_name"] == codec
    assert (stream["width"], stream["height"]) == (1920, 1080)
    assert int(str(stream["nb_read_frames"])) == frames


class UdpReceiver:
    """The platform's RTP port: a thread drains it, so no datagram waits on the test's event loop."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.datagrams: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                self.datagrams.append(self.sock.recv(65536))
            except TimeoutError:
                if self._stop.is_set():
                    return

    def stop(self) -> list[bytes]:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        return self.datagrams


def udp_target(port: int) -> MediaTarget:
    return MediaTarget(transport="udp", remote_ip="127.0.0.1", remote_port=port, local_ip="127.0.0.1", ssrc=SSRC)


async def read_all(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while chunk := await reader.read(1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


# --- 1. UDP ----------------------------------------------------------------------------------------


@needs_ffprobe
async def test_udp_session_starts_at_a_keyframe_and_survives_a_source_restart(
    clip_frames: dict[str, Frames], tmp_path: Path
) -> None:
    frames = clip_frames["h264"]
    receiver = UdpReceiver()
    sender = MediaSender(udp_target(receiver.port), "h264")
    local_port = await sender.open()
    assert local_port == sender.local_port > 0
    # Frames 5..119 (keyframes at 50 and 100), then the camera restarts: its clock starts again at 0,
    # now in 1/90000, and it resumes at the keyframe at 150.
    segments = [Segment(5, 120, pts0=1000), Segment(150, 200, time_base=Fraction(1, 90000), ticks=FRAME_TICKS)]
    stats = await sender.run(feed(frames, "h264", segments, pace=0.001))
    await asyncio.sleep(0.1)  # the last datagrams reach the receiver thread
    datagrams = receiver.stop()

    sent = 70 + 50
    assert stats.packets_skipped == 45  # frames 5..49 come before the first keyframe
    assert (stats.frames_sent, stats.keyframes_sent, stats.frames_dropped, stats.errors) == (sent, 3, 0, 0)
    assert stats.packets_sent == len(datagrams) and stats.bytes_sent == sum(map(len, datagrams))
    assert stats.clock_resets == 1 and stats.started_at is not None and stats.last_sent_at is not None
    assert sender.closed

    reader = RtpPsReader(ssrc=SSRC, payload_type=96)
    checked = check_rtp(reader, [f for d in datagrams for f in reader.feed_rtp(d)], sent, STREAM_TYPE_H264)
    # 90 kHz from pts * time_base, one frame apart across the restart too.
    stamps = [f.timestamp for f in checked.frames]
    assert stamps[0] == 1045 * FRAME_TICKS  # frame 50 carries pts 1045
    assert {b - a for a, b in itertools.pairwise(stamps)} == {FRAME_TICKS}
    assert [u.pts for u in checked.units] == stamps
    assert [u.data for u in checked.units] == [d for d, _ in frames[50:120] + frames[150:200]]
    assert_probe(checked.ps, tmp_path / "udp.ps", "h264", sent)


# --- 2. TCP active (we connect) ----------------------------------------------------------------------


@needs_ffprobe
async def test_tcp_active_h265(clip_frames: dict[str, Frames], tmp_path: Path) -> None:
    frames = clip_frames["h265"]
    received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def platform(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.set_result(await read_all(reader))
        writer.close()

    server = await asyncio.start_server(platform, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    offer = parse_offer(
        "v=0\r\no=34020000002000000001 0 0 IN IP4 127.0.0.1\r\ns=Play\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=video {port} TCP/RTP/AVP 96\r\na=recvonly\r\na=rtpmap:96 PS/90000\r\na=setup:passive\r\n"
        f"y=0{SSRC}\r\n"
    )
    target = MediaTarget.from_offer(offer, local_ip="127.0.0.1")
    assert (target.transport, target.setup, target.remote_port, target.ssrc) == ("tcp", "active", port, SSRC)
    sender = MediaSender(target, "h265")
    local_port = await sender.open()  # the connection is up before the answer is sent
    assert f"m=video {local_port} TCP/RTP/AVP 96" in build_answer(
        offer, device_id="34020000001320000001", local_ip="127.0.0.1", local_port=local_port, ssrc=f"0{SSRC}"
    )
    stats = await sender.run(feed(frames, "h265", [Segment(0, 200)]))
    data = await asyncio.wait_for(received, 5)
    server.close()

    assert (stats.frames_sent, stats.keyframes_sent, stats.packets_skipped, stats.bytes_sent) == (200, 4, 0, len(data))
    reader = RtpPsReader(ssrc=SSRC, payload_type=96)
    # Arbitrary chunking, as TCP may deliver it.
    chunks = [data[i : i + 5000] for i in range(0, len(data), 5000)]
    checked = check_rtp(reader, [f for c in chunks for f in reader.feed_tcp(c)], 200, STREAM_TYPE_H265)
    assert [u.data for u in checked.units] == [d for d, _ in frames]
    assert_probe(checked.ps, tmp_path / "tcp_active.ps", "hevc", 200)


# --- 3. TCP passive (the platform connects) ------------------------------------------------------------


@needs_ffprobe
async def test_tcp_passive_accepts_the_platform_after_open(clip_frames: dict[str, Frames], tmp_path: Path) -> None:
    frames = clip_frames["h264"]
    target = MediaTarget(transport="tcp", setup="passive", local_ip="127.0.0.1", ssrc=SSRC)
    sender = MediaSender(target, "h264", accept_timeout=5)
    port = await sender.open()
    assert port == sender.local_port > 0
    run = asyncio.create_task(sender.run(feed(frames, "h264", [Segment(0, 200)])))
    await asyncio.sleep(0.05)  # the ACK: the platform connects a little later
    assert not run.done()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = await asyncio.wait_for(read_all(reader), 10)
    stats = await asyncio.wait_for(run, 5)
    writer.close()

    assert stats.frames_sent == 200 and stats.bytes_sent == len(data) and stats.peer is not None
    rtp = RtpPsReader(ssrc=SSRC, payload_type=96)
    checked = check_rtp(rtp, rtp.feed_tcp(data), 200, STREAM_TYPE_H264)
    assert_probe(checked.ps, tmp_path / "tcp_passive.ps", "h264", 200)


async def test_tcp_passive_times_out_when_the_platform_never_connects() -> None:
    target = MediaTarget(transport="tcp", setup="passive", local_ip="127.0.0.1", ssrc=1)
    sender = MediaSender(target, "h264", accept_timeout=0.2)
    await sender.open()
    with pytest.raises(MediaError, match="did not connect"):
        await sender.run(feed([], "h264", []))
    assert sender.closed


async def test_tcp_active_connect_failure_is_a_media_error() -> None:
    port = free_port()  # nothing listens there
    target = MediaTarget(transport="tcp", setup="active", remote_ip="127.0.0.1", remote_port=port, ssrc=1)
    with pytest.raises(MediaError, match=r"connect to 127\.0\.0\.1"):
        await MediaSender(target, "h264").open()


# --- 4. sliced pictures ------------------------------------------------------------------------------


def _slice_in_two(data: bytes, key: bool) -> list[tuple[bytes, bool]]:
    """A camera that sends the parameter sets and the picture's slice as two packets with one pts."""
    cut = data.rfind(b"\x00\x00\x00\x01")
    cut = cut if cut > 0 else data.rfind(b"\x00\x00\x01")
    assert cut > 0
    return [(data[:cut], key), (data[cut:], False)]


async def test_a_sliced_picture_is_sent_as_one_frame(clip_frames: dict[str, Frames]) -> None:
    frames = clip_frames["h264"]
    receiver = UdpReceiver()
    sender = MediaSender(udp_target(receiver.port), "h264")
    await sender.open()
    stats = await sender.run(feed(frames, "h264", [Segment(0, 20)], pace=0.001, split=_slice_in_two))
    await asyncio.sleep(0.1)
    datagrams = receiver.stop()

    assert stats.frames_sent == 20 and stats.packets_skipped == 0
    reader = RtpPsReader(ssrc=SSRC)
    checked = check_rtp(reader, [f for d in datagrams for f in reader.feed_rtp(d)], 20, STREAM_TYPE_H264)
    assert [u.data for u in checked.units] == [d for d, _ in frames[:20]]
    assert all(u.pes_packets == 1 for u in checked.units)  # one PES run under one PTS, not two pictures


# --- 5. a platform that stops reading -------------------------------------------------------------------


async def test_a_stalled_platform_costs_bounded_memory_and_close_stays_prompt(clip_frames: dict[str, Frames]) -> None:
    frames = clip_frames["h264"]
    limit = 256 * 1024
    peers: list[asyncio.StreamWriter] = []
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited: the kernel fills fast
    listener.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(lambda _r, w: peers.append(w), sock=listener)  # accepts, never reads
    port = listener.getsockname()[1]
    target = MediaTarget(transport="tcp", setup="active", remote_ip="127.0.0.1", remote_port=port, ssrc=SSRC)
    sender = MediaSender(target, "h264", write_buffer_limit=limit)
    await sender.open()

    most = 0
    dropping = asyncio.Event()

    async def endless() -> AsyncIterator[Packet]:
        nonlocal most
        n = 0
        while True:
            data, key = frames[n % len(frames)]
            most = max(most, sender.buffered)
            if sender.stats.frames_dropped >= 300:
                dropping.set()
            yield Packet("cam1", "h264", n, n, Fraction(1, 25), key, data, time.monotonic())
            n += 1

    run = asyncio.create_task(sender.run(endless()))
    await asyncio.wait_for(dropping.wait(), 10)
    stats = sender.stats
    assert stats.frames_dropped >= 300, stats
    assert 0 < most <= limit
    assert stats.frames_sent > 0 and not run.done()

    began = time.monotonic()
    sender.close()
    assert await asyncio.wait_for(run, 1) is stats  # close() ends run() without an error
    assert time.monotonic() - began < 0.5
    sender.close()  # idempotent
    await sender.aclose()
    for peer in peers:
        peer.transport.abort()
    server.close()


# --- 6. the platform resets or closes the connection ----------------------------------------------------


@pytest.mark.parametrize("how", ["reset", "closed"])
async def test_losing_the_platform_ends_run_with_a_media_error(clip_frames: dict[str, Frames], how: str) -> None:
    frames = clip_frames["h264"]

    async def platform(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(20_000)  # take a little, then go away
        if how == "reset":
            # SO_LINGER 0: close() sends RST instead of FIN.
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()

    server = await asyncio.start_server(platform, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    target = MediaTarget(transport="tcp", setup="active", remote_ip="127.0.0.1", remote_port=port, ssrc=SSRC)
    sender = MediaSender(target, "h264")
    await sender.open()
    # Frames at 200 fps forever: only the loss of the platform can end this run.
    segments = [Segment(0, 200, pts0=200 * k) for k in range(1000)]
    with pytest.raises(MediaError, match=f"platform {how}") as caught:
        await asyncio.wait_for(sender.run(feed(frames, "h264", segments, pace=0.005)), 5)
    assert caught.value.reason == sender.stats.last_error and sender.stats.errors == 1
    assert sender.closed
    server.close()


# --- the pieces ---------------------------------------------------------------------------------------


def test_clock_is_monotonic_across_restarts_and_keeps_the_b_frame_offset() -> None:
    clock = Clock()
    tb = Fraction(1, 25)
    # Decode order with B-frames: pts runs ahead of dts by up to two frames; dts is the timeline.
    stamped = [clock.stamp(p, d, tb) for p, d in [(2, 0), (5, 1), (3, 2), (4, 3)]]
    assert stamped == [(7200, 0), (18000, 3600), (10800, 7200), (14400, 10800)]
    # The source restarts at 0, then jumps an hour ahead: each time the timeline goes on one frame later.
    assert clock.stamp(0, 0, tb)[1] == 14400
    assert clock.stamp(1, 1, tb)[1] == 18000
    assert clock.stamp(90_000, 90_000, tb)[1] == 21600
    assert clock.restarts == 2
    assert clock.stamp(None, None, tb) == (25200, 25200)  # no timestamp: the last frame duration
    assert Clock().stamp(1, None, Fraction(1, 3)) == (30000, 30000)  # rescaled, pts when no dts


async def test_close_before_run_and_target_validation(clip_frames: dict[str, Frames]) -> None:
    receiver = UdpReceiver()
    sender = MediaSender(udp_target(receiver.port), "h264")
    await sender.open()
    sender.close()
    stats = await sender.run(feed(clip_frames["h264"], "h264", [Segment(0, 10)]))
    assert stats == MediaStats(peer=("127.0.0.1", receiver.port))
    assert receiver.stop() == []
    with pytest.raises(ValueError, match="remote_port"):
        MediaTarget(transport="udp", remote_ip="127.0.0.1", ssrc=1)
    with pytest.raises(ValueError, match="remote_ip"):
        MediaTarget(transport="tcp", setup="active", remote_ip="platform", remote_port=5000, ssrc=1)
    with pytest.raises(ValueError, match="unsupported codec"):
        MediaSender(MediaTarget(transport="tcp", setup="passive", ssrc=1), "mjpeg")  # type: ignore[arg-type]


async def test_a_codec_change_ends_the_session(clip_frames: dict[str, Frames]) -> None:
    receiver = UdpReceiver()
    sender = MediaSender(udp_target(receiver.port), "h265")
    await sender.open()
    with pytest.raises(MediaError, match="changed codec from h265 to h264"):
        await sender.run(feed(clip_frames["h264"], "h264", [Segment(0, 5)]))
    receiver.stop()


class _FullSocket:
    """Stands in for the UDP socket: its buffer is full (EAGAIN) while `full` is set."""

    def __init__(self) -> None:
        self.full = False
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> int:
        if self.full:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        self.sent.append(data)
        return len(data)

    def close(self) -> None:
        pass


async def test_udp_buffer_full_drops_up_to_the_next_keyframe(clip_frames: dict[str, Frames]) -> None:
    frames = clip_frames["h264"]
    sender = MediaSender(udp_target(9), "h264")
    await sender.open()
    real = sender._sock
    assert real is not None
    real.close()
    fake = _FullSocket()
    sender._sock = fake  # type: ignore[assignment]

    async def source() -> AsyncIterator[Packet]:
        async for packet in feed(frames, "h264", [Segment(0, 60)]):
            # A picture goes out when the next one starts: frame 10 is sent as frame 11 arrives.
            fake.full = packet.pts == 11
            yield packet

    stats = await sender.run(source())
    # Frame 10 is lost, 11..49 reference it and are dropped too; the keyframe at 50 resumes.
    assert (stats.frames_sent, stats.frames_dropped, stats.errors) == (10 + 10, 40, 0)
    reader = RtpPsReader(ssrc=SSRC)
    out = [f for d in fake.sent for f in reader.feed_rtp(d)]
    assert len(out) == 20 and reader.report.gaps == 1  # frame 10's sequence numbers show the loss
