"""Per-camera state machine and the tracker that owns every camera's current status."""

from __future__ import annotations

import builtins
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from gateway.quality.frames import CheckResult

log = logging.getLogger(__name__)


class CameraState(enum.StrEnum):
    CONNECTING = "connecting"
    ONLINE = "online"
    DEGRADED = "degraded"
    OFFLINE = "offline"
    DISABLED = "disabled"


# Online and degraded cameras deliver video: GB/T 28181 platforms list them as ON, live view and the
# outbox's messages call them up.
_UP = frozenset({CameraState.ONLINE, CameraState.DEGRADED})


def is_up(state: CameraState | None) -> bool:
    return state in _UP


# A camera's current state by its id, None for a camera the tracker does not know.
StateOf = Callable[[str], CameraState | None]


@dataclass(frozen=True)
class MeasuredStream:
    """Figures measured from the packets actually received, not what the camera claims."""

    codec: str | None = None
    profile: str | None = None
    level: str | None = None
    width: int | None = None
    height: int | None = None
    resolution_source: str | None = None  # "sps" (in-band or SDP parameter sets) or "sdp" (FFmpeg's view)
    fps: float | None = None  # from timestamps over the last few seconds
    signalled_fps: float | None = None  # what the SPS timing info or the SDP announces
    # Averaged over the newest whole GOPs reaching back 5 s (one GOP when it is longer): a smart codec's
    # keyframe can outweigh the rest of its GOP, so any shorter span swings with where it falls.
    bitrate_kbps: float | None = None
    bitrate_span_s: float | None = None  # the stream seconds bitrate_kbps is averaged over
    # Whole GOPs in bitrate_kbps; 0: none yet (the first GOP of a session), the figure is then the last
    # few seconds and the policy does not judge it.
    bitrate_gops: int = 0
    gop_frames: int | None = None
    keyframe_interval_s: float | None = None  # between the last two keyframes
    # Stream seconds from the last keyframe to the last frame: past keyframe_interval_s, the keyframes
    # are late (or have stopped), which the policy's maximum interval judges without waiting for one.
    since_keyframe_s: float | None = None
    packets: int = 0
    bytes: int = 0
    ts_jumps: int = 0
    gaps: int = 0
    max_gap_s: float = 0.0
    # Media seconds received per second of arrival time over the last few seconds (None until
    # measured): well under 1.0 means the link cannot carry the stream and it falls behind real time.
    realtime_ratio: float | None = None
    # The ratio as it reads once GAP_S passes with no packet: what the supervisor judges between
    # snapshots, so a trickle of packets too sparse for a snapshot a second still reads slow.
    realtime_ratio_idle: float | None = None
    quality: tuple[CheckResult, ...] = ()  # the last picture-quality diagnosis of a sampled keyframe
    quality_at: float | None = None
    # A reference picture the reader just took for the "camera moved" check, to be stored; travels
    # in one snapshot only.
    new_reference: builtins.bytes | None = None


@dataclass(frozen=True)
class CameraStatus:
    camera_id: str
    state: CameraState
    reason: str | None
    since: float  # wall-clock time of the last state change
    measured: MeasuredStream = field(default_factory=MeasuredStream)
    last_packet_at: float | None = None
    reconnects: int = 0
    faults: tuple[str, ...] = ()  # stable codes behind a degraded state: "below_hd", "quality:frozen"


StateListener = Callable[[CameraStatus, CameraStatus | None], None]
# Called with (camera id, when, results) for each new picture-quality diagnosis.
QualityListener = Callable[[str, float, tuple[CheckResult, ...]], None]


class HealthTracker:
    """Holds the current status of every camera and tells listeners about state changes.

    Lives on the event loop thread only. A change of state or reason is logged once; retries that
    end in the same state and reason are silent, so a dead camera does not flood the log.
    """

    def __init__(
        self,
        camera_ids: list[str],
        clock: Callable[[], float] = time.time,
        *,
        since: float | None = None,
        disabled: frozenset[str] = frozenset(),
    ) -> None:
        self._clock = clock
        start = clock() if since is None else since
        self._status = {
            cid: CameraStatus(cid, CameraState.DISABLED, "disabled in config", start)
            if cid in disabled
            else CameraStatus(cid, CameraState.CONNECTING, None, start)
            for cid in camera_ids
        }
        self._listeners: list[StateListener] = []
        self._quality_listeners: list[QualityListener] = []

    def subscribe(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def subscribe_quality(self, listener: QualityListener) -> None:
        self._quality_listeners.append(listener)

    def announce(self) -> None:
        """Tell listeners every camera's current status, e.g. to open a new run's history."""
        for status in self._status.values():
            for listener in self._listeners:
                listener(status, None)

    def get(self, camera_id: str) -> CameraStatus:
        return self._status[camera_id]

    def all(self) -> list[CameraStatus]:
        return list(self._status.values())

    def set_state(
        self, camera_id: str, state: CameraState, reason: str | None = None, faults: tuple[str, ...] = ()
    ) -> CameraStatus:
        old = self._status[camera_id]
        if old.state == state and old.reason == reason and old.faults == faults:
            return old
        new = replace(old, state=state, reason=reason, faults=faults, since=self._clock())
        if state in (CameraState.OFFLINE, CameraState.CONNECTING, CameraState.DISABLED):
            new = replace(new, measured=MeasuredStream())
        self._status[camera_id] = new
        level = logging.WARNING if state is CameraState.OFFLINE else logging.INFO
        log.log(level, "camera %s: %s%s", camera_id, state.value, f" ({reason})" if reason else "")
        for listener in self._listeners:
            listener(new, old)
        return new

    def update_measured(self, camera_id: str, measured: MeasuredStream, last_packet_at: float) -> None:
        old = self._status[camera_id]
        self._status[camera_id] = replace(old, measured=measured, last_packet_at=last_packet_at)
        if measured.quality and measured.quality_at is not None and measured.quality_at != old.measured.quality_at:
            for listener in self._quality_listeners:
                listener(camera_id, measured.quality_at, measured.quality)

    def count_reconnect(self, camera_id: str) -> None:
        old = self._status[camera_id]
        self._status[camera_id] = replace(old, reconnects=old.reconnects + 1)
