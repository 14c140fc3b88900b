"""The recording audit against the simulated NVR: recordings on disk (sim/recordings.py), found over ONVIF
Profile G (sim/nvr.py), by `gateway recordings` and by `gateway run`'s audit, whose days and gaps the API
shows. The expected numbers come from the segment files on disk, not from the gateway's arithmetic."""

from __future__ import annotations

import json
import secrets
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.clips import ClipInfo
from sim.nvr import NvrDeviceServer
from sim.recordings import RecordingStore, make_recordings, spans_on_disk
from sim.server import RtspServerProcess
from tests.support.gateway import Site, camera, child_env, run_cli
from tests.support.gbplatform import LOCAL, UNIT_ID, FakePlatform, uplink_config
from tests.support.ports import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

CHANNELS = ("ch1", "ch2", "ch3")
RETENTION_DAYS = 3


def expected_days(store: RecordingStore, channel: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Per UTC day of [start, end): the recorded seconds and the gaps, from the files on disk alone."""
    spans = [(a.timestamp(), b.timestamp()) for a, b in spans_on_disk(store.root, channel)]
    days: dict[str, Any] = {}
    day = start
    while day < end:
        lo, hi = day.timestamp(), min((day + timedelta(days=1)), end).timestamp()
        inside = sorted((max(a, lo), min(b, hi)) for a, b in spans if b > lo and a < hi)
        gaps, at = [], lo
        for a, b in inside:
            if a > at:
                gaps.append((at, a))
            at = max(at, b)
        if at < hi:
            gaps.append((at, hi))
        days[day.date().isoformat()] = {"recorded_s": sum(b - a for a, b in inside), "gaps": gaps}
        day += timedelta(days=1)
    return days


def _site(
    tmp_path: Path, storage_url: str, rtsp: RtspServerProcess, nvr: NvrDeviceServer, password: str, **env: str
) -> Site:
    cams = [camera("gate", rtsp.url("/live")), camera("hall", rtsp.url("/live"))]
    site = Site(tmp_path, storage_url, cams, child_env(IT_PW=password, IT_NVR_PW=password, **env))
    config = yaml.safe_load(site.path.read_text())
    for cam, channel in zip(config["cameras"], ("ch1", "ch2"), strict=True):
        cam["recordings"] = {"recorder": "nvr1", "channel": channel}
    config["site"]["timezone"] = "UTC"
    config["policy"] = {"retention_days": RETENTION_DAYS}
    config["recorders"] = [
        {
            "id": "nvr1",
            "onvif": {"host": "127.0.0.1", "port": nvr.port},
            "credentials": {"username": "admin", "password": {"env": "IT_NVR_PW"}},
            "max_queries_per_minute": 120,
        }
    ]
    site.path.write_text(yaml.safe_dump(config))
    return site


def _compare(days: list[dict[str, Any]], expected: dict[str, Any], recorded_until: float) -> None:
    """The audit's days against the files. Today's audit runs to the search, a moment after the NVR's last
    recorded second: that last gap is allowed to end anywhere after it."""
    assert [d["day"] for d in days] == list(expected), (days, list(expected))
    for day in days:
        want = expected[day["day"]]
        gaps = [(g["start"], g["end"]) for g in day["gaps"]]
        if gaps and gaps[-1][0] == pytest.approx(recorded_until):
            gaps = gaps[:-1]  # after the NVR's now, nothing can be recorded yet
        want_gaps = [g for g in want["gaps"] if g[0] < recorded_until - 1e-6]
        flat = [t for g in gaps for t in g]
        assert flat == pytest.approx([t for g in want_gaps for t in g]), (day["day"], gaps, want_gaps)
        assert day["recorded_s"] == pytest.approx(want["recorded_s"], abs=1e-3), day["day"]


def test_the_audit_finds_the_gaps_on_disk_by_cli_and_by_the_running_gateway(
    tmp_path: Path, gateway_storage_url: str, sim_clips: dict[str, ClipInfo]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    store = make_recordings(tmp_path / "nvr", CHANNELS, days=4, now=now)  # gaps: ch1 yesterday, ch2 a whole day
    first_day = datetime.combine(now.date() - timedelta(days=RETENTION_DAYS), datetime.min.time(), tzinfo=UTC)
    password = secrets.token_urlsafe(10)
    replays = [(f"/replay/{c}", store.root / c) for c in CHANNELS]
    with RtspServerProcess(
        [("/live", sim_clips["hd720_h264"])], replays=replays, username="cam", password=password
    ) as rtsp:
        nvr = NvrDeviceServer(store.root, CHANNELS, "admin", password, replay_base=f"rtsp://127.0.0.1:{rtsp.port}")
        with nvr:
            site = _site(tmp_path, gateway_storage_url, rtsp, nvr, password)
            # 1. `gateway recordings`: asks the NVR directly.
            start = now.date() - timedelta(days=2)
            out = run_cli(
                [
                    "recordings",
                    "-c",
                    str(site.path),
                    "gate",
                    "--from",
                    f"{start}T00:00:00Z",
                    "--to",
                    now.isoformat(),
                    "--json",
                ],
                site.env,
            )
            assert out.returncode == 0, out.stderr
            listed = json.loads(out.stdout)
            assert listed["recording_token"] == "REC_ch1" and listed["queries"] >= 4
            window_start = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
            want = expected_days(store, "ch1", window_start, now)
            days = [
                {
                    "day": d["day"],
                    "recorded_s": d["recorded_s"],
                    "gaps": [
                        {"start": datetime.fromisoformat(a).timestamp(), "end": datetime.fromisoformat(b).timestamp()}
                        for a, b in d["gaps"]
                    ],
                }
                for d in listed["days"]
            ]
            _compare(days, want, now.timestamp())
            yesterday = (now.date() - timedelta(days=1)).isoformat()
            assert len(next(d for d in listed["days"] if d["day"] == yesterday)["gaps"]) == 1  # the 2 h gap
            # 2. `gateway run`: the audit searches each camera at start and stores the days.
            site.proc.start()
            try:
                query = f"from={int(first_day.timestamp())}&to={int(now.timestamp()) + 3600}"

                def audited() -> bool:
                    return all(site.get(f"/api/v1/cameras/{c}/recordings?{query}")["days"] for c in ("gate", "hall"))

                wait_until("the recording audit of both cameras", audited, 60)
                for cid, channel in (("gate", "ch1"), ("hall", "ch2")):
                    body = site.get(f"/api/v1/cameras/{cid}/recordings?{query}")
                    assert body["verifiable"] and body["last_check"]["ok"], body
                    assert body["last_check"]["recording_token"] == f"REC_{channel}"
                    _compare(body["days"], expected_days(store, channel, first_day, now), now.timestamp())
                    # Recorded since midnight three days ago: at least the three days the policy asks.
                    assert body["retained_days"] >= RETENTION_DAYS and body["retention_ok"] is True
                hall = site.get(f"/api/v1/cameras/hall/recordings?{query}")
                missing = (now.date() - timedelta(days=2)).isoformat()
                assert next(d for d in hall["days"] if d["day"] == missing)["completeness_percent"] == 0
                # 3. The coverage report judges them: yesterday's 2 h gap on the gate, the hall's lost day.
                report = site.get(f"/api/v1/reports/coverage?period=day&date={yesterday}")
                gate = next(c for c in report["cameras"] if c["id"] == "gate")
                assert gate["recordings"]["days"] == 1 and len(gate["recordings"]["long_gaps"]) == 1
                assert any("gap(s) in its recordings" in f["message"] for f in gate["findings"]), gate["findings"]
                lost = site.get(f"/api/v1/reports/coverage?period=day&date={missing}")
                hall_day = next(c for c in lost["cameras"] if c["id"] == "hall")["recordings"]
                assert hall_day["completeness_percent"] == 0 and hall_day["days_below"][0]["day"] == missing
                log = site.proc.log()
            finally:
                site.proc.stop()
    assert password not in log


def test_the_city_platform_lists_a_channels_recordings_with_record_info(
    tmp_path: Path, gateway_storage_url: str, sim_clips: dict[str, ClipInfo]
) -> None:
    """RecordInfo from the Python platform: the NVR's spans of yesterday (its 2 h gap between them), one item
    per part, in the site's wall-clock time."""
    now = datetime.now(UTC).replace(microsecond=0)
    store = make_recordings(tmp_path / "nvr", CHANNELS, days=3, now=now)
    password = secrets.token_urlsafe(10)
    platform = FakePlatform(password=secrets.token_urlsafe(12))
    platform.start()
    sip_port = free_port(socket.SOCK_DGRAM)
    platform.gateway = (LOCAL, sip_port)
    channel = "12010000001320000001"
    try:
        with RtspServerProcess([("/live", sim_clips["hd720_h264"])], username="cam", password=password) as rtsp:
            nvr = NvrDeviceServer(store.root, CHANNELS, "admin", password, replay_base=f"rtsp://127.0.0.1:{rtsp.port}")
            with nvr:
                site = _site(tmp_path, gateway_storage_url, rtsp, nvr, password, IT_GB_PASSWORD=platform.password or "")
                config = yaml.safe_load(site.path.read_text())
                config["site"]["unit"]["gb_id"] = UNIT_ID
                config["cameras"][0]["gb_channel_id"] = channel
                config["uplinks"] = {"gb28181": [uplink_config(platform.port, sip_port, catalog_per_message=1)]}
                site.path.write_text(yaml.safe_dump(config))
                site.proc.start()
                try:
                    assert platform.registered.wait(15), site.proc.log()[-3000:]
                    day = now.date() - timedelta(days=1)
                    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
                    body = (
                        '<?xml version="1.0" encoding="GB2312"?>\r\n<Query>\r\n<CmdType>RecordInfo</CmdType>\r\n'
                        f"<SN>31</SN>\r\n<DeviceID>{channel}</DeviceID>\r\n"
                        f"<StartTime>{day}T00:00:00</StartTime>\r\n<EndTime>{day}T23:59:59</EndTime>\r\n"
                        "<Type>all</Type>\r\n</Query>\r\n"
                    ).encode()
                    call_id = platform.query("RecordInfo", 31, body=body)
                    assert platform.final(call_id, "MESSAGE").status == 200
                    wait_until("the RecordInfo parts", lambda: len(platform.parts("RecordInfo", 31)) >= 2, 20)
                    parts = platform.parts("RecordInfo", 31)
                finally:
                    site.proc.stop()
    finally:
        platform.close()
    assert {p.field("SumNum") for p in parts} == {"2"} and len(parts) == 2
    items = [(i.findtext("StartTime"), i.findtext("EndTime")) for p in parts for i in p.element.iter("Item")]
    end = start + timedelta(hours=23, minutes=59, seconds=59)
    want = [(max(a, start), min(b, end)) for a, b in spans_on_disk(store.root, "ch1") if b > start and a < end]
    assert items == [(f"{a:%Y-%m-%dT%H:%M:%S}", f"{b:%Y-%m-%dT%H:%M:%S}") for a, b in want]
