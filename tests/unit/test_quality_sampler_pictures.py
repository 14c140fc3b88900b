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
    monkeypatch.setattr(sampler_module, "STUCK_S", 30.0)  # the waits here are the point, not a stuck decode
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
    units = encode()
    pictures = sampler_module._PICTURES
    monkeypatch.setattr(sampler_module, "STUCK_S", 0.05)
    assert pictures.take()  # another camera's decode, stuck
    try:
        busy = one_sample(KeyframeSampler(INFO, interval_s=0.01), units)  # waited STUCK_S, gave up
        # Once the holder has had it past STUCK_S nobody waits at all: with STUCK_S at 30 s, a wait
        # would take 30 s.
        monkeypatch.setattr(sampler_module, "STUCK_S", 30.0)
        pictures._since = time.monotonic() - 60  # give() clears it (monkeypatch would put it back after)
        asked = time.monotonic()
        at_once = one_sample(KeyframeSampler(INFO, interval_s=0.01), units)
        assert time.monotonic() - asked < 10
    finally:
        pictures.give()
    for verdict in (busy, at_once):
        assert verdict is not None and {(c.state, c.detail) for c in verdict} == {("not_checkable", BUSY)}
    # Free again: a sample is taken as usual.
    alone = verdicts(KeyframeSampler(INFO, interval_s=0.01), units, "alone")
    assert alone is not None and verdicts(KeyframeSampler(INFO, interval_s=0.01), units, "cam") == alone


def one_sample(sampler: KeyframeSampler, units: list[bytes]) -> tuple[CheckResult, ...] | None:
    """The first keyframe offered, then the packet that shows it whole: its decode is tried then."""
    assert sampler.offer(Packet("cam", "h264", 0, 0, TB, True, units[0], 0.0)) is None
    return sampler.offer(Packet("cam", "h264", 1, 1, TB, False, units[1], 1 / FPS))
