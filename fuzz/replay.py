"""Fuzz target `replay`: what a recording device and a platform send into a replay
(adapters/rtsp/protocol.py, adapters/rtsp/depacketize.py, adapters/gb28181/mansrtsp.py).

The first byte picks the parser: the recorder's SDP (`video_of_sdp`, `stream_info_of`), a run of RTP
packets of H.264 or H.265 (`parse_rtp`, `Depacketizer`; the rest of the input cut into packets by
2-byte lengths, as RTP interleaved on RTSP's TCP connection frames them), or a platform's MANSRTSP
command (`mansrtsp.parse`). Allowed: `RtspError`, `RtpError`, `MansrtspError` (400, 413).
Invariants: an access unit is never empty, never holds an empty NAL unit and never passes the size
bound; a MANSRTSP command's speed is finite and not zero, its seek not negative.
"""

from __future__ import annotations

import math

from fuzz import check
from fuzz._atheris import INSTRUMENTED, instrument_imports, main

with instrument_imports(include=INSTRUMENTED):
    from adapters.gb28181 import mansrtsp
    from adapters.rtsp import depacketize, protocol


def _rtp_run(codec: depacketize.Codec, data: bytes) -> None:
    dep = depacketize.Depacketizer(codec)
    pos = 0
    units: list[depacketize.AccessUnit] = []
    while pos + 2 <= len(data):
        size = int.from_bytes(data[pos : pos + 2], "big") % 2048
        chunk, pos = data[pos + 2 : pos + 2 + size], pos + 2 + size
        try:
            packet = depacketize.parse_rtp(chunk)
        except depacketize.RtpError:
            continue
        units += dep.push(packet)
    units += dep.flush()
    for unit in units:
        check(bool(unit.nal_units), "an empty access unit was passed on")
        check(all(unit.nal_units), "an empty NAL unit was passed on")
        check(unit.size <= depacketize.MAX_ACCESS_UNIT + 65536, "an access unit past the bound")
        check(unit.annex_b().count(depacketize.START_CODE) >= len(unit.nal_units), "start codes lost")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    kind, rest = data[0] % 4, data[1:]
    if kind == 0:
        try:
            codec, fmtp, _control = protocol.video_of_sdp(rest.decode("utf-8", "replace"))
        except protocol.RtspError:
            return
        info = protocol.stream_info_of(codec, fmtp)
        check(info.codec in ("h264", "h265"), "an unknown codec was accepted")
    elif kind in (1, 2):
        _rtp_run("h264" if kind == 1 else "h265", rest)
    else:
        try:
            command = mansrtsp.parse(rest)
        except mansrtsp.MansrtspError as exc:
            check(exc.status in (400, 413), f"unexpected MANSRTSP status {exc.status}")
            return
        check(command.method in ("PLAY", "PAUSE", "TEARDOWN"), "an unknown method was accepted")
        check(command.scale is None or (math.isfinite(command.scale) and command.scale != 0), "a bad Scale")
        check(command.seek_s is None or command.seek_s >= 0, "a negative seek")


if __name__ == "__main__":
    main(test_one_input)
