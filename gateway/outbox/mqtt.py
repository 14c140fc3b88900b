"""An MQTT broker as an outbox destination, publishing under a documented topic tree (QoS 1):

    <prefix>/<site>/availability                    retained  online | offline (the will)
    <prefix>/<site>/cameras/<camera>/state          retained  the camera's state message (JSON)
    <prefix>/<site>/cameras/<camera>/availability   retained  online | offline (video delivered or not)
    <prefix>/<site>/cameras/<camera>/health         retained  measured stream figures (JSON)
    <prefix>/<site>/cameras/<camera>/quality                  a picture fault raised or cleared (JSON)
    <prefix>/<site>/cameras/<camera>/events/<kind>            a detection event (JSON)
    <prefix>/<site>/tickets/<ticket id>                       a hidden-danger ticket's change (JSON)

A message counts as delivered when the broker acknowledged every publish it made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from adapters.mqtt.publisher import MqttPublisher, MqttSettings
from gateway.config.outbox import MqttUplink
from gateway.outbox.messages import render_bodies
from gateway.outbox.service import DeliveryReport
from gateway.outbox.store import OutboxMessage

PUBLISH_TIMEOUT_S = 10.0


def site_topic(uplink: MqttUplink, site_id: str) -> str:
    return f"{uplink.topic_prefix}/{site_id}"


def publications(
    message: OutboxMessage, body: bytes, uplink: MqttUplink, site_id: str
) -> list[tuple[str, bytes, bool]]:
    """(topic, payload, retain) for one message, in publish order."""
    camera = f"{site_topic(uplink, site_id)}/cameras/{message.camera_id or '-'}"
    data = message.payload
    if message.kind == "state":
        up = b"online" if data.get("up") else b"offline"
        return [(f"{camera}/state", body, True), (f"{camera}/availability", up, True)]
    if message.kind == "health":
        return [(f"{camera}/health", body, True)]
    if message.kind == "quality":
        return [(f"{camera}/quality", body, False)]
    if message.kind == "ticket":
        return [(f"{site_topic(uplink, site_id)}/tickets/{data.get('ticket_id', '-')}", body, False)]
    return [(f"{camera}/events/{data.get('kind', 'event')}", body, False)]


class MqttDestination:
    type = "mqtt"

    def __init__(
        self,
        uplink: MqttUplink,
        site_id: str,
        *,
        password: str | None,
        public_url: str | None,
        snapshot: Callable[[int], bytes | None],
    ) -> None:
        self.uplink = uplink
        self._site = site_id
        self._public_url = public_url
        self._snapshot = snapshot
        port = uplink.port or (8883 if uplink.tls else 1883)
        self.publisher = MqttPublisher(
            MqttSettings(
                host=uplink.host,
                port=port,
                client_id=uplink.client_id or f"gateway-{site_id}",
                username=uplink.username,
                password=password,
                tls=uplink.tls,
                ca_file=str(uplink.ca_file) if uplink.ca_file else None,
                cert_file=str(uplink.cert_file) if uplink.cert_file else None,
                key_file=str(uplink.key_file) if uplink.key_file else None,
                tls_insecure=uplink.tls_insecure,
                availability_topic=f"{site_topic(uplink, site_id)}/availability",
            )
        )

    @property
    def id(self) -> str:
        return self.uplink.id

    @property
    def connected(self) -> bool:
        return self.publisher.connected

    @property
    def last_error(self) -> str | None:
        return self.publisher.last_error

    def status(self) -> dict[str, object]:
        """The client's own failures: each cost one connection, and the client was made anew."""
        p = self.publisher
        return {
            "connected_since": p.connected_since,
            "client_restarts": p.restarts,
            "client_last_failure": p.last_crash,
            "client_last_failure_at": p.last_crash_at,
        }

    async def start(self) -> None:
        await self.publisher.start()

    async def stop(self) -> None:
        await self.publisher.stop()

    async def deliver(self, messages: Sequence[OutboxMessage]) -> DeliveryReport:
        report = DeliveryReport()
        if not self.publisher.connected:
            report.failure = f"not connected: {self.publisher.last_error or 'connecting'}"
            return report
        inline = self.uplink.thumbnail_width if self.uplink.event_image == "inline" else None
        items: list[tuple[str, bytes, bool]] = []
        owners: list[int] = []  # message id of each item

        bodies = await asyncio.to_thread(
            render_bodies,
            messages,
            self._site,
            public_url=self._public_url,
            inline_width=inline,
            snapshot=self._snapshot,
        )
        for message, body in zip(messages, bodies, strict=True):
            for item in publications(message, body, self.uplink, self._site):
                items.append(item)
                owners.append(message.id)
        acked = await self.publisher.publish_many(items, timeout_s=PUBLISH_TIMEOUT_S)
        # A message is done when all its items are: those before the first unacknowledged one.
        first_missing = owners[acked] if acked < len(owners) else None
        for message in messages:
            if message.id == first_missing:
                break
            report.delivered.append(message.id)
        if first_missing is not None:
            report.failure = f"broker did not acknowledge: {self.publisher.last_error or 'timeout'}"
        return report
