"""A WeCom, DingTalk or Feishu group bot as a people's channel (gateway/outbox/notify.py): each ticket
message becomes the bot's own format, posted in order, held back to the bot's rate.

- WeCom: a `markdown` message (coloured title, fields, the link), then, when the ticket carries a
  picture, an `image` message (base64 + md5): two posts, and two of the bot's 20 a minute.
- DingTalk: a `markdown` message with its title; in signed mode the URL gets timestamp and sign.
- Feishu: an `interactive` card (coloured header, lark_md fields, a button to the ticket); in signed
  mode the body gets timestamp and sign.

DingTalk and Feishu show pictures only from a URL they can fetch (or an upload with app
credentials a group bot does not have), so they get the link to the ticket's page, not the picture.

Answers (adapters/notify/bots.py): a rate limit or a refused key or signature is a failure for now,
retried with the outbox's backoff and shown in `last_error` (the key is the config's to fix, the
message is kept meanwhile); only a message the bot calls malformed is refused for good.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from adapters.notify.bots import (
    BOT_NAMES,
    DEFAULT_PER_MINUTE,
    MIN_INTERVAL_S,
    dingtalk_markdown,
    feishu_card,
    wecom_image,
    wecom_markdown,
)
from adapters.notify.botsender import BotSender
from adapters.notify.ratelimit import RateLimiter
from gateway.config.outbox import BotUplink
from gateway.outbox.notify import ChannelBase
from gateway.outbox.pictures import picture_of
from gateway.outbox.service import DeliveryReport
from gateway.outbox.store import OutboxMessage
from gateway.outbox.ticket_text import FEISHU_TEMPLATE, markdown, render

log = logging.getLogger(__name__)


class BotChannel(ChannelBase):
    def __init__(
        self,
        uplink: BotUplink,
        *,
        url: str,
        secret: str | None,
        timezone: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(uplink, timezone)
        self.uplink = uplink
        self._url = url
        self._secret = secret
        self._name = BOT_NAMES[uplink.kind]
        self._sender = BotSender(uplink.kind, timeout_s=uplink.timeout_s)
        per_minute = uplink.max_per_minute or DEFAULT_PER_MINUTE[uplink.kind]
        self.limiter = RateLimiter(per_minute, MIN_INTERVAL_S[uplink.kind], clock=clock)
        self.rate_limited = 0  # answers telling us to slow down, since start
        # Posts already accepted of a message not yet done (WeCom's text, its picture failing): a
        # retry sends only the rest. In memory: after a restart the text may come a second time.
        self._posted: dict[int, int] = {}

    @property
    def type(self) -> str:
        return self.uplink.kind

    async def start(self) -> None:
        await self._sender.open()

    async def stop(self) -> None:
        await self._sender.close()

    def status(self) -> dict[str, object]:
        return {
            "max_per_minute": self.limiter.per_minute,
            "rate_limited": self.rate_limited,
            "quiet_hours": self.quiet_text(),
        }

    def posts(self, message: OutboxMessage) -> list[dict[str, Any]]:
        """The bodies (before signing) that tell one ticket message, in order."""
        text = render(message.payload)
        kind = self.uplink.kind
        if kind == "wecom":
            bodies = [wecom_markdown(markdown(text, "wecom"))]
            picture = picture_of(message.payload) if self.uplink.picture else None
            if picture is not None:
                bodies.append(wecom_image(picture))
            return bodies
        if kind == "dingtalk":
            return [dingtalk_markdown(text.title, markdown(text, "dingtalk"))]
        return [
            feishu_card(
                text.title,
                markdown(text, "feishu"),
                template=FEISHU_TEMPLATE[text.tone],
                link=text.link,
                link_label=text.link_label,
            )
        ]

    async def send(self, messages: Sequence[OutboxMessage]) -> DeliveryReport:
        report = DeliveryReport()
        for message in messages:
            if message.kind != "ticket":
                report.rejected.append((message.id, f"a {self._name} bot is told tickets only, not {message.kind}"))
                continue
            try:
                bodies = self.posts(message)
            except (ValueError, TypeError) as exc:  # a payload no bot can show must not block the queue
                report.rejected.append((message.id, f"cannot render the ticket message: {exc}"))
                continue
            done = self._posted.get(message.id, 0)
            pending = bodies[done:]
            while (wait := self.limiter.delay(len(pending))) > 0:
                if report.delivered or report.rejected:
                    # Hand back what is done: while this call waits, a stop would cancel it, and what
                    # was sent but not yet settled would be sent again after a restart.
                    return report
                await asyncio.sleep(wait)
            self.limiter.take(len(pending))
            refused: str | None = None
            for body in pending:
                answer = await self._sender.post(self._url, body, secret=self._secret)
                if answer.ok:
                    done += 1
                    self._posted[message.id] = done
                    continue
                if answer.rate_limited:
                    self.rate_limited += 1
                if not answer.permanent:
                    self._ok = False
                    self.last_error = answer.error
                    report.failure = answer.error or "failed"
                    return report
                if done:
                    # The text is in the group; only the picture was refused: the message is told.
                    log.warning(
                        "outbox: %s: the picture of message %d was refused: %s", self.id, message.id, answer.error
                    )
                else:
                    refused = answer.error or "refused"
                break
            self._posted.pop(message.id, None)
            self._ok = True
            if refused is None:
                report.delivered.append(message.id)
            else:
                report.rejected.append((message.id, refused))
        return report
