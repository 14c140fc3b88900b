"""Security checks over every route the app has: headers, authentication, grants, roles, sign-in throttling.

Routes are enumerated from the app itself, so a route added later is checked without editing this file;
the only hand-kept list is PUBLIC, the routes that answer without credentials.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

import gateway.sessions
from gateway.app import create_app
from gateway.sessions import SESSION_COOKIE
from tests.support.apisite import USER_PASSWORD, bearer, seed, site_config

# (method, path) that answer without credentials; a mount is listed with the method "*".
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/login"),
    ("POST", "/login"),
    # Signed out, sign-out just goes to the sign-in form.
    ("POST", "/logout"),
    # The language switch: a cookie and a redirect to a local path, for the sign-in page too.
    ("GET", "/language"),
    ("*", "/assets"),
    ("*", "/docs-assets"),
}
# Values for path parameters: the granted camera, a stored event, an existing user.
PARAMS = {
    "camera_id": "a1",
    "event_id": "1",
    "name": "police-u",
    "session_id": "nope",
    "token": "nope",
    "ticket_id": "1",
}


def routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for route in iter_route_contexts(app.routes):
        for method in sorted(route.methods or {"*"}):
            if method != "HEAD":
                found.append((method, route.path or ""))
    return found


def is_api(path: str) -> bool:
    return path.startswith(("/api/", "/metrics"))


def concrete(path: str, **override: str) -> str:
    values = PARAMS | override
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, str]]]:
    config = site_config(tmp_path, monkeypatch)
    tokens = seed(config)
    with TestClient(create_app(config, start_cameras=False)) as client:
        yield client, tokens


def sign_in(client: TestClient, name: str) -> str:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    token: str = runtime.sessions.login(name, USER_PASSWORD, "testclient").token
    return token


# ----------------------------------------------------------------------------------------- headers


def test_security_headers_on_every_route(site: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = site
    session = sign_in(client, "admin-u")
    checked = 0
    for method, path in routes(client.app):  # type: ignore[arg-type]
        if method not in ("GET", "*"):
            continue
        url = concrete(path) if method == "GET" else f"{path}/{'app.css' if path == '/assets' else 'favicon-32x32.png'}"
        # API routes with the admin's token, pages with the admin's session; public routes either way.
        headers = bearer(tokens["admin"]) if is_api(path) else {}
        cookies = {} if is_api(path) else {SESSION_COOKIE: session}
        client.cookies.clear()
        client.cookies.update(cookies)
        r = client.get(url, headers=headers, follow_redirects=False)
        # 503: the camera has no picture yet (supervisors are not started here).
        assert r.status_code < 500 or (r.status_code == 503 and path.endswith("/snapshot")), (url, r.status_code)
        h = r.headers
        assert h["x-content-type-options"] == "nosniff", url
        assert h["x-frame-options"] == "DENY", url
        assert h["referrer-policy"] == "no-referrer", url
        csp = h["content-security-policy"]
        assert "frame-ancestors 'none'" in csp or ("frame-ancestors" not in csp and "default-src 'none'" in csp), url
        assert "default-src" in csp, url
        if path != "/docs":
            # Only Swagger UI's own page needs an inline script.
            assert "unsafe-inline" not in csp.split("script-src", 1)[-1] or "script-src" not in csp, url
        assert "server" not in h, url
        cache = h.get("cache-control", "")
        if method == "*":
            assert "no-store" not in cache  # static assets may be cached
        else:
            # Every authenticated answer stays out of shared caches; a few images may sit in the browser's own.
            assert "no-store" in cache or cache.startswith("private"), (url, cache)
        checked += 1
    assert checked > 30
    client.cookies.clear()


def test_uvicorn_sends_no_server_header(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from gateway import serve

    seen: dict[str, object] = {}

    class Stop(Exception):
        pass

    def fake_run(self: object) -> None:
        seen.update(vars(self.config))  # type: ignore[attr-defined]
        raise Stop

    monkeypatch.setattr(serve._Server, "run", fake_run)
    with pytest.raises(Stop):
        serve.serve(FastAPI(), "127.0.0.1", 0)
    assert seen["server_header"] is False
    assert isinstance(uvicorn.Config, type)


# -------------------------------------------------------------------------------------------- auth


def test_public_allow_list_is_short_and_real(site: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = site
    present = set(routes(client.app))  # type: ignore[arg-type]
    assert present >= PUBLIC, PUBLIC - present
    assert len(PUBLIC) <= 9


def test_every_route_refuses_missing_garbage_revoked_and_ended_credentials(
    site: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = site
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    revoked = runtime.users.issue_token("operator-u")
    runtime.users.revoke_tokens("operator-u")
    runtime.users.set_disabled("auditor-u", True)
    ended = sign_in(client, "admin-u")
    runtime.sessions.logout(ended)
    attempts: list[tuple[dict[str, str], dict[str, str]]] = [
        ({}, {}),
        (bearer("gw_garbage"), {}),
        (bearer(""), {}),
        ({"Authorization": "Basic YWRtaW46YWRtaW4="}, {}),
        (bearer(revoked), {}),
        (bearer(tokens["auditor"]), {}),  # a disabled user's token
        ({}, {SESSION_COOKIE: ended}),
        ({}, {SESSION_COOKIE: "x" * 43}),
    ]
    checked = 0
    for method, path in routes(client.app):  # type: ignore[arg-type]
        if (method, path) in PUBLIC or ("*", path) in PUBLIC:
            continue
        for headers, cookies in attempts:
            client.cookies.clear()
            client.cookies.update(cookies)
            r = client.request(method, concrete(path), headers=headers, follow_redirects=False)
            what = (method, path, headers, cookies)
            if is_api(path):
                assert r.status_code == 401, (what, r.status_code, r.text)
                assert r.headers["www-authenticate"] == "Bearer"
            else:
                assert r.status_code == 303, (what, r.status_code)
                assert r.headers["location"].startswith("/login"), what
            checked += 1
    assert checked >= 8 * 40
    client.cookies.clear()


def test_anonymous_bodies_are_not_parsed(site: tuple[TestClient, dict[str, str]]) -> None:
    # Regression (schemathesis): a malformed body without a token got FastAPI's 400/422 before the 401.
    client, _ = site
    for body in (b"{not json", b"--x\r\nbroken multipart", b"\xff" * 100):
        r = client.post("/api/v1/users", content=body, headers={"Content-Type": "multipart/form-data; boundary=x"})
        assert r.status_code == 401, r.text
        r = client.post("/api/v1/users/police-u/grants", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 401, r.text


# ------------------------------------------------------------------------------------------ grants


def test_a_user_granted_camera_a_cannot_reach_camera_b(site: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = site
    offer = {"sdp": "v=0\r\n", "type": "offer"}
    per_camera = [(m, p) for m, p in routes(client.app) if "{camera_id}" in p and is_api(p)]  # type: ignore[arg-type]
    assert len(per_camera) >= 10
    for role in ("police", "operator"):
        h = bearer(tokens[role])
        for method, path in per_camera:
            body = offer if method == "POST" else None
            other = client.request(method, concrete(path, camera_id="b1"), headers=h, json=body)
            missing = client.request(method, concrete(path, camera_id="zz"), headers=h, json=body)
            # Not granted reads exactly like not there: same status, same message shape.
            assert other.status_code == missing.status_code == 404, (role, method, path, other.status_code)
            assert other.json()["error"].replace("b1", "zz") == missing.json()["error"], (role, path)
            if method == "GET":
                mine = client.get(concrete(path, camera_id="a1"), headers=h)
                assert mine.status_code != 404, (role, path, mine.text)
        # Lists carry only the granted camera.
        assert [c["id"] for c in client.get("/api/v1/cameras", headers=h).json()] == ["a1"]
        assert client.get("/api/v1/me", headers=h).json()["cameras"] == ["a1"]
        events = client.get("/api/v1/events", headers=h).json()["events"]
        assert events and {e["camera_id"] for e in events} == {"a1"}
        assert client.get("/api/v1/events", params={"camera": "b1"}, headers=h).status_code in (404, 422)
        b_event = next(
            e["id"]
            for e in client.get("/api/v1/events", headers=bearer(tokens["admin"])).json()["events"]
            if e["camera_id"] == "b1"
        )
        assert client.get(f"/api/v1/events/{b_event}", headers=h).status_code == 404
        assert client.get(f"/api/v1/events/{b_event}/snapshot", headers=h).status_code == 404
        site_zones = {z["id"]: z["cameras"] for z in client.get("/api/v1/site", headers=h).json()["zones"]}
        assert "b1" not in str(site_zones)
    operator = bearer(tokens["operator"])
    report = client.get("/api/v1/reports/coverage", params={"format": "json"}, headers=operator)
    assert report.status_code == 200 and '"b1"' not in report.text and "Hall B" not in report.text
    metrics = client.get("/metrics", headers=operator)
    # Metrics name every camera: only for those who see every camera.
    assert metrics.status_code == 403


def test_only_admins_change_users_tokens_and_grants(site: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = site
    body = {"name": "x-new", "role": "police", "kind": "camera", "target": "a1", "disabled": True}
    changes = [(m, p) for m, p in routes(client.app) if m in ("POST", "PATCH", "PUT", "DELETE") and is_api(p)]  # type: ignore[arg-type]
    # Live view and replay are for the viewing roles, tickets are acknowledged by the unit's operators
    # too; every other change is an admin's.
    admin_only = [
        (m, p) for m, p in changes if "/webrtc" not in p and not p.endswith(("/replay", "/ack")) and "/ptz" not in p
    ]
    assert len(admin_only) >= 6
    for role in ("auditor", "police", "operator"):
        for method, path in admin_only:
            r = client.request(method, concrete(path), headers=bearer(tokens[role]), json=body)
            assert r.status_code == 403, (role, method, path, r.status_code)
    for role in ("auditor", "police"):  # they read tickets; the unit's own people take them on
        r = client.post("/api/v1/tickets/1/ack", headers=bearer(tokens[role]), json={"note": "x"})
        assert r.status_code == 403, (role, r.status_code)
        # Auditors read; they never start a live view.
    r = client.post("/api/v1/cameras/a1/webrtc", headers=bearer(tokens["auditor"]), json={"sdp": "v=0\r\n"})
    assert r.status_code == 403
    span = {"sdp": "v=0\r\n", "start": "2026-12-06T09:00:00+08:00", "end": "2026-12-06T10:00:00+08:00"}
    r = client.post("/api/v1/cameras/a1/replay", headers=bearer(tokens["auditor"]), json=span)
    assert r.status_code == 403
    audit = client.get("/api/v1/users", headers=bearer(tokens["admin"])).json()
    assert "x-new" not in {u["name"] for u in audit}


# ------------------------------------------------------------------------------------------- login


def _form(client: TestClient) -> str:
    page = client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def _login(client: TestClient, name: str, password: str) -> tuple[int, str]:
    r = client.post("/login", data={"name": name, "password": password, "csrf": _form(client)}, follow_redirects=False)
    return r.status_code, r.text


def test_sign_in_is_throttled_by_name_and_by_address(
    site: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, tokens = site
    app = client.app
    # The messages as an English reader sees them (the user's language switch).
    client.cookies.set("lang", "en")
    for _ in range(gateway.sessions.MAX_FAILURES):
        status, text = _login(client, "police-u", "wrong-password-guess")
        assert status == 401 and "Wrong user name or password" in text
    # The right password waits too, so a guesser cannot tell it was right.
    status, text = _login(client, "police-u", USER_PASSWORD)
    assert status == 401 and "Too many failed sign-ins" in text
    # Keyed by name: the same name from another address waits ...
    # (No `with`: a second lifespan would make a second runtime, with a throttle of its own.)
    elsewhere = TestClient(app, client=("10.7.7.7", 4000))
    elsewhere.cookies.set("lang", "en")
    status, text = _login(elsewhere, "police-u", USER_PASSWORD)
    assert status == 401 and "Too many" in text
    # ... and by address: another name from the guessing address waits, from elsewhere it does not.
    assert _login(elsewhere, "operator-u", USER_PASSWORD)[0] == 303
    assert "Too many" in _login(client, "operator-u", USER_PASSWORD)[1]
    # Once the window has passed, the right password works again.
    later = time.time() + gateway.sessions.FAILURE_WINDOW_S + 1
    monkeypatch.setattr(gateway.sessions, "time", SimpleNamespace(time=lambda: later))
    assert _login(client, "police-u", USER_PASSWORD)[0] == 303
    monkeypatch.undo()
    audit = client.get("/api/v1/audit", params={"action": "login_failed", "limit": 50}, headers=bearer(tokens["admin"]))
    reasons = [e["detail"]["why"] for e in audit.json()["entries"] if e["actor"] == "police-u"]
    assert reasons.count("wrong name or password") == gateway.sessions.MAX_FAILURES
    assert reasons.count("throttled") == 2
