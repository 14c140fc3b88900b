"""H.264 / H.265 parameter-set parsing for measuring streams without decoding them.

The health path reads encoded packets for up to 200 cameras, so the cheap part (finding the SPS in a
keyframe) must cost a few ``bytes.find`` calls, and the parse runs only when the SPS bytes change
(the caller caches by bytes). Everything here reads network input: every read is bounds-checked,
every loop is bounded by a limit from the standard, and any malformed input raises
ParameterSetError, never IndexError or a hang.

References: ITU-T H.264 (7.3.2.1.1 SPS, E.1.1 VUI), ITU-T H.265 (7.3.2.1 VPS, 7.3.2.2 SPS,
7.3.3 profile_tier_level, 7.3.4 scaling_list_data, 7.3.7 st_ref_pic_set, E.2.1 VUI), and
ISO/IEC 14496-15 for the avcC / hvcC records.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "ParameterSetError",
    "ParameterSetInfo",
    "ebsp_to_rbsp",
    "find_nal",
    "find_sps",
    "iter_nal_units",
    "nal_type",
    "nal_units_from_extradata",
    "parse_h264_sps",
    "parse_h265_sps",
    "parse_h265_vps_fps",
    "parse_sps",
]

START_CODE = b"\x00\x00\x01"

H264_NAL_SPS = 7
H265_NAL_VPS = 32
H265_NAL_SPS = 33

# No legal SPS/VPS comes close: the largest (H.265 with explicit scaling lists, or H.264 with a
# 255-entry POC cycle) is a few KiB. The cap keeps the big-int bit reader cheap on hostile input.
MAX_PARAMETER_SET_BYTES = 16 * 1024
# H.265 level 6.2 allows sqrt(8 * MaxLumaPs) = 16888 luma samples per side, H.264 level 6.2 a bit less.
MAX_DIMENSION = 16888

CHROMA_FORMATS = {0: "4:0:0", 1: "4:2:0", 2: "4:2:2", 3: "4:4:4"}
# (SubWidthC, SubHeightC) per chroma_format_idc; 4:0:0 crops in luma samples.
_CHROMA_SUBSAMPLING = {0: (1, 1), 1: (2, 2), 2: (2, 1), 3: (1, 1)}


class ParameterSetError(ValueError):
    """The bytes are not a parameter set this module can read (truncated, garbage or out of range)."""


@dataclass(frozen=True, slots=True)
class ParameterSetInfo:
    """What a sequence parameter set says about a stream.

    width/height are the displayed size, after the cropping / conformance window. fps is None when
    the stream does not signal timing. max_num_reorder is the reorder depth (0 means no B-frame
    reordering), None when the SPS does not say.
    """

    codec: str  # "h264" | "h265"
    profile: str
    level: str
    width: int
    height: int
    chroma_format: str
    bit_depth: int
    interlaced: bool
    fps: float | None
    max_num_reorder: int | None = None

    @property
    def has_b_frames(self) -> bool | None:
        return None if self.max_num_reorder is None else self.max_num_reorder > 0


# --------------------------------------------------------------------------------------------------
# NAL unit framing


def _normalise_codec(codec: str) -> str:
    name = codec.lower()
    if name in ("h264", "avc"):
        return "h264"
    if name in ("h265", "hevc"):
        return "h265"
    raise ValueError(f"unsupported codec {codec!r}: expected 'h264' or 'h265'")


def iter_nal_units(data: bytes) -> Iterator[memoryview]:
    """Yield the NAL units (header included) of an Annex-B byte stream, without copying.

    Bytes before the first start code are ignored. Trailing zero bytes of each unit are dropped:
    they are the leading zero of a 4-byte start code or trailing_zero_8bits, never NAL payload
    (a NAL unit cannot end in 0x00).
    """
    view = memoryview(data)
    pos = data.find(START_CODE)
    while pos != -1:
        begin = pos + 3
        nxt = data.find(START_CODE, begin)
        end = _trim_trailing_zeros(data, begin, len(data) if nxt == -1 else nxt)
        if end > begin:
            yield view[begin:end]
        pos = nxt


def _trim_trailing_zeros(data: bytes, begin: int, end: int) -> int:
    # One or two zeros (a 4-byte start code follows) are the norm; a long zero run only comes with
    # garbage input and is trimmed at C speed rather than byte by byte.
    for _ in range(4):
        if end == begin or data[end - 1] != 0:
            return end
        end -= 1
    return begin + len(data[begin:end].rstrip(b"\x00"))


def nal_type(codec: str, nal: bytes | bytearray | memoryview) -> int:
    """nal_unit_type from the NAL header: 5 bits for H.264, 6 bits after the forbidden bit for H.265."""
    if len(nal) == 0:
        raise ParameterSetError("empty NAL unit")
    if _normalise_codec(codec) == "h264":
        return nal[0] & 0x1F
    return (nal[0] >> 1) & 0x3F


def _is_vcl(codec: str, kind: int) -> bool:
    # Parameter sets precede the first slice of an access unit, so scanning can stop there.
    return 1 <= kind <= 5 if codec == "h264" else kind < 32


def find_nal(codec: str, data: bytes, wanted: int) -> bytes | None:
    """The first NAL unit of type `wanted` (header included) in an Annex-B packet, or None.

    Stops at the first slice NAL unit, so on a keyframe only the few bytes of AUD/VPS/SPS/PPS/SEI
    ahead of the picture are scanned. Length-prefixed (MP4-style) packets yield None: the caller
    then falls back to the extradata.
    """
    codec = _normalise_codec(codec)
    size = len(data)
    pos = data.find(START_CODE)
    while pos != -1 and pos + 3 < size:
        begin = pos + 3
        kind = data[begin] & 0x1F if codec == "h264" else (data[begin] >> 1) & 0x3F
        nxt = data.find(START_CODE, begin)
        if kind == wanted:
            return data[begin : size if nxt == -1 else nxt].rstrip(b"\x00")
        if _is_vcl(codec, kind):
            return None
        pos = nxt
    return None


def find_sps(codec: str, data: bytes) -> bytes | None:
    """The first SPS NAL unit (header included) in an Annex-B packet, or None; see find_nal."""
    codec = _normalise_codec(codec)
    return find_nal(codec, data, H264_NAL_SPS if codec == "h264" else H265_NAL_SPS)


def insert_parameter_sets(codec: str, access_unit: bytes, parameter_sets: bytes) -> bytes:
    """An Annex-B keyframe with `parameter_sets` (Annex-B VPS/SPS/PPS) in front of its first slice, for a
    decoder that joins at it. The access unit delimiter must stay the first NAL unit of the access unit
    (H.264 7.4.1.2.3, H.265 7.4.2.4.4), so the parameter sets go after it when there is one. The caller
    checks first whether the unit carries an SPS of its own (`find_sps`)."""
    codec = _normalise_codec(codec)
    begin = access_unit.find(START_CODE) + 3
    if begin >= len(access_unit) or begin < 3:
        return parameter_sets + access_unit
    header = access_unit[begin]
    is_aud = (header & 0x1F) == 9 if codec == "h264" else ((header >> 1) & 0x3F) == 35
    if not is_aud:
        return parameter_sets + access_unit
    nxt = access_unit.find(START_CODE, begin)
    if nxt == -1:
        return access_unit + parameter_sets
    if access_unit[nxt - 1] == 0:  # keep a 4-byte start code whole
        nxt -= 1
    return access_unit[:nxt] + parameter_sets + access_unit[nxt:]


def nal_units_from_extradata(extradata: bytes, codec: str) -> list[bytes]:
    """The parameter-set NAL units carried in a stream's extradata.

    FFmpeg builds Annex-B extradata from an RTSP sprop-parameter-sets line; from MP4 it keeps the
    avcC (H.264) or hvcC (H.265) decoder configuration record. Both are accepted.
    """
    codec = _normalise_codec(codec)
    if extradata.startswith(START_CODE) or extradata.startswith(b"\x00" + START_CODE):
        return [bytes(nal) for nal in iter_nal_units(extradata)]
    if codec == "h264":
        return _nal_units_from_avcc(extradata)
    return _nal_units_from_hvcc(extradata)


class _ByteCursor:
    """Bounds-checked big-endian reads over a configuration record."""

    __slots__ = ("_data", "_pos", "_what")

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    def take(self, count: int) -> bytes:
        end = self._pos + count
        if end > len(self._data):
            raise ParameterSetError(f"{self._what} truncated at byte {self._pos} (needs {count} more)")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def uint(self, count: int) -> int:
        return int.from_bytes(self.take(count), "big")


def _nal_units_from_avcc(record: bytes) -> list[bytes]:
    # ISO/IEC 14496-15 5.3.3.1: version, profile, compat, level, length size, then SPS and PPS
    # arrays with 16-bit lengths. Trailing High-profile fields (chroma format etc.) are not needed.
    cur = _ByteCursor(record, "avcC record")
    if cur.uint(1) != 1:
        raise ParameterSetError("extradata is neither Annex-B nor an avcC record (version != 1)")
    cur.take(4)
    nals = [cur.take(cur.uint(2)) for _ in range(cur.uint(1) & 0x1F)]
    nals += [cur.take(cur.uint(2)) for _ in range(cur.uint(1))]
    return [nal for nal in nals if nal]


def _nal_units_from_hvcc(record: bytes) -> list[bytes]:
    # ISO/IEC 14496-15 8.3.3.1: a 22-byte header, numOfArrays, then per array one byte of
    # completeness/type, a 16-bit count and 16-bit-length-prefixed NAL units.
    cur = _ByteCursor(record, "hvcC record")
    # FFmpeg also accepts configurationVersion 0, written by muxers that predate the final standard.
    if cur.uint(1) > 1:
        raise ParameterSetError("extradata is neither Annex-B nor an hvcC record (version > 1)")
    cur.take(21)
    nals: list[bytes] = []
    for _ in range(cur.uint(1)):
        cur.take(1)
        nals += [cur.take(cur.uint(2)) for _ in range(cur.uint(2))]
    return [nal for nal in nals if nal]


# --------------------------------------------------------------------------------------------------
# Bit reading


def ebsp_to_rbsp(data: bytes | bytearray | memoryview) -> bytes:
    """Remove emulation-prevention bytes: every 00 00 03 becomes 00 00."""
    raw = bytes(data)
    pos = raw.find(b"\x00\x00\x03")
    if pos == -1:
        return raw
    out = bytearray()
    start = 0
    while pos != -1:
        out += raw[start : pos + 2]
        start = pos + 3
        pos = raw.find(b"\x00\x00\x03", start)
    out += raw[start:]
    return bytes(out)


class _BitReader:
    """MSB-first reader with exp-Golomb codes over an RBSP.

    The payload is held as one Python int, so a read is a shift and a mask and ue(v) counts its
    leading zeros with int.bit_length instead of looping over bits.
    """

    __slots__ = ("_bits_left", "_value")

    def __init__(self, rbsp: bytes) -> None:
        self._value = int.from_bytes(rbsp, "big")
        self._bits_left = len(rbsp) * 8

    def u(self, count: int) -> int:
        if count > self._bits_left:
            raise ParameterSetError("parameter set truncated")
        self._bits_left -= count
        return (self._value >> self._bits_left) & ((1 << count) - 1)

    def flag(self) -> bool:
        return self.u(1) == 1

    def skip(self, count: int) -> None:
        if count > self._bits_left:
            raise ParameterSetError("parameter set truncated")
        self._bits_left -= count

    def ue(self, what: str = "ue(v)", maximum: int = 0xFFFFFFFE) -> int:
        rest = self._value & ((1 << self._bits_left) - 1)
        if rest == 0:
            raise ParameterSetError(f"parameter set truncated in {what}")
        zeros = self._bits_left - rest.bit_length()
        # 32 or more leading zeros would code a value above 2**32 - 2, which no syntax element allows.
        if zeros > 31:
            raise ParameterSetError(f"{what}: exp-Golomb code with {zeros} leading zero bits")
        self._bits_left -= zeros
        value = self.u(zeros + 1) - 1
        if value > maximum:
            raise ParameterSetError(f"{what} = {value} is out of range (max {maximum})")
        return value

    def se(self, what: str = "se(v)") -> int:
        code = self.ue(what)
        return (code + 1) // 2 if code & 1 else -(code // 2)


def _rbsp_payload(nal: bytes | bytearray | memoryview, header_bytes: int, kind: int, codec: str) -> bytes:
    if len(nal) > MAX_PARAMETER_SET_BYTES:
        raise ParameterSetError(f"parameter set of {len(nal)} bytes is implausibly large")
    if len(nal) <= header_bytes:
        raise ParameterSetError("NAL unit too short for a parameter set")
    if nal[0] & 0x80:
        raise ParameterSetError("forbidden_zero_bit is set: not a NAL unit")
    found = nal_type(codec, nal)
    if found != kind:
        raise ParameterSetError(f"NAL unit type {found} is not the expected type {kind}")
    return ebsp_to_rbsp(nal[header_bytes:])


def _cropped(size: int, crop_units: int, unit: int, what: str) -> int:
    out = size - crop_units * unit
    if out <= 0:
        raise ParameterSetError(f"cropping leaves no picture ({what} {size} cropped by {crop_units * unit})")
    return out


def _check_dimensions(width: int, height: int) -> None:
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise ParameterSetError(f"implausible coded picture size {width}x{height}")


def _fps(time_scale: int, units_in_tick: int) -> float | None:
    # A zero in either field means "not signalled" in practice (the standard requires > 0).
    if time_scale == 0 or units_in_tick == 0:
        return None
    return time_scale / units_in_tick


# --------------------------------------------------------------------------------------------------
# H.264

_H264_PROFILES = {
    44: "CAVLC 4:4:4 Intra",
    66: "Baseline",
    77: "Main",
    83: "Scalable Baseline",
    86: "Scalable High",
    88: "Extended",
    100: "High",
    110: "High 10",
    118: "Multiview High",
    122: "High 4:2:2",
    128: "Stereo High",
    134: "MFC High",
    135: "MFC Depth High",
    138: "Multiview Depth High",
    139: "Enhanced Multiview Depth High",
    244: "High 4:4:4 Predictive",
}
# Profiles whose SPS carries chroma_format_idc, bit depths and scaling matrices (7.3.2.1.1).
_H264_HIGH_SYNTAX = frozenset({44, 83, 86, 100, 110, 118, 122, 128, 134, 135, 138, 139, 244})


def _h264_profile_name(profile_idc: int, constraints: int) -> str:
    set1 = bool(constraints & 0x40)
    set3 = bool(constraints & 0x10)
    if profile_idc == 66 and set1:
        return "Constrained Baseline"
    if profile_idc in (110, 122, 244) and set3:
        return _H264_PROFILES[profile_idc].removesuffix(" Predictive") + " Intra"
    return _H264_PROFILES.get(profile_idc, f"profile_idc {profile_idc}")


def _h264_level_name(level_idc: int, profile_idc: int, constraints: int) -> str:
    # Level 1b is coded as 9 in High profiles, as 11 + constraint_set3 in Baseline/Main/Extended.
    if level_idc == 9 or (level_idc == 11 and constraints & 0x10 and profile_idc in (66, 77, 88)):
        return "1b"
    return f"{level_idc // 10}.{level_idc % 10}"


def _skip_h264_scaling_list(r: _BitReader, size: int) -> None:
    last_scale = next_scale = 8
    for _ in range(size):
        if next_scale != 0:
            delta = r.se("delta_scale")
            if not -128 <= delta <= 127:
                raise ParameterSetError(f"delta_scale {delta} out of range")
            next_scale = (last_scale + delta + 256) % 256
        last_scale = next_scale or last_scale


def _skip_h264_hrd(r: _BitReader) -> None:
    cpb_cnt = r.ue("cpb_cnt_minus1", 31) + 1
    r.skip(8)  # bit_rate_scale, cpb_size_scale
    for _ in range(cpb_cnt):
        r.ue("bit_rate_value_minus1")
        r.ue("cpb_size_value_minus1")
        r.skip(1)  # cbr_flag
    r.skip(20)  # four 5-bit delay/offset lengths


def _skip_aspect_overscan_signal_chroma(r: _BitReader) -> None:
    """The VUI fields that H.264 and H.265 share ahead of their timing information."""
    if r.flag() and r.u(8) == 255:  # aspect_ratio_info_present_flag, aspect_ratio_idc == Extended_SAR
        r.skip(32)  # sar_width, sar_height
    if r.flag():  # overscan_info_present_flag
        r.skip(1)
    if r.flag():  # video_signal_type_present_flag
        r.skip(4)  # video_format, video_full_range_flag
        if r.flag():  # colour_description_present_flag
            r.skip(24)
    if r.flag():  # chroma_loc_info_present_flag
        r.ue("chroma_sample_loc_type_top_field", 5)
        r.ue("chroma_sample_loc_type_bottom_field", 5)


def _h264_vui_timing(r: _BitReader) -> float | None:
    """The fps from the start of the VUI (E.1.1), None when timing is not signalled."""
    _skip_aspect_overscan_signal_chroma(r)
    if not r.flag():  # timing_info_present_flag
        return None
    units_in_tick = r.u(32)
    time_scale = r.u(32)
    r.skip(1)  # fixed_frame_rate_flag
    # One tick is a field period: a frame lasts two ticks (E.2.1, equation C-1).
    return _fps(time_scale, 2 * units_in_tick)


def _h264_vui_reorder(r: _BitReader) -> int | None:
    """max_num_reorder_frames from the rest of the VUI, None without bitstream_restriction."""
    nal_hrd = r.flag()
    if nal_hrd:
        _skip_h264_hrd(r)
    vcl_hrd = r.flag()
    if vcl_hrd:
        _skip_h264_hrd(r)
    if nal_hrd or vcl_hrd:
        r.skip(1)  # low_delay_hrd_flag
    r.skip(1)  # pic_struct_present_flag
    if not r.flag():  # bitstream_restriction_flag
        return None
    r.skip(1)  # motion_vectors_over_pic_boundaries_flag
    for what in ("max_bytes_per_pic_denom", "max_bits_per_mb_denom", "log2_max_mv_length_h", "log2_max_mv_length_v"):
        r.ue(what, 32)
    reorder = r.ue("max_num_reorder_frames", 16)
    r.ue("max_dec_frame_buffering", 16)
    return reorder


def _h264_vui(r: _BitReader) -> tuple[float | None, int | None]:
    """(fps, max_num_reorder_frames); a broken or truncated VUI loses only what follows the break.

    The picture format is known before the VUI, and some cameras write a VUI that does not parse.
    """
    try:
        fps = _h264_vui_timing(r)
    except ParameterSetError:
        return None, None
    try:
        return fps, _h264_vui_reorder(r)
    except ParameterSetError:
        return fps, None


def parse_h264_sps(nal: bytes | bytearray | memoryview) -> ParameterSetInfo:
    """Parse an H.264 SPS NAL unit (1-byte header included), ITU-T H.264 7.3.2.1.1."""
    r = _BitReader(_rbsp_payload(nal, 1, H264_NAL_SPS, "h264"))
    profile_idc = r.u(8)
    constraints = r.u(8)
    level_idc = r.u(8)
    r.ue("seq_parameter_set_id", 31)

    chroma_format_idc, separate_planes, bit_depth = 1, False, 8
    if profile_idc in _H264_HIGH_SYNTAX:
        chroma_format_idc = r.ue("chroma_format_idc", 3)
        if chroma_format_idc == 3:
            separate_planes = r.flag()
        bit_depth = r.ue("bit_depth_luma_minus8", 6) + 8
        r.ue("bit_depth_chroma_minus8", 6)
        r.skip(1)  # qpprime_y_zero_transform_bypass_flag
        if r.flag():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.flag():
                    _skip_h264_scaling_list(r, 16 if i < 6 else 64)

    r.ue("log2_max_frame_num_minus4", 12)
    poc_type = r.ue("pic_order_cnt_type", 2)
    if poc_type == 0:
        r.ue("log2_max_pic_order_cnt_lsb_minus4", 12)
    elif poc_type == 1:
        r.skip(1)  # delta_pic_order_always_zero_flag
        r.se("offset_for_non_ref_pic")
        r.se("offset_for_top_to_bottom_field")
        for _ in range(r.ue("num_ref_frames_in_pic_order_cnt_cycle", 255)):
            r.se("offset_for_ref_frame")
    r.ue("max_num_ref_frames", 16)
    r.skip(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = r.ue("pic_width_in_mbs_minus1", MAX_DIMENSION // 16) + 1
    height_map_units = r.ue("pic_height_in_map_units_minus1", MAX_DIMENSION // 16) + 1
    frame_mbs_only = r.flag()
    if not frame_mbs_only:
        r.skip(1)  # mb_adaptive_frame_field_flag
    r.skip(1)  # direct_8x8_inference_flag

    width = width_mbs * 16
    # Without frame_mbs_only a map unit is a macroblock pair: two rows of 16 luma lines.
    height = height_map_units * 16 * (1 if frame_mbs_only else 2)
    _check_dimensions(width, height)
    if r.flag():  # frame_cropping_flag
        chroma_array_type = 0 if separate_planes else chroma_format_idc
        sub_w, sub_h = _CHROMA_SUBSAMPLING[chroma_array_type]
        crop_x, crop_y = sub_w, sub_h * (1 if frame_mbs_only else 2)
        left, right = r.ue("frame_crop_left_offset"), r.ue("frame_crop_right_offset")
        top, bottom = r.ue("frame_crop_top_offset"), r.ue("frame_crop_bottom_offset")
        width = _cropped(width, left + right, crop_x, "width")
        height = _cropped(height, top + bottom, crop_y, "height")

    fps, reorder = _h264_vui(r) if r.flag() else (None, None)
    if reorder is None and profile_idc == 66:
        reorder = 0  # Baseline has no B slices, so nothing is ever reordered.
    return ParameterSetInfo(
        codec="h264",
        profile=_h264_profile_name(profile_idc, constraints),
        level=_h264_level_name(level_idc, profile_idc, constraints),
        width=width,
        height=height,
        chroma_format=CHROMA_FORMATS[chroma_format_idc],
        bit_depth=bit_depth,
        interlaced=not frame_mbs_only,
        fps=fps,
        max_num_reorder=reorder,
    )


# --------------------------------------------------------------------------------------------------
# H.265

_H265_PROFILES = {
    1: "Main",
    2: "Main 10",
    3: "Main Still Picture",
    4: "Rext",
    5: "High Throughput",
    6: "Multiview Main",
    7: "Scalable Main",
    8: "3D Main",
    9: "Screen Extended",
    10: "Scalable Rext",
    11: "High Throughput Screen Extended",
}


@dataclass(frozen=True, slots=True)
class _ProfileTierLevel:
    profile: str
    level: str
    progressive_source: bool
    interlaced_source: bool


def _h265_profile_name(profile_idc: int, compatibility: int) -> str:
    if profile_idc in _H265_PROFILES:
        return _H265_PROFILES[profile_idc]
    # Some encoders leave general_profile_idc at 0 and only set a compatibility flag (A.3).
    for idc in sorted(_H265_PROFILES):
        if compatibility & (1 << (31 - idc)):
            return _H265_PROFILES[idc]
    return f"profile_idc {profile_idc}"


def _h265_profile_tier_level(r: _BitReader, max_sub_layers_minus1: int) -> _ProfileTierLevel:
    """profile_tier_level(1, maxNumSubLayersMinus1), H.265 7.3.3."""
    r.skip(3)  # general_profile_space, general_tier_flag
    profile_idc = r.u(5)
    compatibility = r.u(32)
    progressive = r.flag()
    interlaced = r.flag()
    r.skip(2 + 43 + 1)  # non_packed, frame_only, constraint/reserved bits, inbld/reserved
    level_idc = r.u(8)
    present = [(r.flag(), r.flag()) for _ in range(max_sub_layers_minus1)]
    if max_sub_layers_minus1 > 0:
        r.skip(2 * (8 - max_sub_layers_minus1))  # reserved_zero_2bits
    for profile_present, level_present in present:
        r.skip((88 if profile_present else 0) + (8 if level_present else 0))
    return _ProfileTierLevel(
        profile=_h265_profile_name(profile_idc, compatibility),
        # level_idc is 30 times the level number (A.4.1): 93 is 3.1, 153 is 5.1.
        level=f"{level_idc // 30}.{(level_idc % 30) // 3}",
        progressive_source=progressive,
        interlaced_source=interlaced,
    )


def _skip_h265_scaling_list_data(r: _BitReader) -> None:
    for size_id in range(4):
        for matrix_id in range(0, 6, 3 if size_id == 3 else 1):
            if not r.flag():  # scaling_list_pred_mode_flag
                r.ue("scaling_list_pred_matrix_id_delta", matrix_id // 3 if size_id == 3 else matrix_id)
                continue
            if size_id > 1:
                r.se("scaling_list_dc_coef_minus8")
            for _ in range(min(64, 1 << (4 + (size_id << 1)))):
                r.se("scaling_list_delta_coef")


def _h265_st_ref_pic_set(r: _BitReader, idx: int, counts: list[int]) -> int:
    """Skip st_ref_pic_set(stRpsIdx) as coded in an SPS (7.3.7) and return its NumDeltaPocs.

    The count is all the parse needs: a set predicted from this one reads a flag pair per entry.
    Like HM and FFmpeg, every flagged entry counts, even one whose delta POC works out to 0, which
    equations 7-61/7-62 would drop; no conforming stream has one, and agreeing with the reference
    decoders keeps the rest of the SPS aligned the way they read it.
    """
    if idx != 0 and r.flag():  # inter_ref_pic_set_prediction_flag
        r.skip(1)  # delta_rps_sign; delta_idx_minus1 is only coded in slice headers
        r.ue("abs_delta_rps_minus1", 2**15 - 1)
        # One (used_by_curr_pic_flag, use_delta_flag) pair per entry of the reference set, plus one
        # for the picture that set belongs to; use_delta_flag is only coded when the first is 0.
        return sum(1 for _ in range(counts[idx - 1] + 1) if r.flag() or r.flag())
    num_negative = r.ue("num_negative_pics", 16)
    num_positive = r.ue("num_positive_pics", 16)
    for _ in range(num_negative + num_positive):
        r.ue("delta_poc_minus1", 2**15 - 1)
        r.skip(1)  # used_by_curr_pic_flag
    return num_negative + num_positive


def _h265_vui_timing(r: _BitReader) -> tuple[float | None, bool]:
    """(fps, field_seq_flag) from an H.265 VUI (E.2.1); the rest of the VUI is not needed."""
    _skip_aspect_overscan_signal_chroma(r)
    r.skip(1)  # neutral_chroma_indication_flag
    field_seq = r.flag()
    r.skip(1)  # frame_field_info_present_flag
    if r.flag():  # default_display_window_flag
        for what in ("def_disp_win_left", "def_disp_win_right", "def_disp_win_top", "def_disp_win_bottom"):
            r.ue(what)
    if not r.flag():  # vui_timing_info_present_flag
        return None, field_seq
    units_in_tick = r.u(32)
    time_scale = r.u(32)
    return _fps(time_scale, units_in_tick), field_seq


def _h265_vui_or_none(r: _BitReader) -> tuple[float | None, bool]:
    # As for H.264: the picture format is already known, a broken VUI costs only the fps.
    try:
        return _h265_vui_timing(r)
    except ParameterSetError:
        return None, False


def parse_h265_sps(nal: bytes | bytearray | memoryview) -> ParameterSetInfo:
    """Parse an H.265 SPS NAL unit (2-byte header included), ITU-T H.265 7.3.2.2.

    With field_seq_flag (field-coded interlace) each coded picture is one field: height and fps
    are reported per frame, like an interlaced H.264 SPS, so a 1080i camera reads as 1080 lines.
    """
    r = _BitReader(_rbsp_payload(nal, 2, H265_NAL_SPS, "h265"))
    layer_id = ((nal[0] & 1) << 5) | (nal[1] >> 3)
    if layer_id != 0:
        # Multi-layer (MV-HEVC / SHVC) SPS syntax differs; the base layer's SPS describes the stream.
        raise ParameterSetError(f"SPS of layer {layer_id} is not supported, only the base layer's")
    r.skip(4)  # sps_video_parameter_set_id
    max_sub_layers_minus1 = r.u(3)
    if max_sub_layers_minus1 > 6:
        raise ParameterSetError(f"sps_max_sub_layers_minus1 = {max_sub_layers_minus1} is out of range (max 6)")
    r.skip(1)  # sps_temporal_id_nesting_flag
    ptl = _h265_profile_tier_level(r, max_sub_layers_minus1)
    r.ue("sps_seq_parameter_set_id", 15)
    chroma_format_idc = r.ue("chroma_format_idc", 3)
    separate_planes = chroma_format_idc == 3 and r.flag()
    width = r.ue("pic_width_in_luma_samples", MAX_DIMENSION)
    height = r.ue("pic_height_in_luma_samples", MAX_DIMENSION)
    _check_dimensions(width, height)
    if r.flag():  # conformance_window_flag
        sub_w, sub_h = _CHROMA_SUBSAMPLING[0 if separate_planes else chroma_format_idc]
        left, right = r.ue("conf_win_left_offset"), r.ue("conf_win_right_offset")
        top, bottom = r.ue("conf_win_top_offset"), r.ue("conf_win_bottom_offset")
        width = _cropped(width, left + right, sub_w, "width")
        height = _cropped(height, top + bottom, sub_h, "height")
    bit_depth = r.ue("bit_depth_luma_minus8", 8) + 8
    r.ue("bit_depth_chroma_minus8", 8)
    log2_max_poc_lsb = r.ue("log2_max_pic_order_cnt_lsb_minus4", 12) + 4

    reorder = 0
    first = 0 if r.flag() else max_sub_layers_minus1  # sps_sub_layer_ordering_info_present_flag
    for _ in range(first, max_sub_layers_minus1 + 1):
        r.ue("sps_max_dec_pic_buffering_minus1", 15)
        reorder = r.ue("sps_max_num_reorder_pics", 15)  # the last one is for the highest sub-layer
        r.ue("sps_max_latency_increase_plus1")

    for what in (
        "log2_min_luma_coding_block_size_minus3",
        "log2_diff_max_min_luma_coding_block_size",
        "log2_min_luma_transform_block_size_minus2",
        "log2_diff_max_min_luma_transform_block_size",
        "max_transform_hierarchy_depth_inter",
        "max_transform_hierarchy_depth_intra",
    ):
        r.ue(what, 6)
    if r.flag() and r.flag():  # scaling_list_enabled_flag, sps_scaling_list_data_present_flag
        _skip_h265_scaling_list_data(r)
    r.skip(2)  # amp_enabled_flag, sample_adaptive_offset_enabled_flag
    if r.flag():  # pcm_enabled_flag
        r.skip(8)  # PCM sample bit depths
        r.ue("log2_min_pcm_luma_coding_block_size_minus3", 2)
        r.ue("log2_diff_max_min_pcm_luma_coding_block_size", 3)
        r.skip(1)  # pcm_loop_filter_disabled_flag
    rps_counts: list[int] = []
    for idx in range(r.ue("num_short_term_ref_pic_sets", 64)):
        rps_counts.append(_h265_st_ref_pic_set(r, idx, rps_counts))
    if r.flag():  # long_term_ref_pics_present_flag
        for _ in range(r.ue("num_long_term_ref_pics_sps", 32)):
            r.skip(log2_max_poc_lsb + 1)  # lt_ref_pic_poc_lsb_sps, used_by_curr_pic_lt_sps_flag
    r.skip(2)  # sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag

    fps, field_seq = _h265_vui_or_none(r) if r.flag() else (None, False)
    if field_seq:
        height *= 2
        fps = None if fps is None else fps / 2
    return ParameterSetInfo(
        codec="h265",
        profile=ptl.profile,
        level=ptl.level,
        width=width,
        height=height,
        chroma_format=CHROMA_FORMATS[chroma_format_idc],
        bit_depth=bit_depth,
        interlaced=field_seq or (ptl.interlaced_source and not ptl.progressive_source),
        fps=fps,
        max_num_reorder=reorder,
    )


def parse_h265_vps_fps(nal: bytes | bytearray | memoryview) -> float | None:
    """The frame rate from an H.265 VPS's timing info (7.3.2.1), or None when it has none.

    For streams whose SPS carries no VUI timing: use it as ``dataclasses.replace(info, fps=...)``.
    """
    r = _BitReader(_rbsp_payload(nal, 2, H265_NAL_VPS, "h265"))
    r.skip(4 + 2 + 6)  # vps_video_parameter_set_id, base layer flags, vps_max_layers_minus1
    max_sub_layers_minus1 = r.u(3)
    if max_sub_layers_minus1 > 6:
        raise ParameterSetError(f"vps_max_sub_layers_minus1 = {max_sub_layers_minus1} is out of range (max 6)")
    r.skip(1 + 16)  # vps_temporal_id_nesting_flag, vps_reserved_0xffff_16bits
    _h265_profile_tier_level(r, max_sub_layers_minus1)
    first = 0 if r.flag() else max_sub_layers_minus1
    for _ in range(first, max_sub_layers_minus1 + 1):
        r.ue("vps_max_dec_pic_buffering_minus1", 15)
        r.ue("vps_max_num_reorder_pics", 15)
        r.ue("vps_max_latency_increase_plus1")
    max_layer_id = r.u(6)
    num_layer_sets = r.ue("vps_num_layer_sets_minus1", 1023) + 1
    r.skip((num_layer_sets - 1) * (max_layer_id + 1))  # layer_id_included_flag[i][j]
    if not r.flag():  # vps_timing_info_present_flag
        return None
    units_in_tick = r.u(32)
    time_scale = r.u(32)
    return _fps(time_scale, units_in_tick)


def parse_sps(codec: str, nal: bytes | bytearray | memoryview) -> ParameterSetInfo:
    """Parse an SPS NAL unit of the given codec ("h264" or "h265"; "hevc" is accepted too)."""
    if _normalise_codec(codec) == "h264":
        return parse_h264_sps(nal)
    return parse_h265_sps(nal)
