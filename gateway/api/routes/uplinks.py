"""How the uplinks to upper platforms are doing: registration, keepalive, live sessions, subscriptions,
counters. No secrets."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from gateway.api.deps import RuntimeDep, require
from gateway.api.models import PartOut
from gateway.auth import Role, User

router = APIRouter(tags=["uplinks"])
StaffUser = Annotated[User, Depends(require(Role.ADMIN, Role.OPERATOR, Role.AUDITOR))]


@router.get("/api/v1/uplinks")
async def uplinks_status(runtime: RuntimeDep, _user: StaffUser) -> list[dict[str, Any]]:
    """One entry per GB/T 28181 platform. state: unregistered | registering | registered | failed
    (reason and last_failure say why); times are Unix seconds; time_offset_s is the platform's clock
    minus ours, from its 200 OK Date. `sessions` lists the live video sessions in progress (camera,
    channel, transport, peer, bytes and frames sent), `subscriptions` the catalog/alarm ones."""
    return runtime.uplinks.status()


@router.get("/api/v1/gateway/parts", response_model=list[PartOut])
async def gateway_parts(runtime: RuntimeDep, _user: StaffUser) -> list[PartOut]:
    """Every long-lived task and thread (camera supervisors, outbox dispatchers and writer, GA/T 1400
    keepalive, analytics threads, history loops): whether it runs, how often it failed and was started
    again, and the last failure. A part that fails is logged once per reason and started again after
    a backoff (1 s doubling to 60 s); `down_since` is set while it waits."""
    return [PartOut.model_validate(p.as_dict()) for p in runtime.watchdog.parts()]


@router.get("/api/v1/destinations")
async def destinations_status(runtime: RuntimeDep, _user: StaffUser) -> dict[str, Any]:
    """The outbox and its MQTT, webhook and GA/T 1400 destinations. Per destination: connected
    (broker connected, view library registered, last webhook POST answered), backlog (messages not
    yet delivered) and the time of the oldest, last_error, and counters kept across restarts:
    delivered, rejected (refused for good by the receiver), expired (stale health figures) and
    dropped (lost to the retention bounds). `storage: failed` means messages cannot be written
    (disk full): up to `uplinks.outbox.memory_buffer` wait in memory meanwhile. A GA/T 1400 platform
    that subscribes (`type: gat1400-platform`) lists its active `subscriptions`, each a destination
    of its own with `sent`, `failed` and `pending` besides the figures above, and its
    `ended_subscriptions` (cancelled or expired, with `dropped_at_end`)."""
    outbox = runtime.outbox
    await outbox.refresh_status()
    return outbox.status()
