"""A ticket message's payload as gateway/tickets/service.py makes it, for the channel tests."""

from __future__ import annotations

from typing import Any

from gateway.outbox.store import NewMessage

# 2026-12-07 08:30 and 09:35 in Asia/Shanghai.
SINCE = 1796603400.0
AT = 1796607300.0


def ticket_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "ticket_id": 7,
        "event": "opened",
        "camera_id": "east-gate-1",
        "camera_name": "东门 1 号摄像机",
        "zone_id": "east-gate",
        "zone_name": "东门",
        "zone_kind": "entrance",
        "fault": "offline",
        "detail": "refused",
        "since": SINCE,
        "at": AT,
        "level": 0,
        "contact_list": "duty",
        "acknowledged_by": None,
        "acknowledged_at": None,
        "note": None,
        "repair_s": None,
        "reopened": 0,
        "language": "zh-CN",
        "timezone": "Asia/Shanghai",
        "site_name": "第一中学",
    }
    payload.update(changes)
    payload.setdefault("link", f"https://gateway.school.example/tickets?id={payload['ticket_id']}")
    return payload


def ticket_message(site: str = "s1", camera: str = "cam1", **changes: Any) -> NewMessage:
    """A ticket message as the tickets service publishes it (its msg_id stable per change)."""
    payload = ticket_payload(camera_id=camera, **changes)
    change = f"{payload['ticket_id']}:{payload['event']}:{payload['reopened']}:{payload['level']}"
    return NewMessage(
        kind="ticket", camera_id=camera, payload=payload, created_at=payload["at"], msg_id=f"{site}:ticket:{change}"
    )
