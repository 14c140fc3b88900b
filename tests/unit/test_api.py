from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.access import GrantStore
from gateway.app import create_app
from gateway.auth import UserStore
from gateway.config import GatewayConfig, parse_config
from gateway.storage.db import Database

# These tests check what is refused; the words in Chinese are checked in test_messages_language.py.
ENGLISH = {"Accept-Language": "en"}


@pytest.fixture
def config(tmp_path: Path, gateway_storage_url: str, monkeypatch: pytest.MonkeyPatch) -> GatewayConfig:
    monkeypatch.setenv("API_TEST_PW", "cam-password-1")
    return parse_config(
        {
            "site": {"id": "s1", "name": "Test site", "unit": {"name": "Unit", "headcount": 10, "key_unit": True}},
            "zones": [{"id": "gate", "name": "Gate", "kind": "entrance"}],
            "cameras": [
                {
                    "id": "cam1",
                    "name": "Gate cam",
                    "source": {"rtsp": "rtsp://127.0.0.1:9/a"},
                    "credentials": {"username": "viewer", "password": {"env": "API_TEST_PW"}},
                    "zones": ["gate"],
                    "expected": {"resolution": "1920x1080"},
                },
                {"id": "cam2", "name": "Off", "enabled": False, "source": {"rtsp": "rtsp://127.0.0.1:9/b"}},
            ],
            "storage": {"url": gateway_storage_url},
        }
    )


@pytest.fixture
def tokens(config: GatewayConfig) -> dict[str, str]:
    with Database(config.storage.url) as db:
        store = UserStore(db)
        made = {role: store.add_user(f"{role}-user", role)[1] for role in ("admin", "operator", "auditor", "police")}
        # The operator of these tests looks after every camera; police get grants where a test needs them.
        GrantStore(db, config, store).grant("operator-user", "all", "*", by="test")
        return made


@pytest.fixture
def client(config: GatewayConfig, tokens: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(config, start_cameras=False), headers=ENGLISH) as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_healthz_needs_no_token(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["cameras"] == 2


@pytest.mark.parametrize(
    "path", ["/api/v1/cameras", "/api/v1/cameras/cam1", "/api/v1/site", "/api/v1/me", "/api/v1/users"]
)
def test_every_api_route_requires_a_token(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {"error": "missing bearer token"}
    r = client.get(path, headers=auth("gw_wrong"))
    assert r.status_code == 401
    r = client.get(path, headers={"Authorization": "Basic YTpi"})
    assert r.status_code == 401


def test_all_routes_in_openapi_are_protected(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, methods in spec["paths"].items():
        for method in methods:
            if path == "/healthz":
                continue
            r = client.request(method.upper(), path.replace("{camera_id}", "cam1"))
            assert r.status_code == 401, (method, path)


def test_wrong_role_gets_403(client: TestClient, tokens: dict[str, str]) -> None:
    for role in ("operator", "auditor", "police"):
        r = client.get("/api/v1/users", headers=auth(tokens[role]))
        assert r.status_code == 403, role
        assert "may not" in r.json()["error"]
    assert client.get("/api/v1/users", headers=auth(tokens["admin"])).status_code == 200


def test_gateway_parts_lists_the_watched_tasks(client: TestClient, tokens: dict[str, str]) -> None:
    r = client.get("/api/v1/gateway/parts", headers=auth(tokens["auditor"]))
    assert r.status_code == 200
    parts = {p["name"]: p for p in r.json()}
    assert {"history-heartbeat", "history-sampler", "history-pruner"} <= parts.keys()
    beat = parts["history-heartbeat"]
    assert (beat["kind"], beat["running"], beat["restarts"], beat["down_since"]) == ("task", True, 0, None)
    assert client.get("/api/v1/gateway/parts", headers=auth(tokens["police"])).status_code == 403
    assert client.get("/healthz").json()["parts_down"] == 0
    metrics = client.get("/metrics", headers=auth(tokens["admin"])).text
    assert 'gateway_part_up{part="history-heartbeat",kind="task"} 1' in metrics


def test_cameras_listed_with_masked_urls(client: TestClient, tokens: dict[str, str]) -> None:
    # Police see only what they were granted: nothing at first.
    assert client.get("/api/v1/cameras", headers=auth(tokens["police"])).json() == []
    granted = client.post(
        "/api/v1/users/police-user/grants", json={"kind": "zone", "target": "gate"}, headers=auth(tokens["admin"])
    )
    assert granted.status_code == 201, granted.text
    r = client.get("/api/v1/cameras", headers=auth(tokens["police"]))
    assert [c["id"] for c in r.json()] == ["cam1"]
    assert client.get("/api/v1/cameras/cam2", headers=auth(tokens["police"])).status_code == 404
    granted = client.post(
        "/api/v1/users/police-user/grants", json={"kind": "camera", "target": "cam2"}, headers=auth(tokens["admin"])
    )
    assert granted.status_code == 201, granted.text
    r = client.get("/api/v1/cameras", headers=auth(tokens["police"]))
    assert r.status_code == 200
    cams = {c["id"]: c for c in r.json()}
    assert cams["cam1"]["url"] == "rtsp://viewer:***@127.0.0.1:9/a"
    assert cams["cam1"]["expected"]["width"] == 1920
    assert cams["cam1"]["state"] == "connecting"  # supervisors not started in this test
    assert cams["cam2"]["state"] == "disabled"
    assert "cam-password-1" not in r.text
    assert client.get("/api/v1/cameras/nope", headers=auth(tokens["admin"])).status_code == 404


def test_admin_creates_user_via_api(client: TestClient, tokens: dict[str, str]) -> None:
    r = client.post("/api/v1/users", json={"name": "officer1", "role": "police"}, headers=auth(tokens["admin"]))
    assert r.status_code == 201
    new_token = r.json()["token"]
    assert client.get("/api/v1/me", headers=auth(new_token)).json()["role"] == "police"
    r = client.post("/api/v1/users", json={"name": "officer1", "role": "police"}, headers=auth(tokens["admin"]))
    assert r.status_code == 409
    r = client.post("/api/v1/users", json={"name": "x", "role": "god"}, headers=auth(tokens["admin"]))
    assert r.status_code == 422 and "unknown role" in r.json()["error"]
    r = client.post("/api/v1/users", content=b"{not json", headers=auth(tokens["admin"]))
    assert r.status_code == 422


def test_tokens_never_reach_the_logs(
    client: TestClient, tokens: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for token in tokens.values():
        client.get("/api/v1/cameras", headers=auth(token))
        client.get("/api/v1/users", headers=auth(token))
    client.get("/api/v1/cameras", headers=auth("gw_not-a-real-token"))
    logged = caplog.text
    assert all(token not in logged for token in tokens.values())
    assert "gw_not-a-real-token" not in logged


def test_pages_and_docs_are_self_contained(client: TestClient) -> None:
    # Signed out, the dashboard sends the browser to the sign-in form, itself built from local assets only.
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    login = client.get("/login")
    assert login.status_code == 200 and "/assets/app.css" in login.text and "<script>" not in login.text
    assert "default-src 'self'" in login.headers["content-security-policy"]
    assert client.get("/assets/app.js").status_code == 200
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower() and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_health_uptime_and_runs(client: TestClient, tokens: dict[str, str]) -> None:
    h = auth(tokens["auditor"])
    health = client.get("/api/v1/cameras/cam1/health", headers=h)
    assert health.status_code == 200 and health.json()["bus_dropped"] == 0
    up = client.get("/api/v1/cameras/cam1/uptime", headers=h).json()
    # The gateway started a moment ago: nearly the whole default 24 h window is unknown, none is downtime.
    assert up["down_s"] == 0 and up["unknown_s"] > 86000
    runs = client.get("/api/v1/gateway/runs", headers=h).json()
    assert len(runs["runs"]) == 1 and runs["runs"][0]["current"]
    timeline = client.get("/api/v1/cameras/cam2/timeline?from=-60&to=" + str(runs["runs"][0]["start"] + 1), headers=h)
    assert timeline.status_code == 422  # negative time
    r = client.get("/api/v1/cameras/cam2/timeline", params={"from": runs["runs"][0]["start"] - 10}, headers=h)
    assert [i["state"] for i in r.json()] == ["unknown", "disabled"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "2025-03-02T00:00:00", "to": "2025-03-01T00:00:00"}, "'from' must be before 'to'"),
        ({"from": "2020-01-01", "to": "2025-01-01"}, "at most 400 days"),
        ({"from": "yesterday"}, "'from' must be ISO 8601"),
        ({"to": "9999999999999"}, "outside any plausible time"),
    ],
)
def test_bad_periods_are_clear_4xx(
    client: TestClient, tokens: dict[str, str], query: dict[str, str], message: str
) -> None:
    r = client.get("/api/v1/cameras/cam1/uptime", params=query, headers=auth(tokens["operator"]))
    assert r.status_code == 422
    assert message in r.json()["error"]


def test_unknown_camera_is_404_everywhere(client: TestClient, tokens: dict[str, str]) -> None:
    for path in ("health", "uptime", "outages", "timeline", "samples"):
        r = client.get(f"/api/v1/cameras/nope/{path}", headers=auth(tokens["admin"]))
        assert r.status_code == 404 and r.json() == {"error": "no camera 'nope'"}


def test_metrics(client: TestClient, tokens: dict[str, str]) -> None:
    assert client.get("/metrics", headers=auth(tokens["police"])).status_code == 403
    r = client.get("/metrics", headers=auth(tokens["operator"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = r.text.splitlines()
    assert 'gateway_camera_up{camera="cam1"} 0' in lines
    assert 'gateway_camera_state{camera="cam2",state="disabled"} 1' in lines
    assert "# TYPE gateway_camera_reconnects_total counter" in lines


def test_metric_values_are_exact() -> None:
    # A byte counter past a million was written with six digits ("1.23457e+07"): Prometheus saw it move
    # in steps of hundreds, and the GB/T 28181 live test saw it disagree with the uplink's own count.
    from gateway.api.routes.metrics import _Exposition

    out = _Exposition()
    samples: list[tuple[dict[str, str], float | None]] = [
        ({"n": "a"}, 12_345_678),
        ({"n": "b"}, 9_007_199_254_740_993),
        ({"n": "c"}, 2.5),
        ({"n": "d"}, 1e6),
        ({"n": "e"}, 0.1),
        ({"n": "f"}, float("inf")),
        ({"n": "g"}, float("nan")),
        ({"n": "h"}, True),
    ]
    out.family("x", "counter", "help", samples)
    values = [line.split(" ")[1] for line in out.render().splitlines()[2:]]
    assert values == ["12345678", "9007199254740993", "2.5", "1000000", "0.1", "+Inf", "NaN", "1"]
