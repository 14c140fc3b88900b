"""Cost of the video quality diagnosis per sampled 1080p keyframe, against decoding that keyframe.

    .venv/bin/python -m benchmarks.bench_quality [--repeats 200]

The keyframe is the first IDR of samples/clips/hd_h264.h264 when present (a camera-like scene),
otherwise one encoded here with libx264 from a synthetic textured frame. Everything runs on one
core (OpenCV and FFmpeg limited to one thread). Figures are medians over --repeats calls:

  decode (baseline)    FFmpeg decoding the keyframe packet (one thread), as the reader already does
  to_ndarray bgr24     the decoded frame converted to a BGR numpy array (what prepare() takes)
  prepare              downscaling once (640 px grey, 320 px colour + grey)
  each check           on the prepared frame; frozen with a full 3-sample window, scene with a reference
  prepare + diagnose   the whole quality cost per sample

Cameras per core at one sample every N seconds = N / (decode + to_ndarray + prepare + diagnose).
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

from gateway.quality import (
    FrozenTracker,
    Reference,
    check_blank,
    check_blur,
    check_bright,
    check_colour_cast,
    check_dark,
    check_noise,
    check_occlusion,
    check_scene,
    diagnose,
    prepare,
)

CLIP = Path(__file__).resolve().parents[1] / "samples" / "clips" / "hd_h264.h264"


def keyframe_packet() -> tuple[bytes, str]:
    """An Annex-B 1080p H.264 keyframe (with its parameter sets) and where it came from."""
    if CLIP.exists():
        with av.open(str(CLIP)) as container:
            for packet in container.demux(video=0):
                if packet.is_keyframe and packet.size:
                    return bytes(packet), CLIP.name
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
    return packets[0], "synthetic (libx264)"


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

    data, source = keyframe_packet()
    frame = decode(data)
    bgr = frame.to_ndarray(format="bgr24")
    p = prepare(bgr)
    reference = Reference.from_prepared(p)
    warm = FrozenTracker(3)
    for _ in range(3):
        warm.check(p)

    def full() -> None:
        tracker = FrozenTracker(3)
        tracker._samples.extend(warm._samples)  # a tracker with a full window
        diagnose(prepare(bgr), frozen=tracker, reference=reference)

    def frozen_check() -> None:
        tracker = FrozenTracker(3)
        tracker._samples.extend(warm._samples)
        tracker.check(p)

    rows: list[tuple[str, float]] = [
        ("decode keyframe (baseline)", median_ms(lambda: decode(data), args.repeats)),
        ("to_ndarray bgr24", median_ms(lambda: frame.to_ndarray(format="bgr24"), args.repeats)),
        ("prepare", median_ms(lambda: prepare(bgr), args.repeats)),
    ]
    checks: list[tuple[str, Callable[[], object]]] = [
        ("  blank", lambda: check_blank(p)),
        ("  dark", lambda: check_dark(p)),
        ("  bright", lambda: check_bright(p)),
        ("  blur", lambda: check_blur(p)),
        ("  occlusion", lambda: check_occlusion(p)),
        ("  colour_cast", lambda: check_colour_cast(p)),
        ("  noise", lambda: check_noise(p)),
        ("  frozen (3-sample window)", frozen_check),
        ("  scene_change", lambda: check_scene(p, reference)),
    ]
    rows += [(name, median_ms(fn, args.repeats)) for name, fn in checks]
    total = median_ms(full, args.repeats)
    rows.append(("prepare + diagnose", total))

    print(f"keyframe: {source}, {bgr.shape[1]}x{bgr.shape[0]}, {len(data)} bytes; one thread; median of {args.repeats}")
    for name, ms in rows:
        print(f"{name:30s} {ms:8.3f} ms")
    decode_ms = rows[0][1] + rows[1][1]
    print(f"quality / decode+convert       {total / decode_ms:8.2f} x")
    per_sample = decode_ms + total
    print(
        f"cameras per core at one sample every {args.interval:g} s: "
        f"{args.interval * 1000 / total:,.0f} (diagnosis only), "
        f"{args.interval * 1000 / per_sample:,.0f} (decode + convert + diagnosis)"
    )


if __name__ == "__main__":
    main()
