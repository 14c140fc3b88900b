"""A webhook receiver on 127.0.0.1 that checks each POST as the docs tell receivers to."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from adapters.webhook.signing import ReplayGuard, SignatureError, verify


class WebhookReceiver:
    """A receiver as the docs describe it: verify the signature, refuse replays, answer 2xx."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.guard = ReplayGuard(window_s=600)
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    verify(
                        body,
                        self.headers.get("X-Gateway-Signature", ""),
                        receiver.secret,
                        message_id=self.headers.get("X-Gateway-Message-Id"),
                        guard=None,
                    )
                except SignatureError as exc:
                    with receiver.lock:
                        receiver.refused.append(type(exc).__name__)
                    self.send_response(401)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.accepted.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
