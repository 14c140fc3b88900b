"""WebRTC live view, recording replay and snapshots of a camera, for admin, operator and police (not
auditor).

A camera the caller is not granted answers exactly like one that does not exist: 404 "no camera",
so that grants do not reveal which cameras a site has.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gateway.access import Access
from gateway.api.deps import AccessDep, AdminUser, RuntimeDep, client_ip
from gateway.auth import Role
from gateway.errors import NotFoundError, PermissionDeniedError
from gateway.i18n import _
from gateway.i18n.terms import ROLES, term

router = APIRouter(tags=["live view"])

_VIEWERS = frozenset({Role.ADMIN, Role.OPERATOR, Role.POLICE})


class OfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sdp: str = Field(max_length=65536, description="The browser's SDP offer (non-trickle: all candidates)")
    type: Literal["offer"] = "offer"


class ReplayIn(OfferIn):
    start: AwareDatetime = Field(description="The recorded instant to start at, with its time zone (ISO 8601)")
    end: AwareDatetime = Field(description="Where the replay ends; at most 24 h after start")


class AnswerOut(BaseModel):
    session_id: str
    sdp: str
    type: Literal["answer"] = "answer"
    mode: Literal["passthrough", "transcoded"]
    codec: str


def _viewer(access: AccessDep, camera_id: str) -> Access:
    if access.user.role not in _VIEWERS:
        raise PermissionDeniedError(
            _("role {role} may not view live video").format(role=term(ROLES, access.user.role.value))
        )
    if not access.can_see(camera_id):
        raise NotFoundError(_("no camera {camera_id}").format(camera_id=repr(camera_id)))
    return access


ViewerDep = Annotated[Access, Depends(_viewer)]


@router.post("/api/v1/cameras/{camera_id}/webrtc", status_code=201, response_model=AnswerOut)
async def start_live_view(
    camera_id: str, body: OfferIn, request: Request, runtime: RuntimeDep, access: ViewerDep
) -> AnswerOut:
    session_id, sdp, mode, codec = await runtime.live.offer(
        camera_id, body.sdp, body.type, access.user.name, client_ip(request)
    )
    return AnswerOut(session_id=session_id, sdp=sdp, mode=mode, codec=codec)


@router.post("/api/v1/cameras/{camera_id}/replay", status_code=201, response_model=AnswerOut)
async def start_replay(
    camera_id: str, body: ReplayIn, request: Request, runtime: RuntimeDep, access: ViewerDep
) -> AnswerOut:
    """Watch the camera's recordings from `start` to `end` (WebRTC, like live view; ended with the same
    DELETE). 404 when nothing is recorded there, 429 when the recorder serves all the replays it may."""
    session_id, sdp, mode, codec = await runtime.live.replay(
        camera_id,
        body.start.timestamp(),
        body.end.timestamp(),
        body.sdp,
        body.type,
        access.user.name,
        client_ip(request),
    )
    return AnswerOut(session_id=session_id, sdp=sdp, mode=mode, codec=codec)


@router.delete("/api/v1/cameras/{camera_id}/webrtc/{session_id}", status_code=204)
async def stop_live_view(camera_id: str, session_id: str, runtime: RuntimeDep, access: ViewerDep) -> Response:
    session = runtime.live.session(session_id)
    # Someone else's session is as unknown as a made-up id, unless an admin asks.
    mine = session is not None and (session["viewer"] == access.user.name or access.user.role is Role.ADMIN)
    if session is None or session["camera_id"] != camera_id or not mine:
        raise NotFoundError(
            _("no live session {session_id} of camera {camera_id}").format(
                session_id=repr(session_id), camera_id=repr(camera_id)
            )
        )
    await runtime.live.close_session(session_id, access.user.name)
    return Response(status_code=204)


@router.get(
    "/api/v1/cameras/{camera_id}/snapshot",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "The camera's latest keyframe"}},
)
async def snapshot(camera_id: str, request: Request, runtime: RuntimeDep, access: ViewerDep) -> Response:
    jpeg = await runtime.live.snapshot(camera_id)
    await asyncio.to_thread(runtime.audit_snapshot, access.user, camera_id, client_ip(request))
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=2"})


@router.get("/api/v1/live/sessions")
async def live_sessions(runtime: RuntimeDep, _admin: AdminUser) -> list[dict[str, Any]]:
    return runtime.live.sessions()
