"""Where one camera's recordings are searched and replayed: an NVR's channel, the camera's own Profile
G, or a vendor's playback URL (replayed only: it cannot be searched).

Every SOAP request to a recording device waits its turn in that device's budget
(`recorders[].max_queries_per_minute`, a token bucket shared by all the cameras it records): an NVR
serves its own clients too, and an audit of 200 cameras must not flood it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from xml.etree.ElementTree import Element

from adapters.onvif.client import OnvifClient
from adapters.onvif.recordings import Recording, find_recordings, recorded_spans, replay_uri
from adapters.onvif.soap import OnvifError
from gateway.config import CameraConfig, GatewayConfig, RecorderConfig
from gateway.errors import GatewayError, SecretUnavailableError
from gateway.i18n import _
from gateway.recordings.audit import Interval, merged

ONVIF_TIMEOUT_S = 10.0
# How long one FindRecordings answer serves all the cameras of a device: a recording's token does not
# change, and its oldest and newest instants (retention) may be this much out of date.
INDEX_TTL_S = 600.0


class RecordingsUnavailableError(GatewayError):
    """The recordings could not be searched: the device refused, timed out, or has no such recording."""


class NotVerifiableError(GatewayError):
    """The camera's recordings cannot be searched (only a playback URL is known): not verifiable."""


class TokenBucket:
    """At most ``per_minute`` takes per minute, in a steady trickle after an initial burst of a few."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_minute / 60.0
        self._capacity = float(min(per_minute, 5))
        self._tokens = self._capacity
        self._clock = clock
        self._at = clock()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:  # in order of arrival: no camera starves
            while True:
                now = self._clock()
                self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
                self._at = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self._rate)


Login = Callable[[], tuple[str | None, str | None]]  # (username, password), resolved when needed


def _anonymous() -> tuple[str | None, str | None]:
    return None, None


@dataclass(frozen=True)
class ReplayTarget:
    """Where a replay is read: the RTSP URL (no credentials in it), how to log in, which dialect it
    speaks, and the device whose replay sessions are bounded (``key``, at most ``limit`` at once)."""

    url: str
    username: str | None
    password: str | None = field(repr=False)
    onvif: bool
    key: str
    limit: int


class Recorder:
    """One recording device as its cameras share it: one connection (its service addresses and clock
    offset learnt once, not per search), its query budget, and its list of recordings, which one search
    answers for all of them (for ``ttl_s``; 0: every camera searches it again). ``key`` names it for the
    bound on its replay sessions (``max_replays``)."""

    def __init__(
        self,
        per_minute: int,
        connect: Callable[[], OnvifClient],
        ttl_s: float = INDEX_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        *,
        key: str = "recorder",
        max_replays: int = 4,
        login: Login = _anonymous,
    ) -> None:
        self.bucket = TokenBucket(per_minute, clock)
        self.key = key
        self.max_replays = max_replays
        self.login = login
        self.replay_uris: dict[str, str] = {}  # recording token -> its replay URI: it does not change
        self._connect = connect
        self._ttl_s = ttl_s
        self._clock = clock
        self._client: OnvifClient | None = None
        self._recordings: list[Recording] | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def device(self) -> _Throttled:
        """The device, every request of the audit's taken from its budget."""
        if self._client is None:
            client = self._connect()
            await client.__aenter__()
            self._client = client
        return _Throttled(self._client, self.bucket)

    async def recordings(self, device: _Throttled) -> list[Recording]:
        async with self._lock:  # cameras asking at once wait for one answer
            if self._recordings is None or self._clock() - self._at >= self._ttl_s:
                self._recordings = await find_recordings(device)
                self._at = self._clock()
            return self._recordings

    async def reset(self) -> None:
        """After a failure: the next search connects afresh and asks for the list again."""
        self._recordings = None
        await self.aclose()

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


class _Throttled:
    """An OnvifClient as the Profile G functions use it, each request taken from the device's budget."""

    def __init__(self, client: OnvifClient, bucket: TokenBucket) -> None:
        self._client = client
        self._bucket = bucket
        self.queries = 0

    async def call(self, url: str, action: str, body: str, *, timeout_s: float | None = None) -> Element:
        await self._bucket.take()
        self.queries += 1
        return await self._client.call(url, action, body, timeout_s=timeout_s)

    async def services(self) -> dict[str, str]:
        return await self._client.services()

    def rebase(self, xaddr: str) -> str:
        return self._client.rebase(xaddr)


@dataclass(frozen=True)
class Found:
    """What one search found: the recording, its oldest and newest instants, the recorded spans."""

    token: str
    earliest: float | None
    latest: float | None
    spans: list[Interval]
    queries: int


class RecordingSource(Protocol):
    description: str

    async def search(self, start: float, end: float) -> Found: ...

    async def replay(self, start: float, end: float) -> ReplayTarget:
        """Where to replay [start, end); raises RecordingsUnavailableError."""
        ...


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class ProfileGRecordings:
    """One camera's recording on a Profile G device: an NVR (``channel`` names the recording by its
    token, source id or source name) or the camera itself (``channel`` None: its one recording)."""

    def __init__(self, description: str, recorder: Recorder, channel: str | None) -> None:
        self.description = description
        self.recorder = recorder
        self._channel = channel

    def _pick(self, recordings: list[Recording]) -> Recording:
        if self._channel is None:
            if not recordings:
                raise RecordingsUnavailableError(_("the device has no recordings"))
            # A camera's own storage holds one recording; if it lists more, take the newest.
            return max(recordings, key=lambda r: _ts(r.latest) or 0.0)
        for recording in recordings:
            if self._channel in (recording.token, recording.source_id, recording.source_name):
                return recording
        names = ", ".join(sorted({r.source_name or r.source_id or r.token for r in recordings})[:10])
        raise RecordingsUnavailableError(
            _("no recording named {channel} on the device (it has: {names})").format(
                channel=repr(self._channel), names=names
            )
        )

    async def search(self, start: float, end: float) -> Found:
        try:
            device = await self.recorder.device()
            recording = self._pick(await self.recorder.recordings(device))
            # The tracks found above spare the device a GetRecordingInformation per search.
            tracks = recording.video_tracks or None
            spans = await recorded_spans(device, recording.token, _utc(start), _utc(end), video_tracks=tracks)
        except (OnvifError, SecretUnavailableError) as exc:
            await self.recorder.reset()
            raise RecordingsUnavailableError(
                _("{description}: {exc}").format(description=self.description, exc=exc)
            ) from None
        return Found(
            recording.token,
            _ts(recording.earliest),
            _ts(recording.latest),
            merged((s.start.timestamp(), s.end.timestamp()) for s in spans),
            device.queries,
        )

    async def replay(self, start: float, end: float) -> ReplayTarget:
        recorder = self.recorder
        try:
            device = await recorder.device()
            token = self._pick(await recorder.recordings(device)).token
            if token not in recorder.replay_uris:
                recorder.replay_uris[token] = await replay_uri(device, token)
            username, password = recorder.login()
        except (OnvifError, SecretUnavailableError) as exc:
            await recorder.reset()
            raise RecordingsUnavailableError(
                _("{description}: {exc}").format(description=self.description, exc=exc)
            ) from None
        return ReplayTarget(recorder.replay_uris[token], username, password, True, recorder.key, recorder.max_replays)


class PlaybackOnly:
    """A camera whose recordings are known only by a vendor's playback URL: they cannot be searched, only
    replayed, the span named in the URL (``template`` with {start} and {end}, given as UTC times)."""

    def __init__(
        self, description: str, template: str = "", login: Login = _anonymous, *, key: str = "", limit: int = 4
    ) -> None:
        self.description = description
        self._template = template
        self._login = login
        self._key = key or description
        self._limit = limit

    async def search(self, start: float, end: float) -> Found:
        raise NotVerifiableError(
            _("{description}: a playback URL cannot be searched; recordings not verifiable").format(
                description=self.description
            )
        )

    async def replay(self, start: float, end: float) -> ReplayTarget:
        url = self._template.format(start=_utc(start), end=_utc(end))
        try:
            username, password = self._login()
        except SecretUnavailableError as exc:
            raise RecordingsUnavailableError(
                _("{description}: {exc}").format(description=self.description, exc=exc)
            ) from None
        return ReplayTarget(url, username, password, False, self._key, self._limit)


def recording_sources(config: GatewayConfig) -> dict[str, RecordingSource]:
    """The recording source of every enabled camera that says where its recordings live."""
    recorders = {r.id: r for r in config.recorders}
    shared = {
        r.id: Recorder(
            r.max_queries_per_minute,
            _recorder_client(r),
            key=f"recorder {r.id}",
            max_replays=r.max_replay_sessions,
            login=_recorder_login(r),
        )
        for r in config.recorders
    }
    default_limit = RecorderConfig.model_fields["max_replay_sessions"].default
    out: dict[str, RecordingSource] = {}
    for camera in config.cameras:
        rec = camera.recordings
        if rec is None or not camera.enabled:
            continue
        if rec.recorder is not None:
            recorder = recorders[rec.recorder]
            out[camera.id] = ProfileGRecordings(
                f"recorder {recorder.id}, channel {rec.channel}", shared[recorder.id], rec.channel
            )
        elif rec.onvif:
            # The camera's own storage: a budget of its own (the default of a recorder's).
            own = Recorder(
                RecorderConfig.model_fields["max_queries_per_minute"].default,
                _camera_client(camera),
                key=f"camera {camera.id}",
                max_replays=default_limit,
                login=_camera_login(camera),
            )
            out[camera.id] = ProfileGRecordings("the camera's own Profile G", own, None)
        else:
            assert rec.playback_url is not None  # the config allows exactly one of the three
            out[camera.id] = PlaybackOnly(
                "a playback URL",
                rec.playback_url,
                _camera_login(camera),
                key=f"camera {camera.id}",
                limit=default_limit,
            )
    return out


def _recorder_login(recorder: RecorderConfig) -> Login:
    def login() -> tuple[str | None, str | None]:
        creds = recorder.credentials
        if creds is None:
            return None, None
        return creds.username, creds.password.resolve() if creds.password is not None else None

    return login


def _camera_login(camera: CameraConfig) -> Login:
    def login() -> tuple[str | None, str | None]:
        creds = camera.credentials
        if creds is None:
            return None, None
        return creds.username, creds.password.resolve() if creds.password is not None else None

    return login


def _recorder_client(recorder: RecorderConfig) -> Callable[[], OnvifClient]:
    login = _recorder_login(recorder)

    def connect() -> OnvifClient:
        username, password = login()
        return OnvifClient(recorder.onvif.host, recorder.onvif.port, username, password, timeout_s=ONVIF_TIMEOUT_S)

    return connect


def _camera_client(camera: CameraConfig) -> Callable[[], OnvifClient]:
    onvif = camera.source.onvif
    assert onvif is not None  # the config's cross check requires it
    login = _camera_login(camera)

    def connect() -> OnvifClient:
        username, password = login()
        return OnvifClient(onvif.host, onvif.port, username, password, timeout_s=ONVIF_TIMEOUT_S)

    return connect
