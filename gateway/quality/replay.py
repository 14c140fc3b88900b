"""The quality sampler run over an encoded file as if a camera sent it: for the tests, the benchmarks and
the evaluation of the checks on real footage. Never on the live path.

Packets get the arrival times of a camera sending the file in real time at ``fps``, so the sampler's
interval and its wait for the second keyframe behave as they do live, without waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

from adapters.common.media import Packet, StreamInfo
from gateway.quality.frames import CheckResult
from gateway.quality.sampler import KeyframeSampler, SamplerSetup

_FORMATS = {"h264": "h264", "h265": "hevc"}


def file_packets(path: Path, codec: str, fps: float, *, loops: int = 1) -> Iterator[Packet]:
    """The file's access units in order, ``loops`` times over, timed as a live camera at ``fps``."""
    n = 0
    for _ in range(loops):
        with av.open(str(path), format=_FORMATS[codec]) as container:
            for packet in container.demux(video=0):
                if not packet.size:
                    continue
                yield Packet(path.stem, codec, n, n, Fraction(1, 1), bool(packet.is_keyframe), bytes(packet), n / fps)
                n += 1


def replay_timed(
    path: Path, codec: str, fps: float, setup: SamplerSetup, *, loops: int = 1
) -> list[tuple[float, dict[str, CheckResult]]]:
    """Every diagnosis the sampler makes over the file, with the time (s into the file) it was made."""
    sampler = KeyframeSampler.from_setup(StreamInfo(codec, None, None, None, fps, Fraction(1, 1), None), setup)
    out = []
    for packet in file_packets(path, codec, fps, loops=loops):
        results = sampler.offer(packet)
        if results is not None:
            out.append((packet.arrival, {r.name: r for r in results}))
    return out


def replay(path: Path, codec: str, fps: float, setup: SamplerSetup, *, loops: int = 1) -> list[dict[str, CheckResult]]:
    """Every diagnosis the sampler makes over the file, each as {check name: result}."""
    return [results for _, results in replay_timed(path, codec, fps, setup, loops=loops)]
