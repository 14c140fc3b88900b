"""GB/T 28181 SDP: realistic platform offers (wvp-style UDP, TCP passive/active, playback, download),
our answers parsed back with our own parser, and refusals with the SIP status to answer."""

from __future__ import annotations

import random

import pytest

from adapters.gb28181.sdp import (
    EMPTY_F,
    MAX_SDP_BYTES,
    PlayOffer,
    SdpError,
    answer_setup,
    build_answer,
    parse_offer,
)

PLATFORM = "34020000002000000001"
CHANNEL = "34020000001320000001"
DEVICE = "34020000001180000001"


def _sdp(*lines: str) -> str:
    return "\r\n".join(lines) + "\r\n"


UDP_PLAY = _sdp(
    "v=0",
    f"o={PLATFORM} 0 0 IN IP4 192.168.1.3",
    "s=Play",
    "c=IN IP4 192.168.1.3",
    "t=0 0",
    "m=video 30154 RTP/AVP 96 126 125 99 34 98 97",
    "a=recvonly",
    "a=rtpmap:96 PS/90000",
    "a=rtpmap:126 H264/90000",
    "a=rtpmap:125 H264S/90000",
    "a=rtpmap:99 MP4V-ES/90000",
    "a=rtpmap:98 H264/90000",
    "a=rtpmap:97 MPEG4/90000",
    "y=0100000001",
)

TCP_PASSIVE = _sdp(
    "v=0",
    f"o={CHANNEL} 0 0 IN IP4 10.0.0.5",
    "s=Play",
    "c=IN IP4 10.0.0.5",
    "t=0 0",
    "m=video 30002 TCP/RTP/AVP 96 97 98 99",
    "a=recvonly",
    "a=rtpmap:96 PS/90000",
    "a=rtpmap:98 H264/90000",
    "a=rtpmap:97 MPEG4/90000",
    "a=rtpmap:99 H265/90000",
    "a=setup:passive",
    "a=connection:new",
    "y=0200000002",
)

TCP_ACTIVE_NO_Y = _sdp(
    "v=0",
    f"o={PLATFORM} 0 0 IN IP4 10.0.0.5",
    "s=Play",
    "c=IN IP4 10.0.0.5",
    "t=0 0",
    "m=video 9 TCP/RTP/AVP 96",
    "a=recvonly",
    "a=rtpmap:96 PS/90000",
    "a=setup:active",
    "a=connection:new",
    "a=streamMode:MAIN",
)

PLAYBACK = _sdp(
    "v=0",
    f"o={CHANNEL} 0 0 IN IP4 10.0.0.5",
    "s=Playback",
    f"u={CHANNEL}:0",
    "c=IN IP4 10.0.0.5",
    "t=1714521600 1714525200",
    "m=video 30004 RTP/AVP 96 98 97",
    "a=recvonly",
    "a=rtpmap:96 PS/90000",
    "a=rtpmap:98 H264/90000",
    "a=rtpmap:97 MPEG4/90000",
    "y=1100000003",
    "f=",
)

# Extra session attributes, an audio section before the video, a media-level c= that overrides the
# session one, a=rtpmap without clock rate, LF line endings, and an f= line with parameters.
DOWNLOAD_ODD = "\n".join(
    [
        "v=0",
        f"o={PLATFORM} 0 0 IN IP4 172.16.0.1",
        "s=Download",
        f"u={CHANNEL}:0",
        "c=IN IP4 172.16.0.1",
        "t=1714521600 1714525200",
        "a=tool:some-platform",
        "a=sendrecv",
        "m=audio 30010 RTP/AVP 8",
        "a=rtpmap:8 PCMA/8000",
        "a=sendrecv",
        "a=audioonly:1",
        "m=video 30006 rtp/avp 97 96",
        "c=IN IP4 172.16.0.9",
        "a=recvonly",
        "a=rtpmap:97 MPEG4",
        "a=rtpmap:96 PS/90000",
        "a=downloadspeed:4",
        "y=1100000004",
        "f=v/2/5/25/1/4096a///",
    ]
)


def test_udp_play_offer() -> None:
    offer = parse_offer(UDP_PLAY)
    assert (offer.session_name, offer.origin_user, offer.connection_ip) == ("Play", PLATFORM, "192.168.1.3")
    assert (offer.media_port, offer.transport, offer.setup, offer.direction) == (30154, "udp", None, "recvonly")
    assert (
        offer.payloads[96] == "PS/90000" and offer.payloads[98] == "H264/90000" and offer.payloads[97] == "MPEG4/90000"
    )
    assert 34 not in offer.payloads  # listed without rtpmap
    assert (offer.ps_payload, offer.ssrc, offer.f, offer.start, offer.stop) == (96, "0100000001", None, 0, 0)


def test_tcp_passive_offer_means_we_connect() -> None:
    offer = parse_offer(TCP_PASSIVE.encode())
    assert (offer.transport, offer.setup, offer.connection_new, offer.ssrc) == ("tcp", "passive", True, "0200000002")
    assert offer.payloads[99] == "H265/90000"
    assert answer_setup(offer.setup) == "active"


def test_tcp_active_offer_without_y_means_we_listen() -> None:
    offer = parse_offer(TCP_ACTIVE_NO_Y)
    assert (offer.transport, offer.setup, offer.ssrc) == ("tcp", "active", None)
    assert offer.attributes["streammode"] == "MAIN"
    assert answer_setup(offer.setup) == "passive"


def test_playback_offer_keeps_times_uri_and_empty_f() -> None:
    offer = parse_offer(PLAYBACK)
    assert (offer.session_name, offer.uri, offer.start, offer.stop) == (
        "Playback",
        f"{CHANNEL}:0",
        1714521600,
        1714525200,
    )
    assert (offer.ssrc, offer.f) == ("1100000003", "")


def test_download_offer_with_audio_first_and_media_level_connection() -> None:
    offer = parse_offer(DOWNLOAD_ODD)
    assert (offer.session_name, offer.connection_ip, offer.media_port) == ("Download", "172.16.0.9", 30006)
    assert offer.payloads == {97: "MPEG4", 96: "PS/90000"}
    assert offer.ps_payload == 96
    assert offer.attributes["downloadspeed"] == "4" and offer.attributes["tool"] == "some-platform"
    assert 8 not in offer.payloads  # the audio section's rtpmap stays out of the video
    assert "audioonly" not in offer.attributes and offer.direction == "recvonly"
    assert offer.f == "v/2/5/25/1/4096a///"


def test_ipv6_connection_and_tcp_alias() -> None:
    text = UDP_PLAY.replace("c=IN IP4 192.168.1.3", "c=IN IP6 fd00::5").replace("RTP/AVP", "RTP/AVP/TCP")
    offer = parse_offer(text)
    assert (offer.connection_ip, offer.transport) == ("fd00::5", "tcp")


# --- answers ----------------------------------------------------------------------------------


def _answer_of(offer: PlayOffer, **kwargs: object) -> PlayOffer:
    """Our answer read back by our own parser (answers say sendonly; the parser does not care)."""
    ssrc = offer.ssrc or "0100000009"
    text = build_answer(offer, device_id=CHANNEL, local_ip="192.168.1.64", local_port=15060, ssrc=ssrc, **kwargs)  # type: ignore[arg-type]
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    return parse_offer(text)


def test_udp_answer() -> None:
    offer = parse_offer(UDP_PLAY)
    text = build_answer(offer, device_id=CHANNEL, local_ip="192.168.1.64", local_port=15060, ssrc="0100000001")
    assert text.splitlines() == [
        "v=0",
        f"o={CHANNEL} 0 0 IN IP4 192.168.1.64",
        "s=Play",
        "c=IN IP4 192.168.1.64",
        "t=0 0",
        "m=video 15060 RTP/AVP 96",
        "a=sendonly",
        "a=rtpmap:96 PS/90000",
        "y=0100000001",
        f"f={EMPTY_F}",
    ]
    back = parse_offer(text)
    assert (back.origin_user, back.connection_ip, back.media_port, back.transport) == (
        CHANNEL,
        "192.168.1.64",
        15060,
        "udp",
    )
    assert (back.payloads, back.direction, back.ssrc, back.f) == ({96: "PS/90000"}, "sendonly", "0100000001", EMPTY_F)


def test_tcp_answers_take_the_opposite_setup_role() -> None:
    passive = _answer_of(parse_offer(TCP_PASSIVE))
    assert (passive.transport, passive.setup, passive.connection_new) == ("tcp", "active", True)
    active = _answer_of(parse_offer(TCP_ACTIVE_NO_Y))
    assert (active.transport, active.setup, active.ssrc) == ("tcp", "passive", "0100000009")


def test_answer_copies_times_session_name_and_f_and_honours_overrides() -> None:
    playback = _answer_of(parse_offer(PLAYBACK))
    assert (playback.session_name, playback.start, playback.stop, playback.f) == (
        "Playback",
        1714521600,
        1714525200,
        EMPTY_F,
    )
    download = _answer_of(parse_offer(DOWNLOAD_ODD))
    assert (download.f, download.payloads) == ("v/2/5/25/1/4096a///", {96: "PS/90000"})
    forced = _answer_of(parse_offer(UDP_PLAY), transport="tcp", setup="passive", f="v/2/4///a///")
    assert (forced.transport, forced.setup, forced.f) == ("tcp", "passive", "v/2/4///a///")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"local_ip": "not-an-ip"},
        {"local_port": 70000},
        {"ssrc": "123"},
        {"ssrc": "01000000011"},
        {"ssrc": "abcdefghij"},
    ],
)
def test_build_answer_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"device_id": CHANNEL, "local_ip": "10.0.0.1", "local_port": 6000, "ssrc": "0100000001"}
    with pytest.raises(ValueError):
        build_answer(parse_offer(UDP_PLAY), **{**args, **kwargs})  # type: ignore[arg-type]


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("", 400),
        ("hello world", 400),
        ("o=x 0 0 IN IP4 1.2.3.4\r\nv=0\r\n", 400),  # v= not first
        (UDP_PLAY.replace("a=recvonly", "this is not sdp"), 400),
        (UDP_PLAY.replace("y=0100000001", "y=01000000xx"), 400),
        (UDP_PLAY.replace("y=0100000001", "y=010000000123"), 400),
        (UDP_PLAY.replace("t=0 0", "t=now"), 400),
        (UDP_PLAY.replace("a=rtpmap:96 PS/90000", "a=rtpmap:PS"), 400),
        (UDP_PLAY.replace("m=video", "m=audio"), 488),  # no video media
        (TCP_ACTIVE_NO_Y.replace("a=rtpmap:96 PS/90000", "a=rtpmap:96 MPEG4/90000"), 488),  # no PS, H264, H265
        (UDP_PLAY.replace("c=IN IP4 192.168.1.3", "c=IN IP4 999.1.1.1"), 488),
        (UDP_PLAY.replace("c=IN IP4 192.168.1.3", "c=garbage"), 488),
        (UDP_PLAY.replace("c=IN IP4 192.168.1.3\r\n", ""), 488),  # no c= at all
        (UDP_PLAY.replace("m=video 30154", "m=video abc"), 488),
        (UDP_PLAY.replace("m=video 30154", "m=video 99999"), 488),
        (UDP_PLAY.replace("m=video 30154", "m=video 0"), 488),  # disabled stream
        (UDP_PLAY.replace("RTP/AVP", "RTP/SAVP"), 488),
        ("v=0\r\nm=video\r\n", 488),
        (UDP_PLAY + "a=x:" + "y" * MAX_SDP_BYTES, 413),
        ("v=0\r\n" + "a=x\r\n" * 300, 413),
    ],
)
def test_refusals_carry_the_sip_status(text: str, status: int) -> None:
    with pytest.raises(SdpError) as info:
        parse_offer(text)
    assert info.value.status == status


def test_random_mutations_raise_only_sdp_error() -> None:
    rng = random.Random(4566)
    seeds = [UDP_PLAY, TCP_PASSIVE, TCP_ACTIVE_NO_Y, PLAYBACK, DOWNLOAD_ODD]
    tokens = ["=", "\r\n", "m=video ", "c=IN IP4 ", "a=rtpmap:", "\x00", "é", "999999999999999999999999", " ", "/"]
    ok = 0
    for _ in range(3000):
        text = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 5)):
            pos = rng.randrange(len(text) + 1)
            op = rng.randrange(3)
            if op == 0:
                text[pos:pos] = rng.choice(tokens)
            elif op == 1:
                del text[pos : pos + rng.randint(1, 10)]
            else:
                text[pos:pos] = chr(rng.randrange(32, 0x3000))
        data = "".join(text)
        try:
            parse_offer(data.encode("utf-8", "surrogatepass") if rng.random() < 0.3 else data)
        except SdpError as exc:
            assert exc.status in (400, 413, 488)
        else:
            ok += 1
    assert ok > 100


def test_gbk_bytes_in_session_name_do_not_crash() -> None:
    offer = parse_offer(UDP_PLAY.replace("s=Play", "s=播放").encode("gbk"))
    assert offer.session_name == "播放"
