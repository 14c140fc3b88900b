"""Signed webhook POSTs, with each outcome classified as delivered, retry later, or give up."""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from adapters.common.redact import mask_text, mask_url
from adapters.webhook.signing import MESSAGE_ID_HEADER, SIGNATURE_HEADER, sign

__all__ = ["WebhookResult", "WebhookSender"]

USER_AGENT = "site-video-gateway"
# Overload and timeouts on the receiver's side: the same message may well succeed later.
_RETRYABLE_STATUS = frozenset({408, 425, 429})


@dataclass(frozen=True)
class WebhookResult:
    ok: bool
    status: int | None
    # True when retrying the same message cannot help (the receiver refused it); the caller drops it.
    permanent: bool
    error: str | None


class WebhookSender:
    def __init__(self, *, timeout_s: float = 10.0, verify_tls: bool | str = True) -> None:
        self._timeout_s = timeout_s
        self._verify_tls = verify_tls
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        if self._client is not None:
            return
        verify: bool | ssl.SSLContext = (
            self._verify_tls
            if isinstance(self._verify_tls, bool)
            # httpx 0.28 deprecates a CA path for verify=; a context is the supported form.
            else (ssl.create_default_context(cafile=self._verify_tls))
        )
        self._client = httpx.AsyncClient(
            timeout=self._timeout_s,
            verify=verify,
            # A redirect would carry the signed body somewhere the operator did not configure.
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def post(
        self,
        url: str,
        body: bytes,
        *,
        message_id: str,
        secret: bytes | None,
        headers: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> WebhookResult:
        await self.open()
        assert self._client is not None
        send_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        send_headers.update(headers or {})
        send_headers[MESSAGE_ID_HEADER] = message_id
        if secret is not None:
            timestamp = int(time.time() if now is None else now)
            send_headers[SIGNATURE_HEADER] = sign(body, secret, timestamp)
        shown = mask_text(mask_url(url))
        try:
            response = await self._client.post(url, content=body, headers=send_headers)
        except httpx.TimeoutException:
            return WebhookResult(False, None, False, f"timed out after {self._timeout_s:g} s posting to {shown}")
        except httpx.InvalidURL as exc:
            return WebhookResult(False, None, True, f"invalid webhook URL {shown}: {mask_text(str(exc))}")
        except httpx.HTTPError as exc:
            detail = mask_text(str(exc)) or type(exc).__name__
            return WebhookResult(False, None, False, f"cannot post to {shown}: {detail}")
        status = response.status_code
        if 200 <= status < 300:
            return WebhookResult(True, status, False, None)
        retryable = status >= 500 or status in _RETRYABLE_STATUS
        return WebhookResult(False, status, not retryable, f"HTTP {status} from {shown}")
