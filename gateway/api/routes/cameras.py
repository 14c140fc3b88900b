from __future__ import annotations

from fastapi import APIRouter

from gateway.api.deps import AccessDep, RuntimeDep
from gateway.api.models import CameraOut
from gateway.errors import NotFoundError
from gateway.i18n import _

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])


@router.get("", response_model=list[CameraOut])
async def list_cameras(runtime: RuntimeDep, access: AccessDep) -> list[CameraOut]:
    # Police and operators see the cameras granted to them; admins and auditors see all.
    return [CameraOut.build(cam, runtime.status(cam.id)) for cam in access.visible(runtime.config.cameras)]


@router.get("/{camera_id}", response_model=CameraOut)
async def get_camera(camera_id: str, runtime: RuntimeDep, access: AccessDep) -> CameraOut:
    camera = runtime.config.camera(camera_id)
    if camera is None or not access.can_see(camera_id):
        raise NotFoundError(_("no camera {camera_id}").format(camera_id=repr(camera_id)))
    return CameraOut.build(camera, runtime.status(camera_id))
