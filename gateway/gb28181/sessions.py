"""Live video sessions of one GB/T 28181 uplink: INVITE, ACK, BYE, CANCEL (GB/T 28181-2016 clause 9.2).

The platform INVITEs a channel with an SDP offer (`s=Play`). We answer 200 with our SDP once the
media socket is ready (UDP bound, or TCP connected/listening per the offer), and on the ACK start
sending the camera's packets as PS over RTP (`MediaSender`), with the camera's sound inside when it
has one, or, to an offer without PS, as the H.264/H.265 elementary stream it asks for (GB/T
28181-2022). The packets come from the stream hub,
the one owner of camera streams: a session holds the camera's feed from the INVITE to its end, and
every viewer of a camera reads the same feed, so the camera is read once however many sessions there
are, whether this process reads it or a worker process does.

A session ends on the platform's BYE, on our BYE when the camera is lost (state no longer online
or degraded) or the media connection fails, when no ACK comes within 64*T1, at shutdown, or when a
new INVITE for the same channel carries the same Subject (the platform restarting its view: the old
session is replaced, per the standard's Subject rule in clause 9.2).

Playback and Download (`s=Playback`, `s=Download`, with `u=` and `t=<start> <end>`, clause 9.8) replay
the camera's recordings from the device that keeps them (`gateway.recordings.replay`), as PS over RTP
like live video, never re-encoded. The platform drives a playback with INFO `Application/MANSRTSP`
(PLAY with a Range to seek, with a Scale to change speed, PAUSE, PLAY to resume); a download is sent as
fast as the device and the link allow (`a=downloadspeed`). At the end of the span we send MediaStatus
121 in the dialog, then BYE. A replay does not depend on the camera being online, and is not a live
forwarding (the ledger counts live sessions only).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, TypeVar

from adapters.common.media import Packet, StreamInfo
from adapters.gb28181 import manscdp, mansrtsp, sdp
from adapters.gb28181.dialog import Dialog, DialogId
from adapters.gb28181.media import Codec, MediaError, MediaSender, MediaTarget
from adapters.gb28181.sip import SipError, SipMessage, addr_uri, new_tag, response_to
from adapters.gb28181.ua import PlatformLink
from adapters.rtsp.replay import ReplayError
from gateway.config import CameraConfig
from gateway.health.state import StateOf, is_up
from gateway.pipeline.bus import Subscription
from gateway.recordings.replay import NoRecordingError, Replay, ReplayBusyError, ReplayFailedError, Replays
from gateway.streams.hub import Feed, StreamHub, StreamUnavailableError

log = logging.getLogger(__name__)

SDP_TYPE: Final = "application/sdp"
# Packets queued per session before the oldest are dropped: about 10 s of 25 fps video, so a short
# stall of the event loop loses nothing, and a session that cannot keep up costs bounded memory.
SESSION_QUEUE: Final = 256
# ... and room for the sound beside them: 10 s of 20 ms G.711 packets.
AUDIO_QUEUE: Final = 512
DISCARD_PORT: Final = 9  # the m= port of an active TCP endpoint (RFC 4145 section 4)
_CODECS: Final[frozenset[str]] = frozenset({"h264", "h265"})

SessionState = Literal["answered", "streaming", "ended"]
SessionKind = Literal["live", "playback", "download"]
MANSRTSP_TYPE: Final = "application/mansrtsp"
NTP_UNIX_OFFSET: Final = 2_208_988_800
# A download's speed when the offer names none, and the most we ask a recording device for.
MAX_DOWNLOAD_SPEED: Final = 32.0
T = TypeVar("T")


class SessionJournal(Protocol):
    """Where session starts and ends are recorded for reports (the forwarding ledger)."""

    def session_started(
        self, uplink_id: str, camera_id: str, channel_id: str, call_id: str, transport: str, at: float
    ) -> int: ...

    def session_ended(self, session_id: int, at: float, bytes_sent: int, reason: str) -> None: ...


@dataclass
class LiveSession:
    """One platform viewer of one camera."""

    camera_id: str
    channel_id: str
    dialog: Dialog
    subject: str | None
    offer: sdp.PlayOffer
    answer: bytes
    sender: MediaSender
    created_at: float = field(default_factory=time.time)
    state: SessionState = "answered"
    ended_reason: str | None = None
    journal_id: int | None = None
    task: asyncio.Task[None] | None = None
    ack_timer: asyncio.Task[None] | None = None
    subscription: Subscription | None = None
    feed: Feed | None = None  # held from the INVITE until the session ends
    kind: SessionKind = "live"
    replay: Replay | None = None  # playback and download: held from the INVITE until the session ends
    speed: float = 1.0
    first_recorded: float | None = None  # the recorded instant of the first frame sent (replays)
    position: float | None = None  # ... and of the last one
    notify_sn: int = 0

    def status(self) -> dict[str, Any]:
        stats = self.sender.stats
        target = self.sender.target
        peer = stats.peer or ((target.remote_ip, target.remote_port) if target.sends_to_remote else None)
        return {
            "camera_id": self.camera_id,
            "channel_id": self.channel_id,
            "call_id": self.dialog.call_id,
            "state": self.state,
            "transport": target.transport if target.transport == "udp" else f"tcp-{target.setup}",
            "peer": f"{peer[0]}:{peer[1]}" if peer else None,
            "ssrc": f"{target.ssrc:010d}",
            "created_at": self.created_at,
            "started_at": stats.started_at,
            "frames_sent": stats.frames_sent,
            "bytes_sent": stats.bytes_sent,
            "frames_dropped": stats.frames_dropped + (self.subscription.dropped if self.subscription else 0),
            "encoding": target.encoding,
            "audio": self.sender.audio,
            "audio_frames_sent": stats.audio_frames_sent,
            "last_error": stats.last_error,
            "kind": self.kind,
            **(self._replay_status() if self.replay is not None else {}),
        }

    def _replay_status(self) -> dict[str, Any]:
        assert self.replay is not None
        return {
            "start": self.replay.start,
            "end": self.replay.end,
            "speed": self.speed,
            "first_recorded": self.first_recorded,
            "position": self.position,
        }


class LiveVideo:
    """The live sessions of one uplink. Lives on the event loop; `link()` is the uplink's SIP link."""

    def __init__(
        self,
        uplink_id: str,
        channels: Mapping[str, CameraConfig],
        streams: StreamHub,
        state_of: StateOf,
        link: Callable[[], PlatformLink | None],
        *,
        max_sessions: int,
        media_ip: str | None = None,
        journal: SessionJournal | None = None,
        ack_timeout_s: float = 32.0,
        replays: Replays | None = None,
    ) -> None:
        self._replays = replays
        self.uplink_id = uplink_id
        self._channels = channels
        self._streams = streams
        self._state_of = state_of
        self._link = link
        self._max_sessions = max_sessions
        self._media_ip = media_ip
        self._journal = journal
        self._ack_timeout_s = ack_timeout_s
        self.sessions: dict[DialogId, LiveSession] = {}
        self._pending: dict[str, asyncio.Event] = {}  # INVITE branch -> set by a CANCEL
        self._tasks: set[asyncio.Task[None]] = set()
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "invites",
                "invites_refused",
                "sessions_started",
                "sessions_ended",
                "byes_received",
                "byes_sent",
                "byes_failed",
                "replaced",
                "cancelled",
                "bytes_sent",
                "replays_started",
                "replays_completed",
                "media_status_sent",
                "infos",
            ),
            0,
        )

    # --- requests ---------------------------------------------------------------------------------

    async def on_invite(self, msg: SipMessage) -> SipMessage:
        self.counters["invites"] += 1
        if msg.to_tag:
            return self._reinvite(msg)
        resp = await self._invite(msg)
        if resp.status is not None and resp.status >= 300:
            self.counters["invites_refused"] += 1
        return resp

    def _reinvite(self, msg: SipMessage) -> SipMessage:
        """A session refresh: same media, same answer (we never change a running stream)."""
        session = self._find(msg)
        if session is None or session.state == "ended":
            return response_to(msg, 481)
        return self._ok(msg, session)

    async def _invite(self, msg: SipMessage) -> SipMessage:
        link = self._link()
        if link is None or link.contact_uri is None:
            return response_to(msg, 503)
        channel_id = _user(msg.uri or "") or _user(addr_uri(msg.get("To") or ""))
        camera = self._channels.get(channel_id)
        if camera is None:
            return response_to(msg, 404, extra_headers=[_warning("no such channel")])
        if (msg.content_type or "") != SDP_TYPE:
            return response_to(msg, 415, extra_headers=[("Accept", SDP_TYPE)])
        try:
            offer = sdp.parse_offer(msg.body)
        except sdp.SdpError as exc:
            log.info("GB/T 28181 uplink %s: refused an INVITE for %s: %s", self.uplink_id, channel_id, exc.detail)
            return response_to(msg, exc.status, extra_headers=[_warning(exc.detail)])
        kind = offer.session_name.lower()
        if kind not in ("play", "playback", "download"):
            return response_to(msg, 488, extra_headers=[_warning("only Play, Playback and Download are served")])
        if kind == "play" and not is_up(self._state_of(camera.id)):
            return response_to(msg, 480, extra_headers=[_warning("the camera is not delivering video")])
        if kind != "play":
            refused = self._replay_refusal(msg, camera, offer)
            if refused is not None:
                return refused
        # From here the INVITE may wait (the camera's feed, a TCP connect): a CANCEL must end the wait.
        branch = msg.via_branch or ""
        cancelled = self._pending[branch] = asyncio.Event()
        try:
            if kind == "play":
                return await self._answer(msg, camera, channel_id, offer, cancelled)
            return await self._answer_replay(msg, camera, channel_id, offer, cancelled)
        finally:
            self._pending.pop(branch, None)

    def _replay_refusal(self, msg: SipMessage, camera: CameraConfig, offer: sdp.PlayOffer) -> SipMessage | None:
        if self._replays is None or not self._replays.configured(camera.id):
            return response_to(msg, 404, extra_headers=[_warning("no recordings are configured for this channel")])
        start, end = _span(offer)
        if not 0 < start < end:
            return response_to(msg, 400, extra_headers=[_warning("t= must give the start and end of the recording")])
        return None

    async def _unless_cancelled(
        self, work: Awaitable[T], cancelled: asyncio.Event, undo: Callable[[T], None] | None = None
    ) -> T | None:
        """The result of ``work``, or None when a CANCEL comes first: the work is then cancelled, or if it
        finished in the same instant, its result handed to ``undo``."""
        doing = asyncio.ensure_future(work)
        waiting = asyncio.ensure_future(cancelled.wait())
        try:
            await asyncio.wait({doing, waiting}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            doing.cancel()
            raise
        finally:
            waiting.cancel()
        if not cancelled.is_set():
            return doing.result()
        if not doing.done():
            doing.cancel()
        elif doing.exception() is None and undo is not None:
            undo(doing.result())
        return None

    async def _answer(
        self, msg: SipMessage, camera: CameraConfig, channel_id: str, offer: sdp.PlayOffer, cancelled: asyncio.Event
    ) -> SipMessage:
        try:
            # With the sound: a PS session carries it (a tapped camera's worker then sends it over).
            acquired = await self._unless_cancelled(
                self._streams.acquire(camera, audio=True),
                cancelled,
                lambda done: self._streams.release(done[0], audio=True),
            )
        except StreamUnavailableError as exc:
            log.info("GB/T 28181 uplink %s: no video for %s: %s", self.uplink_id, channel_id, exc)
            return response_to(msg, 480, extra_headers=[_warning("the camera is not delivering video")])
        if acquired is None:
            self.counters["cancelled"] += 1
            return response_to(msg, 487)
        feed, info = acquired

        async def give_back() -> None:
            self._streams.release(feed, audio=True)

        return await self._answer_on(msg, camera, channel_id, offer, cancelled, info, give_back, feed=feed)

    async def _answer_replay(
        self, msg: SipMessage, camera: CameraConfig, channel_id: str, offer: sdp.PlayOffer, cancelled: asyncio.Event
    ) -> SipMessage:
        assert self._replays is not None  # _replay_refusal checked
        start, end = _span(offer)
        try:
            replay = await self._unless_cancelled(
                self._replays.open(camera.id, start, end),
                cancelled,
                lambda opened: self._close_later(opened),
            )
        except NoRecordingError as exc:
            log.info("GB/T 28181 uplink %s: no recording for %s: %s", self.uplink_id, channel_id, exc)
            return response_to(msg, 404, extra_headers=[_warning("nothing recorded in the span asked for")])
        except ReplayBusyError as exc:
            log.info("GB/T 28181 uplink %s: replay of %s refused: %s", self.uplink_id, channel_id, exc)
            return response_to(msg, 486, extra_headers=[_warning("the recorder serves as many replays as it may")])
        except ReplayFailedError as exc:
            log.warning("GB/T 28181 uplink %s: replay of %s failed: %s", self.uplink_id, channel_id, exc)
            return response_to(msg, 503, extra_headers=[_warning("the recorder refused or did not answer")])
        if replay is None:
            self.counters["cancelled"] += 1
            return response_to(msg, 487)
        return await self._answer_on(
            msg, camera, channel_id, offer, cancelled, replay.info, replay.aclose, replay=replay
        )

    async def _answer_on(
        self,
        msg: SipMessage,
        camera: CameraConfig,
        channel_id: str,
        offer: sdp.PlayOffer,
        cancelled: asyncio.Event,
        info: StreamInfo,
        give_back: Callable[[], Awaitable[None]],
        *,
        feed: Feed | None = None,
        replay: Replay | None = None,
    ) -> SipMessage:
        """The answer on a camera's feed or a replay, which `give_back` returns when the answer is not a 200
        (or the INVITE's handling fails): only an answered session holds it."""
        sender: MediaSender | None = None
        answered = False
        try:
            resp, sender = await self._open_media(
                msg, camera, channel_id, offer, cancelled, info, feed=feed, replay=replay
            )
            answered = resp.status == 200
            return resp
        finally:
            if not answered:
                if sender is not None:
                    sender.close()
                await give_back()

    async def _open_media(
        self,
        msg: SipMessage,
        camera: CameraConfig,
        channel_id: str,
        offer: sdp.PlayOffer,
        cancelled: asyncio.Event,
        info: StreamInfo,
        *,
        feed: Feed | None = None,
        replay: Replay | None = None,
    ) -> tuple[SipMessage, MediaSender | None]:
        """The 200 with our SDP once the media socket is ready, or the refusal; the sender to close if
        the answer is not a 200 (or raises)."""
        link = self._link()
        if link is None or link.contact_uri is None:
            return response_to(msg, 503), None
        if info.codec not in _CODECS:
            return response_to(msg, 488, extra_headers=[_warning(f"cannot carry {info.codec} in PS")]), None
        try:
            payload = sdp.choose_payload(offer, info.codec)  # PS when offered, else the camera's codec as ES
        except sdp.SdpError as exc:
            return response_to(msg, exc.status, extra_headers=[_warning(exc.detail)]), None
        subject = msg.get("Subject")
        replaced = self._same_subject(channel_id, subject)
        live = [s for s in self.sessions.values() if s.state != "ended" and s not in replaced]
        if len(live) >= self._max_sessions:
            return response_to(msg, 486, extra_headers=[_warning("too many live sessions")]), None
        ssrc = offer.ssrc if offer.ssrc and len(offer.ssrc) == 10 else _new_ssrc(history=replay is not None)
        try:
            local_tag = new_tag()
            dialog = Dialog.as_uas(msg, local_tag)
            target = dataclasses.replace(MediaTarget.from_offer(offer, payload=payload), ssrc=int(ssrc))
        except SipError as exc:
            return response_to(msg, exc.status, extra_headers=[_warning(exc.reason)]), None
        except ValueError as exc:
            return response_to(msg, 488, extra_headers=[_warning(str(exc))]), None
        codec: Codec = "h264" if info.codec == "h264" else "h265"
        extradata = info.extradata if info.extradata and info.extradata.startswith((b"\0\0\1", b"\0\0\0\1")) else None
        # A replay is held back rather than thinned when the platform reads slowly: the recording device
        # waits, and a download loses nothing.
        sender = MediaSender(
            target,
            codec,
            parameter_sets=extradata,
            audio=info.audio if replay is None else None,
            lossless=replay is not None,
        )
        try:
            # A CANCEL must not wait for a TCP connect that may take seconds.
            port = await self._unless_cancelled(sender.open(), cancelled)
        except (OSError, TimeoutError, MediaError) as exc:
            detail = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
            log.warning("GB/T 28181 uplink %s: media for %s not opened: %s", self.uplink_id, channel_id, detail)
            return response_to(msg, 503, extra_headers=[_warning(f"media not opened: {detail}")]), sender
        except BaseException:  # cancelled (the link stopping): the socket must not outlive the INVITE
            sender.close()
            raise
        if port is None:
            self.counters["cancelled"] += 1
            return response_to(msg, 487), sender
        # The camera may have been lost while we waited for its feed or the media socket.
        if replay is None and not is_up(self._state_of(camera.id)):
            return response_to(msg, 480, extra_headers=[_warning("the camera is not delivering video")]), sender
        link = self._link()
        if link is None or link.contact_uri is None:
            return response_to(msg, 503), sender
        if port == 0:
            # TCP active: we connected out and listen nowhere. Port 0 would mean "stream rejected"
            # (RFC 3264 section 6); RFC 4145 section 4 has an active endpoint name the discard port.
            port = DISCARD_PORT
        media_ip = self._media_ip or _host_of(link.contact_uri)
        answer = sdp.build_answer(
            offer, device_id=channel_id, local_ip=media_ip, local_port=port, ssrc=ssrc, payload=payload
        )
        session = LiveSession(
            camera_id=camera.id,
            channel_id=channel_id,
            dialog=dialog,
            subject=subject,
            offer=offer,
            answer=answer.encode(),
            sender=sender,
            feed=feed,
            kind="live" if replay is None else "download" if offer.session_name.lower() == "download" else "playback",
            replay=replay,
            speed=_download_speed(offer) if offer.session_name.lower() == "download" else 1.0,
        )
        for old in replaced:
            self.counters["replaced"] += 1
            self._end(old, "replaced by a new INVITE with the same Subject", bye=True)
        self.sessions[dialog.id] = session
        session.ack_timer = self._spawn(self._expect_ack(session), f"gb-ack-{channel_id}")
        log.info(
            "GB/T 28181 uplink %s: INVITE for %s (%s) answered, media %s port %d",
            self.uplink_id,
            channel_id,
            camera.id,
            target.transport if target.transport == "udp" else f"tcp {target.setup}",
            port,
        )
        return self._ok(msg, session), sender

    def _ok(self, msg: SipMessage, session: LiveSession) -> SipMessage:
        link = self._link()
        contact = link.contact_uri if link is not None else None
        extra = [("Contact", f"<{contact}>")] if contact else []
        return response_to(
            msg,
            200,
            to_tag=session.dialog.local_tag,
            extra_headers=extra,
            body=session.answer,
            content_type=SDP_TYPE,
        )

    def on_ack(self, msg: SipMessage) -> None:
        session = self._find(msg)
        if session is None or session.state != "answered":
            return  # a retransmitted ACK, or one for a session already over
        if session.ack_timer is not None:
            session.ack_timer.cancel()
        if session.replay is not None:
            session.state = "streaming"
            self.counters["replays_started"] += 1
            session.task = self._spawn(self._stream_replay(session, session.replay), f"gb-replay-{session.channel_id}")
            return
        if session.feed is None:
            self._end(session, "camera gone", bye=True)
            return
        session.state = "streaming"
        name = f"gb28181:{self.uplink_id}:{session.dialog.call_id}"
        audio = session.sender.audio is not None
        # From the cached group of pictures, where the camera's bus keeps one: the platform's first
        # picture comes at once, not at the camera's next keyframe.
        session.subscription = session.feed.subscribe(
            name, SESSION_QUEUE + AUDIO_QUEUE if audio else SESSION_QUEUE, audio=audio, gop=True
        )
        session.task = self._spawn(self._stream(session, session.subscription), f"gb-live-{session.channel_id}")
        self.counters["sessions_started"] += 1
        if self._journal is not None:
            target = session.sender.target
            try:
                session.journal_id = self._journal.session_started(
                    self.uplink_id,
                    session.camera_id,
                    session.channel_id,
                    session.dialog.call_id,
                    target.transport if target.transport == "udp" else f"tcp-{target.setup}",
                    time.time(),
                )
            except Exception:  # the record is for reports; the video matters more
                log.exception("GB/T 28181 uplink %s: could not record a session start", self.uplink_id)

    def on_bye(self, msg: SipMessage) -> SipMessage:
        session = self._find(msg)
        if session is None or session.state == "ended":
            return response_to(msg, 481)
        self.counters["byes_received"] += 1
        self._end(session, "BYE from the platform", bye=False)
        return response_to(msg, 200)

    async def on_info(self, msg: SipMessage) -> SipMessage:
        """INFO with MANSRTSP in a playback's dialog: PLAY (resume, seek with Range, speed with Scale), PAUSE,
        TEARDOWN. The answer carries the MANSRTSP response, with the speed the recorder took."""
        self.counters["infos"] += 1
        session = self._find(msg)
        if session is None or session.state == "ended":
            return response_to(msg, 481)
        if session.replay is None:
            return response_to(msg, 488, extra_headers=[_warning("live video takes no playback control")])
        if (msg.content_type or "") not in mansrtsp.CONTENT_TYPES:
            return response_to(msg, 415, extra_headers=[("Accept", "Application/MANSRTSP")])
        try:
            command = mansrtsp.parse(msg.body)
        except mansrtsp.MansrtspError as exc:
            return response_to(msg, exc.status, extra_headers=[_warning(exc.detail)])
        replay = session.replay
        try:
            if command.method == "PAUSE":
                await replay.pause()
            elif command.method == "TEARDOWN":
                self._end(session, "TEARDOWN from the platform", bye=True)
            else:
                if command.scale is not None:
                    session.speed = mansrtsp.servable_scale(command.scale)
                at = None if command.seek_s is None else replay.start + command.seek_s
                scale = session.speed if command.scale is not None or at is not None else None
                answered = await replay.play(at=at, scale=scale, fast=session.kind == "download")
                if scale is not None:
                    session.speed = answered
        except ReplayError as exc:
            log.info(
                "GB/T 28181 uplink %s: %s of %s failed: %s", self.uplink_id, command.method, session.channel_id, exc
            )
            return response_to(msg, 503, extra_headers=[_warning("the recorder did not take the command")])
        body = f"MANSRTSP/1.0 200 OK\r\nCSeq: {command.cseq}\r\n"
        if command.method == "PLAY":
            body += f"Scale: {session.speed:g}\r\n"
        return response_to(msg, 200, body=body.encode(), content_type="Application/MANSRTSP")

    def on_cancel(self, msg: SipMessage) -> SipMessage:
        """CANCEL of an INVITE still being answered (RFC 3261 section 9.2): 200 here, 487 there."""
        pending = self._pending.get(msg.via_branch or "")
        if pending is None:
            return response_to(msg, 481)
        pending.set()
        return response_to(msg, 200)

    # --- camera state -----------------------------------------------------------------------------

    def camera_changed(self, camera_id: str, up: bool) -> None:
        """A camera that stops delivering video ends its sessions with our BYE (clause 9.2.3)."""
        if up:
            return
        for session in list(self.sessions.values()):
            if session.camera_id == camera_id and session.state != "ended" and session.kind == "live":
                self._end(session, "camera lost", bye=True)

    # --- the platform ---------------------------------------------------------------------------

    def platform_lost(self, reason: str) -> None:
        """The link failed (keepalives unanswered, refresh refused, connection lost): end every session.

        A platform that lost us has restarted or cannot be reached: its dialogs and media receivers
        are gone with it, and it opens new sessions once we are registered again. Streaming on would
        send video nobody receives, hold session slots, and count as forwarded in the ledger. No BYE:
        the platform either no longer knows the dialog (481) or cannot be reached at all.
        """
        for session in list(self.sessions.values()):
            self._end(session, f"platform lost: {reason}", bye=False)

    # --- ending -----------------------------------------------------------------------------------

    def _end(self, session: LiveSession, reason: str, *, bye: bool) -> None:
        if session.state == "ended":
            return
        was_streaming = session.state == "streaming"
        session.state = "ended"
        session.ended_reason = reason
        self.sessions.pop(session.dialog.id, None)
        session.sender.close()
        if session.subscription is not None:
            session.subscription.close()
        if session.feed is not None:
            self._streams.release(session.feed, audio=True)
            session.feed = None
        if session.replay is not None:
            self._close_later(session.replay)
        for task in (session.task, session.ack_timer):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self.counters["sessions_ended"] += int(was_streaming)
        self.counters["bytes_sent"] += session.sender.stats.bytes_sent
        log.info(
            "GB/T 28181 uplink %s: session for %s (%s) ended: %s, %d bytes sent",
            self.uplink_id,
            session.channel_id,
            session.camera_id,
            reason,
            session.sender.stats.bytes_sent,
        )
        if self._journal is not None and session.journal_id is not None:
            try:
                self._journal.session_ended(session.journal_id, time.time(), session.sender.stats.bytes_sent, reason)
            except Exception:
                log.exception("GB/T 28181 uplink %s: could not record a session end", self.uplink_id)
        if bye:
            self._spawn(self._send_bye(session), f"gb-bye-{session.channel_id}")

    async def _send_bye(self, session: LiveSession) -> None:
        link = self._link()
        if link is None:
            return
        try:
            resp = await link.send_request(link.in_dialog(session.dialog, "BYE"))
        except (TimeoutError, OSError, RuntimeError, ValueError) as exc:
            self.counters["byes_failed"] += 1
            log.info("GB/T 28181 uplink %s: BYE for %s not answered: %s", self.uplink_id, session.channel_id, exc)
            return
        self.counters["byes_sent"] += 1
        if resp.status is None or resp.status >= 300:
            log.info("GB/T 28181 uplink %s: BYE for %s answered %s", self.uplink_id, session.channel_id, resp.status)

    async def _expect_ack(self, session: LiveSession) -> None:
        await asyncio.sleep(self._ack_timeout_s)
        if session.state == "answered":
            # RFC 3261 section 13.3.1.4: no ACK for our 2xx means the dialog must be ended by BYE.
            self._end(session, "no ACK from the platform", bye=True)

    async def _stream(self, session: LiveSession, subscription: Subscription) -> None:
        reason = "the camera's stream ended"
        bye = True
        try:
            await session.sender.run(_packets(subscription))
        except MediaError as exc:
            reason = exc.reason
        except asyncio.CancelledError:
            bye = False  # ended by us (BYE, camera lost, stop): the caller decided already
            raise
        except Exception:
            log.exception("GB/T 28181 uplink %s: media of %s failed", self.uplink_id, session.channel_id)
            reason = "internal error"
        finally:
            if bye and session.state != "ended":
                self._end(session, reason, bye=True)

    async def _stream_replay(self, session: LiveSession, replay: Replay) -> None:
        """Play the span; at its end, MediaStatus 121 and BYE (clause 9.8.2)."""
        reason = "the recording's span ended"
        completed = False
        try:
            download = session.kind == "download"
            session.speed = await replay.play(
                at=replay.start, scale=session.speed if session.speed != 1.0 else None, fast=download
            )
            await session.sender.run(self._replay_packets(session, replay))
            completed = True
        except ReplayError as exc:
            reason = f"the recorder stopped: {exc.reason}"
        except MediaError as exc:
            reason = exc.reason
        except asyncio.CancelledError:
            raise  # ended by us (BYE, stop): the caller decided already
        except Exception:
            log.exception("GB/T 28181 uplink %s: replay of %s failed", self.uplink_id, session.channel_id)
            reason = "internal error"
        if session.state == "ended":
            return
        if completed:
            self.counters["replays_completed"] += 1
            await self._media_status(session)
        self._end(session, reason, bye=True)

    async def _replay_packets(self, session: LiveSession, replay: Replay) -> AsyncIterator[Packet]:
        async for frame in replay.frames():
            if frame.recorded is not None:
                if session.first_recorded is None:
                    session.first_recorded = frame.recorded
                session.position = frame.recorded
            yield frame.packet

    async def _media_status(self, session: LiveSession) -> None:
        """MediaStatus Notify 121 in the session's dialog: the span has been sent."""
        link = self._link()
        if link is None:
            return
        session.notify_sn += 1
        body = manscdp.media_status_notify(session.notify_sn, session.channel_id)
        try:
            request = link.in_dialog(session.dialog, "MESSAGE", body=body, content_type=manscdp.CONTENT_TYPE)
            resp = await link.send_request(request)
        except (TimeoutError, OSError, RuntimeError, ValueError) as exc:
            log.info(
                "GB/T 28181 uplink %s: MediaStatus for %s not answered: %s", self.uplink_id, session.channel_id, exc
            )
            return
        self.counters["media_status_sent"] += 1
        if resp.status is None or resp.status >= 300:
            log.info("GB/T 28181 uplink %s: MediaStatus answered %s", self.uplink_id, resp.status)

    async def stop(self) -> None:
        """End every session with BYE (sent and awaited, bounded), for a clean shutdown."""
        for session in list(self.sessions.values()):
            self._end(session, "gateway stopping", bye=True)
        tasks = list(self._tasks)
        if tasks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(3.0):
                    await asyncio.gather(*tasks, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()

    # --- helpers ----------------------------------------------------------------------------------

    def _find(self, msg: SipMessage) -> LiveSession | None:
        try:
            key = (msg.call_id, msg.to_tag or "", msg.from_tag or "")
        except SipError:
            return None
        return self.sessions.get(key)

    def _same_subject(self, channel_id: str, subject: str | None) -> list[LiveSession]:
        if not subject:
            return []
        return [s for s in self.sessions.values() if s.channel_id == channel_id and s.subject == subject]

    def _close_later(self, replay: Replay) -> None:
        self._spawn(replay.aclose(), f"gb-replay-close-{replay.camera_id}")

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def status(self) -> list[dict[str, Any]]:
        return [s.status() for s in self.sessions.values()]

    def bytes_sent(self) -> int:
        """Bytes sent by ended and running sessions, for the counter in /metrics."""
        return self.counters["bytes_sent"] + sum(s.sender.stats.bytes_sent for s in self.sessions.values())


async def _packets(subscription: Subscription) -> AsyncIterator[Packet]:
    async for packet in subscription:
        yield packet


def _user(uri: str) -> str:
    """The user part of a SIP URI: sip:34020000001320000001@3402000000 -> 34020000001320000001."""
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    return rest.split("@", 1)[0] if "@" in rest else ""


def _host_of(uri: str) -> str:
    host_port = uri.split("@", 1)[-1]
    if host_port.startswith("["):
        return host_port[1:].split("]", 1)[0]
    return host_port.rsplit(":", 1)[0]


def _new_ssrc(*, history: bool = False) -> str:
    """An SSRC when the offer has none: digit 1 is 0 for live, 1 for history (GB/T 28181 annex F)."""
    return ("1" if history else "0") + str(secrets.randbelow(10**9)).zfill(9)


def _span(offer: sdp.PlayOffer) -> tuple[float, float]:
    """The recorded span of a Playback or Download offer's t= line: seconds since 1970 per the standard;
    some platforms write NTP seconds (since 1900), recognised by their size."""
    start, end = float(offer.start), float(offer.stop)
    if start > NTP_UNIX_OFFSET:
        start, end = start - NTP_UNIX_OFFSET, end - NTP_UNIX_OFFSET
    return start, end


def _download_speed(offer: sdp.PlayOffer) -> float:
    """a=downloadspeed:<n> of a Download offer (GB/T 28181 clause 9.9), within 1..MAX_DOWNLOAD_SPEED."""
    try:
        speed = float(offer.attributes.get("downloadspeed", "1"))
    except ValueError:
        return 1.0
    return min(max(speed, 1.0), MAX_DOWNLOAD_SPEED) if speed == speed else 1.0


def _warning(text: str) -> tuple[str, str]:
    """RFC 3261 section 20.43: 399 is the code for miscellaneous warnings; the text is ours, never input."""
    clean = text.replace('"', "'").replace("\\", "/")[:120]
    return ("Warning", f'399 gateway "{clean}"')
