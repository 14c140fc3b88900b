"""Async GA/T 1400.4 client (the device side of a view library): register, keepalive, time, uploads.

HTTP digest (MD5, qop=auth, opaque) is httpx.DigestAuth: it answers each 401 challenge once and
reuses the last challenge afterwards, so after a server restart the stale nonce costs one extra
round trip and nothing else. A 401 that survives the retry on anything but Register means the server
no longer knows us (it restarted or expired the session), so `registered` drops and the caller
re-registers.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Self

import httpx

from adapters.gat1400.ids import check_device_id
from adapters.gat1400.objects import (
    Gat1400Error,
    Gat1400ProtocolError,
    ResponseStatus,
    ViidObject,
    face_list,
    parse_status,
    parse_status_list,
    parse_time,
    person_list,
)
from adapters.gat1400.subscribe import notification_list

__all__ = [
    "CONTENT_TYPE",
    "Gat1400AuthError",
    "Gat1400Error",
    "Gat1400NotRegisteredError",
    "Gat1400ProtocolError",
    "Gat1400RefusedError",
    "Gat1400UnavailableError",
    "ViidClient",
    "ViidSettings",
]

log = logging.getLogger(__name__)

CONTENT_TYPE: Final = "application/VIID+JSON;charset=UTF-8"


class Gat1400AuthError(Gat1400Error):
    """Credentials refused (401 after the digest answer, or 403)."""


class Gat1400NotRegisteredError(Gat1400AuthError):
    """The server does not (any longer) know this device: register again."""


class Gat1400RefusedError(Gat1400Error):
    """The server answered with a non-zero StatusCode."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class Gat1400UnavailableError(Gat1400Error):
    """Server unreachable, timed out, or answered 5xx: worth retrying later."""


@dataclass(frozen=True)
class ViidSettings:
    base_url: str
    device_id: str
    username: str
    password: str = field(repr=False)
    timeout_s: float = 10.0

    def __repr__(self) -> str:
        # A URL may carry user:password; the password field alone is not enough to mask.
        return (
            f"ViidSettings(base_url={_safe_url(self.base_url)!r}, device_id={self.device_id!r}, "
            f"username={self.username!r}, timeout_s={self.timeout_s})"
        )


def _safe_url(base_url: str) -> str:
    # Users sometimes write credentials into the URL; error text must never carry them.
    try:
        return str(httpx.URL(base_url).copy_with(username=None, password=None))
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<invalid url>"


class ViidClient:
    def __init__(self, settings: ViidSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        check_device_id(settings.device_id)
        self.settings = settings
        self.clock_offset_s: float | None = None
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._registered = False
        self._url = _safe_url(settings.base_url)

    def __repr__(self) -> str:
        return f"ViidClient({self._url!r}, device_id={self.settings.device_id!r}, registered={self._registered})"

    @property
    def registered(self) -> bool:
        return self._registered

    async def open(self) -> None:
        if self._http is not None:
            return
        s = self.settings
        self._http = httpx.AsyncClient(
            base_url=self._url,  # credentials travel only in the digest, never in the URL
            auth=httpx.DigestAuth(s.username, s.password),
            timeout=s.timeout_s,
            transport=self._transport,
            # Sent from the start: servers that look the device up by it do so for Register too.
            headers={"User-Identify": s.device_id, "Accept": "application/json, application/VIID+JSON"},
            trust_env=False,
        )

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def register(self) -> ResponseStatus:
        body = {"RegisterObject": {"DeviceID": self.settings.device_id}}
        status = parse_status(await self._request("POST", "/VIID/System/Register", body, registering=True))
        self._check(status, "Register")
        self._registered = True
        log.info("registered to VIID server %s as %s", self._url, self.settings.device_id)
        return status

    async def keepalive(self) -> ResponseStatus:
        body = {"KeepaliveObject": {"DeviceID": self.settings.device_id}}
        status = parse_status(await self._request("POST", "/VIID/System/Keepalive", body))
        if status.status_code != 0:
            # Keepalive exists only to prove the session; a refused one means it is gone.
            self._registered = False
        self._check(status, "Keepalive")
        return status

    async def unregister(self) -> ResponseStatus:
        body = {"UnRegisterObject": {"DeviceID": self.settings.device_id}}
        try:
            status = parse_status(await self._request("POST", "/VIID/System/UnRegister", body))
        finally:
            self._registered = False
        self._check(status, "UnRegister")
        return status

    async def server_time(self) -> datetime:
        before = time.time()
        server = parse_time(await self._request("GET", "/VIID/System/Time", None))
        local = datetime.fromtimestamp((before + time.time()) / 2)
        self.clock_offset_s = (server - local).total_seconds()
        return server

    async def upload_persons(self, objs: Sequence[ViidObject]) -> list[ResponseStatus]:
        return await self._upload("/VIID/Persons", person_list(objs), len(objs))

    async def upload_faces(self, objs: Sequence[ViidObject]) -> list[ResponseStatus]:
        return await self._upload("/VIID/Faces", face_list(objs), len(objs))

    async def notify(self, receive_addr: str, notifications: Sequence[ViidObject]) -> list[ResponseStatus]:
        """POST a SubscribeNotificationListObject to a subscription's ReceiveAddr: an absolute URL
        (the digest is answered there with this client's credentials) or a path on this client's
        server. Returns the statuses as answered: platforms answer one per notification or one for
        the list, so matching them to notifications is the caller's. An empty 2xx answer is no
        status at all (some platforms send nothing back)."""
        if not notifications:
            return []
        answer = await self._request("POST", receive_addr, notification_list(notifications))
        if not answer.strip():
            return []
        return parse_status_list(answer)

    async def _upload(self, path: str, body: ViidObject, count: int) -> list[ResponseStatus]:
        if count == 0:
            return []
        statuses = parse_status_list(await self._request("POST", path, body))
        if len(statuses) != count:
            raise Gat1400ProtocolError(f"{path}: {count} objects sent, {len(statuses)} statuses answered")
        return statuses

    def _check(self, status: ResponseStatus, what: str) -> None:
        if status.status_code != 0:
            log.warning("VIID %s refused: %s %s", what, status.status_code, status.status_string)
            raise Gat1400RefusedError(
                f"VIID {what} refused by {self._url}: StatusCode {status.status_code} {status.status_string!r:.80}",
                status.status_code,
            )

    async def _request(self, method: str, path: str, body: Any, *, registering: bool = False) -> bytes:
        if self._http is None:
            raise Gat1400Error("ViidClient is not open")
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": CONTENT_TYPE} if content is not None else None
        try:
            resp = await self._http.request(method, path, content=content, headers=headers)
        except httpx.TransportError as exc:
            raise Gat1400UnavailableError(
                f"VIID server {self._url} unavailable ({method} {path}): {type(exc).__name__}"
            ) from None
        code = resp.status_code
        if code in (401, 403):
            if registering:
                raise Gat1400AuthError(f"VIID server {self._url} refused the credentials of {self.settings.username!r}")
            self._registered = False
            log.warning("VIID server %s answered %s %s with %d: not registered", self._url, method, path, code)
            raise Gat1400NotRegisteredError(f"VIID server {self._url} answered {method} {path} with {code}")
        if code >= 500:
            raise Gat1400UnavailableError(f"VIID server {self._url} answered {method} {path} with {code}")
        if code >= 300:
            raise Gat1400ProtocolError(f"VIID server {self._url} answered {method} {path} with {code}")
        return resp.content
