"""MQTT publisher with per-message broker acknowledgements, on aiomqtt.

One asyncio task, the driver, owns the connection: it connects, publishes the retained "online",
waits for the connection to end, and connects again after a backoff with jitter. aiomqtt drives
paho-mqtt from the event loop (the socket is read and written in loop callbacks), so one thread,
the loop's, is the only one that ever calls the client. An exception inside paho's read path ends
that connection instead of killing a hidden network thread (paho 2.1's own thread died that way,
"OrderedDict changed size during iteration", and the feed stayed down until a restart).

Each connection gets a new client. The caller keeps its own durable outbox, so the session is clean
and a message counts as delivered only once the broker acknowledged it; a fresh client also means
that nothing paho queued for a dead connection is resent on the next one, so a message the broker
drops the connection for (over its `max_packet_size`) is not resent forever. Duplicates after a
reconnect come only from the caller's resends, and receivers dedup by message id.

The driver catches every failure it can expect (refused, unreachable, TLS, auth, a lost connection)
and every one it cannot (a library bug): either way the client is dropped and made anew. An
unexpected one is logged once per distinct reason and counted in `restarts`/`last_crash`, which the
caller shows. Should the driver task itself end anyway, its done-callback starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["MqttError", "MqttPublisher", "MqttSettings"]

log = logging.getLogger(__name__)

_OFFLINE = b"offline"
_ONLINE = b"online"
# Bounds paho's queue per connection; the outbox hands over batches far smaller than this.
_MAX_QUEUED = 10_000
_MAX_INFLIGHT = 1_000
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 30.0
STOP_WAIT_S = 5.0


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


def _connack_error(rc: int) -> str:
    # MQTT 3.1.1 CONNACK codes 4/5, or paho's v5 names for them, 134/135.
    if rc in (4, 134):
        return "broker refused the connection: bad username or password (not authorised)"
    if rc in (5, 135):
        return "broker refused the connection: not authorised"
    return f"broker refused the connection: code {rc}"


def _describe(exc: BaseException, settings: MqttSettings, *, connected: bool) -> str:
    where = f"{settings.host}:{settings.port}"
    if connected:
        return f"connection to the broker lost: {exc or type(exc).__name__}"
    if isinstance(exc, MqttConnectError) and exc.rc is not None:
        return _connack_error(exc.rc.value if isinstance(exc.rc, ReasonCode) else int(exc.rc))
    if isinstance(exc, ssl.SSLError):
        return f"TLS with {where} failed: {exc.reason or exc}"
    text = str(exc) or type(exc).__name__
    if text == "Operation timed out":
        return f"no answer from {where} within the connect timeout"
    return f"cannot connect to {where}: {text}"


class MqttPublisher:
    def __init__(self, settings: MqttSettings) -> None:
        self._settings = settings
        self._driver: asyncio.Task[None] | None = None
        self._stopping = False
        # The current connection's client and a future that completes when that connection ends; both
        # are set and cleared by the driver only.
        self._client: aiomqtt.Client | None = None
        self._lost: asyncio.Future[None] | None = None
        self._up: asyncio.Event | None = None
        self._connected_since: float | None = None
        self._last_error: str | None = None
        self._failures = 0  # connection attempts in a row that did not connect
        # Unexpected failures of the driver (a library or a bug of ours): counted, shown, logged once each.
        self.restarts = 0
        self.last_crash: str | None = None
        self.last_crash_at: float | None = None
        self._logged_crashes: set[str] = set()

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def connected_since(self) -> float | None:
        return self._connected_since

    async def start(self) -> None:
        if self._driver is not None:
            return
        self._stopping = False
        self._up = asyncio.Event()
        self._start_driver()

    def _start_driver(self) -> None:
        s = self._settings
        self._driver = asyncio.create_task(self._drive(), name=f"mqtt-{s.host}:{s.port}")
        self._driver.add_done_callback(self._driver_ended)

    def _driver_ended(self, task: asyncio.Task[None]) -> None:
        if self._stopping or task is not self._driver:
            return
        # _drive never returns and catches everything but cancellation: getting here is a bug or a
        # cancellation from outside. Either way the destination must not stay dead.
        exc = None if task.cancelled() else task.exception()
        self._crashed(exc if exc is not None else RuntimeError("the driver task ended"))
        self._connection_down()
        asyncio.get_running_loop().call_later(BACKOFF_MIN_S, self._restart_driver)

    def _restart_driver(self) -> None:
        if not self._stopping:
            self._start_driver()

    async def wait_connected(self, timeout_s: float) -> bool:
        up = self._up
        if up is None:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(up.wait(), timeout_s)
        return self.connected

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, timeout_s: float = 10.0
    ) -> None:
        client, lost = self._current()
        task = self._send(client, topic, payload, qos, retain)
        try:
            await asyncio.wait([task, lost], timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():
                task.cancel()
        if not task.done() or task.cancelled():
            if lost.done():
                raise MqttError("connection to the broker lost before the acknowledgement")
            raise MqttError(f"no acknowledgement from the broker within {timeout_s:g} s for {topic}")
        exc = task.exception()
        if exc is not None:
            raise MqttError(f"cannot publish to {topic}: {exc}") from None

    async def publish_many(
        self, items: Sequence[tuple[str, bytes, bool]], *, qos: int = 1, timeout_s: float = 10.0
    ) -> int:
        """Publish in order and return how many, from the first, the broker acknowledged."""
        try:
            client, lost = self._current()
        except MqttError:
            return 0
        deadline = time.monotonic() + timeout_s
        tasks: list[asyncio.Task[None]] = []
        acked = 0
        try:
            for topic, payload, retain in items:
                task = self._send(client, topic, payload, qos, retain)
                tasks.append(task)
                # One loop turn runs the task up to its first wait, i.e. through paho's publish call: one
                # refused there must not be overtaken by the items after it.
                await asyncio.sleep(0)
                if (task.done() and (task.cancelled() or task.exception() is not None)) or lost.done():
                    break
            for task in tasks:
                if not task.done():
                    # asyncio.wait, not wait_for: on Python 3.11 wait_for can swallow a cancellation
                    # that arrives as the ack does, and the caller's task would never stop.
                    await asyncio.wait(
                        [task, lost], timeout=max(deadline - time.monotonic(), 0), return_when=asyncio.FIRST_COMPLETED
                    )
                if not task.done() or task.cancelled() or task.exception() is not None:
                    break
                acked += 1
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()  # the ack may still come; nobody waits for it any more
                elif not task.cancelled():
                    task.exception()  # marks a failure nobody awaited as seen, so asyncio does not log it
        return acked

    async def stop(self) -> None:
        driver = self._driver
        if driver is None:
            return
        topic = self._settings.availability_topic
        if topic and self.connected:
            with contextlib.suppress(MqttError):
                await self.publish(topic, _OFFLINE, retain=True, timeout_s=2.0)
        self._stopping = True
        self._driver = None
        driver.cancel()
        # The driver disconnects cleanly on its way out (no will then); bounded, the broker may be gone.
        _done, pending = await asyncio.wait([driver], timeout=STOP_WAIT_S)
        if pending:
            log.warning("mqtt %s: the connection did not close within %g s", self._where, STOP_WAIT_S)
        self._connection_down()

    # --- the driver ---

    @property
    def _where(self) -> str:
        return f"{self._settings.host}:{self._settings.port}"

    def _current(self) -> tuple[aiomqtt.Client, asyncio.Future[None]]:
        client, lost = self._client, self._lost
        if client is None or lost is None or lost.done():
            raise MqttError(f"not connected to the broker ({self._last_error or 'no connection yet'})")
        return client, lost

    @staticmethod
    def _send(client: aiomqtt.Client, topic: str, payload: bytes, qos: int, retain: bool) -> asyncio.Task[None]:
        # No timeout inside aiomqtt: the caller's wait bounds it, and also ends it when the connection goes.
        return asyncio.ensure_future(client.publish(topic, payload, qos=qos, retain=retain, timeout=math.inf))

    async def _drive(self) -> None:
        while not self._stopping:
            try:
                await self._connection()
            except asyncio.CancelledError:
                raise
            except (aiomqtt.MqttError, OSError) as exc:
                cause = exc.__cause__
                if cause is not None and not isinstance(cause, aiomqtt.MqttError | OSError):
                    # aiomqtt ends the connection on any exception from paho's read or write path and
                    # chains it: a RuntimeError there is a library bug, not a network event.
                    self._crashed(cause)
                else:
                    self._last_error = _describe(exc, self._settings, connected=self.connected)
            except Exception as exc:  # noqa: BLE001 - logged in _crashed; a library bug costs one connection
                self._crashed(exc)
            finally:
                self._connection_down()
            self._failures += 1
            delay = min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2 ** min(self._failures - 1, 10))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not a secret

    async def _connection(self) -> None:
        s = self._settings
        topic = s.availability_topic
        client = aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=s.client_id or None,
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=True,
            will=aiomqtt.Will(topic, _OFFLINE, qos=1, retain=True) if topic else None,
            timeout=s.connect_timeout_s,
            keepalive=s.keepalive_s,
            max_queued_outgoing_messages=_MAX_QUEUED,
            max_inflight_messages=_MAX_INFLIGHT,
            tls_params=aiomqtt.TLSParameters(ca_certs=s.ca_file, certfile=s.cert_file, keyfile=s.key_file)
            if s.tls
            else None,
            tls_insecure=s.tls_insecure if s.tls else None,
            logger=logging.getLogger("adapters.mqtt.client"),
        )
        # aiomqtt warns past this many publishes awaiting their acks; a batch is that by design.
        client.pending_calls_threshold = _MAX_INFLIGHT
        async with client:
            if topic:
                await client.publish(topic, _ONLINE, qos=1, retain=True, timeout=s.connect_timeout_s)
            self._client = client
            self._lost = asyncio.get_running_loop().create_future()
            self._connected_since = time.time()
            self._last_error = None
            self._failures = 0
            if self._up is not None:
                self._up.set()
            # Nothing is subscribed: the iterator only ends, with MqttError, when the connection does.
            async for _message in client.messages:
                pass

    def _connection_down(self) -> None:
        self._client = None
        self._connected_since = None
        if self._up is not None:
            self._up.clear()
        lost, self._lost = self._lost, None
        if lost is not None and not lost.done():
            lost.set_result(None)

    def _crashed(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:300]
        self.restarts += 1
        self.last_crash = reason
        self.last_crash_at = time.time()
        self._last_error = f"MQTT client failed and was restarted: {reason}"
        if reason not in self._logged_crashes:
            self._logged_crashes.add(reason)
            log.error("mqtt %s: the client failed (%s); connecting anew", self._where, reason, exc_info=exc)
