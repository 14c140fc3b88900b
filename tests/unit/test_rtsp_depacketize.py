"""RTP packets joined back into access units (adapters/rtsp/depacketize.py), on hand-made packets that
cover each packetization form and the losses a network causes. The same code against GStreamer's own
payloaders (an independent implementation) is in tests/integration/test_rtsp_replay.py."""

from __future__ import annotations

import struct

import pytest

from adapters.rtsp.depacketize import Depacketizer, RtpError, RtpPacket, parse_rtp

SPS = bytes([0x67, 0x64, 0x00, 0x1F, 0xAC])
PPS = bytes([0x68, 0xEE, 0x3C, 0x80])
IDR = bytes([0x65]) + bytes(range(200))
SLICE = bytes([0x41]) + bytes(range(50))


def rtp(seq: int, ts: int, payload: bytes, *, marker: bool = False, pt: int = 96, extension: bytes = b"") -> bytes:
    first = 0x80 | (0x10 if extension else 0)
    header = struct.pack("!BBHII", first, (0x80 if marker else 0) | pt, seq, ts, 0x1234)
    if extension:
        header += struct.pack("!HH", 0xABAC, len(extension) // 4) + extension
    return header + payload


def fu_a(nal: bytes, size: int) -> list[bytes]:
    indicator = (nal[0] & 0xE0) | 28
    body = nal[1:]
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    out = []
    for i, part in enumerate(parts):
        header = (0x80 if i == 0 else 0) | (0x40 if i == len(parts) - 1 else 0) | (nal[0] & 0x1F)
        out.append(bytes([indicator, header]) + part)
    return out


def stap_a(*nals: bytes) -> bytes:
    return bytes([24]) + b"".join(struct.pack("!H", len(n)) + n for n in nals)


def feed(dep: Depacketizer, packets: list[bytes]) -> list[tuple[int, list[bytes], bool, bool]]:
    out = []
    for data in packets:
        for unit in dep.push(parse_rtp(data)):
            out.append((unit.timestamp, unit.nal_units, unit.keyframe, unit.damaged))
    return out


def test_single_stap_a_and_fu_a_make_whole_access_units() -> None:
    dep = Depacketizer("h264")
    packets = [rtp(1, 900, stap_a(SPS, PPS))]
    packets += [rtp(2 + i, 900, p, marker=i == 4) for i, p in enumerate(fu_a(IDR, 48))]
    packets.append(rtp(7, 4500, SLICE, marker=True))
    units = feed(dep, packets)
    assert units == [(900, [SPS, PPS, IDR], True, False), (4500, [SLICE], False, False)]
    assert dep.lost == 0


def test_a_timestamp_change_ends_a_picture_whose_marker_was_lost() -> None:
    dep = Depacketizer("h264")
    units = feed(dep, [rtp(1, 900, SLICE), rtp(2, 4500, SLICE, marker=True)])
    assert [u[0] for u in units] == [900, 4500]


def test_a_lost_fragment_drops_that_nal_unit_and_marks_the_picture() -> None:
    dep = Depacketizer("h264")
    fragments = fu_a(IDR, 48)
    packets = [rtp(1, 900, SPS), rtp(2, 900, fragments[0])]
    packets += [rtp(4 + i, 900, p, marker=i == len(fragments) - 3) for i, p in enumerate(fragments[2:])]
    units = feed(dep, packets)
    # The IDR's middle is gone: what is left of the picture is passed on, marked damaged; no corrupt IDR.
    assert units == [(900, [SPS], False, True)]
    assert dep.lost == 1


def test_h265_aggregation_and_fragmentation_units() -> None:
    vps, sps, pps = bytes([0x40, 0x01, 1, 2]), bytes([0x42, 0x01, 3, 4]), bytes([0x44, 0x01, 5])
    idr = bytes([0x26, 0x01]) + bytes(range(120))  # IDR_W_RADL (type 19)
    ap = bytes([48 << 1, 0x01]) + b"".join(struct.pack("!H", len(n)) + n for n in (vps, sps, pps))
    body = idr[2:]
    fus = [
        bytes([49 << 1, 0x01, (0x80 if i == 0 else 0) | (0x40 if i + 50 >= len(body) else 0) | 19]) + body[i : i + 50]
        for i in range(0, len(body), 50)
    ]
    dep = Depacketizer("h265")
    units = feed(dep, [rtp(1, 0, ap)] + [rtp(2 + i, 0, f, marker=i == len(fus) - 1) for i, f in enumerate(fus)])
    assert units == [(0, [vps, sps, pps, idr], True, False)]


def test_the_header_extension_and_padding_are_read() -> None:
    ntp = struct.pack("!Q", 0x1234567890ABCDEF) + bytes([0x80, 0, 0, 0])
    data = bytearray(rtp(9, 1, SLICE, marker=True, extension=ntp) + b"\x00\x00\x03")
    data[0] |= 0x20  # padding: the last byte counts the padding bytes
    packet = parse_rtp(bytes(data))
    assert packet == RtpPacket(96, 9, 1, 0x1234, True, SLICE, 0xABAC, ntp)


@pytest.mark.parametrize("data", [b"\x80\x60", rtp(1, 1, b"")[: -0 or None][:11], b"\x40" + rtp(1, 1, SLICE)[1:]])
def test_unreadable_packets_are_refused(data: bytes) -> None:
    with pytest.raises(RtpError):
        parse_rtp(data)


def test_interleaved_mode_payloads_pass_nothing_on() -> None:
    dep = Depacketizer("h264")
    assert feed(dep, [rtp(1, 0, bytes([25]) + SLICE, marker=True)]) == []  # STAP-B
    with pytest.raises(ValueError):
        Depacketizer("mjpeg")  # type: ignore[arg-type]
