"""RTP packets of an H.264 (RFC 6184) or H.265 (RFC 7798) stream joined back into access units.

The replay reader needs this because FFmpeg cannot drive a replay (see `adapters.rtsp.replay`), so the
RTP arrives here as it came off the wire. Each access unit comes out in Annex B form (start codes), the
form `Packet.data` has everywhere in the gateway.

Handled: single NAL unit packets, aggregation packets (STAP-A; H.265 AP) and fragmentation units
(FU-A; H.265 FU), in non-interleaved mode (packetization-mode 0 or 1, what cameras and NVRs send).
Interleaved mode (STAP-B, MTAP, FU-B, DONL) is refused by the SDP check before any packet arrives.
A fragment lost in the middle (a sequence gap) drops that NAL unit rather than passing on a corrupt
one; the access unit is then marked damaged so the sender can wait for the next keyframe.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final, Literal

Codec = Literal["h264", "h265"]

START_CODE: Final = b"\x00\x00\x00\x01"
# One access unit never grows past this: a source that never sets the marker or changes the timestamp
# must not make us buffer without limit (a 4K keyframe is a few MB).
MAX_ACCESS_UNIT: Final = 16 * 1024 * 1024

_H264_IDR: Final = 5
_H264_STAP_A: Final = 24
_H264_FU_A: Final = 28
_H265_AP: Final = 48
_H265_FU: Final = 49
_H265_PACI: Final = 50


class RtpError(ValueError):
    """An RTP packet that cannot be read at all (shorter than its header says)."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet as read (RFC 3550 section 5.1), with its header extension kept as sent."""

    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes
    extension_profile: int | None = None
    extension: bytes = b""


def parse_rtp(data: bytes) -> RtpPacket:
    if len(data) < 12:
        raise RtpError("RTP packet shorter than its header")
    first, second, seq, timestamp, ssrc = struct.unpack_from("!BBHII", data)
    if first >> 6 != 2:
        raise RtpError("not RTP version 2")
    offset = 12 + 4 * (first & 0x0F)
    profile: int | None = None
    extension = b""
    if first & 0x10:
        if len(data) < offset + 4:
            raise RtpError("RTP header extension cut short")
        profile, words = struct.unpack_from("!HH", data, offset)
        extension = data[offset + 4 : offset + 4 + 4 * words]
        offset += 4 + 4 * words
    end = len(data)
    if first & 0x20:
        if end <= offset or data[-1] > end - offset:
            raise RtpError("bad RTP padding")
        end -= data[-1]
    if offset > end:
        raise RtpError("RTP packet shorter than its header")
    return RtpPacket(second & 0x7F, seq, timestamp, ssrc, bool(second & 0x80), data[offset:end], profile, extension)


@dataclass(slots=True)
class AccessUnit:
    """The NAL units of one picture (one RTP timestamp), with the first packet's header extension."""

    timestamp: int
    nal_units: list[bytes] = field(default_factory=list)
    size: int = 0
    keyframe: bool = False
    damaged: bool = False
    first: RtpPacket | None = None

    def annex_b(self) -> bytes:
        return b"".join(START_CODE + nal for nal in self.nal_units)


class Depacketizer:
    """Feed RTP packets in arrival order with `push`; it returns the access units they complete."""

    def __init__(self, codec: Codec) -> None:
        if codec not in ("h264", "h265"):
            raise ValueError(f"cannot depacketize {codec}")
        self.codec: Codec = codec
        self._unit: AccessUnit | None = None
        self._fragment: bytearray | None = None
        self._next_seq: int | None = None
        self.lost = 0  # packets missing from the sequence

    def push(self, packet: RtpPacket) -> list[AccessUnit]:
        done: list[AccessUnit] = []
        if self._next_seq is not None and packet.seq != self._next_seq:
            self.lost += (packet.seq - self._next_seq) % 65536
            self._fragment = None  # its middle is gone
            if self._unit is not None:
                self._unit.damaged = True
        self._next_seq = (packet.seq + 1) % 65536
        unit = self._unit
        if unit is not None and unit.timestamp != packet.timestamp:
            done.append(unit)
            unit = None
        if unit is None:
            unit = self._unit = AccessUnit(packet.timestamp, first=packet)
        for nal in self._nal_units(packet.payload):
            self._add(unit, nal)
        if packet.marker or unit.size > MAX_ACCESS_UNIT:
            done.append(unit)
            self._unit = None
            self._fragment = None
        return [u for u in done if u.nal_units]

    def flush(self) -> list[AccessUnit]:
        """What is left when the stream ends (a last picture without the marker)."""
        unit, self._unit, self._fragment = self._unit, None, None
        return [unit] if unit is not None and unit.nal_units else []

    def reset(self) -> None:
        """After a seek: what was half-read belongs to the old position."""
        self._unit = None
        self._fragment = None
        self._next_seq = None

    def _add(self, unit: AccessUnit, nal: bytes) -> None:
        if not nal:
            return
        unit.nal_units.append(nal)
        unit.size += len(nal)
        if self.codec == "h264":
            unit.keyframe = unit.keyframe or nal[0] & 0x1F == _H264_IDR
        else:
            unit.keyframe = unit.keyframe or 16 <= (nal[0] >> 1) & 0x3F <= 21  # BLA, IDR, CRA

    def _nal_units(self, payload: bytes) -> list[bytes]:
        if self.codec == "h264":
            return self._h264(payload)
        return self._h265(payload)

    def _h264(self, payload: bytes) -> list[bytes]:
        if not payload:
            return []
        kind = payload[0] & 0x1F
        if 1 <= kind <= 23:
            return [payload]
        if kind == _H264_STAP_A:
            return _aggregated(payload, 1)
        if kind == _H264_FU_A and len(payload) > 2:
            indicator, header = payload[0], payload[1]
            return self._fragmented(
                bytes([(indicator & 0xE0) | (header & 0x1F)]), payload[2:], bool(header & 0x80), bool(header & 0x40)
            )
        return []  # interleaved-mode types, refused by the SDP check; nothing to pass on

    def _h265(self, payload: bytes) -> list[bytes]:
        if len(payload) < 2:
            return []
        kind = (payload[0] >> 1) & 0x3F
        if kind < _H265_AP:
            return [payload]
        if kind == _H265_AP:
            return _aggregated(payload, 2)
        if kind == _H265_FU and len(payload) > 3:
            header = payload[2]
            nal_header = bytes([(payload[0] & 0x81) | ((header & 0x3F) << 1), payload[1]])
            return self._fragmented(nal_header, payload[3:], bool(header & 0x80), bool(header & 0x40))
        return []  # PACI and reserved types carry nothing we forward

    def _fragmented(self, nal_header: bytes, body: bytes, start: bool, end: bool) -> list[bytes]:
        if start:
            self._fragment = bytearray(nal_header)
        if self._fragment is None:
            return []  # the start was lost: drop the rest of this NAL unit
        self._fragment += body
        if len(self._fragment) > MAX_ACCESS_UNIT:
            self._fragment = None
            return []
        if not end:
            return []
        nal, self._fragment = bytes(self._fragment), None
        return [nal]


def _aggregated(payload: bytes, header_size: int) -> list[bytes]:
    """The NAL units of a STAP-A / AP: each behind a 16-bit size."""
    out: list[bytes] = []
    offset = header_size
    while offset + 2 <= len(payload):
        (size,) = struct.unpack_from("!H", payload, offset)
        offset += 2
        if size == 0 or offset + size > len(payload):
            break
        out.append(payload[offset : offset + size])
        offset += size
    return out
