"""Clip generation: loop arithmetic, cache behaviour and the structure of a real (short, small) clip."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from sim import clips
from sim.clips import ClipInfo, loop_frames, make_clips


def test_clip_length_is_a_whole_number_of_gops() -> None:
    assert loop_frames(8.0, 25, 50) == 200
    assert loop_frames(2.0, 25, 50) == 50
    assert loop_frames(0.4, 25, 50) == 50  # never shorter than one GOP
    assert loop_frames(7.9, 25, 50) == 200


def test_people_walk_in_seamless_loops() -> None:
    sprite = clips._Sprite(np.zeros((100, 40, 3), np.float32), np.ones((100, 40, 1), np.float32))
    walker = clips._Walker(sprite, feet_y=0.9, laps=2, steps=7, phase=0.3, leftwards=True)
    frames = 200
    positions = [walker.position(n, frames, 704) for n in range(frames + 1)]
    assert positions[0] == positions[frames]
    assert len({x for x, _ in positions}) == frames // walker.laps  # they move, and repeat per lap


def test_unknown_clip_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nope"):
        make_clips(tmp_path, names=["nope"])


@pytest.fixture(scope="module")
def short_sd(tmp_path_factory: pytest.TempPathFactory) -> ClipInfo:
    return make_clips(tmp_path_factory.mktemp("clips"), seconds=2.0, names=["sd_h264"])["sd_h264"]


def test_clip_is_one_closed_gop_loop(short_sd: ClipInfo) -> None:
    assert (short_sd.width, short_sd.height, short_sd.fps, short_sd.frames, short_sd.gop) == (704, 576, 25, 50, 50)
    with av.open(str(short_sd.path), format="h264") as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (704, 576)
        keys = [p.is_keyframe for p in container.demux(stream) if p.size]
    assert keys == [True] + [False] * 49


def test_cache_is_reused_until_the_generator_changes(short_sd: ClipInfo) -> None:
    out_dir = short_sd.path.parent
    sidecar = out_dir / "sd_h264.json"
    stamp = short_sd.path.stat().st_mtime_ns
    assert make_clips(out_dir, seconds=2.0, names=["sd_h264"])["sd_h264"] == short_sd
    assert short_sd.path.stat().st_mtime_ns == stamp

    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "generator_version": meta["generator_version"] - 1}))
    make_clips(out_dir, seconds=2.0, names=["sd_h264"])
    assert short_sd.path.stat().st_mtime_ns != stamp
    assert json.loads(sidecar.read_text()) == meta

    stamp = short_sd.path.stat().st_mtime_ns
    make_clips(out_dir, seconds=2.0, names=["sd_h264"], force=True)
    assert short_sd.path.stat().st_mtime_ns != stamp
    assert not list(out_dir.glob(".*.part")), "temporary files are renamed or removed"


def test_a_different_length_is_not_taken_from_the_cache(short_sd: ClipInfo) -> None:
    longer = make_clips(short_sd.path.parent, seconds=4.0, names=["sd_h264"])["sd_h264"]
    assert longer.frames == 100
    with av.open(str(longer.path), format="h264") as container:
        assert sum(1 for p in container.demux(container.streams.video[0]) if p.size) == 100
