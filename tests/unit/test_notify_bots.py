"""The group bots' formats, signatures and answers (adapters/notify), and the rate limiter.

Signatures are checked against vectors computed with the openssl CLI and by the vendors' recipes
written out here, never by calling the function under test on both sides."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest

from adapters.notify.bots import (
    BotAnswer,
    dingtalk_markdown,
    dingtalk_sign,
    dingtalk_signed_url,
    feishu_card,
    feishu_sign,
    feishu_signed,
    read_answer,
    truncate_utf8,
    wecom_image,
    wecom_markdown,
)
from adapters.notify.botsender import BotSender
from adapters.notify.ratelimit import RateLimiter

SECRET = "SEC0123456789abcdef-test"
# printf '%s\n%s' 1765094400000 "$SECRET" | openssl dgst -sha256 -hmac "$SECRET" -binary | base64
DINGTALK_VECTOR = "9TiDy7Q4ifdSdIplHTnkqFF7Dq6nKCPJ9P/rj7P0Pns="
# printf '' | openssl dgst -sha256 -mac HMAC -macopt "key:$(printf '%s\n%s' 1765094400 "$SECRET")" -binary | base64
FEISHU_VECTOR = "Kz6AZ4ksRhT61YcAMpQr+3nqcyC9kL46/UJXhczg9W0="
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"


def test_dingtalk_signature_matches_openssl_and_the_documented_recipe() -> None:
    assert dingtalk_sign(SECRET, 1765094400000) == DINGTALK_VECTOR
    ts = 1765094400123
    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()).decode()
    url = dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=abc", SECRET, ts)
    query = urlsplit(url).query
    assert f"sign={quote_plus(expected)}" in query  # URL-encoded, as DingTalk's recipe says
    params = parse_qs(query)
    assert params == {"access_token": ["abc"], "timestamp": [str(ts)], "sign": [expected]}


def test_feishu_signature_matches_openssl_and_goes_in_the_body() -> None:
    assert feishu_sign(SECRET, 1765094400) == FEISHU_VECTOR
    ts = 1765094401
    key = f"{ts}\n{SECRET}".encode()
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    body = feishu_signed({"msg_type": "interactive", "card": {}}, SECRET, ts)
    assert body == {"timestamp": str(ts), "sign": expected, "msg_type": "interactive", "card": {}}


def test_the_sender_signs_each_request_afresh() -> None:
    clock = iter([1765094400.5, 1765098000.5])
    ding = BotSender("dingtalk", clock=lambda: next(clock))
    first, _ = ding.request("http://127.0.0.1:9/robot/send?access_token=t", {"msgtype": "markdown"}, SECRET)
    second, _ = ding.request("http://127.0.0.1:9/robot/send?access_token=t", {"msgtype": "markdown"}, SECRET)
    assert parse_qs(urlsplit(first).query)["timestamp"] == ["1765094400500"]
    assert parse_qs(urlsplit(second).query)["timestamp"] == ["1765098000500"]
    feishu = BotSender("feishu", clock=lambda: 1765094400.9)
    url, body = feishu.request("http://127.0.0.1:9/hook/x", {"msg_type": "post"}, SECRET)
    assert url == "http://127.0.0.1:9/hook/x"
    assert json.loads(body)["sign"] == FEISHU_VECTOR
    wecom = BotSender("wecom", clock=lambda: 0.0)
    url, body = wecom.request("http://127.0.0.1:9/send?key=k", {"msgtype": "markdown"}, None)
    assert url == "http://127.0.0.1:9/send?key=k" and json.loads(body) == {"msgtype": "markdown"}
    # Unsigned DingTalk/Feishu bots: nothing added.
    assert BotSender("dingtalk").request("http://h/s?access_token=t", {}, None)[0] == "http://h/s?access_token=t"
    assert "sign" not in json.loads(BotSender("feishu").request("http://h/x", {}, None)[1])


def test_wecom_bodies() -> None:
    assert wecom_markdown("**x**") == {"msgtype": "markdown", "markdown": {"content": "**x**"}}
    long = wecom_markdown("隐" * 3000)["markdown"]["content"]
    assert len(long.encode()) <= 4096 and long.endswith("…")
    image = wecom_image(JPEG)
    assert image["msgtype"] == "image"
    assert base64.b64decode(image["image"]["base64"]) == JPEG
    assert image["image"]["md5"] == hashlib.md5(JPEG).hexdigest()  # of the bytes, not of the base64
    with pytest.raises(ValueError, match="2097152"):
        wecom_image(b"\xff" * (2 * 1024 * 1024 + 1))


def test_dingtalk_and_feishu_bodies() -> None:
    assert dingtalk_markdown("【隐患】东门", "#### 【隐患】东门\n\n- a") == {
        "msgtype": "markdown",
        "markdown": {"title": "【隐患】东门", "text": "#### 【隐患】东门\n\n- a"},
    }
    card = feishu_card("【隐患】东门", "**场所**：一中", template="red", link="https://g/t?id=1", link_label="查看")
    assert card["msg_type"] == "interactive"
    assert card["card"]["header"] == {"title": {"tag": "plain_text", "content": "【隐患】东门"}, "template": "red"}
    assert card["card"]["elements"][0] == {"tag": "div", "text": {"tag": "lark_md", "content": "**场所**：一中"}}
    button = card["card"]["elements"][1]["actions"][0]
    assert button["url"] == "https://g/t?id=1" and button["text"]["content"] == "查看"
    assert len(feishu_card("t", "x")["card"]["elements"]) == 1  # no link: no button
    assert len(json.dumps(feishu_card("t", "隐" * 20000), ensure_ascii=False).encode()) < 20 * 1024


def test_truncation_keeps_whole_characters() -> None:
    assert truncate_utf8("abc", 3) == "abc"
    cut = truncate_utf8("隐患隐患", 8)
    assert cut == "隐…" and len(cut.encode()) <= 8


@pytest.mark.parametrize(
    ("kind", "status", "body", "expected"),
    [
        ("wecom", 200, {"errcode": 0, "errmsg": "ok"}, BotAnswer(True)),
        ("dingtalk", 200, {"errcode": 0, "errmsg": "ok"}, BotAnswer(True)),
        ("feishu", 200, {"code": 0, "msg": "success", "data": {}}, BotAnswer(True)),
        ("feishu", 200, {"StatusCode": 0, "StatusMessage": "success"}, BotAnswer(True)),
    ],
)
def test_success_answers(kind: str, status: int, body: dict[str, object], expected: BotAnswer) -> None:
    assert read_answer(kind, status, json.dumps(body).encode()) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "status", "body", "rate_limited", "permanent", "says"),
    [
        ("wecom", 200, b'{"errcode":45009,"errmsg":"api freq out of limit"}', True, False, "rate limited"),
        ("dingtalk", 200, b'{"errcode":130101,"errmsg":"send too fast"}', True, False, "rate limited"),
        ("feishu", 200, b'{"code":11232,"msg":"frequency limited"}', True, False, "rate limited"),
        ("wecom", 200, b'{"errcode":93000,"errmsg":"invalid webhook url"}', False, False, "check the bot's URL"),
        ("dingtalk", 200, b'{"errcode":310000,"errmsg":"sign not match"}', False, False, "signature"),
        ("feishu", 200, b'{"code":19021,"msg":"sign match fail"}', False, False, "signature"),
        ("feishu", 400, b'{"code":9499,"msg":"Bad Request"}', False, True, "malformed"),
        ("wecom", 200, b'{"errcode":12345,"errmsg":"new"}', False, False, "errcode 12345 (new)"),
        ("wecom", 500, b"oops", False, False, "HTTP 500"),
        ("dingtalk", 429, b"", True, False, "HTTP 429"),
        ("feishu", 404, b"", False, False, "check the bot's URL"),
        ("wecom", 200, b"<html>proxy</html>", False, False, "not confirmed"),
    ],
)
def test_failure_answers(kind: str, status: int, body: bytes, rate_limited: bool, permanent: bool, says: str) -> None:
    answer = read_answer(kind, status, body)  # type: ignore[arg-type]
    assert not answer.ok
    assert (answer.rate_limited, answer.permanent) == (rate_limited, permanent)
    assert answer.error is not None and says in answer.error


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_holds_back_to_twenty_a_minute() -> None:
    clock = FakeClock()
    limiter = RateLimiter(20, clock=clock)
    for _ in range(19):
        assert limiter.delay() == 0
        limiter.take()
        clock.now += 1
    assert limiter.delay() == 0
    limiter.take()  # 20 sent between t=1000 and t=1019
    assert limiter.delay() == pytest.approx(41.0)  # the first leaves the window at t=1060
    assert limiter.delay(2) == pytest.approx(42.0)  # two need the first two gone
    clock.now = 1060.0
    assert limiter.delay() == 0


def test_rate_limiter_spaces_sends_and_reserves_a_message_s_posts() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, min_interval_s=0.2, clock=clock)
    limiter.take(2)  # a message of two posts: the second 0.2 s after the first
    assert limiter.delay() == pytest.approx(0.4)
    clock.now += 0.5
    assert limiter.delay() == 0
    with pytest.raises(ValueError):
        RateLimiter(0)
