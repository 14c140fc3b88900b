"""/VIID/Subscribes as the lower side serves it (adapters/gat1400/server.py), in-process through httpx's
ASGI transport with a recording handler: digest, the routes, and malformed input answered with a 4xx
and a ResponseStatusObject, never a traceback."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.gat1400.objects import ViidObject
from adapters.gat1400.server import Outcome, ServerSettings, ViidListener, subscription_app
from adapters.gat1400.subscribe import Cancellation, Subscribe, subscribe_object

USER, PASSWORD = "platform", secrets.token_urlsafe(12)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.held: dict[str, Subscribe] = {}
        self.fail = False

    async def upsert(self, sub: Subscribe, platform: str, *, create: bool) -> Outcome:
        if self.fail:
            raise RuntimeError("handler bug with a secret inside")
        self.calls.append(("upsert" if create else "update", sub.subscribe_id, platform))
        if not create and sub.subscribe_id not in self.held:
            return Outcome(4, "no such subscription")
        self.held[sub.subscribe_id] = sub
        return Outcome()

    async def cancel(self, subscribe_id: str, cancellation: Cancellation | None, platform: str) -> Outcome:
        self.calls.append(("cancel", subscribe_id, cancellation))
        if self.held.pop(subscribe_id, None) is None:
            return Outcome(4, "no such subscription")
        return Outcome()

    async def subscriptions(self) -> list[ViidObject]:
        return [subscribe_object(s, 0) for s in self.held.values()]


@pytest.fixture
def handler() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(handler: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    app = subscription_app(handler, ServerSettings(USER, PASSWORD, max_body_bytes=8192))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://lower.test",
        auth=httpx.DigestAuth(USER, PASSWORD),
        headers={"User-Identify": "31010500005030000001"},
    ) as c:
        yield c


def sub_body(*ids: str, **extra: Any) -> str:
    objs = [{"SubscribeID": i, "SubscribeDetail": "11", "ReceiveAddr": "http://up/x", **extra} for i in ids]
    return json.dumps({"SubscribeListObject": {"SubscribeObject": objs}})


def codes(answer: httpx.Response) -> list[tuple[str, int]]:
    items = answer.json()["ResponseStatusListObject"]["ResponseStatusObject"]
    return [(i["Id"], i["StatusCode"]) for i in items]


async def test_digest_is_required(handler: Recorder) -> None:
    app = subscription_app(handler, ServerSettings(USER, PASSWORD))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://lower.test") as bare:
        answer = await bare.post("/VIID/Subscribes", content=sub_body("1"))
        assert answer.status_code == 401
        challenge = answer.headers["WWW-Authenticate"]
        assert challenge.startswith("Digest ") and 'qop="auth"' in challenge and "opaque=" in challenge
        assert answer.json()["ResponseStatusObject"]["StatusCode"] == 4
        answer = await bare.get("/VIID/Subscribes", headers={"Authorization": "Digest garbage"})
        assert answer.status_code == 401
    for user, password in ((USER, "wrong"), ("someone", PASSWORD)):
        async with httpx.AsyncClient(
            transport=transport, base_url="http://lower.test", auth=httpx.DigestAuth(user, password)
        ) as wrong:
            assert (await wrong.post("/VIID/Subscribes", content=sub_body("1"))).status_code == 401
    assert handler.calls == []


async def test_create_update_list_cancel(client: httpx.AsyncClient, handler: Recorder) -> None:
    answer = await client.post("/VIID/Subscribes", content=sub_body("a", "b"))
    assert answer.status_code == 200 and codes(answer) == [("a", 0), ("b", 0)]
    assert answer.headers["content-type"].startswith("application/VIID+JSON")
    assert handler.calls[0] == ("upsert", "a", "31010500005030000001")
    answer = await client.put("/VIID/Subscribes", content=sub_body("a", "zzz"))
    assert codes(answer) == [("a", 0), ("zzz", 4)]
    listed = (await client.get("/VIID/Subscribes")).json()["SubscribeListObject"]["SubscribeObject"]
    assert sorted(o["SubscribeID"] for o in listed) == ["a", "b"]
    one = await client.get("/VIID/Subscribes/b")
    assert one.status_code == 200 and one.json()["SubscribeObject"]["SubscribeID"] == "b"
    assert (await client.get("/VIID/Subscribes/nosuch")).status_code == 404
    # Cancel: by OperateType 1, by PUT on the subscription, by DELETE with an IDList.
    answer = await client.post("/VIID/Subscribes", content=sub_body("a", OperateType=1))
    assert codes(answer) == [("a", 0)]
    cancel = {"SubscribeObject": {"SubscribeID": "b", "SubscribeCancelPerson": "张三", "CancelReason": "不再需要"}}
    answer = await client.put("/VIID/Subscribes/b", content=json.dumps(cancel, ensure_ascii=False))
    assert answer.status_code == 200 and answer.json()["ResponseStatusObject"]["StatusCode"] == 0
    assert handler.calls[-1] == ("cancel", "b", Cancellation(person="张三", reason="不再需要"))
    answer = await client.put("/VIID/Subscribes/b")
    assert answer.status_code == 404 and answer.json()["ResponseStatusObject"]["StatusCode"] == 4
    answer = await client.delete("/VIID/Subscribes", params={"IDList": "x,y"})
    assert codes(answer) == [("x", 4), ("y", 4)]


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "code"),
    [
        ("POST", "/VIID/Subscribes", b"{", 400, 7),
        ("POST", "/VIID/Subscribes", b"[" * 5000, 400, 7),
        ("POST", "/VIID/Subscribes", b"", 400, 8),
        ("POST", "/VIID/Subscribes", b'{"SubscribeListObject": {"SubscribeObject": []}}', 400, 8),
        ("POST", "/VIID/Subscribes", b"\xff\xfe", 400, 7),
        ("POST", "/VIID/Subscribes", b" " * 9000, 413, 8),
        ("PUT", "/VIID/Subscribes", b"null", 400, 8),
        ("DELETE", "/VIID/Subscribes", b"", 400, 8),
        ("PUT", "/VIID/Subscribes/a%20b", b"", 400, 8),
        ("PUT", "/VIID/Subscribes/a%2Fb", b"", 404, 4),
        ("PUT", "/VIID/Subscribes/a", b"{", 400, 7),
        ("POST", "/VIID/Persons", b"{}", 404, 4),
        ("PATCH", "/VIID/Subscribes", b"{}", 404, 4),
        ("PROPFIND", "/VIID/Subscribes", b"", 405, 4),
        ("DELETE", "/VIID/Subscribes/a", b"", 404, 4),
        ("GET", "/", b"", 404, 4),
    ],
)
async def test_malformed_requests_get_a_status(
    client: httpx.AsyncClient, handler: Recorder, method: str, path: str, content: bytes, status: int, code: int
) -> None:
    answer = await client.request(method, path, content=content)
    assert answer.status_code == status, answer.text
    assert answer.json()["ResponseStatusObject"]["StatusCode"] == code
    assert "Traceback" not in answer.text
    assert handler.calls == []


async def test_a_handler_bug_is_a_500_without_details(client: httpx.AsyncClient, handler: Recorder) -> None:
    handler.fail = True
    answer = await client.post("/VIID/Subscribes", content=sub_body("a"))
    assert answer.status_code == 500
    assert answer.json()["ResponseStatusObject"] == {
        "RequestURL": "/VIID/Subscribes",
        "StatusCode": 1,
        "StatusString": "internal error",
        "Id": "",
        "LocalTime": answer.json()["ResponseStatusObject"]["LocalTime"],
    }
    assert "secret" not in answer.text


async def test_a_refused_object_among_good_ones(client: httpx.AsyncClient) -> None:
    objs = [{"SubscribeID": "ok", "SubscribeDetail": "11"}, {"SubscribeID": "bad", "ReceiveAddr": "ftp://x"}]
    answer = await client.post(
        "/VIID/Subscribes", content=json.dumps({"SubscribeListObject": {"SubscribeObject": objs}})
    )
    assert codes(answer) == [("ok", 0), ("bad", 8)]


async def test_the_listener_serves_and_stops(handler: Recorder) -> None:
    listener = ViidListener(subscription_app(handler, ServerSettings(USER, PASSWORD)), "127.0.0.1", 0)
    await listener.start()
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{listener.port}", auth=httpx.DigestAuth(USER, PASSWORD), trust_env=False
        ) as c:
            assert codes(await c.post("/VIID/Subscribes", content=sub_body("a"))) == [("a", 0)]
        taken = ViidListener(subscription_app(handler, ServerSettings(USER, PASSWORD)), "127.0.0.1", listener.port)
        with pytest.raises(OSError):
            await taken.start()
    finally:
        await listener.stop()
    async with httpx.AsyncClient(trust_env=False) as after:
        with pytest.raises(httpx.ConnectError):
            await after.get(f"http://127.0.0.1:{listener.port}/VIID/Subscribes")
