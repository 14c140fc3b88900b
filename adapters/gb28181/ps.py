"""MPEG-2 Program Stream muxing of H.264 / H.265 access units, as GB/T 28181 carries live video.

The gateway forwards camera video to the city platform without re-encoding: each access unit read
from the camera becomes one PS "frame" (ISO/IEC 13818-1 2.5.3):

    pack_header                          every frame; SCR from the frame's clock (see below)
    system_header + program_stream_map   keyframes only (GB/T 28181-2016 annex C), so a platform
                                         that joins mid-stream learns the codec at the next IDR
    PES packet(s), stream_id 0xE0        the access unit, split so each PES_packet_length <= 65535
    PES packet(s), stream_id 0xC0        the camera's sound frames that came with this picture, one
                                         PES each, when the stream has sound

Sound rides in the pack of a picture, after its video, as GB/T 28181 annex C draws it
(pack | system header | PSM | PES video | PES audio ...): the RTP frame stays one picture, with one
timestamp. A pack with sound alone (`mux_audio`) is only for sound that has no picture to ride with.
The map then lists both streams and the system header sets audio_bound 1. Audio stream types are those
of annex C and of the PS muxers the platforms use (ZLMediaKit's, Hikvision's): G.711 A-law 0x90,
G.711 mu-law 0x91 (annex C names one G.711 type, 0x90; mu-law under 0x90 would be decoded as A-law),
AAC 0x0F with each frame behind an ADTS header.

Timestamp decisions (documented for the platform side):

* Every frame's first PES carries a PTS (PTS_DTS_flags '10'); GB platforms time frames by it.
  A DTS is written only when the caller passes one that differs from the PTS (B-frames), because
  13818-1 2.4.3.7 forbids a DTS equal to the PTS. Continuation PESes of the same frame carry no
  timestamp (PTS_DTS_flags '00'), so "PES with a PTS" marks the start of an access unit.
* The pack's system_clock_reference_base is the frame's DTS (its PTS when there is none), or the
  earliest sound frame's PTS in it when that is earlier, with system_clock_reference_extension 0: the
  SCR never runs ahead of the decode time, which is what the receiving platforms check; no extra
  decoder delay is modelled.
* Timestamps are taken modulo 2**33 (the 33-bit 90 kHz PTS/SCR range wraps after ~26.5 hours), so
  a caller may pass an ever-growing counter or a negative offset.

Callers whose camera sends one picture as several packets with the same timestamp (sliced
encoders) use `mux_parts`, which joins them into one access unit: a frame must be one PES run
under one PTS, otherwise the platform sees several pictures.

Cost: one copy of the access unit (the final `bytes.join`), a few `struct.pack` calls; the system
header and PSM (CRC included) are built once per muxer. No per-byte Python loop on this path.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final, Literal

from adapters.common.aac import AacConfig, is_adts
from adapters.common.h26x import START_CODE, find_sps, insert_parameter_sets

__all__ = [
    "AUDIO_STREAM_ID",
    "AUDIO_STREAM_TYPES",
    "MAX_PES_PAYLOAD",
    "STREAM_TYPE_AAC",
    "STREAM_TYPE_G711A",
    "STREAM_TYPE_G711U",
    "STREAM_TYPE_H264",
    "STREAM_TYPE_H265",
    "TIMESTAMP_MASK",
    "VIDEO_STREAM_ID",
    "PsMuxer",
    "crc32_mpeg2",
    "decode_timestamp",
    "encode_timestamp",
    "pack_header",
]

Codec = Literal["h264", "h265"]
BytesLike = bytes | bytearray | memoryview

PACK_START_CODE: Final = 0x000001BA
SYSTEM_HEADER_START_CODE: Final = 0x000001BB
PROGRAM_STREAM_MAP_ID: Final = 0xBC
VIDEO_STREAM_ID: Final = 0xE0  # "1110 xxxx": the first video stream
STREAM_TYPE_H264: Final = 0x1B  # ITU-T H.264 video (13818-1 table 2-34)
STREAM_TYPE_H265: Final = 0x24  # ITU-T H.265 video
STREAM_TYPES: Final[dict[str, int]] = {"h264": STREAM_TYPE_H264, "h265": STREAM_TYPE_H265}
AUDIO_STREAM_ID: Final = 0xC0  # "110x xxxx": the first audio stream
STREAM_TYPE_AAC: Final = 0x0F  # ISO/IEC 13818-7 audio with ADTS transport syntax
STREAM_TYPE_G711A: Final = 0x90  # GB/T 28181 annex C: G.711 (A-law)
STREAM_TYPE_G711U: Final = 0x91  # G.711 mu-law, as ZLMediaKit's and Hikvision's PS name it
AUDIO_STREAM_TYPES: Final[dict[str, int]] = {
    "pcma": STREAM_TYPE_G711A,
    "pcmu": STREAM_TYPE_G711U,
    "aac": STREAM_TYPE_AAC,
}
# P-STD_buffer_size_bound of the audio stream, in 128-byte units (P-STD_buffer_bound_scale 0): 4 KiB
# holds a few frames of any of the codecs above.
AUDIO_PSTD_BUFFER_UNITS: Final = 32

TIMESTAMP_MASK: Final = (1 << 33) - 1  # PTS, DTS and system_clock_reference_base are 33 bits
MAX_PES_PACKET_LENGTH: Final = 0xFFFF  # PES_packet_length is 16 bits
# Payload per PES: PES_packet_length counts the 3 flag bytes and up to 10 bytes of PTS+DTS, so
# 65400 leaves headroom below 65535 and is the value GB peers commonly use.
MAX_PES_PAYLOAD: Final = 65400
_PES_HEADER_MAX: Final = 3 + 10  # flags, flags, PES_header_data_length, PTS, DTS

# program_mux_rate / rate_bound are in units of 50 bytes/s (22 bits). 20 Mbit/s covers any
# surveillance stream; platforms do not pace by it, but 0 is forbidden.
DEFAULT_MUX_RATE_BPS: Final = 20_000_000
# P-STD_buffer_size_bound with P-STD_buffer_bound_scale 1 is in KiB (13 bits, at most 8191).
DEFAULT_PSTD_BUFFER_KIB: Final = 1024

_PES_START: Final = struct.Struct(">IH")  # packet_start_code_prefix + stream_id, PES_packet_length
_PTS_PREFIX_ONLY: Final = 0b0010  # '0010' before a PTS when PTS_DTS_flags == '10'
_PTS_PREFIX_WITH_DTS: Final = 0b0011  # '0011' before the PTS when PTS_DTS_flags == '11'
_DTS_PREFIX: Final = 0b0001  # '0001' before the DTS

# '10' marker, PES_scrambling_control 00, PES_priority 0, data_alignment_indicator, copyright 0,
# original_or_copy 0. The first PES of a frame starts with the Annex-B start code, so it is aligned.
_PES_FLAGS1_ALIGNED: Final = 0x84
_PES_FLAGS1_CONTINUATION: Final = 0x80
# PTS_DTS_flags, ESCR_flag .. PES_extension_flag all 0, then PES_header_data_length.
_PES_CONTINUATION_FLAGS: Final = bytes((_PES_FLAGS1_CONTINUATION, 0x00, 0x00))


def _make_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE: Final = _make_crc_table()


def crc32_mpeg2(data: BytesLike) -> int:
    """CRC_32 of 13818-1 annex A: polynomial 0x04C11DB7, register preset to all ones, no reflection,
    no final XOR. Over a section that ends in its own correct CRC_32 the result is 0.

    Runs per byte, so it is for the PSM (a few dozen bytes, built once per muxer), not for payload.
    """
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return crc


def encode_timestamp(prefix: int, value: int) -> bytes:
    """The 5-byte PTS/DTS field of a PES header (2.4.3.6): a 4-bit prefix, then the 33-bit value as
    3 + 15 + 15 bits, each group followed by a marker_bit '1'. The value is taken modulo 2**33."""
    ts = value & TIMESTAMP_MASK
    word = (
        (prefix << 36)
        | ((ts >> 30) << 33)
        | (1 << 32)
        | (((ts >> 15) & 0x7FFF) << 17)
        | (1 << 16)
        | ((ts & 0x7FFF) << 1)
        | 1
    )
    return word.to_bytes(5, "big")


def decode_timestamp(field: BytesLike) -> tuple[int, int, bool]:
    """(prefix, 33-bit value, markers_ok) of a 5-byte PTS/DTS field; the inverse of encode_timestamp."""
    word = int.from_bytes(field[:5], "big")
    markers_ok = bool((word >> 32) & 1 and (word >> 16) & 1 and word & 1)
    value = (((word >> 33) & 0x7) << 30) | (((word >> 17) & 0x7FFF) << 15) | ((word >> 1) & 0x7FFF)
    return (word >> 36) & 0xF, value, markers_ok


def pack_header(scr90k: int, mux_rate_units: int, scr_extension: int = 0) -> bytes:
    """An MPEG-2 pack_header (2.5.3.3), 14 bytes, pack_stuffing_length 0.

    After pack_start_code: '01', system_clock_reference_base as 3 + 15 + 15 bits and
    system_clock_reference_extension (9 bits), each followed by a marker_bit; program_mux_rate
    (22 bits, units of 50 bytes/s) and two marker_bits; reserved '11111' and pack_stuffing_length.
    """
    scr = scr90k & TIMESTAMP_MASK
    clock = (
        (0b01 << 46)
        | ((scr >> 30) << 43)
        | (1 << 42)
        | (((scr >> 15) & 0x7FFF) << 27)
        | (1 << 26)
        | ((scr & 0x7FFF) << 11)
        | (1 << 10)
        | ((scr_extension & 0x1FF) << 1)
        | 1
    )
    return (
        PACK_START_CODE.to_bytes(4, "big")
        + clock.to_bytes(6, "big")
        + (((mux_rate_units & 0x3FFFFF) << 2) | 0b11).to_bytes(3, "big")
        + b"\xf8"  # reserved '11111', pack_stuffing_length 0
    )


def _system_header(rate_bound: int, pstd_buffer_kib: int, audio: bool = False) -> bytes:
    """system_header (2.5.3.5) announcing one video stream and, with `audio`, one audio stream."""
    body = (
        ((1 << 23) | (rate_bound << 1) | 1).to_bytes(3, "big")  # marker_bit, rate_bound, marker_bit
        # audio_bound (6 bits), fixed_flag 0 (variable rate), CSPS_flag 0 (no constrained-parameters claim)
        + bytes((int(audio) << 2,))
        # system_audio_lock_flag 1, system_video_lock_flag 1 (the SCR is derived from the frame
        # clock), marker_bit, video_bound 1
        + bytes((0b1110_0000 | 1,))
        + b"\x7f"  # packet_rate_restriction_flag 0, reserved_bits '1111111'
        # stream_id, '11', P-STD_buffer_bound_scale 1 (KiB units for video), P-STD_buffer_size_bound
        + bytes((VIDEO_STREAM_ID,))
        + ((0b11 << 14) | (1 << 13) | pstd_buffer_kib).to_bytes(2, "big")
    )
    if audio:
        # P-STD_buffer_bound_scale 0: units of 128 bytes, as 2.5.3.5 requires of audio streams.
        body += bytes((AUDIO_STREAM_ID,)) + ((0b11 << 14) | AUDIO_PSTD_BUFFER_UNITS).to_bytes(2, "big")
    return SYSTEM_HEADER_START_CODE.to_bytes(4, "big") + len(body).to_bytes(2, "big") + body


def _program_stream_map(stream_type: int, audio_type: int | None = None) -> bytes:
    """program_stream_map (2.5.4.1) with the video stream (and an audio stream), no descriptors, CRC_32
    included."""
    entries = bytes((stream_type, VIDEO_STREAM_ID)) + (0).to_bytes(2, "big")  # elementary_stream_info_length 0
    if audio_type is not None:
        entries += bytes((audio_type, AUDIO_STREAM_ID)) + (0).to_bytes(2, "big")
    body = (
        # current_next_indicator 1, reserved '11' (13818-1:2000 as GB/T 28181 cites it; later
        # editions call the first one single_extension_stream_flag, meaningless without 0xFD
        # streams), program_stream_map_version 0
        b"\xe0"
        + b"\xff"  # reserved '1111111', marker_bit
        + (0).to_bytes(2, "big")  # program_stream_info_length: no descriptors
        + len(entries).to_bytes(2, "big")  # elementary_stream_map_length: 4-byte entries
        + entries
    )
    # program_stream_map_length counts everything after itself, CRC_32 included.
    head = b"\x00\x00\x01" + bytes((PROGRAM_STREAM_MAP_ID,)) + (len(body) + 4).to_bytes(2, "big")
    section = head + body
    # The CRC covers the whole map from packet_start_code_prefix (annex A: the decoder register is
    # zero "after processing the entire program stream map").
    return section + crc32_mpeg2(section).to_bytes(4, "big")


def _is_annex_b(data: bytes) -> bool:
    return data.startswith(START_CODE) or data.startswith(b"\x00" + START_CODE)


# One sound frame for the muxer: its PTS on the 90 kHz clock and its bytes as the source gave them.
AudioFrame = tuple[int, bytes]


class PsMuxer:
    """Wraps Annex-B access units into MPEG-2 PS frames for one video stream (see the module doc).

    `parameter_sets` (Annex-B VPS/SPS/PPS, e.g. from the RTSP SDP) are inserted into keyframes that
    arrive without an in-band SPS: a platform decoder that joins at an IDR needs them.

    `audio` ("pcma", "pcmu", "aac") adds a sound stream to the map; its frames are passed with the
    picture they ride with (`mux(..., audio=...)`) or alone (`mux_audio`). AAC needs the source's
    AudioSpecificConfig (`audio_config`) for the ADTS headers, unless its frames come with their own.
    """

    __slots__ = (
        "_aac",
        "_audio",
        "_codec",
        "_keyframe_headers",
        "_max_payload",
        "_mux_rate_tail",
        "_parameter_sets",
    )

    def __init__(
        self,
        codec: Codec,
        *,
        mux_rate_bps: int = DEFAULT_MUX_RATE_BPS,
        pstd_buffer_kib: int = DEFAULT_PSTD_BUFFER_KIB,
        max_pes_payload: int = MAX_PES_PAYLOAD,
        parameter_sets: bytes | None = None,
        audio: str | None = None,
        audio_config: bytes | None = None,
    ) -> None:
        if codec not in STREAM_TYPES:
            raise ValueError(f"unsupported codec {codec!r}: expected 'h264' or 'h265'")
        units = -(-mux_rate_bps // (50 * 8))  # bits/s -> units of 50 bytes/s, rounded up
        if not 1 <= units <= 0x3FFFFF:
            raise ValueError(f"mux_rate_bps {mux_rate_bps} outside the 22-bit program_mux_rate range")
        if not 1 <= pstd_buffer_kib <= 0x1FFF:
            raise ValueError(f"pstd_buffer_kib {pstd_buffer_kib} outside 1..8191")
        if not 1 <= max_pes_payload <= MAX_PES_PACKET_LENGTH - _PES_HEADER_MAX:
            raise ValueError(f"max_pes_payload {max_pes_payload} outside 1..{MAX_PES_PACKET_LENGTH - _PES_HEADER_MAX}")
        if parameter_sets is not None and not _is_annex_b(parameter_sets):
            raise ValueError("parameter_sets must be Annex-B (start codes)")
        if audio is not None and audio not in AUDIO_STREAM_TYPES:
            raise ValueError(f"unsupported audio {audio!r}: expected one of {', '.join(AUDIO_STREAM_TYPES)}")
        # AacConfigError (a ValueError) for a configuration ADTS cannot say.
        self._aac = AacConfig.parse(audio_config) if audio == "aac" and audio_config else None
        self._codec: Codec = codec
        self._audio = audio
        self._max_payload = max_pes_payload
        self._parameter_sets = parameter_sets or None
        # Only the SCR changes from pack to pack: precompute program_mux_rate, markers, stuffing.
        self._mux_rate_tail = pack_header(0, units)[10:]
        self._keyframe_headers = _system_header(units, pstd_buffer_kib, audio is not None) + _program_stream_map(
            STREAM_TYPES[codec], None if audio is None else AUDIO_STREAM_TYPES[audio]
        )

    @property
    def codec(self) -> Codec:
        return self._codec

    @property
    def audio(self) -> str | None:
        return self._audio

    @property
    def keyframe_headers(self) -> bytes:
        """system_header + program_stream_map as written after the pack header of each keyframe."""
        return self._keyframe_headers

    def mux(
        self,
        access_unit: bytes,
        pts90k: int,
        keyframe: bool,
        dts90k: int | None = None,
        audio: Sequence[AudioFrame] = (),
    ) -> bytes:
        """One PS frame for one Annex-B access unit, and the sound frames that ride with it. Raises
        ValueError for an empty or non-Annex-B unit, or sound on a muxer without an audio stream."""
        if not _is_annex_b(access_unit):
            raise ValueError("access unit is empty or not Annex-B (no leading start code)")
        if keyframe and self._parameter_sets is not None and find_sps(self._codec, access_unit) is None:
            access_unit = insert_parameter_sets(self._codec, access_unit, self._parameter_sets)
        pts = pts90k & TIMESTAMP_MASK
        dts = pts if dts90k is None else dts90k & TIMESTAMP_MASK
        if dts == pts:
            # PTS_DTS_flags '10', PES_header_data_length 5
            timing = b"\x80\x05" + encode_timestamp(_PTS_PREFIX_ONLY, pts)
        else:
            # PTS_DTS_flags '11', PES_header_data_length 10
            timing = b"\xc0\x0a" + encode_timestamp(_PTS_PREFIX_WITH_DTS, pts) + encode_timestamp(_DTS_PREFIX, dts)

        scr = dts if not audio else min(dts90k if dts90k is not None else pts90k, *(f[0] for f in audio))
        head = pack_header(scr, 0)[:10] + self._mux_rate_tail
        pieces: list[BytesLike] = [head, self._keyframe_headers] if keyframe else [head]
        self._pes(pieces, VIDEO_STREAM_ID, timing, access_unit)
        if audio:
            self._audio_pes(pieces, audio)
        return b"".join(pieces)

    def mux_parts(
        self,
        parts: Sequence[bytes],
        pts90k: int,
        keyframe: bool,
        dts90k: int | None = None,
        audio: Sequence[AudioFrame] = (),
    ) -> bytes:
        """One PS frame for a picture that arrived as several Annex-B packets with one timestamp."""
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        return self.mux(data, pts90k, keyframe, dts90k, audio)

    def mux_audio(self, audio: Sequence[AudioFrame]) -> bytes:
        """A pack of sound frames alone (no picture to ride with); b"" for none. The map and system
        header are the keyframes' business: a platform has them from the first picture on."""
        if not audio:
            return b""
        pieces: list[BytesLike] = [pack_header(min(f[0] for f in audio), 0)[:10] + self._mux_rate_tail]
        self._audio_pes(pieces, audio)
        return b"".join(pieces)

    def _audio_pes(self, pieces: list[BytesLike], audio: Sequence[AudioFrame]) -> None:
        if self._audio is None:
            raise ValueError("sound passed to a muxer without an audio stream")
        aac = self._aac if self._audio == "aac" else None
        for pts90k, frame in audio:
            if not frame:
                continue
            if self._audio == "aac" and not is_adts(frame):
                if aac is None:
                    raise ValueError("raw AAC frames need the AudioSpecificConfig (audio_config)")
                frame = aac.adts_header(len(frame)) + frame
            timing = b"\x80\x05" + encode_timestamp(_PTS_PREFIX_ONLY, pts90k & TIMESTAMP_MASK)
            self._pes(pieces, AUDIO_STREAM_ID, timing, frame)

    def _pes(self, pieces: list[BytesLike], stream_id: int, timing: bytes, data: bytes) -> None:
        """The PES packets of one access unit: the first carries `timing` (its PTS, DTS), the rest of a
        unit longer than one PES follows in continuation PESes without a timestamp."""
        view = memoryview(data)
        size = len(data)
        step = self._max_payload
        first = min(size, step)
        pack_start = _PES_START.pack
        start_word = 0x00000100 | stream_id
        pieces.append(pack_start(start_word, 1 + len(timing) + first))
        pieces.append(bytes((_PES_FLAGS1_ALIGNED,)) + timing)
        pieces.append(view[:first])
        for offset in range(first, size, step):
            chunk = view[offset : offset + step]
            pieces.append(pack_start(start_word, 3 + len(chunk)))
            pieces.append(_PES_CONTINUATION_FLAGS)
            pieces.append(chunk)
