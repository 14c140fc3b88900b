"""RTP packetization of PS frames for GB/T 28181 media (RFC 3550, RFC 4571 for RTP over TCP).

GB/T 28181 sends the PS byte stream as the plain RTP payload (`a=rtpmap:96 PS/90000`): no payload
header, a frame split at arbitrary byte boundaries into packets of at most `mtu_payload` bytes, all
carrying the frame's 90 kHz timestamp, the marker bit set on the frame's last packet. Elementary
streams (H264/H265 payloads, `adapters.gb28181.es`) come cut already: `packetize_payloads` puts each
piece in a packet, with the same one-timestamp, marker-last rule. The SSRC is
the 10-digit decimal `y=` value of the INVITE's SDP, as an integer (`int("0100000001")`).

Per packet the cost is one `struct.pack` and one concatenation; there is no per-byte loop.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Sequence
from typing import Final

__all__ = [
    "RTP_HEADER_SIZE",
    "RtpError",
    "RtpPacketizer",
    "frame_tcp",
    "rtp_header_fields",
    "rtp_payload",
]

RTP_VERSION: Final = 2
RTP_HEADER_SIZE: Final = 12
MAX_TCP_FRAME: Final = 0xFFFF  # RFC 4571 LENGTH is 16 bits
DEFAULT_PAYLOAD_TYPE: Final = 96
DEFAULT_MTU_PAYLOAD: Final = 1400  # 1400 + 12 + 8 + 20 stays under a 1500-byte Ethernet MTU

_HEADER: Final = struct.Struct(">BBHII")  # V/P/X/CC, M/PT, sequence number, timestamp, SSRC
_TCP_HEADER: Final = struct.Struct(">HBBHII")  # RFC 4571 LENGTH, then the RTP header
_LENGTH: Final = struct.Struct(">H")
_FIRST_BYTE: Final = RTP_VERSION << 6  # V=2, P=0, X=0, CC=0
BytesLike = bytes | bytearray | memoryview


class RtpError(ValueError):
    """The bytes are not an RTP packet this module can read, or a value is out of range."""


class RtpPacketizer:
    """Splits PS frames into RTP packets for one SSRC, keeping the sequence number across frames."""

    __slots__ = ("_mtu", "_pt", "_seq", "_ssrc")

    def __init__(
        self,
        ssrc: int,
        payload_type: int = DEFAULT_PAYLOAD_TYPE,
        mtu_payload: int = DEFAULT_MTU_PAYLOAD,
        initial_seq: int | None = None,
    ) -> None:
        if not 0 <= ssrc <= 0xFFFFFFFF:
            raise RtpError(f"ssrc {ssrc} does not fit 32 bits")
        if not 0 <= payload_type <= 127:
            raise RtpError(f"payload type {payload_type} outside 0..127")
        # A TCP frame must hold the header and the payload in 16 bits of length.
        if not 1 <= mtu_payload <= MAX_TCP_FRAME - RTP_HEADER_SIZE:
            raise RtpError(f"mtu_payload {mtu_payload} outside 1..{MAX_TCP_FRAME - RTP_HEADER_SIZE}")
        if initial_seq is not None and not 0 <= initial_seq <= 0xFFFF:
            raise RtpError(f"initial_seq {initial_seq} outside 0..65535")
        self._ssrc = ssrc
        self._pt = payload_type
        self._mtu = mtu_payload
        # RFC 3550 5.1: the initial sequence number should be random (unpredictable to attackers).
        self._seq = secrets.randbits(16) if initial_seq is None else initial_seq

    @property
    def ssrc(self) -> int:
        return self._ssrc

    @property
    def next_seq(self) -> int:
        """The sequence number the next packet will carry."""
        return self._seq

    def packetize(self, ps_bytes: bytes, timestamp90k: int) -> list[bytes]:
        """RTP packets for one PS frame; the timestamp is taken modulo 2**32. No packets for no bytes."""
        size = len(ps_bytes)
        if size == 0:
            return []
        view = memoryview(ps_bytes)
        mtu = self._mtu
        pack = _HEADER.pack
        ts = timestamp90k & 0xFFFFFFFF
        ssrc = self._ssrc
        pt = self._pt
        seq = self._seq
        last = (size - 1) // mtu * mtu
        packets = [
            pack(_FIRST_BYTE, pt, (seq + i) & 0xFFFF, ts, ssrc) + view[offset : offset + mtu]
            for i, offset in enumerate(range(0, last, mtu))
        ]
        count = len(packets)
        packets.append(pack(_FIRST_BYTE, 0x80 | pt, (seq + count) & 0xFFFF, ts, ssrc) + view[last:])
        self._seq = (seq + count + 1) & 0xFFFF
        return packets

    def packetize_tcp(self, ps_bytes: bytes, timestamp90k: int) -> bytes:
        """The RFC 4571 byte stream for one PS frame: what `frame_tcp` of each packet would give, joined,
        built in one pass for a single socket write."""
        size = len(ps_bytes)
        if size == 0:
            return b""
        view = memoryview(ps_bytes)
        mtu = self._mtu
        pack = _TCP_HEADER.pack
        ts = timestamp90k & 0xFFFFFFFF
        ssrc = self._ssrc
        pt = self._pt
        seq = self._seq
        pieces: list[bytes | memoryview] = []
        count = 0
        for offset in range(0, size, mtu):
            chunk = view[offset : offset + mtu]
            marker = 0x80 if offset + mtu >= size else 0
            pieces.append(
                pack(RTP_HEADER_SIZE + len(chunk), _FIRST_BYTE, marker | pt, (seq + count) & 0xFFFF, ts, ssrc)
            )
            pieces.append(chunk)
            count += 1
        self._seq = (seq + count) & 0xFFFF
        return b"".join(pieces)

    def packetize_payloads(self, payloads: Sequence[BytesLike], timestamp: int) -> list[bytes]:
        """RTP packets of one frame whose payloads are already cut (an elementary stream's NAL units and
        fragments): one packet each, one timestamp, the marker on the last."""
        pack = _HEADER.pack
        ts = timestamp & 0xFFFFFFFF
        ssrc, pt, seq = self._ssrc, self._pt, self._seq
        last = len(payloads) - 1
        packets = [
            pack(_FIRST_BYTE, (0x80 if i == last else 0) | pt, (seq + i) & 0xFFFF, ts, ssrc) + payload
            for i, payload in enumerate(payloads)
        ]
        self._seq = (seq + len(payloads)) & 0xFFFF
        return packets

    def packetize_payloads_tcp(self, payloads: Sequence[BytesLike], timestamp: int) -> bytes:
        """The RFC 4571 byte stream of `packetize_payloads`, for a single socket write."""
        pack = _TCP_HEADER.pack
        ts = timestamp & 0xFFFFFFFF
        ssrc, pt, seq = self._ssrc, self._pt, self._seq
        last = len(payloads) - 1
        pieces: list[BytesLike] = []
        for i, payload in enumerate(payloads):
            marker = 0x80 if i == last else 0
            pieces.append(pack(RTP_HEADER_SIZE + len(payload), _FIRST_BYTE, marker | pt, (seq + i) & 0xFFFF, ts, ssrc))
            pieces.append(payload)
        self._seq = (seq + len(payloads)) & 0xFFFF
        return b"".join(pieces)


def frame_tcp(rtp_packet: bytes) -> bytes:
    """RFC 4571 framing: the packet behind its 16-bit big-endian length."""
    if len(rtp_packet) > MAX_TCP_FRAME:
        raise RtpError(f"RTP packet of {len(rtp_packet)} bytes does not fit an RFC 4571 frame")
    return _LENGTH.pack(len(rtp_packet)) + rtp_packet


def rtp_header_fields(packet: bytes) -> tuple[int, int, int, bool, int]:
    """(sequence number, timestamp, SSRC, marker, payload type) of an RTP packet."""
    if len(packet) < RTP_HEADER_SIZE:
        raise RtpError(f"RTP packet of {len(packet)} bytes is shorter than the 12-byte header")
    first, second, seq, ts, ssrc = _HEADER.unpack_from(packet)
    if first >> 6 != RTP_VERSION:
        raise RtpError(f"RTP version {first >> 6}, expected 2")
    return seq, ts, ssrc, bool(second & 0x80), second & 0x7F


def rtp_payload(packet: bytes) -> memoryview:
    """The payload of an RTP packet, past CSRCs and a header extension, without padding (RFC 3550 5.1, 5.3.1)."""
    rtp_header_fields(packet)  # validates size and version
    first = packet[0]
    start = RTP_HEADER_SIZE + 4 * (first & 0x0F)
    if first & 0x10:  # X: a 4-byte extension header whose length counts 32-bit words
        if len(packet) < start + 4:
            raise RtpError("RTP header extension truncated")
        start += 4 + 4 * int.from_bytes(packet[start + 2 : start + 4], "big")
    end = len(packet)
    if first & 0x20:  # P: the last byte counts the padding, itself included
        end -= packet[-1]
        if packet[-1] == 0:
            raise RtpError("RTP padding length 0")
    if start > end:
        raise RtpError(f"RTP header of {start} bytes runs past the {end}-byte packet")
    return memoryview(packet)[start:end]
