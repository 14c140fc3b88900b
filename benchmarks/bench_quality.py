"""Cost of the video quality diagnosis per sample (a 1080p keyframe and the next one), against decoding them.

    .venv/bin/python -m benchmarks.bench_quality [--repeats 200]

A sample is the sampled keyframe and the next one (the second picture of the frozen and shake
checks): the first two IDRs of samples/clips/hd_h264.h264 when present (a camera-like scene),
otherwise one keyframe encoded here with libx264 from a synthetic textured frame, twice. Everything
runs on one core (OpenCV and FFmpeg limited to one thread). Figures are medians over --repeats calls:

  decode (baseline)    FFmpeg decoding one keyframe packet (one thread), as the sampler does, and two
  to_ndarray bgr24     a decoded frame converted to a BGR numpy array (what prepare() takes)
  prepare              downscaling once (640 px grey, 320 px colour + grey)
  each check           on the prepared frame; frozen and shake with the second keyframe, frozen with a
                       full window, scene with a reference
  checks of a sample   prepare both keyframes + diagnose: the whole cost the checks add to a sample,
                       against decoding its two keyframes (the baseline, same run)

Cameras per core at one sample every N seconds = N / (2 x (decode + to_ndarray) + checks).
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from gateway.quality.checks import diagnose
from gateway.quality.frames import prepare
from gateway.quality.picture import (
    check_blank,
    check_blur,
    check_bright,
    check_colour_cast,
    check_contrast,
    check_dark,
    check_noise,
    check_occlusion,
    check_stripes,
)
from gateway.quality.scene import Reference, check_scene
from gateway.quality.temporal import Bitstream, FrozenTracker, check_shake

CLIP = Path(__file__).resolve().parents[1] / "samples" / "clips" / "hd_h264.h264"


def keyframe_packets() -> tuple[bytes, bytes, str]:
    """Two Annex-B 1080p H.264 keyframes (with their parameter sets), a GOP apart, and their source."""
    if CLIP.exists():
        keys: list[bytes] = []
        with av.open(str(CLIP)) as container:
            for packet in container.demux(video=0):
                if packet.is_keyframe and packet.size:
                    keys.append(bytes(packet))
                    if len(keys) == 2:
                        return keys[0], keys[1], CLIP.name
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 48, (1080, 1920, 3), dtype=np.uint8)
    rgb[:, :, 0] += np.linspace(0, 200, 1920, dtype=np.uint8)
    rgb[:, :, 1] += np.linspace(0, 200, 1080, dtype=np.uint8)[:, None]
    cv2.rectangle(rgb, (400, 300), (900, 800), (200, 40, 40), -1)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    buf = io.BytesIO()
    with av.open(buf, "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        packets = [bytes(p) for p in stream.encode(frame)] + [bytes(p) for p in stream.encode(None)]
        for p in stream.encode(None):
            out.mux(p)
    return packets[0], packets[0], "synthetic (libx264), the same keyframe twice"


def decoder() -> Any:
    ctx = av.CodecContext.create("h264", "r")
    ctx.thread_count = 1
    ctx.thread_type = "NONE"
    return ctx


def decode(data: bytes) -> Any:
    ctx = decoder()  # a fresh decoder each time: a sampled keyframe is decoded on its own
    frames = list(ctx.decode(av.Packet(data))) + list(ctx.decode(None))
    return frames[0]


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples per camera")
    args = parser.parse_args()
    cv2.setNumThreads(1)

    data, data2, source = keyframe_packets()
    frame, frame2 = decode(data), decode(data2)
    bgr, bgr2 = frame.to_ndarray(format="bgr24"), frame2.to_ndarray(format="bgr24")
    p, p2 = prepare(bgr), prepare(bgr2)
    reference = Reference.from_prepared(p)
    bitstream = Bitstream(len(data), 49, 1200.0)
    tracker = FrozenTracker(3)  # reused: its window stays full, as on a camera sampled for a while
    for _ in range(3):
        tracker.check(p, second=p2, bitstream=bitstream)

    def sample_checks() -> None:
        diagnose(prepare(bgr), frozen=tracker, reference=reference, second=prepare(bgr2), bitstream=bitstream)

    decode_ms = median_ms(lambda: decode(data), args.repeats)
    convert_ms = median_ms(lambda: frame.to_ndarray(format="bgr24"), args.repeats)
    rows: list[tuple[str, float]] = [
        ("decode keyframe", decode_ms),
        ("to_ndarray bgr24", convert_ms),
        ("prepare", median_ms(lambda: prepare(bgr), args.repeats)),
    ]
    checks: list[tuple[str, Callable[[], object]]] = [
        ("  blank", lambda: check_blank(p)),
        ("  dark", lambda: check_dark(p)),
        ("  bright", lambda: check_bright(p)),
        ("  contrast", lambda: check_contrast(p)),
        ("  blur", lambda: check_blur(p)),
        ("  occlusion", lambda: check_occlusion(p)),
        ("  colour_cast", lambda: check_colour_cast(p, usual=reference.chroma)),
        ("  noise", lambda: check_noise(p)),
        ("  stripes", lambda: check_stripes(p)),
        ("  frozen (pair, full window)", lambda: tracker.check(p, second=p2, bitstream=bitstream)),
        ("  shake (pair)", lambda: check_shake(p, p2)),
        ("  scene_change", lambda: check_scene(p, reference)),
    ]
    rows += [(name, median_ms(fn, args.repeats)) for name, fn in checks]
    total = median_ms(sample_checks, args.repeats)
    baseline = 2 * decode_ms
    rows += [("decode both keyframes (baseline)", baseline), ("checks of a sample", total)]

    print(f"keyframes: {source}, {bgr.shape[1]}x{bgr.shape[0]}, {len(data)} + {len(data2)} bytes; one thread;"
          f" median of {args.repeats}")  # fmt: skip
    for name, ms in rows:
        print(f"{name:34s} {ms:8.3f} ms")
    print(f"checks / decoding both keyframes   {total / baseline:8.2f} x")
    per_sample = 2 * (decode_ms + convert_ms) + total
    print(
        f"cameras per core at one sample every {args.interval:g} s: "
        f"{args.interval * 1000 / total:,.0f} (checks only), "
        f"{args.interval * 1000 / per_sample:,.0f} (decode + convert + checks)"
    )


if __name__ == "__main__":
    main()
