"""The SDP offer check: clear errors before aiortc sees the offer."""

from __future__ import annotations

import pytest

from adapters.webrtc import OfferError, check_offer

OFFER = """v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
m=video 9 UDP/TLS/RTP/SAVPF 96 97
c=IN IP4 0.0.0.0
a=mid:0
a=recvonly
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuv
a=fingerprint:sha-256 AB:CD
a=setup:actpass
a=rtpmap:96 VP8/90000
a=rtpmap:97 H264/90000
""".replace("\n", "\r\n")


def test_a_good_offer_lists_its_codecs() -> None:
    summary = check_offer(OFFER, "offer")
    assert summary.video_codecs == ("vp8", "h264") and summary.offers("H264")


@pytest.mark.parametrize(
    ("sdp", "kind", "message"),
    [
        (OFFER, "answer", "type must be 'offer'"),
        ("", "offer", "empty"),
        (None, "offer", "empty"),
        ("hello", "offer", "must start with 'v=0'"),
        ("v=0\r\nnot sdp\r\n", "offer", "line 2"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 9 RTP/AVP 0\r\n", "offer", "no video m-line"),
        (OFFER.replace("a=recvonly", "a=sendonly"), "offer", "does not receive"),
        (OFFER.replace("a=ice-ufrag:abcd\r\n", ""), "offer", "ICE user fragment"),
        (OFFER.replace("a=fingerprint:sha-256 AB:CD\r\n", ""), "offer", "fingerprint"),
        (OFFER.replace("a=rtpmap:97 H264/90000\r\n", ""), "offer", "no H264 video (offered: vp8)"),
        (OFFER.replace("m=video 9 ", "m=video x "), "offer", "m-line port"),
        ("v=0\r\n" + "a=x\r\n" * 20000, "offer", "larger than"),
    ],
)
def test_bad_offers_say_why(sdp: object, kind: str, message: str) -> None:
    with pytest.raises(OfferError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_offer(sdp, kind)


def test_vp8_accepted_when_asked() -> None:
    no_h264 = OFFER.replace("a=rtpmap:97 H264/90000\r\n", "")
    assert check_offer(no_h264, "offer", ("h264", "vp8")).offers("vp8")
