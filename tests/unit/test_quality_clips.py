"""Quality checks on the simulator's encoded clips, decoded keyframe by keyframe as the gateway samples them.

Each fault clip (gateway/sim/clips.py: FAULT_CLIPS, plus "frozen" and "dark" of CLIPS) must fail its
check on every keyframe without piling unrelated alarms on top; every clean clip must pass every check
on every keyframe. The clips are made (or reused) by the session fixtures of tests/conftest.py.
"""

from __future__ import annotations

import itertools
from typing import cast

import av
import numpy as np
import numpy.typing as npt
import pytest
from av.video.codeccontext import VideoCodecContext

from gateway.quality import CheckResult, FrozenTracker, Reference, diagnose, prepare
from gateway.sim.clips import ClipInfo

Results = dict[str, CheckResult]

_DECODERS = {"h264": "h264", "h265": "hevc"}

CLEAN = ["hd_h264", "hd_h265", "sd_h264", "hd720_h264", "hd720_h265"]

# fault clip -> (the check that must fail, other checks allowed to fail with it). A black picture is
# also dark and never changes; the dark clip is a night yard where nothing moves.
FAULTS: dict[str, tuple[str, set[str]]] = {
    "black": ("blank", {"dark", "frozen"}),
    "dark": ("dark", {"frozen"}),
    "covered": ("occlusion", set()),
    "colour_cast": ("colour_cast", set()),
    "noisy": ("noise", set()),
    "blurred": ("blur", set()),
}


def keyframes(clip: ClipInfo) -> list[npt.NDArray[np.uint8]]:
    """Every keyframe of the clip as BGR, each decoded alone by a fresh decoder, as KeyframeSampler does."""
    images = []
    with av.open(str(clip.path), format=_DECODERS[clip.codec]) as container:
        for packet in container.demux(video=0):
            if packet.is_keyframe and packet.size:
                decoder = cast(VideoCodecContext, av.CodecContext.create(_DECODERS[clip.codec], "r"))
                frames = list(decoder.decode(av.Packet(bytes(packet)))) + list(decoder.decode(None))
                images.append(cast("npt.NDArray[np.uint8]", frames[-1].to_ndarray(format="bgr24")))
    return images


def diagnose_clip(clip: ClipInfo) -> list[Results]:
    """The checks on each keyframe in turn: a frozen window of 3 samples, the first keyframe as the reference."""
    tracker = FrozenTracker(3)
    frames = keyframes(clip)
    assert len(frames) >= 4, f"{clip.name}: too few keyframes ({len(frames)}) to fill the frozen window"
    reference = Reference.from_prepared(prepare(frames[0]))
    return [{r.name: r for r in diagnose(prepare(f), frozen=tracker, reference=reference)} for f in frames]


def failed(results: Results) -> set[str]:
    return {name for name, r in results.items() if r.state == "fail"}


@pytest.fixture(scope="module")
def clips(sample_clips: dict[str, ClipInfo], fault_clips: dict[str, ClipInfo]) -> dict[str, ClipInfo]:
    return {**sample_clips, **fault_clips}


@pytest.mark.parametrize("name", CLEAN)
def test_clean_clip_passes_every_check_on_every_keyframe(clips: dict[str, ClipInfo], name: str) -> None:
    per_frame = diagnose_clip(clips[name])
    for i, results in enumerate(per_frame):
        assert failed(results) == set(), (i, [r for r in results.values() if r.state == "fail"])
        filling = {"frozen"} if i < 2 else set()  # the frozen window holds 3 samples
        assert {n for n, r in results.items() if r.state != "pass"} == filling, (i, results)


@pytest.mark.parametrize(
    "name",
    FAULTS,
)
def test_fault_clip_fails_its_check_on_every_keyframe(clips: dict[str, ClipInfo], name: str) -> None:
    check, allowed = FAULTS[name]
    for i, results in enumerate(diagnose_clip(clips[name])):
        assert results[check].state == "fail", (i, results[check])
        assert failed(results) - allowed - {check} == set(), (i, [r for r in results.values() if r.state == "fail"])


def test_black_clip_is_not_judged_on_content(clips: dict[str, ClipInfo]) -> None:
    for results in diagnose_clip(clips["black"]):
        assert "black" in results["blank"].detail
        for name in ("blur", "occlusion", "colour_cast", "noise", "scene_change"):
            assert results[name].state == "not_checkable", results[name]


def test_frozen_clip_with_a_running_clock_is_frozen_once_the_window_fills(clips: dict[str, ClipInfo]) -> None:
    clip = clips["frozen"]
    frames = keyframes(clip)
    # The clock runs: every keyframe (one per GOP, 2 s apart) differs from the previous one in the clock's
    # rows (its seconds digits: ~0.2 % of those pixels); elsewhere only a few pixels differ (coding noise).
    top = clip.height // 10
    for older, newer in itertools.pairwise(frames):
        changed = np.abs(older.astype(np.int16) - newer.astype(np.int16)).max(axis=2) > 40
        assert changed[:top].mean() > 0.001, "the OSD clock should run on a frozen picture"
        assert changed[top:].mean() < changed[:top].mean() / 20, "only the clock may change"
    per_frame = diagnose_clip(clip)
    assert [r["frozen"].state for r in per_frame] == ["not_checkable"] * 2 + ["fail"] * (len(per_frame) - 2)
    assert all(failed(r) <= {"frozen"} for r in per_frame), per_frame


def test_moved_clip_is_a_scene_change_after_the_turn(clips: dict[str, ClipInfo]) -> None:
    clip = clips["moved"]
    per_frame = diagnose_clip(clip)
    # The camera is turned half way through the clip; keyframe i is frame i * gop.
    turned = [i * clip.gop >= clip.frames / 2 for i in range(len(per_frame))]
    assert turned.count(False) >= 3 and turned.count(True) >= 3
    assert [r["scene_change"].state for r in per_frame] == ["fail" if t else "pass" for t in turned]
    assert all(failed(r) <= {"scene_change"} for r in per_frame), per_frame
    assert "scene changed" in per_frame[-1]["scene_change"].detail
