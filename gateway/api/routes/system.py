from __future__ import annotations

from fastapi import APIRouter

from gateway.api.deps import AccessDep, RuntimeDep
from gateway.api.models import Healthz, SiteOut, ZoneOut
from gateway.health.state import CameraState

router = APIRouter()


@router.get("/healthz", response_model=Healthz, tags=["system"])
async def healthz(runtime: RuntimeDep) -> Healthz:
    """Liveness for service managers and load balancers; the only route without a token."""
    statuses = runtime.tracker.all()
    online = sum(1 for s in statuses if s.state in (CameraState.ONLINE, CameraState.DEGRADED))
    return Healthz(status="ok", cameras=len(statuses), online=online, parts_down=len(runtime.watchdog.down()))


@router.get("/api/v1/site", response_model=SiteOut, tags=["system"])
async def site(runtime: RuntimeDep, access: AccessDep) -> SiteOut:
    cfg = runtime.config
    visible = access.visible(cfg.cameras)
    zones = [
        ZoneOut(id=z.id, name=z.name, kind=z.kind, cameras=[c.id for c in visible if z.id in c.zones])
        for z in cfg.zones
    ]
    return SiteOut(
        id=cfg.site.id,
        name=cfg.site.name,
        unit=cfg.site.unit.name,
        key_unit=cfg.site.unit.key_unit,
        hd_min_resolution=str(cfg.hd_min_resolution()),
        zones=zones,
    )
