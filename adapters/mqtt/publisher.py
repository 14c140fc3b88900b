"""MQTT publisher: paho-mqtt's network thread bridged to asyncio, with per-message broker acknowledgements.

The caller keeps its own durable outbox, so the session is clean (nothing survives a reconnect here) and
a message counts as delivered only once the broker acknowledged it. Duplicates after a reconnect are
possible and fine: receivers dedup by message id.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["MqttError", "MqttPublisher", "MqttSettings"]

_OFFLINE = b"offline"
_ONLINE = b"online"
# Bounds paho's own queue: messages sent just before a connection drop stay there until resent.
_MAX_QUEUED = 10_000
_MAX_INFLIGHT = 1_000


class MqttError(Exception):
    """A publish that did not get the broker's acknowledgement. The message never contains the password."""


@dataclass(frozen=True)
class MqttSettings:
    host: str
    port: int = 1883
    client_id: str = ""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    # Unsafe: skips the broker hostname check, so any holder of a cert from the CA can impersonate it.
    # Only for self-signed lab brokers reached by IP.
    tls_insecure: bool = False
    keepalive_s: int = 30
    connect_timeout_s: float = 5.0
    # Retained "online" on connect; "offline" as the will and at a clean stop.
    availability_topic: str | None = None


def _connack_error(reason: ReasonCode) -> str:
    # paho maps MQTT 3.1.1 CONNACK codes 4/5 onto the v5 names 134/135.
    if reason.value in (4, 134):
        return "broker refused the connection: bad username or password (not authorised)"
    if reason.value in (5, 135):
        return "broker refused the connection: not authorised"
    return f"broker refused the connection: {reason}"


class MqttPublisher:
    def __init__(self, settings: MqttSettings) -> None:
        self._settings = settings
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Guards _pending/_early/_publishing between the event loop and paho's network thread. Never held
        # while calling into paho: paho calls on_publish holding its own message lock.
        self._lock = threading.Lock()
        self._pending: dict[int, asyncio.Future[None]] = {}
        # Acks that arrived before publish() had registered its future for that mid.
        self._early: set[int] = set()
        self._publishing = 0
        self._connected = False
        self._connected_since: float | None = None
        self._last_error: str | None = None
        self._connected_event: asyncio.Event | None = None

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def connected_since(self) -> float | None:
        return self._connected_since

    async def start(self) -> None:
        if self._client is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._connected_event = asyncio.Event()
        s = self._settings
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        client.connect_timeout = s.connect_timeout_s
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_queued_messages_set(_MAX_QUEUED)
        client.max_inflight_messages_set(_MAX_INFLIGHT)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set(ca_certs=s.ca_file, certfile=s.cert_file, keyfile=s.key_file)
            client.tls_insecure_set(s.tls_insecure)
        if s.availability_topic:
            client.will_set(s.availability_topic, _OFFLINE, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
        client.loop_start()

    async def wait_connected(self, timeout_s: float) -> bool:
        event = self._connected_event
        if event is None:
            return False
        deadline = time.monotonic() + timeout_s
        # The event may lag the flag by one loop turn, so the flag is the truth and the event only wakes us.
        while not self._connected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 0.5))
            if not self._connected:
                event.clear()
        return True

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, timeout_s: float = 10.0
    ) -> None:
        fut = self._send(topic, payload, qos, retain)
        try:
            await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise MqttError(f"no acknowledgement from the broker within {timeout_s:g} s for {topic}") from None

    async def publish_many(
        self, items: Sequence[tuple[str, bytes, bool]], *, qos: int = 1, timeout_s: float = 10.0
    ) -> int:
        futures: list[asyncio.Future[None]] = []
        for topic, payload, retain in items:
            try:
                futures.append(self._send(topic, payload, qos, retain))
            except MqttError:
                break  # later items must not overtake this one
        deadline = time.monotonic() + timeout_s
        acked = 0
        try:
            for fut in futures:
                if not fut.done():
                    # asyncio.wait, not wait_for: on Python 3.11 wait_for can swallow a cancellation
                    # that arrives as the ack does, and the caller's task would never stop.
                    await asyncio.wait([fut], timeout=max(deadline - time.monotonic(), 0))
                if not fut.done() or fut.cancelled() or fut.exception() is not None:
                    break
                acked += 1
        finally:
            for fut in futures:
                if not fut.done():
                    fut.cancel()  # the ack may still come; nobody waits for it any more
                elif not fut.cancelled():
                    fut.exception()  # marks a failure nobody awaited as seen, so asyncio does not log it
        return acked

    async def stop(self) -> None:
        client = self._client
        if client is None:
            return
        topic = self._settings.availability_topic
        if topic and self._connected:
            with contextlib.suppress(MqttError):
                await self.publish(topic, _OFFLINE, retain=True, timeout_s=2.0)
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        self._client = None
        self._connected = False
        self._connected_since = None
        self._fail_pending("publisher stopped")

    def _send(self, topic: str, payload: bytes, qos: int, retain: bool) -> asyncio.Future[None]:
        client, loop = self._client, self._loop
        if client is None or loop is None or not self._connected:
            raise MqttError(f"not connected to the broker ({self._last_error or 'no connection yet'})")
        fut: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._publishing += 1
        try:
            info = client.publish(topic, payload, qos=qos, retain=retain)
        except (ValueError, OSError) as exc:
            with self._lock:
                self._publishing -= 1
            raise MqttError(f"cannot publish to {topic}: {exc}") from None
        with self._lock:
            self._publishing -= 1
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise MqttError(f"cannot publish to {topic}: {mqtt.error_string(info.rc)}")
            if qos == 0 or info.mid in self._early:
                # qos 0 has no ack to wait for: handed to the socket is all there is.
                self._early.discard(info.mid)
                fut.set_result(None)
            else:
                self._pending[info.mid] = fut
            if self._publishing == 0:
                self._early.clear()  # leftovers are acks of resends after a reconnect; nobody waits for them
        return fut

    def _fail_pending(self, reason: str) -> None:
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
        for fut in pending:
            if not fut.done():
                fut.set_exception(MqttError(reason))

    def _call_in_loop(self, func: Any, *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
                loop.call_soon_threadsafe(func, *args)

    # --- paho network thread callbacks ---

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any) -> None:
        if reason.is_failure:
            self._last_error = _connack_error(reason)
            return
        topic = self._settings.availability_topic
        if topic:
            client.publish(topic, _ONLINE, qos=1, retain=True)
        self._last_error = None
        self._connected_since = time.time()
        self._connected = True
        if self._connected_event is not None:
            self._call_in_loop(self._connected_event.set)

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        s = self._settings
        self._last_error = f"cannot connect to {s.host}:{s.port}"

    def _on_disconnect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any) -> None:
        was_connected = self._connected
        self._connected = False
        self._connected_since = None
        if was_connected and reason.is_failure:
            self._last_error = f"connection to the broker lost: {reason}"
        _drop_unacknowledged(client)
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
        if pending:
            self._call_in_loop(_fail_all, pending, "connection to the broker lost before the acknowledgement")

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: ReasonCode, _props: Any) -> None:
        with self._lock:
            fut = self._pending.pop(mid, None)
            if fut is None:
                if self._publishing > 0:
                    self._early.add(mid)
                return
        self._call_in_loop(_resolve, fut)


def _drop_unacknowledged(client: mqtt.Client) -> None:
    # paho resends unacknowledged messages after a reconnect even with a clean session. Our caller resends
    # from its outbox anyway, so those would only be duplicates, and a message the broker drops the
    # connection for (over its max_packet_size, say) would be resent forever, killing every new connection.
    # paho 2.1 has no public call for this; the attributes are checked so a paho upgrade degrades to resends.
    lock = getattr(client, "_out_message_mutex", None)
    messages = getattr(client, "_out_messages", None)
    if lock is None or not isinstance(messages, dict):
        return
    with lock:
        messages.clear()
        client._inflight_messages = 0


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _fail_all(futures: list[asyncio.Future[None]], reason: str) -> None:
    for fut in futures:
        if not fut.done():
            fut.set_exception(MqttError(reason))
