"""WebhookSender against a real HTTP receiver on 127.0.0.1 that checks signatures with adapters.webhook.signing."""

from __future__ import annotations

import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from adapters.webhook.sender import WebhookSender
from adapters.webhook.signing import ReplayGuard, SignatureError, verify
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

SECRET = b"webhook-secret"


class Receiver:
    def __init__(self) -> None:
        self.guard = ReplayGuard()
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.accepted: list[bytes] = []
        self.rejected: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append((body, dict(self.headers.items())))
                status = {"/500": 500, "/400": 400, "/429": 429, "/302": 302}.get(self.path)
                if status is None:
                    try:
                        verify(
                            body,
                            self.headers.get("X-Gateway-Signature", ""),
                            SECRET,
                            message_id=self.headers.get("X-Gateway-Message-Id"),
                            guard=receiver.guard,
                        )
                    except SignatureError as exc:
                        receiver.rejected.append(type(exc).__name__)
                        status = 400
                    else:
                        receiver.accepted.append(body)
                        status = 204
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
async def sender() -> AsyncIterator[WebhookSender]:
    s = WebhookSender(timeout_s=3)
    await s.open()
    yield s
    await s.close()


async def test_signed_message_verifies_and_replays_are_refused(receiver: Receiver, sender: WebhookSender) -> None:
    body = b'{"id":"evt-1","kind":"intrusion"}'
    result = await sender.post(f"{receiver.url}/hook", body, message_id="evt-1", secret=SECRET)
    assert result.ok and result.status == 204 and result.error is None
    assert receiver.accepted == [body]
    _, headers = receiver.received[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "site-video-gateway"
    assert headers["X-Gateway-Message-Id"] == "evt-1"

    # A captured request sent again byte for byte: the receiver's guard refuses it.
    replay_headers = {k: v for k, v in headers.items() if k.startswith("X-Gateway")}
    async with httpx.AsyncClient() as client:
        replay = await client.post(f"{receiver.url}/hook", content=body, headers=replay_headers)
        assert replay.status_code == 400
        tampered = await client.post(
            f"{receiver.url}/hook", content=body.replace(b"intrusion", b"nothing"), headers=replay_headers
        )
        assert tampered.status_code == 400
    assert receiver.rejected == ["ReplayedMessage", "BadSignature"]

    # The sender reports the refusal as permanent: retrying the same message cannot help.
    again = await sender.post(f"{receiver.url}/hook", body, message_id="evt-1", secret=SECRET)
    assert not again.ok and again.status == 400 and again.permanent
    unsigned = await sender.post(f"{receiver.url}/hook", body, message_id="evt-2", secret=None)
    assert not unsigned.ok and unsigned.permanent
    assert receiver.rejected[-1] == "MalformedSignature"


@pytest.mark.parametrize(
    ("path", "status", "permanent"),
    [("/500", 500, False), ("/429", 429, False), ("/400", 400, True), ("/302", 302, True)],
)
async def test_status_classification(
    receiver: Receiver, sender: WebhookSender, path: str, status: int, permanent: bool
) -> None:
    result = await sender.post(receiver.url + path, b"{}", message_id="m", secret=SECRET)
    assert (result.ok, result.status, result.permanent) == (False, status, permanent)
    assert result.error is not None and str(status) in result.error
    assert len(receiver.received) == 1  # the redirect was not followed


async def test_closed_port_is_retryable_and_hides_credentials(sender: WebhookSender) -> None:
    password, token = secrets.token_hex(8), secrets.token_hex(8)  # made per run
    url = f"http://hook-user:{password}@127.0.0.1:{free_port()}/hook?token={token}"
    result = await sender.post(url, b"{}", message_id="m", secret=SECRET)
    assert (result.ok, result.status, result.permanent) == (False, None, False)
    assert result.error is not None
    assert password not in result.error and token not in result.error
    assert "hook-user:***@" in result.error
