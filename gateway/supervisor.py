"""One supervisor task per camera: run its source, report state, back off and restart on failure.

The blocking PyAV session runs in a daemon thread of its own (not the default executor) so that
shutting the gateway down never waits on a socket stuck in a read.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from adapters.common.media import Packet, StreamInfo
from adapters.rtsp import Reason, RtspSource, SourceError
from gateway.config import CameraConfig, SupervisorConfig
from gateway.errors import SecretUnavailableError
from gateway.health.meter import StreamMeter
from gateway.health.state import CameraState, HealthTracker, MeasuredStream

log = logging.getLogger(__name__)

# How often the reader thread hands measured figures to the event loop: often enough for a live
# dashboard, rare enough that 200 cameras cost a few hundred callbacks a second at most.
_PUBLISH_INTERVAL_S = 1.0


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
        ceiling: float = min(self._max, self._initial * 2.0**self._attempt)
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


class CameraSupervisor:
    def __init__(
        self,
        camera: CameraConfig,
        settings: SupervisorConfig,
        tracker: HealthTracker,
        source_factory: SourceFactory = rtsp_source_factory,
        on_packet: Callable[[Packet], None] | None = None,
    ) -> None:
        self.camera = camera
        self._settings = settings
        self._tracker = tracker
        self._source_factory = source_factory
        self._on_packet = on_packet
        self._stop = threading.Event()
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> None:
        cid = self.camera.id
        self._loop = asyncio.get_running_loop()
        try:
            while not self._stop.is_set():
                # Retrying an offline camera keeps it offline: only the first attempt after start shows
                # "connecting", so a dead camera writes one state change, not one per retry.
                if self._tracker.get(cid).state is not CameraState.OFFLINE:
                    self._tracker.set_state(cid, CameraState.CONNECTING)
                started = time.monotonic()
                try:
                    await _run_in_daemon_thread(self._session, name=f"camera-{cid}")
                    reason = Reason.ENDED.value
                except SourceError as exc:
                    reason = exc.reason.value
                    log.debug("camera %s: %s", cid, exc)
                except SecretUnavailableError as exc:
                    reason = f"credentials unavailable: {exc}"
                if self._stop.is_set():
                    break
                self._tracker.set_state(cid, CameraState.OFFLINE, reason)
                self._tracker.count_reconnect(cid)
                # A session that stayed up for a while was a real recovery: start backing off afresh.
                if time.monotonic() - started > self._settings.backoff_max_s:
                    self._backoff.reset()
                await asyncio.sleep(self._backoff.next_delay())
        finally:
            self._stop.set()

    def stop(self) -> None:
        self._stop.set()

    def _session(self) -> None:
        """Runs in the camera's thread: open, read until failure or stop."""
        assert self._loop is not None
        loop_call = self._loop.call_soon_threadsafe
        source = self._source_factory(self.camera, self._settings)
        try:
            info = source.open()
            meter = StreamMeter(info)
            cid = self.camera.id
            online = False
            next_publish = 0.0
            for packet in source.packets():
                if self._stop.is_set():
                    return
                meter.add(packet)
                if self._on_packet is not None:
                    self._on_packet(packet)
                if not online:
                    online = True
                    loop_call(self._tracker.set_state, cid, CameraState.ONLINE, None)
                    self._backoff.reset()
                if packet.arrival >= next_publish:
                    next_publish = packet.arrival + _PUBLISH_INTERVAL_S
                    loop_call(self._publish, meter.snapshot(), time.time())
        finally:
            source.close()

    def _publish(self, measured: MeasuredStream, at: float) -> None:
        if self._tracker.get(self.camera.id).state is not CameraState.OFFLINE:
            self._tracker.update_measured(self.camera.id, measured, at)
