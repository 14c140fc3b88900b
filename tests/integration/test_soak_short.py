"""The soak (scripts/soak.py) in about a minute: a real gateway, six RTSP cameras, four of them flapping.

The long run (hours) is `make soak`; this is the same code on the fast schedule, so a leak of an fd or a
thread per reconnect, a process left behind, or a flap the history misses fails CI.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from scripts import soak
from sim.clips import ClipInfo

pytestmark = pytest.mark.integration


def test_short_soak_is_flat_and_records_every_flap(tmp_path: Path, sim_clips: dict[str, ClipInfo]) -> None:
    clips_dir = next(iter(sim_clips.values())).path.parent
    # Three cycles: one of warm-up, then two that must come back to its level.
    result = soak.soak(3 * soak.FAST.cycle_s, soak.FAST, tmp_path / "soak", clips_dir=clips_dir, log=lambda _: None)
    summary = result.summary
    assert result.ok, (result.problems, json.dumps(summary, indent=1))
    # Every fault kind happened and each one is one stored offline episode, with the reason it deserves.
    cams = summary["cameras"]
    for cid, cam in cams.items():
        assert cam["recorded"] == cam["scheduled"] == cam["offline_episodes"], (cid, cam)
        assert cam["scheduled"] == (0 if cam["kind"] == "control" else 3), (cid, cam)
    # A frozen server is told from a dead one; a camera that answers, but not for its stream path, too.
    assert "stalled" in cams["cam-stall"]["reasons"], cams["cam-stall"]
    assert "not found" in cams["cam-unmount"]["reasons"], cams["cam-unmount"]
    assert summary["flaps"] == {"scheduled": 12, "done": 12, "recorded": 12, "spurious": 0}
    # Flat: fds, threads and reader processes back at the warm-up level after each later cycle.
    quiet = summary["quiet"]
    for name in ("fds", "threads", "children"):
        assert len(quiet[name]["after_cycles"]) == 2, quiet
        assert quiet[name]["max"] <= quiet[name]["warmup"] + quiet[name]["tolerance"], (name, quiet[name])
    # RSS only loosely: a minute says nothing about a slope per hour.
    assert summary["rss"]["max_mib"] - summary["rss"]["warmup_end_mib"] < soak.FAST.rss_growth_limit_mib
    assert summary["api"]["errors"] == 0 and summary["api"]["polls"] > 20
    assert summary["gateway_exit_code"] == 0
    with (result.out_dir / "samples.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 40 and all(int(r["fds"]) > 0 and int(r["threads"]) > 0 for r in rows)
    assert (result.out_dir / "summary.md").read_text().startswith("# Soak soak: flat")


def _sample(cycle: int, tag: str, fds: int, t: float) -> soak.Sample:
    return soak.Sample(t, t, tag, cycle, 200_000, fds, 17, 0, 0, 0, 0, 0, 6)


def test_the_judge_sees_a_leak_and_a_missed_flap(tmp_path: Path) -> None:
    # The judgement alone, on figures made up to leak three fds a cycle (the tolerance is four), with no
    # stored history at all.
    flaps = soak.schedule(soak.FAST, 3)
    for flap in flaps:
        flap.down_at, flap.up_at = 1000 + flap.at_s, 1000 + flap.at_s + flap.outage_s
    samples = [_sample(c, "quiet", 30 + 3 * c, 19.0 * (c + 1)) for c in range(3)]
    result = soak.judge(soak.FAST, flaps, samples, tmp_path / "none.db", 1000, 0, [], (10, []), [], tmp_path)
    assert not result.ok
    assert any(p.startswith("fds not back to the warm-up level: 30 -> [33, 36]") for p in result.problems)
    assert "12 of 12 flaps not in the stored state changes" in result.problems
    assert not any(p.startswith("threads") for p in result.problems), result.problems
