"""The recording audit: each camera's recorded spans searched on a schedule, kept as days and gaps.

The first search of a camera covers the retention period the policy asks for (`policy.retention_days`),
so that the oldest day is known at once; later searches start at the day the previous one ended in
(today is audited again until it is over). Cameras of one recorder are searched one after the other
within its query budget; different recorders in parallel.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from gateway.config import GatewayConfig
from gateway.errors import GatewayError
from gateway.recordings.audit import DayAudit, Interval, audit_days, day_bounds
from gateway.recordings.sources import PlaybackOnly, ProfileGRecordings, Recorder, RecordingSource, recording_sources
from gateway.recordings.store import Check, RecordingStore

log = logging.getLogger(__name__)


class RecordingAudit:
    def __init__(
        self,
        config: GatewayConfig,
        store: RecordingStore,
        sources: dict[str, RecordingSource] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self.store = store
        self._sources = recording_sources(config) if sources is None else sources
        self._clock = clock
        self._tz = ZoneInfo(config.site.timezone)

    def cameras(self) -> list[str]:
        """The cameras whose recordings are audited: those that can be searched."""
        return [cid for cid in self._sources if self.verifiable(cid)]

    def source_of(self, camera_id: str) -> RecordingSource | None:
        return self._sources.get(camera_id)

    def verifiable(self, camera_id: str) -> bool:
        """Whether the camera's recordings can be searched (not only replayed by a URL)."""
        source = self._sources.get(camera_id)
        return source is not None and not isinstance(source, PlaybackOnly)

    def window(self, camera_id: str, now: float) -> tuple[float, float]:
        """What the next search of the camera covers: from the start of the day the last one ended in,
        or the whole retention period the first time."""
        until = self.store.audited_until(camera_id)
        if until is None:
            first = datetime.fromtimestamp(now, self._tz).date() - timedelta(days=self._config.policy.retention_days)
            return day_bounds(first, self._tz)[0], now
        return day_bounds(datetime.fromtimestamp(until, self._tz).date(), self._tz)[0], now

    async def check(self, camera_id: str) -> tuple[Check, list[DayAudit]]:
        """Search the camera's recordings now and store what was found (or why nothing was)."""
        source = self._sources[camera_id]
        now = self._clock()
        start, end = await asyncio.to_thread(self.window, camera_id, now)
        days: list[DayAudit] = []
        try:
            found = await source.search(start, end)
        except GatewayError as exc:
            check = Check(camera_id, now, False, str(exc), source.description, None, None, None, 0)
        else:
            days = audit_days(found.spans, start, end, self._tz, now)
            check = Check(
                camera_id, now, True, None, source.description, found.token, found.earliest, found.latest, found.queries
            )
        await asyncio.to_thread(self.store.save, check, days)
        return check, days

    async def spans(self, camera_id: str, start: float, end: float) -> list[Interval] | None:
        """The camera's recorded spans in [start, end), asked of its device now (within its budget); None
        when where its recordings live is not configured. Raises GatewayError when they cannot be read."""
        source = self._sources.get(camera_id)
        if source is None:
            return None
        return (await source.search(start, end)).spans

    async def aclose(self) -> None:
        """Close the connections to the recording devices."""
        for recorder in {id(r): r for r in self._recorders()}.values():
            await recorder.aclose()

    def _recorders(self) -> list[Recorder]:
        return [s.recorder for s in self._sources.values() if isinstance(s, ProfileGRecordings)]

    async def run(self) -> None:
        """Forever: every camera once per `policy.recordings.audit_interval_s`, one recorder at a time."""
        groups: dict[str, list[str]] = {}
        audited = set(self.cameras())
        for camera in self._config.cameras:
            if camera.id in audited:
                rec = camera.recordings
                key = f"recorder:{rec.recorder}" if rec is not None and rec.recorder else f"camera:{camera.id}"
                groups.setdefault(key, []).append(camera.id)
        await asyncio.gather(*(self._run_group(ids) for ids in groups.values()))

    async def _run_group(self, camera_ids: list[str]) -> None:
        interval = self._config.policy.recordings.audit_interval_s
        while True:
            started = time.monotonic()
            for camera_id in camera_ids:
                try:
                    check, _ = await self.check(camera_id)
                except SQLAlchemyError as exc:
                    log.error("recording audit: storing %s failed: %s", camera_id, exc)
                    continue
                if not check.ok:
                    log.warning("recording audit: %s: %s", camera_id, check.error)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
