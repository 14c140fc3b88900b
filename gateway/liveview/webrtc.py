"""WebRTC live view and snapshots for viewers (police, operators): one camera feed shared by all.

Viewers and snapshots take the camera's stream from the StreamHub (gateway/streams/hub.py), which
owns every camera source: a camera read by a thread of this process gives its reader's bus; any
other stream (a sub stream, a camera read by a worker process) is opened by the hub for its first
consumer and closed after its last, shared with analytics. H.264 goes out untouched (passthrough).
For H.265 an H.264 sub stream is used when configured; otherwise the picture is decoded and aiortc
re-encodes it ("transcoded").

A recording is viewed the same way (`replay`): the span is replayed from the device that keeps it
(`gateway.recordings.replay`), one replay per viewer, and sent as it comes (the device paces it). It
does not need the camera online, and it ends with the span. Views and replays are in the audit log.

Each live viewer's connection, track and bus subscription live on a sender thread of its camera
(`gateway.liveview.senders`), never on the event loop: packing and sending a keyframe to ten viewers
must not hold up the API, the supervisors and other cameras, nor they the video. This module keeps
the sessions' bookkeeping (limits, timers, audit) on the event loop and hands the sender thread
what to do with its objects. A replay's viewer stays on the event loop: its frames come from the
replay's RTSP client there, one viewer each, paced by the recorder.

A session ends on DELETE, when ICE or DTLS fails or closes, when ICE has not connected within
`connect_timeout_s`, when the camera goes offline or its feed ends (live), when the span ends (replay),
when its sender thread dies, and at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from adapters.common.media import Packet, StreamInfo
from adapters.rtsp.replay import ReplayError
from adapters.webrtc import DecodedVideoTrack, H264PassthroughTrack, OfferError, answer_offer, check_offer
from adapters.webrtc.picture import PictureError, keyframe_to_jpeg
from gateway.config import CameraConfig, GatewayConfig
from gateway.errors import ConflictError, GatewayError, InvalidRequestError, NotFoundError
from gateway.health.state import CameraStatus, StateOf, is_up
from gateway.i18n import _
from gateway.liveview.senders import SenderGoneError, SenderPool, SenderThread
from gateway.pipeline.bus import Subscription
from gateway.recordings.replay import NoRecordingError, Replay, ReplayBusyError, ReplayFailedError, Replays
from gateway.streams.hub import Feed, StreamHub, StreamUnavailableError
from gateway.tasks import Watchdog

log = logging.getLogger(__name__)

# About 4 s of 25 fps per viewer: a short loop stall loses nothing, a stuck viewer costs bounded memory.
VIEWER_QUEUE: Final = 100
SNAPSHOT_WAIT_S: Final = 5.0
SNAPSHOT_CACHE_S: Final = 2.0
JPEG_QUALITY: Final = 80

Mode = Literal["passthrough", "transcoded"]
Kind = Literal["live", "replay"]
# The longest span one replay view may ask for: a page views recordings, downloads go elsewhere.
MAX_REPLAY_S: Final = 24 * 3600
# How the sender threads' deaths are listed with the gateway's parts (GET /api/v1/gateway/parts).
SENDERS_PART: Final = "live-view-senders"
AuditHook = Callable[[str, str, str, dict[str, Any], str | None], None]
T = TypeVar("T")


class TooManyViewersError(GatewayError):
    http_status = 429


class CameraUnavailableError(GatewayError):
    """The camera is offline, disabled, or sent no picture in time."""

    http_status = 503


@dataclass
class Viewer:
    id: str
    camera_id: str
    viewer: str
    source_ip: str | None
    mode: Mode
    codec: str
    pc: RTCPeerConnection
    track: MediaStreamTrack
    feed: Feed | None = None  # live
    subscription: Subscription | None = None
    replay: Replay | None = None  # replay
    sender: SenderThread | None = None  # whose loop drives pc, track and subscription; None: the event loop
    position: float | None = None  # the recorded instant of the last frame sent (replay)
    created_at: float = field(default_factory=time.time)
    connected_at: float | None = None
    state: str = "connecting"
    timer: asyncio.TimerHandle | None = None

    @property
    def kind(self) -> Kind:
        return "live" if self.replay is None else "replay"

    def status(self) -> dict[str, Any]:
        replay = self.replay
        return {
            "session_id": self.id,
            "camera_id": self.camera_id,
            "viewer": self.viewer,
            "source_ip": self.source_ip,
            "mode": self.mode,
            "codec": self.codec,
            "state": self.state,
            "created_at": self.created_at,
            "connected_at": self.connected_at,
            "frames_sent": getattr(self.track, "frames_sent", 0),
            "frames_dropped": self.subscription.dropped if self.subscription is not None else 0,
            "kind": self.kind,
            "sender": self.sender.name if self.sender is not None else None,
            **({"start": replay.start, "end": replay.end, "position": self.position} if replay is not None else {}),
        }


class LiveViewService:
    def __init__(
        self,
        config: GatewayConfig,
        hub: StreamHub,
        state_of: StateOf,
        on_audit: AuditHook | None = None,
        replays: Replays | None = None,
        watchdog: Watchdog | None = None,
    ) -> None:
        self._config = config
        self._watchdog = watchdog
        self._replays = replays
        self._settings = config.live_view
        self._hub = hub
        hub.on_feed_ended(self._feed_ended)
        self._state_of = state_of
        self.on_audit = on_audit
        self._viewers: dict[str, Viewer] = {}
        self._snapshots: dict[str, tuple[float, bytes]] = {}
        self._snapshot_locks: dict[str, asyncio.Lock] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._senders = SenderPool(self._sender_died, self._settings.sender_threads_per_camera)

    @property
    def senders(self) -> SenderPool:
        """The live viewers' sender threads (read them; the service takes and gives them back)."""
        return self._senders

    # --- sessions ---------------------------------------------------------------------------------

    async def offer(
        self, camera_id: str, sdp: object, type: object, viewer: str, source_ip: str | None
    ) -> tuple[str, str, Mode, str]:
        """(session id, answer SDP, mode, codec sent) for a viewer's offer."""
        camera = self._camera(camera_id)
        summary = self._admit(camera_id, sdp, type)
        assert isinstance(sdp, str)
        feed, info = await self._acquire_for_view(camera)
        try:
            # The camera may have been lost while its feed opened: nothing would end this viewer then.
            if not is_up(self._state_of(camera_id)):
                raise CameraUnavailableError(_("camera {camera_id} is offline").format(camera_id=repr(camera_id)))
            mode: Mode = "passthrough" if info.codec == "h264" else "transcoded"
            if mode == "passthrough" and not summary.offers("h264"):
                raise InvalidRequestError(_("bad SDP offer: it has no H.264 video, which this camera sends"))
            codec = "h264" if mode == "passthrough" else ("vp8" if summary.offers("vp8") else "h264")
            session_id = secrets.token_urlsafe(12)
            sender = self._senders.take(camera_id)
            try:
                subscription, track, pc = await self._made_on(
                    sender, self._make_live(session_id, mode, feed, info, sender)
                )
            except BaseException:
                self._give_back(sender)
                raise
            session = Viewer(
                session_id, camera_id, viewer, source_ip, mode, codec, pc, track, feed, subscription, sender=sender
            )
            self._viewers[session_id] = session
        except BaseException:
            self._release(feed)
            raise
        answer = await self._answer(session, sdp)
        log.info("live view %s: %s viewing %s (%s %s)", session_id, viewer, camera_id, mode, codec)
        return session_id, answer, mode, codec

    async def replay(
        self, camera_id: str, start: float, end: float, sdp: object, type: object, viewer: str, source_ip: str | None
    ) -> tuple[str, str, Mode, str]:
        """(session id, answer SDP, mode, codec sent) for a viewer's offer to watch [start, end) recorded."""
        camera = self._camera(camera_id, online=False)
        if not 0 < end - start <= MAX_REPLAY_S:
            raise InvalidRequestError(
                _("a replay spans more than 0 and at most {hours} hours").format(hours=MAX_REPLAY_S // 3600)
            )
        summary = self._admit(camera_id, sdp, type)
        assert isinstance(sdp, str)
        if self._replays is None or not self._replays.configured(camera.id):
            raise NotFoundError(
                _("camera {camera_id}: where its recordings live is not configured").format(camera_id=repr(camera_id))
            )
        try:
            replay = await self._replays.open(camera.id, start, end)
        except NoRecordingError as exc:
            raise NotFoundError(str(exc)) from None
        except ReplayBusyError as exc:
            raise TooManyViewersError(str(exc)) from None
        except ReplayFailedError as exc:
            raise CameraUnavailableError(str(exc)) from None
        try:
            info = replay.info
            mode: Mode = "passthrough" if info.codec == "h264" else "transcoded"
            if mode == "passthrough" and not summary.offers("h264"):
                raise InvalidRequestError(_("bad SDP offer: it has no H.264 video, which this recording holds"))
            codec = "h264" if mode == "passthrough" else ("vp8" if summary.offers("vp8") else "h264")
            session_id = secrets.token_urlsafe(12)
            holder: list[Viewer] = []
            track = self._replay_track(mode, replay, info, holder)
            pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers()))
            session = Viewer(session_id, camera.id, viewer, source_ip, mode, codec, pc, track, replay=replay)
            holder.append(session)
            self._viewers[session_id] = session
        except BaseException:
            await replay.aclose()
            raise
        answer = await self._answer(session, sdp)
        try:
            await replay.play(at=start)
        except ReplayError as exc:
            self._end(session, f"the recorder did not play: {exc.reason}")
            raise CameraUnavailableError(
                _("camera {camera_id}: the recorder did not play: {reason}").format(
                    camera_id=repr(camera_id), reason=exc.reason
                )
            ) from None
        log.info(
            "replay %s: %s viewing %s recorded from %.0f (%s %s)", session_id, viewer, camera_id, start, mode, codec
        )
        return session_id, answer, mode, codec

    async def _make_live(
        self, session_id: str, mode: Mode, feed: Feed, info: StreamInfo, sender: SenderThread
    ) -> tuple[Subscription, MediaStreamTrack, RTCPeerConnection]:
        """A live viewer's objects, made on its sender thread's loop (the subscription wakes that loop)."""
        subscription = feed.subscribe(f"webrtc:{session_id}", VIEWER_QUEUE)
        # Should the thread die before the session is ended, the camera's reader must not keep
        # waking a closed loop: the subscription is closed on the way out.
        sender.at_exit.add(subscription.close)
        track = self._track(mode, subscription, feed, info)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers()))
        return subscription, track, pc

    async def _made_on(
        self, sender: SenderThread, make: Coroutine[Any, Any, tuple[Subscription, MediaStreamTrack, RTCPeerConnection]]
    ) -> tuple[Subscription, MediaStreamTrack, RTCPeerConnection]:
        """What `make` made on `sender`; if the caller is cancelled meanwhile (the client went away),
        what it made is closed there, so that no subscription or connection is left behind."""
        made = sender.run(make)
        try:
            return await asyncio.shield(made)
        except asyncio.CancelledError:

            def discard(done: asyncio.Future[tuple[Subscription, MediaStreamTrack, RTCPeerConnection]]) -> None:
                if not done.cancelled() and done.exception() is None:
                    subscription, track, pc = done.result()
                    with contextlib.suppress(SenderGoneError):  # then its at_exit closed the subscription
                        closing = self._run_on(sender, _teardown(sender, subscription, track, pc))
                        closing.add_done_callback(lambda f: f.cancelled() or f.exception())

            made.add_done_callback(discard)
            raise

    def _admit(self, camera_id: str, sdp: object, type: object) -> Any:
        """The offer's summary, once the viewer limits allow one more viewer of this camera."""
        live = [v for v in self._viewers.values() if v.state != "ended"]
        if len(live) >= self._settings.max_viewers:
            raise TooManyViewersError(
                _("the gateway serves {max_viewers} live viewers at most").format(
                    max_viewers=self._settings.max_viewers
                )
            )
        if sum(v.camera_id == camera_id for v in live) >= self._settings.max_viewers_per_camera:
            raise TooManyViewersError(
                _("camera {camera_id} has {max_viewers_per_camera} live viewers already").format(
                    camera_id=repr(camera_id), max_viewers_per_camera=self._settings.max_viewers_per_camera
                )
            )
        try:
            return check_offer(sdp, type, ("h264", "vp8"))
        except OfferError as exc:
            raise InvalidRequestError(_("bad SDP offer: {detail}").format(detail=exc.detail)) from None

    def _replay_track(self, mode: Mode, replay: Replay, info: StreamInfo, holder: list[Viewer]) -> MediaStreamTrack:
        """The track of a replay: the replay's frames as they come; the session ends with them."""
        frames = replay.frames()

        async def next_packet() -> Packet | None:
            try:
                frame = await anext(frames)
            except (StopAsyncIteration, ReplayError) as exc:
                if holder:
                    reason = "the span ended" if isinstance(exc, StopAsyncIteration) else f"the recorder: {exc}"
                    asyncio.get_running_loop().call_soon(self._end, holder[0], reason)
                return None
            if holder and frame.recorded is not None:
                holder[0].position = frame.recorded
            return frame.packet

        if mode == "passthrough":
            return H264PassthroughTrack(next_packet, info.extradata)
        return DecodedVideoTrack(next_packet, info.codec, info.extradata)

    async def _answer(self, session: Viewer, sdp: str) -> str:
        pc = session.pc
        main = asyncio.get_running_loop()

        def state_changed() -> None:  # on the session's own loop: its state crosses as a value
            with contextlib.suppress(RuntimeError):  # the event loop has closed: the gateway stopped
                main.call_soon_threadsafe(self._state_changed, session, pc.connectionState)

        async def answer_there() -> str:
            answer = await answer_offer(
                pc,
                sdp,
                session.track,
                codec=session.codec,
                host_addresses=[str(a) for a in self._settings.ice_addresses],
            )
            pc.on("connectionstatechange", state_changed)
            return answer

        try:
            answer = await self._run_on(session.sender, answer_there())
        except OfferError as exc:
            self._end(session, "offer refused")
            raise InvalidRequestError(_("bad SDP offer: {detail}").format(detail=exc.detail)) from None
        except Exception as exc:  # noqa: BLE001 - aiortc internals on odd input: a clear 4xx, no traceback
            self._end(session, "offer failed")
            raise InvalidRequestError(
                _("the SDP offer could not be answered ({kind})").format(kind=exc.__class__.__name__)
            ) from None
        except BaseException:  # cancelled (the client went away): the viewer must not stay registered
            self._end(session, "offer abandoned")
            raise
        session.timer = main.call_later(self._settings.connect_timeout_s, self._connect_timeout, session)
        return answer

    def _run_on(self, sender: SenderThread | None, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """`coro` run on the loop that owns a session's objects: its sender thread's, or this one."""
        if sender is None:
            return asyncio.ensure_future(coro)
        return sender.run(coro)

    def _track(self, mode: Mode, subscription: Subscription, feed: Feed, info: StreamInfo) -> MediaStreamTrack:
        track: H264PassthroughTrack | DecodedVideoTrack
        seen = {"dropped": 0, "info": info}

        async def next_packet() -> Packet | None:
            try:
                packet = await subscription.get()
            except EOFError:
                return None
            if isinstance(track, H264PassthroughTrack):
                if feed.bus.info is not seen["info"]:
                    seen["info"] = feed.bus.info
                    track.set_extradata(feed.bus.info.extradata if feed.bus.info else None)
                if subscription.dropped != seen["dropped"]:
                    seen["dropped"] = subscription.dropped
                    track.resync()
            return packet

        if mode == "passthrough":
            track = H264PassthroughTrack(next_packet, info.extradata)
        else:
            track = DecodedVideoTrack(next_packet, info.codec, info.extradata)
        return track

    def _ice_servers(self) -> list[RTCIceServer]:
        return [
            RTCIceServer(
                urls=list(s.urls),
                username=s.username,
                credential=s.credential.resolve() if s.credential is not None else None,
            )
            for s in self._settings.ice_servers
        ]

    def _state_changed(self, session: Viewer, state: str) -> None:
        if session.state == "ended":
            return
        if state == "connected" and session.connected_at is None:
            session.connected_at = time.time()
            session.state = "connected"
            if session.timer is not None:
                session.timer.cancel()
            detail: dict[str, Any] = {"mode": session.mode, "codec": session.codec}
            if session.replay is not None:
                detail.update(start=session.replay.start, end=session.replay.end)
            self._audit("live_view_start" if session.replay is None else "replay_start", session, detail)
        elif state in ("failed", "closed"):
            self._end(session, f"connection {state}")

    def _connect_timeout(self, session: Viewer) -> None:
        if session.connected_at is None:
            self._end(session, "ICE did not connect in time")

    def _end(self, session: Viewer, reason: str) -> None:
        if session.state == "ended":
            return
        session.state = "ended"
        self._viewers.pop(session.id, None)
        if session.timer is not None:
            session.timer.cancel()
        if session.feed is not None:
            self._release(session.feed)
        if session.replay is not None:
            closing = asyncio.ensure_future(session.replay.aclose())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        task = asyncio.ensure_future(self._close_objects(session))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        if session.connected_at is not None:
            duration = round(time.time() - session.connected_at, 3)
            action = "live_view_stop" if session.replay is None else "replay_stop"
            self._audit(action, session, {"duration_s": duration, "reason": reason})
        log.info("live view %s: ended (%s)", session.id, reason)

    async def _close_objects(self, session: Viewer) -> None:
        """Close a session's subscription, track and connection on the loop that owns them, then give
        its sender thread back (stopped once it serves no one)."""
        sender = session.sender
        try:
            await self._run_on(sender, _teardown(sender, session.subscription, session.track, session.pc))
        except SenderGoneError:  # its thread died: nothing runs its objects any more
            if session.subscription is not None:
                with contextlib.suppress(RuntimeError):  # it may wake the dead loop
                    session.subscription.close()
        except Exception:  # aiortc closing a broken connection: the session is over anyway
            log.warning("live view %s: closing its connection failed", session.id, exc_info=True)
        finally:
            if sender is not None:
                self._give_back(sender)

    def _give_back(self, sender: SenderThread) -> None:
        task = asyncio.ensure_future(self._senders.give_back(sender))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _sender_died(self, sender: SenderThread, error: BaseException | None) -> None:
        """A SenderPool hook, on the event loop: a sender thread died; its viewers' sessions end, and
        the death is shown with the gateway's parts (`live-view-senders`)."""
        if self._watchdog is not None:
            self._watchdog.noted(SENDERS_PART, "thread", error)
        for session in list(self._viewers.values()):
            if session.sender is sender:
                self._end(session, "its sender thread died")

    def _audit(self, action: str, session: Viewer, detail: dict[str, Any]) -> None:
        if self.on_audit is None:
            return
        try:
            self.on_audit(
                action, session.viewer, session.camera_id, {"session_id": session.id, **detail}, session.source_ip
            )
        except Exception:  # the audit log's trouble must not end a police viewer's session
            log.exception("live view: audit hook failed for %s", action)

    async def close_session(self, session_id: str, by: str) -> None:
        session = self._viewers.get(session_id)
        if session is None:
            raise NotFoundError(_("no live session {session_id}").format(session_id=repr(session_id)))
        self._end(session, f"closed by {by}")

    def session(self, session_id: str) -> dict[str, Any] | None:
        session = self._viewers.get(session_id)
        return session.status() if session is not None else None

    def sessions(self) -> list[dict[str, Any]]:
        return [v.status() for v in self._viewers.values()]

    def camera_changed(self, status: CameraStatus, previous: CameraStatus | None) -> None:
        """A HealthTracker listener: a camera that stops delivering ends its sessions."""
        if is_up(status.state):
            return
        for session in list(self._viewers.values()):
            if session.camera_id == status.camera_id and session.replay is None:
                self._end(session, f"camera {status.state.value}")

    async def stop(self) -> None:
        for session in list(self._viewers.values()):
            self._end(session, "gateway stopping")
        # Twice: closing a session gives its thread back, which then stops.
        for _round in range(2):
            if self._closing:
                await asyncio.wait(set(self._closing), timeout=5)
        await self._senders.stop()

    # --- snapshots --------------------------------------------------------------------------------

    async def snapshot(self, camera_id: str, max_age_s: float = SNAPSHOT_CACHE_S) -> bytes:
        """A JPEG of the camera's latest keyframe, cached a moment so that a wall of thumbnails is cheap;
        a picture taken within `max_age_s` is given again."""
        camera = self._camera(camera_id)
        lock = self._snapshot_locks.setdefault(camera_id, asyncio.Lock())
        async with lock:  # ten dashboard tiles asking at once cost one decode
            cached = self._snapshots.get(camera_id)
            if cached is not None and time.monotonic() - cached[0] < max_age_s:
                return cached[1]
            feed, info = await self._acquire(camera, sub=False)
            try:
                jpeg = await self._grab(feed, info)
            finally:
                self._release(feed)
            self._snapshots[camera_id] = (time.monotonic(), jpeg)
            return jpeg

    async def _grab(self, feed: Feed, info: StreamInfo) -> bytes:
        subscription = feed.subscribe("snapshot", 8)
        try:
            async with asyncio.timeout(SNAPSHOT_WAIT_S):
                while not (packet := await subscription.get()).keyframe:
                    pass
        except (TimeoutError, EOFError):
            raise CameraUnavailableError(_("no picture from the camera within 5 s")) from None
        finally:
            subscription.close()
        current = feed.bus.info or info
        try:
            jpeg, _w, _h = await asyncio.to_thread(
                keyframe_to_jpeg, packet.codec, current.extradata, packet.data, JPEG_QUALITY
            )
        except PictureError as exc:
            raise CameraUnavailableError(
                _("the camera's picture could not be decoded: {exc}").format(exc=exc)
            ) from None
        return jpeg

    # --- feeds ------------------------------------------------------------------------------------

    def _camera(self, camera_id: str, *, online: bool = True) -> CameraConfig:
        if not self._settings.enabled:
            raise ConflictError(_("live view is disabled in this gateway's config"))
        camera = self._config.camera(camera_id)
        if camera is None:
            raise NotFoundError(_("no camera {camera_id}").format(camera_id=repr(camera_id)))
        if not camera.enabled:
            raise CameraUnavailableError(_("camera {camera_id} is disabled").format(camera_id=repr(camera_id)))
        if online and not is_up(self._state_of(camera_id)):
            raise CameraUnavailableError(_("camera {camera_id} is offline").format(camera_id=repr(camera_id)))
        return camera

    async def _acquire_for_view(self, camera: CameraConfig) -> tuple[Feed, StreamInfo]:
        feed, info = await self._acquire(camera, sub=False)
        if info.codec == "h264" or not camera.has_sub_stream:
            return feed, info
        # H.265 main stream: an H.264 sub stream spares a transcode.
        try:
            sub, sub_info = await self._acquire(camera, sub=True)
        except CameraUnavailableError:
            return feed, info
        except BaseException:  # cancelled: the main feed is not handed to anyone
            self._release(feed)
            raise
        if sub_info.codec == "h264":
            self._release(feed)
            return sub, sub_info
        self._release(sub)
        return feed, info

    async def _acquire(self, camera: CameraConfig, *, sub: bool) -> tuple[Feed, StreamInfo]:
        try:
            return await self._hub.acquire(camera, "sub" if sub else "main")
        except StreamUnavailableError as exc:
            raise CameraUnavailableError(str(exc)) from None

    def _release(self, feed: Feed) -> None:
        self._hub.release(feed)

    def _feed_ended(self, feed: Feed) -> None:
        """A StreamHub hook: the stream behind some viewers ended (closed or failed)."""
        for session in list(self._viewers.values()):
            if session.feed is feed:
                self._end(session, f"camera stream ended: {feed.error or 'closed'}")


async def _teardown(
    sender: SenderThread | None, subscription: Subscription | None, track: MediaStreamTrack, pc: RTCPeerConnection
) -> None:
    """On the loop that owns them: a viewer's subscription, track and connection, closed."""
    if subscription is not None:
        subscription.close()
        if sender is not None:
            sender.at_exit.discard(subscription.close)
    track.stop()
    await pc.close()
