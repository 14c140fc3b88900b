"""A process decodes one quality sample's pictures at a time, whatever thread reads the session (the
reading loop, a viewed camera's own thread, FFmpeg's reader): the C heap then keeps one sample's frame
buffers for the next, not a set per reading thread (gateway.pipeline.heap)."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import av
import numpy as np
import pytest

from adapters.common.media import Packet, StreamInfo
from gateway.quality import sampler as sampler_module
from gateway.quality.frames import CheckResult
from gateway.quality.sampler import BUSY, KeyframeSampler

FPS = 25
TB = Fraction(1, FPS)
INFO = StreamInfo("h264", 160, 120, None, FPS, TB, None)


def encode(frames: int = 6) -> list[bytes]:
    """Annex-B access units, a keyframe every 3 (with its parameter sets)."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = 160, 120, "yuv420p"
    codec.time_base = TB
    codec.options = {"x264-params": "keyint=3:min-keyint=3:scenecut=0:bframes=0:repeat-headers=1"}
    out: list[bytes] = []
    for n in range(frames):
        image = np.full((120, 160, 3), 60 + n * 10, np.uint8)
        image[30:90, n * 10 : n * 10 + 40] = 250
        frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
        frame.pts = n
        out += [bytes(p) for p in codec.encode(frame)]
    return out + [bytes(p) for p in codec.encode(None)]


class CountingSampler(KeyframeSampler):
    """Counts the decodes running at once across every instance; each is made to last 50 ms, long
    enough for another thread's to come in if it were let."""

    guard = threading.Lock()
    running = 0
    most = 0

    def _decode(self, data: bytes) -> list[av.VideoFrame]:
        with CountingSampler.guard:
            CountingSampler.running += 1
            CountingSampler.most = max(CountingSampler.most, CountingSampler.running)
        try:
            time.sleep(0.05)
            return super()._decode(data)
        finally:
            with CountingSampler.guard:
                CountingSampler.running -= 1


def test_samples_of_sessions_on_different_threads_decode_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampler_module, "PICTURES_WAIT_S", 30.0)  # the waits here are the point, not a stuck decode
    units = encode()
    alone = verdicts(KeyframeSampler(INFO, interval_s=0.01), units, "alone")
    assert alone is not None
    threads = 4
    start = threading.Barrier(threads)
    results: list[list[tuple[str, str, str]] | None] = [None] * threads

    def session(k: int) -> None:
        sampler = CountingSampler(INFO, interval_s=0.01)
        start.wait()
        results[k] = verdicts(sampler, units, f"cam{k}")

    workers = [threading.Thread(target=session, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert CountingSampler.most == 1
    # Each session's sample came whole, the same as one session's alone: waiting changed nothing.
    assert results == [alone] * threads


def verdicts(
    sampler: KeyframeSampler, units: list[bytes], camera: str, start: float = 0.0
) -> list[tuple[str, str, str]] | None:
    """The sample's verdict from the clip (two keyframes: the 1st and 4th pictures): each check's
    name, state and detail (a score can be NaN, never equal to itself)."""
    out: tuple[CheckResult, ...] | None = None
    for n, unit in enumerate(units):
        out = sampler.offer(Packet(camera, "h264", n, n, TB, n % 3 == 0, unit, start + n / FPS)) or out
    return [(c.name, c.state, c.detail) for c in out] if out is not None else None


def test_a_sample_gives_way_to_a_stuck_one_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampler_module, "PICTURES_WAIT_S", 0.05)
    units = encode()
    sampler = KeyframeSampler(INFO, interval_s=0.01)
    with sampler_module._PICTURES:  # another camera's decode, stuck
        first = sampler.offer(Packet("cam", "h264", 0, 0, TB, True, units[0], 0.0))
        assert first is None  # held until the next packet shows the picture is whole
        busy = sampler.offer(Packet("cam", "h264", 1, 1, TB, False, units[1], 1 / FPS))
    assert busy is not None and {(c.state, c.detail) for c in busy} == {("not_checkable", BUSY)}
    # Free again: the next sample (an interval later) is taken as usual.
    assert verdicts(sampler, units, "cam", start=1.0) == verdicts(
        KeyframeSampler(INFO, interval_s=0.01), units, "alone"
    )
