"""The passthrough track: waits for an IDR, inserts SPS/PPS, 90 kHz timestamps."""

from __future__ import annotations

from fractions import Fraction

import pytest
from aiortc.mediastreams import MediaStreamError

from adapters.common.media import Packet
from adapters.webrtc import H264PassthroughTrack, RtpClock, parameter_sets, with_parameter_sets

SPS = b"\x67\x42\x00\x1f\xaa"
PPS = b"\x68\xce\x3c\x80"
IDR = b"\x00\x00\x00\x01\x65\x88\x84\x00"
P = b"\x00\x00\x00\x01\x41\x9a\x02"
AUD = b"\x00\x00\x00\x01\x09\xf0"
EXTRADATA = b"\x00\x00\x00\x01" + SPS + b"\x00\x00\x00\x01" + PPS
TB = Fraction(1, 90000)


def pkt(data: bytes, pts: int | None, key: bool, arrival: float = 0.0) -> Packet:
    return Packet("cam", "h264", pts, pts, TB, key, data, arrival)


def feed(packets: list[Packet]):  # type: ignore[no-untyped-def]
    queue = list(packets)

    async def next_packet() -> Packet | None:
        return queue.pop(0) if queue else None

    return next_packet


def test_parameter_sets_from_annexb_and_avcc() -> None:
    assert parameter_sets(EXTRADATA) == EXTRADATA
    avcc = bytes([1, 0x42, 0, 0x1F, 0xFF, 0xE1]) + len(SPS).to_bytes(2, "big") + SPS + b"\x01"
    avcc += len(PPS).to_bytes(2, "big") + PPS
    assert parameter_sets(avcc) == EXTRADATA
    assert parameter_sets(b"\x07garbage") == b""
    assert parameter_sets(None) == b""


def test_sets_go_before_the_slice_but_after_an_aud() -> None:
    assert with_parameter_sets(IDR, EXTRADATA) == EXTRADATA + IDR
    assert with_parameter_sets(AUD + IDR, EXTRADATA) == AUD + EXTRADATA + IDR
    already = EXTRADATA + IDR
    assert with_parameter_sets(already, EXTRADATA) == already


async def test_waits_for_idr_and_inserts_sets() -> None:
    packets = [pkt(P, 0, False), pkt(P, 3600, False), pkt(IDR, 7200, True), pkt(P, 10800, False)]
    track = H264PassthroughTrack(feed(packets), EXTRADATA)
    first = await track.recv()
    assert bytes(first) == EXTRADATA + IDR
    assert first.pts == 0 and first.time_base == TB
    second = await track.recv()
    assert bytes(second) == P and second.pts == 3600
    assert track.frames_skipped == 2 and track.frames_sent == 2
    with pytest.raises(MediaStreamError):
        await track.recv()
    assert track.readyState == "ended"


async def test_resync_waits_for_the_next_idr_again() -> None:
    packets = [pkt(IDR, 0, True), pkt(P, 3600, False), pkt(P, 7200, False), pkt(IDR, 10800, True)]
    track = H264PassthroughTrack(feed(packets), EXTRADATA)
    await track.recv()
    track.resync()
    nxt = await track.recv()
    assert nxt.pts == 10800 and track.frames_skipped == 2


def test_clock_follows_source_in_90khz() -> None:
    clock = RtpClock()
    ms = Fraction(1, 1000)
    assert [clock.ticks(p, ms, p / 1000) for p in (5000, 5040, 5080)] == [0, 3600, 7200]


def test_clock_survives_a_jump_and_missing_pts() -> None:
    clock = RtpClock()
    assert clock.ticks(900000, TB, 10.0) == 0
    assert clock.ticks(903600, TB, 10.04) == 3600
    # A reconnect: the source clock restarts near zero; ours goes on by the time that passed.
    assert clock.ticks(0, TB, 10.08) == 7200
    assert clock.ticks(3600, TB, 10.12) == 10800
    assert clock.ticks(None, TB, 10.16) == 14400
