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
_RTP_HEAD: Final = struct.Struct("!BBHI")


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
    first, second, seq, timestamp, begin, end = rtp_span(data, 0, len(data))
    (ssrc,) = struct.unpack_from("!I", data, 8)
    profile: int | None = None
    extension = b""
    if first & 0x10:
        at = 12 + 4 * (first & 0x0F)
        profile, words = struct.unpack_from("!HH", data, at)
        extension = data[at + 4 : at + 4 + 4 * words]
    return RtpPacket(second & 0x7F, seq, timestamp, ssrc, bool(second & 0x80), data[begin:end], profile, extension)


def rtp_span(buf: bytes, start: int, end: int) -> tuple[int, int, int, int, int, int]:
    """The RTP packet buf[start:end] read in place (RFC 3550 section 5.1): its first two bytes, sequence
    number, timestamp, and where its payload begins and ends (past the CSRCs, the header extension and
    before the padding). RtpError when it cannot be one."""
    if end - start < 12:
        raise RtpError("RTP packet shorter than its header")
    first, second, seq, timestamp = _RTP_HEAD.unpack_from(buf, start)
    if first >> 6 != 2:
        raise RtpError("not RTP version 2")
    begin = start + 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if end < begin + 4:
            raise RtpError("RTP header extension cut short")
        begin += 4 + 4 * ((buf[begin + 2] << 8) | buf[begin + 3])
    if first & 0x20:
        if end <= begin or buf[end - 1] > end - begin:
            raise RtpError("bad RTP padding")
        end -= buf[end - 1]
    if begin > end:
        raise RtpError("RTP packet shorter than its header")
    return first, second, seq, timestamp, begin, end


@dataclass(slots=True)
class AccessUnit:
    """The NAL units of one picture (one RTP timestamp), with the first packet's header extension.

    A skimmed unit (`Depacketizer.skim`) kept no bytes: only how many NAL units and bytes it had."""

    timestamp: int
    nal_units: list[bytes] = field(default_factory=list)
    size: int = 0  # bytes of its NAL units, without start codes
    keyframe: bool = False
    damaged: bool = False
    first: RtpPacket | None = None
    count: int = 0  # NAL units
    sliced: bool = False  # its first slice came (which decides whether it is skimmed)
    skimmed: bool = False

    def annex_b(self) -> bytes:
        return b"".join(START_CODE + nal for nal in self.nal_units)

    @property
    def annex_b_size(self) -> int:
        """The length of `annex_b()`, also for a skimmed unit."""
        return self.size + len(START_CODE) * self.count


_NOTHING: Final[tuple[AccessUnit, ...]] = ()


class Depacketizer:
    """Feed RTP packets in arrival order with `push` (or `feed_rtp`, straight from a receive buffer); they
    return the access units the packet completes.

    With `skim` set, a picture that is not a keyframe keeps no bytes, only its size: the reader of a
    camera nobody views or forwards needs the sizes and timestamps of its P-frames, and copying and
    joining their bytes was most of what reading cost (docs/benchmarks.md, "A light stream reader").
    Keyframes are always kept whole (their parameter sets and the quality samples need them). Whether a
    picture is skimmed is decided at its first slice (a coded picture's slices are all of one kind in
    both codecs), so `skim` may change at any time and takes effect from the next picture."""

    def __init__(self, codec: Codec) -> None:
        if codec not in ("h264", "h265"):
            raise ValueError(f"cannot depacketize {codec}")
        self.codec: Codec = codec
        self.skim = False
        self._h264 = codec == "h264"
        self._unit: AccessUnit | None = None
        self._fragment: bytearray | None = None
        self._fragment_size = -1  # a skimmed fragmented NAL unit: its bytes so far; -1 when none
        self._fragment_key = False
        self._next_seq: int | None = None
        self.lost = 0  # packets missing from the sequence

    def push(self, packet: RtpPacket) -> list[AccessUnit]:
        return list(
            self.feed(packet.payload, 0, len(packet.payload), packet.seq, packet.timestamp, packet.marker, packet)
        )

    def feed_rtp(self, buf: bytes, start: int, end: int) -> tuple[AccessUnit, ...]:
        """The RTP packet buf[start:end], read in place (the live reader's path: no copy of its header or,
        when skimmed, its payload). A packet that cannot be RTP is dropped, as `parse_rtp` would refuse it."""
        try:
            _first, second, seq, timestamp, begin, stop = rtp_span(buf, start, end)
        except RtpError:
            return _NOTHING
        return self.feed(buf, begin, stop, seq, timestamp, bool(second & 0x80))

    def feed(
        self, buf: bytes, start: int, end: int, seq: int, timestamp: int, marker: bool, first: RtpPacket | None = None
    ) -> tuple[AccessUnit, ...]:
        """One RTP packet's payload, buf[start:end], with its header's fields."""
        done = _NOTHING
        if self._next_seq is not None and seq != self._next_seq:
            self.lost += (seq - self._next_seq) % 65536
            self._fragment, self._fragment_size = None, -1  # its middle is gone
            if self._unit is not None:
                self._unit.damaged = True
        self._next_seq = (seq + 1) & 0xFFFF
        unit = self._unit
        if unit is not None and unit.timestamp != timestamp:
            if unit.count:
                done = (unit,)
            unit = None
        if unit is None:
            unit = self._unit = AccessUnit(timestamp, first=first)
        if start < end:
            if self._h264:
                self._h264_payload(unit, buf, start, end)
            else:
                self._h265_payload(unit, buf, start, end)
        if marker or unit.size > MAX_ACCESS_UNIT:
            self._unit = None
            self._fragment, self._fragment_size = None, -1
            if unit.count:
                done = (*done, unit)
        return done

    def flush(self) -> list[AccessUnit]:
        """What is left when the stream ends (a last picture without the marker)."""
        unit, self._unit, self._fragment, self._fragment_size = self._unit, None, None, -1
        return [unit] if unit is not None and unit.count else []

    def reset(self) -> None:
        """After a seek: what was half-read belongs to the old position."""
        self._unit = None
        self._fragment, self._fragment_size = None, -1
        self._next_seq = None

    # --- inside: each NAL unit is classified by its type, (vcl, key) --------------------------------

    def _h264_payload(self, unit: AccessUnit, buf: bytes, start: int, end: int) -> None:
        kind = buf[start] & 0x1F
        if 1 <= kind <= 23:
            self._whole(unit, buf, start, end, kind <= 5, kind == _H264_IDR)
        elif kind == _H264_STAP_A:
            for s, e in _aggregated(buf, start + 1, end):
                k = buf[s] & 0x1F
                self._whole(unit, buf, s, e, 1 <= k <= 5, k == _H264_IDR)
        elif kind == _H264_FU_A and end - start > 2:
            indicator, header = buf[start], buf[start + 1]
            k = header & 0x1F
            self._fragmented(
                unit,
                bytes([(indicator & 0xE0) | k]),
                buf,
                start + 2,
                end,
                bool(header & 0x80),
                bool(header & 0x40),
                1 <= k <= 5,
                k == _H264_IDR,
            )
        # else: interleaved-mode types, refused by the SDP check; nothing to pass on

    def _h265_payload(self, unit: AccessUnit, buf: bytes, start: int, end: int) -> None:
        if end - start < 2:
            return
        kind = (buf[start] >> 1) & 0x3F
        if kind < _H265_AP:
            self._whole(unit, buf, start, end, kind < 32, 16 <= kind <= 21)
        elif kind == _H265_AP:
            for s, e in _aggregated(buf, start + 2, end):
                k = (buf[s] >> 1) & 0x3F
                self._whole(unit, buf, s, e, k < 32, 16 <= k <= 21)  # BLA, IDR, CRA
        elif kind == _H265_FU and end - start > 3:
            header = buf[start + 2]
            k = header & 0x3F
            nal_header = bytes([(buf[start] & 0x81) | (k << 1), buf[start + 1]])
            self._fragmented(
                unit, nal_header, buf, start + 3, end, bool(header & 0x80), bool(header & 0x40), k < 32, 16 <= k <= 21
            )
        # else: PACI and reserved types carry nothing we forward

    def _skims(self, unit: AccessUnit, vcl: bool, key: bool) -> bool:
        """Whether this NAL unit's bytes are left out: the picture's first slice decides."""
        if unit.skimmed:
            if key:
                unit.keyframe = unit.damaged = True  # not a stream a camera sends: a keyframe without bytes
            return True
        if vcl and not unit.sliced:
            unit.sliced = True
            if self.skim and not key:
                unit.skimmed = True
                unit.nal_units.clear()
                return True
        return False

    def _whole(self, unit: AccessUnit, buf: bytes, start: int, end: int, vcl: bool, key: bool) -> None:
        if start >= end:
            return
        unit.count += 1
        unit.size += end - start
        if not self._skims(unit, vcl, key):
            unit.nal_units.append(buf[start:end])
            if key:
                unit.keyframe = True

    def _fragmented(
        self,
        unit: AccessUnit,
        nal_header: bytes,
        buf: bytes,
        start: int,
        end: int,
        first: bool,
        last: bool,
        vcl: bool,
        key: bool,
    ) -> None:
        if first:
            self._fragment, self._fragment_size = None, -1
            if self._skims(unit, vcl, key):
                self._fragment_size = len(nal_header)
            else:
                self._fragment = bytearray(nal_header)
                self._fragment_key = key
        if self._fragment is not None:
            self._fragment += buf[start:end]
            size = len(self._fragment)
        elif self._fragment_size >= 0:
            self._fragment_size += end - start
            size = self._fragment_size
        else:
            return  # the start was lost: drop the rest of this NAL unit
        if size > MAX_ACCESS_UNIT:
            self._fragment, self._fragment_size = None, -1
            return
        if not last:
            return
        if self._fragment is not None:
            unit.nal_units.append(bytes(self._fragment))
            unit.keyframe = unit.keyframe or self._fragment_key  # only once whole: a lost middle is no IDR
        unit.count += 1
        unit.size += size
        self._fragment, self._fragment_size = None, -1


def _aggregated(buf: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """Where the NAL units of a STAP-A / AP lie (from behind its header): each behind a 16-bit size."""
    out: list[tuple[int, int]] = []
    offset = start
    while offset + 2 <= end:
        size = (buf[offset] << 8) | buf[offset + 1]
        offset += 2
        if size == 0 or offset + size > end:
            break
        out.append((offset, offset + size))
        offset += size
    return out
