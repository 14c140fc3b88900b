"""Quality-check scores measured on every keyframe of the simulator's clean and fault clips.

    .venv/bin/python -m benchmarks.quality_scores [--out samples/clips]

Makes (or reuses from the cache) the clips of ``make_clips`` and ``make_fault_clips``, decodes each
keyframe on its own as the gateway's KeyframeSampler does, diagnoses it with a frozen window of 3 and
the first keyframe as the scene reference, and prints a markdown table: per clip and check, the range
of the scores over the keyframes and how many keyframes failed (``-`` when never checkable). This is
the table of docs/quality.md.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import av
import numpy as np
import numpy.typing as npt
from av.video.codeccontext import VideoCodecContext

from gateway.quality import CHECK_NAMES, CheckResult, FrozenTracker, Reference, diagnose, prepare
from gateway.sim.clips import ClipInfo, make_clips, make_fault_clips

REPO = Path(__file__).resolve().parents[1]
_DECODERS = {"h264": "h264", "h265": "hevc"}


def keyframe_images(clip: ClipInfo) -> Iterator[npt.NDArray[np.uint8]]:
    """Each keyframe of the clip, decoded alone by a fresh decoder (as the gateway samples them), as BGR."""
    with av.open(str(clip.path), format=_DECODERS[clip.codec]) as container:
        for packet in container.demux(video=0):
            if not (packet.is_keyframe and packet.size):
                continue
            decoder = cast(VideoCodecContext, av.CodecContext.create(_DECODERS[clip.codec], "r"))
            frames = list(decoder.decode(av.Packet(bytes(packet)))) + list(decoder.decode(None))
            yield cast("npt.NDArray[np.uint8]", frames[-1].to_ndarray(format="bgr24"))


def diagnose_clip(clip: ClipInfo) -> list[list[CheckResult]]:
    """The results of every check on every keyframe, in order (frozen window 3, first keyframe as reference)."""
    tracker = FrozenTracker(3)
    reference: Reference | None = None
    out = []
    for image in keyframe_images(clip):
        prepared = prepare(image)
        if reference is None and prepared.ok:
            reference = Reference.from_prepared(prepared)
        out.append(diagnose(prepared, frozen=tracker, reference=reference))
    return out


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
    print("| clip | size | keyframes | " + " | ".join(CHECK_NAMES) + " |")
    print("|---|---|---|" + "---|" * len(CHECK_NAMES))
    for name, clip in clips.items():
        per_frame = diagnose_clip(clip)
        cells = [_cell([results[i] for results in per_frame]) for i in range(len(CHECK_NAMES))]
        print(f"| {name} | {clip.width}x{clip.height} | {len(per_frame)} | " + " | ".join(cells) + " |")
    print(f"\n(clips made or reused in {made:.1f} s, all measured in {time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    main()
