"""The frozen-picture verdict on real footage, end to end: the still lawn of vtest.avi (PETS 2009, from
Debian's opencv-doc) served by the real GStreamer RTSP server to a running `gateway run`.

A live camera watching a still scene must stay online with ``frozen`` passing: its picture is still,
but its sensor noise is not. The same real frame repeated by a stuck encoder, with the clock running,
must read "picture frozen" within three samples.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.clips import ClipInfo
from sim.server import RtspServerProcess
from tests.support.gateway import Site, camera, child_env

pytestmark = pytest.mark.integration

SAMPLE_INTERVAL_S = 1.9  # one sample per 2 s GOP: each sample takes its keyframe and the next one


def _frozen_verdict(camera: dict[str, Any]) -> dict[str, Any] | None:
    quality = camera["measured"]["quality"] if camera.get("measured") else None
    return next((q for q in quality or [] if q["name"] == "frozen"), None)


def test_still_lawn_is_live_and_the_repeated_frame_is_frozen(
    tmp_path: Path, gateway_storage_url: str, lawn_clips: dict[str, ClipInfo]
) -> None:
    password = secrets.token_urlsafe(10)
    mounts = [("/lawn", lawn_clips["lawn_live"]), ("/stuck", lawn_clips["lawn_frozen"])]
    with RtspServerProcess(mounts, username="cam", password=password) as server:
        cams = [camera("lawn-live", server.url("/lawn")), camera("lawn-frozen", server.url("/stuck"))]
        site = Site(tmp_path, gateway_storage_url, cams, child_env(IT_PW=password))
        config = yaml.safe_load(site.path.read_text())
        config["supervisor"]["quality_interval_s"] = SAMPLE_INTERVAL_S
        # The footage runs at 10 fps, as PETS 2009 was filmed; and the verdict must not depend on the hour.
        config["policy"] = {"min_fps": 8, "quality": {"night": None}}
        site.path.write_text(yaml.safe_dump(config))
        site.proc.start()
        samples: dict[str, list[dict[str, Any]]] = {"lawn-live": [], "lawn-frozen": []}
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                cams_now = site.cameras()
                for cid, seen in samples.items():
                    verdict = _frozen_verdict(cams_now[cid])
                    # Each sample says how it was judged (its noise figure, "k/3"): a new detail is a new sample.
                    if verdict is not None and (not seen or seen[-1]["detail"] != verdict["detail"]):
                        seen.append(verdict)
                frozen_seen = [v["state"] for v in samples["lawn-frozen"]]
                if (
                    len(samples["lawn-live"]) >= 5
                    and "fail" in frozen_seen
                    and cams_now["lawn-frozen"]["state"] == "degraded"
                ):
                    break
                time.sleep(0.3)
        finally:
            site.proc.stop()
    live, stuck = cams_now["lawn-live"], cams_now["lawn-frozen"]
    assert live["state"] == "online", (live["state"], live["reason"])
    verdicts = {q["name"]: q for q in live["measured"]["quality"]}
    assert not [q for q in verdicts.values() if q["state"] == "fail"], verdicts
    live_samples = samples["lawn-live"]
    assert len(live_samples) >= 5 and all(v["state"] == "pass" for v in live_samples), live_samples
    assert all("live picture" in v["detail"] for v in live_samples), live_samples
    # Real sensor noise between two keyframes 2 s apart, far above the "repeat" bound (0.10 levels).
    assert min(v["score"] for v in live_samples) > 0.4, live_samples

    assert stuck["state"] == "degraded" and "picture frozen" in stuck["reason"], (stuck["state"], stuck["reason"])
    states = [v["state"] for v in samples["lawn-frozen"]]
    assert "fail" in states[:3], samples["lawn-frozen"]  # within three samples
    assert all(v["score"] <= 0.1 for v in samples["lawn-frozen"] if v["state"] == "fail"), samples["lawn-frozen"]
