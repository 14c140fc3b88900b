"""Pictures cut into slices that arrive as several packets with one timestamp (some cameras over
RTSP): health counts them as one frame, and both decoders see the whole picture."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from adapters.common.media import Packet, StreamInfo
from gateway.analytics.frames import FrameSampler
from gateway.health.stats import StreamStats
from gateway.quality.sampler import KeyframeSampler

FPS = 25
TB = Fraction(1, 90000)
INFO = StreamInfo("h264", 320, 240, None, FPS, TB, None)


def encode(frames: int = 12) -> list[bytes]:
    """Annex-B access units of a 320x240 clip, several slices a picture, a keyframe every 6."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = 320, 240, "yuv420p"
    codec.time_base = Fraction(1, FPS)
    codec.options = {"x264-params": "slices=4:keyint=6:min-keyint=6:scenecut=0:bframes=0:repeat-headers=1"}
    out: list[bytes] = []
    for n in range(frames):
        image = np.zeros((240, 320, 3), np.uint8)
        image[:, :, 1] = 40 + n * 8
        image[60:180, (n * 20) % 280 : (n * 20) % 280 + 40] = 255
        frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
        frame.pts = n
        out += [bytes(p) for p in codec.encode(frame)]
    out += [bytes(p) for p in codec.encode(None)]
    return out


def split(unit: bytes) -> list[bytes]:
    """Cut an access unit in two before its middle slice (start codes 00 00 01 of NAL type 1 or 5)."""
    starts = [i for i in range(len(unit) - 3) if unit[i : i + 3] == b"\x00\x00\x01" and unit[i + 3] & 0x1F in (1, 5)]
    assert len(starts) >= 2, "x264 cut no slices"
    mid = starts[len(starts) // 2]
    cut = mid - (1 if unit[mid - 1] == 0 else 0)
    return [unit[:cut], unit[cut:]]


def packets(units: list[bytes]) -> list[Packet]:
    out = []
    for n, unit in enumerate(units):
        key = n % 6 == 0
        for part in split(unit):
            out.append(Packet("cam", "h264", n * 3600, n * 3600, TB, key, part, n / FPS))
    return out


@pytest.fixture(scope="module")
def units() -> list[bytes]:
    return encode()


def test_health_counts_pictures_not_packets(units: list[bytes]) -> None:
    stats = StreamStats(INFO)
    for packet in packets(units):
        stats.add(packet)
    measured = stats.snapshot()
    assert measured.fps == pytest.approx(FPS, rel=0.01)
    assert measured.gop_frames == 6
    assert measured.keyframe_interval_s == pytest.approx(6 / FPS)
    assert measured.bytes == sum(len(u) for u in units)


def test_the_analytics_decoder_sees_whole_pictures(units: list[bytes]) -> None:
    whole = FrameSampler(INFO, FPS)
    parts = FrameSampler(INFO, FPS)
    expected = [
        f
        for n, u in enumerate(units)
        if (f := whole.offer(Packet("c", "h264", n * 3600, None, TB, n % 6 == 0, u, 0.0)))
    ]
    got = [f for p in packets(units) if (f := parts.offer(p))]
    assert len(got) >= len(expected) - 1 >= 8
    for a, b in zip(expected, got, strict=False):
        assert a.at == b.at
        assert np.array_equal(a.image, b.image)


def test_the_quality_sampler_decodes_the_whole_keyframe(units: list[bytes]) -> None:
    sampler = KeyframeSampler(INFO, interval_s=0.0)
    decoded: list[bytes] = []
    real = sampler._decode

    def spy(data: bytes) -> list[av.VideoFrame]:
        decoded.append(data)
        return real(data)

    sampler._decode = spy  # type: ignore[method-assign]
    results = [r for p in packets(units) if (r := sampler.offer(p)) is not None]
    # One sample: the sampled keyframe and the next one (its second picture), each decoded whole.
    assert decoded == [units[0], units[6]]
    assert len(results) == 1
