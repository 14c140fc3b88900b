"""WeCom, DingTalk and Feishu group bots played on 127.0.0.1 (the standard library's ThreadingHTTPServer).

Each checks what the vendor checks: the key in the URL, the signature and its timestamp window
(computed here from the vendors' recipes, not with the gateway's code), the message format; and
answers as the bot does: HTTP 200 with a JSON code, 0 for success. `mode` makes one bot answer a
rate limit or HTTP 500 instead; stopping the server makes every bot unreachable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

Kind = Literal["wecom", "dingtalk", "feishu"]
Mode = Literal["ok", "rate_limit", "error500"]

WECOM_KEY = "0b1e5a2c-3d4f-4a6b-8c9d-0e1f2a3b4c5d"
DINGTALK_TOKEN = "5f2d6b0a9e8c7d6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b"
DINGTALK_SECRET = "SEC7e5c1a0b9d8f7e6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1"
FEISHU_HOOK = "3c2b1a0f-9e8d-4c7b-a6f5-e4d3c2b1a0f9"
FEISHU_SECRET = "kF3nT9qLwX2vB7mR4sJ8dH"

_RATE_LIMIT = {"wecom": ("errcode", 45009), "dingtalk": ("errcode", 130101), "feishu": ("code", 11232)}
_REFUSED = {"wecom": ("errcode", 93000), "dingtalk": ("errcode", 310000), "feishu": ("code", 19021)}


@dataclass
class Received:
    kind: Kind
    body: dict[str, Any]
    at: float = field(default_factory=time.time)


def _dingtalk_sign(timestamp: str, secret: str) -> str:
    # DingTalk's recipe: base64(HMAC-SHA256(key=secret, msg=timestamp + "\n" + secret)).
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def _feishu_sign(timestamp: str, secret: str) -> str:
    # Feishu's recipe: base64(HMAC-SHA256(key=timestamp + "\n" + secret, msg=empty)).
    mac = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def check_wecom(query: dict[str, list[str]], body: dict[str, Any]) -> str | None:
    if query.get("key") != [WECOM_KEY]:
        return "key"
    if body.get("msgtype") == "markdown":
        content = body.get("markdown", {}).get("content")
        ok = isinstance(content, str) and content and len(content.encode()) <= 4096
        return None if ok else "markdown"
    if body.get("msgtype") == "image":
        image = body.get("image", {})
        try:
            raw = base64.b64decode(image.get("base64", ""), validate=True)
        except ValueError:
            return "image base64"
        if len(raw) > 2 * 1024 * 1024 or hashlib.md5(raw).hexdigest() != image.get("md5"):
            return "image md5"
        return None
    return "msgtype"


def check_dingtalk(query: dict[str, list[str]], body: dict[str, Any], now: float) -> str | None:
    if query.get("access_token") != [DINGTALK_TOKEN]:
        return "token"
    [timestamp] = query.get("timestamp", [""])
    [sign] = query.get("sign", [""])  # parse_qs has decoded it once, as DingTalk does
    if not timestamp.isdigit() or abs(int(timestamp) / 1000 - now) > 3600:
        return "timestamp"
    if not hmac.compare_digest(sign, _dingtalk_sign(timestamp, DINGTALK_SECRET)):
        return "sign"
    markdown = body.get("markdown", {})
    if body.get("msgtype") != "markdown" or not markdown.get("title") or not markdown.get("text"):
        return "markdown"
    return None


def check_feishu(path: str, body: dict[str, Any], now: float) -> str | None:
    if path != f"/open-apis/bot/v2/hook/{FEISHU_HOOK}":
        return "hook"
    timestamp = str(body.get("timestamp", ""))
    if not timestamp.isdigit() or abs(int(timestamp) - now) > 3600:
        return "timestamp"
    if not hmac.compare_digest(str(body.get("sign", "")), _feishu_sign(timestamp, FEISHU_SECRET)):
        return "sign"
    card = body.get("card", {})
    header = card.get("header", {})
    ok = (
        body.get("msg_type") == "interactive"
        and header.get("title", {}).get("tag") == "plain_text"
        and header.get("title", {}).get("content")
        and card.get("elements", [{}])[0].get("text", {}).get("tag") == "lark_md"
    )
    return None if ok else "card"


class BotReceiver:
    def __init__(self, port: int = 0) -> None:
        self.lock = threading.Lock()
        self.accepted: list[Received] = []
        self.refused: list[tuple[Kind, str]] = []  # (bot, what was wrong)
        self.answered: dict[Kind, list[int | str]] = {"wecom": [], "dingtalk": [], "feishu": []}
        self.mode: dict[Kind, Mode] = {"wecom": "ok", "dingtalk": "ok", "feishu": "ok"}
        self.port = port
        self._server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def urls(self) -> dict[Kind, str]:
        return {
            "wecom": f"{self.base}/cgi-bin/webhook/send?key={WECOM_KEY}",
            "dingtalk": f"{self.base}/robot/send?access_token={DINGTALK_TOKEN}",
            "feishu": f"{self.base}/open-apis/bot/v2/hook/{FEISHU_HOOK}",
        }

    def of(self, kind: Kind) -> list[dict[str, Any]]:
        with self.lock:
            return [r.body for r in self.accepted if r.kind == kind]

    def handle(self, path: str, raw: bytes) -> tuple[int, dict[str, Any] | None]:
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        kind: Kind = (
            "wecom"
            if parts.path == "/cgi-bin/webhook/send"
            else "dingtalk"
            if parts.path == "/robot/send"
            else "feishu"
        )
        with self.lock:
            mode = self.mode[kind]
        if mode == "error500":
            with self.lock:
                self.answered[kind].append(500)
            return 500, None
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        now = time.time()
        if kind == "wecom":
            wrong = check_wecom(query, body)
        elif kind == "dingtalk":
            wrong = check_dingtalk(query, body, now)
        else:
            wrong = check_feishu(parts.path, body, now)
        key, code = (
            _REFUSED[kind] if wrong else _RATE_LIMIT[kind] if mode == "rate_limit" else (_RATE_LIMIT[kind][0], 0)
        )
        with self.lock:
            self.answered[kind].append(code)
            if wrong:
                self.refused.append((kind, wrong))
            elif code == 0:
                self.accepted.append(Received(kind, body))
        message = "ok" if code == 0 else f"refused: {wrong}" if wrong else "rate limited"
        other = "msg" if kind == "feishu" else "errmsg"
        return 200, {key: code, other: message}

    def start(self) -> BotReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer = receiver.handle(self.path, raw)
                data = json.dumps(answer).encode() if answer is not None else b"server error"
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if answer is not None else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
