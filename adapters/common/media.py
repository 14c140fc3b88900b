"""The one packet type that flows from a source through the whole gateway."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True, slots=True)
class Packet:
    """One encoded access unit (a video frame) as read from a source, never decoded on this path."""

    source_id: str
    codec: str  # "h264" | "h265"
    pts: int | None
    dts: int | None
    time_base: Fraction
    keyframe: bool
    data: bytes
    arrival: float  # time.monotonic() when read

    @property
    def size(self) -> int:
        return len(self.data)

    def pts_seconds(self) -> float | None:
        return None if self.pts is None else float(self.pts * self.time_base)


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a source announced when it opened (from the SDP and in-band parameter sets)."""

    codec: str
    width: int | None
    height: int | None
    profile: str | None
    nominal_fps: float | None
    time_base: Fraction
    extradata: bytes | None
