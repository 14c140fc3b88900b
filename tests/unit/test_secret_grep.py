"""No secret leaves the gateway: everything the API, the pages, the reports and the logs produce is grepped.

The site holds a camera password (in its RTSP URL), MQTT, GB/T 28181 and GA/T 1400 passwords, a
webhook key, a group bot's URL token and signing secret, an SMTP password, users' passwords, API
tokens and a session cookie. Each is searched for raw, URL-encoded and base64-encoded (standard and
URL-safe) in every answer body and header and in the DEBUG log.
"""

from __future__ import annotations

import base64
import io
import logging
import re
from pathlib import Path
from urllib.parse import quote

import pypdf
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.sessions import SESSION_COOKIE
from tests.support.apisite import CONFIG_SECRETS, USER_PASSWORD, bearer, seed, site_config

PARAMS = {"camera_id": "a1", "event_id": "1", "name": "police-u", "session_id": "nope", "ticket_id": "1"}


def encodings(secret: str) -> set[str]:
    raw = secret.encode()
    forms = {secret, quote(secret, safe=""), quote(secret)}
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        # Inside a longer base64 text the secret's own encoding depends on its offset; the middle is stable.
        forms.add(enc(raw).decode().rstrip("=")[2:-2])
    return {f for f in forms if len(f) >= 8}


def test_no_secret_in_answers_reports_or_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = site_config(tmp_path, monkeypatch, uplinks=True)
    tokens = seed(config)
    produced: list[tuple[str, str]] = []

    def keep(what: str, text: str) -> None:
        produced.append((what, text))

    with TestClient(create_app(config, start_cameras=False)) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        session = runtime.sessions.login("admin-u", USER_PASSWORD, "testclient")
        admin = bearer(tokens["admin"])
        for route in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
            if "GET" not in (route.methods or ()):
                continue
            path = route.path or ""
            url = re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], path)
            client.cookies.clear()
            if path.startswith(("/api/", "/metrics")):
                r = client.get(url, headers=admin)
            else:
                client.cookies.set(SESSION_COOKIE, session.token)
                r = client.get(url)
            keep(f"GET {url}", r.text + str(r.headers))
        client.cookies.clear()
        for fmt in ("json", "csv", "html", "pdf"):
            r = client.get("/api/v1/reports/coverage", params={"format": fmt, "period": "day"}, headers=admin)
            assert r.status_code == 200, (fmt, r.text)
            body = r.text
            if fmt == "pdf":
                body = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(r.content)).pages)
                assert "a1" in body or "Gate A" in body  # the extraction works: the report names the camera
                body += r.content.decode("latin-1")
            keep(f"report {fmt}", body + str(r.headers))
        for fmt in ("json", "csv"):
            r = client.get("/api/v1/audit", params={"format": fmt}, headers=admin)
            keep(f"audit {fmt}", r.text)
        # Changes that handle secrets: a new password, a new token (its own answer shows it once, by design).
        r = client.patch("/api/v1/users/police-u", json={"password": "another-Secret-99"}, headers=admin)
        keep("set password", r.text)
        issued = client.post("/api/v1/users/police-u/tokens", headers=admin)
        assert issued.status_code in (200, 201), issued.text
        new_token = issued.json()["token"]
        keep("users after", client.get("/api/v1/users", headers=admin).text)
        keep("audit after", client.get("/api/v1/audit", params={"format": "csv"}, headers=admin).text)
        # Failed attempts with secrets as credentials must not echo them.
        r = client.get("/api/v1/cameras", headers=bearer(CONFIG_SECRETS[0]))
        keep("bad token", r.text + str(r.headers))

    keep("log", caplog.text)
    # (The CSRF token is not among them: every page carries it, by design.)
    secrets = [*CONFIG_SECRETS, USER_PASSWORD, "another-Secret-99", session.token, new_token]
    secrets += tokens.values()
    assert len(produced) > 40
    leaks = [
        (what, secret, form)
        for secret in secrets
        for form in encodings(secret)
        for what, text in produced
        if form in text
    ]
    assert leaks == []
    # The grep looked where the secrets would be: the camera URL was shown, masked, and the token issued.
    assert any("viewer:***@127.0.0.1" in text for _, text in produced)
    assert new_token in issued.text
