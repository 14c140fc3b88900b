"""The lower side of GA/T 1400 subscriptions over HTTP: `/VIID/Subscribes` as an upper platform calls
it, authenticated with HTTP digest and answered with ResponseStatus(List)Objects.

    POST   /VIID/Subscribes               SubscribeListObject: create (an existing id: update);
                                          an object with OperateType 1 cancels
    PUT    /VIID/Subscribes               SubscribeListObject: update (OperateType 1: cancel)
    DELETE /VIID/Subscribes?IDList=a,b    cancel
    GET    /VIID/Subscribes               SubscribeListObject of the subscriptions held
    PUT    /VIID/Subscribes/<ID>          cancel (body: optional SubscribeObject with the cancel fields)
    GET    /VIID/Subscribes/<ID>          SubscribeObject

What a subscription means is the handler's (the application's); this module speaks the protocol:
digest (MD5, qop=auth, opaque, nonces that expire), bounded bodies, JSON that cannot crash it. A
malformed request gets a 4xx with a ResponseStatusObject, never a traceback. `ViidListener` serves
the app with uvicorn on the caller's event loop, on a port of its own: platforms expect `/VIID/...`
at the root of the address they were given.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.common.digest import DigestError, parse_authorization, verify, www_authenticate
from adapters.gat1400.objects import (
    STATUS_INVALID_JSON_CONTENT,
    STATUS_INVALID_JSON_FORMAT,
    STATUS_INVALID_OPERATION,
    STATUS_OK,
    STATUS_OTHER_ERROR,
    Gat1400ProtocolError,
    ViidObject,
    load_body,
    status_answer,
    status_list_answer,
    status_object,
)
from adapters.gat1400.subscribe import (
    OPERATE_CANCEL,
    Cancellation,
    Refused,
    Subscribe,
    parse_cancellation,
    parse_id_list,
    parse_subscribe_list,
    subscribe_list,
)

__all__ = ["Outcome", "ServerSettings", "SubscriptionHandler", "ViidListener", "subscription_app"]

log = logging.getLogger(__name__)

CONTENT_TYPE: Final = "application/VIID+JSON;charset=UTF-8"
NONCE_TTL_S: Final = 300.0
MAX_NONCES: Final = 512


@dataclass(frozen=True)
class Outcome:
    """The handler's answer for one subscription: a StatusCode and its text."""

    code: int = STATUS_OK
    text: str = "OK"

    @property
    def ok(self) -> bool:
        return self.code == STATUS_OK


class SubscriptionHandler(Protocol):
    async def upsert(self, sub: Subscribe, platform: str, *, create: bool) -> Outcome:
        """Create (or, `create` False or the id known, update) one subscription."""
        ...

    async def cancel(self, subscribe_id: str, cancellation: Cancellation | None, platform: str) -> Outcome: ...

    async def subscriptions(self) -> list[ViidObject]:
        """The SubscribeObjects held, as a query answers them."""
        ...


@dataclass(frozen=True)
class ServerSettings:
    username: str
    password: str = field(repr=False)
    realm: str = "viid"
    max_body_bytes: int = 256 * 1024


class _Nonces:
    """Nonces handed out in challenges: only those, unexpired, are accepted (bounded, oldest go)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._issued: OrderedDict[str, float] = OrderedDict()
        self._clock = clock
        self.opaque = secrets.token_hex(8)

    def issue(self) -> str:
        nonce = secrets.token_hex(16)
        self._issued[nonce] = self._clock()
        while len(self._issued) > MAX_NONCES:
            self._issued.popitem(last=False)
        return nonce

    def state(self, nonce: str) -> str:
        issued = self._issued.get(nonce)
        if issued is None:
            return "unknown"
        if self._clock() - issued > NONCE_TTL_S:
            del self._issued[nonce]
            return "stale"
        return "ok"


class _Refusal(Exception):
    def __init__(self, http: int, code: int, text: str) -> None:
        super().__init__(text)
        self.http, self.code, self.text = http, code, text


def subscription_app(
    handler: SubscriptionHandler, settings: ServerSettings, *, clock: Callable[[], datetime] = datetime.now
) -> Starlette:
    """The ASGI app serving `/VIID/Subscribes` for `handler`."""
    nonces = _Nonces()

    def answer(body: ViidObject, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return Response(data, status_code=status, media_type=CONTENT_TYPE, headers=headers)

    def one_status(request: Request, http: int, code: int, text: str, object_id: str = "") -> Response:
        status = status_object(request.url.path, code, text, object_id, clock())
        headers = None
        if http == 401:
            nonce = nonces.issue()
            stale = text == "stale nonce"
            challenge = www_authenticate(
                settings.realm, nonce, opaque=nonces.opaque, algorithm="MD5", qop=("auth",), stale=stale
            )
            headers = {"WWW-Authenticate": challenge}
        return answer(status_answer(status), http, headers)

    def authenticate(request: Request) -> None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("digest "):
            raise _Refusal(401, STATUS_INVALID_OPERATION, "authentication required")
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"")
        target = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        try:
            sent = parse_authorization(header)
            nonce_state = nonces.state(sent.nonce)
            ok = (
                nonce_state == "ok"
                and hmac.compare_digest(sent.username.encode(), settings.username.encode())
                and (sent.opaque is None or hmac.compare_digest(sent.opaque.encode(), nonces.opaque.encode()))
                and sent.qop == "auth"
                and verify(header, method=request.method, password=settings.password, realm=settings.realm, uri=target)
            )
        except DigestError:
            raise _Refusal(401, STATUS_INVALID_OPERATION, "malformed Authorization") from None
        if nonce_state != "ok":
            # Expired, or from before our restart: a fresh challenge, no alarm (clients reuse nonces).
            raise _Refusal(401, STATUS_INVALID_OPERATION, "stale nonce")
        if not ok:
            log.warning("GA/T 1400 subscriptions: credentials refused for user %r", sent.username[:64])
            raise _Refusal(401, STATUS_INVALID_OPERATION, "credentials refused")

    async def read_json(request: Request) -> Any:
        limit = settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.strip().isdigit() or int(declared) > limit):
            raise _Refusal(413, STATUS_INVALID_JSON_CONTENT, f"body larger than {limit} bytes")
        size, chunks = 0, []
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _Refusal(413, STATUS_INVALID_JSON_CONTENT, f"body larger than {limit} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        if not body.strip():
            return None
        try:
            return load_body(body)
        except Gat1400ProtocolError as exc:
            raise _Refusal(400, STATUS_INVALID_JSON_FORMAT, str(exc)[:200]) from None

    async def items_answer(request: Request, results: Sequence[tuple[str, Outcome]]) -> Response:
        at = clock()
        path = request.url.path
        return answer(status_list_answer([status_object(path, o.code, o.text, sid, at) for sid, o in results]))

    async def apply(items: Sequence[Subscribe | Refused], platform: str, *, create: bool) -> list[tuple[str, Outcome]]:
        results: list[tuple[str, Outcome]] = []
        for item in items:
            if isinstance(item, Refused):
                results.append((item.subscribe_id, Outcome(item.code, item.reason)))
            elif item.operate_type == OPERATE_CANCEL:
                results.append(
                    (item.subscribe_id, await handler.cancel(item.subscribe_id, item.cancellation, platform))
                )
            else:
                results.append((item.subscribe_id, await handler.upsert(item, platform, create=create)))
        return results

    async def subscribes(request: Request) -> Response:
        platform = request.headers.get("user-identify", "")[:64]
        if request.method == "GET":
            return answer(subscribe_list(await handler.subscriptions()))
        if request.method == "DELETE":
            try:
                ids = parse_id_list(request.query_params.get("IDList", ""))
            except Gat1400ProtocolError as exc:
                raise _Refusal(400, STATUS_INVALID_JSON_CONTENT, str(exc)) from None
            results = [(sid, await handler.cancel(sid, None, platform)) for sid in ids]
            return await items_answer(request, results)
        body = await read_json(request)
        try:
            items = parse_subscribe_list(body)
        except Gat1400ProtocolError as exc:
            raise _Refusal(400, STATUS_INVALID_JSON_CONTENT, str(exc)[:200]) from None
        return await items_answer(request, await apply(items, platform, create=request.method == "POST"))

    async def one_subscription(request: Request) -> Response:
        sid = request.path_params["subscribe_id"]
        platform = request.headers.get("user-identify", "")[:64]
        try:
            parse_id_list(sid)
        except Gat1400ProtocolError:
            raise _Refusal(400, STATUS_INVALID_JSON_CONTENT, "malformed subscription id") from None
        if request.method == "GET":
            found = [s for s in await handler.subscriptions() if s.get("SubscribeID") == sid]
            if not found:
                raise _Refusal(404, STATUS_INVALID_OPERATION, "no such subscription")
            return answer({"SubscribeObject": found[0]})
        body = await read_json(request)
        try:
            cancellation = parse_cancellation(body, sid)
        except Gat1400ProtocolError as exc:
            raise _Refusal(400, STATUS_INVALID_JSON_CONTENT, str(exc)[:200]) from None
        outcome = await handler.cancel(sid, cancellation, platform)
        http = 200 if outcome.ok else 404 if outcome.code == STATUS_INVALID_OPERATION else 409
        return one_status(request, http, outcome.code, outcome.text, sid)

    def guarded(endpoint: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            try:
                authenticate(request)
                response: Response = await endpoint(request)
                return response
            except _Refusal as refusal:
                return one_status(request, refusal.http, refusal.code, refusal.text)
            except Exception:  # a handler bug answers 500, never a traceback to the platform
                log.exception("GA/T 1400 subscriptions: %s %s failed", request.method, request.url.path)
                return one_status(request, 500, STATUS_OTHER_ERROR, "internal error")

        return run

    async def not_found(request: Request) -> Response:
        return one_status(request, 404, STATUS_INVALID_OPERATION, "not offered by this lower platform")

    async def http_error(request: Request, exc: Exception) -> Response:
        # Starlette's own refusals (a method a route does not take) in the protocol's shape too.
        code = exc.status_code if isinstance(exc, HTTPException) else 500
        return one_status(request, code, STATUS_INVALID_OPERATION, "method not allowed" if code == 405 else "refused")

    routes = [
        Route("/VIID/Subscribes", guarded(subscribes), methods=["GET", "POST", "PUT", "DELETE"]),
        Route("/VIID/Subscribes/{subscribe_id}", guarded(one_subscription), methods=["GET", "PUT"]),
        Route("/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside a running event loop: the process's signals stay with their owner."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


class ViidListener:
    """Serves an ASGI app on host:port from the current event loop until stopped."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.app, self.host, self.port = app, host, port
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind and serve; raises OSError when the address cannot be bound (ours to report, not
        uvicorn's: it would exit the process)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(64)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            http="h11",
            ws="none",
            timeout_keep_alive=5,
            timeout_graceful_shutdown=2,
            limit_concurrency=64,
            h11_max_incomplete_event_size=16 * 1024,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
        listening = asyncio.ensure_future(self._server.listening.wait())
        await asyncio.wait({listening, self._task}, return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if self._task.done():
            self._task.result()

    async def wait(self) -> None:
        """Until the server ends (stopped, or failed: then the failure is raised here)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), 5.0)
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        except Exception:  # it failed on its own; stopping is what was asked
            log.debug("GA/T 1400 listener ended with an error", exc_info=True)
        self._server = self._task = None
