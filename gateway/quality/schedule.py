"""Day and night: which quality thresholds apply at a given moment, in the site's time zone.

At night most cameras watch a darker, noisier, flatter scene by right (long exposure, gain, IR);
judging it by day thresholds would make every night a fault. A :class:`DayNight` crosses into the
reader processes with the sampler's setup (pickled), so it holds plain values only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

from gateway.quality.thresholds import QualityThresholds


@dataclass(frozen=True)
class DayNight:
    timezone: str
    night_start_min: int  # minutes after local midnight when night begins
    night_end_min: int  # ... and when it ends (the next morning when smaller than the start)
    night: QualityThresholds

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_night(self, ts: float) -> bool:
        local = datetime.fromtimestamp(ts, self._zone)
        minute = local.hour * 60 + local.minute
        start, end = self.night_start_min, self.night_end_min
        if start == end:
            return False
        if start < end:
            return start <= minute < end
        return minute >= start or minute < end

    def pick(self, day: QualityThresholds, ts: float) -> tuple[QualityThresholds, bool]:
        """The thresholds in force at ``ts`` and whether they are the night ones."""
        return (self.night, True) if self.is_night(ts) else (day, False)
