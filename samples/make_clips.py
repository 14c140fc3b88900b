"""Make the simulator's sample clips: `python samples/make_clips.py [--out samples/clips] [--force]`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Run as a script: the repository root, where the simulated site (sim/) lives, is not on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.clips import make_clips


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "clips")
    parser.add_argument("--force", action="store_true", help="regenerate even if cached clips are current")
    parser.add_argument("--seconds", type=float, default=8.0, help="clip length, rounded to whole 2 s GOPs")
    args = parser.parse_args()
    started = time.monotonic()
    clips = make_clips(args.out, seconds=args.seconds, force=args.force)
    print(f"{'name':<12} {'codec':<5} {'size':>9} {'fps':>3} {'frames':>6} {'gop':>3} {'kbit/s':>6}  file")
    for clip in clips.values():
        kbps = clip.path.stat().st_size * 8 / clip.seconds / 1000
        size = f"{clip.width}x{clip.height}"
        print(
            f"{clip.name:<12} {clip.codec:<5} {size:>9} {clip.fps:>3} {clip.frames:>6} {clip.gop:>3} {kbps:>6.0f}",
            end="",
        )
        print(f"  {clip.path}")
    print(f"done in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
