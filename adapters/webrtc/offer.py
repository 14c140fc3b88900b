"""A check of a browser's SDP offer before aiortc sees it.

aiortc's own parser answers garbage with a bare ValueError or KeyError; a viewer's developer needs
to know what is wrong with the offer (no video section, no H.264, no ICE credentials). This reads
network input, so it is bounded in size and never raises anything but OfferError.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from adapters.webrtc.errors import OfferError

MAX_SDP_BYTES = 64 * 1024
_LINE = re.compile(r"^[a-z]=")
_RTPMAP = re.compile(r"^a=rtpmap:(\d{1,3}) ([A-Za-z0-9_.-]+)/\d+")


@dataclass(frozen=True, slots=True)
class OfferSummary:
    video_codecs: tuple[str, ...]  # lower-case encoding names of the first usable video section

    def offers(self, codec: str) -> bool:
        return codec.lower() in self.video_codecs


def check_offer(sdp: object, kind: object, accept: Iterable[str] = ("h264",)) -> OfferSummary:
    """Raise OfferError unless `sdp` is an offer with a receivable video section that offers one of
    the `accept` codecs (lower-case names: "h264", "vp8")."""
    if kind != "offer":
        raise OfferError(f"type must be 'offer', not {str(kind)[:20]!r}")
    if not isinstance(sdp, str) or not sdp.strip():
        raise OfferError("the SDP offer is empty")
    if len(sdp.encode("utf-8", "replace")) > MAX_SDP_BYTES:
        raise OfferError(f"the SDP offer is larger than {MAX_SDP_BYTES} bytes")
    lines = [line.strip() for line in sdp.replace("\r\n", "\n").split("\n") if line.strip()]
    if lines[0] != "v=0":
        raise OfferError("not an SDP offer: it must start with 'v=0'")
    for number, line in enumerate(lines, 1):
        if not _LINE.match(line):
            raise OfferError(f"SDP line {number} is not '<letter>=<value>'")
    session, sections = _split(lines)
    videos = [s for s in sections if s[0].startswith("m=video ")]
    if not videos:
        raise OfferError("the offer has no video m-line: add a recvonly video transceiver")
    receivable = [s for s in videos if not _has(s, "a=sendonly", "a=inactive") and _port(s[0]) != 0]
    if not receivable:
        raise OfferError("the offer's video section does not receive (sendonly, inactive or port 0)")
    for what, prefix in (("ICE user fragment", "a=ice-ufrag:"), ("ICE password", "a=ice-pwd:")):
        if not all(_value(session + s, prefix) for s in receivable):
            raise OfferError(f"the offer has no {what} ({prefix[:-1]})")
    if not all(_value(session + s, "a=fingerprint:") for s in receivable):
        raise OfferError("the offer has no DTLS fingerprint (a=fingerprint)")
    codecs = tuple(dict.fromkeys(m.group(2).lower() for line in receivable[0] if (m := _RTPMAP.match(line))))
    wanted = tuple(a.lower() for a in accept)
    if not any(c in codecs for c in wanted):
        names = " or ".join(c.upper() for c in wanted)
        raise OfferError(f"the offer has no {names} video (offered: {', '.join(codecs) or 'none'})")
    return OfferSummary(codecs)


def _split(lines: list[str]) -> tuple[list[str], list[list[str]]]:
    session: list[str] = []
    sections: list[list[str]] = []
    for line in lines:
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        else:
            session.append(line)
    return session, sections


def _port(mline: str) -> int | None:
    parts = mline.split()
    if len(parts) < 4:
        raise OfferError(f"malformed m-line {mline[:60]!r}: expected 'm=video <port> <proto> <formats>'")
    port = parts[1].split("/")[0]
    if not port.isdigit() or int(port) > 65535:
        raise OfferError(f"malformed m-line port {parts[1][:20]!r}")
    return int(port)


def _has(section: list[str], *flags: str) -> bool:
    return any(line in flags for line in section)


def _value(lines: list[str], prefix: str) -> str | None:
    return next((line[len(prefix) :] for line in lines if line.startswith(prefix) and len(line) > len(prefix)), None)
