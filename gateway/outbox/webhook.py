"""A webhook as an outbox destination: one signed JSON POST per message, in order.

Headers: `X-Gateway-Message-Id` (the deduplication id) and `X-Gateway-Signature: t=<unix>,v1=<hex>`,
an HMAC-SHA256 of "<t>." + body under the shared secret; receivers check both with
adapters.webhook.signing.verify (docs/outbox.md shows a receiver).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from adapters.webhook.sender import WebhookSender
from gateway.config.outbox import WebhookUplink
from gateway.outbox.messages import render_bodies
from gateway.outbox.service import DeliveryReport
from gateway.outbox.store import OutboxMessage


class WebhookDestination:
    type = "webhook"

    def __init__(
        self,
        uplink: WebhookUplink,
        site_id: str,
        *,
        secret: str,
        public_url: str | None,
        snapshot: Callable[[int], bytes | None],
    ) -> None:
        self.uplink = uplink
        self._site = site_id
        self._secret = secret.encode("utf-8")
        self._public_url = public_url
        self._snapshot = snapshot
        verify: bool | str = str(uplink.ca_file) if uplink.ca_file else uplink.verify_tls
        self._sender = WebhookSender(timeout_s=uplink.timeout_s, verify_tls=verify)
        self._ok: bool | None = None
        self.last_error: str | None = None

    @property
    def id(self) -> str:
        return self.uplink.id

    @property
    def connected(self) -> bool:
        """HTTP has no connection to watch: the last POST's outcome stands for it."""
        return bool(self._ok)

    async def start(self) -> None:
        await self._sender.open()

    async def stop(self) -> None:
        await self._sender.close()

    async def deliver(self, messages: Sequence[OutboxMessage]) -> DeliveryReport:
        report = DeliveryReport()
        inline = self.uplink.thumbnail_width if self.uplink.event_image == "inline" else None
        bodies = await asyncio.to_thread(
            render_bodies,
            messages,
            self._site,
            public_url=self._public_url,
            inline_width=inline,
            snapshot=self._snapshot,
        )
        for message, body in zip(messages, bodies, strict=True):
            result = await self._sender.post(self.uplink.url, body, message_id=message.msg_id, secret=self._secret)
            if result.ok:
                self._ok = True
                report.delivered.append(message.id)
                continue
            error = result.error or f"HTTP {result.status}"
            if result.permanent:
                self._ok = True  # the receiver answered; it refuses this one message
                report.rejected.append((message.id, error))
                continue
            self._ok = False
            self.last_error = error
            report.failure = error
            return report
        return report
