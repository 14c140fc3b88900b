"""What the gateway reports to GB/T 28181 platforms as alarms, and with which codes.

Three sources, all sent as alarm Notify with AlarmMethod 5 (video alarm, GB/T 28181-2016 A.2.5):

* detection events: the rule kind picks the AlarmType (intrusion 6, line crossing 5, loitering 8,
  crowding 10). The 2016 table has no type for a fall, so a fall goes without AlarmType and says
  so in its description; platforms file it as an untyped video alarm.
* a camera that stops delivering video (its state leaves online/degraded): type 11, video anomaly.
  The standard's "video loss" code belongs to AlarmMethod 2 (device alarm), but the loss is seen
  in the video path here, not reported by a device, so it stays a video alarm as the others.
* a picture-quality incident (a quality fault that was not there before, e.g. frozen or covered):
  type 11, and 13 (image occlusion, GB/T 28181-2022) for occlusion only when the uplink says
  its platform takes 2022 codes.

Pure functions of their inputs, tested without sockets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.analytics.events import Event
from gateway.health.policy import QUALITY_PREFIX
from gateway.health.state import CameraState, CameraStatus

VIDEO_ALARM: Final = 5
VIDEO_ANOMALY: Final = 11
IMAGE_OCCLUSION: Final = 13

# Rule kind -> (AlarmType for method 5 or None, priority 1 highest .. 4)
_RULES: Final[dict[str, tuple[int | None, int]]] = {
    "intrusion": (6, 2),
    "line_crossing": (5, 3),
    "loitering": (8, 3),
    "crowding": (10, 3),
    "fall": (None, 1),  # a person down may need help: the most urgent of the five
}
_UP: Final = frozenset({CameraState.ONLINE, CameraState.DEGRADED})


@dataclass(frozen=True, slots=True)
class Alarm:
    camera_id: str
    at: float  # Unix seconds
    priority: int
    alarm_type: int | None
    description: str
    event_type: int | None = None  # intrusion: 1 entering the area
    method: int = VIDEO_ALARM


def from_event(event: Event) -> Alarm | None:
    mapped = _RULES.get(event.kind)
    if mapped is None:
        return None
    alarm_type, priority = mapped
    return Alarm(
        camera_id=event.camera_id,
        at=event.at,
        priority=priority,
        alarm_type=alarm_type,
        description=_short(event.message or event.kind.replace("_", " ")),
        event_type=1 if event.kind == "intrusion" else None,
    )


def from_state(status: CameraStatus, previous: CameraStatus | None, *, gb2022: bool = False) -> list[Alarm]:
    """Alarms for a state change: the camera lost, or quality faults that are new."""
    if previous is None:
        return []  # the first state of a run is no incident
    alarms: list[Alarm] = []
    was_up, is_up = previous.state in _UP, status.state in _UP
    if was_up and not is_up and status.state is not CameraState.DISABLED:
        reason = status.reason or status.state.value
        alarms.append(Alarm(status.camera_id, status.since, 2, VIDEO_ANOMALY, _short(f"video lost: camera {reason}")))
    if is_up:
        new = [f for f in status.faults if f.startswith(QUALITY_PREFIX) and f not in previous.faults]
        for fault in new:
            check = fault.removeprefix(QUALITY_PREFIX)
            code = IMAGE_OCCLUSION if gb2022 and check == "occlusion" else VIDEO_ANOMALY
            alarms.append(
                Alarm(status.camera_id, status.since, 3, code, _short(f"picture quality: {check.replace('_', ' ')}"))
            )
    return alarms


def _short(text: str) -> str:
    # AlarmDescription is a free string; platforms show it in lists, so keep it to one line.
    return " ".join(text.split())[:120]
