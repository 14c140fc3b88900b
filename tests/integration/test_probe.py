"""`gateway probe` against the real RTSP server."""

from __future__ import annotations

import json

import pytest

from adapters.common.redact import with_credentials
from sim.clips import ClipInfo
from sim.server import RtspServerProcess
from tests.support.gateway import child_env, run_cli
from tests.support.ports import free_port

pytestmark = pytest.mark.integration


def test_probe_measures_streams_in_parallel(sim_clips: dict[str, ClipInfo]) -> None:
    mounts = [("/a", sim_clips["hd_h264"]), ("/b", sim_clips["hd_h265"]), ("/c", sim_clips["hd720_h264"])]
    with RtspServerProcess(mounts, username="viewer", password="probe-pass-1") as server:
        urls = [server.url(p) for p, _ in mounts] + [server.url("/missing"), f"rtsp://127.0.0.1:{free_port()}/x"]
        env = child_env(PROBE_PW="probe-pass-1")
        done = run_cli(["probe", "--json", "--user", "viewer", "--password-env", "PROBE_PW", *urls], env)
        table = run_cli(["probe", with_credentials(urls[0], "viewer", "probe-pass-1")], env)
    assert done.returncode == 1  # two of the streams failed
    results = json.loads(done.stdout)
    assert [r["url"] for r in results] == [u.replace("rtsp://", "rtsp://viewer:***@") for u in urls]
    for result, (_, clip) in zip(results, mounts, strict=False):
        assert result["ok"], result
        assert (result["codec"], result["width"], result["height"]) == (clip.codec, clip.width, clip.height)
        assert result["fps"] == pytest.approx(clip.fps, abs=0.5)
        assert result["gop_frames"] == clip.gop
        # Two keyframes are enough: one GOP plus the wait for the first keyframe.
        assert result["seconds"] < 2 * clip.gop / clip.fps + 1.5
    assert [r["reason"] for r in results[3:]] == ["not found", "refused"]
    assert "probe-pass-1" not in done.stdout + done.stderr
    assert table.returncode == 0 and "probe-pass-1" not in table.stdout
    assert "rtsp://viewer:***@" in table.stdout and "1920x1080" in table.stdout


def test_probe_rejects_non_rtsp_urls() -> None:
    done = run_cli(["probe", "http://127.0.0.1/x"], child_env(LANGUAGE="en"))
    assert done.returncode == 2 and "not an rtsp:// or onvif:// URL" in done.stderr
    # Without a locale that names a language (and no config): Chinese, the default.
    done = run_cli(["probe", "http://127.0.0.1/x"], child_env(LANG="C.UTF-8", LANGUAGE="", LC_ALL=""))
    assert done.returncode == 2 and "错误：不是 rtsp:// 或 onvif:// 地址：http://127.0.0.1/x" in done.stderr
