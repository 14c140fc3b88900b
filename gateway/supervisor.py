"""One supervisor task per camera: run its source, report state, back off and restart on failure.

The blocking PyAV session runs in a daemon thread of its own (not the default executor) so that
shutting the gateway down never waits on a socket stuck in a read. The thread measures the stream
itself and hands the event loop one snapshot a second, not one call per packet.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol
from urllib.parse import urlsplit

from adapters.common.media import Packet, StreamInfo
from adapters.rtsp import Reason, RtspSource, SourceError
from gateway.config import CameraConfig, SupervisorConfig
from gateway.errors import SecretUnavailableError
from gateway.health.policy import HealthPolicy
from gateway.health.state import CameraState, HealthTracker, MeasuredStream
from gateway.health.stats import StreamStats
from gateway.pipeline.bus import PacketBus

log = logging.getLogger(__name__)

# How often the reader thread hands measured figures to the event loop: often enough for a live
# dashboard, rare enough that 200 cameras cost a few hundred callbacks a second at most.
PUBLISH_INTERVAL_S = 1.0
# Failures where the camera's port itself is shut: watching the port brings it back fastest.
_PORT_REASONS = frozenset({Reason.REFUSED, Reason.UNREACHABLE, Reason.ENDED})
_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}


class Source(Protocol):
    def open(self) -> StreamInfo: ...
    def packets(self) -> Iterator[Packet]: ...
    def close(self) -> None: ...


SourceFactory = Callable[[CameraConfig, SupervisorConfig], Source]


def rtsp_source_factory(camera: CameraConfig, settings: SupervisorConfig) -> Source:
    secrets: tuple[str, ...] = ()
    url = camera.secret_url()
    if camera.credentials and camera.credentials.password:
        secrets = (camera.credentials.password.resolve(),)
    return RtspSource(
        camera.id,
        url,
        transport=camera.source.transport,
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.stall_timeout_s,
        secrets=secrets,
    )


class Backoff:
    """Exponential backoff with jitter and a cap; reset after a session that stayed up."""

    def __init__(self, initial_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self._initial = initial_s
        self._max = max_s
        self._attempt = 0
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def next_delay(self) -> float:
        ceiling: float = min(self._max, self._initial * 2.0 ** min(self._attempt, 30))
        self._attempt += 1
        # "Equal jitter": at least half the ceiling, so retries never bunch up near zero.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self._attempt = 0


def _run_in_daemon_thread(fn: Callable[[], None], name: str) -> asyncio.Future[None]:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task, which decides
            loop.call_soon_threadsafe(_settle, future, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, None)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)


async def port_open(host: str, port: int, within_s: float) -> bool:
    """True when a TCP connection to host:port succeeds: a camera's RTSP port is back."""
    try:
        async with asyncio.timeout(within_s):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class CameraSupervisor:
    def __init__(
        self,
        camera: CameraConfig,
        settings: SupervisorConfig,
        policy: HealthPolicy,
        tracker: HealthTracker,
        bus: PacketBus | None = None,
        source_factory: SourceFactory = rtsp_source_factory,
    ) -> None:
        self.camera = camera
        self._settings = settings
        self._policy = policy
        self._tracker = tracker
        self.bus = bus or PacketBus(camera.id)
        self._source_factory = source_factory
        self._stop = threading.Event()
        self._stop_async: asyncio.Event | None = None
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session = 0
        self._endpoint = _endpoint(camera)

    async def run(self) -> None:
        cid = self.camera.id
        self._loop = asyncio.get_running_loop()
        self._stop_async = asyncio.Event()
        try:
            while not self._stop.is_set():
                # Retrying an offline camera keeps it offline: only the first attempt after start shows
                # "connecting", so a dead camera writes one state change, not one per retry.
                if self._tracker.get(cid).state is not CameraState.OFFLINE:
                    self._tracker.set_state(cid, CameraState.CONNECTING)
                self._session += 1
                session = self._session
                started = time.monotonic()
                reason: Reason | None = None
                try:
                    await _run_in_daemon_thread(functools.partial(self._read, session), name=f"camera-{cid}")
                    reason = Reason.ENDED
                    text = reason.value
                except SourceError as exc:
                    reason = exc.reason
                    text = reason.value
                    log.debug("camera %s: %s", cid, exc)
                except SecretUnavailableError as exc:
                    text = f"credentials unavailable: {exc}"
                if self._stop.is_set():
                    break
                self._tracker.set_state(cid, CameraState.OFFLINE, text)
                self._tracker.count_reconnect(cid)
                # A session that stayed up for a while was a real recovery: start backing off afresh.
                if time.monotonic() - started > self._settings.backoff_max_s:
                    self._backoff.reset()
                await self._pause(reason)
        finally:
            self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._stop_async is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop_async.set)

    async def _pause(self, reason: Reason | None) -> None:
        delay = self._backoff.next_delay()
        if reason is Reason.AUTH_FAILED:
            delay = max(delay, self._settings.auth_retry_s)
        assert self._stop_async is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        if reason in _PORT_REASONS and self._endpoint is not None:
            # Watch the port and retry the moment it opens again, instead of sleeping out the backoff.
            host, port = self._endpoint
            interval = self._settings.probe_interval_s
            while (remaining := deadline - loop.time()) > 0 and not self._stop.is_set():
                probe_started = loop.time()
                if await port_open(host, port, within_s=min(interval, remaining)):
                    return
                await self._sleep(min(interval - (loop.time() - probe_started), deadline - loop.time()))
            return
        await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        assert self._stop_async is not None
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_async.wait(), seconds)

    def _read(self, session: int) -> None:
        """Runs in the camera's thread: open, read until failure or stop."""
        assert self._loop is not None
        call = self._loop.call_soon_threadsafe
        source = self._source_factory(self.camera, self._settings)
        try:
            info = source.open()
            stats = StreamStats(info)
            bus = self.bus
            next_publish = 0.0
            for packet in source.packets():
                if self._stop.is_set():
                    return
                stats.add(packet)
                if bus.subscribers:
                    bus.publish(packet)
                if packet.arrival >= next_publish:
                    next_publish = packet.arrival + PUBLISH_INTERVAL_S
                    call(self._on_snapshot, session, stats.snapshot(), time.time())
        finally:
            source.close()

    def _on_snapshot(self, session: int, measured: MeasuredStream, at: float) -> None:
        if session != self._session or self._stop.is_set():
            return  # a late snapshot from a session that has already ended
        cid = self.camera.id
        current = self._tracker.get(cid)
        previous = current.reason if current.state is CameraState.DEGRADED else None
        degraded = self._policy.degradation(self.camera, measured, previous)
        if current.state not in (CameraState.ONLINE, CameraState.DEGRADED):
            self._backoff.reset()
        self._tracker.set_state(cid, CameraState.DEGRADED if degraded else CameraState.ONLINE, degraded)
        self._tracker.update_measured(cid, measured, at)


def _endpoint(camera: CameraConfig) -> tuple[str, int] | None:
    if camera.source.rtsp is None:
        return None
    url = urlsplit(camera.source.rtsp)
    if url.hostname is None:
        return None
    try:
        port = url.port
    except ValueError:
        return None
    return url.hostname, port or _DEFAULT_PORTS.get(url.scheme, 554)
