"""Camera-side faults against one real `gateway run` and real GStreamer RTSP cameras on 127.0.0.1.

One site with one camera per fault keeps the suite inside its CI budget: the faults run in sequence
on a shared gateway, and each test checks only its own camera's states and history, against the
times it recorded when it injected and removed the fault.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from gateway.health.policy import MIN_REALTIME_RATIO, SLOW_DELIVERY, SLOW_DELIVERY_REASON
from sim.clips import ClipInfo
from sim.onvif_device import OnvifDeviceServer
from sim.server import RtspServerProcess
from tests.support.faultproxy import FaultProxy
from tests.support.faulttable import FaultRow, FaultTable
from tests.support.gateway import Site, camera, child_env
from tests.support.storage import new_url, read
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

# The site's timeouts, shorter than the defaults as a site that wants quick alarms would set them.
CONNECT_S, STALL_S, BACKOFF_MAX_S, AUTH_RETRY_S, ONVIF_REFRESH_S = 3.0, 3.0, 2.0, 3.0, 5.0
# Polling, a busy 2-core CI machine and reconnect jitter: the margin on every bound.
SLACK_S = 4.0
DETECT_DROP_S = STALL_S + SLACK_S  # a connection that breaks or goes silent
# A link cut far below the bitrate: slow from the delivery ratio, or, when a keyframe is caught in the
# cut (bytes trickle, no frame for many seconds), once the session has gone two stall timeouts
# without a frame (gateway.supervisor.FRAME_SILENCE_STALLS).
DETECT_SLOW_S = 2 * STALL_S + SLACK_S
RECOVER_S = BACKOFF_MAX_S + CONNECT_S + SLACK_S  # the next retry after the camera is back
HOLD_S = 5.0  # how long each fault lasts
TOL_S = 2.0  # history against ground truth


@dataclass
class Rig:
    site: Site
    password: str
    killed: RtspServerProcess
    lowres: RtspServerProcess
    auth: RtspServerProcess
    blackhole: FaultProxy
    throttle: FaultProxy
    onvif: OnvifDeviceServer
    clips: dict[str, ClipInfo]
    started: float


@pytest.fixture(scope="module")
def rig(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sim_clips: dict[str, ClipInfo]
) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("camera-faults")
    password = secrets.token_urlsafe(12)
    hd720, hd = sim_clips["hd720_h264"], sim_clips["hd_h264"]
    shared = RtspServerProcess([("/bh", hd720), ("/thr", hd720), ("/clock", hd720)], username="cam", password=password)
    killed = RtspServerProcess([("/cam", hd720)], username="cam", password=password)
    lowres = RtspServerProcess([("/cam", hd)], username="cam", password=password)
    auth_cam = RtspServerProcess([("/cam", hd720)], username="cam", password=password)
    servers = [shared, killed, lowres, auth_cam]
    for server in servers:
        server.start()
    blackhole = FaultProxy(("127.0.0.1", shared.port)).start()
    throttle = FaultProxy(("127.0.0.1", shared.port)).start()
    onvif = OnvifDeviceServer("generic", "cam", password, main_uri=shared.url("/clock"), auth="wsse").start()
    cams = [
        camera("killed", killed.url("/cam")),
        camera("blackhole", blackhole.url("/bh")),
        camera("throttle", throttle.url("/thr")),
        camera("lowres", lowres.url("/cam")),
        camera("auth", auth_cam.url("/cam")),
        {
            "id": "clock",
            "name": "clock",
            "source": {"onvif": {"host": "127.0.0.1", "port": onvif.port}},
            "credentials": {"username": "cam", "password": {"env": "IT_PW"}},
            "zones": ["gate"],
        },
    ]
    site = Site(tmp, new_url(request, tmp), cams, child_env(IT_PW=password))
    config = yaml.safe_load(site.path.read_text())
    config["supervisor"].update(
        connect_timeout_s=CONNECT_S,
        stall_timeout_s=STALL_S,
        backoff_max_s=BACKOFF_MAX_S,
        auth_retry_s=AUTH_RETRY_S,
    )
    config["onvif"] = {"refresh_s": ONVIF_REFRESH_S, "timeout_s": 3}
    site.path.write_text(yaml.safe_dump(config))
    started = time.time()
    try:
        site.proc.start()
        site.wait_for({c["id"]: "online" for c in cams if c["id"] != "lowres"} | {"lowres": "online"}, timeout=40)
        yield Rig(site, password, killed, lowres, auth_cam, blackhole, throttle, onvif, sim_clips, started)
    finally:
        if site.proc.proc is not None:
            site.proc.stop()
        blackhole.stop()
        throttle.stop()
        onvif.stop()
        for server in servers:
            server.stop()
    log = site.proc.log()
    assert password not in log, "a camera password reached the log"
    assert "Traceback" not in log, log[-4000:]


def _wait(rig: Rig, cid: str, ok: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> dict[str, Any]:
    started = time.monotonic()
    cam: dict[str, Any] = {}
    # What the gateway measured on the way, for the failure message: a bound missed says why.
    seen: list[str] = []

    def reached() -> dict[str, Any] | None:
        nonlocal cam
        cam = rig.site.cameras()[cid]
        if ok(cam):
            return cam
        m = cam.get("measured") or {}
        seen.append(
            f"{time.monotonic() - started:.1f}s {cam.get('state')} ratio={m.get('realtime_ratio')} "
            f"fps={m.get('fps')} packets={m.get('packets')}"
        )
        return None

    def trail() -> str:
        return f"{cid} {what}: {cam.get('state')} ({cam.get('reason')}); {'; '.join(seen[::5])}"

    return wait_until(trail, reached, timeout, interval=0.1)


def _in(state: str, reason: str | None = None) -> Callable[[dict[str, Any]], bool]:
    return lambda c: c["state"] == state and (reason is None or c["reason"] == reason)


def _history(rig: Rig, cid: str, injected: float, removed: float, down: bool) -> tuple[float, list[dict[str, Any]]]:
    """Check the uptime history of a camera over the rig's life against the fault's truth.

    Returns the seconds of history that disagree with the truth (the table's "lost") and the outages.
    """
    time.sleep(1.5)  # the history writer batches
    now = time.time()
    uptime = rig.site.get(f"/api/v1/cameras/{cid}/uptime?from={rig.started}&to={now}")
    seconds = uptime["seconds"]
    window = now - rig.started
    # Every second of the window counted once: no overlap, no hole.
    assert sum(seconds.values()) == pytest.approx(window, abs=0.5), (seconds, window)
    outages = uptime["outages"]
    assert uptime["down_s"] == pytest.approx(sum(o["duration_s"] for o in outages), abs=0.01)
    for a, b in itertools.pairwise(outages):
        assert a["end"] <= b["start"], outages
    rows = rig.site.state_rows(cid)
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    if not down:
        assert outages == [], outages
        return 0.0, outages
    [outage] = outages  # one fault, one outage: retries write no history of their own
    assert injected - TOL_S <= outage["start"] <= injected + DETECT_DROP_S, (outage, injected)
    assert removed - TOL_S <= outage["end"] <= removed + RECOVER_S, (outage, removed)
    # Up before and after, and nothing else down: the fault cost no uptime outside itself.
    truth = removed - injected
    assert outage["duration_s"] == pytest.approx(truth, abs=DETECT_DROP_S + RECOVER_S)
    return abs(outage["duration_s"] - truth), outages


def test_rtsp_server_killed_and_restarted(rig: Rig, fault_table: FaultTable) -> None:
    _wait(rig, "killed", _in("online"), 10, "online")
    injected = time.time()
    rig.killed.kill()
    cam = _wait(rig, "killed", _in("offline"), DETECT_DROP_S, "offline")
    detected = time.time() - injected
    assert cam["reason"] in ("stream ended", "refused"), cam
    time.sleep(max(0.0, HOLD_S - (time.time() - injected)))
    rig.killed.start()
    removed = time.time()
    _wait(rig, "killed", _in("online"), RECOVER_S, "back online")
    recovered = time.time() - removed
    off_by, _ = _history(rig, "killed", injected, removed, down=True)
    fault_table.record(
        FaultRow(
            "RTSP server killed and restarted",
            detected,
            recovered,
            f"detect <= {DETECT_DROP_S:g} s, recover <= {RECOVER_S:g} s",
            f"0 s uptime lost; outage {off_by:.1f} s off the truth",
            "0 (intervals sum to the window)",
            f"reason '{cam['reason']}'",
        )
    )


def _silent_link(rig: Rig, cid: str, proxy: FaultProxy, name: str, rate_bps: float, fault_table: FaultTable) -> None:
    """Blackhole or throttle the camera's TCP link for HOLD_S, then let it flow again."""
    _wait(rig, cid, _in("online"), RECOVER_S, "online")
    injected = time.time()
    proxy.set_mode("blackhole" if rate_bps == 0 else "throttle", rate_bps)
    cam = _wait(rig, cid, lambda c: c["state"] in ("offline", "degraded"), DETECT_DROP_S, "offline or degraded")
    detected = time.time() - injected
    time.sleep(max(0.0, HOLD_S - (time.time() - injected)))
    seen = rig.site.cameras()[cid]
    proxy.set_mode("pass")
    removed = time.time()
    _wait(rig, cid, _in("online"), RECOVER_S + STALL_S, "back online")
    recovered = time.time() - removed
    down = cam["state"] == "offline"
    off_by, _ = _history(rig, cid, injected, removed, down=down)
    fault_table.record(
        FaultRow(
            name,
            detected,
            recovered,
            f"detect <= {DETECT_DROP_S:g} s, recover <= {RECOVER_S + STALL_S:g} s",
            f"0 s uptime lost; outage {off_by:.1f} s off the truth",
            "0 (intervals sum to the window)",
            f"{cam['state']} '{cam['reason']}', then '{seen['reason']}'",
        )
    )
    assert cam["state"] == "offline" and cam["reason"] == "stalled", cam


def test_packets_blackholed_without_a_reset(rig: Rig, fault_table: FaultTable) -> None:
    _silent_link(rig, "blackhole", rig.blackhole, "packets blackholed, no reset", 0, fault_table)


def test_bandwidth_cut_far_below_the_bitrate(rig: Rig, fault_table: FaultTable) -> None:
    # The 720p clip runs at about 430 kbit/s; 2 kB/s is a twenty-seventh of it. Frames keep arriving
    # with their timestamps evenly spaced (25 fps in stream time), ever later: only the delivery
    # ratio in arrival time shows it.
    cid, proxy = "throttle", rig.throttle
    _wait(rig, cid, _in("online"), RECOVER_S, "online")
    stalls = 0
    while True:
        injected = time.time()
        proxy.set_mode("throttle", 2000)
        cam = _wait(rig, cid, lambda c: c["state"] in ("offline", "degraded"), DETECT_SLOW_S, "offline or degraded")
        detected = time.time() - injected
        if cam["state"] == "degraded":
            break
        # A keyframe (20-60 kB) caught in the cut takes 10-30 s to arrive, and the stall timeout
        # rightly ends the session first: detected too, as a stall. Try again for the slow path.
        assert cam["reason"] == "stalled", cam
        stalls += 1
        proxy.set_mode("pass")
        _wait(rig, cid, _in("online"), RECOVER_S + STALL_S, "back online after a stall")
        if stalls == 3:
            fault_table.record(
                FaultRow(
                    "bandwidth cut to 16 kbit/s",
                    detected,
                    None,
                    f"detect <= {DETECT_SLOW_S:g} s",
                    "not checked (stalled every time)",
                    "not checked",
                    "offline 'stalled' 3 times: a keyframe caught in the cut each time, slow_delivery not seen",
                )
            )
            return
    assert cam["state"] == "degraded" and cam["reason"] == SLOW_DELIVERY_REASON, cam
    assert cam["measured"]["realtime_ratio"] < MIN_REALTIME_RATIO, cam["measured"]
    assert cam["measured"]["fps"] >= 20, cam["measured"]  # in stream time the stream still looks perfect
    time.sleep(max(0.0, HOLD_S - (time.time() - injected)))
    seen = rig.site.cameras()[cid]
    proxy.set_mode("pass")
    removed = time.time()
    _wait(rig, cid, _in("online"), RECOVER_S + STALL_S, "back online")
    recovered = time.time() - removed
    if stalls == 0:
        _history(rig, cid, injected, removed, down=False)  # degraded is up: no outage
    else:
        time.sleep(1.5)
    rows = [r for r in _state_rows_with_faults(rig, cid) if r[0] >= injected - TOL_S]
    degraded = [r for r in rows if r[1] == "degraded"]
    # Stored once, with its stable code: a report counts incidents by it.
    assert len(degraded) == 1 and degraded[0][3] == [SLOW_DELIVERY], rows
    assert injected <= degraded[0][0] <= injected + DETECT_SLOW_S, (rows, injected)
    assert rows[-1][1] == "online" and removed - TOL_S <= rows[-1][0] <= removed + RECOVER_S + STALL_S, rows
    fault_table.record(
        FaultRow(
            "bandwidth cut to 16 kbit/s",
            detected,
            recovered,
            f"detect <= {DETECT_SLOW_S:g} s, recover <= {RECOVER_S + STALL_S:g} s",
            "0 s uptime lost (degraded is up, not coverage)",
            f"0 (one degraded row{f', after {stalls} stalled attempt(s)' if stalls else ''})",
            f"{cam['state']} ({SLOW_DELIVERY}), then '{seen['state']}'",
        )
    )


def test_camera_replaced_by_a_lower_resolution_one(rig: Rig, fault_table: FaultTable) -> None:
    _wait(rig, "lowres", _in("online"), RECOVER_S, "online")
    sd, hd = rig.clips["sd_h264"], rig.clips["hd_h264"]
    rig.lowres.stop()
    rig.lowres.mounts = [("/cam", sd)]
    injected = time.time()
    rig.lowres.start()
    cam = _wait(rig, "lowres", _in("degraded"), DETECT_DROP_S + RECOVER_S, "degraded")
    detected = time.time() - injected
    assert "below HD" in (cam["reason"] or ""), cam
    assert (cam["measured"]["width"], cam["measured"]["height"]) == (sd.width, sd.height), cam["measured"]
    time.sleep(max(0.0, HOLD_S - (time.time() - injected)))
    rig.lowres.stop()
    rig.lowres.mounts = [("/cam", hd)]
    removed = time.time()
    rig.lowres.start()
    back = _wait(rig, "lowres", _in("online"), DETECT_DROP_S + RECOVER_S, "back online at HD")
    recovered = time.time() - removed
    assert (back["measured"]["width"], back["measured"]["height"]) == (hd.width, hd.height)
    time.sleep(1.5)
    rows = [r for r in _state_rows_with_faults(rig, "lowres") if r[0] >= injected - TOL_S]
    degraded = [r for r in rows if r[1] == "degraded"]
    # Stored with its stable code, once: a report counts incidents by it.
    assert len(degraded) == 1 and degraded[0][3] == ["below_hd"], rows
    assert rows[-1][1] == "online", rows
    now = time.time()
    report = rig.site.get(f"/api/v1/cameras/lowres/uptime?from={rig.started}&to={now}")
    assert report["seconds"].get("degraded", 0) == pytest.approx(removed - injected, abs=DETECT_DROP_S + RECOVER_S)
    assert sum(report["seconds"].values()) == pytest.approx(now - rig.started, abs=0.5)
    fault_table.record(
        FaultRow(
            "camera replaced by 704x576 (was 1080p)",
            detected,
            recovered,
            f"detect <= {DETECT_DROP_S + RECOVER_S:g} s, recover <= {DETECT_DROP_S + RECOVER_S:g} s",
            f"0 s; degraded {report['seconds'].get('degraded', 0):.1f} s for {removed - injected:.1f} s swapped",
            "0 (one degraded row, intervals sum to the window)",
            "fault code below_hd stored",
        )
    )


def _state_rows_with_faults(rig: Rig, cid: str) -> list[tuple[float, str, str | None, Any]]:
    rows = read(
        rig.site.storage_url,
        "SELECT ts, state, reason, faults FROM camera_state_changes WHERE camera_id = :cid ORDER BY ts, id",
        {"cid": cid},
    )
    # JSON comes back as text from SQLite, already parsed from PostgreSQL.
    return [
        (ts, state, reason, json.loads(faults) if isinstance(faults, str) else faults)
        for ts, state, reason, faults in rows
    ]


def test_wrong_password_after_a_reboot(rig: Rig, fault_table: FaultTable) -> None:
    _wait(rig, "auth", _in("online"), RECOVER_S, "online")
    other = secrets.token_urlsafe(12)
    rig.auth.stop()
    rig.auth.set_password(other)
    injected = time.time()
    rig.auth.start()
    cam = _wait(rig, "auth", _in("offline", "auth failed"), DETECT_DROP_S + RECOVER_S, "offline (auth failed)")
    detected = time.time() - injected
    time.sleep(max(0.0, HOLD_S - (time.time() - injected)))
    listing = rig.site.proc.get("/api/v1/cameras", rig.site.token).text
    rig.auth.stop()
    rig.auth.set_password(rig.password)
    removed = time.time()
    rig.auth.start()
    # A refused login is retried only after auth_retry_s, so the bound includes it.
    bound = AUTH_RETRY_S + RECOVER_S
    _wait(rig, "auth", _in("online"), bound, "back online")
    recovered = time.time() - removed
    off_by, [outage] = _history(rig, "auth", injected, removed, down=True)
    assert "auth failed" in outage["reasons"], outage
    for secret in (rig.password, other):
        assert secret not in listing and secret not in rig.site.proc.log()
    fault_table.record(
        FaultRow(
            "wrong password after a reboot",
            detected,
            recovered,
            f"detect <= {DETECT_DROP_S + RECOVER_S:g} s, recover <= {bound:g} s",
            f"0 s uptime lost; outage {off_by:.1f} s off the truth",
            "0 (intervals sum to the window)",
            f"reason '{cam['reason']}'; neither password in log or API",
        )
    )


def test_onvif_clock_jump(rig: Rig, fault_table: FaultTable) -> None:
    def device() -> dict[str, Any]:
        got: dict[str, Any] = rig.site.get("/api/v1/cameras/clock/health")["device"] or {}
        return got

    deadline = time.monotonic() + ONVIF_REFRESH_S + SLACK_S
    while device().get("clock_ok") is not True and time.monotonic() < deadline:
        time.sleep(0.2)
    assert device().get("clock_ok") is True, device()
    bound = ONVIF_REFRESH_S + SLACK_S
    jumps = {}
    for skew in (3600.0, -86400.0):
        injected = time.time()
        rig.onvif.clock_skew_s = skew
        deadline = time.monotonic() + bound
        seen = device()
        while time.monotonic() < deadline:
            seen = device()
            if seen.get("clock_offset_s") is not None and abs(seen["clock_offset_s"] - skew) < 5:
                break
            time.sleep(0.2)
        assert seen.get("clock_offset_s") == pytest.approx(skew, abs=5), seen
        assert seen["clock_ok"] is False
        jumps[skew] = time.time() - injected
    rig.onvif.clock_skew_s = 0.0
    removed = time.time()
    _wait_device = time.monotonic() + bound
    while device().get("clock_ok") is not True and time.monotonic() < _wait_device:
        time.sleep(0.2)
    assert device().get("clock_ok") is True, device()
    recovered = time.time() - removed
    # The camera's clock is only reported: its history runs on the gateway's clock, so the stream
    # that never stopped has no outage and every second of the window counted once.
    _history(rig, "clock", removed, removed, down=False)
    assert _wait(rig, "clock", _in("online"), 1, "online")
    fault_table.record(
        FaultRow(
            "ONVIF clock jump +1 h, then -1 day",
            max(jumps.values()),
            recovered,
            f"detect and recover <= {bound:g} s (one inventory read, onvif.refresh_s {ONVIF_REFRESH_S:g})",
            "0 s uptime lost or shifted",
            "0 (intervals sum to the window)",
            f"offset reported {', '.join(f'{k:+g} s' for k in jumps)}; stream history on the gateway clock",
        )
    )
