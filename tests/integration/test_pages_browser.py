"""The web pages in Debian's chromium against a real `gateway run` and real RTSP cameras on 127.0.0.1.

One gateway serves the module: three cameras from the simulator (one with a Chinese name), an admin
and a police officer granted one camera, both with passwords set by the CLI as an operator would. The SD
camera's below-HD fault has a grace time of 1 s here, so the running gateway opens a hidden-danger ticket
for it within seconds.
Every page is saved as a full-page PNG under $GATEWAY_SCREENSHOTS (default artifacts/screenshots/).

The pages speak the site's language, zh-CN by default; the tests about what a page does read it in
English (the user's switch, a `lang` cookie), the language tests read it in Chinese. The Chinese
screenshots in docs/images/zh/ are made by the Chinese pages test when asked:

    GATEWAY_ZH_SCREENSHOTS=docs/images/zh .venv/bin/python -m pytest -p no:cacheprovider \
        tests/integration/test_pages_browser.py -k every_page_speaks_chinese
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from gateway.api.language import LANGUAGE_COOKIE, LANGUAGE_COOKIE_MAX_AGE
from gateway.storage.db import Database
from gateway.tickets.store import TicketStore
from sim.clips import ClipInfo
from sim.nvr import NvrDeviceServer
from sim.recordings import make_recordings
from sim.server import RtspServerProcess
from tests.support import browser as browser_support
from tests.support.gateway import GATEWAY, GatewayProcess, child_env, run_cli
from tests.support.i18n_words import READABLE_TEXT_JS, foreign_words
from tests.support.ports import free_port
from tests.support.storage import new_url
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LOCAL = "127.0.0.1"
LAPTOP = {"width": 1366, "height": 768}
TABLET = {"width": 768, "height": 1024}
ADMIN, POLICE = "it-admin", "it-officer"
PASSWORDS = {ADMIN: "admin-" + secrets.token_urlsafe(12), POLICE: "police-" + secrets.token_urlsafe(12)}
CJK_NAME = "东门入口"
# The SD camera is below the HD threshold, so the site shows both a green and an amber state.
STATES = {"gate": "online", "lobby": "online", "yard": "degraded"}
CAMERAS = {
    "gate": ("/gate", "hd_h264", CJK_NAME),
    "lobby": ("/lobby", "hd720_h264", "门诊大厅"),
    "yard": ("/yard", "sd_h264", "后院"),
}
GRANTED = "lobby"
ZONES = {"entrance": "东门", "hall": "门诊楼"}
SITE_NAME, UNIT_NAME = "第一人民医院门诊楼", "市第一人民医院"
# Wide enough for every column of the dashboard, as an officer's desk screen; PNGs stay small.
DOC_WIDTH = 1280
DOC_PNG_LIMIT = 400_000


def screenshot_dir() -> Path:
    path = Path(os.environ.get("GATEWAY_SCREENSHOTS") or REPO / "artifacts" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def shoot(page: Page, name: str) -> Path:
    path = screenshot_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5000, path
    return path


@dataclass
class Site:
    proc: GatewayProcess
    token: str  # the admin's API token
    storage_url: str  # the gateway's database, which tests may write beside it

    @property
    def base(self) -> str:
        return self.proc.base


def cli_ok(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    if stdin is None:
        done = run_cli(args, env)
    else:
        done = subprocess.run(
            [*GATEWAY, *args], input=stdin, env=env, capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


@pytest.fixture(scope="module")
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sim_clips: dict[str, ClipInfo]
) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("pages")
    storage_url = new_url(request, tmp)
    password = secrets.token_urlsafe(10)
    mounts = [(path, sim_clips[clip]) for path, clip, _ in CAMERAS.values()]
    store = make_recordings(tmp / "nvr", ("ch1",), days=2)
    replays = [("/replay/ch1", store.root / "ch1")]
    with (
        RtspServerProcess(mounts, username="cam", password=password, replays=replays) as rtsp,
        NvrDeviceServer(store.root, ("ch1",), "cam", password, replay_base=f"rtsp://{LOCAL}:{rtsp.port}") as nvr,
    ):
        port = free_port()
        config: dict[str, Any] = {
            "site": {
                "id": "it",
                "name": SITE_NAME,
                "unit": {"name": UNIT_NAME, "headcount": 120, "key_unit": False},
            },
            "zones": [
                {"id": "entrance", "name": ZONES["entrance"], "kind": "entrance"},
                {"id": "hall", "name": ZONES["hall"], "kind": "crowded_area"},
            ],
            "cameras": [
                {
                    "id": cid,
                    "name": name,
                    "source": {"rtsp": rtsp.url(path)},
                    "credentials": {"username": "cam", "password": {"env": "IT_PW"}},
                    "zones": ["entrance"] if cid == "gate" else ["hall"],
                }
                for cid, (path, _, name) in CAMERAS.items()
            ],
            "supervisor": {
                "connect_timeout_s": 3,
                "stall_timeout_s": 3,
                "backoff_initial_s": 0.5,
                "backoff_max_s": 2,
                "sample_interval_s": 5,
            },
            "server": {"bind": LOCAL, "port": port},
            "storage": {"url": storage_url},
            "live_view": {"ice_addresses": [LOCAL]},
            # The yard is below HD from the start: a ticket within seconds, not half an hour.
            "tickets": {"grace_s": {"below_hd": {"default": 1}}},
            "recorders": [
                {
                    "id": "nvr1",
                    "onvif": {"host": LOCAL, "port": nvr.port},
                    "credentials": {"username": "cam", "password": {"env": "IT_PW"}},
                }
            ],
        }
        config["cameras"][0]["recordings"] = {"recorder": "nvr1", "channel": "ch1"}
        path = tmp / "site.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        env = child_env(IT_PW=password)
        cfg = ["-c", str(path)]
        token = cli_ok(["user", "add", ADMIN, "--role", "admin", *cfg], env).split()[-1]
        cli_ok(["user", "add", POLICE, "--role", "police", *cfg], env)
        for name, secret in PASSWORDS.items():
            cli_ok(["user", "passwd", name, "--password-stdin", *cfg], env, stdin=secret + "\n")
        cli_ok(["user", "grant", POLICE, "--camera", GRANTED, *cfg], env)
        proc = GatewayProcess(["run", *cfg], env, tmp / "gateway.log", port).start()
        try:
            deadline = time.monotonic() + 25
            while time.monotonic() < deadline:
                cams = proc.get("/api/v1/cameras", token).json()
                if all(c["state"] == STATES[c["id"]] and c["measured"]["fps"] for c in cams):
                    break
                time.sleep(0.3)
            else:
                raise AssertionError(f"cameras not online: {[(c['id'], c['state'], c['reason']) for c in cams]}")
            yield Site(proc, token, storage_url)
        finally:
            code = proc.stop()
            log = proc.log()
            assert code == 0, log[-4000:]
            assert "Traceback" not in log, log[-4000:]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser_support.chromium() as browser:
        yield browser


@dataclass
class Tab:
    context: BrowserContext
    page: Page
    errors: list[str]


def new_tab(
    chromium: Browser, site: Site, language: str | None, width: int = LAPTOP["width"], locale: str | None = None
) -> Tab:
    """A fresh browser tab; `language` set as the user's choice would set it (None: the site's, zh-CN);
    `locale` the browser's own (its date and time controls)."""
    viewport: ViewportSize = {"width": width, "height": LAPTOP["height"]}
    context = chromium.new_context(viewport=viewport, base_url=site.base, accept_downloads=True, locale=locale)
    if language is not None:
        context.add_cookies([{"name": LANGUAGE_COOKIE, "value": language, "url": site.base}])
    page = context.new_page()
    errors: list[str] = []
    # A CSP violation (an inline script or style that slipped in) shows up as a console error.
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return Tab(context, page, errors)


@pytest.fixture
def tab(chromium: Browser, site: Site) -> Iterator[Tab]:
    """A tab whose user chose English: the tests of what the pages do read their words in English."""
    made = new_tab(chromium, site, "en")
    try:
        yield made
    finally:
        made.context.close()


@pytest.fixture
def tab_zh(chromium: Browser, site: Site) -> Iterator[Tab]:
    """A tab in the site's own language (zh-CN): no choice made on this browser."""
    made = new_tab(chromium, site, None)
    try:
        yield made
    finally:
        made.context.close()


def sign_in(page: Page, name: str, password: str, next_path: str = "/") -> None:
    page.goto(f"/login?next={next_path}" if next_path != "/" else "/login")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


def real_errors(errors: list[str]) -> list[str]:
    # Snapshot thumbnails may 404 while the camera has none yet; the page swaps in a placeholder.
    return [e for e in errors if "Failed to load resource" not in e]


def test_sign_in_dashboard_and_pages(tab: Tab, site: Site) -> None:
    page = tab.page
    # Signed out, any page sends the browser to the form, which keeps where it was going.
    page.goto("/events")
    assert re.search(r"/login\?next=/events$", page.url), page.url
    shoot(page, "login-1366")
    page.fill("#name", ADMIN)
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("Wrong user name or password")
    assert page.locator("#name").input_value() == ADMIN
    page.fill("#password", PASSWORDS[ADMIN])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/events$"))
    cookies = {c["name"]: c for c in tab.context.cookies()}
    session = cookies["gw_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/"

    page.goto("/")
    rows = page.locator("#camera-table tbody tr")
    expect(rows).to_have_count(len(CAMERAS))
    gate = page.locator('tr[data-camera="gate"]')
    expect(gate.locator(".cam-link")).to_have_text(CJK_NAME)
    # The CJK name must be drawn with a real font, not boxes: each glyph about one em wide.
    width, em = gate.locator(".cam-link").evaluate(
        "e => [e.getBoundingClientRect().width, parseFloat(getComputedStyle(e).fontSize)]"
    )
    assert width >= 0.8 * em * len(CJK_NAME), (width, em)
    for cid in CAMERAS:
        row = page.locator(f'tr[data-camera="{cid}"]')
        expect(row.locator('[data-field="state"]')).to_have_text(STATES[cid])
        expect(row.locator('[data-field="state"]')).to_have_attribute("data-state", STATES[cid])
        expect(row.locator('[data-field="state"]')).to_have_class(re.compile(rf"\bst-{STATES[cid]}\b"))
        assert row.locator("svg.uptime-bar rect[data-state]").count() >= 1
    expect(page.locator('[data-count="online"]')).to_have_text("2")
    expect(page.locator('[data-count="degraded"]')).to_have_text("1")
    expect(page.locator('tr[data-camera="yard"] [data-field="reason"]')).to_contain_text("below HD")
    expect(page.locator('tr[data-camera="gate"] [data-field="resolution"]')).to_have_text("1920×1080")
    expect(page.locator('tr[data-camera="yard"] [data-field="resolution"]')).to_have_class(re.compile("below-hd"))
    # The refresh script ran against the API with the session cookie.
    expect(page.locator("#refreshed")).to_contain_text("updated", timeout=15_000)
    assert "rtsp://" not in page.content() or ":***@" in page.content()
    assert PASSWORDS[ADMIN] not in page.content()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= LAPTOP["width"], width
    shoot(page, "dashboard-1366")
    page.set_viewport_size(TABLET)
    page.reload()
    expect(rows).to_have_count(len(CAMERAS))
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"] + 1
    shoot(page, "dashboard-768x1024")
    page.set_viewport_size(LAPTOP)

    page.goto("/cameras/gate")
    expect(page.locator("h1")).to_contain_text(CJK_NAME)
    facts = page.locator(".facts").inner_text()
    assert ":***@" in facts and "cam:" in facts
    expect(page.locator("#history-chart")).to_be_visible()
    assert page.locator("#history-chart rect[data-state]").count() >= 1

    for path, name, heading in (
        ("/events", "events-1366", "Detection events"),
        ("/reports", "reports-1366", "Coverage reports"),
        ("/audit", "audit-1366", "Audit log"),
        ("/admin/users", "users-1366", "Users"),
    ):
        page.goto(path)
        expect(page.locator("h1")).to_have_text(heading)
        shoot(page, name)
    # Sign-ins are in the audit log, with the chain verified.
    page.goto("/audit?action=login")
    expect(page.locator("#chain-status")).to_contain_text("Chain intact")
    expect(page.locator("#audit-table tbody tr").first).to_contain_text(ADMIN)
    page.goto("/audit?action=login_failed")
    expect(page.locator("#audit-table tbody")).to_contain_text(ADMIN)
    assert real_errors(tab.errors) == [], tab.errors


def test_live_video_plays(tab: Tab, site: Site) -> None:
    page = tab.page
    sign_in(page, ADMIN, PASSWORDS[ADMIN], "/cameras/gate")
    page.wait_for_url(re.compile(r"/cameras/gate$"))
    page.click("#live-toggle")
    expect(page.locator("#live-toggle")).to_have_text("Stop", timeout=20_000)
    page.wait_for_function(
        "() => { const v = document.getElementById('live-video'); return v.videoWidth > 0 && v.currentTime > 1.5; }",
        timeout=30_000,
    )
    size = page.evaluate(
        "() => { const v = document.getElementById('live-video'); return [v.videoWidth, v.videoHeight]; }"
    )
    assert size == [1920, 1080], size
    expect(page.locator("#live-status")).to_contain_text("H264")
    t0 = page.evaluate("document.getElementById('live-video').currentTime")
    page.wait_for_timeout(1500)
    assert page.evaluate("document.getElementById('live-video').currentTime") > t0 + 0.5
    shoot(page, "camera-live-1366")
    page.click("#live-toggle")
    expect(page.locator("#live-toggle")).to_have_text("Start")
    expect(page.locator("#live-status")).to_have_text("Stopped.")
    assert real_errors(tab.errors) == [], tab.errors


def test_a_recording_plays_from_the_camera_page(tab: Tab, site: Site) -> None:
    page = tab.page
    sign_in(page, ADMIN, PASSWORDS[ADMIN], "/cameras/gate")
    page.wait_for_url(re.compile(r"/cameras/gate$"))
    # Two hours ago, as the browser's local time (datetime-local has no zone): recorded on the NVR.
    page.evaluate(
        """() => { const ms = Date.now() - 2 * 3600 * 1000;
                   const local = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
                   document.getElementById('replay-start').value = local.toISOString().slice(0, 19); }"""
    )
    page.click("#replay-play")
    expect(page.locator("#live-status")).to_contain_text("Recording from", timeout=20_000)
    page.wait_for_function(
        "() => { const v = document.getElementById('live-video'); return v.videoWidth > 0 && v.currentTime > 1.0; }",
        timeout=30_000,
    )
    size = page.evaluate(
        "() => [document.getElementById('live-video').videoWidth, document.getElementById('live-video').videoHeight]"
    )
    assert size == [640, 360], size  # the NVR's recording, not the camera's 1080p live stream
    shoot(page, "camera-replay-1366")
    page.click("#live-toggle")
    expect(page.locator("#live-toggle")).to_have_text("Start")
    assert real_errors(tab.errors) == [], tab.errors


def test_report_downloads(tab: Tab, site: Site) -> None:
    page = tab.page
    sign_in(page, ADMIN, PASSWORDS[ADMIN], "/reports")
    page.wait_for_url(re.compile(r"/reports$"))
    expect(page.locator("#report-verdict")).to_be_visible()
    with page.expect_download() as pdf_info:
        page.click('#downloads a[data-format="pdf"]')
    pdf = Path(pdf_info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-") and len(pdf) > 2000
    with page.expect_download() as csv_info:
        page.click('#downloads a[data-format="csv"]')
    text = Path(csv_info.value.path()).read_text(encoding="utf-8-sig")
    for cid in CAMERAS:
        assert cid in text, cid
    assert CJK_NAME in text
    # A zone filter reaches the download links.
    page.check('input[name="zone"][value="hall"]')
    page.click("#report-form button[type=submit]")
    href = page.locator('#downloads a[data-format="csv"]').get_attribute("href") or ""
    assert "zone=hall" in href, href
    assert real_errors(tab.errors) == [], tab.errors


def test_police_sees_only_granted_cameras(tab: Tab, site: Site) -> None:
    page = tab.page
    sign_in(page, POLICE, PASSWORDS[POLICE])
    rows = page.locator("#camera-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-camera", GRANTED)
    nav = page.locator("nav.mainnav").inner_text()
    assert "Events" in nav and "Audit" not in nav and "Reports" not in nav
    response = page.goto("/cameras/gate")
    assert response is not None and response.status == 404
    expect(page.locator(".error-card")).to_contain_text("not shared with you")
    assert CJK_NAME not in page.content()
    response = page.goto(f"/cameras/{GRANTED}")
    assert response is not None and response.status == 200
    api = page.request.get("/api/v1/cameras")
    assert api.status == 200 and [c["id"] for c in api.json()] == [GRANTED]
    # Events of the granted cameras only; the camera picker offers nothing else.
    response = page.goto("/events")
    assert response is not None and response.status == 200
    offered = page.locator("select[name=camera] option").evaluate_all("os => os.map(o => o.value)")
    assert [v for v in offered if v] == [GRANTED], offered
    for path in ("/audit", "/reports", "/admin/users"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.locator(".error-card h1")).to_have_text("Not allowed")
    shoot(page, "police-forbidden-1366")


def test_logout_and_csrf(tab: Tab, site: Site) -> None:
    page = tab.page
    sign_in(page, ADMIN, PASSWORDS[ADMIN])
    expect(page.locator("#who-name")).to_have_text(ADMIN)
    # The browser sends the cookie, but without the session's token a change is refused.
    refused = page.request.post("/logout", form={"csrf": "forged"}, max_redirects=0)
    assert refused.status == 403
    api = page.request.post("/api/v1/users", data={"name": "intruder", "role": "admin"}, max_redirects=0)
    assert api.status == 403, api.text()
    # The sign-in form needs its own token too (login CSRF).
    forged = page.request.post("/login", form={"name": ADMIN, "password": PASSWORDS[ADMIN], "csrf": "x"})
    assert forged.status == 400
    # Still signed in after all that; now sign out properly.
    page.goto("/")
    page.click("#sign-out")
    page.wait_for_url(re.compile(r"/login$"))
    assert "gw_session" not in {c["name"] for c in tab.context.cookies()}
    page.goto("/")
    assert page.url.endswith("/login")
    assert page.request.get("/api/v1/cameras").status == 401


def test_a_hidden_danger_is_acknowledged_on_the_tickets_page(tab_zh: Tab, site: Site) -> None:
    # The unit's people read their dangers in Chinese (the site's language): the glossary's words.
    tab = tab_zh
    page = tab.page

    def yard_ticket() -> dict[str, Any] | None:
        found = site.proc.get("/api/v1/tickets?state=open&camera=yard", site.token).json()["tickets"]
        return found[0] if found else None

    ticket = wait_until("the yard's below-HD ticket", yard_ticket, 15)
    assert ticket["fault"] == "below_hd" and ticket["zone_id"] == "hall", ticket
    # A danger repaired an hour ago, written beside the running gateway: it shows below the open one.
    now = time.time()
    with Database(site.storage_url) as db:
        store = TicketStore(db)
        repaired = store.open("lobby", ("hall", "crowded_area"), "offline", "refused", now - 7200, now - 7000)
        store.close(repaired.id, now - 3600)
    sign_in(page, ADMIN, PASSWORDS[ADMIN], "/tickets")
    page.wait_for_url(re.compile(r"/tickets$"))
    expect(page.locator("h1")).to_have_text("隐患")
    first = page.locator("#open-tickets tbody tr").first
    expect(first).to_have_attribute("data-ticket", str(ticket["id"]))
    expect(first.locator("a.cam-link")).to_have_attribute("href", "/cameras/yard")
    expect(first.locator('[data-field="fault"]')).to_have_text("非高清")
    expect(first.locator('[data-field="ack"]')).to_contain_text("未确认")
    closed = page.locator(f'#closed-tickets tr[data-ticket="{repaired.id}"]')
    expect(closed.locator('[data-field="repair"]')).to_have_text("1:00:00")
    # The age counts live.
    age = first.locator('[data-field="age"]')
    before = age.inner_text()
    expect(age).not_to_have_text(before, timeout=3000)
    # Acknowledged with a note: the row says who, at once and after a reload.
    note = "换高清摄像机 HD camera ordered"
    first.locator('input[name="note"]').fill(note)
    first.locator(".ack-form button").click()
    expect(first.locator(".ack-status")).to_have_text("已确认")
    expect(first.locator('[data-field="ack-by"]')).to_have_text(ADMIN)
    expect(first.locator('[data-field="note"]')).to_have_text(note)
    shoot(page, "tickets-1366")
    page.reload()
    row = page.locator(f'#open-tickets tr[data-ticket="{ticket["id"]}"]')
    expect(row.locator('[data-field="ack-by"]')).to_have_text(ADMIN)
    expect(row.locator('[data-field="note"]')).to_have_text(note)
    acked = site.proc.get(f"/api/v1/tickets/{ticket['id']}", site.token).json()
    assert acked["acknowledged_by"] == ADMIN and acked["note"] == note
    # The dashboard: open dangers first, with who took them on, linking to the ticket.
    page.goto("/")
    dangers = page.locator("#danger-table tbody tr")
    expect(dangers.first).to_have_attribute("data-ticket", str(ticket["id"]))
    expect(dangers.first.locator(".ack-by")).to_have_text(ADMIN)
    expect(dangers.first.locator("a.cam-link")).to_have_attribute("href", f"/tickets?id={ticket['id']}")
    box = page.locator("#dangers").bounding_box()
    table = page.locator("#camera-table").bounding_box()
    assert box is not None and table is not None and box["y"] < table["y"]
    shoot(page, "dashboard-dangers-1366")
    # A new danger appears without a reload, unacknowledged and so first. Its camera is not configured,
    # so the running gateway's judging leaves it alone.
    with Database(site.storage_url) as db:
        ghost = TicketStore(db).open("ghost", (None, None), "offline", "unreachable", time.time() - 60, time.time())
    try:
        # As when the officer comes back to the dashboard's tab (else within its 12 s refresh).
        page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        expect(dangers.first).to_have_attribute("data-ticket", str(ghost.id), timeout=5_000)
        expect(dangers.first.locator(".not-acked")).to_have_text("未确认")
        expect(page.locator('[data-count="dangers"]')).to_have_text("2")
        expect(dangers.nth(1).locator(".ack-by")).to_have_text(ADMIN)
    finally:
        with Database(site.storage_url) as db:
            TicketStore(db).close(ghost.id, time.time())
    assert real_errors(tab.errors) == [], tab.errors


def site_names() -> list[str]:
    """What the site's configuration and its users are called: shown as written, in any script."""
    names = [SITE_NAME, UNIT_NAME, "Asia/Shanghai", ADMIN, POLICE, "nvr1", "ch1"]
    names += [part for cid, (_path, _clip, name) in CAMERAS.items() for part in (cid, name)]
    names += [part for zid, name in ZONES.items() for part in (zid, name)]
    return names


def english_left(page: Page, *echoed: str) -> list[str]:
    """The Latin words of the page a reader sees or hears that are not names, units or standards (nor
    what the user typed, `echoed` back)."""
    texts = page.evaluate(READABLE_TEXT_JS)
    names = [*site_names(), *echoed]
    # Each word with the text it stands in, so a failure says where to look.
    return [f"{word} in {text.strip()[:120]!r}" for text in texts for word in foreign_words([text], names)]


def doc_shot(page: Page, name: str) -> None:
    """A screenshot for docs/images/zh/, when GATEWAY_ZH_SCREENSHOTS names the folder (see the module's doc)."""
    folder = os.environ.get("GATEWAY_ZH_SCREENSHOTS")
    if not folder:
        return
    from PIL import Image  # only here: the documentation's pictures, not the test, need it

    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    # A page is flat colours and text: 256 of them read the same and keep the file small.
    with Image.open(path) as shot:
        shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    assert path.stat().st_size < DOC_PNG_LIMIT, (path, path.stat().st_size)


def test_every_page_speaks_chinese(chromium: Browser, site: Site) -> None:
    # A user who had chosen English switches to Chinese on the sign-in page, then reads every page.
    tab = new_tab(chromium, site, "en", width=DOC_WIDTH, locale="zh-CN")
    page = tab.page
    try:
        page.goto("/login")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.click("#lang-zh-CN")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        assert page.url.endswith("/login"), page.url
        expect(page.locator("h1")).to_have_text("登录")
        assert english_left(page) == []
        doc_shot(page, "login")
        page.fill("#name", ADMIN)
        page.fill("#password", "not-the-password")
        page.click("button[type=submit]")
        expect(page.locator("#login-error")).to_be_visible()
        assert english_left(page) == [], "the sign-in error"
        sign_in(page, ADMIN, PASSWORDS[ADMIN])
        expect(page.locator("nav.mainnav")).to_contain_text("隐患")
        # The dashboard's script has refreshed the states with the API's answer, in the page's words.
        expect(page.locator("#refreshed")).to_contain_text("更新于", timeout=15_000)
        for path, name, heading in (
            ("/", "dashboard", "摄像机"),
            ("/cameras/gate", "camera", CJK_NAME),
            ("/events", "events", "检测事件"),
            ("/tickets", "tickets", "隐患"),
            ("/reports", "reports", "覆盖率报告"),
            ("/audit", "audit", "审计日志"),
            ("/admin/users", "users", "用户"),
        ):
            response = page.goto(path)
            assert response is not None and response.status == 200, path
            expect(page.locator("h1")).to_contain_text(heading)
            page.wait_for_load_state("networkidle")
            assert english_left(page) == [], path
            if name in ("camera", "tickets", "reports", "audit", "users"):
                assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 ", page.inner_text("main")), path  # Chinese dates
            doc_shot(page, name)
        response = page.goto("/cameras/nowhere")
        assert response is not None and response.status == 404
        expect(page.locator(".error-card h1")).to_have_text("未找到")
        assert english_left(page, "nowhere") == [], "the error page"
        assert real_errors(tab.errors) == [], tab.errors
    finally:
        tab.context.close()


def test_switching_back_to_english_is_remembered(chromium: Browser, site: Site) -> None:
    tab = new_tab(chromium, site, None)
    page = tab.page
    try:
        sign_in(page, ADMIN, PASSWORDS[ADMIN], "/tickets")
        page.wait_for_url(re.compile(r"/tickets$"))
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        page.click("#lang-en")
        # Back on the same page, now in English.
        page.wait_for_url(re.compile(r"/tickets$"))
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("h1")).to_have_text("Hidden dangers")
        cookie = {c["name"]: c for c in tab.context.cookies()}[LANGUAGE_COOKIE]
        assert cookie["value"] == "en" and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert cookie["expires"] > time.time() + LANGUAGE_COOKIE_MAX_AGE - 3600
        # Remembered on every page and in a new tab of this browser, signed out and in again.
        page.goto("/audit")
        expect(page.locator("h1")).to_have_text("Audit log")
        second = tab.context.new_page()
        second.goto(f"{site.base}/reports")
        expect(second.locator("h1")).to_have_text("Coverage reports")
        second.click("#sign-out")
        second.wait_for_url(re.compile(r"/login$"))
        expect(second.locator("h1")).to_have_text("Sign in")
        # And back to Chinese the same way.
        second.click("#lang-zh-CN")
        expect(second.locator("h1")).to_have_text("登录")
    finally:
        tab.context.close()
