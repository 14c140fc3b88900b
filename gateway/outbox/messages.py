"""What the gateway tells MQTT brokers, webhooks and view libraries: the message kinds and their
JSON, one shape for every destination (docs/outbox.md documents it).

    {"id": "<site>:<kind>:<...>", "kind": "event|state|quality|health", "site": "...",
     "camera": "...", "created_at": 1732400000.123, "data": {...}}

`id` is the deduplication key: a message sent twice (after a crash or a lost acknowledgement)
carries the same id both times. Pure functions, tested without sockets.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from gateway.analytics.events import Event
from gateway.health.policy import QUALITY_PREFIX
from gateway.health.state import CameraStatus, is_up
from gateway.outbox.store import NewMessage, OutboxMessage


def event_message(event: Event, site_id: str) -> NewMessage:
    assert event.id is not None, "only stored events are sent"
    data: dict[str, Any] = {
        "event_id": event.id,
        "rule": event.rule_id,
        "kind": event.kind,
        "zone": event.zone_id,
        "at": event.at,
        "message": event.message,
        "frame": {"width": event.frame_width, "height": event.frame_height},
        "boxes": [
            {"x1": b.x1, "y1": b.y1, "x2": b.x2, "y2": b.y2, "score": round(b.score, 3), "track": b.track_id}
            for b in event.boxes
        ],
        "detail": event.detail,
        "has_snapshot": event.has_snapshot,
    }
    if event.has_snapshot:
        data["snapshot_path"] = f"/api/v1/events/{event.id}/snapshot"
    return NewMessage(
        kind="event",
        camera_id=event.camera_id,
        payload=data,
        created_at=event.at,
        event_id=event.id,
        event_kind=event.kind,
        # The event's own id: a receiver can ask the gateway's API about it, and a message rebuilt
        # from the same row can never get a second identity.
        msg_id=f"{site_id}:event:{event.id}",
    )


def state_messages(status: CameraStatus, previous: CameraStatus | None) -> list[NewMessage]:
    """The camera's state, and a quality message for each picture fault raised or cleared."""
    now = time.time()
    out = [
        NewMessage(
            kind="state",
            camera_id=status.camera_id,
            created_at=now,
            payload={
                "state": status.state.value,
                "up": is_up(status.state),
                "reason": status.reason,
                "faults": list(status.faults),
                "since": status.since,
                "previous": previous.state.value if previous is not None else None,
            },
        )
    ]
    if previous is None:
        return out
    before = {f for f in previous.faults if f.startswith(QUALITY_PREFIX)}
    after = {f for f in status.faults if f.startswith(QUALITY_PREFIX)}
    for fault, change in [
        *((f, "raised") for f in sorted(after - before)),
        *((f, "cleared") for f in sorted(before - after)),
    ]:
        out.append(
            NewMessage(
                kind="quality",
                camera_id=status.camera_id,
                created_at=now,
                payload={"check": fault.removeprefix(QUALITY_PREFIX), "change": change, "at": status.since},
            )
        )
    return out


def health_message(status: CameraStatus, expires_in_s: float) -> NewMessage:
    m = status.measured
    now = time.time()
    return NewMessage(
        kind="health",
        camera_id=status.camera_id,
        created_at=now,
        expires_at=now + expires_in_s,
        payload={
            "state": status.state.value,
            "up": is_up(status.state),
            "codec": m.codec,
            "profile": m.profile,
            "width": m.width,
            "height": m.height,
            "fps": m.fps,
            "bitrate_kbps": m.bitrate_kbps,
            "gop_frames": m.gop_frames,
            "keyframe_interval_s": m.keyframe_interval_s,
            "last_packet_at": status.last_packet_at,
            "reconnects": status.reconnects,
            "quality": [{"check": c.name, "state": c.state, "score": round(c.score, 3)} for c in m.quality],
        },
    )


def envelope(message: OutboxMessage, site_id: str) -> dict[str, Any]:
    return {
        "id": message.msg_id,
        "kind": message.kind,
        "site": site_id,
        "camera": message.camera_id,
        "created_at": message.created_at,
        "data": message.payload,
    }


def thumbnail(jpeg: bytes, width: int) -> bytes | None:
    """A smaller JPEG for inline use, or None when the picture cannot be read."""
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if picture is None or not picture.size:
        return None
    h, w = picture.shape[:2]
    if w > width:
        picture = cv2.resize(picture, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 75])
    return bytes(buf) if ok else None


def render_body(
    message: OutboxMessage,
    site_id: str,
    *,
    public_url: str | None,
    inline_width: int | None = None,
    snapshot: Callable[[int], bytes | None] | None = None,
) -> bytes:
    """The JSON a broker or webhook receives. Blocking when a thumbnail is asked for."""
    body = envelope(message, site_id)
    data = dict(message.payload)
    path = data.get("snapshot_path")
    if path and public_url:
        data["snapshot_url"] = public_url.rstrip("/") + path
    if inline_width and snapshot is not None and message.event_id is not None and data.get("has_snapshot"):
        jpeg = snapshot(message.event_id)
        small = thumbnail(jpeg, inline_width) if jpeg else None
        if small is not None:
            data["thumbnail_jpeg_base64"] = base64.b64encode(small).decode("ascii")
    body["data"] = data
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def render_bodies(
    messages: Sequence[OutboxMessage],
    site_id: str,
    *,
    public_url: str | None,
    inline_width: int | None,
    snapshot: Callable[[int], bytes | None],
) -> list[bytes]:
    """Bodies of a batch, thumbnails for events only. Blocking: call it in one thread hop per batch
    (thumbnails read the database and decode JPEGs)."""
    return [
        render_body(
            m,
            site_id,
            public_url=public_url,
            inline_width=inline_width if m.kind == "event" else None,
            snapshot=snapshot,
        )
        for m in messages
    ]
