"""The `uplinks:` section; the models of each kind of uplink are in gb28181.py and outbox.py."""

from __future__ import annotations

from pydantic import Field

from gateway.config.base import Model
from gateway.config.gb28181 import Gb28181Uplink
from gateway.config.outbox import (
    BotUplink,
    EmailUplink,
    Gat1400SubscriberUplink,
    Gat1400Uplink,
    MqttUplink,
    OutboxConfig,
    WebhookUplink,
)


class UplinksConfig(Model):
    """`uplinks:`: the GB/T 28181 platforms (gateway/gb28181/) and the outbox's destinations (gateway/outbox/)."""

    gb28181: list[Gb28181Uplink] = Field(default_factory=list, description="GB/T 28181 upper platforms")
    mqtt: list[MqttUplink] = Field(default_factory=list, description="MQTT brokers")
    webhooks: list[WebhookUplink] = Field(default_factory=list, description="Signed HTTP webhooks")
    gat1400: list[Gat1400Uplink] = Field(default_factory=list, description="GA/T 1400 view libraries")
    gat1400_subscribers: list[Gat1400SubscriberUplink] = Field(
        default_factory=list,
        description="GA/T 1400 platforms that subscribe to this gateway (/VIID/Subscribes) and take notifications",
    )
    bots: list[BotUplink] = Field(
        default_factory=list, description="WeCom, DingTalk and Feishu group bots (ticket notifications)"
    )
    email: list[EmailUplink] = Field(default_factory=list, description="Mailboxes by SMTP (ticket notifications)")
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="This gateway's URL as receivers reach it, for snapshot links in messages",
    )
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)

    def destinations(self) -> list[MqttUplink | WebhookUplink | Gat1400Uplink | BotUplink | EmailUplink]:
        """The destinations whose routes take messages directly (a subscribing platform's
        subscriptions get their routes as they come: gateway/outbox/gat1400_subscribed.py), the
        people's channels (bots, e-mail) last."""
        return [*self.mqtt, *self.webhooks, *self.gat1400, *self.bots, *self.email]
