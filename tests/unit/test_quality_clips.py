"""Quality checks on the simulator's encoded clips, decoded keyframe by keyframe as the gateway samples them.

Each fault clip (sim/clips.py: FAULT_CLIPS, plus "frozen" and "dark" of CLIPS) must fail its
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

from gateway.quality.checks import diagnose
from gateway.quality.frames import CheckResult, prepare
from gateway.quality.replay import replay
from gateway.quality.sampler import SamplerSetup
from gateway.quality.scene import Reference, SceneTracker
from gateway.quality.temporal import FrozenTracker
from sim.clips import ClipInfo

Results = dict[str, CheckResult]

_DECODERS = {"h264": "h264", "h265": "hevc"}

CLEAN = ["hd_h264", "hd_h265", "sd_h264", "hd720_h264", "hd720_h265"]

# fault clip -> (the check that must fail, other checks allowed to fail with it). A black picture is
# also dark and never changes; the dark clip is a night yard where nothing moves.
FAULTS: dict[str, tuple[str, set[str]]] = {
    "black": ("blank", {"dark", "frozen"}),
    "dark": ("dark", set()),  # a night yard with grain: live, not frozen
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


def diagnose_clip(clip: ClipInfo, loops: int = 2, installed: bytes | None = None) -> list[Results]:
    """The gateway's own sampler over the clip, played ``loops`` times as a camera would send it: one
    sample per keyframe (with the next keyframe as its second picture). The camera's reference is
    ``installed`` (the picture it showed when set up) or, without one, its first good sample."""
    per_sample = replay(clip.path, clip.codec, clip.fps, SamplerSetup(0.0, reference=installed), loops=loops)
    assert len(per_sample) >= 4, f"{clip.name}: too few samples ({len(per_sample)}) to fill the frozen window"
    return per_sample


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
        assert {n for n, r in results.items() if r.state != "pass"} == set(), (i, results)


@pytest.mark.parametrize(
    "name",
    FAULTS,
)
def test_fault_clip_fails_its_check_on_every_keyframe(clips: dict[str, ClipInfo], name: str) -> None:
    check, allowed = FAULTS[name]
    # Each fault clip is the entrance scene with one fault; the camera was set up on the clean scene,
    # which the "moved" clip shows before it turns. (A camera whose picture had the colour cast when it
    # was set up sees it as its usual colour: docs/quality.md.)
    installed = Reference.from_prepared(prepare(keyframes(clips["moved"])[0])).to_bytes()
    for i, results in enumerate(diagnose_clip(clips[name], installed=installed)):
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
    per_sample = diagnose_clip(clip, loops=3)
    # Each sample is a repeat (its keyframe and the next differ by the clock only); three in a row fail.
    assert [r["frozen"].state for r in per_sample] == ["not_checkable"] * 2 + ["fail"] * (len(per_sample) - 2)
    assert "1/3" in per_sample[0]["frozen"].detail and "only the clock changes" in per_sample[2]["frozen"].detail
    assert all(failed(r) <= {"frozen"} for r in per_sample), per_sample


def test_moved_clip_is_a_scene_change_once_confirmed(clips: dict[str, ClipInfo]) -> None:
    clip = clips["moved"]
    frames = keyframes(clip)
    # The camera is turned half way through the clip; keyframe i is frame i * gop.
    turned = [i * clip.gop >= clip.frames / 2 for i in range(len(frames))]
    assert turned.count(False) >= 3 and turned.count(True) >= 3
    reference = Reference.from_prepared(prepare(frames[0]))
    frozen, scene = FrozenTracker(3), SceneTracker()
    per_frame = [
        {r.name: r for r in diagnose(prepare(f), frozen=frozen, reference=reference, scene=scene)} for f in frames
    ]
    # A differing view counts only from its third sample in a row: the first two are "confirming".
    first = turned.index(True)
    expected = ["pass"] * (first + 2) + ["fail"] * (len(frames) - first - 2)
    assert [r["scene_change"].state for r in per_frame] == expected
    assert "confirming" in per_frame[first]["scene_change"].detail
    assert "scene changed" in per_frame[-1]["scene_change"].detail
    assert all(failed(r) <= {"scene_change"} for r in per_frame), per_frame
