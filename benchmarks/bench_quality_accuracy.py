"""How right the quality checks are on real footage: false alarms on clean live cameras and detection of
each fault, per check. The table of docs/quality.md.

    .venv/bin/python -m benchmarks.bench_quality_accuracy [--jobs 2] [--only NAME]

Every case of ``benchmarks/quality_cases.py`` (real footage from Debian's opencv-doc, clean or with one
fault) is encoded twice (``camera``: CRF 23, 2 s GOP; ``smart``: CRF 30 capped at 400 kbit/s, 4 s GOP)
and the simulator's synthetic clips are added as they are. Each stream is then fed, packet by packet,
to the gateway's own ``KeyframeSampler`` (``gateway/quality/replay.py``) with no interval (one sample
per keyframe, each with the next keyframe as its second picture), the night thresholds for night
cases. The first three samples of each stream (and the first three after a fault's onset) are not
counted: the encoder's rate control and the checks' windows are settling, as they are on a camera that
has just been connected.

A clean sample is a **false alarm** for every check that fails on it; a fault sample is **detected**
when its check fails. Both are counted per check over samples.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from benchmarks import quality_cases as qc
from gateway.quality.frames import prepare
from gateway.quality.replay import replay_timed
from gateway.quality.sampler import SamplerSetup
from gateway.quality.scene import Reference
from gateway.quality.thresholds import CHECK_NAMES, DEFAULT_THRESHOLDS, NIGHT_THRESHOLDS
from sim.clips import FAULT_CLIPS, make_clips, make_fault_clips
from sim.footage import encode_h264

REPO = Path(__file__).resolve().parents[1]
WARMUP = 3

# The simulator's synthetic clips: name -> the check that must fail (None: clean).
SYNTHETIC = {
    "hd_h264": None,
    "hd_h265": None,
    "sd_h264": None,
    "hd720_h264": None,
    "hd720_h265": None,
    "frozen": "frozen",
    "dark": "dark",
    "black": "blank",
    "blurred": "blur",
    "covered": "occlusion",
    "colour_cast": "colour_cast",
    "noisy": "noise",
}

Row = dict[str, object]


def _counted(timed: list[tuple[float, dict]], onset_s: float) -> list[dict[str, tuple[str, float]]]:  # type: ignore[type-arg]
    before = [r for t, r in timed if t < onset_s]
    after = [r for t, r in timed if t >= onset_s]
    kept = after[WARMUP:] if onset_s > 0 else (before + after)[WARMUP:]
    return [{name: (res.state, res.score) for name, res in r.items()} for r in kept]


def run_case(index: int, profile: str) -> Row:
    case = qc.cases()[index]
    options, gop, frames = qc.PROFILES[profile]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "case.h264"
        encode_h264(case.make()[:frames], target, fps=qc.FPS, gop=gop, options=options, label="CAM01 EVAL")
        thresholds = NIGHT_THRESHOLDS if case.night else DEFAULT_THRESHOLDS
        reference = None
        if case.installed is not None:
            reference = Reference.from_prepared(prepare(case.installed(), thresholds)).to_bytes()
        setup = SamplerSetup(0.0, thresholds, reference)
        timed = replay_timed(target, "h264", qc.FPS, setup)
    samples = _counted(timed, case.onset_s)
    return {"case": case.name, "profile": profile, "fault": case.fault, "samples": samples,
            "seconds": time.perf_counter() - started}  # fmt: skip


def run_synthetic(name: str, path: Path, codec: str, fps: float, installed: bytes | None) -> Row:
    timed = replay_timed(path, codec, fps, SamplerSetup(0.0, reference=installed), loops=4)
    return {"case": f"synthetic {name}", "profile": "sim", "fault": SYNTHETIC[name], "samples": _counted(timed, 0.0)}


def first_keyframe(path: Path) -> npt.NDArray[np.uint8]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)
    raise ValueError(f"{path} has no picture")


def summarise(rows: list[Row]) -> tuple[dict[str, list[int]], dict[str, list[int]], dict[str, list[int]]]:
    """Per check: [false alarms, clean samples]; per fault: [detected, samples]; per fault: [cases, cases
    detected in at least one sample]."""
    false_alarms: dict[str, list[int]] = {name: [0, 0] for name in CHECK_NAMES}
    detection: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    cases: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        samples = row["samples"]
        assert isinstance(samples, list)
        fault = row["fault"]
        if fault is None:
            for sample in samples:
                for name in CHECK_NAMES:
                    false_alarms[name][1] += 1
                    false_alarms[name][0] += sample[name][0] == "fail"
        else:
            assert isinstance(fault, str)
            hits = sum(sample[fault][0] == "fail" for sample in samples)
            detection[fault][0] += hits
            detection[fault][1] += len(samples)
            cases[fault][0] += 1
            cases[fault][1] += hits > 0
    return false_alarms, detection, cases


def _pct(n: int, d: int) -> str:
    return "-" if d == 0 else f"{100 * n / d:.1f} % ({n}/{d})"


def _span(samples: list[dict[str, tuple[str, float]]], name: str) -> str:
    values = [s[name][1] for s in samples if not math.isnan(s[name][1])]
    return f"{min(values):.2f}..{max(values):.2f}" if values else "-"


def render(rows: list[Row]) -> str:
    false_alarms, detection, cases = summarise(rows)
    lines = [
        "| check | false alarms on clean live footage | detected in fault samples | fault streams detected |",
        "|---|---|---|---|",
    ]
    for name in CHECK_NAMES:
        fa = false_alarms[name]
        det = detection.get(name, [0, 0])
        streams = cases.get(name, [0, 0])
        lines.append(f"| `{name}` | {_pct(fa[0], fa[1])} | {_pct(det[0], det[1])} | {streams[1]}/{streams[0]} |")
    lines += [
        "",
        "| case | encoder | samples | fails (check: samples) | frozen / shake / stripes scores |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        samples = row["samples"]
        assert isinstance(samples, list)
        fails: dict[str, int] = defaultdict(int)
        for sample in samples:
            for name, (state, _) in sample.items():
                fails[name] += state == "fail"
        shown = ", ".join(f"{'**' if n == row['fault'] else ''}{n}{'**' if n == row['fault'] else ''}: {c}"
                          for n, c in fails.items() if c) or "none"  # fmt: skip

        scores = " / ".join(_span(samples, name) for name in ("frozen", "shake", "stripes"))
        lines.append(f"| {row['case']} | {row['profile']} | {len(samples)} | {shown} | {scores} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", default=None, help="only the cases whose name contains this")
    parser.add_argument("--no-synthetic", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write every sample's states here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    all_cases = qc.cases()
    jobs = [(i, p) for i, c in enumerate(all_cases) for p in qc.PROFILES if args.only is None or args.only in c.name]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run_case, *zip(*jobs, strict=True))) if jobs else []
        if not args.no_synthetic and args.only is None:
            clips = {**make_clips(REPO / "samples" / "clips"), **make_fault_clips(REPO / "samples" / "clips")}
            fault_names = {spec.name for spec in FAULT_CLIPS}
            wanted = [n for n in SYNTHETIC if n in clips and (n in fault_names or SYNTHETIC[n] != "blank")]
            # The fault clips are the entrance scene with one fault; the camera was set up on the clean
            # scene, which the "moved" clip shows before it turns.
            entrance = Reference.from_prepared(prepare(first_keyframe(clips["moved"].path))).to_bytes()
            installed = [entrance if n in fault_names else None for n in wanted]
            paths, codecs, rates = ([getattr(clips[n], a) for n in wanted] for a in ("path", "codec", "fps"))
            rows += list(pool.map(run_synthetic, wanted, paths, codecs, rates, installed))
    print(render(rows))
    print(f"\n{len(rows)} streams in {time.perf_counter() - started:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
