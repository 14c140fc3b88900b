"""Grants, passwords and web sessions: who sees which camera, who is signed in, and what is refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.access import GrantStore
from gateway.app import create_app
from gateway.audit import AuditLog
from gateway.auth import UserStore, hash_password, verify_password
from gateway.config import GatewayConfig, ServerConfig, parse_config
from gateway.errors import AuthError, ConflictError, InvalidRequestError, NotFoundError
from gateway.sessions import CSRF_HEADER, SESSION_COOKIE, LoginThrottle, SessionStore
from gateway.storage.db import Database

# These tests check what is refused; the words in Chinese are checked in test_messages_language.py.
ENGLISH = {"Accept-Language": "en"}
pytestmark = pytest.mark.usefixtures("english")

PASSWORD = "correct horse battery"


@pytest.fixture
def config(tmp_path: Path, gateway_storage_url: str) -> GatewayConfig:
    return parse_config(
        {
            "site": {"id": "s1", "name": "Site", "unit": {"name": "U", "headcount": 10, "key_unit": True}},
            "zones": [
                {"id": "gate", "name": "Gate", "kind": "entrance"},
                {"id": "hall", "name": "Hall", "kind": "crowded_area"},
            ],
            "cameras": [
                {"id": "g1", "name": "Gate 1", "source": {"rtsp": "rtsp://127.0.0.1:9/a"}, "zones": ["gate"]},
                {"id": "g2", "name": "Gate 2", "source": {"rtsp": "rtsp://127.0.0.1:9/b"}, "zones": ["gate"]},
                {"id": "h1", "name": "Hall", "source": {"rtsp": "rtsp://127.0.0.1:9/c"}, "zones": ["hall"]},
            ],
            "storage": {"url": gateway_storage_url},
        }
    )


@pytest.fixture
def db(config: GatewayConfig) -> Database:
    return Database(config.storage.url).open()


def test_passwords_are_salted_scrypt_and_checked_in_constant_form() -> None:
    a, b = hash_password(PASSWORD), hash_password(PASSWORD)
    assert a != b and a.startswith("scrypt$") and PASSWORD not in a
    assert verify_password(PASSWORD, a) and not verify_password(PASSWORD + "x", a)
    assert not verify_password(PASSWORD, None) and not verify_password(PASSWORD, "md5$x")


def test_grants_by_camera_zone_and_all(config: GatewayConfig, db: Database) -> None:
    users = UserStore(db)
    grants = GrantStore(db, config, users)
    for name, role in (("pc", "police"), ("op", "operator"), ("au", "auditor"), ("ad", "admin")):
        users.add_user(name, role)
    assert grants.access_for(users.get("pc")).camera_ids == frozenset()
    grants.grant("pc", "zone", "gate", by="ad")
    grants.grant("pc", "camera", "h1", by="ad")
    access = grants.access_for(users.get("pc"))
    assert access.camera_ids == {"g1", "g2", "h1"} and not access.all_cameras
    grants.revoke("pc", "zone", "gate")
    assert grants.access_for(users.get("pc")).camera_ids == {"h1"}
    grants.grant("op", "all", "*", by="ad")
    assert grants.access_for(users.get("op")).all_cameras
    # Admins and auditors see everything without grants, and cannot be given any.
    assert grants.access_for(users.get("au")).all_cameras and grants.access_for(users.get("ad")).all_cameras
    with pytest.raises(InvalidRequestError, match="sees every camera already"):
        grants.grant("au", "camera", "g1", by="ad")
    with pytest.raises(NotFoundError, match="no camera 'nope'"):
        grants.grant("pc", "camera", "nope", by="ad")
    with pytest.raises(ConflictError, match="already has"):
        grants.grant("pc", "camera", "h1", by="ad")
    with pytest.raises(InvalidRequestError, match="camera, zone or all"):
        grants.grant("pc", "site", "x", by="ad")
    assert [g.describe() for g in grants.list_grants("pc")] == ["camera h1"]


def sessions(db: Database, **server: float) -> tuple[UserStore, SessionStore, AuditLog]:
    users = UserStore(db)
    log = AuditLog(db)
    return users, SessionStore(db, users, log, ServerConfig(**server)), log  # type: ignore[arg-type]


def test_sign_in_sign_out_and_what_the_audit_log_says(db: Database) -> None:
    users, store, log = sessions(db)
    users.add_user("pc", "police")
    with pytest.raises(AuthError, match="wrong user name or password"):
        store.login("pc", PASSWORD, "10.1.1.1")  # no password set yet: tokens only
    users.set_password("pc", PASSWORD)
    session = store.login("pc", PASSWORD, "10.1.1.1")
    assert store.get(session.token) is not None and store.get(session.token).user.name == "pc"  # type: ignore[union-attr]
    assert store.get("forged") is None
    store.logout(session.token, "10.1.1.1")
    assert store.get(session.token) is None
    actions = [(e.action, e.actor, e.source) for e in reversed(log.query(limit=10))]
    assert actions == [
        ("login_failed", "pc", "10.1.1.1"),
        ("login", "pc", "10.1.1.1"),
        ("logout", "pc", "10.1.1.1"),
    ]
    # The password is never part of what is recorded.
    assert all(PASSWORD not in str(e.detail) for e in log.query(limit=10))


def test_idle_and_disabled_sessions_end(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    users, store, _ = sessions(db, session_idle_minutes=1)
    users.add_user("pc", "police")
    users.set_password("pc", PASSWORD)
    session = store.login("pc", PASSWORD, None)
    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)
    assert store.get(session.token) is None
    monkeypatch.undo()
    session = store.login("pc", PASSWORD, None)
    users.set_disabled("pc", True)
    assert store.get(session.token) is None
    # Old rows go; a live one stays.
    assert store.prune(time.time() - 3600) == 0
    assert store.prune(time.time() + 13 * 3600) == 2


def test_guessing_is_throttled_per_name_and_per_address(db: Database) -> None:
    users, store, _ = sessions(db)
    users.add_user("pc", "police")
    users.set_password("pc", PASSWORD)
    for _ in range(5):
        with pytest.raises(AuthError, match="wrong"):
            store.login("pc", "guess-guess-guess", "10.9.9.9")
    # Even the right password waits now: the guesser must not learn it was right.
    with pytest.raises(AuthError, match="too many failed sign-ins"):
        store.login("pc", PASSWORD, "10.1.1.1")
    throttle = LoginThrottle(max_failures=2, window_s=10)
    throttle.failed(["ip:a"], 100.0)
    throttle.failed(["ip:a"], 101.0)
    assert throttle.wait_s(["ip:a"], 102.0) == pytest.approx(8.0)
    assert throttle.wait_s(["ip:a"], 111.0) == 0.0


def test_cookie_requests_need_the_csrf_token_to_change_anything(config: GatewayConfig) -> None:
    with Database(config.storage.url) as db:
        users = UserStore(db)
        users.add_user("boss", "admin")
        users.set_password("boss", PASSWORD)
    with TestClient(create_app(config, start_cameras=False), headers=ENGLISH) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        session = runtime.sessions.login("boss", PASSWORD, "testclient")
        client.cookies.set(SESSION_COOKIE, session.token)
        assert client.get("/api/v1/users").status_code == 200  # reading needs no CSRF token
        body = {"name": "new-officer", "role": "police"}
        refused = client.post("/api/v1/users", json=body)
        assert refused.status_code == 403 and CSRF_HEADER in refused.json()["error"]
        wrong = client.post("/api/v1/users", json=body, headers={CSRF_HEADER: "nope"})
        assert wrong.status_code == 403
        made = client.post("/api/v1/users", json=body, headers={CSRF_HEADER: session.csrf})
        assert made.status_code == 201, made.text
        granted = client.post(
            "/api/v1/users/new-officer/grants",
            json={"kind": "zone", "target": "hall"},
            headers={CSRF_HEADER: session.csrf},
        )
        assert granted.status_code == 201, granted.text
        audit = client.get("/api/v1/audit", params={"action": "grant_add"}).json()
        assert audit["total"] == 1 and audit["entries"][0]["actor"] == "boss"
        assert audit["entries"][0]["detail"] == {"kind": "zone", "target": "hall"}
        csv_export = client.get("/api/v1/audit", params={"format": "csv"})
        assert csv_export.status_code == 200 and "grant_add" in csv_export.text
        assert client.get("/api/v1/audit/verify").json()["ok"] is True
        # A bad password for a new user is refused before the user exists.
        short = client.post(
            "/api/v1/users",
            json={"name": "x", "role": "police", "password": "short"},
            headers={CSRF_HEADER: session.csrf},
        )
        assert short.status_code == 422 and "at least 10" in short.json()["error"]
        assert "x" not in {u["name"] for u in client.get("/api/v1/users").json()}
        client.cookies.clear()
        assert client.get("/api/v1/users").status_code == 401


def test_police_and_auditors_cannot_read_or_change_what_is_not_theirs(config: GatewayConfig) -> None:
    with Database(config.storage.url) as db:
        users = UserStore(db)
        tokens = {role: users.add_user(f"{role}-u", role)[1] for role in ("police", "auditor", "admin")}
        GrantStore(db, config, users).grant("police-u", "camera", "g1", by="t")
    with TestClient(create_app(config, start_cameras=False), headers=ENGLISH) as client:
        police = {"Authorization": f"Bearer {tokens['police']}"}
        assert client.get("/api/v1/me", headers=police).json()["cameras"] == ["g1"]
        assert client.get("/api/v1/cameras/h1/uptime", headers=police).status_code == 404
        assert client.get("/api/v1/cameras/g1/uptime", headers=police).status_code == 200
        assert [z["cameras"] for z in client.get("/api/v1/site", headers=police).json()["zones"]] == [["g1"], []]
        assert client.get("/api/v1/audit", headers=police).status_code == 403
        auditor = {"Authorization": f"Bearer {tokens['auditor']}"}
        assert client.get("/api/v1/audit", headers=auditor).status_code == 200
        assert client.post("/api/v1/users/police-u/grants", json={"kind": "all"}, headers=auditor).status_code == 403
        bad = client.get("/api/v1/audit", params={"action": "nope"}, headers=auditor)
        assert bad.status_code == 422 and "'action' must be one of" in bad.json()["error"]
