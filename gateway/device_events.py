"""Events cameras report themselves over ONVIF (motion, tamper, people, line crossing, intrusion,
alarm input; adapters/onvif/event_kinds.py): subscribed by PullPoint, stored.

The subscription is kept alive across camera reboots by the adapter's watch_events, which
recreates it when the camera forgets it. The latest tamper state of each camera is also kept in
memory (tamper_state): a camera that says its own lens is covered is evidence the picture checks
can weigh, and they run on other threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from adapters.onvif import OnvifClient, OnvifEvent, WatchStats, classify, watch_events
from gateway.config import CameraConfig, GatewayConfig
from gateway.errors import SecretUnavailableError
from gateway.storage import schema
from gateway.storage.db import Database

log = logging.getLogger(__name__)
RETRY_S = 60.0
# A momentary tamper message (Axis: one per blow or cover, never a "cleared") counts as tampering
# for this long: five rounds of the picture checks at the default quality_interval_s (60 s), so a
# verdict sees it even when a keyframe or two could not be checked.
TAMPER_PULSE_S = 300.0
# Chinese first, for the people on site; English second, for the rest.
KIND_LABELS: Final[dict[str, tuple[str, str]]] = {
    "tamper": ("遮挡/篡改", "Tamper"),
    "motion": ("移动侦测", "Motion"),
    "people": ("人员", "People"),
    "line_crossing": ("越线", "Line crossing"),
    "intrusion": ("区域入侵", "Intrusion"),
    "alarm_input": ("报警输入", "Alarm input"),
    "other": ("其他", "Other"),
}  # tests/unit/test_onvif_event_kinds.py checks that every EventKind has one


def kind_label(kind: str) -> str:
    """'遮挡/篡改 Tamper'; a kind stored by another version of the gateway is shown as it is."""
    zh_en = KIND_LABELS.get(kind)
    return f"{zh_en[0]} {zh_en[1]}" if zh_en else kind


@dataclass(frozen=True)
class TamperState:
    """What a camera last said about tampering. `since` is on the gateway's clock: when the camera
    said it (for a state reported at subscription, when we subscribed), not when it began."""

    active: bool
    since: float
    topic: str
    camera_time: datetime | None = None  # the camera's own clock, which may be off


@dataclass
class _TamperFlag:
    active: bool
    since: float
    topic: str
    momentary: bool
    camera_time: datetime | None


@dataclass(frozen=True)
class DeviceEventRow:
    """A stored device event as the camera page shows it."""

    ts: float
    kind: str
    label: str
    topic: str
    operation: str | None
    active: bool | None


def stored_active(topic: str, operation: str | None, data: Mapping[str, object] | None) -> bool | None:
    """`active` of a stored event, worked out again from what was stored (no column holds it)."""
    items = {str(k): str(v) for k, v in (data or {}).items() if k != "camera_time"}
    return classify(topic, items, operation).active


def latest_device_events(db: Database, camera_id: str, limit: int = 10) -> list[DeviceEventRow]:
    t = schema.device_events
    query = (
        select(t.c.ts, t.c.kind, t.c.topic, t.c.operation, t.c.data)
        .where(t.c.camera_id == camera_id)
        .order_by(t.c.ts.desc(), t.c.id.desc())
        .limit(limit)
    )
    with db.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        DeviceEventRow(
            r.ts, r.kind, kind_label(r.kind), r.topic, r.operation, stored_active(r.topic, r.operation, r.data)
        )
        for r in rows
    ]


@dataclass
class DeviceEventService:
    config: GatewayConfig
    db: Database
    stats: dict[str, WatchStats] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    # camera -> (topic, source items) -> flag: a camera may run several tamper detectors (one per
    # video source, a scene-change and a tamper rule); it is tampered while any of them says so.
    _tamper: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], _TamperFlag]] = field(default_factory=dict)
    _tamper_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cameras(self) -> list[CameraConfig]:
        if not self.config.onvif.events:
            return []
        return [c for c in self.config.cameras if c.enabled and c.source.onvif is not None]

    async def run(self) -> None:
        await asyncio.gather(*(self._watch(c) for c in self.cameras()))

    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    async def _watch(self, camera: CameraConfig) -> None:
        onvif = camera.source.onvif
        assert onvif is not None
        stats = self.stats.setdefault(camera.id, WatchStats())
        while not self._stop.is_set():
            try:
                user = camera.credentials.username if camera.credentials else None
                password = (
                    camera.credentials.password.resolve()
                    if camera.credentials and camera.credentials.password
                    else None
                )
                async with OnvifClient(
                    onvif.host, onvif.port, user, password, timeout_s=self.config.onvif.timeout_s
                ) as client:
                    await watch_events(client, lambda e: self._store(camera.id, e), stop=self._stop, stats=stats)
            except SecretUnavailableError as exc:
                log.error("camera %s: ONVIF events: %s", camera.id, exc)
            except Exception:
                # One camera's events must not end the others': report, wait, and try again.
                log.exception("camera %s: ONVIF events failed", camera.id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), RETRY_S)

    def tamper_state(self, camera_id: str, now: float | None = None) -> TamperState | None:
        """The camera's latest word on tampering; None when it never said (no ONVIF events, no tamper
        detector, or none reported since the gateway started). Safe from any thread."""
        with self._tamper_lock:
            flags = list(self._tamper.get(camera_id, {}).values())
        if not flags:
            return None
        now = time.time() if now is None else now
        states = []
        for f in flags:
            if f.momentary and f.active and now - f.since >= TAMPER_PULSE_S:
                states.append(TamperState(False, f.since + TAMPER_PULSE_S, f.topic, f.camera_time))
            else:
                states.append(TamperState(f.active, f.since, f.topic, f.camera_time))
        on = [s for s in states if s.active]
        # Tampered: since the oldest report still standing. Not tampered: since the latest all-clear.
        return min(on, key=lambda s: s.since) if on else max(states, key=lambda s: s.since)

    def tamper_active(self, camera_id: str, now: float | None = None) -> bool | None:
        """True while the camera reports tampering, False when it reports none, None when unknown."""
        state = self.tamper_state(camera_id, now)
        return None if state is None else state.active

    def _note_tamper(self, camera_id: str, event: OnvifEvent, now: float) -> None:
        key = (event.topic, tuple(sorted(event.source.items())))
        with self._tamper_lock:
            flags = self._tamper.setdefault(camera_id, {})
            if event.operation == "Deleted":  # the camera dropped that detector
                flags.pop(key, None)
                return
            if event.active is None:
                return
            old = flags.get(key)
            # A repeated "still tampered" must not move the start; a momentary blow restarts its window.
            if old is not None and old.active == event.active and not old.momentary:
                return
            momentary = event.classification.momentary
            flags[key] = _TamperFlag(event.active, now, event.topic, momentary, event.utc)

    async def _store(self, camera_id: str, event: OnvifEvent) -> None:
        received = time.time()
        if event.kind == "tamper":
            self._note_tamper(camera_id, event, received)
        data: dict[str, object] = {**event.source, **event.data}
        if event.utc is not None:
            # The camera's clock may be hours or a day off (the clock-offset check reports it):
            # kept for people, never used to file the event.
            data["camera_time"] = event.utc.isoformat()
        row = {
            "camera_id": camera_id,
            # History, queries and reports run on the gateway's clock: an event is filed when it arrived.
            "ts": received,
            "kind": event.kind,
            "topic": event.topic[:200],
            "operation": event.operation,
            "data": data,
        }
        try:
            await asyncio.to_thread(self._insert, row)
        except SQLAlchemyError as exc:
            log.error("camera %s: could not store an ONVIF event: %s", camera_id, exc)
        if event.kind == "tamper" and event.operation != "Deleted":
            if event.active is False:
                if event.operation != "Initialized":
                    log.info("camera %s: the camera reports the tampering ended (%s)", camera_id, event.topic)
            elif event.active or event.operation != "Initialized":
                # Also at subscription when the state then is "tampered": the lens may be covered now.
                log.warning("camera %s: the camera reports tampering (%s)", camera_id, event.topic)

    def _insert(self, row: dict[str, object]) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(schema.device_events.insert().values(**row))
