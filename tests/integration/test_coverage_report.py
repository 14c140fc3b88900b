"""The coverage report, end to end: real RTSP cameras fail in known ways while the gateway watches;
the report (JSON, CSV, HTML in headless chromium, PDF read back) must show exactly those gaps."""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest
import yaml

from sim.clips import ClipInfo
from sim.server import RtspServerProcess
from tests.support.browser import page as browser_page
from tests.support.gateway import GatewayProcess, child_env, run_cli
from tests.support.ports import free_port
from tests.support.storage import new_url
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

# Detection and recovery of a killed server take a second or two (the stream drops at once; the
# restarted server is found by the 0.5 s RTSP probe); a frozen picture needs three 1 s samples.
TOLERANCE_S = 3.0


@pytest.fixture(scope="module")
def password() -> str:
    return secrets.token_urlsafe(10)


def camera(cid: str, url: str, zone: str) -> dict[str, Any]:
    return {
        "id": cid,
        "name": cid,
        "source": {"rtsp": url},
        "credentials": {"username": "cam", "password": {"env": "IT_PW"}},
        "zones": [zone],
    }


class Report:
    """A site under test: three servers, four cameras, the gateway, and what the test did when."""

    def __init__(self, tmp_path: Path, storage_url: str, clips: dict[str, ClipInfo], password: str) -> None:
        self.clips, self.password = clips, password
        self.gate = RtspServerProcess([("/gate", clips["hd_h264"])], username="cam", password=password)
        self.lobby = RtspServerProcess(
            [("/lobby", clips["hd_h264"]), ("/corridor", clips["sd_h264"])], username="cam", password=password
        )
        self.store_port = free_port()
        self.store = RtspServerProcess(
            [("/store", clips["hd_h264"])], port=self.store_port, username="cam", password=password
        )
        self.port = free_port()
        self.storage_url = storage_url
        self.config = tmp_path / "site.yaml"
        config = {
            "site": {
                "id": "it-report",
                "name": "Report test site",
                "unit": {
                    "name": "Unit",
                    "key_unit": True,
                    "headcount": 340,
                    "security_staff": 7,
                    "full_time_security_staff": 3,
                },
            },
            "zones": [
                {"id": "gate", "name": "Main gate", "kind": "entrance"},
                {"id": "lobby", "name": "大厅", "kind": "crowded_area"},
                {"id": "store", "name": "Store room", "kind": "key_area"},
            ],
            "cameras": [
                camera("gate-cam", self.gate.url("/gate"), "gate"),
                camera("lobby-cam", self.lobby.url("/lobby"), "lobby"),
                camera("corridor-sd", self.lobby.url("/corridor"), "lobby"),
                camera("store-cam", f"rtsp://127.0.0.1:{self.store_port}/store", "store"),
            ],
            "supervisor": {
                "connect_timeout_s": 3,
                "stall_timeout_s": 3,
                "backoff_initial_s": 0.5,
                "backoff_max_s": 2,
                "probe_interval_s": 0.5,
                "sample_interval_s": 5,
                "quality_interval_s": 1,
            },
            "server": {"bind": "127.0.0.1", "port": self.port},
            "storage": {"url": storage_url},
        }
        self.config.write_text(yaml.safe_dump(config, allow_unicode=True))
        self.env = child_env(IT_PW=password)
        added = run_cli(["user", "add", "auditor", "--role", "auditor", "-c", str(self.config)], self.env)
        assert added.returncode == 0, added.stderr
        self.token = added.stdout.split()[-1]
        self.proc = GatewayProcess(["run", "-c", str(self.config)], self.env, tmp_path / "gateway.log", self.port)

    def get(self, path: str, language: str | None = None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        if language is not None:
            headers["Accept-Language"] = language
        return httpx.get(f"{self.proc.base}{path}", params=params, headers=headers, timeout=30)

    def cameras(self) -> dict[str, Any]:
        r = self.get("/api/v1/cameras")
        assert r.status_code == 200, r.text
        return {c["id"]: c for c in r.json()}

    def wait(self, camera_id: str, state: str, reason: str | None = None, timeout: float = 25.0) -> float:
        """Poll until the camera is in `state` (`reason` in its reason); returns the wall-clock time it was seen."""
        cam: dict[str, Any] = {}

        def seen_at() -> float | None:
            nonlocal cam
            cam = self.cameras()[camera_id]
            if cam["state"] == state and (reason is None or reason in (cam["reason"] or "")):
                return time.time()
            return None

        def last() -> str:
            return f"{camera_id} to become {state} ({reason}): {cam.get('state')} {cam.get('reason')}"

        return wait_until(last, seen_at, timeout, interval=0.1)


@pytest.fixture(scope="module")
def scenario(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sim_clips: dict[str, ClipInfo],
    password: str,
) -> Iterator[tuple[Report, dict[str, float]]]:
    """Runs the scenario once; the tests below read its report in each format."""
    tmp = tmp_path_factory.mktemp("report")
    site = Report(tmp, new_url(request, tmp), sim_clips, password)
    truth: dict[str, float] = {}
    with site.gate, site.lobby:
        site.store.start()
        site.proc.start()
        try:
            for cid, state in (("gate-cam", "online"), ("lobby-cam", "online"), ("store-cam", "online")):
                site.wait(cid, state)
            site.wait("corridor-sd", "degraded", "below HD")
            time.sleep(2.0)
            truth["start"] = time.time()
            time.sleep(3.0)

            truth["gate_killed"] = time.time()
            site.gate.kill()
            site.wait("gate-cam", "offline")
            time.sleep(6.0)
            truth["gate_restarted"] = time.time()
            site.gate.start()
            site.wait("gate-cam", "online")

            # The store camera's encoder "freezes": after a reboot it serves one still picture.
            site.store.kill()
            site.store = RtspServerProcess(
                [("/store", site.clips["frozen"])], port=site.store_port, username="cam", password=password
            )
            site.store.start()
            truth["store_frozen"] = time.time()
            truth["store_frozen_detected"] = site.wait("store-cam", "degraded", "picture frozen")
            time.sleep(4.0)
            truth["end"] = time.time()
            yield site, truth
        finally:
            site.proc.stop()
            site.store.stop()


def fetch(site: Report, truth: dict[str, float], fmt: str, **params: str) -> httpx.Response:
    r = site.get(
        "/api/v1/reports/coverage",
        **{"from": f"{truth['start']:.3f}", "to": f"{truth['end']:.3f}"},
        format=fmt,
        **params,
    )
    assert r.status_code == 200, r.text
    return r


def test_json_report_shows_each_gap_with_its_duration(scenario: tuple[Report, dict[str, float]]) -> None:
    site, truth = scenario
    report = fetch(site, truth, "json").json()
    window = truth["end"] - truth["start"]
    cams = {c["id"]: c for c in report["cameras"]}
    zones = {z["id"]: z for z in report["zones"]}
    assert not report["passed"]

    # The gate camera: one outage from the kill to shortly after the restart.
    gate = cams["gate-cam"]
    (outage,) = gate["outages"]
    assert abs(outage["start"] - truth["gate_killed"]) < TOLERANCE_S
    assert abs(outage["end"] - truth["gate_restarted"]) < TOLERANCE_S
    down = truth["gate_restarted"] - truth["gate_killed"]
    assert abs(outage["duration_s"] - down) < TOLERANCE_S
    assert gate["seconds"]["offline"] == pytest.approx(outage["duration_s"], abs=0.01)
    assert zones["gate"]["seconds"]["uncovered"] == pytest.approx(outage["duration_s"], abs=0.5)
    assert not zones["gate"]["passed"]

    # The lobby stays covered by its HD camera although the corridor camera is below HD all along.
    corridor = cams["corridor-sd"]
    assert corridor["measured_resolution"] == "704x576" and corridor["required_resolution"] == "1920x1080"
    below = [i for i in corridor["incidents"] if i["fault"] == "below_hd"]
    assert sum(i["duration_s"] for i in below) == pytest.approx(window, abs=0.5)
    assert corridor["good_percent"] == 0.0 and not corridor["passed"]
    assert zones["lobby"]["covered_percent"] == 100.0 and zones["lobby"]["passed"]
    assert cams["lobby-cam"]["passed"] and cams["lobby-cam"]["uptime_percent"] == 100.0

    # The store camera froze: from its detection to the end of the period, and only then.
    store = cams["store-cam"]
    frozen = [i for i in store["incidents"] if i["fault"] == "quality:frozen"]
    assert len(frozen) == 1
    assert abs(frozen[0]["start"] - truth["store_frozen_detected"]) < TOLERANCE_S
    assert frozen[0]["end"] == pytest.approx(truth["end"], abs=0.01)
    assert frozen[0]["start"] - truth["store_frozen"] < 3 * TOLERANCE_S  # 3 samples + reconnect
    gaps = zones["store"]["gaps"]
    assert gaps and gaps[-1]["end"] == pytest.approx(truth["end"], abs=0.01)
    assert "frozen" in gaps[-1]["detail"]

    # Everything else the auditor needs is stated.
    assert report["policy"]["hd_min_resolution"] == "1920x1080" and report["staffing"]["passed"] is True
    assert report["gateway"]["seconds"] == 0.0
    failed = {f["subject"] for f in report["findings"] if f["severity"] == "fail"}
    assert {"zone gate", "zone store", "camera gate-cam", "camera corridor-sd", "camera store-cam"} <= failed
    assert "camera lobby-cam" not in failed and "zone lobby" not in failed


def test_csv_report_matches_the_json(scenario: tuple[Report, dict[str, float]]) -> None:
    site, truth = scenario
    data = fetch(site, truth, "json").json()
    r = fetch(site, truth, "csv", lang="en")  # the English CSV: its header row is the column ids
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    cams = {c["id"]: c for c in data["cameras"]}
    for cid in ("gate-cam", "store-cam"):  # the store camera dropped out while its server was swapped
        outages = [row for row in rows if row["record"] == "outage" and row["id"] == cid]
        assert [float(row["duration_s"]) for row in outages] == pytest.approx(
            [o["duration_s"] for o in cams[cid]["outages"]], abs=0.01
        )
    assert {row["id"] for row in rows if row["record"] == "camera"} == set(cams)
    frozen = [row for row in rows if row["record"] == "incident" and row["kind"] == "quality:frozen"]
    assert [row["id"] for row in frozen] == ["store-cam"]
    assert any("大厅" in value for row in rows for value in row.values() if value)


def test_html_report_reads_right_in_a_real_browser(scenario: tuple[Report, dict[str, float]]) -> None:
    site, truth = scenario
    # The browser asks for English (Accept-Language: en-US); the link names the reader's language.
    url = (
        f"{site.proc.base}/api/v1/reports/coverage?format=html&from={truth['start']:.3f}&to={truth['end']:.3f}"
        "&lang=zh-CN"
    )
    with browser_page(headers={"Authorization": f"Bearer {site.token}"}) as (page, errors):
        response = page.goto(url)
        assert response is not None and response.status == 200
        verdict = page.locator("#verdict")
        assert verdict.is_visible() and "不合格" in verdict.inner_text()
        assert "结论为不合格" in page.locator("#summary").inner_text()
        # The styles are inline: the page's own CSP must let them apply.
        assert page.evaluate("getComputedStyle(document.querySelector('table#cameras')).borderCollapse") == "collapse"
        for cid in ("gate-cam", "lobby-cam", "corridor-sd", "store-cam"):
            assert page.locator(f'table#cameras tr[data-camera="{cid}"]').is_visible()
            assert page.locator(f'.timeline[data-camera="{cid}"] rect').count() >= 1
        gate_row = page.locator('table#cameras tr[data-camera="gate-cam"]').inner_text()
        assert "1 " in gate_row or "1\t" in gate_row  # one outage
        assert page.locator('tr[data-zone="lobby"]').is_visible() and "大厅" in page.content()
        assert "704×576" in page.locator('table#cameras tr[data-camera="corridor-sd"]').inner_text()
        assert errors == []


def test_pdf_report_reads_back(scenario: tuple[Report, dict[str, float]], tmp_path: Path) -> None:
    site, truth = scenario
    r = fetch(site, truth, "pdf")  # no Accept-Language: the site's language, Chinese
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF-")
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(r.content)).pages)
    for needle in ("Report test site", "不合格", "gate-cam", "corridor-sd", "store-cam", "704x576", "大厅"):
        assert needle in text, needle
    for word in ("在线率", "完好率", "高清", "视频质量诊断", "画面冻结", "结论为不合格"):
        assert word in re.sub(r"\s+", "", text), word
    outage = fetch(site, truth, "json").json()["cameras"][0]["outages"][0]["duration_s"]
    seconds = round(outage)
    assert f"0:{seconds // 60:02d}:{seconds % 60:02d}" in text


def test_cli_writes_the_same_report(scenario: tuple[Report, dict[str, float]], tmp_path: Path) -> None:
    site, truth = scenario
    out = tmp_path / "r.json"
    done = run_cli(
        [
            "report",
            "-c",
            str(site.config),
            "--from",
            f"{truth['start']:.3f}",
            "--to",
            f"{truth['end']:.3f}",
            "-o",
            str(out),
        ],
        site.env,
    )
    assert done.returncode == 0, done.stderr
    # The summary speaks the site's language (Chinese by default).
    assert "覆盖率报告" in done.stderr and "不合格" in done.stderr, done.stderr
    from_cli = json.loads(out.read_text())
    from_api = fetch(site, truth, "json").json()
    assert [c["outages"] for c in from_cli["cameras"]] == [c["outages"] for c in from_api["cameras"]]


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"from": "2026-11-20T10:00:00", "to": "2026-11-19T10:00:00"}, 422, "before"),
        ({"site": "elsewhere"}, 404, "no site"),
        ({"zone": "attic"}, 404, "no zone"),
        ({"from": "1990-01-01", "to": "2026-01-01"}, 422, "at most"),
        ({"format": "docx"}, 422, "format"),
        ({"period": "fortnight"}, 422, "period"),
    ],
)
def test_bad_report_requests_get_a_clear_4xx(
    scenario: tuple[Report, dict[str, float]], params: dict[str, str], status: int, message: str
) -> None:
    site, _ = scenario
    # Which mistake is named is the point: read in English, the messages' source text.
    r = site.get("/api/v1/reports/coverage", language="en", **params)
    assert r.status_code == status, r.text
    assert message in r.json()["error"] and "Traceback" not in r.text


def test_a_bad_report_request_is_answered_in_the_sites_language(scenario: tuple[Report, dict[str, float]]) -> None:
    site, _ = scenario
    r = site.get("/api/v1/reports/coverage", period="fortnight")
    assert r.status_code == 422 and "'period' 只能是 day, week, month 之一" in r.json()["error"]
    r = site.get("/api/v1/reports/coverage", lang="fr")
    assert r.status_code == 422 and "'lang' 只能是 zh-CN 或 en" in r.json()["error"]


def test_police_may_not_export_reports(scenario: tuple[Report, dict[str, float]]) -> None:
    site, _ = scenario
    added = run_cli(["user", "add", "officer", "--role", "police", "-c", str(site.config)], site.env)
    token = added.stdout.split()[-1]
    r = httpx.get(f"{site.proc.base}/api/v1/reports/coverage", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 403
