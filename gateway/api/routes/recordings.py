"""A camera's recordings as the recording audit found them: per day, what is recorded and what is missing."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter

from gateway.api.deps import AccessDep, RuntimeDep
from gateway.api.models import CameraRecordingsOut, RecordingCheckOut, RecordingDayOut, RecordingGapOut
from gateway.api.routes.health import From, To, site_period, visible_camera

router = APIRouter(prefix="/api/v1", tags=["recordings"])


@router.get("/cameras/{camera_id}/recordings", response_model=CameraRecordingsOut)
async def camera_recordings(
    camera_id: str, runtime: RuntimeDep, access: AccessDep, start: From = None, end: To = None
) -> CameraRecordingsOut:
    """The days of the period (default: the last 24 hours) that the recording audit has checked, with
    their gaps, and the device's last answer. Nothing is asked of the device here."""
    camera = visible_camera(runtime, camera_id, access)
    period = site_period(runtime, start, end)
    tz = ZoneInfo(runtime.config.site.timezone)
    first = datetime.fromtimestamp(period.start, tz).date()
    last = datetime.fromtimestamp(period.end, tz).date()
    store = runtime.recordings.store
    days, check = await asyncio.gather(
        asyncio.to_thread(store.days, camera.id, first, last), asyncio.to_thread(store.latest_check, camera.id)
    )
    policy = runtime.config.policy
    source = runtime.recordings.source_of(camera.id)
    retained = None
    if check is not None and check.earliest is not None:
        retained = round((time.time() - check.earliest) / 86400, 2)
    long_s = policy.recordings.max_gap_s
    return CameraRecordingsOut(
        camera_id=camera.id,
        source=source.description if source else None,
        verifiable=runtime.recordings.verifiable(camera.id),
        last_check=RecordingCheckOut(
            ts=check.ts,
            ok=check.ok,
            error=check.error,
            recording_token=check.recording_token,
            earliest=check.earliest,
            latest=check.latest,
            queries=check.queries,
        )
        if check
        else None,
        retained_days=retained,
        retention_ok=retained >= policy.retention_days if retained is not None else None,
        days=[
            RecordingDayOut(
                day=d.day.isoformat(),
                start=d.start,
                end=d.end,
                recorded_s=round(d.recorded_s, 3),
                completeness_percent=round(d.completeness_percent, 3),
                gaps=[RecordingGapOut(start=a, end=b, duration_s=round(b - a, 3)) for a, b in d.gaps],
                long_gaps=sum(1 for a, b in d.gaps if b - a > long_s),
                checked_at=d.checked_at,
            )
            for d in days
        ],
    )
