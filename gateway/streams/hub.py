"""The one owner of camera streams in this process: consumers acquire a feed per camera and stream.

A feed of a camera's main stream read by this process's health reader is that reader's bus (nothing is
opened). The main stream of a camera read by a worker process is *tapped*: the worker sends that
camera's packets over its pipe onto the camera's bus for as long as the feed has a consumer, so the
camera still has one RTSP session. Any other feed (a sub stream, or a camera nobody here reads) is a
pull of the hub's own: it opens with the first consumer and closes after the last, whoever they are
(live view, snapshots, analytics, GB/T 28181), so a sub stream watched and analysed at once is one
RTSP session.
ONVIF cameras are resolved to their RTSP URIs (``onvif.profile`` and ``onvif.sub_profile``) here, by
the inventory, before anything is opened.

A camera's sound travels on the same buses, to the consumers that ask for it only: they acquire with
``audio=True`` and subscribe with ``audio=True`` (the GB/T 28181 sessions). A tapped camera's worker
sends its sound over the pipe only while such a consumer holds the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from adapters.common.media import StreamInfo
from adapters.rtsp import SourceError
from gateway.config import CameraConfig, SupervisorConfig
from gateway.errors import GatewayError
from gateway.i18n import _
from gateway.pipeline.bus import BlockingSubscription, PacketBus, Subscription
from gateway.pipeline.readers import join_threads, run_in_daemon_thread
from gateway.streams.sources import Source, StreamName, camera_source

log = logging.getLogger(__name__)

# (camera, stream) -> the camera with rtsp:// URLs for that stream (ONVIF resolved by the inventory).
Resolver = Callable[[CameraConfig, StreamName], Awaitable[CameraConfig]]
SourceOpener = Callable[[CameraConfig, SupervisorConfig, StreamName], Source]


class PacketTap(Protocol):
    """A reader in another process that can send a camera's packets here (gateway.pipeline.workers)."""

    def reads(self, camera_id: str) -> bool: ...

    def tap(self, camera_id: str, ready: Callable[[], None]) -> None: ...

    def untap(self, camera_id: str) -> None: ...

    def tap_audio(self, camera_id: str, wanted: bool) -> None:
        """Whether the tapped camera's sound crosses too (only while a consumer wants it)."""
        ...


class StreamUnavailableError(GatewayError):
    """The stream could not be opened (or not in time); the message says why, without secrets."""


async def _as_is(camera: CameraConfig, stream: StreamName) -> CameraConfig:
    return camera


@dataclass
class Feed:
    """One camera stream's packets for this process: a health reader's bus, or a pull of the hub's own."""

    key: str  # camera id, or "<camera id>#sub"
    camera_id: str
    stream: StreamName
    bus: PacketBus
    owned: bool  # True: the hub's own pull, stopped when the last user leaves
    tapped: bool = False  # a worker process's camera, its packets sent here while the feed is in use
    users: int = 0
    audio_users: int = 0  # users that take the camera's sound
    stop: threading.Event = field(default_factory=threading.Event)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None
    done: asyncio.Future[None] | None = None
    sessions: int = 0  # sources this feed opened (1 for a pull; 0 for a reader's bus)
    ended: bool = False  # a pull that closed or failed: its bus gets nothing more

    def subscribe(self, name: str, maxlen: int, *, audio: bool = False, gop: bool = False) -> Subscription:
        """The feed's packets for an asyncio consumer. Subscribe here, not on the bus: a subscription made
        just after the feed ended comes back closed (EOF), rather than waiting for packets forever.
        With ``audio`` the camera's sound comes too (acquire the feed with ``audio=True`` as well); with
        ``gop`` it starts with the bus's cached group of pictures, when the bus keeps one."""
        sub = self.bus.subscribe(name, maxlen, audio=audio, gop=gop)
        if self.ended:
            sub.close()
        return sub

    def subscribe_blocking(self, name: str, maxlen: int) -> BlockingSubscription:
        """As :meth:`subscribe`, for a consumer thread."""
        sub = self.bus.subscribe_blocking(name, maxlen)
        if self.ended:
            sub.close()
        return sub


class StreamHub:
    def __init__(
        self,
        settings: SupervisorConfig,
        buses: Mapping[str, PacketBus],
        is_local: Callable[[str], bool],
        resolve: Resolver = _as_is,
        open_source: SourceOpener = camera_source,
    ) -> None:
        self._settings = settings
        self._buses = buses
        self._is_local = is_local
        self._resolve = resolve
        self._open_source = open_source
        self._feeds: dict[str, Feed] = {}
        self._threads: set[threading.Thread] = set()
        self._ended: list[Callable[[Feed], None]] = []
        self._tap: PacketTap | None = None
        self.opened_sessions = 0  # every source the hub opened since start (for tests and /metrics)

    def attach_tap(self, tap: PacketTap) -> None:
        """The worker processes' reader, once it exists: their cameras are tapped, not opened again."""
        self._tap = tap

    def on_feed_ended(self, fn: Callable[[Feed], None]) -> None:
        """Call ``fn(feed)`` on the event loop when a pulled feed ends (the camera closed or failed)."""
        self._ended.append(fn)

    def feeds(self) -> list[Feed]:
        return list(self._feeds.values())

    async def acquire(
        self, camera: CameraConfig, stream: StreamName = "main", *, audio: bool = False
    ) -> tuple[Feed, StreamInfo]:
        """A feed of the camera's stream, opened if needed, and what its source announced. Every acquire
        is matched by one :meth:`release` with the same ``audio``. Raises StreamUnavailableError when it
        cannot open in time. With ``audio`` a tapped camera's sound crosses from its worker too."""
        key = f"{camera.id}#sub" if stream == "sub" else camera.id
        feed = self._feeds.get(key)
        if feed is None:
            main = stream == "main" and camera.id in self._buses
            local = main and self._is_local(camera.id)
            tapped = main and not local and self._tap is not None and self._tap.reads(camera.id)
            bus = self._buses[camera.id] if local or tapped else PacketBus(key)
            feed = self._feeds[key] = Feed(key, camera.id, stream, bus, owned=not (local or tapped), tapped=tapped)
            if feed.owned:
                self._start_pull(camera, feed)
            elif self._tap is not None and tapped:
                self._tap.tap(camera.id, feed.opened.set)
            else:
                feed.opened.set()
        feed.users += 1
        if audio:
            feed.audio_users += 1
            if feed.audio_users == 1 and feed.tapped and self._tap is not None:
                self._tap.tap_audio(camera.id, True)
        try:
            if feed.owned or feed.tapped:
                # Resolving an ONVIF camera costs a round trip before the connection itself. A worker
                # answers a tap at once while its session runs; a reconnecting camera gets as long
                # as a connection takes.
                wait = 2 * self._settings.connect_timeout_s + 1 if feed.owned else self._settings.connect_timeout_s + 1
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await feed.opened.wait()
            info = feed.bus.info
            if feed.error is not None or info is None:
                raise StreamUnavailableError(
                    _("camera {camera}: {problem}").format(
                        camera=repr(camera.id), problem=feed.error or _("the stream did not open in time")
                    )
                )
        except BaseException:
            self.release(feed, audio=audio)
            raise
        return feed, info

    def release(self, feed: Feed, *, audio: bool = False) -> None:
        feed.users -= 1
        if audio:
            feed.audio_users -= 1
            if feed.audio_users == 0 and feed.users > 0 and feed.tapped and self._tap is not None:
                self._tap.tap_audio(feed.camera_id, False)
        if feed.users <= 0:
            feed.stop.set()
            if self._feeds.get(feed.key) is feed:
                del self._feeds[feed.key]
            if feed.tapped and self._tap is not None:
                self._tap.untap(feed.camera_id)
                # What crossed from the worker grows old here; the next tap sends its group afresh.
                feed.bus.forget_gop()

    def _start_pull(self, camera: CameraConfig, feed: Feed) -> None:
        loop = asyncio.get_running_loop()
        resolving = asyncio.ensure_future(self._resolve(camera, feed.stream))

        def pull(resolved: CameraConfig) -> None:
            source: Source | None = None
            try:
                source = self._open_source(resolved, self._settings, feed.stream)
                feed.sessions += 1
                loop.call_soon_threadsafe(self._count_session)
                feed.bus.info = source.open()
                loop.call_soon_threadsafe(feed.opened.set)
                for packet in source.packets():
                    if feed.stop.is_set():
                        return
                    feed.bus.publish(packet)
            except (SourceError, GatewayError) as exc:
                feed.error = str(exc)
            except Exception as exc:  # a reader bug ends this feed, said in the log and to its consumers
                log.exception("stream hub: the pull of %s failed", feed.key)
                feed.error = f"internal error {type(exc).__name__}"
            finally:
                if source is not None:
                    source.close()
                loop.call_soon_threadsafe(self._feed_ended, feed)

        def resolved(task: asyncio.Future[CameraConfig]) -> None:
            exc = task.exception()
            if exc is not None:
                if isinstance(exc, (SourceError, GatewayError)):
                    feed.error = str(exc)
                else:
                    log.error("stream hub: resolving %s failed", feed.key, exc_info=exc)
                    feed.error = f"internal error {type(exc).__name__}"
                self._feed_ended(feed)
                return
            if feed.stop.is_set():
                self._feed_ended(feed)
                return
            feed.done = run_in_daemon_thread(
                lambda: pull(task.result()), name=f"stream-{feed.key}", track=self._threads
            )
            feed.done.add_done_callback(lambda f: f.exception())  # pull() logs or records what it raises

        resolving.add_done_callback(resolved)

    def _count_session(self) -> None:
        self.opened_sessions += 1

    def _feed_ended(self, feed: Feed) -> None:
        # First the flag, then the subscribers: one that subscribes in between sees the flag (Feed.subscribe).
        feed.ended = True
        feed.opened.set()
        if self._feeds.get(feed.key) is feed:
            del self._feeds[feed.key]
        for fn in self._ended:
            try:
                fn(feed)
            except Exception:  # one consumer's hook must not keep the others from hearing it
                log.exception("stream hub: a feed-ended hook failed for %s", feed.key)
        for sub in feed.bus.subscribers:
            sub.close()

    async def close(self) -> list[str]:
        """Stop every pull; the names of threads still running after the wait."""
        for feed in self._feeds.values():
            feed.stop.set()
            if feed.tapped and self._tap is not None:
                self._tap.untap(feed.camera_id)
        return await join_threads(self._threads, 5.0)
