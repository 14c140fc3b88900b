"""GB/T 28181 PS over RTP: the muxer and packetizer checked by our own demuxer and by ffprobe."""

from __future__ import annotations

import itertools
import json
import random
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from adapters.common.h26x import iter_nal_units
from adapters.gb28181.ps import (
    STREAM_TYPE_H264,
    STREAM_TYPE_H265,
    TIMESTAMP_MASK,
    PsMuxer,
    crc32_mpeg2,
    decode_timestamp,
    encode_timestamp,
    pack_header,
)
from adapters.gb28181.psdemux import AccessUnit, PsDemuxer, PsError, RtpPsReader, demux_rtp
from adapters.gb28181.rtp import RtpError, RtpPacketizer, frame_tcp, rtp_header_fields, rtp_payload

if TYPE_CHECKING:
    from sim.clips import ClipInfo

Frames = list[tuple[bytes, bool]]  # (Annex-B access unit, keyframe)

_CLIPS = {"h264": ("hd_h264", "h264", STREAM_TYPE_H264), "h265": ("hd_h265", "hevc", STREAM_TYPE_H265)}
# The command from the acceptance brief, the file name appended.
_FFPROBE = [
    *("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0"),
    *("-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "json"),
]
_REPO = Path(__file__).resolve().parents[2]


def _read_access_units(path: Path, fmt: str) -> Frames:
    import av

    with av.open(str(path), format=fmt) as container:
        return [(bytes(packet), bool(packet.is_keyframe)) for packet in container.demux(video=0) if packet.size]


_cache: dict[str, Frames] = {}


@pytest.fixture(scope="module")
def clip_frames(request: pytest.FixtureRequest) -> dict[str, Frames]:
    """Access units of the 1080p H.264 and H.265 clips; made by `make clips`, else by the fixture."""
    if not _cache:
        paths = {codec: _REPO / "samples" / "clips" / f"{name}.{codec}" for codec, (name, _, _) in _CLIPS.items()}
        if not all(path.exists() for path in paths.values()):
            clips: dict[str, ClipInfo] = request.getfixturevalue("sample_clips")
            paths = {codec: clips[name].path for codec, (name, _, _) in _CLIPS.items()}
        for codec, (_, fmt, _) in _CLIPS.items():
            _cache[codec] = _read_access_units(paths[codec], fmt)
    return _cache


def _mux_all(codec: str, frames: Frames, pts0: int = 0) -> list[bytes]:
    muxer = PsMuxer("h264" if codec == "h264" else "h265")
    return [muxer.mux(data, pts0 + n * 3600, key) for n, (data, key) in enumerate(frames)]


def _pes_lengths(ps: bytes) -> list[int]:
    """PES_packet_length of every video PES, found by walking the structure (not by demuxing)."""
    lengths = []
    pos = 0
    while pos < len(ps):
        assert ps[pos : pos + 3] == b"\x00\x00\x01", pos
        code = ps[pos + 3]
        if code == 0xBA:
            pos += 14 + (ps[pos + 13] & 7)
            continue
        length = int.from_bytes(ps[pos + 4 : pos + 6], "big")
        if code == 0xE0:
            lengths.append(length)
        pos += 6 + length
    return lengths


# --- bit-level vectors -----------------------------------------------------------------------------


def test_crc_timestamp_and_pack_header_bits() -> None:
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7  # the CRC-32/MPEG-2 check value
    assert encode_timestamp(0b0010, 0) == bytes.fromhex("2100010001")
    assert encode_timestamp(0b0010, TIMESTAMP_MASK) == bytes.fromhex("2fffffffff")
    assert encode_timestamp(0b0010, 1 << 33) == encode_timestamp(0b0010, 0)  # 33-bit wrap
    for value in (0, 1, 0x7FFF, 0x8000, 1 << 30, (1 << 32) + 12345, TIMESTAMP_MASK, 123456789):
        assert decode_timestamp(encode_timestamp(0b0011, value)) == (0b0011, value, True)
    # SCR 0: '01', markers everywhere, program_mux_rate 1 + two markers, reserved '11111', stuffing 0
    assert pack_header(0, 1) == bytes.fromhex("000001ba 440004000401 000007 f8")
    assert pack_header(TIMESTAMP_MASK, 0x3FFFFF) == bytes.fromhex("000001ba 7ffffffffc01 ffffff f8")


def test_keyframe_headers_are_well_formed() -> None:
    for codec, stream_type in (("h264", 0x1B), ("h265", 0x24)):
        headers = PsMuxer(codec).keyframe_headers  # type: ignore[arg-type]
        assert headers[:4] == b"\x00\x00\x01\xbb"
        system_length = int.from_bytes(headers[4:6], "big")
        assert system_length == 9  # 6 + one 3-byte stream entry
        assert headers[9] >> 2 == 0 and headers[10] & 0x1F == 1  # audio_bound 0, video_bound 1
        assert headers[12] == 0xE0 and headers[13] >> 6 == 0b11
        psm = headers[6 + system_length :]
        assert psm[:4] == b"\x00\x00\x01\xbc" and len(psm) == 6 + int.from_bytes(psm[4:6], "big")
        assert psm[12:14] == bytes((stream_type, 0xE0))
        assert crc32_mpeg2(psm) == 0  # the CRC_32 is right over the whole map


# --- round trips on the sample clips ------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_round_trip_over_rtp(codec: str, clip_frames: dict[str, Frames]) -> None:
    frames = clip_frames[codec]
    assert len(frames) >= 100 and sum(key for _, key in frames) >= 2 and frames[0][1]
    packetizer = RtpPacketizer(ssrc=100000001, initial_seq=65535 - 40)  # wraps within the first frames
    ps_frames = _mux_all(codec, frames)
    packets: list[bytes] = []
    for n, ps in enumerate(ps_frames):
        frame_packets = packetizer.packetize(ps, n * 3600)
        assert [rtp_header_fields(p)[3] for p in frame_packets] == [False] * (len(frame_packets) - 1) + [True]
        assert all(len(p) <= 12 + 1400 for p in frame_packets)
        assert b"".join(bytes(rtp_payload(p)) for p in frame_packets) == ps
        packets.extend(frame_packets)
    seqs = [rtp_header_fields(p)[0] for p in packets]
    assert seqs[:42] == [*range(65495, 65536), 0]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    assert {rtp_header_fields(p)[2] for p in packets} == {100000001}

    units, rtp_report, ps_report = demux_rtp(packets)
    assert rtp_report.ok and ps_report.ok, (rtp_report.errors, ps_report.errors)
    assert rtp_report.frames == len(frames) and rtp_report.gaps == 0 and rtp_report.frames_without_marker == 0
    assert len(units) == len(frames)
    stream_type = _CLIPS[codec][2]
    for n, (unit, (data, key)) in enumerate(zip(units, frames, strict=True)):
        assert unit.data == data, n
        assert unit.pts == n * 3600 and unit.dts is None
        assert unit.stream_id == 0xE0 and not unit.damaged
        assert unit.system_header is key and unit.psm is key, n  # system header + PSM exactly on keyframes
        assert unit.stream_type == stream_type  # the clip opens with a keyframe, so with a PSM
    assert ps_report.stream_types == {0xE0: stream_type}
    assert ps_report.packs == len(frames)
    assert ps_report.system_headers == ps_report.psms == sum(key for _, key in frames)
    assert ps_report.max_pes_length <= 65535
    assert all(length <= 65535 for ps in ps_frames for length in _pes_lengths(ps))


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")
@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_ffprobe_reads_the_program_stream(codec: str, clip_frames: dict[str, Frames], tmp_path: Path) -> None:
    frames = clip_frames[codec]
    target = tmp_path / "x.ps"
    target.write_bytes(b"".join(_mux_all(codec, frames)))
    result = subprocess.run(
        [*_FFPROBE, str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    stream = json.loads(result.stdout)["streams"][0]
    assert stream["codec_name"] == ("h264" if codec == "h264" else "hevc")
    assert (stream["width"], stream["height"]) == (1920, 1080)
    assert int(stream["nb_read_frames"]) == len(frames)
    assert result.stderr == ""


def test_pts_wraps_at_33_bits_and_rtp_timestamp_at_32(clip_frames: dict[str, Frames]) -> None:
    frames = clip_frames["h264"][:10]
    pts0 = TIMESTAMP_MASK + 1 - 3 * 3600  # the fourth frame wraps to 0
    packetizer = RtpPacketizer(ssrc=7, initial_seq=0)
    packets = [
        packet
        for n, ps in enumerate(_mux_all("h264", frames, pts0))
        for packet in packetizer.packetize(ps, pts0 + n * 3600)
    ]
    units, rtp_report, ps_report = demux_rtp(packets)
    assert ps_report.ok and [unit.pts for unit in units] == [(pts0 + n * 3600) & TIMESTAMP_MASK for n in range(10)]
    assert units[3].pts == 0
    # The RTP timestamp is the low 32 bits; its wrap is not a regression either.
    assert rtp_report.ok and rtp_report.timestamp_regressions == 0
    assert rtp_header_fields(packets[-1])[1] == (pts0 + 9 * 3600) & 0xFFFFFFFF


def test_dts_is_written_only_when_it_differs(clip_frames: dict[str, Frames]) -> None:
    data, _ = clip_frames["h264"][1]
    muxer = PsMuxer("h264")
    demuxer = PsDemuxer()
    units = demuxer.feed(muxer.mux(data, 9000, False, dts90k=9000), end_of_frame=True)
    units += demuxer.feed(muxer.mux(data, 12600, False, dts90k=5400), end_of_frame=True)
    assert [(u.pts, u.dts) for u in units] == [(9000, None), (12600, 5400)]
    assert demuxer.report.last_scr == 5400  # the SCR follows the decode time
    assert demuxer.report.ok


def test_parameter_sets_are_inserted_into_bare_keyframes(clip_frames: dict[str, Frames]) -> None:
    keyframe, _ = clip_frames["h264"][0]
    nals = {bytes(nal)[0] & 0x1F: b"\x00\x00\x00\x01" + bytes(nal) for nal in iter_nal_units(keyframe)}
    parameter_sets = nals[7] + nals[8]  # SPS + PPS
    aud = b"\x00\x00\x00\x01\x09\xf0"
    muxer = PsMuxer("h264", parameter_sets=parameter_sets)
    demuxer = PsDemuxer()
    [unit] = demuxer.feed(muxer.mux(aud + nals[5], 0, True), end_of_frame=True)
    assert unit.data == aud + parameter_sets + nals[5]  # after the AUD, before the IDR slice
    [unit] = demuxer.feed(muxer.mux(nals[5], 0, True), end_of_frame=True)
    assert unit.data == parameter_sets + nals[5]
    [unit] = demuxer.feed(muxer.mux(nals[1] if 1 in nals else nals[5], 0, False), end_of_frame=True)
    assert not unit.data.startswith(parameter_sets)  # only keyframes get them
    [unit] = demuxer.feed(muxer.mux(keyframe, 3600, True), end_of_frame=True)
    assert unit.data == keyframe  # in-band SPS: left alone


def test_mux_parts_is_one_frame(clip_frames: dict[str, Frames]) -> None:
    data, key = clip_frames["h265"][0]
    cut = data.find(b"\x00\x00\x01", 100) - 1
    muxer = PsMuxer("h265")
    assert muxer.mux_parts([data[:cut], data[cut:]], 0, key) == muxer.mux(data, 0, key)
    with pytest.raises(ValueError, match="Annex-B"):
        muxer.mux(b"\x12\x34", 0, False)
    with pytest.raises(ValueError, match="codec"):
        PsMuxer("mpeg2")  # type: ignore[arg-type]


# --- big frames ------------------------------------------------------------------------------------


def test_300k_keyframe_is_split_into_pes_packets() -> None:
    rng = random.Random(3)
    keyframe = b"\x00\x00\x00\x01\x65" + rng.randbytes(300_000)
    ps = PsMuxer("h264").mux(keyframe, 90000, True)
    lengths = _pes_lengths(ps)
    assert len(lengths) == 5 and all(length <= 65535 for length in lengths)
    assert lengths[0] == 3 + 5 + 65400 and lengths[1] == 3 + 65400  # the PTS on the first PES only
    packets = RtpPacketizer(ssrc=1, initial_seq=65530).packetize(ps, 90000)
    units, rtp_report, ps_report = demux_rtp(packets)
    assert [unit.data for unit in units] == [keyframe] and units[0].pes_packets == 5
    assert rtp_report.ok and ps_report.ok and ps_report.max_pes_length == 65408


# --- TCP framing -----------------------------------------------------------------------------------


def test_tcp_framing_in_any_chunking(clip_frames: dict[str, Frames]) -> None:
    frames = clip_frames["h264"][:60]
    packetizer = RtpPacketizer(ssrc=42, initial_seq=65500)
    ps_frames = _mux_all("h264", frames)
    stream = b"".join(frame_tcp(p) for n, ps in enumerate(ps_frames) for p in packetizer.packetize(ps, n * 3600))
    again = RtpPacketizer(ssrc=42, initial_seq=65500)
    assert stream == b"".join(again.packetize_tcp(ps, n * 3600) for n, ps in enumerate(ps_frames))

    def read(chunks: list[bytes]) -> list[bytes]:
        units, rtp_report, ps_report = demux_rtp(chunks, tcp=True)
        assert rtp_report.ok and ps_report.ok, (rtp_report.errors, ps_report.errors)
        return [unit.data for unit in units]

    expected = [data for data, _ in frames]
    one_byte = [stream[i : i + 1] for i in range(min(len(stream), 120_000))]
    cut = len(one_byte)
    assert read([*one_byte, stream[cut:]]) == expected
    rng = random.Random(5)
    chunks, pos = [], 0
    while pos < len(stream):
        step = rng.choice((1, 2, 3, rng.randrange(1, 5000)))
        chunks.append(stream[pos : pos + step])
        pos += step
    assert read(chunks) == expected
    with pytest.raises(RtpError):
        frame_tcp(bytes(70000))


# --- damaged input ---------------------------------------------------------------------------------


def _demux_bytes(data: bytes, chunk: int = 4096) -> tuple[list[AccessUnit], PsDemuxer]:
    demuxer = PsDemuxer()
    units: list[AccessUnit] = []
    for pos in range(0, len(data), chunk):
        units += demuxer.feed(data[pos : pos + chunk])
    units += demuxer.flush()
    return units, demuxer


def test_demuxer_survives_truncated_garbage_and_flipped_input(clip_frames: dict[str, Frames]) -> None:
    started = time.monotonic()
    stream = b"".join(_mux_all("h264", clip_frames["h264"][:30]))
    rng = random.Random(11)

    # Truncated inside a structure: reported, the complete frames still come out.
    for cut in (1, 5, 13, 20, 40, len(stream) // 2, len(stream) - 1):
        units, demuxer = _demux_bytes(stream[:cut])
        assert not demuxer.report.ok and any("truncated" in e for e in demuxer.report.errors), cut
    # Pure garbage and hostile start-code soup.
    for garbage in (
        rng.randbytes(200_000),
        bytes(100_000),
        b"\x00\x00\x01" * 30_000,
        b"\x00\x00\x01\xba" * 20_000,
        b"\x00\x00\x01\xbb\x00\x00" * 10_000,
        b"\x00\x00\x01\xbc\xff\xff" * 10_000,
        b"\x00\x00\x01\xe0\x00\x00" * 10_000,
        b"\x00\x00\x01\xe0\x00\x03\xff\xff\xff" * 10_000,
    ):
        units, demuxer = _demux_bytes(garbage, chunk=rng.randrange(1, 9000))
        assert not demuxer.report.ok and len(demuxer.report.errors) <= 100
    # Garbage between frames: skipped and reported, every frame still read.
    frames = _mux_all("h265", clip_frames["h265"][:10])
    units, demuxer = _demux_bytes(b"junk!" + b"\x01\x02\x03".join(frames))
    assert [u.data for u in units] == [d for d, _ in clip_frames["h265"][:10]]
    assert demuxer.report.error_count == 10 and demuxer.report.bytes_skipped == 5 + 9 * 3
    # Random bit flips: never an exception; flips in headers are caught.
    for _ in range(300):
        flipped = bytearray(stream)
        for _ in range(rng.randrange(1, 4)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        _demux_bytes(bytes(flipped), chunk=rng.randrange(500, 20_000))
    # pack header: an SCR marker_bit, a program_mux_rate marker_bit, the '01'; system header: rate_bound's marker
    for offset, mask, what in (
        (8, 0x04, "SCR marker_bit"),
        (12, 0x01, "marker_bits"),
        (4, 0x80, "'01'"),
        (22, 0x01, "marker_bit"),
    ):
        flipped = bytearray(stream)
        flipped[offset] ^= mask
        _, demuxer = _demux_bytes(bytes(flipped))
        assert any(what in e for e in demuxer.report.errors), (offset, demuxer.report.errors)
    psm_at = stream.find(b"\x00\x00\x01\xbc")
    flipped = bytearray(stream)
    flipped[psm_at + 12] ^= 0x40  # stream_type 0x1B -> 0x5B
    _, demuxer = _demux_bytes(bytes(flipped))
    assert any("CRC_32" in e for e in demuxer.report.errors)
    with pytest.raises(PsError, match="CRC_32"):
        PsDemuxer(strict=True).feed(bytes(flipped))
    assert time.monotonic() - started < 10


def test_rtp_reader_counts_loss_reorder_and_foreign_packets(clip_frames: dict[str, Frames]) -> None:
    packetizer = RtpPacketizer(ssrc=9, initial_seq=65534)
    packets = [
        p for n, ps in enumerate(_mux_all("h264", clip_frames["h264"][:20])) for p in packetizer.packetize(ps, n * 3600)
    ]
    assert len(packets) > 30
    lost = packets[:10] + packets[12:]
    reader = RtpPsReader(ssrc=9, payload_type=96)
    frames = [f for p in lost for f in reader.feed_rtp(p)] + reader.finish()
    assert reader.report.gaps == 1 and reader.report.lost_packets == 2 and any(f.damaged for f in frames)

    reader = RtpPsReader()
    foreign = RtpPacketizer(ssrc=10, initial_seq=0).packetize(b"x" * 3000, 0)
    shuffled = [packets[0], packets[2], packets[1], foreign[0], b"\x00" * 5, b"\x40" + bytes(20), *packets[3:]]
    for packet in shuffled:
        reader.feed_rtp(packet)
    report = reader.report
    assert (report.late_packets, report.foreign_ssrc_packets, report.invalid_packets, report.gaps) == (1, 1, 2, 1)
    assert report.error_count == 5
    # Every frame's first packet's timestamp going back is caught.
    reader = RtpPsReader()
    for packet in packets[-3:]:
        reader.feed_rtp(packet)
    late = RtpPacketizer(ssrc=9, initial_seq=(rtp_header_fields(packets[-1])[0] + 1) & 0xFFFF).packetize(b"y" * 10, 0)
    reader.feed_rtp(late[0])
    assert reader.report.timestamp_regressions == 1
