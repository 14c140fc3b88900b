"""The replay client (adapters/rtsp/replay.py) against GStreamer's RTSP server: its payloaders are an
implementation nobody here wrote, and FFmpeg (PyAV) reading the clip file is the reference for what the
access units must hold. Then the vendor-URL dialect, digest authentication and the refusals."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from adapters.common.h26x import iter_nal_units
from adapters.common.redact import with_credentials
from adapters.rtsp.replay import ReplayError, ReplayFrame, RtspReplay
from gateway.recordings.replay import ReplayBusyError, Replays
from gateway.recordings.sources import PlaybackOnly
from sim.clips import ClipInfo
from sim.recordings import make_recordings
from sim.server import RtspServerProcess
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 7, 2, 40, 12, tzinfo=UTC)
YESTERDAY = datetime(2026, 12, 6, tzinfo=UTC)


def vcl_of(codec: str, annex_b: bytes) -> list[bytes]:
    """The picture data (VCL NAL units) of an access unit: what no server may change."""
    units = [bytes(n) for n in iter_nal_units(annex_b)]
    if codec == "h264":
        return [n for n in units if 1 <= n[0] & 0x1F <= 5]
    return [n for n in units if (n[0] >> 1) & 0x3F < 32]


def clip_vcl(clip: ClipInfo) -> set[bytes]:
    """Every VCL NAL unit of the clip file, as FFmpeg reads it (Annex B, or length-prefixed in MP4/MKV)."""
    found: set[bytes] = set()
    with av.open(str(clip.path)) as container:
        for packet in container.demux(video=0):
            data = bytes(packet)
            if not data:
                continue
            if not data.startswith((b"\0\0\1", b"\0\0\0\1")):
                annex, pos = b"", 0
                while pos + 4 <= len(data):
                    size = int.from_bytes(data[pos : pos + 4], "big")
                    annex += b"\0\0\0\1" + data[pos + 4 : pos + 4 + size]
                    pos += 4 + size
                data = annex
            found.update(vcl_of(clip.codec, data))
    return found


async def take(frames: AsyncIterator[ReplayFrame], count: int) -> list[ReplayFrame]:
    out: list[ReplayFrame] = []
    async for frame in frames:
        out.append(frame)
        if len(out) == count:
            break
    return out


@pytest.mark.parametrize("name", ["hd720_h264", "hd720_h265"])
def test_access_units_match_the_clip_as_ffmpeg_reads_it(name: str, sim_clips: dict[str, ClipInfo]) -> None:
    clip = sim_clips[name]
    password = secrets.token_urlsafe(10)

    async def run(port: int) -> list[ReplayFrame]:
        replay = RtspReplay(f"rtsp://127.0.0.1:{port}/cam", source_id="x", username="u", password=password, onvif=False)
        try:
            info = await replay.open()
            assert (info.codec, info.width, info.height) == (clip.codec, clip.width, clip.height)
            await replay.play()
            return await take(replay.frames(), 3 * clip.gop)
        finally:
            await replay.aclose()

    with RtspServerProcess([("/cam", clip)], username="u", password=password) as server:
        frames = asyncio.run(run(server.port))
    reference = clip_vcl(clip)
    for frame in frames:
        vcl = vcl_of(clip.codec, frame.packet.data)
        assert vcl and set(vcl) <= reference  # each picture whole, byte for byte
    keyframes = [f for f in frames if f.packet.keyframe]
    assert 2 <= len(keyframes) <= 4  # one per GOP
    pts = [f.packet.pts for f in frames]
    assert all(b - a == 90_000 // clip.fps for a, b in itertools.pairwise(pts))


class Catalog:
    """One camera whose recordings only a vendor's playback URL reaches (nothing to search)."""

    def __init__(self, source: PlaybackOnly) -> None:
        self.source = source

    def source_of(self, camera_id: str) -> PlaybackOnly | None:
        return self.source if camera_id == "cam1" else None

    def verifiable(self, camera_id: str) -> bool:
        return False

    async def spans(self, camera_id: str, start: float, end: float) -> list[tuple[float, float]] | None:
        raise AssertionError("a playback URL cannot be searched")


def test_a_vendor_playback_url_plays_its_span_and_seeks_by_reopening(tmp_path: Path) -> None:
    store = make_recordings(tmp_path, ("ch1",), days=2, now=NOW)
    start = YESTERDAY + timedelta(hours=14)

    async def run(port: int) -> tuple[float | None, float | None, dict[str, int]]:
        template = (
            f"rtsp://127.0.0.1:{port}/replay/ch1?starttime={{start:%Y%m%dT%H%M%SZ}}&endtime={{end:%Y%m%dT%H%M%SZ}}"
        )
        replays = Replays(Catalog(PlaybackOnly("a playback URL", template, key="camera cam1", limit=1)))
        replay = await replays.open("cam1", start.timestamp(), start.timestamp() + 3600)
        try:
            with pytest.raises(ReplayBusyError):
                await replays.open("cam1", start.timestamp(), start.timestamp() + 60)
            frames = replay.frames()
            await replay.play(at=replay.start)
            first = await anext(frames)
            await replay.play(at=replay.start + 600)  # the URL of the new span, swapped in
            seeked = await anext(frames)
            return first.recorded, seeked.recorded, replays.in_use()
        finally:
            await replay.aclose()
            assert replays.in_use() == {}

    with RtspServerProcess([], replays=[("/replay/ch1", store.root / "ch1")]) as server:
        first, seeked, in_use = asyncio.run(run(server.port))
    assert first == start.timestamp()
    assert seeked == start.timestamp() + 600
    assert in_use == {"camera cam1": 1}


def test_refusals_are_clear_errors(tmp_path: Path, sim_clips: dict[str, ClipInfo]) -> None:
    store = make_recordings(tmp_path, ("ch1",), days=1, now=NOW)
    password = secrets.token_urlsafe(10)

    async def error_of(url: str, **kw: str) -> ReplayError:
        replay = RtspReplay(url, source_id="x", onvif=False, **kw)  # type: ignore[arg-type]
        try:
            with pytest.raises(ReplayError) as caught:
                await replay.open()
        finally:
            await replay.aclose()
        return caught.value

    async def run(port: int) -> list[ReplayError]:
        wrong = await error_of(f"rtsp://127.0.0.1:{port}/cam", username="u", password="not-" + password)
        anonymous = await error_of(f"rtsp://127.0.0.1:{port}/cam")
        missing = await error_of(f"rtsp://127.0.0.1:{port}/nothing-here", username="u", password=password)
        closed = await error_of(f"rtsp://127.0.0.1:{free_port()}/cam")
        return [wrong, anonymous, missing, closed]

    with RtspServerProcess(
        [("/cam", sim_clips["hd720_h264"])],
        replays=[("/replay/ch1", store.root / "ch1")],
        username="u",
        password=password,
    ) as server:
        wrong, anonymous, missing, closed = asyncio.run(run(server.port))
    assert (wrong.status, wrong.reason) == (401, "the recorder refused the credentials")
    assert anonymous.status == 401
    assert missing.status == 404
    assert closed.status is None and "cannot connect" in closed.reason
    for error in (wrong, anonymous, missing, closed):
        assert password not in str(error)
    with pytest.raises(ReplayError):
        # Credentials never in the URL.
        RtspReplay(with_credentials("rtsp://127.0.0.1/cam", "u", password), source_id="x")
