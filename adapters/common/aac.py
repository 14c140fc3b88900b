"""AAC framing: the AudioSpecificConfig a camera announces, and the ADTS header each raw frame needs
where a container has no other place for that configuration (MPEG-2 PS and TS, stream type 0x0F).

RTSP cameras send AAC as RFC 3640 (mpeg4-generic): raw frames, the configuration once in the SDP
(`config=`, FFmpeg's extradata). A PS stream carries ADTS (ISO/IEC 13818-7 / 14496-3 1.A.2): each frame
behind a 7-byte header that repeats the object type, sampling frequency and channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ADTS_HEADER_SIZE: Final = 7
# 13-bit aac_frame_length counts the header too.
MAX_ADTS_FRAME: Final = (1 << 13) - 1
# ISO/IEC 14496-3 table 1.18, the sampling frequencies an index stands for.
SAMPLING_FREQUENCIES: Final = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


class AacConfigError(ValueError):
    """An AudioSpecificConfig that ADTS cannot describe (or that is not one)."""


@dataclass(frozen=True, slots=True)
class AacConfig:
    """What an ADTS header repeats of an AudioSpecificConfig."""

    object_type: int  # 2: AAC LC; ADTS can say 1 to 4 only
    frequency_index: int
    channels: int  # channel_configuration, 1 to 7

    @property
    def sample_rate(self) -> int:
        return SAMPLING_FREQUENCIES[self.frequency_index]

    @classmethod
    def parse(cls, config: bytes) -> AacConfig:
        """The first two bytes of an AudioSpecificConfig: 5 bits object type, 4 bits frequency index,
        4 bits channel configuration. Escapes (object type 31, an explicit 24-bit frequency) and the
        types ADTS cannot carry are refused."""
        if len(config) < 2:
            raise AacConfigError("an AudioSpecificConfig has at least 2 bytes")
        bits = int.from_bytes(config[:2], "big")
        object_type, frequency_index, channels = bits >> 11, (bits >> 7) & 0x0F, (bits >> 3) & 0x0F
        if not 1 <= object_type <= 4:
            raise AacConfigError(f"audio object type {object_type} does not fit an ADTS header")
        if frequency_index >= len(SAMPLING_FREQUENCIES):
            raise AacConfigError(f"sampling frequency index {frequency_index} (explicit rates do not fit ADTS)")
        if not 1 <= channels <= 7:
            raise AacConfigError(f"channel configuration {channels} does not fit an ADTS header")
        return cls(object_type, frequency_index, channels)

    def adts_header(self, payload_size: int) -> bytes:
        """The 7-byte ADTS header (no CRC) of one raw frame of `payload_size` bytes."""
        length = payload_size + ADTS_HEADER_SIZE
        if length > MAX_ADTS_FRAME:
            raise AacConfigError(f"an AAC frame of {payload_size} bytes does not fit ADTS")
        word = (
            (0xFFF << 44)  # syncword
            | (0 << 43)  # ID 0: MPEG-4
            | (0 << 41)  # layer
            | (1 << 40)  # protection_absent: no CRC
            | ((self.object_type - 1) << 38)  # profile_ObjectType
            | (self.frequency_index << 34)
            | (0 << 33)  # private_bit
            | (self.channels << 30)
            | (length << 13)  # original_copy, home, copyright bits 0; aac_frame_length
            | (0x7FF << 2)  # adts_buffer_fullness: variable rate
            | 0  # number_of_raw_data_blocks_in_frame - 1
        )
        return word.to_bytes(ADTS_HEADER_SIZE, "big")


def is_adts(frame: bytes) -> bool:
    """Whether a frame already starts with an ADTS header (some sources send them)."""
    return len(frame) >= ADTS_HEADER_SIZE and frame[0] == 0xFF and frame[1] & 0xF6 == 0xF0
