"""A GA/T 1400 view library as an outbox destination: registration kept alive, detection events
uploaded as person records (and face records where a pose gave the head) with their pictures.

Record ids are built from the outbox message, never from a counter in memory, so a record resent
after a crash or a lost answer has the same PersonID and the view library can drop the repeat:
the scene ImageID is DeviceID + 02 + event time + (message id x 16) mod 100000, person and face
crops take the next slots, PersonID/FaceID are the ImageID + 01/06 + the person's index.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import numpy.typing as npt

from adapters.gat1400 import ids
from adapters.gat1400.client import (
    Gat1400AuthError,
    Gat1400Error,
    Gat1400ProtocolError,
    ViidClient,
    ViidSettings,
)
from adapters.gat1400.objects import IMAGE_FACE, IMAGE_PERSON, IMAGE_SCENE, Box, SubImage, face_object, person_object
from gateway.config import GatewayConfig
from gateway.config.outbox import Gat1400Uplink
from gateway.outbox.service import DeliveryReport
from gateway.outbox.store import OutboxMessage
from gateway.tasks import Watchdog

log = logging.getLogger(__name__)

MAX_PERSONS = 7  # per event: slots 1-7 of the 16 image ids a message owns are person crops, 8-14 faces
PROTOCOL_ATTEMPTS = 5  # a message the library keeps answering with garbage is refused after this many


@dataclass(frozen=True)
class Records:
    persons: list[dict[str, object]]
    faces: list[dict[str, object]]


def _jpeg(image: npt.NDArray[Any], quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buf)


def device_ids(config: GatewayConfig, gateway_device_id: str) -> dict[str, str]:
    """The GA/T 1400 DeviceID of each camera: a camera with a GB/T 28181 channel ID is its own
    capturing device (APE); the others record under the gateway's ID."""
    return {c.id: c.gb_channel_id or gateway_device_id for c in config.cameras}


def build_records(message: OutboxMessage, device_id: str, tz: ZoneInfo, snapshot: bytes | None, faces: bool) -> Records:
    """Person (and face) objects for one detection-event message. Pure apart from JPEG coding."""
    data = message.payload
    at = datetime.fromtimestamp(float(data["at"]), tz).replace(tzinfo=None)
    base_seq = (message.id * 16) % ids.SEQ_MODULO
    scene_id = ids.image_id(device_id, at, base_seq)
    frame_w, frame_h = int(data["frame"]["width"]), int(data["frame"]["height"])
    picture = None
    if snapshot is not None:
        decoded = cv2.imdecode(np.frombuffer(snapshot, np.uint8), cv2.IMREAD_COLOR)
        picture = decoded if decoded is not None and decoded.size else None
    scale_x = scale_y = 1.0
    scene: list[SubImage] = []
    if picture is not None:
        h, w = picture.shape[:2]
        scale_x, scale_y = w / frame_w, h / frame_h
        scene = [SubImage(scene_id, IMAGE_SCENE, snapshot or b"", w, h, at)]

    def crop(box: Sequence[float], slot: int, kind: str) -> list[SubImage]:
        if picture is None:
            return []
        x1, y1 = max(0, int(box[0] * scale_x)), max(0, int(box[1] * scale_y))
        x2, y2 = min(picture.shape[1], int(box[2] * scale_x)), min(picture.shape[0], int(box[3] * scale_y))
        if x2 - x1 < 2 or y2 - y1 < 2:
            return []
        part = picture[y1:y2, x1:x2]
        image_id = ids.image_id(device_id, at, (base_seq + slot) % ids.SEQ_MODULO)
        return [SubImage(image_id, kind, _jpeg(part), x2 - x1, y2 - y1, at)]

    persons: list[dict[str, object]] = []
    boxes = data.get("boxes", [])[:MAX_PERSONS]
    for i, b in enumerate(boxes):
        coords = (b["x1"], b["y1"], b["x2"], b["y2"])
        box = Box(int(coords[0]), int(coords[1]), int(coords[2]), int(coords[3]))
        images = [*scene, *crop(coords, 1 + i, IMAGE_PERSON)]
        persons.append(person_object(ids.person_id(scene_id, i + 1), device_id, scene_id, box, at, at, images))
    face_objs: list[dict[str, object]] = []
    if faces:
        heads = data.get("detail", {}).get("heads", [])[:MAX_PERSONS]
        for i, head in enumerate(heads):
            hx1, hy1, hx2, hy2 = (float(v) for v in head[:4])
            box = Box(int(hx1), int(hy1), int(hx2), int(hy2))
            images = crop((hx1, hy1, hx2, hy2), 1 + MAX_PERSONS + i, IMAGE_FACE)
            if images:
                face_objs.append(face_object(ids.face_id(scene_id, i + 1), device_id, scene_id, box, at, at, images))
    return Records(persons, face_objs)


class ViidRegistration:
    """Registration at a view library kept up: register (and ask its time), keepalive every
    `keepalive_s`, register again at once after a failed keepalive and every `retry_s` after a
    failed registration; unregister at stop. Shared by the direct uploader and the subscribed
    platform (gateway/outbox/gat1400_subscribed.py)."""

    def __init__(self, name: str, client: ViidClient, url: str, keepalive_s: float, retry_s: float) -> None:
        self.name, self.client, self.url = name, client, url
        self.keepalive_s, self.retry_s = keepalive_s, retry_s
        self.online = False
        self.retry_at = 0.0
        self.last_error: str | None = None
        self.registered_at: float | None = None
        self.keepalives = 0
        self._registering = asyncio.Lock()

    async def register(self) -> bool:
        # One Register at a time: the keepalive loop and several dispatchers may all find us offline.
        async with self._registering:
            if self.online:
                return True
            return await self._register()

    async def _register(self) -> bool:
        if time.monotonic() < self.retry_at:
            return False
        try:
            await self.client.register()
        except Gat1400Error as exc:
            self.lost(f"register failed: {exc}")
            return False
        self.online = True
        self.registered_at = time.time()
        self.last_error = None
        log.info("GA/T 1400 %s: registered at %s", self.name, self.url)
        try:
            await self.client.server_time()
            offset = self.client.clock_offset_s
            if offset is not None and abs(offset) > 5:
                log.warning("GA/T 1400 %s: the view library's clock is %+.0f s from ours", self.name, offset)
        except Gat1400Error as exc:
            log.info("GA/T 1400 %s: time query failed: %s", self.name, exc)
        return True

    def lost(self, reason: str, *, at_once: bool = False) -> None:
        if self.online or self.last_error != reason:
            log.warning("GA/T 1400 %s: %s", self.name, reason)
        self.online = False
        self.last_error = reason
        self.retry_at = 0.0 if at_once else time.monotonic() + self.retry_s

    async def keep(self) -> None:
        while True:
            if not self.online:
                await self.register()
                await asyncio.sleep(1.0 if self.online else max(0.5, self.retry_at - time.monotonic()))
                continue
            await asyncio.sleep(self.keepalive_s)
            try:
                await self.client.keepalive()
                self.keepalives += 1
            except Gat1400Error as exc:
                # The standard's answer to a lost keepalive: register again, at once.
                self.lost(f"keepalive failed: {exc}", at_once=True)

    async def unregister(self) -> None:
        if self.online:
            try:
                await asyncio.wait_for(self.client.unregister(), 3.0)
            except (Gat1400Error, TimeoutError) as exc:
                log.info("GA/T 1400 %s: unregister failed: %s", self.name, exc)
        self.online = False

    def status(self) -> dict[str, object]:
        return {
            "registered": self.online,
            "registered_at": self.registered_at,
            "keepalives": self.keepalives,
            "clock_offset_s": self.client.clock_offset_s,
        }


class Gat1400Destination:
    type = "gat1400"

    def __init__(
        self,
        uplink: Gat1400Uplink,
        config: GatewayConfig,
        snapshot: Callable[[int], bytes | None],
        *,
        password: str,
        watchdog: Watchdog | None = None,
    ) -> None:
        self.uplink = uplink
        self._watchdog = watchdog or Watchdog()
        self._snapshot = snapshot
        self._tz = ZoneInfo(config.site.timezone)
        self._device_of = device_ids(config, uplink.device_id)
        self._client = ViidClient(
            ViidSettings(
                base_url=uplink.url,
                device_id=uplink.device_id,
                username=uplink.username,
                password=password,
                timeout_s=uplink.timeout_s,
            )
        )
        self._registration = ViidRegistration(uplink.id, self._client, uplink.url, uplink.keepalive_s, uplink.retry_s)
        self._task: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        return self.uplink.id

    @property
    def connected(self) -> bool:
        return self._registration.online

    @property
    def last_error(self) -> str | None:
        return self._registration.last_error

    async def start(self) -> None:
        await self._client.open()
        self._task = self._watchdog.task(f"gat1400-{self.id}", self._registration.keep)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._registration.unregister()
        await self._client.close()

    async def deliver(self, messages: Sequence[OutboxMessage]) -> DeliveryReport:
        report = DeliveryReport()
        registration = self._registration
        if not registration.online and not await registration.register():
            report.failure = f"not registered: {registration.last_error or 'waiting to retry'}"
            return report
        for message in messages:
            if message.kind != "event" or not message.payload.get("boxes"):
                report.delivered.append(message.id)  # nothing a view library takes
                continue
            try:
                records = await asyncio.to_thread(self._records, message)
            except (ValueError, KeyError, TypeError) as exc:
                report.rejected.append((message.id, f"cannot build records: {exc}"))
                continue
            try:
                refused = await self._upload(records)
            except Gat1400AuthError as exc:
                registration.lost(f"upload refused, registering again: {exc}", at_once=True)
                report.failure = str(exc)
                return report
            except Gat1400ProtocolError as exc:
                if message.attempts + 1 >= PROTOCOL_ATTEMPTS:
                    report.rejected.append((message.id, f"unreadable answers: {exc}"))
                    continue
                report.failure = str(exc)
                return report
            except Gat1400Error as exc:
                # Unreachable: register again once it answers (it may have restarted meanwhile).
                registration.lost(f"upload failed: {exc}")
                report.failure = str(exc)
                return report
            if refused:
                report.rejected.append((message.id, "; ".join(refused)))
            else:
                report.delivered.append(message.id)
        return report

    def _records(self, message: OutboxMessage) -> Records:
        snapshot = self._snapshot(message.event_id) if message.event_id is not None else None
        device = self._device_of.get(message.camera_id or "", self.uplink.device_id)
        return build_records(message, device, self._tz, snapshot, self.uplink.faces)

    async def _upload(self, records: Records) -> list[str]:
        refused: list[str] = []
        if records.persons:
            for status in await self._client.upload_persons(records.persons):
                if not status.ok:
                    refused.append(f"{status.id}: {status.status_code} {status.status_string}")
        if records.faces:
            for status in await self._client.upload_faces(records.faces):
                if not status.ok:
                    refused.append(f"{status.id}: {status.status_code} {status.status_string}")
        return refused

    def status(self) -> dict[str, object]:
        return self._registration.status()
