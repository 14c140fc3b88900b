"""The light RTSP reader (adapters/rtsp/live.py) against GStreamer's RTSP server, with FFmpeg's reader
(PyAV) as the independent reference: the same access units, the same stream figures, the same reasons
when a camera misbehaves."""

from __future__ import annotations

import itertools
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from adapters.common.media import Packet
from adapters.common.redact import with_credentials
from adapters.rtsp import Reason, RtspSource, SourceError
from adapters.rtsp.live import LightRtspSource
from gateway.config import SupervisorConfig
from gateway.health.state import MeasuredStream
from gateway.pipeline.bus import PacketBus
from gateway.pipeline.loop import ReadingLoop
from gateway.pipeline.readers import read_session
from sim.clips import ClipInfo
from sim.server import RtspServerProcess, free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def _read(source: LightRtspSource | RtspSource, count: int) -> list[Packet]:
    try:
        source.open()
        return list(itertools.islice(source.packets(), count))
    finally:
        source.close()


@pytest.fixture(scope="module")
def server(sim_clips: dict[str, ClipInfo]) -> Iterator[RtspServerProcess]:
    mounts = [("/h264", sim_clips["hd720_h264"]), ("/h265", sim_clips["hd_h265"])]
    with RtspServerProcess(mounts) as srv:
        yield srv


@pytest.mark.parametrize("path", ["/h264", "/h265"])
def test_same_access_units_as_ffmpeg(server: RtspServerProcess, path: str) -> None:
    light, ffmpeg = LightRtspSource("l", server.url(path)), RtspSource("f", server.url(path))
    skimming = LightRtspSource("s", server.url(path))
    skimming.skim = True  # as for a camera nobody views: P-frames without their bytes
    # All at once, so that they join the server's one pipeline for the clip within a fraction of a
    # second: 70 pictures (2.8 s) then overlap by more than a GOP (2 s), so at least one keyframe.
    read: dict[str, list[Packet]] = {}
    threads = [
        threading.Thread(target=lambda s=src, k=key: read.__setitem__(k, _read(s, 70)))
        for key, src in (("ours", light), ("theirs", ffmpeg), ("skimmed", skimming))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    ours, theirs = read["ours"], read["theirs"]
    assert light.info is not None and ffmpeg.info is not None
    for field in ("codec", "width", "height", "nominal_fps", "extradata", "time_base"):
        assert getattr(light.info, field) == getattr(ffmpeg.info, field), field
    # Line them up by picture content: the first picture both have.
    index = {p.data: i for i, p in enumerate(ours)}
    first = next(j for j, q in enumerate(theirs) if q.data in index)
    pairs = list(zip(ours[index[theirs[first].data] :], theirs[first:], strict=False))
    assert len(pairs) >= 40 and any(q.keyframe for _, q in pairs)
    for a, b in pairs:
        assert (a.data, a.keyframe) == (b.data, b.keyframe)
    ours_ts = [p.pts or 0 for p, _ in pairs]  # ours always has one (the first is 0)
    theirs_ts = [q.dts if q.dts is not None else q.pts for _, q in pairs]
    stamped = [(a, b) for a, b in zip(ours_ts, theirs_ts, strict=True) if b is not None]
    assert len(stamped) >= 10
    for (a0, b0), (a1, b1) in itertools.pairwise(stamped):
        assert a1 - a0 == b1 - b0
    assert all(b - a == 3600 for a, b in itertools.pairwise(ours_ts))  # 25 fps at 90 kHz

    # Skimmed: keyframes byte for byte, every other picture with its size and no bytes. Lined up by the
    # first keyframe both have, and from there back and forth picture by picture (not the first picture
    # of either session: the server can start a session with more in front of it, 27 bytes in one run).
    skimmed = read["skimmed"]
    key = next(i for i, p in enumerate(skimmed) if p.keyframe and p.data in index)
    shift = key - index[skimmed[key].data]
    both = [(p, ours[i - shift]) for i, p in enumerate(skimmed) if i and 0 < i - shift < len(ours)]
    assert len(both) >= 40
    step = (skimmed[key].pts or 0) - (ours[key - shift].pts or 0)
    for a, b in both:
        assert (a.size, a.keyframe, a.pts) == (b.size, b.keyframe, (b.pts or 0) + step)
        assert a.data == b.data if a.keyframe else (a.data == b"" and a.skimmed_size == len(b.data))


def test_credentials_and_reasons(sim_clips: dict[str, ClipInfo]) -> None:
    password = secrets.token_urlsafe(12)  # made per run
    with RtspServerProcess([("/cam", sim_clips["sd_h264"])], username="viewer", password=password) as srv:
        url = srv.url("/cam")
        good = with_credentials(url, "viewer", password)
        assert len(_read(LightRtspSource("a", good), 10)) == 10  # Digest, learned from the 401
        for bad in (url, with_credentials(url, "viewer", "wrong")):
            with pytest.raises(SourceError) as caught:
                LightRtspSource("a", bad).open()
            assert caught.value.reason is Reason.AUTH_FAILED
        with pytest.raises(SourceError) as caught:
            LightRtspSource("a", good.replace("/cam", "/nothing")).open()
        assert caught.value.reason is Reason.NOT_FOUND
        assert password not in str(caught.value)
    with pytest.raises(SourceError) as caught:
        LightRtspSource("a", f"rtsp://127.0.0.1:{free_port()}/cam").open()
    assert caught.value.reason is Reason.REFUSED


def test_stall_and_end(sim_clips: dict[str, ClipInfo]) -> None:
    with RtspServerProcess([("/cam", sim_clips["sd_h264"])]) as srv:
        source = LightRtspSource("a", srv.url("/cam"), read_timeout_s=1.0)
        source.open()
        packets = source.packets()
        next(packets)
        assert srv.pid is not None
        os.kill(srv.pid, signal.SIGSTOP)  # the socket stays open, nothing comes
        started = time.monotonic()
        try:
            with pytest.raises(SourceError) as caught:
                for _ in packets:
                    pass
        finally:
            os.kill(srv.pid, signal.SIGCONT)
        assert caught.value.reason is Reason.STALLED
        assert time.monotonic() - started < 2.5
        source.close()
        source = LightRtspSource("b", srv.url("/cam"))
        source.open()
        packets = source.packets()
        next(packets)
        srv.kill()
        with pytest.raises(SourceError) as caught:
            for _ in packets:
                pass
        assert caught.value.reason is Reason.ENDED
        source.close()


class _FakeCamera:
    """A one-connection RTSP server that answers every request from a script (unit-style cases the
    real server cannot be made to send)."""

    def __init__(self, answers: dict[str, bytes]) -> None:
        self.answers = answers
        self.requests: list[str] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self._sock.accept()
        with conn:
            data = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
                while b"\r\n\r\n" in data:
                    head, data = data.split(b"\r\n\r\n", 1)
                    method = head.split(b" ", 1)[0].decode()
                    cseq = next(ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"cseq")).split(b":")[1]
                    self.requests.append(method)
                    conn.sendall(self.answers.get(method, b"RTSP/1.0 501 x\r\nCSeq:%s\r\n\r\n") % cseq.strip())


def _describe(sdp: str) -> bytes:
    body = sdp.replace("\n", "\r\n").encode()
    return (
        b"RTSP/1.0 200 OK\r\nCSeq: %s\r\nContent-Type: application/sdp\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body.replace(b"%", b"%%")
    )


@pytest.mark.parametrize(
    ("sdp", "reason"),
    [
        ("v=0\nm=audio 0 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n", Reason.NO_VIDEO),
        ("v=0\nm=video 0 RTP/AVP 26\na=rtpmap:26 JPEG/90000\n", Reason.UNSUPPORTED_CODEC),
    ],
)
def test_what_the_sdp_offers(sdp: str, reason: Reason) -> None:
    camera = _FakeCamera({"DESCRIBE": _describe(sdp)})
    with pytest.raises(SourceError) as caught:
        LightRtspSource("a", f"rtsp://127.0.0.1:{camera.port}/x").open()
    assert caught.value.reason is reason


def test_garbage_and_silence() -> None:
    camera = _FakeCamera({"DESCRIBE": b"%s" + b"x" * 20_000})  # no end of head in sight
    with pytest.raises(SourceError) as caught:
        LightRtspSource("a", f"rtsp://127.0.0.1:{camera.port}/x").open()
    assert caught.value.reason is Reason.PROTOCOL
    camera = _FakeCamera({"DESCRIBE": b"HTTP/1.1 200 OK\r\nCSeq: %s\r\n\r\n"})  # not an RTSP answer
    with pytest.raises(SourceError) as caught:
        LightRtspSource("a", f"rtsp://127.0.0.1:{camera.port}/x", read_timeout_s=0.5).open()
    assert caught.value.reason is Reason.TIMEOUT


def _session(
    source: LightRtspSource, loop: ReadingLoop, bus: PacketBus | None, stop: threading.Event
) -> tuple[threading.Thread, list[MeasuredStream], list[BaseException]]:
    snaps: list[MeasuredStream] = []
    failed: list[BaseException] = []
    settings = SupervisorConfig(quality_interval_s=0, stall_timeout_s=1.5)

    def run() -> None:
        try:
            read_session(source, settings, stop, lambda m, _at: snaps.append(m), bus, None, loop)
        except BaseException as exc:  # noqa: BLE001 - kept for the test to look at
            failed.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, snaps, failed


def test_read_by_the_loop_and_on_its_thread_while_viewed(server: RtspServerProcess) -> None:
    """A monitored session is read by the process's reading loop; a viewer takes it to its own thread
    (every packet as it comes, with its bytes) and leaving gives it back; the figures never see a gap."""
    loop, bus, stop = ReadingLoop(0.5), PacketBus("cam"), threading.Event()
    thread, snaps, failed = _session(LightRtspSource("cam", server.url("/h264")), loop, bus, stop)
    try:
        wait_until("read by the loop", lambda: loop.sessions() == 1 and len(snaps) >= 3, 15)
        sub = bus.subscribe_blocking("viewer", 1000)
        wait_until("taken back by its thread", lambda: loop.sessions() == 0, 5)
        got = [p for _ in range(40) if (p := sub.get(5)) is not None]
        assert len(got) == 40 and all(p.data and not p.skimmed_size for p in got)
        sub.close()
        wait_until("given back to the loop", lambda: loop.sessions() == 1, 5)
        seen = len(snaps)
        wait_until("read on by the loop", lambda: len(snaps) >= seen + 2, 5)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive() and failed == [], failed
    last = snaps[-1]
    assert last.fps is not None and abs(last.fps - 25) < 1.5, last
    assert last.gaps == 0 and last.ts_jumps == 0, last


def test_a_stall_in_the_loop_ends_the_session_on_its_thread(sim_clips: dict[str, ClipInfo]) -> None:
    with RtspServerProcess([("/cam", sim_clips["sd_h264"])]) as srv:
        loop, stop = ReadingLoop(0.5), threading.Event()
        thread, snaps, failed = _session(LightRtspSource("a", srv.url("/cam"), read_timeout_s=1.5), loop, None, stop)
        wait_until("read by the loop", lambda: loop.sessions() == 1 and len(snaps) >= 2, 15)
        assert srv.pid is not None
        os.kill(srv.pid, signal.SIGSTOP)
        started = time.monotonic()
        try:
            thread.join(10)
        finally:
            os.kill(srv.pid, signal.SIGCONT)
        assert len(failed) == 1 and isinstance(failed[0], SourceError), failed
        assert failed[0].reason is Reason.STALLED
        assert time.monotonic() - started < 1.5 + 0.5 + 1.0  # the timeout, one round of the loop, slack
        assert loop.sessions() == 0
