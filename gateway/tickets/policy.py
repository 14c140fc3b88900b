"""What a camera's status means for tickets: the fault it stands for and the grace time it gets.

Pure functions of the status and the config, tested without a database or a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from adapters.rtsp.errors import Reason
from gateway.config import CameraConfig, GatewayConfig
from gateway.config.tickets import FaultKind
from gateway.health.policy import BELOW_HD, QUALITY_PREFIX
from gateway.health.state import CameraState, CameraStatus

# Offline with these reasons, the camera answers but sends no video (catalog VLOST's reasons too).
_VIDEO_LOST: Final = frozenset({Reason.STALLED.value, Reason.NO_VIDEO.value})
# The most severe first: a camera that is both below HD and covered is a picture fault.
SEVERITY: Final[Sequence[FaultKind]] = ("offline", "video_lost", "picture", "below_hd", "degraded")


def fault_of(status: CameraStatus | None) -> FaultKind | None:
    """The fault a status stands for, or None when the camera is healthy (or not judged yet: a camera
    still connecting, or disabled on purpose, is no danger)."""
    if status is None or status.state in (CameraState.CONNECTING, CameraState.DISABLED, CameraState.ONLINE):
        return None
    if status.state is CameraState.OFFLINE:
        return "video_lost" if status.reason in _VIDEO_LOST else "offline"
    if any(f.startswith(QUALITY_PREFIX) for f in status.faults):
        return "picture"
    if BELOW_HD in status.faults:
        return "below_hd"
    return "degraded"


def detail_of(status: CameraStatus) -> str:
    return status.reason or status.state.value


def zone_of(config: GatewayConfig, camera: CameraConfig, fault: FaultKind) -> tuple[str | None, str | None, float]:
    """(zone id, zone kind, grace seconds): the camera's zone whose grace time for the fault is shortest
    (a camera watching a key area and a corridor is judged as the key area's)."""
    grace = config.tickets.grace_s.of(fault)
    kinds = {z.id: z.kind for z in config.zones}
    best: tuple[str | None, str | None, float] = (None, None, grace.default)
    for zone_id in camera.zones:
        kind = kinds.get(zone_id)
        seconds = grace.for_zone(kind)
        if best[0] is None or seconds < best[2]:
            best = (zone_id, kind, seconds)
    return best
