"""Group-bot webhooks: WeCom (企业微信), DingTalk (钉钉) and Feishu/Lark (飞书) custom bots.

Pure functions: the JSON each bot takes, the signatures DingTalk and Feishu ask for, and what each
answer means (delivered, retry later, refused for good). The HTTP POST is in botsender.py.

What each vendor documents, as read (through public copies found with the project's search tool) in:

- WeCom, 群机器人配置说明 (developer.work.weixin.qq.com/document/path/91770; summarised in the
  `WeChat.Work.ChatRobot` docs on hexdocs.pm): a POST of JSON to the webhook URL, whose `key=` is the
  credential; `markdown` {content}, at most 4096 bytes; `image` {base64, md5 of the picture's bytes
  before encoding}, JPG or PNG up to 2 MB; 20 messages a minute per bot. Answers {"errcode", "errmsg"};
  45009 is the rate limit, 93000 an invalid webhook URL (a wrong or revoked key).
- DingTalk, 自定义机器人接入 and 自定义机器人安全设置 (open.dingtalk.com/document/robots/...; the
  signing recipe as reproduced in e.g. blog.csdn.net/weixin_31560545/article/details/116255918):
  `markdown` {title, text}; in signed mode the URL gets `timestamp` (ms) and `sign`, the URL-encoded
  base64 of HMAC-SHA256 keyed with the secret over f"{timestamp}\\n{secret}", the timestamp within an
  hour of DingTalk's clock; 20 messages a minute, past which the bot is throttled for 10 minutes.
  Answers {"errcode", "errmsg"}; 310000 when the signature, a keyword or the IP list refused it.
- Feishu, 自定义机器人使用指南 (open.larkoffice.com/document/ukTMukTMukTM/ucTM5YjL3ETO24yNxkjN):
  `interactive` cards or `post`; in signed mode the body gets `timestamp` (s) and `sign`, the base64
  of HMAC-SHA256 keyed with f"{timestamp}\\n{secret}" over an empty message, within an hour of
  Feishu's clock; 100 requests a minute and 5 a second per bot; a body of 20 KB at most. Answers
  {"code", "msg"}; 19021 a bad signature or stale timestamp, 19022 the IP list, 19024 a missing
  keyword, 9499 a malformed request, 11232 the rate limit.

Codes not listed here are treated as "retry later": a message is never given up on a guess.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote_plus

from adapters.common.redact import mask_text

__all__ = [
    "BOT_NAMES",
    "DEFAULT_PER_MINUTE",
    "MIN_INTERVAL_S",
    "BotAnswer",
    "BotKind",
    "dingtalk_markdown",
    "dingtalk_sign",
    "dingtalk_signed_url",
    "feishu_card",
    "feishu_sign",
    "feishu_signed",
    "read_answer",
    "truncate_utf8",
    "wecom_image",
    "wecom_markdown",
]

BotKind = Literal["wecom", "dingtalk", "feishu"]
BOT_NAMES: Final[dict[BotKind, str]] = {"wecom": "WeCom", "dingtalk": "DingTalk", "feishu": "Feishu"}

WECOM_MARKDOWN_MAX_BYTES: Final = 4096
WECOM_IMAGE_MAX_BYTES: Final = 2 * 1024 * 1024
# DingTalk documents no limit for markdown; this keeps a ticket far from any a gateway would meet.
DINGTALK_TEXT_MAX_BYTES: Final = 16_000
# The whole body must stay under 20 KB: the card's frame, title and button take well under 4 KB.
FEISHU_CONTENT_MAX_BYTES: Final = 16_000

DEFAULT_PER_MINUTE: Final[dict[BotKind, int]] = {"wecom": 20, "dingtalk": 20, "feishu": 100}
MIN_INTERVAL_S: Final[dict[BotKind, float]] = {"wecom": 0.0, "dingtalk": 0.0, "feishu": 0.2}

_RATE_LIMITED: Final[dict[BotKind, frozenset[int]]] = {
    "wecom": frozenset({45009}),
    # 130101 and 410100: sending too fast; 90030: the webhook's call quota is used up (later, it resets).
    "dingtalk": frozenset({130101, 410100, 90030}),
    "feishu": frozenset({11232}),
}
# The bot refused who we are (key, signature, keyword or IP list): a config mistake, retried until fixed.
_REFUSED_CALLER: Final[dict[BotKind, frozenset[int]]] = {
    "wecom": frozenset({93000}),
    # 300001 / 400101: no such access token; 400102: the bot was switched off.
    "dingtalk": frozenset({310000, 300001, 400101, 400102}),
    "feishu": frozenset({19021, 19022, 19024}),
}
# The bot refused this one message as malformed: sending it again cannot succeed.
_BAD_MESSAGE: Final[dict[BotKind, frozenset[int]]] = {
    "wecom": frozenset(),
    "dingtalk": frozenset(),
    "feishu": frozenset({9499}),
}


def truncate_utf8(text: str, max_bytes: int) -> str:
    """The text cut to at most `max_bytes` of UTF-8 at a character boundary, marked with "…" when cut."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    ellipsis = "…".encode()
    return raw[: max_bytes - len(ellipsis)].decode("utf-8", errors="ignore") + "…"


# -- message bodies ------------------------------------------------------------------------------------


def wecom_markdown(content: str) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"content": truncate_utf8(content, WECOM_MARKDOWN_MAX_BYTES)}}


def wecom_image(picture: bytes) -> dict[str, Any]:
    """The picture as WeCom's `image` message (the md5 is of the bytes, not of their base64)."""
    if len(picture) > WECOM_IMAGE_MAX_BYTES:
        raise ValueError(f"a WeCom bot takes pictures up to {WECOM_IMAGE_MAX_BYTES} bytes, not {len(picture)}")
    return {
        "msgtype": "image",
        "image": {
            "base64": base64.b64encode(picture).decode("ascii"),
            "md5": hashlib.md5(picture, usedforsecurity=False).hexdigest(),
        },
    }


def dingtalk_markdown(title: str, text: str) -> dict[str, Any]:
    # The title is what the chat list and the phone's notification show; the text is the message.
    return {
        "msgtype": "markdown",
        "markdown": {"title": truncate_utf8(title, 200), "text": truncate_utf8(text, DINGTALK_TEXT_MAX_BYTES)},
    }


def feishu_card(
    title: str, content: str, *, template: str = "blue", link: str | None = None, link_label: str = ""
) -> dict[str, Any]:
    """An `interactive` card: a coloured header with the title, the content in lark_md, and a button
    opening `link` when there is one."""
    elements: list[dict[str, Any]] = [
        {"tag": "div", "text": {"tag": "lark_md", "content": truncate_utf8(content, FEISHU_CONTENT_MAX_BYTES)}}
    ]
    if link:
        elements.append(
            {
                "tag": "action",
                "actions": [
                    {
                        "tag": "button",
                        "text": {"tag": "plain_text", "content": link_label or link},
                        "url": link,
                        "type": "primary",
                    }
                ],
            }
        )
    return {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": truncate_utf8(title, 300)}, "template": template},
            "elements": elements,
        },
    }


# -- signing ---------------------------------------------------------------------------------------------


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's `sign` before URL encoding: base64 of HMAC-SHA256(key=secret, f"{timestamp}\\n{secret}")."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """The webhook URL with `timestamp` and the URL-encoded `sign` appended to its query."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}timestamp={timestamp_ms}&sign={quote_plus(dingtalk_sign(secret, timestamp_ms))}"


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's `sign`: base64 of HMAC-SHA256 keyed with f"{timestamp}\\n{secret}" over an empty message
    (the key, not the message, carries the text: unlike DingTalk)."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def feishu_signed(payload: dict[str, Any], secret: str, timestamp_s: int) -> dict[str, Any]:
    return {"timestamp": str(timestamp_s), "sign": feishu_sign(secret, timestamp_s), **payload}


# -- answers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BotAnswer:
    ok: bool
    # True when the bot refused this message as such: sending it again cannot help.
    permanent: bool = False
    # True when the bot (or HTTP 429) said to slow down.
    rate_limited: bool = False
    error: str | None = None


def _code_of(kind: BotKind, data: Any) -> tuple[int | None, str]:
    if not isinstance(data, dict):
        return None, ""
    keys = ("code", "StatusCode") if kind == "feishu" else ("errcode",)
    for key in keys:
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            message = data.get("msg") or data.get("StatusMessage") or data.get("errmsg") or ""
            return value, str(message)
    return None, ""


def read_answer(kind: BotKind, status: int, body: bytes) -> BotAnswer:
    """What an answer of the bot means. A bot answers HTTP 200 with a JSON code, 0 for success; the
    code decides. Without one, the HTTP status does: a message is delivered only when the bot says so."""
    name = BOT_NAMES[kind]
    try:
        data = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        data = None
    code, message = _code_of(kind, data)
    label = "code" if kind == "feishu" else "errcode"
    if code is None:
        if status == 429:
            return BotAnswer(False, rate_limited=True, error=f"HTTP 429 from the {name} bot: holding back")
        hint = ": check the bot's URL" if status in (401, 403, 404) else ""
        if 200 <= status < 300:
            return BotAnswer(False, error=f"the {name} bot answered HTTP {status} without {label}: not confirmed")
        return BotAnswer(False, error=f"HTTP {status} from the {name} bot{hint}")
    if code == 0:
        return BotAnswer(True)
    said = f"the {name} bot answered {label} {code} ({mask_text(message)[:200]})"
    if code in _RATE_LIMITED[kind]:
        return BotAnswer(False, rate_limited=True, error=f"{said}: rate limited, holding back")
    if code in _REFUSED_CALLER[kind]:
        return BotAnswer(
            False,
            error=f"{said}: it refused the key, the signature, a keyword or our IP address; "
            "check the bot's URL and secret (and its keyword and IP settings)",
        )
    if code in _BAD_MESSAGE[kind]:
        return BotAnswer(False, permanent=True, error=f"{said}: it refused this message as malformed")
    return BotAnswer(False, error=said)
