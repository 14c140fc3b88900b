"""Builds the outbox and its destinations from the config (secrets resolved here, at start)."""

from __future__ import annotations

from gateway.config import GatewayConfig
from gateway.config.outbox import Gat1400Uplink, MqttUplink, WebhookUplink
from gateway.outbox.bots import BotChannel
from gateway.outbox.gat1400 import Gat1400Destination
from gateway.outbox.gat1400_subscribed import Gat1400SubscribedPlatform
from gateway.outbox.mail import EmailChannel
from gateway.outbox.mqtt import MqttDestination
from gateway.outbox.notify import Channel, ChannelQueue, channel_routes
from gateway.outbox.service import Destination, Outbox, route_of
from gateway.outbox.store import OutboxStore, Route
from gateway.outbox.webhook import WebhookDestination
from gateway.storage.db import Database
from gateway.tasks import Watchdog


def build_outbox(config: GatewayConfig, db: Database, watchdog: Watchdog | None = None) -> Outbox:
    watchdog = watchdog or Watchdog()
    # Only this instance's cameras (a shard, when several gateways share the database).
    store = OutboxStore(db, config.site.id, config.instance_id(), [c.id for c in config.cameras])
    uplinks = config.uplinks
    site = config.site.id
    destinations: list[Destination] = []
    for mqtt in uplinks.mqtt:
        password = mqtt.password.resolve() if mqtt.password is not None else None
        destinations.append(
            MqttDestination(mqtt, site, password=password, public_url=uplinks.public_url, snapshot=store.snapshot)
        )
    for hook in uplinks.webhooks:
        destinations.append(
            WebhookDestination(
                hook, site, secret=hook.secret.resolve(), public_url=uplinks.public_url, snapshot=store.snapshot
            )
        )
    for gat in uplinks.gat1400:
        destinations.append(
            Gat1400Destination(gat, config, store.snapshot, password=gat.password.resolve(), watchdog=watchdog)
        )
    direct: list[MqttUplink | WebhookUplink | Gat1400Uplink] = [*uplinks.mqtt, *uplinks.webhooks, *uplinks.gat1400]
    routes: list[Route] = [route_of(d) for d in direct]
    channels: list[Channel] = [
        BotChannel(
            bot,
            url=bot.url.resolve(),
            secret=bot.secret.resolve() if bot.secret is not None else None,
            timezone=config.site.timezone,
        )
        for bot in uplinks.bots
    ]
    channels += [
        EmailChannel(mail, password=mail.password.resolve() if mail.password else None, timezone=config.site.timezone)
        for mail in uplinks.email
    ]
    for channel, spec in zip(channels, [*uplinks.bots, *uplinks.email], strict=True):
        cameras = None if spec.cameras == "all" else spec.cameras
        destinations += [ChannelQueue(channel, held=held, head_of=lambda d: _head(store, d)) for held in (False, True)]
        routes += channel_routes(channel.id, spec.kinds, cameras, spec.quiet_hours)
    platforms = [
        Gat1400SubscribedPlatform(
            sub,
            config,
            db,
            store.snapshot,
            password=sub.password.resolve(),
            subscriber_password=sub.subscriber_password.resolve(),
            watchdog=watchdog,
        )
        for sub in uplinks.gat1400_subscribers
    ]
    destinations += platforms
    routes += [p.route() for p in platforms]
    outbox = Outbox(config, store, destinations, routes, watchdog=watchdog)
    for platform in platforms:
        platform.attach(outbox)
    return outbox


def _head(store: OutboxStore, destination: str) -> int | None:
    """The id of the destination's oldest undelivered message (blocking)."""
    batch = store.next_batch(destination, 1)
    return batch[0].id if batch else None
