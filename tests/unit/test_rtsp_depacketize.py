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


def _picture_stream(codec: str) -> list[bytes]:
    """Three pictures: a keyframe with its parameter sets, then two P-frames of two slices each, sent in
    every form (single NAL units, aggregation, fragments)."""
    if codec == "h264":
        params, key, slice_ = stap_a(SPS, PPS), IDR, SLICE
        fragments = fu_a
    else:
        params = bytes([48 << 1, 0x01]) + b"".join(
            struct.pack("!H", len(n)) + n for n in (bytes([0x40, 0x01, 1]), bytes([0x42, 0x01, 2]))
        )
        key, slice_ = bytes([19 << 1, 0x01]) + bytes(range(150)), bytes([1 << 1, 0x01]) + bytes(range(90))

        def fragments(nal: bytes, size: int) -> list[bytes]:
            body = nal[2:]
            return [
                bytes([49 << 1, 0x01, (0x80 if i == 0 else 0) | (0x40 if i + size >= len(body) else 0) | (nal[0] >> 1)])
                + body[i : i + size]
                for i in range(0, len(body), size)
            ]

    payloads: list[tuple[int, bytes, bool]] = [(0, params, False)]
    payloads += [(0, p, False) for p in fragments(key, 40)]
    payloads[-1] = (0, payloads[-1][1], True)
    for ts in (3600, 7200):
        payloads += [(ts, p, False) for p in fragments(slice_, 30)]
        payloads.append((ts, slice_, True))
    return [rtp(seq, ts, payload, marker=marker) for seq, (ts, payload, marker) in enumerate(payloads, 1)]


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_skimmed_pictures_keep_their_sizes_and_keyframes_stay_whole(codec: str) -> None:
    packets = _picture_stream(codec)
    whole = Depacketizer(codec)  # type: ignore[arg-type]
    full = [u for data in packets for u in whole.push(parse_rtp(data))]
    skimming = Depacketizer(codec)  # type: ignore[arg-type]
    skimming.skim = True
    skimmed = [u for data in packets for u in skimming.feed_rtp(data, 0, len(data))]
    assert [u.timestamp for u in full] == [u.timestamp for u in skimmed] == [0, 3600, 7200]
    assert [u.keyframe for u in skimmed] == [True, False, False]
    # The keyframe comes whole, byte for byte; the P-frames without bytes but with the size they had.
    assert skimmed[0].annex_b() == full[0].annex_b() and not skimmed[0].skimmed
    for a, b in zip(full[1:], skimmed[1:], strict=True):
        assert b.skimmed and b.nal_units == [] and b.annex_b_size == len(a.annex_b()) == a.annex_b_size


def test_skim_takes_effect_from_the_next_picture() -> None:
    packets = _picture_stream("h264")
    dep = Depacketizer("h264")
    units = []
    for i, data in enumerate(packets):
        if i == len(packets) - 2:
            dep.skim = True  # in the middle of the second P-frame: it stays whole
        units += dep.feed_rtp(data, 0, len(data))
    assert [u.skimmed for u in units] == [False, False, False]
    later = rtp(100, 10800, SLICE, marker=True)
    assert [u.skimmed for u in dep.feed_rtp(later, 0, len(later))] == [True]


def test_feed_rtp_reads_in_place_what_parse_rtp_reads() -> None:
    ntp = struct.pack("!Q", 0x1234567890ABCDEF) + bytes([0x80, 0, 0, 0])
    data = bytearray(rtp(9, 1, SLICE, marker=True, extension=ntp) + b"\x00\x00\x03")
    data[0] |= 0x20
    framed = b"$\x00" + struct.pack("!H", len(data)) + bytes(data) + b"junk"  # as inside an RTSP connection
    (unit,) = Depacketizer("h264").feed_rtp(framed, 4, 4 + len(data))
    assert unit.nal_units == [SLICE] and unit.timestamp == 1
    # What parse_rtp refuses is dropped.
    for bad in (b"\x80\x60", b"\x40" + rtp(1, 1, SLICE)[1:]):
        assert Depacketizer("h264").feed_rtp(bad, 0, len(bad)) == ()
