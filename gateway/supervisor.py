"""One supervisor task per camera: start its sessions, judge its state, back off and retry.

The reading itself (blocking PyAV, in a thread or a worker process) belongs to a Reader, which
hands the supervisor one measured snapshot a second and tells it how each session ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from urllib.parse import urlsplit

from adapters.rtsp import Reason, SourceError
from adapters.rtsp.ping import rtsp_ping
from gateway.config import CameraConfig, SupervisorConfig
from gateway.errors import SecretUnavailableError
from gateway.health.policy import HealthPolicy
from gateway.health.state import CameraState, CameraStatus, HealthTracker, MeasuredStream
from gateway.health.stats import GAP_S
from gateway.pipeline.readers import Reader
from gateway.quality.evidence import with_camera_tamper
from gateway.quality.references import QualityReferences
from gateway.quality.sampler import SamplerSetup

log = logging.getLogger(__name__)

# Failures where the camera's server itself may be gone or hung: watching it brings it back fastest.
_PING_REASONS = frozenset(
    {Reason.REFUSED, Reason.UNREACHABLE, Reason.ENDED, Reason.STALLED, Reason.TIMEOUT, Reason.PROTOCOL}
)
_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322}
# How often the supervisor judges its camera again between snapshots: a reader sends one only when
# a packet arrives, so a trickle of packets would otherwise be judged only as often as it trickles.
REJUDGE_INTERVAL_S = 0.5
# A session that lives this many stall timeouts without a frame gets no video in real time (see
# _rejudge). Twice: the reader's own stall timeout, for a stream that goes silent, always comes first
# (snapshots come at most once a second, so the last packet may be up to 1 s newer than the last one).
FRAME_SILENCE_STALLS = 2.0


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


Resolver = Callable[[CameraConfig], Awaitable[CameraConfig]]


async def _as_is(camera: CameraConfig) -> CameraConfig:
    return camera


class CameraSupervisor:
    """Decides when to read a camera and what its state is; a Reader does the reading."""

    def __init__(
        self,
        camera: CameraConfig,
        settings: SupervisorConfig,
        policy: HealthPolicy,
        tracker: HealthTracker,
        reader: Reader,
        resolve: Resolver | None = None,
        references: QualityReferences | None = None,
        tamper: Callable[[str], bool | None] | None = None,
    ) -> None:
        self.camera = camera
        self._references = references
        self._tamper = tamper  # the camera's own word on tampering (ONVIF events), if it says any
        self._settings = settings
        self._policy = policy
        self._tracker = tracker
        self._reader = reader
        self._resolve = resolve or _as_is
        self._stop = threading.Event()
        self._stop_async: asyncio.Event | None = None
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session = 0
        self._endpoint = _endpoint(camera)
        # Set when the camera's server stopped answering RTSP at all; it survives failed attempts, so
        # that its first answer afterwards triggers a retry at once.
        self._server_silent = False
        # The last snapshot of the current session and when it came (monotonic), for re-judging.
        self._last_snapshot: tuple[int, MeasuredStream, float] | None = None

    async def run(self) -> None:
        cid = self.camera.id
        self._loop = asyncio.get_running_loop()
        self._stop_async = asyncio.Event()
        rejudge = asyncio.create_task(self._rejudge_loop())
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
                    # ONVIF cameras get their stream URL (again) before every session.
                    camera = await self._resolve(self.camera)
                    self._endpoint = _endpoint(camera)
                    await self._reader.run_session(camera, session, self._on_snapshot, self._quality_setup())
                    reason = Reason.ENDED
                    text = reason.value
                except SourceError as exc:
                    reason = exc.reason
                    text = reason.value
                    log.debug("camera %s: %s", cid, exc)
                except SecretUnavailableError as exc:
                    text = f"credentials unavailable: {exc}"
                except Exception:
                    # A bug in reading one camera must not end its supervision: report, back off, retry.
                    log.exception("camera %s: reader failed", cid)
                    text = "internal error"
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
            rejudge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rejudge

    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        self._reader.stop_session(self.camera.id)
        if self._stop_async is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop_async.set)

    async def _pause(self, reason: Reason | None) -> None:
        delay = self._backoff.next_delay()
        if reason is Reason.AUTH_FAILED:
            delay = max(delay, self._settings.auth_retry_s)
        assert self._stop_async is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        if reason in _PING_REASONS and self._endpoint is not None:
            # Retry the moment a server that stopped answering answers again, instead of sleeping out
            # the backoff. A server that answered all along (only the stream failed) gets the backoff.
            host, port, tls = self._endpoint
            interval = self._settings.probe_interval_s
            while (remaining := deadline - loop.time()) > 0 and not self._stop.is_set():
                probe_started = loop.time()
                answers = await rtsp_ping(host, port, within_s=min(interval, remaining), tls=tls)
                if answers and self._server_silent:
                    self._server_silent = False
                    return
                self._server_silent = self._server_silent or not answers
                await self._sleep(min(interval - (loop.time() - probe_started), deadline - loop.time()))
            return
        await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        assert self._stop_async is not None
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_async.wait(), seconds)

    def _on_snapshot(self, session: int, measured: MeasuredStream, at: float) -> None:
        if session != self._session or self._stop.is_set():
            return  # a late snapshot from a session that has already ended
        cid = self.camera.id
        current = self._tracker.get(cid)
        if measured.new_reference is not None:
            if self._references is not None:
                self._references.save(cid, measured.new_reference, at)
            measured = replace(measured, new_reference=None)
        if measured.quality and self._tamper is not None:
            measured = replace(measured, quality=with_camera_tamper(measured.quality, self._tamper(cid)))
        if current.state not in (CameraState.ONLINE, CameraState.DEGRADED):
            self._backoff.reset()
            self._server_silent = False
        self._judge(current, measured, at)
        self._last_snapshot = (session, measured, time.monotonic())

    def _judge(self, current: CameraStatus, measured: MeasuredStream, at: float) -> None:
        """Judge the figures against the policy and record the verdict and the figures."""
        previous = current.reason if current.state is CameraState.DEGRADED else None
        verdict = self._policy.judge(self.camera, measured, previous)
        state = CameraState.DEGRADED if verdict.reason else CameraState.ONLINE
        self._tracker.set_state(self.camera.id, state, verdict.reason, verdict.faults)
        self._tracker.update_measured(self.camera.id, measured, at)

    async def _rejudge_loop(self) -> None:
        while not self._stop.is_set():
            await self._sleep(REJUDGE_INTERVAL_S)
            self._rejudge()

    def _rejudge(self) -> None:
        """Judge again with the delivery ratio the last snapshot reads after GAP_S without packets.

        Snapshots come with packets (one a second at most): between them, the silence since the last
        packet counts as arrival time too, so a trickle too sparse to send snapshots still reads slow.
        """
        last = self._last_snapshot
        if last is None or self._stop.is_set():
            return
        session, measured, received = last
        silence = time.monotonic() - received
        if session != self._session or silence < GAP_S:
            return
        current = self._tracker.get(self.camera.id)
        if current.state not in (CameraState.ONLINE, CameraState.DEGRADED) or current.last_packet_at is None:
            return
        ratio = measured.realtime_ratio_idle
        if silence > FRAME_SILENCE_STALLS * self._settings.stall_timeout_s:
            # No frame for longer than the stall timeout, and yet the session lives: the socket still
            # gets bytes, so the reader's timeout never fires (a keyframe crawling over a link far too
            # thin for the stream takes 10-30 s). The ratio caps each silence at GAP_S, leaving that
            # case to the stall timeout; here it is no video in real time, read as none at all.
            ratio = 0.0
        if ratio is None:
            return
        # Shown with the ratio judged with, not the last snapshot's.
        self._judge(current, replace(measured, realtime_ratio=ratio), current.last_packet_at)

    def _quality_setup(self) -> SamplerSetup:
        reference = self._references.get(self.camera.id) if self._references is not None else None
        return SamplerSetup(
            self._settings.quality_interval_s, self._policy.quality_thresholds, reference, self._policy.day_night
        )


def _endpoint(camera: CameraConfig) -> tuple[str, int, bool] | None:
    if camera.source.rtsp is None:
        return None
    url = urlsplit(camera.source.rtsp)
    if url.hostname is None:
        return None
    try:
        port = url.port
    except ValueError:
        return None
    return url.hostname, port or _DEFAULT_PORTS.get(url.scheme, 554), url.scheme == "rtsps"
