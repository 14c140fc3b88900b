"""Builds the outbox and its destinations from the config (secrets resolved here, at start)."""

from __future__ import annotations

from gateway.config import GatewayConfig
from gateway.outbox.gat1400 import Gat1400Destination
from gateway.outbox.gat1400_subscribed import Gat1400SubscribedPlatform
from gateway.outbox.mqtt import MqttDestination
from gateway.outbox.service import Destination, Outbox, route_of
from gateway.outbox.store import OutboxStore
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
    routes = [route_of(d) for d in uplinks.destinations()]
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
