"""Replays of recordings: one RTSP replay per viewer (a GB/T 28181 Playback or Download, a page's
replay), bounded per recording device.

A replay is a stream like a camera's, but never shared: each viewer has its own position and speed. So
replays are not feeds of the stream hub; this service is their one owner instead. It checks the span
first where the recordings can be searched (a range with nothing recorded is refused, not replayed
from the next recording the device finds), finds where to replay (the device's replay URI, or the
vendor's playback URL), counts the sessions of each device against its `max_replay_sessions`, and opens
the RTSP session.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from adapters.common.media import StreamInfo
from adapters.rtsp.replay import ReplayError, ReplayFrame, RtspReplay
from gateway.errors import GatewayError
from gateway.i18n import _
from gateway.recordings.audit import Interval
from gateway.recordings.sources import RecordingSource

log = logging.getLogger(__name__)


class NoRecordingError(GatewayError):
    """Nothing is recorded in the span asked for, or the camera's recordings are not configured."""


class ReplayBusyError(GatewayError):
    """The recording device already serves as many replays as it may."""


class ReplayFailedError(GatewayError):
    """The recording device refused the replay, or did not answer."""


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


Connect = Callable[[float], Awaitable[RtspReplay]]  # an opened RTSP replay of [at, end)


@dataclass
class Replay:
    """One open replay of [start, end) of a camera's recordings. Nothing is sent before `play`.

    An ONVIF replay seeks within its RTSP session (PLAY with a clock range). A vendor's playback URL
    names its span, and what its npt ranges mean differs by vendor, so a seek there opens the URL of the
    new span (`_connect`) and swaps it in; `frames()` follows the swap."""

    camera_id: str
    start: float
    end: float
    stream: RtspReplay
    info: StreamInfo
    key: str
    _connect: Connect = field(repr=False)
    _release: Replays = field(repr=False)
    _closed: bool = False

    async def play(self, *, at: float | None = None, scale: float | None = None, fast: bool = False) -> float:
        """Play from the recorded instant `at` (None: from where it paused, or from the start the first
        time), at `scale`; `fast` asks the device to send as fast as it can (a download). Returns the
        speed the device answered."""
        at = None if at is None else min(max(at, self.start), self.end)
        stream = self.stream
        if stream.onvif:
            end = self.end if at is not None else None
            return await stream.play(start=at, end=end, scale=scale, rate_control=not fast)
        if at is not None and at > self.start:
            fresh = await self._connect(at)
            try:
                answered = await fresh.play(scale=scale)
            except BaseException:
                await fresh.aclose()
                raise
            old, self.stream = self.stream, fresh
            await old.aclose()
            return answered
        return await stream.play(offset_s=0.0 if at is not None else None, scale=scale)

    async def pause(self) -> None:
        await self.stream.pause()

    async def frames(self) -> AsyncIterator[ReplayFrame]:
        while True:
            stream = self.stream
            async for frame in stream.frames():
                if self.stream is not stream:
                    break  # a seek swapped the session in: what is left of the old one is stale
                yield frame
            if self.stream is stream:
                return

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self.stream.aclose()
        finally:
            self._release.release(self.key)


class Catalog(Protocol):
    """Where each camera's recordings live and what they hold (the recording audit)."""

    def source_of(self, camera_id: str) -> RecordingSource | None: ...

    def verifiable(self, camera_id: str) -> bool: ...

    async def spans(self, camera_id: str, start: float, end: float) -> list[Interval] | None: ...


class Replays:
    def __init__(self, audit: Catalog, *, timeout_s: float = 10.0) -> None:
        self._audit = audit
        self._timeout_s = timeout_s
        self._in_use: Counter[str] = Counter()

    def configured(self, camera_id: str) -> bool:
        return self._audit.source_of(camera_id) is not None

    async def open(self, camera_id: str, start: float, end: float) -> Replay:
        """Open a replay of [start, end). Raises NoRecordingError (nothing there: a 404), ReplayBusyError
        (the device's bound: a 486), ReplayFailedError (the device refused or timed out: a 503)."""
        if not end > start:
            raise NoRecordingError(_("the span ends before it starts"))
        source = self._audit.source_of(camera_id)
        if source is None:
            raise NoRecordingError(
                _("camera {camera_id}: where its recordings live is not configured").format(camera_id=repr(camera_id))
            )
        if self._audit.verifiable(camera_id):
            try:
                spans = await self._audit.spans(camera_id, start, end)
            except GatewayError as exc:
                raise ReplayFailedError(str(exc)) from None
            if not spans:
                raise NoRecordingError(
                    _("camera {camera_id}: nothing recorded from {start} to {end}").format(
                        camera_id=repr(camera_id), start=_when(start), end=_when(end)
                    )
                )
        try:
            target = await source.replay(start, end)
        except GatewayError as exc:
            raise ReplayFailedError(str(exc)) from None
        if self._in_use[target.key] >= target.limit:
            raise ReplayBusyError(
                _("{key} already serves {limit} replays (max_replay_sessions)").format(
                    key=target.key, limit=target.limit
                )
            )

        async def connect(at: float) -> RtspReplay:
            # The first span's target is the one found above; a vendor URL's seek formats the URL again.
            try:
                where = target if at == start else await source.replay(at, end)
            except GatewayError as exc:
                raise ReplayFailedError(str(exc)) from None
            stream = RtspReplay(
                where.url,
                source_id=camera_id,
                username=where.username,
                password=where.password,
                onvif=where.onvif,
                timeout_s=self._timeout_s,
            )
            try:
                await stream.open()
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    await stream.aclose()
                if isinstance(exc, ReplayError):
                    if exc.status in (404, 457):
                        raise NoRecordingError(
                            _("camera {camera_id}: {exc}").format(camera_id=repr(camera_id), exc=exc)
                        ) from None
                    raise ReplayFailedError(
                        _("camera {camera_id}: {description}: {exc}").format(
                            camera_id=repr(camera_id), description=source.description, exc=exc
                        )
                    ) from None
                raise
            return stream

        self._in_use[target.key] += 1
        try:
            stream = await connect(start)
        except BaseException:
            self.release(target.key)
            raise
        assert stream.info is not None  # set by open()
        log.info("replay of %s opened (%s to %s, %s)", camera_id, _when(start), _when(end), target.key)
        return Replay(camera_id, start, end, stream, stream.info, target.key, connect, self)

    def release(self, key: str) -> None:
        self._in_use[key] -= 1
        if self._in_use[key] <= 0:
            del self._in_use[key]

    def in_use(self) -> dict[str, int]:
        """Replay sessions open now, per recording device."""
        return dict(self._in_use)
