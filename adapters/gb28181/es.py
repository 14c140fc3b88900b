"""RTP payloads of H.264 (RFC 6184) and H.265 (RFC 7798) access units: the elementary-stream form of a
GB/T 28181-2022 session, for a platform whose offer has H264/90000 or H265/90000 and no PS.

Each NAL unit that fits `mtu` bytes is one packet (single NAL unit packet); a larger one is cut into
fragmentation units (H.264 FU-A, H.265 FU) of at most `mtu` bytes, the first with the S bit, the last
with the E bit. Non-interleaved mode (packetization-mode=1), no aggregation packets: parameter sets
travel as packets of their own, which every depacketizer takes. Every packet of one access unit gets
the same RTP timestamp and the last one the marker (`RtpPacketizer.packetize_payloads`).
"""

from __future__ import annotations

from typing import Final, Literal

from adapters.common.h26x import iter_nal_units

__all__ = ["nal_payloads"]

Codec = Literal["h264", "h265"]

_H264_FU_A: Final = 28
_H265_FU: Final = 49
_START: Final = 0x80
_END: Final = 0x40


def nal_payloads(codec: Codec, access_unit: bytes, mtu: int) -> list[bytes | memoryview]:
    """The RTP payloads of one Annex-B access unit, in order. `mtu` is the most payload per packet."""
    if mtu < 4:
        raise ValueError(f"mtu {mtu} leaves no room for a fragment")
    out: list[bytes | memoryview] = []
    for nal in iter_nal_units(access_unit):
        if len(nal) <= mtu:
            out.append(nal)
        elif codec == "h264":
            _fu_a(nal, mtu, out)
        else:
            _fu_h265(nal, mtu, out)
    return out


def _fu_a(nal: memoryview, mtu: int, out: list[bytes | memoryview]) -> None:
    """RFC 6184 5.8: FU indicator (the NAL header's F and NRI, type 28), FU header (S, E, the type)."""
    indicator = bytes(((nal[0] & 0xE0) | _H264_FU_A,))
    kind = nal[0] & 0x1F
    step = mtu - 2
    body = nal[1:]
    for offset in range(0, len(body), step):
        flags = (_START if offset == 0 else 0) | (_END if offset + step >= len(body) else 0)
        out.append(indicator + bytes((flags | kind,)) + body[offset : offset + step])


def _fu_h265(nal: memoryview, mtu: int, out: list[bytes | memoryview]) -> None:
    """RFC 7798 4.4.3: a payload header (the NAL header with type 49), FU header (S, E, the type)."""
    header = bytes(((nal[0] & 0x81) | (_H265_FU << 1), nal[1]))
    kind = (nal[0] >> 1) & 0x3F
    step = mtu - 3
    body = nal[2:]
    for offset in range(0, len(body), step):
        flags = (_START if offset == 0 else 0) | (_END if offset + step >= len(body) else 0)
        out.append(header + bytes((flags | kind,)) + body[offset : offset + step])
