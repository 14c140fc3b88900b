"""A mailbox reached by SMTP as a people's channel (gateway/outbox/notify.py): each ticket message is
one mail to the channel's recipients, plain text and simple HTML, the ticket's picture inline.

Mails go out in batches of `MAIL_BATCH` over one connection, in a worker thread (adapters/notify/mail.py
says why the standard library's smtplib). A mail sent again (an answer lost, a restart before the
delivery was recorded) carries the same Message-ID, made from the outbox message id.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Final

from adapters.notify.mail import MailOutcome, SmtpSettings, build_mail, send_mails
from gateway.config.outbox import EmailUplink
from gateway.outbox.notify import ChannelBase
from gateway.outbox.pictures import picture_of
from gateway.outbox.service import DeliveryReport
from gateway.outbox.store import OutboxMessage
from gateway.outbox.ticket_text import html, plain, render

# Mails per connection: a stop cancels the delivery that is running, and what it sent but had not yet
# recorded is sent again after a restart; a small batch bounds that.
MAIL_BATCH: Final = 10
MESSAGE_ID_HEADER: Final = "X-Gateway-Message-Id"


class EmailChannel(ChannelBase):
    type = "email"

    def __init__(self, uplink: EmailUplink, *, password: str | None, timezone: str) -> None:
        super().__init__(uplink, timezone)
        self.uplink = uplink
        self.settings = SmtpSettings(
            host=uplink.host,
            port=uplink.smtp_port(),
            security=uplink.security,
            username=uplink.username,
            password=password,
            timeout_s=uplink.timeout_s,
            ca_file=str(uplink.ca_file) if uplink.ca_file else None,
        )
        address = parseaddr(uplink.sender)[1]
        self._domain = address.rpartition("@")[2] or "gateway.invalid"

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def status(self) -> dict[str, object]:
        return {
            "server": f"{self.settings.host}:{self.settings.port}",
            "security": self.settings.security,
            "recipients": len(self.uplink.to),
            "quiet_hours": self.quiet_text(),
        }

    def mail(self, message: OutboxMessage) -> EmailMessage:
        text = render(message.payload)
        digest = hashlib.sha256(message.msg_id.encode("utf-8")).hexdigest()
        picture = picture_of(message.payload) if self.uplink.picture else None
        cid = f"picture.{digest[:24]}@{self._domain}" if picture is not None else None
        return build_mail(
            sender=self.uplink.sender,
            to=self.uplink.to,
            subject=text.title,
            text=plain(text),
            html=html(text, cid),
            picture=picture,
            picture_cid=cid,
            message_id=f"<{digest[:32]}@{self._domain}>",
            date=datetime.fromtimestamp(message.created_at, self.zone),
            headers={MESSAGE_ID_HEADER: message.msg_id},
        )

    def _send(self, messages: Sequence[OutboxMessage]) -> DeliveryReport:
        """Blocking: render and send one batch."""
        report = DeliveryReport()
        mails: list[tuple[int, EmailMessage]] = []
        for message in messages:
            if message.kind != "ticket":
                report.rejected.append((message.id, f"a mailbox is told tickets only, not {message.kind}"))
                continue
            mails.append((message.id, self.mail(message)))
        outcomes: list[MailOutcome] = send_mails(self.settings, [m for _, m in mails])
        for (message_id, _mail), outcome in zip(mails, outcomes, strict=False):
            if outcome.sent:
                report.delivered.append(message_id)
            elif outcome.permanent:
                report.rejected.append((message_id, outcome.error or "refused"))
            else:
                report.failure = outcome.error or "failed"
                break
        return report

    async def send(self, messages: Sequence[OutboxMessage]) -> DeliveryReport:
        report = await asyncio.to_thread(self._send, messages[:MAIL_BATCH])
        if report.failure is not None:
            self._ok = False
            self.last_error = report.failure
        elif report.delivered:
            self._ok = True
        return report
