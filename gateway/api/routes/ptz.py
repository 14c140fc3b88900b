"""PTZ of a camera, for admin, operator and police (the roles that view live video, on the cameras they
are granted; a camera not granted answers like one that does not exist). Each command is in the audit
log. One controller at a time: a command while another holds the camera is 409 with who holds it."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway import audit
from gateway.access import Access
from gateway.api.deps import RuntimeDep, client_ip
from gateway.api.routes.live import ViewerDep
from gateway.ptz import PtzNotSupportedError
from gateway.runtime import Runtime

router = APIRouter(tags=["ptz"])


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pan: float = Field(default=0.0, ge=-1, le=1, description="Velocity: -1 left .. 1 right")
    tilt: float = Field(default=0.0, ge=-1, le=1, description="Velocity: -1 down .. 1 up")
    zoom: float = Field(default=0.0, ge=-1, le=1, description="Velocity: -1 out .. 1 in")


class PresetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, pattern=r"^[^<>&\x00-\x1f]+$")
    token: str | None = Field(default=None, min_length=1, max_length=64, description="Overwrite this preset")


def _controller(access: Access) -> str:
    return f"{access.user.role.value} {access.user.name}"


async def _audited(runtime: Runtime, access: Access, camera_id: str, request: Request, detail: dict[str, Any]) -> None:
    user = access.user
    await asyncio.to_thread(
        runtime.audit.record_quietly,
        user.name,
        user.role.value,
        audit.PTZ_CONTROL,
        camera_id,
        detail,
        client_ip(request),
    )


@router.get("/api/v1/cameras/{camera_id}/ptz")
async def ptz_status(camera_id: str, runtime: RuntimeDep, access: ViewerDep) -> dict[str, Any]:
    """Whether the camera has PTZ; if so its presets, its position where it says, and who controls it now."""
    try:
        presets = await runtime.ptz.presets(camera_id)
    except PtzNotSupportedError as exc:
        return {"camera_id": camera_id, "supported": False, "reason": str(exc)}
    return {
        "camera_id": camera_id,
        "supported": True,
        "holder": runtime.ptz.holder(camera_id),
        "presets": [{"token": p.token, "name": p.name} for p in presets],
        "position": await runtime.ptz.position(camera_id),
    }


@router.post("/api/v1/cameras/{camera_id}/ptz/move", status_code=204)
async def ptz_move(camera_id: str, body: MoveIn, request: Request, runtime: RuntimeDep, access: ViewerDep) -> Response:
    """Move at these velocities until a stop (or the safety stop a few seconds later)."""
    await runtime.ptz.move(camera_id, _controller(access), pan=body.pan, tilt=body.tilt, zoom=body.zoom)
    await _audited(runtime, access, camera_id, request, {"action": "move", **body.model_dump()})
    return Response(status_code=204)


@router.post("/api/v1/cameras/{camera_id}/ptz/stop", status_code=204)
async def ptz_stop(camera_id: str, request: Request, runtime: RuntimeDep, access: ViewerDep) -> Response:
    await runtime.ptz.stop(camera_id, _controller(access))
    await _audited(runtime, access, camera_id, request, {"action": "stop"})
    return Response(status_code=204)


@router.post("/api/v1/cameras/{camera_id}/ptz/home", status_code=204)
async def ptz_home(camera_id: str, request: Request, runtime: RuntimeDep, access: ViewerDep) -> Response:
    await runtime.ptz.home(camera_id, _controller(access))
    await _audited(runtime, access, camera_id, request, {"action": "home"})
    return Response(status_code=204)


@router.post("/api/v1/cameras/{camera_id}/ptz/presets", status_code=201)
async def ptz_set_preset(
    camera_id: str, body: PresetIn, request: Request, runtime: RuntimeDep, access: ViewerDep
) -> dict[str, str]:
    """Store the current position as a preset (a new one, or over `token`)."""
    token = await runtime.ptz.set_preset(camera_id, _controller(access), body.name, body.token)
    await _audited(runtime, access, camera_id, request, {"action": "set_preset", "name": body.name, "token": token})
    return {"token": token}


@router.post("/api/v1/cameras/{camera_id}/ptz/presets/{token}/goto", status_code=204)
async def ptz_goto_preset(
    camera_id: str, token: str, request: Request, runtime: RuntimeDep, access: ViewerDep
) -> Response:
    await runtime.ptz.goto_preset(camera_id, _controller(access), token)
    await _audited(runtime, access, camera_id, request, {"action": "goto_preset", "token": token})
    return Response(status_code=204)


@router.delete("/api/v1/cameras/{camera_id}/ptz/presets/{token}", status_code=204)
async def ptz_remove_preset(
    camera_id: str, token: str, request: Request, runtime: RuntimeDep, access: ViewerDep
) -> Response:
    await runtime.ptz.remove_preset(camera_id, _controller(access), token)
    await _audited(runtime, access, camera_id, request, {"action": "remove_preset", "token": token})
    return Response(status_code=204)
