"""Property-based fuzzing of the HTTP API against its own OpenAPI document (schemathesis, in-process).

Every operation gets generated requests, valid and invalid, with an admin token and without one.
No answer may be a 5xx, and where a route declares its answer's schema, the answer must match it.

The budget is small by default (CI); `GATEWAY_SCHEMATHESIS_EXAMPLES=500` gives a long local run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import response_schema_conformance

from gateway.app import create_app
from gateway.config import parse_config
from tests.support.apisite import bearer, seed, site_config

EXAMPLES = int(os.environ.get("GATEWAY_SCHEMATHESIS_EXAMPLES", "4"))
# Without credentials every route but /healthz answers 401 before it reads anything: fewer suffice.
UNAUTH_EXAMPLES = max(3, EXAMPLES // 4)
BASE = "http://testserver"
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    with pytest.MonkeyPatch.context() as mp:
        config = site_config(tmp_path_factory.mktemp("fuzz"), mp, uplinks=True)
        tokens = seed(config)
        app = create_app(config, start_cameras=False)
        yield app, tokens["admin"]
        # schemathesis keeps an app's lifespan running for the whole process; end this one here.
        shutdown_lifespans()


def _openapi() -> dict[str, Any]:
    # The operations must be known when pytest collects, before any fixture runs; the document does not
    # depend on the configuration, and test_schema_is_the_served_one checks it is what the app serves.
    config = parse_config(
        {
            "site": {"id": "s", "name": "S", "unit": {"name": "U", "headcount": 1, "key_unit": True}},
            "cameras": [{"id": "c", "name": "C", "source": {"rtsp": "rtsp://127.0.0.1:9/c"}}],
            "storage": {"url": "sqlite:///:memory:"},
        }
    )
    return create_app(config, start_cameras=False).openapi()


OPENAPI = _openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)

_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


def _authenticated(case: schemathesis.Case[Any], site: tuple[FastAPI, str]) -> None:
    app, token = site
    response = case.call_and_validate(base_url=BASE, app=app, headers=bearer(token), checks=CHECKS)
    # Guards the fuzzing itself: were the token refused, every case would stop at the 401 and prove nothing.
    # (Negative cases may drop or mangle the Authorization header on purpose.)
    if case.meta is not None and not case.meta.generation.mode.is_negative:
        assert response.status_code != 401, response.text


def _unauthenticated(case: schemathesis.Case[Any], site: tuple[FastAPI, str]) -> None:
    response = case.call_and_validate(base_url=BASE, app=site[0], checks=CHECKS)
    # Whatever the method, parameters or body: refused before anything is parsed.
    if case.operation.path != "/healthz":
        assert response.status_code == 401, (case.operation.path, response.status_code)


def _calling(body: Callable[..., None]) -> Callable[..., None]:
    def test(case: schemathesis.Case[Any], site: tuple[FastAPI, str]) -> None:
        body(case, site)

    return test


def _one_test_per_operation(prefix: str, body: Callable[..., None], hypothesis_settings: settings) -> None:
    """Define `<prefix>__<method>_<path>` for every operation of the document.

    One function per operation rather than one `schema.parametrize()` for all: pytest 9 builds an item's
    node id from its function's name, so the items schemathesis makes for one function all share one id,
    and pytest-xdist, whose scheduler keys the work by node id, then ran only one of them (and reported a
    failure of none). A function per operation keeps every id unique, with schemathesis's own test builder.
    """
    for result in schema.get_all_operations():
        operation = result.ok()
        name = f"{prefix}__{re.sub(r'[^0-9A-Za-z]+', '_', f'{operation.method}_{operation.path}').strip('_')}"

        test = _calling(body)
        test.__name__ = test.__qualname__ = name
        one = schema.include(method=operation.method.upper(), path=operation.path)
        globals()[name] = one.parametrize()(hypothesis_settings(test))


_one_test_per_operation("test_api_authenticated", _authenticated, _SETTINGS)
# Without a token the answer never depends on the parameters: no boundary-value (explicit) phase.
_one_test_per_operation(
    "test_api_unauthenticated",
    _unauthenticated,
    settings(_SETTINGS, max_examples=UNAUTH_EXAMPLES, phases=[Phase.generate]),
)


def test_schema_is_the_served_one(site: tuple[FastAPI, str]) -> None:
    with TestClient(site[0]) as client:
        served = client.get("/openapi.json")
    assert served.status_code == 200 and served.json() == OPENAPI
    assert len(OPENAPI["paths"]) > 20


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/audit?offset=9223372036854775808",
        "/api/v1/events?before_id=9223372036854775808",
        "/api/v1/events/9223372036854775808",
        "/api/v1/events/9223372036854775808/snapshot",
    ],
)
def test_integers_past_64_bits_are_a_422(site: tuple[FastAPI, str], url: str) -> None:
    # Regression (schemathesis): the driver's OverflowError came back as a 500.
    with TestClient(site[0]) as client:
        r = client.get(url, headers={**bearer(site[1]), "Accept-Language": "en"})
        zh = client.get(url, headers=bearer(site[1]))
    assert r.status_code == 422 and "less than or equal" in r.text, r.text
    assert zh.status_code == 422 and "应小于或等于" in zh.text, zh.text


def test_made_up_tokens_get_401_before_the_body_is_read(site: tuple[FastAPI, str]) -> None:
    # Regression (schemathesis, long run): with any Authorization header a malformed body got FastAPI's
    # 400 before the token was checked, so a stranger could probe request parsing.
    with TestClient(site[0]) as client:
        for headers in (bearer("gw_made-up"), {"Authorization": "Bearer"}, {"Authorization": "Digest x"}):
            r = client.post(
                "/api/v1/users",
                content=b"--x\r\nbroken",
                headers=headers | {"Content-Type": "multipart/form-data; boundary=x"},
            )
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", r.text


def test_revoking_a_grant_with_a_long_target_is_a_422(site: tuple[FastAPI, str]) -> None:
    # Regression (schemathesis, long run): DELETE .../grants?target=<65+ chars> was a 500.
    with TestClient(site[0]) as client:
        r = client.delete(
            "/api/v1/users/police-u/grants", params={"kind": "camera", "target": "x" * 65}, headers=bearer(site[1])
        )
    assert r.status_code == 422 and r.json()["problems"][0]["where"] == "query.target", r.text
