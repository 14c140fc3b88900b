"""Camera health history: current health, uptime, outages, stats samples, and gateway runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, Row, Table, select

from adapters.onvif import EventKind
from gateway.access import Access
from gateway.api.deps import AccessDep, AnyUser, RuntimeDep
from gateway.api.models import (
    CameraHealthOut,
    CameraOut,
    DeviceEventOut,
    DeviceOut,
    GatewayRunsOut,
    IntervalOut,
    OutageOut,
    QualityRowOut,
    RunOut,
    SampleOut,
    UptimeOut,
)
from gateway.config import CameraConfig
from gateway.device_events import stored_active
from gateway.errors import NotFoundError
from gateway.i18n import _
from gateway.period import Period, parse_period
from gateway.runtime import Runtime
from gateway.storage import schema

router = APIRouter(prefix="/api/v1", tags=["health"])

From = Annotated[str | None, Query(alias="from", description="ISO 8601 or Unix seconds; default: 24 h before 'to'")]
To = Annotated[str | None, Query(alias="to", description="ISO 8601 or Unix seconds; default: now")]
MAX_SAMPLES = 10_000


def visible_camera(runtime: Runtime, camera_id: str, access: Access) -> CameraConfig:
    camera = runtime.config.camera(camera_id)
    # An ungranted camera answers exactly like an unknown one: its existence is not told either.
    if camera is None or not access.can_see(camera_id):
        raise NotFoundError(_("no camera {camera_id}").format(camera_id=repr(camera_id)))
    return camera


def site_period(runtime: Runtime, start: str | None, end: str | None) -> Period:
    return parse_period(start, end, ZoneInfo(runtime.config.site.timezone))


def _history_rows(
    runtime: Runtime,
    access: Access,
    table: Table,
    camera_id: str,
    start: str | None,
    end: str | None,
    *conditions: ColumnElement[bool],
) -> Sequence[Row[Any]]:
    """One camera's rows of a time-stamped history table within the period, oldest first, capped."""
    visible_camera(runtime, camera_id, access)
    period = site_period(runtime, start, end)
    query = select(table).where(
        table.c.camera_id == camera_id, table.c.ts >= period.start, table.c.ts < period.end, *conditions
    )
    with runtime.db.engine.connect() as conn:
        return conn.execute(query.order_by(table.c.ts, table.c.id).limit(MAX_SAMPLES)).all()


@router.get("/cameras/{camera_id}/health", response_model=CameraHealthOut)
async def camera_health(camera_id: str, runtime: RuntimeDep, access: AccessDep) -> CameraHealthOut:
    camera = visible_camera(runtime, camera_id, access)
    bus = runtime.buses[camera_id]
    base = CameraOut.build(camera, runtime.status(camera_id)).model_dump()
    return CameraHealthOut(
        **base, bus_subscribers=len(bus.subscribers), bus_dropped=bus.dropped(), device=_device(runtime, camera_id)
    )


def _device(runtime: Runtime, camera_id: str) -> DeviceOut | None:
    reading = runtime.inventory.latest.get(camera_id)
    if reading is None:
        return None
    policy = runtime.config.policy
    info = reading.inventory.info if reading.inventory else None
    offset = reading.clock_offset_s
    days = reading.retention_days()
    enc = reading.main.encoding if reading.main else None
    return DeviceOut(
        checked_at=reading.ts,
        ok=reading.ok,
        error=reading.error,
        manufacturer=info.manufacturer if info else None,
        model=info.model if info else None,
        firmware=info.firmware if info else None,
        serial=info.serial if info else None,
        clock_offset_s=round(offset, 3) if offset is not None else None,
        clock_ok=abs(offset) <= policy.max_clock_drift_s if offset is not None else None,
        retention_verifiable=bool(reading.recording_search),
        retention_days=days,
        retention_ok=days >= policy.retention_days if days is not None else None,
        main_profile=reading.main.token if reading.main else None,
        main_stream=f"{enc.codec} {enc.width}x{enc.height}" if enc else None,
    )


@router.get("/cameras/{camera_id}/uptime", response_model=UptimeOut)
def camera_uptime(
    camera_id: str, runtime: RuntimeDep, access: AccessDep, start: From = None, end: To = None
) -> UptimeOut:
    visible_camera(runtime, camera_id, access)
    period = site_period(runtime, start, end)
    summary = runtime.reader.uptime(camera_id, period.start, period.end, period.now)
    return UptimeOut(
        camera_id=camera_id,
        start=period.start,
        end=period.end,
        uptime_percent=summary.uptime_percent,
        up_s=round(summary.up_s, 3),
        down_s=round(summary.down_s, 3),
        unknown_s=round(summary.unknown_s, 3),
        seconds=summary.seconds,
        outages=[
            OutageOut(
                start=o.start, end=o.end, duration_s=round(o.duration, 3), reasons=list(o.reasons), ongoing=o.ongoing
            )
            for o in summary.outages
        ],
    )


@router.get("/cameras/{camera_id}/outages", response_model=list[OutageOut])
def camera_outages(
    camera_id: str, runtime: RuntimeDep, access: AccessDep, start: From = None, end: To = None
) -> list[OutageOut]:
    return camera_uptime(camera_id, runtime, access, start, end).outages


@router.get("/cameras/{camera_id}/timeline", response_model=list[IntervalOut])
def camera_timeline(
    camera_id: str, runtime: RuntimeDep, access: AccessDep, start: From = None, end: To = None
) -> list[IntervalOut]:
    visible_camera(runtime, camera_id, access)
    period = site_period(runtime, start, end)
    return [
        IntervalOut(start=i.start, end=i.end, state=i.state, reason=i.reason)
        for i in runtime.reader.timeline(camera_id, period.start, period.end, period.now)
    ]


@router.get("/cameras/{camera_id}/samples", response_model=list[SampleOut])
def camera_samples(
    camera_id: str, runtime: RuntimeDep, access: AccessDep, start: From = None, end: To = None
) -> list[SampleOut]:
    rows = _history_rows(runtime, access, schema.camera_samples, camera_id, start, end)
    return [SampleOut.model_validate(row, from_attributes=True) for row in rows]


@router.get("/gateway/runs", response_model=GatewayRunsOut)
def gateway_runs(runtime: RuntimeDep, _user: AnyUser, start: From = None, end: To = None) -> GatewayRunsOut:
    period = site_period(runtime, start, end)
    runs = runtime.reader.runs(period.start, period.end, period.now)
    down = runtime.reader.gateway_down(period.start, period.end, period.now)
    return GatewayRunsOut(
        runs=[
            RunOut(id=r.id, instance=r.instance, start=r.start, end=r.end, clean_stop=r.clean, current=r.current)
            for r in runs
        ],
        down=[IntervalOut(start=i.start, end=i.end, state=i.state, reason=i.reason) for i in down],
        down_s=round(sum(i.duration for i in down), 3),
    )


@router.get("/cameras/{camera_id}/device-events", response_model=list[DeviceEventOut])
def camera_device_events(
    camera_id: str,
    runtime: RuntimeDep,
    access: AccessDep,
    start: From = None,
    end: To = None,
    kind: Annotated[EventKind | None, Query()] = None,
) -> list[DeviceEventOut]:
    """Events the camera itself reported over ONVIF (with onvif.events on)."""
    t = schema.device_events
    rows = _history_rows(runtime, access, t, camera_id, start, end, *([t.c.kind == kind] if kind is not None else []))
    return [
        DeviceEventOut.model_validate({**row._mapping, "active": stored_active(row.topic, row.operation, row.data)})
        for row in rows
    ]


@router.get("/cameras/{camera_id}/quality", response_model=list[QualityRowOut])
def camera_quality(
    camera_id: str,
    runtime: RuntimeDep,
    access: AccessDep,
    start: From = None,
    end: To = None,
    check: Annotated[str | None, Query(description="one check, e.g. frozen")] = None,
    failed: Annotated[bool, Query(description="only failed checks")] = False,
) -> list[QualityRowOut]:
    """Stored picture-quality verdicts of the camera's sampled keyframes."""
    t = schema.camera_quality
    conditions = [t.c.check == check] if check is not None else []
    if failed:
        conditions.append(t.c.state == "fail")
    rows = _history_rows(runtime, access, t, camera_id, start, end, *conditions)
    return [QualityRowOut.model_validate(row, from_attributes=True) for row in rows]
