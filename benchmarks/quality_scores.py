"""Quality-check scores measured on every keyframe of the simulator's clean and fault clips.

    .venv/bin/python -m benchmarks.quality_scores [--out samples/clips]

Makes (or reuses from the cache) the clips of ``make_clips`` and ``make_fault_clips``, plays each twice
through the gateway's own KeyframeSampler (one sample per keyframe, with the next keyframe as its
second picture), and prints a markdown table: per clip and check, the range of the scores over the samples and
how many failed (``-`` when never checkable). This is the per-clip table of docs/quality.md; the
evaluation on real footage is ``benchmarks.bench_quality_accuracy``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import cast

import av
import numpy as np
import numpy.typing as npt

from gateway.quality.frames import CheckResult, prepare
from gateway.quality.replay import replay
from gateway.quality.sampler import SamplerSetup
from gateway.quality.scene import Reference
from gateway.quality.thresholds import CHECK_NAMES
from sim.clips import FAULT_CLIP_NAMES, ClipInfo, make_clips, make_fault_clips

REPO = Path(__file__).resolve().parents[1]
_DECODERS = {"h264": "h264", "h265": "hevc"}


def first_keyframe(clip: ClipInfo) -> npt.NDArray[np.uint8]:
    with av.open(str(clip.path), format=_DECODERS[clip.codec]) as container:
        for frame in container.decode(video=0):
            return cast("npt.NDArray[np.uint8]", frame.to_ndarray(format="bgr24"))
    raise ValueError(f"{clip.path} has no picture")


def diagnose_clip(clip: ClipInfo, installed: bytes | None) -> list[list[CheckResult]]:
    """Every sample the gateway's sampler makes over the clip played twice (one per keyframe)."""
    setup = SamplerSetup(0.0, reference=installed)
    return [list(results.values()) for results in replay(clip.path, clip.codec, clip.fps, setup, loops=2)]


def _cell(results: list[CheckResult]) -> str:
    scores = [r.score for r in results if r.state != "not_checkable" and not math.isnan(r.score)]
    if not scores:
        return "-"
    digits = 1 if max(abs(s) for s in scores) >= 10 else 2
    low, high = f"{min(scores):.{digits}f}", f"{max(scores):.{digits}f}"
    text = low if low == high else f"{low}..{high}"
    fails = sum(r.state == "fail" for r in results)
    return f"**{text} ({fails}/{len(scores)} fail)**" if fails else text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "samples" / "clips", help="clip cache directory")
    args = parser.parse_args()
    started = time.monotonic()
    clips = {**make_clips(args.out), **make_fault_clips(args.out)}
    made = time.monotonic() - started
    print("| clip | size | samples | " + " | ".join(CHECK_NAMES) + " |")
    print("|---|---|---|" + "---|" * len(CHECK_NAMES))
    # The fault clips are the entrance scene with one fault: the camera was set up on the clean scene,
    # which the "moved" clip shows before it turns (its first keyframe is the reference).
    entrance = Reference.from_prepared(prepare(first_keyframe(clips["moved"]))).to_bytes()
    for name, clip in clips.items():
        per_frame = diagnose_clip(clip, entrance if name in FAULT_CLIP_NAMES else None)
        cells = [_cell([results[i] for results in per_frame]) for i in range(len(CHECK_NAMES))]
        print(f"| {name} | {clip.width}x{clip.height} | {len(per_frame)} | " + " | ".join(cells) + " |")
    print(f"\n(clips made or reused in {made:.1f} s, all measured in {time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    main()
