"""Arming (布防/撤防) and alarm state of one uplink's channels, as the platform set them.

GuardCmd SetGuard arms a channel, ResetGuard disarms it; addressed to the system's own ID it applies to
every channel. An armed channel's alarms go to the platform and leave it in alarm (DutyStatus ALARM)
until the platform's AlarmCmd ResetAlarm; a disarmed channel's alarms are kept back (counted), which
is what platforms that arm before they take alarms expect (wvp #483). DeviceStatus reports each
channel's DutyStatus from here: ONDUTY, OFFDUTY or ALARM.

Channels start armed (`Gb28181Uplink.armed_at_start`): a platform that never arms still gets alarms,
as before this existed. The state is the platform's to set and lives in memory: after a restart the
channels are as configured, and a platform re-arms at its next registration if it cares.

The recent alarms are kept too (a bounded ring), for the platform's alarm query (Query CmdType Alarm).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Final

from adapters.gb28181.manscdp import AlarmQuery, DutyStatus

RECENT_ALARMS: Final = 256


@dataclass(frozen=True, slots=True)
class RaisedAlarm:
    """An alarm as sent: its channel, the Alarm Notify's fields and when (epoch seconds)."""

    channel_id: str
    at: float
    priority: int
    method: int
    alarm_type: int | None
    description: str
    event_type: int | None = None


def matches(query: AlarmQuery, alarm: RaisedAlarm, zone: tzinfo) -> bool:
    """Whether a kept alarm meets the platform's conditions; the query's times are in `zone` unless
    they carry their own."""
    # Priority 1 is the most urgent: "from StartAlarmPriority to EndAlarmPriority" is a range of
    # numbers, whichever way round the platform writes it.
    levels = [p for p in (query.start_priority, query.end_priority) if p]
    if levels and not min(levels) <= alarm.priority <= max(levels):
        return False
    if query.methods is not None and alarm.method not in query.methods:
        return False
    if query.alarm_type is not None and alarm.alarm_type != query.alarm_type:
        return False
    if query.start is not None and alarm.at < _epoch(query.start, zone):
        return False
    return query.end is None or alarm.at <= _epoch(query.end, zone)


def _epoch(moment: datetime, zone: tzinfo) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).timestamp()


class Guard:
    """The duty state of one uplink's channels; lives on the event loop."""

    def __init__(self, channels: Iterable[str], *, armed: bool) -> None:
        self._armed = dict.fromkeys(channels, armed)
        self._alarming: set[str] = set()
        self._recent: deque[RaisedAlarm] = deque(maxlen=RECENT_ALARMS)
        self.held_back = 0  # alarms of disarmed channels, not sent

    def set_guard(self, target: str, armed: bool) -> bool:
        """Arm or disarm a channel, or every channel when `target` is not one; False if unknown."""
        targets = [target] if target in self._armed else list(self._armed)
        if not targets:
            return False
        for channel in targets:
            self._armed[channel] = armed
            if not armed:
                self._alarming.discard(channel)
        return True

    def reset_alarm(self, target: str) -> None:
        """The platform acknowledged the alarm: back on duty (every channel for the system's ID)."""
        if target in self._armed:
            self._alarming.discard(target)
        else:
            self._alarming.clear()

    def armed(self, channel: str) -> bool:
        return self._armed.get(channel, False)

    def admit(self, alarm: RaisedAlarm) -> bool:
        """Whether the alarm goes to the platform; an admitted one puts its channel in alarm."""
        if not self.armed(alarm.channel_id):
            self.held_back += 1
            return False
        self._alarming.add(alarm.channel_id)
        self._recent.append(alarm)
        return True

    def duty(self, channel: str) -> DutyStatus:
        if not self.armed(channel):
            return "OFFDUTY"
        return "ALARM" if channel in self._alarming else "ONDUTY"

    def duties(self) -> list[tuple[str, DutyStatus]]:
        return [(channel, self.duty(channel)) for channel in self._armed]

    def recent(self, query: AlarmQuery, zone: tzinfo, channel: str | None = None) -> list[RaisedAlarm]:
        """The kept alarms the query matches, oldest first; of one channel, or all for None."""
        return [a for a in self._recent if (channel is None or a.channel_id == channel) and matches(query, a, zone)]
