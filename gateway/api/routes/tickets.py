"""Hidden-danger tickets (gateway/tickets/): every role reads those of the cameras it may see; the unit's
own people (admin, operator) acknowledge them, each acknowledgement in the audit log. A ticket of a
camera not granted answers like one that does not exist."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.access import Access
from gateway.api.deps import AccessDep, RuntimeDep, current_access
from gateway.auth import Role
from gateway.errors import NotFoundError, PermissionDeniedError
from gateway.i18n import _

router = APIRouter(tags=["tickets"])

_ACKNOWLEDGERS = frozenset({Role.ADMIN, Role.OPERATOR})


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=500, description="What is being done about it")


def _acknowledger(access: Annotated[Access, Depends(current_access)]) -> Access:
    if access.user.role not in _ACKNOWLEDGERS:
        raise PermissionDeniedError(_("only the unit's admins and operators acknowledge tickets"))
    return access


AckDep = Annotated[Access, Depends(_acknowledger)]


@router.get("/api/v1/tickets")
async def list_tickets(
    runtime: RuntimeDep,
    access: AccessDep,
    state: Annotated[Literal["open", "closed", "all"], Query()] = "all",
    camera: Annotated[str | None, Query(max_length=64)] = None,
    zone: Annotated[str | None, Query(max_length=64)] = None,
    start: Annotated[float | None, Query(ge=0, description="Alive at or after (epoch s)")] = None,
    end: Annotated[float | None, Query(ge=0, description="Opened before (epoch s)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Tickets, open ones first, then newest first: each with its camera, zone, fault, age, who
    acknowledged it and when, and its repair time once closed."""
    found = await asyncio.to_thread(
        runtime.tickets.store.search,
        state=None if state == "all" else state,
        camera_id=camera,
        zone_id=zone,
        start=start,
        end=end,
        limit=limit,
    )
    now = time.time()
    visible = [t for t in found if access.can_see(t.camera_id)]
    visible.sort(key=lambda t: (not t.open, -t.opened_at))
    names = {c.id: c.name for c in runtime.config.cameras}
    return {
        "tickets": [{**t.to_json(now), "camera_name": names.get(t.camera_id, t.camera_id)} for t in visible],
        "open": sum(1 for t in visible if t.open),
    }


# The state history shown as evidence: from this long before the fault began to its end (or now).
EVIDENCE_BEFORE_S = 600.0


@router.get("/api/v1/tickets/{ticket_id}")
async def get_ticket(ticket_id: int, runtime: RuntimeDep, access: AccessDep) -> dict[str, Any]:
    """The ticket and its evidence: the camera's state history around the fault, where to see its
    picture now (while the ticket is open) and its reference picture (the first good picture it gave,
    kept until an operator resets it)."""
    ticket = await asyncio.to_thread(runtime.tickets.store.get, ticket_id)
    if ticket is None or not access.can_see(ticket.camera_id):
        raise NotFoundError(_("no ticket {ticket_id}").format(ticket_id=ticket_id))
    camera = runtime.config.camera(ticket.camera_id)
    now = time.time()
    until = ticket.closed_at or now
    timeline = await asyncio.to_thread(
        runtime.reader.timeline, ticket.camera_id, ticket.since - EVIDENCE_BEFORE_S, until, now
    )
    has_reference = runtime.references.get(ticket.camera_id) is not None
    return {
        **ticket.to_json(now),
        "camera_name": camera.name if camera else ticket.camera_id,
        "evidence": {
            "timeline": [{"start": i.start, "end": i.end, "state": i.state, "reason": i.reason} for i in timeline],
            "picture_now": f"/api/v1/cameras/{ticket.camera_id}/snapshot" if ticket.open else None,
            "reference_picture": f"/api/v1/tickets/{ticket.id}/reference.jpg" if has_reference else None,
        },
    }


@router.get("/api/v1/tickets/{ticket_id}/reference.jpg")
async def reference_picture(ticket_id: int, runtime: RuntimeDep, access: AccessDep) -> Response:
    """The camera's reference picture: how its view looked when it was good."""
    ticket = await asyncio.to_thread(runtime.tickets.store.get, ticket_id)
    if ticket is None or not access.can_see(ticket.camera_id):
        raise NotFoundError(_("no ticket {ticket_id}").format(ticket_id=ticket_id))
    jpeg = runtime.references.get(ticket.camera_id)
    if jpeg is None:
        raise NotFoundError(
            _("camera {camera_id} has no reference picture yet").format(camera_id=repr(ticket.camera_id))
        )
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


@router.post("/api/v1/tickets/{ticket_id}/ack")
async def acknowledge(ticket_id: int, body: AckIn, runtime: RuntimeDep, access: AckDep) -> dict[str, Any]:
    """Take the danger on: who and when are kept (the first to acknowledge), the note replaced."""
    ticket = await asyncio.to_thread(runtime.tickets.store.get, ticket_id)
    if ticket is None or not access.can_see(ticket.camera_id):
        raise NotFoundError(_("no ticket {ticket_id}").format(ticket_id=ticket_id))
    done = await runtime.tickets.acknowledge(ticket_id, access.user.name, access.user.role.value, body.note)
    return done.to_json(time.time())
