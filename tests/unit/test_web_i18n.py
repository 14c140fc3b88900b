"""The pages in the users' language: no English word left in a template or on a page rendered in
Chinese (names, units and standards aside: tests/support/i18n_words.py), the language switch and its
cookie, and the same pages in English for a user who chose it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.config import GatewayConfig
from gateway.sessions import SESSION_COOKIE
from gateway.web import TEMPLATES_DIR
from tests.support.apisite import USER_PASSWORD, seed, site_config
from tests.support.i18n_words import foreign_words, readable_text

# A {% trans %} block is a catalog message (tests/unit/test_i18n_catalogs.py checks it is translated).
_TRANS = re.compile(r"{%-?\s*trans\b.*?%}.*?{%-?\s*endtrans\s*-?%}", re.S)
# The page's class names (base.html puts the block in an attribute).
_CLASS_BLOCK = re.compile(r"{%\s*block body_class\s*%}.*?{%\s*endblock\s*%}", re.S)
_JINJA = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}", re.S)
# Where a template computed something, a placeholder without letters.
_HOLE = " 0 "


def template_words(source: str) -> list[str]:
    """The Latin words a template writes as literal text (what it prints through the catalog left out)."""
    literal = _JINJA.sub(_HOLE, _TRANS.sub(_HOLE, _CLASS_BLOCK.sub(_HOLE, source)))
    return foreign_words(readable_text(literal))


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES_DIR.glob("*.html")))
def test_no_template_writes_an_untranslated_word(template: str) -> None:
    assert template_words((TEMPLATES_DIR / template).read_text(encoding="utf-8")) == []


def test_the_template_check_finds_a_literal_word() -> None:
    assert template_words('<p title="Pick one">{{ _("Cameras") }} <b>Live</b> 25 fps</p>') == ["Live", "Pick", "one"]
    assert template_words('{% trans %}Sign in{% endtrans %}<span translate="no">Gate A</span>') == []
    assert template_words('<script>const x = "word";</script><a lang="en">English</a>') == []


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, GatewayConfig]]:
    config = site_config(tmp_path, monkeypatch)
    seed(config)
    with TestClient(create_app(config, start_cameras=False)) as client:
        yield client, config


def _sign_in(client: TestClient) -> None:
    session = client.app.state.runtime.sessions.login("admin-u", USER_PASSWORD, "testclient")  # type: ignore[attr-defined]
    client.cookies.set(SESSION_COOKIE, session.token)


def _names(config: GatewayConfig) -> list[str]:
    """The site's own names: shown as configured, in whatever script they were written."""
    names = [config.site.name, config.site.unit.name, config.site.timezone, "admin-u", "operator-u", "police-u"]
    names += ["auditor-u", "viewer"]
    for camera in config.cameras:
        names += [camera.id, camera.name]
    for zone in config.zones:
        names += [zone.id, zone.name]
    return names


PAGES = ("/", "/cameras/a1", "/events", "/tickets", "/reports", "/audit", "/admin/users")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_speaks_chinese_by_default(site: tuple[TestClient, GatewayConfig], path: str) -> None:
    client, config = site
    _sign_in(client)
    r = client.get(path)
    assert r.status_code == 200, r.text[:300]
    assert '<html lang="zh-CN">' in r.text
    assert foreign_words(readable_text(r.text), _names(config)) == []


def test_the_sign_in_and_error_pages_speak_chinese(site: tuple[TestClient, GatewayConfig]) -> None:
    client, config = site
    login = client.get("/login")
    assert "登录" in login.text and foreign_words(readable_text(login.text), _names(config)) == []
    failed = client.post("/login", data={"name": "admin-u", "password": "x", "csrf": "forged"})
    assert failed.status_code == 400 and "登录表单已过期" in failed.text
    _sign_in(client)
    missing = client.get("/cameras/nowhere")
    assert missing.status_code == 404 and "<h1>未找到</h1>" in missing.text
    assert foreign_words(readable_text(missing.text), [*_names(config), "nowhere"]) == []


def test_the_switch_remembers_the_choice_for_a_year(site: tuple[TestClient, GatewayConfig]) -> None:
    client, _ = site
    r = client.get("/language", params={"to": "en", "next": "/tickets?state=open"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/tickets?state=open"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("lang=en;") and "Max-Age=31536000" in cookie and "Path=/" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    # Only a path on this gateway: anything else would make the switch an open redirect.
    away = client.get("/language", params={"to": "zh-CN", "next": "//evil.example/"}, follow_redirects=False)
    assert away.headers["location"] == "/" and away.headers["set-cookie"].startswith("lang=zh-CN;")
    # A language the pages do not speak changes nothing.
    other = client.get("/language", params={"to": "fr", "next": "/"}, follow_redirects=False)
    assert other.status_code == 303 and "set-cookie" not in other.headers
    https = TestClient(client.app, base_url="https://testserver")
    assert "Secure" in https.get("/language?to=en", follow_redirects=False).headers["set-cookie"]


def test_a_user_who_chose_english_reads_english(site: tuple[TestClient, GatewayConfig]) -> None:
    client, _ = site
    _sign_in(client)
    client.cookies.set("lang", "en")
    html = client.get("/").text
    assert '<html lang="en">' in html and ">Sign out</button>" in html and ">Hidden dangers</a>" in html
    # The switch offers Chinese, named in Chinese, and brings the user back to this page.
    assert 'href="/language?to=zh-CN&amp;next=/"' in html and ">中文</a>" in html
    assert '<script type="application/json" id="i18n">{}</script>' in html  # English needs no words
    # A page with a query comes back to the same query.
    filtered = client.get("/tickets", params={"state": "open", "zone": "hall"}).text
    assert 'href="/language?to=zh-CN&amp;next=/tickets%3Fstate%3Dopen%26zone%3Dhall"' in filtered
    camera = client.get("/cameras/a1").text
    assert "Measured stream" in camera and "实测码流" not in camera
    # The report downloads a page offers are in the page's language, whatever the browser's header says.
    reports = client.get("/reports").text
    assert 'data-format="pdf"' in reports and "lang=en&amp;format=pdf" in reports
