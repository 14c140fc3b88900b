"""Parameter-set parsing against real encoder output, synthetic corner cases, and hostile bytes.

Real streams come from PyAV's libx264/libx265 and FFmpeg's own decoder is the oracle for them.
Corner cases that the encoders never emit (POC type 1, short-term RPS prediction, long-term refs,
VPS timing ...) are built bit by bit with BitWriter; the builders are first shown to reproduce the
encoders' parameter sets byte for byte, and where the syntax allows, FFmpeg decodes a real picture
under the synthetic SPS, so the builders cannot share a misreading of the standard with the parser.
"""

from __future__ import annotations

import functools
import io
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from adapters.common.h26x import (
    ParameterSetError,
    ParameterSetInfo,
    ebsp_to_rbsp,
    find_nal,
    find_sps,
    iter_nal_units,
    nal_type,
    nal_units_from_extradata,
    parse_h264_sps,
    parse_h265_sps,
    parse_h265_vps_fps,
    parse_sps,
)

# ---------------------------------------------------------------------------------------------
# Real streams


def _picture(width: int, height: int, pix_fmt: str, seed: int) -> av.VideoFrame:
    # Gradients with some noise: cheap to encode, yet intra prediction and filters matter.
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 40, (height, width, 3), dtype=np.uint8)
    rgb[:, :, 0] += np.linspace(0, 215, width, dtype=np.uint8)
    rgb[:, :, 1] += np.linspace(0, 215, height, dtype=np.uint8)[:, None]
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)


@functools.cache
def encode(
    encoder: str,
    width: int,
    height: int,
    pix_fmt: str = "yuv420p",
    rate: Fraction = Fraction(25),
    options: tuple[tuple[str, str], ...] = (),
    container: str | None = None,
    frames: int = 2,
) -> bytes:
    """Encode a few frames; by default into a raw Annex-B elementary stream."""
    settings = dict(options)
    if encoder == "libx265":
        settings["x265-params"] = ":".join(filter(None, ["log-level=none", settings.get("x265-params", "")]))
    buf = io.BytesIO()
    with av.open(buf, "w", format=container or ("h264" if encoder == "libx264" else "hevc")) as out:
        stream = out.add_stream(encoder, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = settings
        for index in range(frames):
            frame = _picture(width, height, pix_fmt, index)
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


@dataclass(frozen=True)
class Decoded:
    width: int
    height: int
    profile: str | None
    framerate: Fraction | None
    planes: list[bytes]


def ffmpeg_decode(codec: str, annexb: bytes) -> Decoded:
    """What FFmpeg's decoder makes of an Annex-B stream: the independent oracle."""
    ctx = av.CodecContext.create("h264" if codec == "h264" else "hevc", "r")
    packets = ctx.parse(annexb) + ctx.parse(None)  # None flushes the last access unit out of the parser
    frames = [frame for packet in packets for frame in ctx.decode(packet)] + ctx.decode(None)
    assert frames, "FFmpeg decoded nothing"
    first = frames[0]
    return Decoded(
        width=first.width,
        height=first.height,
        profile=ctx.profile,
        framerate=ctx.framerate or None,
        planes=[bytes(plane) for plane in first.planes],
    )


def opts(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple((key.replace("_", "-"), value) for key, value in values.items())


H264_STREAMS = [
    # width, height, pix_fmt, rate, encoder options, expected profile, level, chroma, bit depth, interlaced
    pytest.param(
        1920, 1080, "yuv420p", 25, opts(preset="ultrafast", profile="baseline", level="4.1"),
        "Constrained Baseline", "4.1", "4:2:0", 8, False, id="1080p-baseline",
    ),
    pytest.param(
        1280, 720, "yuv420p", Fraction(30000, 1001), opts(preset="veryfast", profile="main", level="3.1"),
        "Main", "3.1", "4:2:0", 8, False, id="720p-main-29.97",
    ),
    pytest.param(
        704, 576, "yuv420p", 25, opts(preset="veryfast", profile="high", level="3.0"),
        "High", "3.0", "4:2:0", 8, False, id="576p-high",
    ),
    pytest.param(
        640, 360, "yuv420p", 15, opts(preset="veryfast", profile="high", level="2.2"),
        "High", "2.2", "4:2:0", 8, False, id="360p-high-15fps",
    ),
    pytest.param(
        1918, 1078, "yuv420p", 25, opts(preset="veryfast", level="5.1", x264_params="cqm=jvt"),
        "High", "5.1", "4:2:0", 8, False, id="1918x1078-scaling-matrices",
    ),
    pytest.param(
        1920, 1080, "yuv420p", 25, opts(preset="veryfast", level="4.0", x264_params="interlaced=1"),
        "High", "4.0", "4:2:0", 8, True, id="1080i",
    ),
    pytest.param(
        1920, 1080, "yuv420p10le", 50, opts(preset="ultrafast", level="4.2"),
        "High 10", "4.2", "4:2:0", 10, False, id="1080p50-high10",
    ),
    pytest.param(
        1917, 1079, "yuv444p", 25, opts(preset="ultrafast", level="4.0"),
        "High 4:4:4 Predictive", "4.0", "4:4:4", 8, False, id="1917x1079-444",
    ),
    pytest.param(
        720, 486, "yuv422p", Fraction(30000, 1001), opts(preset="veryfast", level="3.0", x264_params="interlaced=1"),
        "High 4:2:2", "3.0", "4:2:2", 8, True, id="486i-422",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("width", "height", "pix_fmt", "rate", "options", "profile", "level", "chroma", "bit_depth", "interlaced"),
    H264_STREAMS,
)
def test_h264_sps_from_x264_matches_what_was_encoded(
    width: int,
    height: int,
    pix_fmt: str,
    rate: Fraction | int,
    options: tuple[tuple[str, str], ...],
    profile: str,
    level: str,
    chroma: str,
    bit_depth: int,
    interlaced: bool,
) -> None:
    stream = encode("libx264", width, height, pix_fmt, Fraction(rate), options)
    sps = find_sps("h264", stream)
    assert sps is not None
    info = parse_sps("h264", sps)

    assert (info.codec, info.width, info.height) == ("h264", width, height)
    assert (info.profile, info.level, info.chroma_format) == (profile, level, chroma)
    assert (info.bit_depth, info.interlaced) == (bit_depth, interlaced)
    assert info.fps == pytest.approx(float(rate))
    decoded = ffmpeg_decode("h264", stream)
    assert (decoded.width, decoded.height, decoded.profile) == (info.width, info.height, info.profile)


def test_h264_reorder_depth_is_read_past_hrd_parameters() -> None:
    # nal-hrd puts HRD parameters ahead of bitstream_restriction; B-pyramid means a reorder depth of 2.
    hrd = opts(preset="veryfast", x264_params="nal-hrd=vbr:vbv-maxrate=2000:vbv-bufsize=2000:bframes=3")
    with_b = parse_h264_sps(find_sps("h264", encode("libx264", 640, 360, options=hrd)) or b"")
    no_b = opts(preset="veryfast", x264_params="nal-hrd=cbr:vbv-maxrate=900:vbv-bufsize=900:bframes=0")
    without_b = parse_h264_sps(find_sps("h264", encode("libx264", 640, 360, options=no_b)) or b"")

    assert (with_b.max_num_reorder, with_b.has_b_frames, with_b.fps) == (2, True, 25.0)
    assert (without_b.max_num_reorder, without_b.has_b_frames, without_b.fps) == (0, False, 25.0)


@pytest.fixture(scope="module")
def scaling_list_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An HM-style custom quantisation matrix file, which x265 writes into the SPS as explicit lists."""
    rng = random.Random(7)
    lines = []
    for size_id, size in enumerate(("4X4", "8X8", "16X16", "32X32")):
        for kind in ("INTRA", "INTER"):
            for component in ("LUMA", "CHROMAU", "CHROMAV"):
                name = f"{kind}{size}_{component}"
                values = [rng.randint(8, 40) for _ in range(16 if size_id == 0 else 64)]
                lines += [f"{name} ="] + [",".join(map(str, values[i : i + 8])) + "," for i in range(0, len(values), 8)]
                if size_id > 1:
                    lines += [f"{name}_DC =", f"{rng.randint(8, 40)},"]
    path: Path = tmp_path_factory.mktemp("x265") / "matrices.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


H265_STREAMS = [
    # width, height, pix_fmt, rate, x265-params, expected profile, level, chroma, bit depth, fps signalled
    pytest.param(1920, 1080, "yuv420p", 25, "level-idc=5.1", "Main", "5.1", "4:2:0", 8, True, id="1080p-main"),
    pytest.param(
        1280, 720, "yuv420p10le", 25, "level-idc=4.1:vui-timing-info=0", "Main 10", "4.1", "4:2:0", 10, False,
        id="720p-main10-no-timing",
    ),
    pytest.param(704, 576, "yuv420p", 25, "level-idc=3", "Main", "3.0", "4:2:0", 8, True, id="576p-main"),
    pytest.param(
        640, 360, "yuv420p", Fraction(30000, 1001), "level-idc=3.1", "Main", "3.1", "4:2:0", 8, True,
        id="360p-main-29.97",
    ),
    pytest.param(1918, 1078, "yuv420p", 30, "level-idc=4.1", "Main", "4.1", "4:2:0", 8, True, id="1918x1078"),
    pytest.param(640, 360, "yuv444p", 25, "", "Rext", "2.1", "4:4:4", 8, True, id="360p-444-rext"),
    pytest.param(640, 360, "gray", 25, "", "Rext", "2.1", "4:0:0", 8, True, id="360p-monochrome"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("width", "height", "pix_fmt", "rate", "params", "profile", "level", "chroma", "bit_depth", "has_fps"),
    H265_STREAMS,
)
def test_h265_sps_from_x265_matches_what_was_encoded(
    width: int,
    height: int,
    pix_fmt: str,
    rate: Fraction | int,
    params: str,
    profile: str,
    level: str,
    chroma: str,
    bit_depth: int,
    has_fps: bool,
) -> None:
    stream = encode("libx265", width, height, pix_fmt, Fraction(rate), opts(preset="ultrafast", x265_params=params))
    sps = find_sps("h265", stream)
    assert sps is not None
    info = parse_sps("h265", sps)

    assert (info.codec, info.width, info.height) == ("h265", width, height)
    assert (info.profile, info.level, info.chroma_format) == (profile, level, chroma)
    assert (info.bit_depth, info.interlaced) == (bit_depth, False)
    assert info.fps == (pytest.approx(float(rate)) if has_fps else None)
    decoded = ffmpeg_decode("h265", stream)
    assert (decoded.width, decoded.height, decoded.profile) == (info.width, info.height, info.profile)


def test_h265_explicit_scaling_lists_from_x265_are_skipped_exactly(scaling_list_file: Path) -> None:
    params = f"scaling-list={scaling_list_file}"
    stream = encode("libx265", 640, 360, rate=Fraction(24), options=opts(preset="ultrafast", x265_params=params))
    sps = find_sps("h265", stream) or b""
    assert len(sps) > 500, "x265 did not write the matrices into the SPS"

    info = parse_h265_sps(sps)

    # The VUI comes after the lists: a wrong skip would lose or garble the frame rate.
    assert (info.width, info.height, info.fps) == (640, 360, 24.0)


def test_h265_field_coding_reports_frame_height_and_frame_rate() -> None:
    # x265 codes each input picture as one field: 50 fields of 1920x540 a second make 1080i25.
    stream = encode(
        "libx265", 1920, 540, rate=Fraction(50), options=opts(preset="ultrafast", x265_params="interlace=tff")
    )
    info = parse_h265_sps(find_sps("h265", stream) or b"")

    assert (info.width, info.height, info.fps, info.interlaced) == (1920, 1080, 25.0, True)
    # FFmpeg reports the coded field instead; the SPS parser deliberately speaks in frames.
    decoded = ffmpeg_decode("h265", stream)
    assert (decoded.height, decoded.framerate) == (540, Fraction(50))


# ---------------------------------------------------------------------------------------------
# Extradata and NAL framing


def _mp4_extradata(encoder: str, options: tuple[tuple[str, str], ...]) -> tuple[bytes, bytes]:
    """(extradata as stored in the MP4, the stream's first SPS as found in the raw Annex-B stream)."""
    mp4 = encode(encoder, 640, 360, options=options, container="mp4")
    with av.open(io.BytesIO(mp4)) as container:
        extradata = bytes(container.streams.video[0].codec_context.extradata)
    codec = "h264" if encoder == "libx264" else "h265"
    return extradata, find_sps(codec, encode(encoder, 640, 360, options=options)) or b""


def test_avcc_extradata_yields_the_same_sps_as_the_stream() -> None:
    extradata, inband = _mp4_extradata("libx264", opts(preset="veryfast"))
    assert extradata[0] == 1, "expected an avcC record from the MP4 muxer"

    nals = nal_units_from_extradata(extradata, "h264")

    assert [nal_type("h264", nal) for nal in nals] == [7, 8]
    assert parse_h264_sps(nals[0]) == parse_h264_sps(inband)


def test_hvcc_extradata_yields_the_same_sps_as_the_stream() -> None:
    # bframes=0: with B-frames FFmpeg's MP4 muxer now and then refuses x265's packets (PATCHWELCOME).
    extradata, inband = _mp4_extradata("libx265", opts(preset="ultrafast", x265_params="bframes=0"))
    assert extradata[0] == 1, "expected an hvcC record from the MP4 muxer"

    nals = nal_units_from_extradata(extradata, "hevc")

    types = [nal_type("h265", nal) for nal in nals]
    assert types[:3] == [32, 33, 34]
    assert parse_h265_sps(nals[types.index(33)]) == parse_h265_sps(inband)


def test_annexb_extradata_as_built_from_sprop_parameter_sets() -> None:
    sps = find_sps("h264", encode("libx264", 1280, 720, options=opts(preset="veryfast"))) or b""
    pps = b"\x68\xeb\xe3\xcb\x22\xc0"
    extradata = b"\x00\x00\x00\x01" + sps + b"\x00\x00\x01" + pps

    assert nal_units_from_extradata(extradata, "h264") == [sps, pps]


@pytest.mark.parametrize(
    ("extradata", "codec"),
    [
        (b"", "h264"),
        (b"\x02\x64\x00\x1f\xff\xe1", "h264"),  # wrong avcC version
        (b"\x01\x64\x00\x1f\xff\xe1\x00\x40\x67", "h264"),  # SPS length runs past the end
        (b"\x01\x64\x00\x1f\xff\xe1", "h264"),  # count without entries
        (b"\x01" + bytes(21) + b"\x01\x21\x00\x02\x00\x05\x42", "h265"),  # hvcC NAL runs past the end
        (b"\x07" + bytes(30), "h265"),  # not hvcC
    ],
)
def test_malformed_extradata_raises_parameter_set_error(extradata: bytes, codec: str) -> None:
    with pytest.raises(ParameterSetError):
        nal_units_from_extradata(extradata, codec)


def test_iter_nal_units_handles_both_start_codes_leading_junk_and_trailing_zeros() -> None:
    data = b"junk\x00\x00\x00\x01\x67AB\x00\x00\x01\x68C\x00\x00\x00\x00\x01\x65DD\x00\x00\x01\x00\x00\x00"

    assert [bytes(nal) for nal in iter_nal_units(data)] == [b"\x67AB", b"\x68C", b"\x65DD"]
    assert list(iter_nal_units(b"no start code here")) == []


def test_iter_nal_units_splits_a_real_access_unit() -> None:
    stream = encode("libx265", 640, 360, options=opts(preset="ultrafast"), frames=1)

    types = [nal_type("h265", nal) for nal in iter_nal_units(stream)]

    assert types[:3] == [32, 33, 34] and types[-1] in (19, 20)


def test_find_sps_returns_the_whole_unit_without_the_next_start_code() -> None:
    sps = find_sps("h264", encode("libx264", 704, 576, options=opts(preset="veryfast")))

    assert sps is not None and sps[0] == 0x67 and sps[-1] != 0
    assert find_sps("h264", b"\x00\x00\x01" + sps) == sps


def test_find_sps_stops_at_the_first_slice() -> None:
    sps = find_sps("h264", encode("libx264", 640, 360, options=opts(preset="veryfast"))) or b""
    idr = b"\x00\x00\x01\x65\x88\x84\x21\xa0"

    assert find_sps("h264", idr + b"\x00\x00\x01" + sps) is None
    assert find_sps("h265", b"\x00\x00\x01\x26\x01\xaf" + b"\x00\x00\x01\x42\x01\x01") is None
    assert find_sps("h264", b"\x00\x00\x01") is None
    assert find_sps("h264", b"") is None


def test_find_sps_on_length_prefixed_mp4_packets_returns_none() -> None:
    # MP4 samples carry 4-byte lengths, not start codes: the caller must fall back to extradata.
    mp4 = encode("libx264", 640, 360, options=opts(preset="veryfast"), container="mp4")
    with av.open(io.BytesIO(mp4)) as container:
        packet = bytes(next(container.demux(video=0)))

    assert find_sps("h264", packet) is None


def test_find_nal_finds_the_vps() -> None:
    stream = encode("libx265", 640, 360, options=opts(preset="ultrafast"), frames=1)

    vps = find_nal("h265", stream, 32)

    assert vps is not None and nal_type("hevc", vps) == 32
    assert parse_h265_vps_fps(vps) is None  # x265 signals timing in the SPS VUI only


def test_emulation_prevention_is_removed() -> None:
    assert ebsp_to_rbsp(b"\x00\x00\x03\x01\x00\x00\x03\x00\x00\x03") == b"\x00\x00\x01\x00\x00\x00\x00"
    assert ebsp_to_rbsp(b"\x12\x00\x03\x00") == b"\x12\x00\x03\x00"


def test_unknown_codec_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unsupported codec"):
        find_sps("vp9", b"\x00\x00\x01\x67")


# ---------------------------------------------------------------------------------------------
# Synthetic parameter sets


class BitWriter:
    """Writes syntax elements MSB first, to build parameter sets that the encoders never emit."""

    def __init__(self) -> None:
        self._bits: list[str] = []

    def u(self, count: int, value: int) -> BitWriter:
        assert 0 <= value < (1 << count), (count, value)
        self._bits.append(format(value, f"0{count}b") if count else "")
        return self

    def flag(self, value: bool) -> BitWriter:
        return self.u(1, int(value))

    def ue(self, value: int) -> BitWriter:
        code = value + 1
        self._bits.append("0" * (code.bit_length() - 1) + format(code, "b"))
        return self

    def se(self, value: int) -> BitWriter:
        return self.ue(2 * value - 1 if value > 0 else -2 * value)

    def raw(self, bits: str) -> BitWriter:
        self._bits.append(bits)
        return self

    def nal(self, header: bytes) -> bytes:
        bits = "".join(self._bits) + "1"  # rbsp_stop_one_bit
        bits += "0" * (-len(bits) % 8)
        return header + add_emulation_prevention(int(bits, 2).to_bytes(len(bits) // 8, "big"))


def add_emulation_prevention(rbsp: bytes) -> bytes:
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


@dataclass
class Hrd:
    cpbs: list[tuple[int, int, bool]] = field(default_factory=lambda: [(15624, 15624, False)])
    lengths: tuple[int, int, int, int] = (24, 24, 24, 24)

    def write(self, w: BitWriter) -> None:
        w.ue(len(self.cpbs) - 1).u(4, 0).u(4, 0)
        for bit_rate, cpb_size, cbr in self.cpbs:
            w.ue(bit_rate).ue(cpb_size).flag(cbr)
        for length in self.lengths:
            w.u(5, length - 1)


def write_sar_signal_chroma(
    w: BitWriter,
    sar: tuple[int, int] | None,
    video_signal: tuple[int, bool, tuple[int, int, int] | None] | None,
    chroma_loc: tuple[int, int] | None,
) -> None:
    w.flag(sar is not None)
    if sar:
        w.u(8, 255).u(16, sar[0]).u(16, sar[1])  # Extended_SAR
    w.flag(False)  # overscan_info_present_flag
    w.flag(video_signal is not None)
    if video_signal:
        video_format, full_range, colour = video_signal
        w.u(3, video_format).flag(full_range).flag(colour is not None)
        for value in colour or ():
            w.u(8, value)
    w.flag(chroma_loc is not None)
    if chroma_loc:
        w.ue(chroma_loc[0]).ue(chroma_loc[1])


@dataclass
class H264Vui:
    sar: tuple[int, int] | None = None
    video_signal: tuple[int, bool, tuple[int, int, int] | None] | None = None
    chroma_loc: tuple[int, int] | None = None
    timing: tuple[int, int] | None = (1, 50)  # num_units_in_tick, time_scale: 25 fps
    nal_hrd: Hrd | None = None
    vcl_hrd: Hrd | None = None
    # motion_vectors_over_pic_boundaries, max_bytes_per_pic_denom, max_bits_per_mb_denom,
    # log2_max_mv_length_horizontal/vertical, max_num_reorder_frames, max_dec_frame_buffering
    restriction: tuple[int, ...] | None = (1, 0, 0, 11, 11, 0, 1)

    def write(self, w: BitWriter) -> None:
        write_sar_signal_chroma(w, self.sar, self.video_signal, self.chroma_loc)
        w.flag(self.timing is not None)
        if self.timing:
            w.u(32, self.timing[0]).u(32, self.timing[1]).flag(False)  # fixed_frame_rate_flag
        for hrd in (self.nal_hrd, self.vcl_hrd):
            w.flag(hrd is not None)
            if hrd:
                hrd.write(w)
        if self.nal_hrd or self.vcl_hrd:
            w.flag(False)  # low_delay_hrd_flag
        w.flag(False)  # pic_struct_present_flag
        w.flag(self.restriction is not None)
        if self.restriction:
            w.flag(bool(self.restriction[0]))
            for value in self.restriction[1:]:
                w.ue(value)


H264_HIGH_SYNTAX = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


@dataclass
class H264Sps:
    """Defaults: what x264 writes for 1920x1080 25 fps, preset ultrafast, Constrained Baseline 4.1."""

    profile_idc: int = 66
    constraints: int = 0xC0
    level_idc: int = 41
    sps_id_bits: str = "1"  # ue(v) 0, replaceable by hostile codes
    chroma_format_idc: int = 1
    separate_planes: bool = False
    bit_depth: int = 8
    scaling_lists: dict[int, list[int]] = field(default_factory=dict)  # list index -> delta_scale values
    poc_type: int = 2
    poc_cycle: list[int] = field(default_factory=list)
    width_mbs: int = 120
    height_map_units: int = 68
    frame_mbs_only: bool = True
    crop: tuple[int, int, int, int] | None = (0, 0, 0, 4)
    vui: H264Vui | None = field(default_factory=H264Vui)

    def nal(self) -> bytes:
        w = BitWriter().u(8, self.profile_idc).u(8, self.constraints).u(8, self.level_idc).raw(self.sps_id_bits)
        if self.profile_idc in H264_HIGH_SYNTAX:
            w.ue(self.chroma_format_idc)
            if self.chroma_format_idc == 3:
                w.flag(self.separate_planes)
            w.ue(self.bit_depth - 8).ue(self.bit_depth - 8).flag(False)
            w.flag(bool(self.scaling_lists))
            for index in range(8 if self.chroma_format_idc != 3 else 12) if self.scaling_lists else ():
                w.flag(index in self.scaling_lists)
                if index in self.scaling_lists:
                    self._write_scaling_list(w, self.scaling_lists[index], 16 if index < 6 else 64)
        w.ue(0).ue(self.poc_type)  # log2_max_frame_num_minus4
        if self.poc_type == 0:
            w.ue(2)
        elif self.poc_type == 1:
            w.flag(False).se(-2).se(1).ue(len(self.poc_cycle))
            for offset in self.poc_cycle:
                w.se(offset)
        w.ue(1).flag(False)  # max_num_ref_frames, gaps_in_frame_num_value_allowed_flag
        w.ue(self.width_mbs - 1).ue(self.height_map_units - 1).flag(self.frame_mbs_only)
        if not self.frame_mbs_only:
            w.flag(True)  # mb_adaptive_frame_field_flag
        w.flag(True).flag(self.crop is not None)  # direct_8x8_inference_flag
        for offset in self.crop or ():
            w.ue(offset)
        w.flag(self.vui is not None)
        if self.vui:
            self.vui.write(w)
        return w.nal(b"\x67")

    @staticmethod
    def _write_scaling_list(w: BitWriter, deltas: list[int], size: int) -> None:
        last = following = 8
        for j in range(size):
            if following:
                delta = deltas[j] if j < len(deltas) else 0
                w.se(delta)
                following = (last + delta + 256) % 256
            last = following or last


def test_h264_builder_reproduces_x264_byte_for_byte() -> None:
    x264 = find_sps("h264", encode("libx264", 1920, 1080, options=opts(preset="ultrafast", level="4.1")))

    assert H264Sps().nal() == x264


@pytest.mark.parametrize(
    ("sps", "expected"),
    [
        pytest.param(
            H264Sps(profile_idc=77, constraints=0, level_idc=30, poc_type=1, poc_cycle=[-1, 3, -7], vui=None,
                    width_mbs=44, height_map_units=36, crop=None),
            dict(profile="Main", level="3.0", width=704, height=576, fps=None, max_num_reorder=None),
            id="poc-type-1-without-vui",
        ),
        pytest.param(
            # 4:2:2 field/MBAFF: a crop unit is 2 samples across and 2 lines (1 chroma line x 2 fields) down.
            H264Sps(profile_idc=122, constraints=0, level_idc=30, chroma_format_idc=2, width_mbs=45,
                    height_map_units=16, frame_mbs_only=False, crop=(1, 2, 3, 10)),
            dict(profile="High 4:2:2", chroma_format="4:2:2", width=720 - 6, height=512 - 26, interlaced=True),
            id="422-interlaced-cropping",
        ),
        pytest.param(
            H264Sps(profile_idc=100, constraints=0, chroma_format_idc=0, width_mbs=40, height_map_units=23,
                    crop=(3, 0, 0, 5)),
            dict(profile="High", chroma_format="4:0:0", width=640 - 3, height=368 - 5),
            id="monochrome-crops-in-luma-samples",
        ),
        pytest.param(
            H264Sps(profile_idc=244, constraints=0, chroma_format_idc=3, separate_planes=True, bit_depth=12,
                    crop=(1, 1, 0, 8)),
            dict(profile="High 4:4:4 Predictive", chroma_format="4:4:4", bit_depth=12, width=1918, height=1080),
            id="444-separate-planes",
        ),
        pytest.param(
            # List 0 and 1 stop early (a delta that reaches 0 selects the default list), 6 runs to 64.
            H264Sps(profile_idc=100, constraints=0,
                    scaling_lists={0: [-8], 1: [4, -12], 3: [1, -2, 3], 6: [5] * 64, 7: [0]}),
            dict(profile="High", width=1920, height=1080, fps=25.0),
            id="scaling-lists-default-and-explicit",
        ),
        pytest.param(H264Sps(level_idc=11, constraints=0x10), dict(profile="Baseline", level="1b"), id="level-1b"),
        pytest.param(H264Sps(profile_idc=100, constraints=0, level_idc=9), dict(level="1b"), id="level-1b-high"),
        pytest.param(H264Sps(profile_idc=110, constraints=0x10), dict(profile="High 10 Intra"), id="high10-intra"),
        pytest.param(H264Sps(profile_idc=99), dict(profile="profile_idc 99"), id="unknown-profile"),
        pytest.param(H264Sps(vui=H264Vui(timing=(0, 50))), dict(fps=None), id="zero-tick-means-no-fps"),
        pytest.param(
            H264Sps(vui=H264Vui(sar=(4, 3), video_signal=(5, True, (1, 1, 1)), chroma_loc=(1, 1),
                                timing=(1001, 60000), vcl_hrd=Hrd(cpbs=[(1, 2, True)] * 3))),
            dict(fps=pytest.approx(29.97, abs=0.001), max_num_reorder=0),
            id="full-vui",
        ),
        pytest.param(
            # A broken VUI (42 CPBs where 32 is the limit) loses what follows the break, not the picture.
            H264Sps(profile_idc=100, constraints=0, vui=H264Vui(nal_hrd=Hrd(cpbs=[(0, 0, False)] * 42))),
            dict(width=1920, height=1080, fps=25.0, max_num_reorder=None),
            id="broken-hrd-keeps-fps",
        ),
    ],
)  # fmt: skip
def test_h264_synthetic_sps(sps: H264Sps, expected: dict[str, Any]) -> None:
    info = parse_h264_sps(sps.nal())

    assert {key: getattr(info, key) for key in expected} == expected


@pytest.mark.parametrize(
    ("sps", "message"),
    [
        (H264Sps(sps_id_bits="0" * 40 + "1" + "0" * 40), "40 leading zero bits"),
        (H264Sps(sps_id_bits="00000100001"), "seq_parameter_set_id = 32 is out of range"),
        (H264Sps(poc_type=1, poc_cycle=[1] * 256), "num_ref_frames_in_pic_order_cnt_cycle"),
        (H264Sps(poc_type=3), "pic_order_cnt_type"),
        (H264Sps(width_mbs=2000), "pic_width_in_mbs_minus1"),
        (H264Sps(crop=(0, 0, 540, 4)), "cropping leaves no picture"),
        (H264Sps(profile_idc=100, chroma_format_idc=4), "chroma_format_idc"),
        (H264Sps(profile_idc=100, bit_depth=15), "bit_depth_luma_minus8"),
    ],
)
def test_h264_absurd_values_raise(sps: H264Sps, message: str) -> None:
    with pytest.raises(ParameterSetError, match=message):
        parse_h264_sps(sps.nal())


@pytest.mark.parametrize(
    "nal",
    [b"", b"\x67", b"\x68\xce\x3c\x80", b"\xe7\x42\xc0\x29", b"\x67" + bytes(20_000)],
    ids=["empty", "header-only", "pps", "forbidden-bit", "huge"],
)
def test_not_an_sps_raises(nal: bytes) -> None:
    with pytest.raises(ParameterSetError):
        parse_sps("h264", nal)


@dataclass
class H265Vui:
    sar: tuple[int, int] | None = None
    video_signal: tuple[int, bool, tuple[int, int, int] | None] | None = (5, False, None)
    field_seq: bool = False
    default_display_window: tuple[int, int, int, int] | None = None
    timing: tuple[int, int] | None = (1, 25)  # vui_num_units_in_tick, vui_time_scale

    def write(self, w: BitWriter) -> None:
        write_sar_signal_chroma(w, self.sar, self.video_signal, None)
        w.flag(False).flag(self.field_seq).flag(self.field_seq)  # neutral chroma, field_seq, frame_field_info
        w.flag(self.default_display_window is not None)
        for offset in self.default_display_window or ():
            w.ue(offset)
        w.flag(self.timing is not None)
        if self.timing:
            w.u(32, self.timing[0]).u(32, self.timing[1]).flag(False).flag(False)  # poc proportional, hrd
        w.flag(False)  # bitstream_restriction_flag


@dataclass
class ExplicitRps:
    negative: list[tuple[int, bool]]  # (delta_poc_s0_minus1, used_by_curr_pic_s0_flag)
    positive: list[tuple[int, bool]] = field(default_factory=list)

    def write(self, w: BitWriter, index: int) -> None:
        if index:
            w.flag(False)  # inter_ref_pic_set_prediction_flag
        w.ue(len(self.negative)).ue(len(self.positive))
        for delta, used in self.negative + self.positive:
            w.ue(delta).flag(used)


@dataclass
class PredictedRps:
    delta_rps: int
    flags: list[tuple[bool, bool]]  # (used_by_curr_pic_flag, use_delta_flag) per reference entry, plus one

    def write(self, w: BitWriter, index: int) -> None:
        w.flag(True).flag(self.delta_rps < 0).ue(abs(self.delta_rps) - 1)
        for used, use_delta in self.flags:
            w.flag(used)
            if not used:
                w.flag(use_delta)


def write_profile_tier_level(
    w: BitWriter, profile_idc: int, compatibility: int, level_idc: int, sub_layers: int
) -> None:
    w.u(2, 0).flag(False).u(5, profile_idc).u(32, compatibility)
    w.flag(True).flag(False).flag(False).flag(True)  # progressive, interlaced, non-packed, frame-only
    w.u(43, 0).u(1, 0).u(8, level_idc)
    for _ in range(sub_layers):
        w.flag(False).flag(True)  # sub_layer_profile_present_flag, sub_layer_level_present_flag
    if sub_layers:
        w.u(2 * (8 - sub_layers), 0)
    for _ in range(sub_layers):
        w.u(8, level_idc)


@dataclass
class H265Sps:
    """Defaults: what x265 writes for 640x360 25 fps, preset ultrafast, Main 2.1."""

    max_sub_layers_minus1: int = 0
    profile_idc: int = 1
    compatibility: int = 0x60000000
    level_idc: int = 63
    chroma_format_idc: int = 1
    separate_planes: bool = False
    width: int = 640
    height: int = 368
    conformance_window: tuple[int, int, int, int] | None = (0, 0, 0, 4)
    bit_depth: int = 8
    log2_max_poc_lsb: int = 8
    ordering: list[tuple[int, int, int]] = field(default_factory=lambda: [(4, 2, 4)])
    explicit_scaling_lists: bool = False
    amp: bool = False
    sao: bool = False
    pcm: bool = False
    st_rps: list[ExplicitRps | PredictedRps] = field(default_factory=list)
    long_term: list[tuple[int, bool]] | None = None  # (lt_ref_pic_poc_lsb_sps, used_by_curr_pic_lt_sps_flag)
    temporal_mvp: bool = True
    strong_intra_smoothing: bool = True
    vui: H265Vui | None = field(default_factory=H265Vui)
    raw_after_sps_id: str = ""  # hostile tests: bits spliced in place of chroma_format_idc onwards

    def nal(self) -> bytes:
        w = BitWriter().u(4, 0).u(3, self.max_sub_layers_minus1).flag(True)
        write_profile_tier_level(w, self.profile_idc, self.compatibility, self.level_idc, self.max_sub_layers_minus1)
        w.ue(0)  # sps_seq_parameter_set_id
        if self.raw_after_sps_id:
            return w.raw(self.raw_after_sps_id).nal(b"\x42\x01")
        w.ue(self.chroma_format_idc)
        if self.chroma_format_idc == 3:
            w.flag(self.separate_planes)
        w.ue(self.width).ue(self.height).flag(self.conformance_window is not None)
        for offset in self.conformance_window or ():
            w.ue(offset)
        w.ue(self.bit_depth - 8).ue(self.bit_depth - 8).ue(self.log2_max_poc_lsb - 4)
        w.flag(len(self.ordering) > 1 or self.max_sub_layers_minus1 == 0)
        for dec_buffering, reorder, latency in self.ordering:
            w.ue(dec_buffering).ue(reorder).ue(latency)
        w.ue(1).ue(1).ue(0).ue(3).ue(0).ue(0)  # coding block / transform sizes and depths
        w.flag(self.explicit_scaling_lists)
        if self.explicit_scaling_lists:
            w.flag(True)
            self._write_scaling_list_data(w)
        w.flag(self.amp).flag(self.sao).flag(self.pcm)
        if self.pcm:
            w.u(4, 7).u(4, 7).ue(0).ue(1).flag(True)
        w.ue(len(self.st_rps))
        for index, rps in enumerate(self.st_rps):
            rps.write(w, index)
        w.flag(self.long_term is not None)
        if self.long_term is not None:
            w.ue(len(self.long_term))
            for lsb, used in self.long_term:
                w.u(self.log2_max_poc_lsb, lsb).flag(used)
        w.flag(self.temporal_mvp).flag(self.strong_intra_smoothing)
        w.flag(self.vui is not None)
        if self.vui:
            self.vui.write(w)
        w.flag(False)  # sps_extension_present_flag
        return w.nal(b"\x42\x01")

    @staticmethod
    def _write_scaling_list_data(w: BitWriter) -> None:
        for size_id in range(4):
            for matrix_id in range(0, 6, 3 if size_id == 3 else 1):
                predicted = matrix_id % 2 == 1
                w.flag(not predicted)  # scaling_list_pred_mode_flag
                if predicted:
                    w.ue(1)  # copy the list before
                    continue
                if size_id > 1:
                    w.se(4)  # scaling_list_dc_coef_minus8
                for index in range(min(64, 1 << (4 + (size_id << 1)))):
                    w.se((1, -1, 2, -2)[index % 4])


def h265_vps(timing: tuple[int, int] | None = None, layer_sets: int = 1) -> bytes:
    """Defaults: x265's VPS for 640x360 ultrafast (no timing)."""
    w = BitWriter().u(4, 0).flag(True).flag(True).u(6, 0).u(3, 0).flag(True).u(16, 0xFFFF)
    write_profile_tier_level(w, 1, 0x60000000, 63, 0)
    w.flag(True).ue(4).ue(2).ue(4)  # sub-layer ordering
    w.u(6, 1 if layer_sets > 1 else 0).ue(layer_sets - 1)  # vps_max_layer_id, vps_num_layer_sets_minus1
    w.raw("10" * (layer_sets - 1))  # layer_id_included_flag[i][0..1]
    w.flag(timing is not None)
    if timing:
        w.u(32, timing[0]).u(32, timing[1]).flag(False).ue(0)  # poc proportional, num_hrd_parameters
    return w.flag(False).nal(b"\x40\x01")


@functools.cache
def x265_idr() -> list[bytes]:
    """VPS, SPS, PPS, SEI and IDR slice of one x265 picture, for splicing synthetic sets into."""
    stream = encode("libx265", 640, 360, options=opts(preset="ultrafast"), frames=1)
    return [bytes(nal) for nal in iter_nal_units(stream)]


def with_parameter_sets(vps: bytes | None = None, sps: bytes | None = None) -> bytes:
    nals = [{32: vps, 33: sps}.get(nal_type("h265", nal)) or nal for nal in x265_idr() if nal_type("h265", nal) != 39]
    return b"".join(b"\x00\x00\x00\x01" + nal for nal in nals)


def test_h265_builders_reproduce_x265_byte_for_byte() -> None:
    nals = {nal_type("h265", nal): nal for nal in x265_idr()}

    assert H265Sps().nal() == nals[33]
    assert h265_vps() == nals[32]


RPS_SPS = H265Sps(
    st_rps=[
        ExplicitRps(negative=[(0, True), (1, True)], positive=[(1, False)]),  # -1 -3 +2
        # Predicted from set 0 with delta -1: a flag pair for each of its 3 entries and for its own
        # picture; one pair is unflagged, so this set has 3 entries.
        PredictedRps(-1, [(True, True), (False, False), (True, True), (False, True)]),
        # Reads 3 + 1 flag pairs, as many as set 1 really has; a miscount shifts all that follows.
        PredictedRps(3, [(False, True), (True, True), (False, False), (True, True)]),
        ExplicitRps(negative=[(3, False)]),
        PredictedRps(-4, [(True, True), (True, True)]),
    ],
    vui=H265Vui(timing=(1001, 24000)),
)


SPLICED_SPS = [
    pytest.param(
        RPS_SPS,
        24000 / 1001,
        id="short-term-rps-with-prediction",
    ),
    pytest.param(
        H265Sps(long_term=[(0xFF, False), (0, True), (0x55, False)], vui=H265Vui(timing=(1, 30))),
        30.0,
        id="long-term-refs",
    ),
    pytest.param(H265Sps(explicit_scaling_lists=True, vui=H265Vui(timing=(1, 15))), 15.0, id="explicit-scaling-lists"),
    pytest.param(
        H265Sps(
            vui=H265Vui(sar=(16, 11), video_signal=(1, True, (1, 1, 1)), default_display_window=(2, 2, 0, 4),
                        timing=(1, 50)),
        ),
        50.0,
        id="full-vui",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("sps", "fps"), SPLICED_SPS)
def test_h265_synthetic_sps_is_read_as_ffmpeg_reads_it(sps: H265Sps, fps: float) -> None:
    nal = sps.nal()
    info = parse_h265_sps(nal)

    assert (info.width, info.height, info.profile, info.max_num_reorder) == (640, 360, "Main", 2)
    assert info.fps == pytest.approx(fps)
    # FFmpeg decodes a real picture under the synthetic SPS and reads the same timing after the
    # spliced syntax: proof that the builder wrote what the standard says, not what the parser expects.
    decoded = ffmpeg_decode("h265", with_parameter_sets(sps=nal))
    assert (decoded.width, decoded.height) == (640, 360)
    assert decoded.framerate is not None and float(decoded.framerate) == pytest.approx(fps)
    if not sps.explicit_scaling_lists:  # the lists change dequantisation, nothing else may change pixels
        assert decoded.planes == ffmpeg_decode("h265", with_parameter_sets()).planes


def test_h265_vps_timing_is_read_as_ffmpeg_reads_it() -> None:
    vps = h265_vps(timing=(1, 30))
    sps = H265Sps(vui=H265Vui(timing=None)).nal()

    assert parse_h265_sps(sps).fps is None
    assert parse_h265_vps_fps(vps) == 30.0
    assert ffmpeg_decode("h265", with_parameter_sets(vps=vps, sps=sps)).framerate == 30
    assert parse_h265_vps_fps(h265_vps(timing=(1001, 60000), layer_sets=3)) == pytest.approx(59.94, abs=0.001)
    assert parse_h265_vps_fps(h265_vps(timing=(0, 0))) is None


@pytest.mark.parametrize(
    ("sps", "expected"),
    [
        pytest.param(
            H265Sps(max_sub_layers_minus1=2, ordering=[(1, 0, 0), (2, 1, 0), (4, 3, 0)], level_idc=93),
            dict(level="3.1", max_num_reorder=3, fps=25.0),
            id="sub-layers-reorder-of-highest",
        ),
        pytest.param(
            H265Sps(max_sub_layers_minus1=1, ordering=[(4, 1, 0)]),
            dict(max_num_reorder=1, fps=25.0),
            id="sub-layer-ordering-for-highest-only",
        ),
        pytest.param(H265Sps(pcm=True), dict(fps=25.0), id="pcm"),
        pytest.param(H265Sps(profile_idc=3), dict(profile="Main Still Picture"), id="main-still-picture"),
        pytest.param(H265Sps(profile_idc=0, compatibility=0x20000000), dict(profile="Main 10"), id="profile-by-compat"),
        pytest.param(H265Sps(profile_idc=0, compatibility=0), dict(profile="profile_idc 0"), id="no-profile"),
        pytest.param(H265Sps(level_idc=186), dict(level="6.2"), id="level-6.2"),
        pytest.param(
            H265Sps(chroma_format_idc=2, width=1920, height=1088, conformance_window=(1, 2, 3, 5)),
            dict(chroma_format="4:2:2", width=1920 - 6, height=1088 - 8),
            id="422-conformance-window",
        ),
        pytest.param(
            H265Sps(chroma_format_idc=3, separate_planes=True, conformance_window=(1, 0, 0, 8)),
            dict(chroma_format="4:4:4", width=639, height=360),
            id="separate-colour-planes",
        ),
        pytest.param(
            H265Sps(height=544, conformance_window=(0, 0, 0, 2), vui=H265Vui(field_seq=True, timing=(1, 50))),
            dict(height=1080, fps=25.0, interlaced=True),
            id="field-sequence",
        ),
        pytest.param(H265Sps(vui=None), dict(fps=None, width=640), id="no-vui"),
        pytest.param(
            # A VUI that runs out of bits costs only the fps.
            H265Sps(vui=H265Vui(default_display_window=(2**32, 0, 0, 0))),
            dict(fps=None, width=640, height=360),
            id="broken-vui",
        ),
    ],
)  # fmt: skip
def test_h265_synthetic_sps(sps: H265Sps, expected: dict[str, Any]) -> None:
    info = parse_h265_sps(sps.nal())

    assert {key: getattr(info, key) for key in expected} == expected


@pytest.mark.parametrize(
    ("sps", "message"),
    [
        (H265Sps(raw_after_sps_id="0" * 40 + "1" + "0" * 40), "40 leading zero bits"),
        (H265Sps(max_sub_layers_minus1=7), "sps_max_sub_layers_minus1"),
        (H265Sps(width=0), "implausible coded picture size"),
        (H265Sps(width=20_000), "pic_width_in_luma_samples"),
        (H265Sps(conformance_window=(320, 0, 0, 0)), "cropping leaves no picture"),
        (H265Sps(log2_max_poc_lsb=17), "log2_max_pic_order_cnt_lsb_minus4"),
        (H265Sps(st_rps=[ExplicitRps(negative=[(0, True)] * 17)]), "num_negative_pics"),
        (H265Sps(st_rps=[ExplicitRps(negative=[(0, True)])] * 65), "num_short_term_ref_pic_sets"),
        (H265Sps(long_term=[(0, True)] * 33), "num_long_term_ref_pics_sps"),
    ],
)
def test_h265_absurd_values_raise(sps: H265Sps, message: str) -> None:
    with pytest.raises(ParameterSetError, match=message):
        parse_h265_sps(sps.nal())


def test_h265_sps_of_an_enhancement_layer_is_refused() -> None:
    base = H265Sps().nal()

    with pytest.raises(ParameterSetError, match="layer 1"):
        parse_h265_sps(base[:1] + bytes([base[1] | 0x08]) + base[2:])


# ---------------------------------------------------------------------------------------------
# Hostile input: only ParameterSetError may escape, and every call must be quick.

SLOW_CALL_S = 0.2  # a normal call takes tens of microseconds; this only catches runaway loops


def outcome(function: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """(result or None on ParameterSetError, seconds taken); any other exception fails the test."""
    start = time.perf_counter()
    try:
        result = function(*args)
    except ParameterSetError:
        result = None
    return result, time.perf_counter() - start


def real_parameter_sets() -> list[tuple[str, bytes]]:
    sets = [
        ("h264", find_sps("h264", encode("libx264", 1920, 1080, options=opts(preset="ultrafast", level="4.1")))),
        ("h264", find_sps("h264", encode("libx264", 1918, 1078, options=opts(preset="veryfast", level="5.1",
                                                                              x264_params="cqm=jvt")))),
        ("h264", find_sps("h264", encode("libx264", 640, 360, options=opts(
            preset="veryfast", x264_params="nal-hrd=vbr:vbv-maxrate=2000:vbv-bufsize=2000:bframes=3")))),
        ("h265", find_sps("h265", encode("libx265", 1920, 1080, options=opts(preset="ultrafast")))),
        ("h265", RPS_SPS.nal()),
    ]  # fmt: skip
    return [(codec, nal) for codec, nal in sets if nal]


def test_random_bytes_never_raise_anything_but_parameter_set_error() -> None:
    rng = random.Random(20240611)
    slowest = 0.0
    for _ in range(3000):
        blob = rng.randbytes(rng.randrange(0, 160))
        # Force the NAL headers and record versions so the parsers get past their first check.
        calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]] = [
            (parse_h264_sps, (b"\x67" + blob,)),
            (parse_h265_sps, (b"\x42\x01" + blob,)),
            (parse_h265_vps_fps, (b"\x40\x01" + blob,)),
            (nal_units_from_extradata, (b"\x01" + blob, "h264")),
            (nal_units_from_extradata, (b"\x01" + blob, "h265")),
            (nal_units_from_extradata, (b"\x00\x00\x01" + blob, "h265")),
            (find_sps, ("h264", blob.replace(b"\x01", b"\x00\x00\x01\x67", 2))),
            (find_sps, ("h265", blob.replace(b"\x01", b"\x00\x00\x01\x42", 2))),
            (lambda data: list(iter_nal_units(data)), (blob,)),
        ]
        for function, args in calls:
            slowest = max(slowest, outcome(function, *args)[1])
    assert slowest < SLOW_CALL_S


def test_bit_flips_in_real_parameter_sets_never_raise_anything_but_parameter_set_error() -> None:
    rng = random.Random(99)
    slowest, parsed = 0.0, 0
    for codec, nal in real_parameter_sets():
        header = 1 if codec == "h264" else 2
        for _ in range(600):
            mutated = bytearray(nal)
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(header, len(mutated))] ^= 1 << rng.randrange(8)
            result, seconds = outcome(parse_sps, codec, bytes(mutated))
            slowest, parsed = max(slowest, seconds), parsed + (result is not None)
    assert slowest < SLOW_CALL_S
    assert parsed > 0  # many flips land in fields that stay legal: the parser is not rejecting everything


def test_truncation_at_every_length_fails_cleanly_or_loses_only_the_vui() -> None:
    for codec, nal in real_parameter_sets():
        full = parse_sps(codec, nal)
        for length in range(len(nal)):
            info, seconds = outcome(parse_sps, codec, nal[:length])
            assert seconds < SLOW_CALL_S
            if info is None:
                continue
            # A cut inside the VUI keeps the picture format and drops (some of) the timing.
            assert isinstance(info, ParameterSetInfo)
            assert replace(info, fps=full.fps, max_num_reorder=full.max_num_reorder) == full
            assert info.fps in (None, full.fps)
        assert outcome(parse_sps, codec, nal[:8])[0] is None


def test_huge_inputs_stay_fast() -> None:
    zeros = bytes(4 << 20)
    garbage = random.Random(5).randbytes(1 << 20)
    for function, args in [
        (find_sps, ("h264", zeros)),
        (find_sps, ("h265", b"\x00\x00\x01\x42\x01" + garbage)),
        (lambda data: sum(1 for _ in iter_nal_units(data)), (b"\x00\x00\x01\x67" + zeros + b"\x00\x00\x01\x68",)),
        (parse_h264_sps, (b"\x67" + garbage,)),
        (parse_h265_sps, (b"\x42\x01" + garbage,)),
        (ebsp_to_rbsp, (b"\x00\x00\x03" * 100_000,)),
    ]:
        assert outcome(function, *args)[1] < 0.5, function
