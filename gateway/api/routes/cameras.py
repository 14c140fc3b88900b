from __future__ import annotations

from fastapi import APIRouter

from gateway.api.deps import AnyUser, RuntimeDep
from gateway.api.models import CameraOut
from gateway.errors import NotFoundError

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])


@router.get("", response_model=list[CameraOut])
async def list_cameras(runtime: RuntimeDep, _user: AnyUser) -> list[CameraOut]:
    # Per-camera grants for police and operators come with the live-view work; until then every
    # authenticated role sees the camera list (no video, no credentials).
    return [CameraOut.build(cam, runtime.status(cam.id)) for cam in runtime.config.cameras]


@router.get("/{camera_id}", response_model=CameraOut)
async def get_camera(camera_id: str, runtime: RuntimeDep, _user: AnyUser) -> CameraOut:
    camera = runtime.config.camera(camera_id)
    if camera is None:
        raise NotFoundError(f"no camera {camera_id!r}")
    return CameraOut.build(camera, runtime.status(camera_id))
