"""Catalog events a platform subscribes to, beyond ON/OFF: DEFECT for a picture fault (a dark camera),
VLOST for video that stops while the connection stays (a link gone silent), and ADD / DEL / UPDATE for
the channels the config changed between two runs of the gateway on one database. Real RTSP server,
real fault proxy, the Python platform of tests/support/gbplatform.py; two gateway runs in all."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.clips import ClipInfo
from sim.server import RtspServerProcess
from tests.support.faultproxy import FaultProxy
from tests.support.gateway import GatewayProcess, Site, camera, child_env
from tests.support.gbplatform import LOCAL, UNIT_ID, Call, FakePlatform, uplink_config
from tests.support.ports import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

OK, DARK, SILENT, NEW = (f"1201000000132000010{n}" for n in range(1, 5))


def events(platform: FakePlatform, call: Call) -> list[tuple[str, str]]:
    """(channel, Event) of every item of every catalog NOTIFY of the subscription, in order."""
    out: list[tuple[str, str]] = []
    for received in platform.received("NOTIFY", call.call_id):
        body = received.body
        assert body is not None and body.cmd_type == "Catalog", received.msg.body
        out += [(i.findtext("DeviceID") or "", i.findtext("Event") or "") for i in body.element.iter("Item")]
    return out


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    platform = FakePlatform(password=secrets.token_urlsafe(12))
    platform.start()
    try:
        yield platform
    finally:
        platform.close()


def test_defect_vlost_and_the_changes_between_runs(
    tmp_path: Path,
    gateway_storage_url: str,
    sim_clips: dict[str, ClipInfo],
    platform: FakePlatform,
) -> None:
    rtsp_password = secrets.token_urlsafe(10)
    sip_port = free_port(socket.SOCK_DGRAM)
    platform.gateway = (LOCAL, sip_port)
    mounts = [("/ok", sim_clips["hd_h264"]), ("/dark", sim_clips["dark"]), ("/silent", sim_clips["hd_h264"])]
    with (
        RtspServerProcess(mounts, username="cam", password=rtsp_password) as server,
        FaultProxy((LOCAL, server.port)) as proxy,
    ):
        cams = [
            camera("ok", server.url("/ok"), gb_channel_id=OK),
            camera("dark", server.url("/dark"), gb_channel_id=DARK),
            camera("silent", proxy.url("/silent"), gb_channel_id=SILENT),
        ]
        env = child_env(IT_PW=rtsp_password, IT_GB_PASSWORD=platform.password or "")
        site = Site(tmp_path, gateway_storage_url, cams, env)
        config: dict[str, Any] = yaml.safe_load(site.path.read_text())
        config["site"]["unit"]["gb_id"] = UNIT_ID
        config["supervisor"]["quality_interval_s"] = 1.9  # one sample per GOP of the clips
        config["uplinks"] = {"gb28181": [uplink_config(platform.port, sip_port)]}
        site.path.write_text(yaml.safe_dump(config))

        site.proc.start()
        try:
            assert platform.registered.wait(20), site.proc.log()[-3000:]
            catalog = platform.subscribe("Catalog", 1)
            assert platform.final_of(catalog).status == 200
            # The first run on this database: no ADD/DEL/UPDATE, the states only.
            first = wait_until("the first catalog NOTIFY", lambda: events(platform, catalog), 10, interval=0.1)
            assert {e for _, e in first} <= {"ON", "OFF", "DEFECT"}, first
            wait_until("DEFECT for the dark camera", lambda: (DARK, "DEFECT") in events(platform, catalog), 40)
            site.wait_for({"silent": "online"})
            proxy.set_mode("blackhole")  # the connection stays, the video stops
            wait_until("VLOST for the silent camera", lambda: (SILENT, "VLOST") in events(platform, catalog), 20)
            seen = events(platform, catalog)
            assert (OK, "VLOST") not in seen and (OK, "DEFECT") not in seen, seen
            assert not any(e in ("ADD", "DEL", "UPDATE") for _, e in seen), seen
        finally:
            assert site.proc.stop() == 0, site.proc.log()[-4000:]
        proxy.set_mode("pass")

        # The second run: "dark" removed, "new" added, "ok" renamed.
        config["cameras"] = [
            {**cams[0], "name": "Gate, north"},
            cams[2],
            camera("new", server.url("/ok"), gb_channel_id=NEW),
        ]
        site.path.write_text(yaml.safe_dump(config))
        platform.registered.clear()
        second = GatewayProcess(["run", "-c", str(site.path)], env, tmp_path / "second.log", site.port).start()
        try:
            assert platform.registered.wait(20), second.log()[-3000:]
            again = platform.subscribe("Catalog", 2)
            assert platform.final_of(again).status == 200
            told = wait_until("the catalog NOTIFYs of the second run", lambda: len(events(platform, again)) >= 6, 15)
            changes = dict(events(platform, again)[:3])
            assert changes == {OK: "UPDATE", NEW: "ADD", DARK: "DEL"}, told
            states = dict(events(platform, again)[3:6])
            assert set(states) == {OK, SILENT, NEW}, told
            log = second.log()
            assert "catalog changed since the last run" in log
        finally:
            assert second.stop() == 0, second.log()[-4000:]
        for proc_log in (site.proc.log(), second.log()):
            assert "Traceback" not in proc_log, proc_log[-4000:]
