"""Posting to a group bot's webhook (httpx), signed when the bot has a secret, the answer read.

The webhook URL is a credential (WeCom's `key=`, DingTalk's `access_token=`, Feishu's hook id): it is
never put in an error message or a log line, and redirects are not followed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from adapters.common.redact import mask_text
from adapters.notify.bots import BOT_NAMES, BotAnswer, BotKind, dingtalk_signed_url, feishu_signed, read_answer

__all__ = ["BotSender"]

USER_AGENT = "site-video-gateway"


class BotSender:
    def __init__(self, kind: BotKind, *, timeout_s: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        self.kind = kind
        self._timeout_s = timeout_s
        self._clock = clock
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout_s, follow_redirects=False, headers={"User-Agent": USER_AGENT}
            )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def request(self, url: str, payload: dict[str, Any], secret: str | None) -> tuple[str, bytes]:
        """(URL, body) of one post, signed now: a retry hours later is signed afresh, since both
        DingTalk and Feishu refuse a timestamp more than an hour old."""
        now = self._clock()
        if secret and self.kind == "dingtalk":
            url = dingtalk_signed_url(url, secret, int(now * 1000))
        elif secret and self.kind == "feishu":
            payload = feishu_signed(payload, secret, int(now))
        return url, json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    async def post(self, url: str, payload: dict[str, Any], *, secret: str | None) -> BotAnswer:
        await self.open()
        assert self._client is not None
        name = BOT_NAMES[self.kind]
        target, body = self.request(url, payload, secret)
        try:
            response = await self._client.post(
                target, content=body, headers={"Content-Type": "application/json; charset=utf-8"}
            )
        except httpx.TimeoutException:
            return BotAnswer(False, error=f"timed out after {self._timeout_s:g} s posting to the {name} bot")
        except httpx.HTTPError as exc:
            # httpx may quote the URL it failed on; the URL holds the bot's key.
            detail = mask_text(str(exc), (target, url, *(s for s in (secret,) if s))) or type(exc).__name__
            return BotAnswer(False, error=f"cannot reach the {name} bot: {detail}")
        return read_answer(self.kind, response.status_code, response.content)
