"""GB/T 28181 uplinks: register the site to each upper platform, answer it, stream to it, alert it.

One PlatformLink per configured platform, all registering as the site's own ID (site.unit.gb_id).
A MESSAGE with a MANSCDP Query is answered 200 at once; the Response goes out afterwards as a new
MESSAGE request (GB/T 28181-2016 clause 9.5), a big catalog in parts, each part sent only once
the previous one got its 200. INVITE/ACK/BYE/CANCEL are live video (`sessions.py`), SUBSCRIBE the
catalog and alarm subscriptions (`subscriptions.py`). Camera state changes end sessions of lost
cameras, NOTIFY catalog subscribers ON/OFF, and raise alarms; detection events raise alarms too.
Nothing a platform sends may crash the gateway: malformed bodies get their 4xx, unknown commands a
200 that is otherwise ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters.gb28181 import manscdp
from adapters.gb28181.sip import SipMessage, new_call_id, new_tag, request, response_to
from adapters.gb28181.ua import LinkState, PlatformLink, PlatformSettings, route_to
from gateway import __version__
from gateway.analytics.events import Event
from gateway.config import GatewayConfig
from gateway.config.gb28181 import RETRY_S, Gb28181Uplink
from gateway.errors import GatewayError, SecretUnavailableError
from gateway.gb28181 import alarms
from gateway.gb28181.catalog import (
    GATEWAY_MANUFACTURER,
    GATEWAY_MODEL,
    UNKNOWN,
    DeviceInfoOf,
    catalog_changes,
    catalog_event,
    catalog_items,
    channel_lookup,
    selected_cameras,
    told,
)
from gateway.gb28181.control import PRESETS_PER_MESSAGE, PtzCommands
from gateway.gb28181.guard import Guard, RaisedAlarm
from gateway.gb28181.sessions import LiveVideo, SessionJournal
from gateway.gb28181.snapshots import SnapshotUploads, TakePicture
from gateway.gb28181.subscriptions import Subscriptions
from gateway.health.state import CameraState, CameraStatus, StateOf, is_up
from gateway.inventory import CameraInventory
from gateway.ptz import PtzControl
from gateway.recordings.replay import Replays
from gateway.streams.hub import StreamHub

log = logging.getLogger(__name__)

_QUERIES = frozenset(
    {
        "Catalog",
        "DeviceInfo",
        "DeviceStatus",
        "RecordInfo",
        "PresetQuery",
        "ConfigDownload",
        "Alarm",
        "HomePositionQuery",
        "PTZPosition",
    }
)
# Controls addressed to the system's own ID that mean "every channel".
_SYSTEM_CONTROLS = (manscdp.GuardControl, manscdp.AlarmResetControl)
# DeviceStatus: a recording whose newest recorded instant is this recent counts as recording now.
RECORDING_NOW_S = 300.0
# DeviceStatus waits this long for the recording device; past it, Record is left out.
RECORD_STATUS_TIMEOUT_S = 3.0
# Record types a platform may ask for; the recording devices tell recorded from not, not why it was.
_RECORD_TYPES_WE_KNOW = frozenset({"all", "time"})

# (camera id, start, end) -> its recorded spans in [start, end) (epoch seconds), or None when the
# camera's recordings are not configured. Raises GatewayError when the recording device fails.
RecordingSearch = Callable[[str, float, float], Awaitable[list[tuple[float, float]] | None]]
_COUNTERS = (
    "queries",
    "controls",
    "responses_sent",
    "responses_failed",
    "rejected",
    "ignored",
    "alarms_sent",
    "alarms_failed",
    "alarms_held_back",
)
ALLOW = "INVITE, ACK, BYE, CANCEL, INFO, MESSAGE, SUBSCRIBE"
# After the connect timeout, a camera's first reading is known: online, or offline with a reason.
FIRST_READING_GRACE_S = 2.0


class ForwardJournal(SessionJournal, Protocol):
    """The forwarding ledger as the uplinks use it: sessions, and registration intervals."""

    def link_registered(self, uplink_id: str, at: float) -> None: ...

    def link_unregistered(self, uplink_id: str, at: float, reason: str) -> None: ...

    def told_catalog(self, uplink_id: str) -> dict[str, dict[str, object]]: ...

    def catalog_told(self, uplink_id: str, items: dict[str, dict[str, object]], at: float) -> None: ...


class Uplink:
    """One platform: its link, its answers to queries, its counters."""

    def __init__(
        self,
        config: GatewayConfig,
        uplink: Gb28181Uplink,
        state_of: StateOf,
        device_info: DeviceInfoOf,
        streams: StreamHub,
        journal: ForwardJournal | None = None,
        recordings: RecordingSearch | None = None,
        replays: Replays | None = None,
        ptz: PtzControl | None = None,
        snapshot: TakePicture | None = None,
    ) -> None:
        self.config = config
        self._snapshots = SnapshotUploads(uplink.id, snapshot, self._now) if snapshot is not None else None
        self._ptz = PtzCommands(ptz, f"platform {uplink.id}") if ptz is not None else None
        self._recordings = recordings
        self.uplink = uplink
        self._state_of = state_of
        self._device_info = device_info
        self._journal = journal
        self.link: PlatformLink | None = None
        self.start_error: str | None = None
        self._state_seen = asyncio.Event()
        self.counters: dict[str, int] = dict.fromkeys(_COUNTERS, 0)
        self._tasks: set[asyncio.Task[None]] = set()
        self._channels = channel_lookup(config, uplink)
        self._cameras = {c.id: c for c in self._channels.values()}
        self._system_id = config.site.unit.gb_id or ""
        self._alarm_sn = 0
        self._status: dict[str, CameraStatus] = {}  # each camera's latest, from camera_changed
        self._control_locks: dict[str, asyncio.Lock] = {}
        self.guard = Guard(self._channels, armed=uplink.armed_at_start)
        # Catalog ADD/DEL/UPDATE since the last run, told to the first catalog subscription.
        self._changes: list[tuple[manscdp.CatalogItem, manscdp.CatalogEvent]] | None = None
        self.live = LiveVideo(
            uplink.id,
            self._channels,
            streams,
            state_of,
            lambda: self.link,
            max_sessions=uplink.max_sessions,
            media_ip=str(uplink.media_ip) if uplink.media_ip is not None else None,
            journal=journal,
            replays=replays,
        )
        self.subscriptions = Subscriptions(
            uplink.id, self._system_id, lambda: self.link, charset=uplink.charset, initial_catalog=self._initial_catalog
        )

    async def start(self) -> None:
        """Register once the channels' cameras have been read (in a task: the gateway's start does not
        wait for it)."""
        up = self.uplink
        try:
            password = up.password.resolve()
        except SecretUnavailableError as exc:
            self.start_error = str(exc)  # check-config catches this; a secret removed since start lands here
            log.error("GB/T 28181 uplink %s: not started: %s", up.id, exc)
            return
        self._spawn(self._register_when_read(password), f"gb28181-{up.id}-start")

    async def _first_reading(self) -> None:
        """Wait until no channel's camera is still connecting, at most the connect timeout and a moment.

        A platform fetches the catalog right after the registration, and one that does not subscribe
        keeps the states it read then: registering before the cameras were first read listed them all
        OFF (seen on an independent upper platform)."""
        cameras = [c.id for c in self._cameras.values() if c.enabled]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.supervisor.connect_timeout_s + FIRST_READING_GRACE_S):
                while any(self._state_of(cid) in (None, CameraState.CONNECTING) for cid in cameras):
                    self._state_seen.clear()
                    await self._state_seen.wait()  # set by camera_changed

    async def _register_when_read(self, password: str) -> None:
        up = self.uplink
        await self._first_reading()
        await self._load_changes()
        contact = await asyncio.to_thread(route_to, up.host, up.port)
        settings = PlatformSettings(
            server_id=up.server_id,
            server_host=up.host,
            server_port=up.port,
            server_domain=up.server_domain,
            device_id=self._system_id,
            password=password,
            transport=up.transport,
            local_port=up.local_port,
            expires_s=up.expires_s,
            keepalive_s=up.keepalive_s,
            keepalive_misses=up.keepalive_misses,
            retry_s=RETRY_S,
            contact_host=contact,
            zone=self._zone(),
            gb_version="3.0" if up.edition == "2022" else None,
        )
        link = PlatformLink(settings, self._on_request, on_ack=self.live.on_ack, on_state=self._link_state, allow=ALLOW)
        try:
            await link.start()
        except OSError as exc:  # the UDP port is taken: report it, keep the gateway running
            self.start_error = f"cannot listen on port {up.local_port}: {exc.strerror or exc}"
            log.error("GB/T 28181 uplink %s: not started: %s", up.id, self.start_error)
            return
        self.link = link
        log.info("GB/T 28181 uplink %s: registering to %s as %s", up.id, settings.target, self._system_id)

    async def stop(self) -> None:
        # BYE every session while the link can still carry it, then unregister.
        await self.live.stop()
        await self.subscriptions.stop()
        if self._ptz is not None:
            await self._ptz.tours.aclose()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.link is not None:
            await self.link.stop()

    def _link_state(self, state: LinkState, reason: str) -> None:
        if state == "failed":
            self.live.platform_lost(reason)
        if self._journal is None:
            return
        try:
            if state == "registered":
                self._journal.link_registered(self.uplink.id, time.time())
            else:
                self._journal.link_unregistered(self.uplink.id, time.time(), reason)
        except Exception:  # the ledger is for reports; the link must go on
            log.exception("GB/T 28181 uplink %s: could not record a registration change", self.uplink.id)

    # --- what happens on the site ---------------------------------------------------------------

    def camera_changed(self, status: CameraStatus, previous: CameraStatus | None) -> None:
        self._state_seen.set()
        camera = self._cameras.get(status.camera_id)
        if camera is None or camera.gb_channel_id is None:
            return
        self._status[camera.id] = status
        self.live.camera_changed(camera.id, is_up(status.state))
        event = catalog_event(status)
        if previous is not None and event != catalog_event(previous):
            channel = camera.gb_channel_id
            self.subscriptions.notify("Catalog", lambda sn: self._catalog_change(sn, channel, event))
        for alarm in alarms.from_state(status, previous, gb2022=self._speaks_2022()):
            self.raise_alarm(alarm)

    def _speaks_2022(self) -> bool:
        """2022 alarm codes go to a platform configured for 2022 that did not answer as a 2016 one."""
        if self.uplink.edition != "2022":
            return False
        version = self.link.platform_gb_version if self.link is not None else None
        return version is None or not version.startswith(("1.", "2."))

    def detection_event(self, event: Event) -> None:
        if event.camera_id in self._cameras:
            alarm = alarms.from_event(event)
            if alarm is not None:
                self.raise_alarm(alarm)

    def raise_alarm(self, alarm: alarms.Alarm) -> None:
        """Alarm Notify to this platform: by NOTIFY to its alarm subscriptions, or, with
        `alarms: always` and none, as a MESSAGE (clause 9.4)."""
        camera = self._cameras.get(alarm.camera_id)
        mode = self.uplink.alarms
        if camera is None or camera.gb_channel_id is None or mode == "off":
            return
        channel = camera.gb_channel_id
        raised = RaisedAlarm(
            channel, alarm.at, alarm.priority, alarm.method, alarm.alarm_type, alarm.description, alarm.event_type
        )
        if not self.guard.admit(raised):
            self.counters["alarms_held_back"] += 1
            return

        def body(sn: int) -> list[bytes]:
            return [
                manscdp.alarm_notify(
                    sn,
                    channel,
                    priority=alarm.priority,
                    method=alarm.method,
                    time=self._at(alarm.at),
                    description=alarm.description,
                    alarm_type=alarm.alarm_type,
                    event_type=alarm.event_type,
                    charset=self.uplink.charset,
                )
            ]

        if self.subscriptions.notify("Alarm", body):
            self.counters["alarms_sent"] += 1
            return
        if mode == "always" and self.link is not None and self.link.state == "registered":
            self._alarm_sn += 1
            self._spawn(self._send_alarm(body(self._alarm_sn)[0]), f"gb28181-{self.uplink.id}-alarm")

    async def _send_alarm(self, body: bytes) -> None:
        try:
            ok = await self._send(body)
        except Exception:  # an alarm that cannot go out is counted, never raised into the loop
            log.exception("GB/T 28181 uplink %s: alarm not sent", self.uplink.id)
            ok = False
        self.counters["alarms_sent" if ok else "alarms_failed"] += 1

    def _spawn(self, coro: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _catalog_change(self, sn: int, channel: str, event: manscdp.CatalogEvent) -> list[bytes]:
        items = [i for i in self._catalog() if i.device_id == channel]
        return [manscdp.catalog_notify(sn, self._system_id, [(i, event) for i in items], charset=self.uplink.charset)]

    def _notify_bodies(self, sn: int, pairs: list[tuple[manscdp.CatalogItem, manscdp.CatalogEvent]]) -> list[bytes]:
        per = self.uplink.catalog_per_message
        return [
            manscdp.catalog_notify(sn, self._system_id, pairs[k : k + per], charset=self.uplink.charset)
            for k in range(0, len(pairs), per)
        ]

    def _initial_catalog(self, sn: int) -> list[bytes]:
        """The first NOTIFYs of a catalog subscription: what changed since the last run (ADD, DEL,
        UPDATE, told once), then every channel's state (ON, OFF, VLOST, DEFECT)."""
        bodies: list[bytes] = []
        if self._changes:
            bodies += self._notify_bodies(sn, self._changes)
            self._changes = None
            self._spawn(self._save_told(), f"gb28181-{self.uplink.id}-catalog-told")
        event_of = {c.gb_channel_id: catalog_event(self._status_of(c.id)) for c in self._channels.values()}
        pairs = [(i, event_of.get(i.device_id, "OFF")) for i in self._catalog() if i.device_id != self._system_id]
        states = self._notify_bodies(sn, pairs) or [
            manscdp.catalog_notify(sn, self._system_id, [], charset=self.uplink.charset)
        ]
        return bodies + states

    async def _load_changes(self) -> None:
        """Compare the catalog with what the platform was told in an earlier run."""
        if self._journal is None:
            return
        try:
            before = await asyncio.to_thread(self._journal.told_catalog, self.uplink.id)
        except Exception:  # the catalog still works; only the ADD/DEL events are lost
            log.exception("GB/T 28181 uplink %s: could not read the catalog last told", self.uplink.id)
            return
        items = [i for i in self._catalog() if i.device_id != self._system_id]
        if not before:  # the first run: the platform learns the channels from its catalog query
            await self._save_told()
            return
        self._changes = catalog_changes(before, items)
        if self._changes:
            log.info(
                "GB/T 28181 uplink %s: catalog changed since the last run: %s",
                self.uplink.id,
                ", ".join(f"{e} {i.device_id}" for i, e in self._changes),
            )
        else:
            self._changes = None

    async def _save_told(self) -> None:
        if self._journal is None:
            return
        now = {i.device_id: told(i) for i in self._catalog() if i.device_id != self._system_id}
        try:
            await asyncio.to_thread(self._journal.catalog_told, self.uplink.id, now, time.time())
        except Exception:
            log.exception("GB/T 28181 uplink %s: could not store the catalog told", self.uplink.id)

    def _catalog(self) -> list[manscdp.CatalogItem]:
        return catalog_items(self.config, self.uplink, self._state_of, self._device_info)

    # --- requests from the platform -------------------------------------------------------------

    async def _on_request(self, msg: SipMessage) -> SipMessage | None:
        method = msg.method
        if method == "INVITE":
            return await self.live.on_invite(msg)
        if method == "BYE":
            return self.live.on_bye(msg)
        if method == "CANCEL":
            return self.live.on_cancel(msg)
        if method == "INFO":
            return await self.live.on_info(msg)
        if method == "SUBSCRIBE":
            return self._on_subscribe(msg)
        if method != "MESSAGE":
            return None  # the link answers 405 with Allow
        body = self._manscdp(msg)
        if isinstance(body, SipMessage):
            return body
        if body.root == "Control" and body.cmd_type in ("DeviceControl", "DeviceConfig"):
            return self._on_control(msg, body)
        if body.root != "Query" or body.cmd_type not in _QUERIES:
            self.counters["ignored"] += 1
            log.debug("GB/T 28181 uplink %s: ignored %s %s", self.uplink.id, body.root, body.cmd_type)
            return response_to(msg, 200)
        if body.cmd_type in ("RecordInfo", "Alarm"):
            try:  # a malformed time is refused now, with the MESSAGE, not silently later
                if body.cmd_type == "RecordInfo":
                    self._record_window(body)
                else:
                    manscdp.alarm_query(body)
            except manscdp.ManscdpError as exc:
                self.counters["rejected"] += 1
                log.info("GB/T 28181 uplink %s: refused a RecordInfo: %s", self.uplink.id, exc.detail)
                return response_to(msg, exc.status, extra_headers=[("Warning", f'399 gateway "{exc.detail}"')])
        self.counters["queries"] += 1
        # The link sends our 200 as soon as this returns; the task runs after that (same loop).
        self._spawn(self._answer(body), f"gb28181-{self.uplink.id}-{body.cmd_type}")
        return response_to(msg, 200)

    def _on_control(self, msg: SipMessage, body: manscdp.Manscdp) -> SipMessage:
        """DeviceControl: refused now when it cannot be carried out (an unknown channel, a malformed
        command), else 200 and carried out after, with the answers the standard asks for."""
        try:
            controls = manscdp.device_control(body)
        except manscdp.ManscdpError as exc:
            self.counters["rejected"] += 1
            log.info("GB/T 28181 uplink %s: refused a DeviceControl: %s", self.uplink.id, exc.detail)
            return response_to(msg, exc.status, extra_headers=[("Warning", f'399 gateway "{exc.detail}"')])
        camera = self._channels.get(body.device_id)
        to_system = body.device_id == self._system_id and all(isinstance(c, _SYSTEM_CONTROLS) for c in controls)
        if camera is None and not (to_system and controls):
            self.counters["rejected"] += 1
            return response_to(msg, 404, extra_headers=[("Warning", '399 gateway "no such channel"')])
        self.counters["controls"] += 1
        camera_id = camera.id if camera is not None else None
        self._spawn(self._control(body, camera_id, controls), f"gb28181-{self.uplink.id}-control")
        return response_to(msg, 200)

    async def _control(self, body: manscdp.Manscdp, camera_id: str | None, controls: list[manscdp.Control]) -> None:
        results: list[bool | None] = []
        # One platform's commands to one target are carried out in the order they came (a move, then
        # its stop): each task takes the target's lock first thing, and asyncio's locks are FIFO.
        async with self._control_locks.setdefault(body.device_id, asyncio.Lock()):
            for control in controls:
                results.append(await self._one_control(body.device_id, camera_id, control))
        answers = [ok for ok in results if ok is not None]
        if not answers and body.cmd_type == "DeviceConfig":
            answers = [False]  # a configuration we do not take (BasicParam, video settings...): say so
        if answers:
            reply = manscdp.result_response(
                body.cmd_type, body.sn, body.device_id, ok=all(answers), charset=self.uplink.charset
            )
            self.counters["responses_sent" if await self._send(reply) else "responses_failed"] += 1

    async def _one_control(self, target: str, camera_id: str | None, control: manscdp.Control) -> bool | None:
        """One command: True done, False refused or failed (answered Result ERROR), None when the
        standard asks for no answer."""
        if isinstance(control, manscdp.GuardControl):
            self.guard.set_guard(target, control.armed)
            log.info("GB/T 28181 uplink %s: %s %s", self.uplink.id, "armed" if control.armed else "disarmed", target)
            return True
        if isinstance(control, manscdp.AlarmResetControl):
            self.guard.reset_alarm(target)
            return True
        if camera_id is None:
            return False
        if isinstance(control, manscdp.PtzControl | manscdp.HomePositionControl):
            if self._ptz is None:
                log.info("GB/T 28181 uplink %s: DeviceControl for %s: PTZ is not wired", self.uplink.id, camera_id)
                return None if isinstance(control, manscdp.PtzControl) else False
            return (await self._ptz.run(camera_id, [control]))[0]
        if isinstance(control, manscdp.SnapShotConfigControl):
            return self._start_snapshots(camera_id, target, control)
        if isinstance(control, manscdp.IFrameControl):
            # The picture is the camera's own stream, passed through: a new session already starts at
            # a keyframe, and the camera's GOP sets the next one. Nothing to do, nothing to answer.
            return None
        # RecordCmd (the recording is the NVR's, not ours to start), TeleBoot (the gateway does not
        # restart itself on a platform's word).
        log.info("GB/T 28181 uplink %s: %s for %s refused", self.uplink.id, type(control).__name__, camera_id)
        return False

    def _start_snapshots(self, camera_id: str, channel_id: str, control: manscdp.SnapShotConfigControl) -> bool:
        """Accept a SnapShotConfig (Result OK now) and take the pictures after; False when refused."""
        if self._snapshots is None:
            return False
        refusal = self._snapshots.check(control)
        if refusal is not None:
            log.info("GB/T 28181 uplink %s: SnapShotConfig for %s refused: %s", self.uplink.id, camera_id, refusal)
            return False
        self._spawn(self._snapshot_session(camera_id, channel_id, control), f"gb28181-{self.uplink.id}-snapshots")
        return True

    async def _snapshot_session(self, camera_id: str, channel_id: str, control: manscdp.SnapShotConfigControl) -> None:
        assert self._snapshots is not None
        uploaded = await self._snapshots.run(camera_id, channel_id, control)
        if not uploaded:
            log.warning("GB/T 28181 uplink %s: no snapshot of %s arrived; none reported", self.uplink.id, camera_id)
            return
        self._alarm_sn += 1
        notify = manscdp.upload_snapshot_finished_notify(
            self._alarm_sn, channel_id, session_id=control.session_id, file_ids=uploaded, charset=self.uplink.charset
        )
        self.counters["responses_sent" if await self._send(notify) else "responses_failed"] += 1

    def _on_subscribe(self, msg: SipMessage) -> SipMessage:
        query = self._manscdp(msg)
        return query if isinstance(query, SipMessage) else self.subscriptions.on_subscribe(msg, query)

    def _manscdp(self, msg: SipMessage) -> manscdp.Manscdp | SipMessage:
        """The request's MANSCDP body, or the 4xx to answer when it has none we can read."""
        if msg.content_type != manscdp.CONTENT_TYPE.lower():
            self.counters["rejected"] += 1
            return response_to(msg, 415, extra_headers=[("Accept", manscdp.CONTENT_TYPE)])
        try:
            return manscdp.parse(msg.body)
        except manscdp.ManscdpError as exc:
            self.counters["rejected"] += 1
            log.info("GB/T 28181 uplink %s: refused a %s: %s", self.uplink.id, msg.method, exc)
            return response_to(msg, exc.status)

    def _record_window(self, query: manscdp.Manscdp) -> tuple[float, float]:
        """The query's [StartTime, EndTime) as epoch seconds; its times are the site's wall-clock time."""
        start = manscdp.parse_query_time(query.field("StartTime"), "StartTime")
        end = manscdp.parse_query_time(query.field("EndTime"), "EndTime")
        tz = self._zone()
        a = (start if start.tzinfo else start.replace(tzinfo=tz)).timestamp()
        b = (end if end.tzinfo else end.replace(tzinfo=tz)).timestamp()
        if b <= a:
            raise manscdp.ManscdpError(400, "EndTime is not after StartTime")
        return a, b

    async def _preset_query(self, query: manscdp.Manscdp) -> list[bytes]:
        """PresetQuery: the channel's camera's presets, numbered as GB/T 28181 numbers them; none when
        the camera has no PTZ or cannot be reached (the platform then sees an empty list)."""
        camera = self._channels.get(query.device_id)
        if camera is None:
            return []
        presets: list[tuple[int, str]] = []
        if self._ptz is not None:
            try:
                presets = await self._ptz.preset_list(camera.id)
            except GatewayError as exc:
                log.info("GB/T 28181 uplink %s: presets of %s: %s", self.uplink.id, camera.id, exc)
        return manscdp.preset_query_responses(
            query.sn, query.device_id, presets, PRESETS_PER_MESSAGE, charset=self.uplink.charset
        )

    async def _ptz_query(self, query: manscdp.Manscdp) -> list[bytes]:
        """HomePositionQuery and PTZPosition (GB/T 28181-2022) of a channel's camera. PTZPosition of a
        camera without PTZ or out of reach gets no answer: the platform's query times out, as it would
        at a device that has no PTZ."""
        camera = self._channels.get(query.device_id)
        if camera is None or self._ptz is None:
            return []
        charset = self.uplink.charset
        if query.cmd_type == "HomePositionQuery":
            enabled, reset_time, index = self._ptz.home_position(camera.id)
            return [
                manscdp.home_position_response(
                    query.sn,
                    query.device_id,
                    enabled=enabled,
                    reset_time=reset_time,
                    preset_index=index,
                    charset=charset,
                )
            ]
        try:
            found = await self._ptz.position(camera.id)
        except GatewayError as exc:
            log.info("GB/T 28181 uplink %s: position of %s: %s", self.uplink.id, camera.id, exc)
            return []
        if found is None:
            return []
        pan, tilt, zoom = found
        return [
            manscdp.ptz_position_response(query.sn, query.device_id, pan=pan, tilt=tilt, zoom=zoom, charset=charset)
        ]

    def _alarm_query(self, query: manscdp.Manscdp) -> list[bytes]:
        """Query Alarm: Result OK, then each kept alarm that matches, as the Alarm Notify it was (the
        2016 text gives the query no list of its own; platforms file these as they file any alarm)."""
        camera = self._channels.get(query.device_id)
        if camera is None and query.device_id != self._system_id:
            return []
        conditions = manscdp.alarm_query(query)
        charset = self.uplink.charset
        bodies = [manscdp.result_response("Alarm", query.sn, query.device_id, charset=charset)]
        for alarm in self.guard.recent(conditions, self._zone(), None if camera is None else query.device_id):
            self._alarm_sn += 1
            bodies.append(
                manscdp.alarm_notify(
                    self._alarm_sn,
                    alarm.channel_id,
                    priority=alarm.priority,
                    method=alarm.method,
                    time=self._at(alarm.at),
                    description=alarm.description,
                    alarm_type=alarm.alarm_type,
                    event_type=alarm.event_type,
                    charset=charset,
                )
            )
        return bodies

    async def _device_status(self, query: manscdp.Manscdp) -> list[bytes]:
        """DeviceStatus as things are. The system: online while it answers, in error when a channel's
        camera is, with every channel's duty (armed, disarmed, in alarm). A channel: its camera's state,
        the reason when it is not OK, Encode on while video comes, Record as its recording device
        says (left out when recordings are not configured or the device does not answer in time)."""
        target, charset = query.device_id, self.uplink.charset
        camera = self._channels.get(target)
        if camera is None and target != self._system_id:
            return []
        if camera is None:
            troubled = [c.name for c in self._channels.values() if c.enabled and not self._channel_ok(c.id)]
            reason = ("cameras not OK: " + ", ".join(troubled[:10]))[:200] if troubled else ""
            return [
                manscdp.device_status_response(
                    query.sn,
                    target,
                    online=True,
                    status_ok=not troubled,
                    reason=reason,
                    device_time=self._now(),
                    alarm_status=self.guard.duties(),
                    charset=charset,
                )
            ]
        status = self._status_of(camera.id)
        up_now = status is not None and is_up(status.state)
        return [
            manscdp.device_status_response(
                query.sn,
                target,
                online=up_now,
                status_ok=self._channel_ok(camera.id),
                reason=self._status_reason(status),
                device_time=self._now(),
                encode=up_now,
                record=await self._recording_now(camera.id),
                alarm_status=[(target, self.guard.duty(target))],
                charset=charset,
            )
        ]

    def _channel_ok(self, camera_id: str) -> bool:
        return catalog_event(self._status_of(camera_id)) == "ON"

    def _status_of(self, camera_id: str) -> CameraStatus | None:
        """The camera's last status as told to camera_changed; before any, its state alone."""
        status = self._status.get(camera_id)
        if status is not None:
            return status
        state = self._state_of(camera_id)
        return None if state is None else CameraStatus(camera_id, state, None, 0.0)

    @staticmethod
    def _status_reason(status: CameraStatus | None) -> str:
        if status is None:
            return "not read yet"
        if catalog_event(status) == "ON":
            return ""
        faults = [f.removeprefix("quality:").replace("_", " ") for f in status.faults]
        return "; ".join(x for x in (status.state.value, status.reason or "", ", ".join(faults)) if x)[:200]

    async def _recording_now(self, camera_id: str) -> bool | None:
        if self._recordings is None:
            return None
        now = time.time()
        try:
            async with asyncio.timeout(RECORD_STATUS_TIMEOUT_S):
                spans = await self._recordings(camera_id, now - 3600.0, now + 60.0)
        except (GatewayError, TimeoutError) as exc:
            log.info("GB/T 28181 uplink %s: recording status of %s: %s", self.uplink.id, camera_id, exc)
            return None
        if spans is None:
            return None
        return any(end >= now - RECORDING_NOW_S for _, end in spans)

    async def _record_info(self, query: manscdp.Manscdp) -> list[bytes]:
        """RecordInfo (the query and its response, GB/T 28181-2016 annex A): the channel's recorded spans
        in the asked range, from its recording device, each one item."""
        camera = self._channels.get(query.device_id)
        if camera is None:
            return []
        start, end = self._record_window(query)
        kind = (query.field("Type") or "all").strip().lower()
        spans: list[tuple[float, float]] | None = []
        if kind in _RECORD_TYPES_WE_KNOW and self._recordings is not None:
            try:
                spans = await self._recordings(camera.id, start, end)
            except GatewayError as exc:  # the platform hears "none": an answer it can read
                log.warning("GB/T 28181 uplink %s: RecordInfo for %s: %s", self.uplink.id, camera.id, exc)
                spans = []
        items = [
            manscdp.RecordItem(
                device_id=query.device_id,
                name=camera.name,
                start=self._at(a),
                end=self._at(b),
                file_path=f"{camera.id}/{int(a)}-{int(b)}",
                address=camera.location or "",
                recorder_id=query.device_id,
            )
            for a, b in spans or []
        ]
        up = self.uplink
        return manscdp.record_info_responses(
            query.sn, query.device_id, camera.name, items, up.catalog_per_message, charset=up.charset
        )

    async def _answer(self, query: manscdp.Manscdp) -> None:
        try:
            if query.cmd_type == "RecordInfo":
                bodies = await self._record_info(query)
            elif query.cmd_type == "PresetQuery":
                bodies = await self._preset_query(query)
            elif query.cmd_type in ("HomePositionQuery", "PTZPosition"):
                bodies = await self._ptz_query(query)
            elif query.cmd_type == "Alarm":
                bodies = self._alarm_query(query)
            elif query.cmd_type == "DeviceStatus":
                bodies = await self._device_status(query)
            else:
                bodies = self._responses(query)
            if not bodies:
                self.counters["ignored"] += 1
                log.debug("GB/T 28181 uplink %s: %s for unknown ID %s", self.uplink.id, query.cmd_type, query.device_id)
                return
            for part in bodies:
                if not await self._send(part):
                    self.counters["responses_failed"] += 1
                    return  # the rest would only confuse a platform that lost the thread
                self.counters["responses_sent"] += 1
        except Exception:  # an answer that fails must not take the link or the gateway with it
            log.exception("GB/T 28181 uplink %s: answering %s failed", self.uplink.id, query.cmd_type)
            self.counters["responses_failed"] += 1

    def _responses(self, query: manscdp.Manscdp) -> list[bytes]:
        up, sn, target = self.uplink, query.sn, query.device_id
        charset = up.charset
        camera = self._channels.get(target)
        if target != self._system_id and camera is None:
            return []
        if query.cmd_type == "ConfigDownload":
            # BasicParam (wvp asks for it when a lower platform first registers): what we registered
            # with. Other configuration types (video, SVAC, ...) are the cameras' own; not answered.
            wanted = {t.strip() for t in (query.field("ConfigType") or "").split("/")}
            if "BasicParam" not in wanted:
                return []
            name = self.config.site.name if camera is None else camera.name
            return [
                manscdp.config_download_basic_param(
                    sn,
                    target,
                    name=name,
                    expiration=up.expires_s,
                    heartbeat_interval=max(1, round(up.keepalive_s)),
                    heartbeat_count=up.keepalive_misses,
                    charset=charset,
                )
            ]
        if query.cmd_type == "Catalog":
            items = catalog_items(self.config, up, self._state_of, self._device_info)
            if camera is not None:  # a channel's catalog: itself only
                items = [i for i in items if i.device_id == target]
            return manscdp.catalog_responses(sn, target, items, up.catalog_per_message, charset=charset)
        if query.cmd_type == "DeviceInfo":
            if camera is None:
                return [
                    manscdp.device_info_response(
                        sn,
                        target,
                        name=self.config.site.name,
                        manufacturer=GATEWAY_MANUFACTURER,
                        model=GATEWAY_MODEL,
                        firmware=__version__,
                        channels=len(selected_cameras(self.config, up)),
                        charset=charset,
                    )
                ]
            manufacturer, model = self._device_info(camera.id)
            return [
                manscdp.device_info_response(
                    sn,
                    target,
                    name=camera.name,
                    manufacturer=manufacturer or UNKNOWN,
                    model=model or UNKNOWN,
                    firmware=UNKNOWN,
                    channels=1,
                    charset=charset,
                )
            ]
        return []

    def _now(self) -> datetime:
        return self._at(time.time())

    def _zone(self) -> tzinfo:
        try:
            return ZoneInfo(self.config.site.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return datetime.now().astimezone().tzinfo or UTC

    def _at(self, ts: float) -> datetime:
        """The site's wall-clock time: MANSCDP times carry no zone, and the platform reads them as local."""
        return datetime.fromtimestamp(ts, self._zone())

    async def _send(self, body: bytes) -> bool:
        """One Response MESSAGE as a client transaction; True when the platform answered 2xx."""
        link = self.link
        addr = link.local_addr if link is not None else None
        if link is None or addr is None:
            return False
        s = link.settings
        host = s.contact_host or addr[0]
        server_uri = f"sip:{s.server_id}@{s.server_domain}"
        msg = request(
            "MESSAGE",
            server_uri,
            via_host=host,
            via_port=addr[1],
            transport=s.transport,
            from_uri=f"sip:{s.device_id}@{s.server_domain}",
            from_tag=new_tag(),
            to_uri=server_uri,
            call_id=new_call_id(host),
            cseq=1,
            body=body,
            content_type=manscdp.CONTENT_TYPE,
            user_agent=s.user_agent,
        )
        try:
            resp = await link.send_request(msg)
        except (TimeoutError, OSError, RuntimeError) as exc:
            log.warning("GB/T 28181 uplink %s: response MESSAGE not delivered: %s", self.uplink.id, exc)
            return False
        status = resp.status or 0
        if not 200 <= status < 300:
            log.warning("GB/T 28181 uplink %s: platform answered %d to our response MESSAGE", self.uplink.id, status)
            return False
        return True

    # --- status ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        up, link = self.uplink, self.link
        base: dict[str, Any] = {
            "id": up.id,
            "protocol": "gb28181",
            "server_id": up.server_id,
            "target": f"{up.host}:{up.port} ({up.transport})",
            "transport": up.transport,
            "channels": len(selected_cameras(self.config, up)),
        }
        if link is None:
            return {
                **base,
                "state": "failed",
                "reason": self.start_error or "not started",
                "last_failure": self.start_error,
                "registered_at": None,
                "expires_at": None,
                "last_keepalive_ok": None,
                "keepalive_misses": 0,
                "time_offset_s": None,
                "platform_gb_version": None,
                "counters": self._counters(),
                "sessions": [],
                "subscriptions": [],
            }
        return {
            **base,
            "state": link.state,
            "reason": link.reason,
            "last_failure": link.last_failure,
            "registered_at": link.registered_at,
            "expires_at": link.expires_at,
            "last_keepalive_ok": link.last_keepalive_ok,
            "keepalive_misses": link.keepalive_misses,
            "time_offset_s": link.time_offset_s,
            "platform_gb_version": link.platform_gb_version,
            "counters": {**link.counters, **self._counters(), "dropped": link.dropped},
            "sessions": self.live.status(),
            "subscriptions": self.subscriptions.status(),
        }

    def _counters(self) -> dict[str, int]:
        return {
            **self.counters,
            **self.live.counters,
            "bytes_sent": self.live.bytes_sent(),
            **self.subscriptions.counters,
            **(self._snapshots.counters if self._snapshots is not None else {}),
        }


class Gb28181Service:
    """Every configured GB/T 28181 uplink; nothing starts before `start()`."""

    def __init__(
        self,
        config: GatewayConfig,
        state_of: StateOf,
        device_info: DeviceInfoOf,
        streams: StreamHub,
        journal: ForwardJournal | None = None,
        recordings: RecordingSearch | None = None,
        replays: Replays | None = None,
        ptz: PtzControl | None = None,
        snapshot: TakePicture | None = None,
    ) -> None:
        self.uplinks = [
            Uplink(config, up, state_of, device_info, streams, journal, recordings, replays, ptz, snapshot)
            for up in config.uplinks.gb28181
        ]

    def camera_changed(self, status: CameraStatus, previous: CameraStatus | None) -> None:
        """A HealthTracker listener (event loop thread)."""
        for uplink in self.uplinks:
            try:
                uplink.camera_changed(status, previous)
            except Exception:  # one uplink's trouble must not reach the tracker or the others
                log.exception("GB/T 28181 uplink %s: state change not handled", uplink.uplink.id)

    def detection_event(self, event: Event) -> None:
        """An analytics event listener (called on the event loop)."""
        for uplink in self.uplinks:
            try:
                uplink.detection_event(event)
            except Exception:
                log.exception("GB/T 28181 uplink %s: event not handled", uplink.uplink.id)

    async def start(self) -> None:
        for uplink in self.uplinks:
            await uplink.start()

    async def stop(self) -> None:
        # Unregister from all platforms at once: each may take a round trip, and stop is on a clock.
        await asyncio.gather(*(u.stop() for u in self.uplinks), return_exceptions=True)

    def status(self) -> list[dict[str, Any]]:
        return [u.status() for u in self.uplinks]


def device_info_from(latest: Mapping[str, CameraInventory]) -> DeviceInfoOf:
    """(manufacturer, model) of a camera from its last ONVIF reading (a live view of `latest`)."""

    def info(camera_id: str) -> tuple[str | None, str | None]:
        reading = latest.get(camera_id)
        if reading is None or reading.inventory is None:
            return None, None
        return reading.inventory.info.manufacturer, reading.inventory.info.model

    return info
