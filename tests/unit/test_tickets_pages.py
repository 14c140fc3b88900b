"""The hidden-danger pages on the app (no cameras started): the tickets page's order, filters and roles, the
acknowledge form's API with the session's CSRF token, and the dashboard's open dangers first."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.sessions import CSRF_HEADER, SESSION_COOKIE
from gateway.storage.db import Database
from gateway.tickets.store import TicketStore
from tests.support.apisite import USER_PASSWORD, seed, site_config


@dataclass
class Site:
    client: TestClient
    ids: dict[str, int]

    def sign_in(self, role: str) -> str:
        """Signs the client in as the role's user; returns the session's CSRF token."""
        runtime = self.client.app.state.runtime  # type: ignore[attr-defined]
        session = runtime.sessions.login(f"{role}-u", USER_PASSWORD, "testclient")
        self.client.cookies.clear()
        self.client.cookies.set(SESSION_COOKIE, session.token)
        csrf: str = session.csrf
        return csrf

    def page(self, path: str) -> str:
        r = self.client.get(path, follow_redirects=False)
        assert r.status_code == 200, (path, r.status_code, r.text[:500])
        assert "default-src 'self'" in r.headers["content-security-policy"] and r.headers["cache-control"] == "no-store"
        text: str = r.text
        return text


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    config = site_config(tmp_path, monkeypatch)
    seed(config)  # operator and police are granted camera a1 only
    now = time.time()
    with Database(config.storage.url) as db:
        store = TicketStore(db)
        # a1 (gate): offline for two hours, nobody took it on: overdue, first.
        overdue = store.open("a1", ("gate", "entrance"), "offline", "unreachable", now - 2 * 3600, now - 7000)
        # b1 (hall): a covered lens for three hours, acknowledged with a note: older, but taken on, so after.
        taken = store.open("b1", ("hall", "crowded_area"), "picture", "quality:occlusion", now - 3 * 3600, now - 3000)
        store.acknowledge(taken.id, "wang", "梯子已订 ladder ordered", now - 2900)
        # a1 earlier: repaired after 1:30:00.
        repaired = store.open("a1", ("gate", "entrance"), "below_hd", "704x576", now - 86400, now - 84600)
        store.close(repaired.id, now - 86400 + 5400)
    ids = {"overdue": overdue.id, "taken": taken.id, "repaired": repaired.id}
    with TestClient(create_app(config, start_cameras=False)) as client:
        yield Site(client, ids)


def rows(html: str, table: str) -> list[int]:
    """The ticket ids of a table, in order."""
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return [int(n) for n in re.findall(r'<tr data-ticket="(\d+)"', body)]


def test_open_dangers_first_then_closed_with_their_repair_time(site: Site) -> None:
    site.sign_in("admin")
    html = site.page("/tickets")
    assert rows(html, "open-tickets") == [site.ids["overdue"], site.ids["taken"]]
    assert rows(html, "closed-tickets") == [site.ids["repaired"]]
    # The site's language (zh-CN by default): the glossary's words.
    assert 'data-field="ack-by">未确认</span>' in html and 'overdue-badge">逾期</span>' in html
    assert (
        "梯子已订 ladder ordered" in html
        and '<span class="ack-by" data-field="ack-by" translate="no">wang</span>' in html
    )
    assert '<td class="num" data-field="repair">1:30:00</td>' in html
    assert html.count('class="ack-form"') == 2  # an admin takes dangers on
    assert 'href="/cameras/a1"' in html
    assert re.search(r'<a href="/tickets" class="active" aria-current="page">隐患</a>', html)
    assert 'data-since="' in html and "/assets/tickets.js" in html


def test_filters_and_the_link_to_one_ticket(site: Site) -> None:
    site.sign_in("admin")
    closed = site.page("/tickets?state=closed")
    assert 'id="open-tickets"' not in closed and rows(closed, "closed-tickets") == [site.ids["repaired"]]
    hall = site.page("/tickets?zone=hall")
    assert rows(hall, "open-tickets") == [site.ids["taken"]] and 'id="closed-tickets"' not in hall
    a1 = site.page("/tickets?camera=a1&state=open")
    assert rows(a1, "open-tickets") == [site.ids["overdue"]]
    one = site.page(f"/tickets?id={site.ids['taken']}")
    assert rows(one, "open-tickets") == [site.ids["taken"]] and 'id="closed-tickets"' not in one
    bad = site.page("/tickets?state=nope&zone=attic&camera=zz&id=x")
    assert "未知状态" in bad and "未知区域" in bad and "未向您共享" in bad and "没有隐患工单" in bad
    assert len(rows(bad, "open-tickets")) == 2  # shown unfiltered


def test_others_read_the_dangers_they_may_see_and_do_not_acknowledge(site: Site) -> None:
    site.sign_in("police")  # granted a1 only
    html = site.page("/tickets")
    assert rows(html, "open-tickets") == [site.ids["overdue"]]
    assert rows(html, "closed-tickets") == [site.ids["repaired"]]
    # Not "b1" anywhere: the page's random CSRF token may hold those two characters.
    assert "ack-form" not in html and 'href="/cameras/b1"' not in html and "Hall B" not in html
    hidden = site.page(f"/tickets?id={site.ids['taken']}")
    assert "未向您共享" in hidden and "梯子" not in hidden
    site.sign_in("auditor")
    assert "ack-form" not in site.page("/tickets")
    site.sign_in("operator")
    assert site.page("/tickets").count('class="ack-form"') == 1


def test_acknowledging_from_the_page_needs_the_session_token(site: Site) -> None:
    csrf = site.sign_in("operator")
    url = f"/api/v1/tickets/{site.ids['overdue']}/ack"
    # The API's messages in English (Accept-Language), as the assertions below read them.
    english = {"Accept-Language": "en"}
    refused = site.client.post(url, json={"note": "forged"}, headers=english)
    assert refused.status_code == 403 and CSRF_HEADER in refused.json()["error"]
    done = site.client.post(url, json={"note": "换电源 new power supply"}, headers={CSRF_HEADER: csrf})
    assert done.status_code == 200, done.text
    assert done.json()["acknowledged_by"] == "operator-u" and done.json()["note"] == "换电源 new power supply"
    html = site.page("/tickets")
    assert "逾期" not in html and "换电源 new power supply" in html
    assert rows(html, "open-tickets") == [site.ids["overdue"]]  # b1's is not the operator's to see
    hidden = site.client.post(f"/api/v1/tickets/{site.ids['taken']}/ack", json={}, headers={CSRF_HEADER: csrf})
    assert hidden.status_code == 404  # b1 is not granted to the operator
    police = site.client.post(url, json={}, headers={CSRF_HEADER: site.sign_in("police"), **english})
    assert police.status_code == 403 and "admins and operators" in police.json()["error"]


def test_the_dashboard_shows_open_dangers_first(site: Site) -> None:
    site.sign_in("admin")
    html = site.page("/")
    dangers = html.index('id="dangers"')
    assert dangers < html.index('class="summary"') < html.index('id="camera-table"')
    assert rows(html, "danger-table") == [site.ids["overdue"], site.ids["taken"]]
    assert f'href="/tickets?id={site.ids["overdue"]}"' in html and 'href="/tickets" id="dangers-all"' in html
    assert "未确认" in html and ">wang</span>" in html
    assert '<span class="count" data-count="dangers">2</span>' in html
    assert "&#34;offline&#34;" in html  # the fault labels for the script, escaped in their attribute
    site.sign_in("police")
    assert rows(site.page("/"), "danger-table") == [site.ids["overdue"]]


def test_a_user_who_chose_english_reads_the_dangers_in_english(site: Site) -> None:
    site.sign_in("admin")
    site.client.cookies.set("lang", "en")
    html = site.page("/tickets")
    assert '<html lang="en">' in html
    assert 'data-field="ack-by">not acknowledged</span>' in html and 'overdue-badge">overdue</span>' in html
    assert "未确认" not in html  # nor in the scripts' words: English needs none
    assert re.search(r'<a href="/tickets" class="active" aria-current="page">Hidden dangers</a>', html)
    assert '<td class="num" data-field="repair">1:30:00</td>' in html
