"""Per-keyframe cost of reading the SPS (adapters.common.h26x) vs decoding the keyframe with PyAV.

    .venv/bin/python -m benchmarks.bench_h26x [--repeats 15]

For each codec one 1080p keyframe packet is encoded with PyAV (libx264 / libx265, Annex-B with the
parameter sets in-band, which is how FFmpeg hands over RTSP packets). Each figure is the median,
over --repeats runs, of the mean time per call in a loop long enough to time reliably:

  find_sps              every keyframe, once the caller has cached the parse (SPS bytes unchanged)
  find_sps + parse_sps  a keyframe whose SPS changed, or the first one
  decode (baseline)     FFmpeg decoding the same packet on one thread, i.e. its CPU cost per keyframe
"""

from __future__ import annotations

import argparse
import io
import statistics
import timeit
from collections.abc import Callable
from typing import Any

import av
import numpy as np

from adapters.common.h26x import find_sps, parse_sps

WIDTH, HEIGHT = 1920, 1080


def keyframe_packet(encoder: str) -> bytes:
    """The first packet (an IDR with its parameter sets) of a camera-like 1080p stream."""
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 48, (HEIGHT, WIDTH, 3), dtype=np.uint8)  # sensor noise on a gradient scene
    rgb[:, :, 0] += np.linspace(0, 200, WIDTH, dtype=np.uint8)
    rgb[:, :, 1] += np.linspace(0, 200, HEIGHT, dtype=np.uint8)[:, None]
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    with av.open(io.BytesIO(), "w", format="h264" if encoder == "libx264" else "hevc") as out:
        stream = out.add_stream(encoder, rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        if encoder == "libx265":
            stream.options = {**stream.options, "x265-params": "log-level=none"}
        frame.pts = 0
        packets = stream.encode(frame) + stream.encode(None)
    return bytes(packets[0])


def per_call_seconds(function: Callable[[], Any], repeats: int) -> float:
    timer = timeit.Timer(function)
    number, _ = timer.autorange()
    return statistics.median(t / number for t in timer.repeat(repeat=repeats, number=number))


def decoder_for(codec: str) -> Callable[[Any], Any]:
    ctx = av.CodecContext.create("h264" if codec == "h264" else "hevc", "r")
    ctx.thread_count = 1
    return lambda packet: ctx.decode(packet)


def bench(codec: str, encoder: str, repeats: int) -> None:
    data = keyframe_packet(encoder)
    sps = find_sps(codec, data)
    assert sps is not None, "no SPS in the keyframe"
    info = parse_sps(codec, sps)
    decode = decoder_for(codec)
    packet = av.Packet(data)
    decode(packet)  # warm up: the first call opens the decoder

    find_only = per_call_seconds(lambda: find_sps(codec, data), repeats)
    find_parse = per_call_seconds(lambda: parse_sps(codec, find_sps(codec, data) or b""), repeats)
    decoded = per_call_seconds(lambda: decode(packet), repeats)

    print(f"{codec}: {len(data) / 1024:.0f} KiB keyframe, {info.profile} {info.level}, {info.width}x{info.height}")
    print(f"  find_sps              {find_only * 1e6:10.2f} us   {decoded / find_only:10.0f}x cheaper than decoding")
    print(f"  find_sps + parse_sps  {find_parse * 1e6:10.2f} us   {decoded / find_parse:10.0f}x cheaper than decoding")
    print(f"  decode (baseline)     {decoded * 1e6:10.2f} us")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15, help="timed runs per figure; the median is printed")
    args = ap.parse_args()
    print(f"PyAV {av.__version__}, medians over {args.repeats} runs")
    bench("h264", "libx264", args.repeats)
    bench("h265", "libx265", args.repeats)


if __name__ == "__main__":
    main()
