"""How the analytics are doing: detector load, frames analysed, dropped and why, per camera."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from gateway.api.deps import RuntimeDep, require
from gateway.auth import Role, User

router = APIRouter(tags=["analytics"])
StaffUser = Annotated[User, Depends(require(Role.ADMIN, Role.OPERATOR, Role.AUDITOR))]


@router.get("/api/v1/analytics")
async def analytics_status(runtime: RuntimeDep, _user: StaffUser) -> dict[str, Any]:
    """state: off (no camera analysed) | loading | running | unavailable (see problem) | stopped."""
    return runtime.analytics.status()
