"""A checking demuxer for GB/T 28181 PS over RTP: what the city platform will see from the gateway.

Two stages, usable separately:

* `RtpPsReader` takes RTP packets (or an RFC 4571 TCP byte stream in chunks of any size), checks
  the RTP layer (one SSRC, continuous sequence numbers across the 65535 -> 0 wrap, frame timestamps
  that never go back, a marker on each frame's last packet) and hands back each frame's PS bytes.
* `PsDemuxer` parses ISO/IEC 13818-1 program stream: pack headers (2.5.3.3), system headers
  (2.5.3.5), program stream maps (2.5.4.1, CRC_32 checked) and PES packets (2.4.3.6), and yields the
  elementary-stream access units with their PTS/DTS.

Both read network input. Nothing in them raises on bad bytes: every problem is counted in the
report's `errors` (the first `MAX_ERROR_MESSAGES` kept as text), the parser resynchronises on the
next start code, and every loop consumes input, so it ends. The one exception is the opt-in
`strict=True` mode, which raises PsError (a ValueError) with the first problem's message.

An access unit starts at a PES that carries a PTS different from the one being collected (the
gateway's muxer puts the PTS on a frame's first PES only; cameras that repeat it on every PES of a
frame are read right too) and ends at the next such PES, at a program_end_code, or when the
caller says the frame is complete (`feed(..., end_of_frame=True)`, as the RTP marker allows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from adapters.gb28181.ps import crc32_mpeg2, decode_timestamp
from adapters.gb28181.rtp import RtpError, rtp_header_fields, rtp_payload

__all__ = [
    "MAX_ERROR_MESSAGES",
    "AccessUnit",
    "PsDemuxer",
    "PsError",
    "PsFrame",
    "PsReport",
    "RtpPsReader",
    "RtpReport",
    "demux_rtp",
]

MAX_ERROR_MESSAGES: Final = 100
DEFAULT_MAX_ACCESS_UNIT: Final = 16 * 1024 * 1024  # far above any 4K keyframe; bounds memory on garbage
MAX_PSM_LENGTH: Final = 0x3FA  # program_stream_map_length "shall not exceed 1018" (2.5.4.2)

_START: Final = b"\x00\x00\x01"
_PACK: Final = 0xBA
_SYSTEM_HEADER: Final = 0xBB
_PSM: Final = 0xBC
_END: Final = 0xB9
_PADDING: Final = 0xBE
_PRIVATE_2: Final = 0xBF
# stream_ids whose PES packets have no PES header flags (2.4.3.7, the "else if" branch of PES_packet()).
_NO_HEADER_IDS: Final = frozenset({_PSM, _PADDING, _PRIVATE_2, 0xF0, 0xF1, 0xF2, 0xF8, 0xFF})


class PsError(ValueError):
    """Raised only in strict mode: the input is not a well-formed GB/T 28181 PS stream."""


def _error(errors: list[str], count: int, message: str, strict: bool) -> int:
    if strict:
        raise PsError(message)
    if len(errors) < MAX_ERROR_MESSAGES:
        errors.append(message)
    return count + 1


@dataclass(frozen=True, slots=True)
class AccessUnit:
    """One elementary-stream access unit reassembled from PES payloads."""

    stream_id: int
    stream_type: int | None  # from the last PSM seen, None before any PSM
    pts: int | None
    dts: int | None  # None when the PES header had no DTS (it then equals the PTS)
    data: bytes
    pes_packets: int
    system_header: bool  # the pack in which it started carried a system header
    psm: bool  # ... and a program stream map
    damaged: bool  # a PES of it was dropped as malformed, or an RTP packet of its frame was lost


@dataclass(slots=True)
class PsReport:
    """What the demuxer has seen so far."""

    packs: int = 0
    system_headers: int = 0
    psms: int = 0
    pes_packets: int = 0  # every PES-syntax packet, padding and private streams included
    max_pes_length: int = 0  # the largest PES_packet_length field
    access_units: int = 0
    stream_types: dict[int, int] = field(default_factory=dict)  # stream_id -> stream_type, from the PSMs
    last_scr: int | None = None  # system_clock_reference_base of the last pack, 90 kHz
    mux_rate: int | None = None  # program_mux_rate of the last pack, units of 50 bytes/s
    rate_bound: int | None = None
    bytes_skipped: int = 0  # bytes that were not part of any recognised structure
    error_count: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_count == 0


@dataclass(slots=True)
class _Pending:
    stream_id: int
    pts: int | None
    dts: int | None
    system_header: bool
    psm: bool
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    pes_packets: int = 0
    damaged: bool = False


class PsDemuxer:
    """Incremental PS parser: `feed` bytes in any split, get complete access units back."""

    def __init__(self, *, strict: bool = False, max_access_unit: int = DEFAULT_MAX_ACCESS_UNIT) -> None:
        self.report = PsReport()
        self._strict = strict
        self._max_au = max_access_unit
        self._buf = bytearray()
        self._offset = 0  # stream offset of self._buf[0], for messages
        self._pending: dict[int, _Pending] = {}
        self._last_code: int | None = None  # start code of the previous structure
        self._seen_pack = False
        self._pack_system_header = False
        self._pack_psm = False
        self._garbage_start: int | None = None
        self._garbage_run = 0

    # ---------------------------------------------------------------------------------------------

    def feed(self, data: bytes, *, end_of_frame: bool = False, damaged: bool = False) -> list[AccessUnit]:
        """Parse `data` after what came before. `end_of_frame` completes the access units in progress
        (the data ended a frame, e.g. at an RTP marker); `damaged` marks them as missing bytes."""
        self._buf += data
        out: list[AccessUnit] = []
        self._parse(out)
        if damaged:
            for pending in self._pending.values():
                pending.damaged = True
        if end_of_frame:
            self._complete_all(out)
        return out

    def flush(self) -> list[AccessUnit]:
        """End of stream: bytes of an incomplete structure are reported as truncated; the access
        units in progress are returned."""
        out: list[AccessUnit] = []
        self._parse(out)
        if self._buf:
            self._fail(f"stream truncated: {len(self._buf)} bytes of an incomplete structure at offset {self._offset}")
            self.report.bytes_skipped += len(self._buf)
            self._offset += len(self._buf)
            self._buf.clear()
            for pending in self._pending.values():
                pending.damaged = True
        self._end_garbage()
        self._complete_all(out)
        return out

    # ---------------------------------------------------------------------------------------------

    def _fail(self, message: str) -> None:
        self.report.error_count = _error(self.report.errors, self.report.error_count, message, self._strict)

    def _skip_garbage(self, start: int, count: int) -> None:
        if self._garbage_start is None:
            self._garbage_start = self._offset + start
        self._garbage_run += count
        self.report.bytes_skipped += count

    def _end_garbage(self) -> None:
        if self._garbage_start is not None:
            self._fail(f"{self._garbage_run} bytes without a PS start code at offset {self._garbage_start}")
            self._garbage_start = None
            self._garbage_run = 0

    def _parse(self, out: list[AccessUnit]) -> None:
        buf = self._buf
        size = len(buf)
        pos = 0
        while size - pos >= 4:
            if buf[pos : pos + 3] != _START:
                nxt = buf.find(_START, pos + 1)
                if nxt == -1:
                    # Keep two bytes: they may be the start of a start code split across feeds.
                    self._skip_garbage(pos, size - 2 - pos)
                    pos = size - 2
                    break
                self._skip_garbage(pos, nxt - pos)
                pos = nxt
                continue
            code = buf[pos + 3]
            if code < _END:
                # 00 00 01 xx with xx < 0xB9 is a video start code or NAL unit, not a PS structure.
                self._skip_garbage(pos, 3)
                pos += 3
                continue
            self._end_garbage()
            if code == _PACK:
                used = self._pack_header(buf, pos, size)
            elif code == _SYSTEM_HEADER:
                used = self._system_header(buf, pos, size)
            elif code == _PSM:
                used = self._psm(buf, pos, size)
            elif code == _END:
                self._complete_all(out)
                used = 4
            else:
                used = self._pes(buf, pos, size, code, out)
            if used is None:  # incomplete: wait for more bytes
                break
            if used == 0:  # malformed header: resynchronise after its start code
                self.report.bytes_skipped += 4
                used = 4
            self._last_code = code
            pos += used
        del buf[:pos]
        self._offset += pos

    def _pack_header(self, buf: bytearray, pos: int, size: int) -> int | None:
        if size - pos < 5:
            return None
        where = self._offset + pos
        kind = buf[pos + 4]
        if kind & 0xF0 == 0x20:  # '0010': an ISO/IEC 11172-1 (MPEG-1) pack, 12 bytes
            self._fail(f"MPEG-1 pack header at offset {where}, GB/T 28181 needs MPEG-2 PS")
            return 12 if size - pos >= 12 else None
        if kind & 0xC0 != 0x40:
            self._fail(f"pack header at offset {where} lacks the MPEG-2 '01' bits")
            return 0
        if size - pos < 14:
            return None
        stuffing = buf[pos + 13] & 0x07  # pack_stuffing_length
        total = 14 + stuffing
        if size - pos < total:
            return None
        clock = int.from_bytes(buf[pos + 4 : pos + 10], "big")
        if not ((clock >> 42) & 1 and (clock >> 26) & 1 and (clock >> 10) & 1 and clock & 1):
            self._fail(f"pack header at offset {where}: SCR marker_bit not set")
        rate = int.from_bytes(buf[pos + 10 : pos + 13], "big")
        if rate & 0b11 != 0b11:
            self._fail(f"pack header at offset {where}: program_mux_rate marker_bits not set")
        mux_rate = rate >> 2
        if mux_rate == 0:
            self._fail(f"pack header at offset {where}: program_mux_rate 0 is forbidden")
        if buf[pos + 14 : pos + total].strip(b"\xff"):
            self._fail(f"pack header at offset {where}: stuffing_byte other than 0xFF")
        report = self.report
        report.packs += 1
        report.mux_rate = mux_rate
        report.last_scr = ((clock >> 43) & 0x7) << 30 | ((clock >> 27) & 0x7FFF) << 15 | ((clock >> 11) & 0x7FFF)
        self._seen_pack = True
        self._pack_system_header = False
        self._pack_psm = False
        return total

    def _system_header(self, buf: bytearray, pos: int, size: int) -> int | None:
        if size - pos < 6:
            return None
        where = self._offset + pos
        length = int.from_bytes(buf[pos + 4 : pos + 6], "big")  # header_length
        total = 6 + length
        if size - pos < total:
            return None
        if self._last_code != _PACK:
            self._fail(f"system header at offset {where} does not follow a pack header")
        if length < 6 or (length - 6) % 3:
            self._fail(f"system header at offset {where}: header_length {length} is not 6 + 3n")
            return total
        rate = int.from_bytes(buf[pos + 6 : pos + 9], "big")
        if not (rate >> 23 and rate & 1) or not buf[pos + 10] & 0x20:
            self._fail(f"system header at offset {where}: marker_bit not set")
        for entry in range(pos + 12, pos + total, 3):
            stream_id = buf[entry]
            if stream_id < 0xB8 or buf[entry + 1] & 0xC0 != 0xC0:
                self._fail(f"system header at offset {where}: bad stream entry for stream_id 0x{stream_id:02X}")
        self.report.system_headers += 1
        self.report.rate_bound = (rate >> 1) & 0x3FFFFF
        self._pack_system_header = True
        return total

    def _psm(self, buf: bytearray, pos: int, size: int) -> int | None:
        if size - pos < 6:
            return None
        where = self._offset + pos
        length = int.from_bytes(buf[pos + 4 : pos + 6], "big")  # program_stream_map_length
        if length > MAX_PSM_LENGTH or length < 10:
            self._fail(f"program stream map at offset {where}: program_stream_map_length {length} outside 10..1018")
            return 0
        total = 6 + length
        if size - pos < total:
            return None
        info_length = int.from_bytes(buf[pos + 8 : pos + 10], "big")
        map_at = pos + 10 + info_length
        map_length = int.from_bytes(buf[map_at : map_at + 2], "big") if map_at + 2 <= pos + total else -1
        if map_length < 0 or 16 + info_length + map_length != total:
            self._fail(f"program stream map at offset {where}: lengths do not add up to program_stream_map_length")
            return total
        if not buf[pos + 6] & 0x80:
            self._fail(f"program stream map at offset {where}: current_next_indicator 0 (a map not yet valid)")
        if not buf[pos + 7] & 0x01:
            self._fail(f"program stream map at offset {where}: marker_bit not set")
        if crc32_mpeg2(buf[pos : pos + total]):
            self._fail(f"program stream map at offset {where}: CRC_32 mismatch")
        entry = map_at + 2
        end = entry + map_length
        types = self.report.stream_types
        while entry < end:
            if end - entry < 4:
                self._fail(f"program stream map at offset {where}: truncated elementary stream entry")
                break
            types[buf[entry + 1]] = buf[entry]
            entry += 4 + int.from_bytes(buf[entry + 2 : entry + 4], "big")  # elementary_stream_info_length
            if entry > end:
                self._fail(f"program stream map at offset {where}: elementary_stream_info_length runs past the map")
        self.report.psms += 1
        self._pack_psm = True
        return total

    def _pes(self, buf: bytearray, pos: int, size: int, stream_id: int, out: list[AccessUnit]) -> int | None:
        if size - pos < 6:
            return None
        where = self._offset + pos
        length = int.from_bytes(buf[pos + 4 : pos + 6], "big")  # PES_packet_length
        if length == 0:
            # Unbounded PES packets exist only in transport streams (2.4.3.7).
            self._fail(f"PES 0x{stream_id:02X} at offset {where}: PES_packet_length 0 in a program stream")
            return 0
        total = 6 + length
        if size - pos < total:
            return None
        report = self.report
        report.pes_packets += 1
        report.max_pes_length = max(report.max_pes_length, length)
        if not self._seen_pack:
            self._seen_pack = True  # one message, not one per packet
            self._fail(f"PES 0x{stream_id:02X} at offset {where} before any pack header")
        if stream_id in _NO_HEADER_IDS:
            return total
        # Read past the packet's end as zeros: a 1- or 2-byte packet must not index beyond the buffer.
        flags1, flags2, header_length = bytes(buf[pos + 6 : pos + min(total, 9)]).ljust(3, b"\x00")
        problem = None
        if length < 3 or flags1 & 0xC0 != 0x80:
            problem = "no MPEG-2 PES header ('10' bits)"
        elif 3 + header_length > length:
            problem = f"PES_header_data_length {header_length} runs past PES_packet_length {length}"
        elif flags1 & 0x30:
            problem = "PES_scrambling_control set"
        pts = dts = None
        pts_dts = flags2 >> 6
        if problem is None:
            field_at = pos + 9
            if pts_dts == 0b01:
                problem = "PTS_DTS_flags '01' is forbidden"
            elif pts_dts and header_length < (5 if pts_dts == 0b10 else 10):
                problem = f"PES_header_data_length {header_length} too short for PTS_DTS_flags"
            elif pts_dts:
                prefix, pts, ok = decode_timestamp(buf[field_at : field_at + 5])
                if prefix != (0b0010 if pts_dts == 0b10 else 0b0011) or not ok:
                    problem = "PTS prefix or marker_bit wrong"
                if pts_dts == 0b11:
                    prefix, dts, ok = decode_timestamp(buf[field_at + 5 : field_at + 10])
                    if prefix != 0b0001 or not ok:
                        problem = "DTS prefix or marker_bit wrong"
        if problem is not None:
            self._fail(f"PES 0x{stream_id:02X} at offset {where}: {problem}")
            pending = self._pending.get(stream_id)
            if pending is not None:
                pending.damaged = True
            return total
        pending = self._pending.get(stream_id)
        if pts is not None and (pending is None or pending.pts != pts):
            if pending is not None:
                out.append(self._complete(pending))
            pending = _Pending(stream_id, pts, dts, self._pack_system_header, self._pack_psm)
            self._pending[stream_id] = pending
        elif pending is None:
            self._fail(f"PES 0x{stream_id:02X} at offset {where}: continuation without a PES that starts the frame")
            return total
        payload = bytes(buf[pos + 9 + header_length : pos + total])
        pending.size += len(payload)
        pending.pes_packets += 1
        if pending.size > self._max_au:
            self._fail(f"access unit of stream 0x{stream_id:02X} exceeds {self._max_au} bytes, dropped")
            del self._pending[stream_id]
            return total
        pending.parts.append(payload)
        return total

    def _complete(self, pending: _Pending) -> AccessUnit:
        self.report.access_units += 1
        data = pending.parts[0] if len(pending.parts) == 1 else b"".join(pending.parts)
        return AccessUnit(
            stream_id=pending.stream_id,
            stream_type=self.report.stream_types.get(pending.stream_id),
            pts=pending.pts,
            dts=pending.dts,
            data=data,
            pes_packets=pending.pes_packets,
            system_header=pending.system_header,
            psm=pending.psm,
            damaged=pending.damaged,
        )

    def _complete_all(self, out: list[AccessUnit]) -> None:
        for pending in self._pending.values():
            out.append(self._complete(pending))
        self._pending.clear()


# --------------------------------------------------------------------------------------------------
# RTP


@dataclass(frozen=True, slots=True)
class PsFrame:
    """The PS bytes of one RTP frame (the packets sharing one timestamp)."""

    timestamp: int
    data: bytes
    packets: int
    marker: bool  # ended by a packet with the marker bit (else by a new timestamp or the end)
    damaged: bool  # packets were lost in or right before it


@dataclass(slots=True)
class RtpReport:
    packets: int = 0  # accepted packets
    frames: int = 0
    invalid_packets: int = 0  # too short, not version 2, bad padding or extension, wrong payload type
    foreign_ssrc_packets: int = 0  # packets from another SSRC than the first, dropped
    gaps: int = 0  # places where sequence numbers jump forward
    lost_packets: int = 0  # sequence numbers missing in those gaps
    late_packets: int = 0  # duplicated or out-of-order packets (older sequence number), dropped
    timestamp_regressions: int = 0  # frames whose timestamp is before the previous frame's
    frames_without_marker: int = 0
    ssrc: int | None = None
    error_count: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_count == 0


class RtpPsReader:
    """Checks a GB/T 28181 RTP stream and reassembles its PS frames.

    `ssrc` and `payload_type`, when given, are what the SDP negotiated; otherwise the first packet's
    SSRC is taken and any payload type is accepted.
    """

    def __init__(self, *, ssrc: int | None = None, payload_type: int | None = None, strict: bool = False) -> None:
        self.report = RtpReport(ssrc=ssrc)
        self._payload_type = payload_type
        self._strict = strict
        self._next_seq: int | None = None
        self._last_ts: int | None = None  # timestamp of the last frame started
        self._frame_ts: int | None = None  # timestamp of the frame in progress (None: none)
        self._parts: list[bytes] = []
        self._frame_damaged = False
        self._tcp = bytearray()

    def _fail(self, message: str) -> None:
        self.report.error_count = _error(self.report.errors, self.report.error_count, message, self._strict)

    def feed_tcp(self, chunk: bytes) -> list[PsFrame]:
        """RFC 4571 bytes as they arrive from the socket, in chunks of any size."""
        buf = self._tcp
        buf += chunk
        out: list[PsFrame] = []
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            length = (buf[pos] << 8) | buf[pos + 1]
            if size - pos - 2 < length:
                break
            out.extend(self.feed_rtp(bytes(buf[pos + 2 : pos + 2 + length])))
            pos += 2 + length
        if pos:
            del buf[:pos]
        return out

    def feed_rtp(self, packet: bytes) -> list[PsFrame]:
        """One RTP packet; returns the frames it completed (none, or one or two)."""
        report = self.report
        try:
            seq, ts, ssrc, marker, pt = rtp_header_fields(packet)
            payload = rtp_payload(packet)
        except RtpError as exc:
            report.invalid_packets += 1
            self._fail(f"invalid RTP packet: {exc}")
            return []
        if self._payload_type is not None and pt != self._payload_type:
            report.invalid_packets += 1
            self._fail(f"RTP payload type {pt}, expected {self._payload_type}")
            return []
        if report.ssrc is None:
            report.ssrc = ssrc
        elif ssrc != report.ssrc:
            report.foreign_ssrc_packets += 1
            self._fail(f"RTP SSRC {ssrc} differs from {report.ssrc}")
            return []
        if self._next_seq is not None and seq != self._next_seq:
            ahead = (seq - self._next_seq) & 0xFFFF
            if ahead >= 0x8000:
                report.late_packets += 1
                self._fail(f"RTP sequence {seq} is late or duplicated (expected {self._next_seq})")
                return []
            report.gaps += 1
            report.lost_packets += ahead
            self._fail(f"RTP sequence gap: {ahead} packets lost before {seq}")
            self._frame_damaged = True
            gap = True
        else:
            gap = False
        self._next_seq = (seq + 1) & 0xFFFF
        report.packets += 1
        out: list[PsFrame] = []
        if self._frame_ts is not None and ts != self._frame_ts:
            report.frames_without_marker += 1
            self._fail(f"RTP frame at timestamp {self._frame_ts} ended without a marker")
            out.append(self._finish(marker=False))
            self._frame_damaged = gap  # the lost packets may have opened this frame
        if self._frame_ts is None:
            if self._last_ts is not None and (ts - self._last_ts) & 0xFFFFFFFF >= 0x80000000:
                report.timestamp_regressions += 1
                self._fail(f"RTP timestamp {ts} is before the previous frame's {self._last_ts}")
            self._frame_ts = ts
            self._last_ts = ts
        self._parts.append(bytes(payload))
        if marker:
            out.append(self._finish(marker=True))
        return out

    def finish(self) -> list[PsFrame]:
        """End of stream: the frame in progress (without its marker) and undelivered TCP bytes."""
        out: list[PsFrame] = []
        if self._tcp:
            self._fail(f"RFC 4571 stream truncated: {len(self._tcp)} bytes of an incomplete frame")
            self._tcp.clear()
        if self._frame_ts is not None:
            self.report.frames_without_marker += 1
            self._fail(f"RTP frame at timestamp {self._frame_ts} ended without a marker")
            out.append(self._finish(marker=False))
        return out

    def _finish(self, *, marker: bool) -> PsFrame:
        assert self._frame_ts is not None
        frame = PsFrame(
            timestamp=self._frame_ts,
            data=b"".join(self._parts),
            packets=len(self._parts),
            marker=marker,
            damaged=self._frame_damaged,
        )
        self.report.frames += 1
        self._parts = []
        self._frame_ts = None
        self._frame_damaged = False
        return frame


def demux_rtp(packets: list[bytes], *, tcp: bool = False) -> tuple[list[AccessUnit], RtpReport, PsReport]:
    """Check a whole capture: RTP packets (or, with tcp=True, RFC 4571 chunks) -> access units and reports."""
    reader = RtpPsReader()
    demuxer = PsDemuxer()
    units: list[AccessUnit] = []
    for item in packets:
        frames = reader.feed_tcp(item) if tcp else reader.feed_rtp(item)
        for frame in frames:
            units.extend(demuxer.feed(frame.data, end_of_frame=True, damaged=frame.damaged))
    for frame in reader.finish():
        units.extend(demuxer.feed(frame.data, end_of_frame=True, damaged=frame.damaged))
    units.extend(demuxer.flush())
    return units, reader.report, demuxer.report
