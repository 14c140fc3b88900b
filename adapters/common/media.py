"""The one packet type that flows from a source through the whole gateway."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Final

# The sound codecs a camera's audio track is read in (G.711 A-law and mu-law, AAC): what GB/T 28181
# carries in its PS streams. Any other sound track is not read.
AUDIO_CODECS: Final = frozenset({"pcma", "pcmu", "aac"})


@dataclass(frozen=True, slots=True)
class Packet:
    """One encoded access unit as read from a source, never decoded on this path: a video frame (or a
    slice of one), or an audio frame when the source reads the camera's sound too (`is_audio`)."""

    source_id: str
    codec: str  # "h264" | "h265"; audio: "pcma" | "pcmu" | "aac" (raw AAC frames, no ADTS header)
    pts: int | None
    dts: int | None
    time_base: Fraction
    keyframe: bool
    data: bytes
    arrival: float  # time.monotonic() when read
    # A skimmed packet (a P-frame of a camera nobody views, from the light reader) carries no bytes, only
    # their number; 0 for every other packet, whose size is its data's.
    skimmed_size: int = 0

    @property
    def size(self) -> int:
        return self.skimmed_size or len(self.data)

    @property
    def is_audio(self) -> bool:
        return self.codec in AUDIO_CODECS

    def pts_seconds(self) -> float | None:
        return None if self.pts is None else float(self.pts * self.time_base)


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """A source's sound track, as it announced it (the RTSP SDP)."""

    codec: str  # one of AUDIO_CODECS
    sample_rate: int
    channels: int
    time_base: Fraction
    extradata: bytes | None  # AAC: the AudioSpecificConfig (RFC 3640 config=); G.711: None


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
    audio: AudioInfo | None = None  # the sound track read beside the video, if the source reads one
