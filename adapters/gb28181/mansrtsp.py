"""MANSRTSP: the RTSP-like commands a platform sends in INFO to drive a playback (GB/T 28181-2016 annex
B, clause 9.8): PLAY with a Range (seek, in npt seconds from the start of the playback) or a Scale
(speed), PAUSE, PLAY again to resume, TEARDOWN. For example

    PLAY MANSRTSP/1.0
    CSeq: 3
    Scale: 2.0

Pure parsing; `parse` raises only MansrtspError, whose status (400, 413) is the SIP status to answer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final, Literal

CONTENT_TYPES: Final = frozenset({"application/mansrtsp", "application/rtsp"})
MAX_BYTES: Final = 4096
# A speed the platform may ask for; GB/T 28181 names 0.25 to 4 for playback, and some platforms send 8.
MIN_SCALE: Final = 1 / 32
MAX_SCALE: Final = 32.0
_REQUEST: Final = re.compile(r"(PLAY|PAUSE|TEARDOWN) +MANSRTSP/1\.0", re.IGNORECASE)
_NPT: Final = re.compile(r"npt *= *(now|\d{1,9}(?:\.\d{1,6})?) *-.*", re.IGNORECASE)

Method = Literal["PLAY", "PAUSE", "TEARDOWN"]


class MansrtspError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Command:
    method: Method
    cseq: int
    seek_s: float | None = None  # PLAY Range: npt=<seconds>- ; None for "now" or no Range
    scale: float | None = None  # PLAY Scale


def parse(body: bytes) -> Command:
    if len(body) > MAX_BYTES:
        raise MansrtspError(413, "MANSRTSP body too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MansrtspError(400, "MANSRTSP body is not text") from None
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines:
        raise MansrtspError(400, "empty MANSRTSP body")
    request = _REQUEST.fullmatch(lines[0])
    if request is None:
        raise MansrtspError(400, "not a MANSRTSP PLAY, PAUSE or TEARDOWN")
    method: Method = request.group(1).upper()  # type: ignore[assignment]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise MansrtspError(400, "malformed MANSRTSP header line")
        headers.setdefault(name.strip().lower(), value.strip())
    cseq_text = headers.get("cseq", "0")
    if not cseq_text.isdigit() or len(cseq_text) > 10:
        raise MansrtspError(400, "bad CSeq in MANSRTSP")
    seek = scale = None
    if method == "PLAY" and "range" in headers:
        npt = _NPT.fullmatch(headers["range"])
        if npt is None:
            raise MansrtspError(400, "bad Range in MANSRTSP (npt=<seconds>- expected)")
        seek = None if npt.group(1).lower() == "now" else float(npt.group(1))
    if method == "PLAY" and "scale" in headers:
        try:
            scale = float(headers["scale"])
        except ValueError:
            raise MansrtspError(400, "bad Scale in MANSRTSP") from None
        if not math.isfinite(scale) or scale == 0:
            raise MansrtspError(400, "bad Scale in MANSRTSP")
    return Command(method, int(cseq_text), seek, scale)


def servable_scale(scale: float) -> float:
    """The speed we ask the recorder for: forward only (a negative Scale, reverse play, is not served:
    the nearest we can is forward at the same speed), within MIN_SCALE..MAX_SCALE."""
    return min(max(abs(scale), MIN_SCALE), MAX_SCALE)
