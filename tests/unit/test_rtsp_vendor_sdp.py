"""The light reader's SDP reading (adapters/rtsp/protocol.py) on the shapes real cameras answer DESCRIBE with,
rebuilt from answers quoted in public bug reports of other RTSP clients (addresses and session ids made
up here; the parameter sets are the cameras' own, each with its source below). The truth is what the
camera declared beside them (profile-level-id, profile-id) and, for H.265, FFmpeg's own reading of the
same parameter sets; our clips never had these quirks."""

from __future__ import annotations

import base64

import av
import pytest

from adapters.rtsp.protocol import SdpError, resolve, stream_info_of, video_of_sdp

# github.com/pixelbender/go-sdp issue 5: a TP-LINK camera, H.265 with its parameter sets in the SDP, G.711
# sound and a vendor media line whose format is not a number.
TPLINK_VPS = "QAEMAf//AUAAAAMAAAMAAAMAAAMAmawJ"
TPLINK_SPS = "QgEBAUAAAAMAAAMAAAMAAAMAmaADwIARB8uWu5G4NcqqbAgAAAMACAAAAwB4QA=="
TPLINK_PPS = "RAHAc8BBgwk="
TPLINK_FMTP = (
    "profile-space=0;profile-id=1;tier-flag=0;level-id=153;interop-constraints=000000000000;"
    f"sprop-vps={TPLINK_VPS};sprop-sps={TPLINK_SPS};sprop-pps={TPLINK_PPS}"
)
TPLINK = f"""v=0
o=- 1000 2000 1 IN IP4 192.0.2.39
s=Session streamed by "TP-LINK RTSP Server"
t=0 0
m=video 0 RTP/AVP 96
c=IN IP4 0.0.0.0
b=AS:4096
a=range:npt=0-
a=control:track1
a=rtpmap:96 H265/90000
a=fmtp:96 {TPLINK_FMTP}
m=audio 0 RTP/AVP 8
a=rtpmap:8 PCMA/8000
a=control:track2
m=application/tp-link 0 RTP/AVP smart/0/25000
a=rtpmap:95 tp-link/25000
a=control:track3
"""

# meetecho/janus-gateway issue 849: an Axis camera, Baseline H.264 with its parameter sets in the SDP only.
AXIS_SETS = "Z0IAKeKQCgDLYC3AQEBpB4kRUA==,aM48gA=="
AXIS = f"""v=0
o=- 1111 1111 IN IP4 192.0.2.110
s=Media Presentation
e=NONE
b=AS:50000
t=0 0
a=control:*
a=range:npt=0.000000-
m=video 0 RTP/AVP 96
c=IN IP4 0.0.0.0
b=AS:50000
a=framerate:30.0
a=transform:-1,0,0;0,-1,0;0,0,1
a=control:trackID=1
a=rtpmap:96 H264/90000
a=fmtp:96 packetization-mode=1; profile-level-id=420029; sprop-parameter-sets={AXIS_SETS}
"""

# Hikvision ("HIK Media Server", bluenviron/gortsplib issue 88, AxisCommunications/media-stream-library-js
# issue 417): no parameter sets in the SDP (they come in the stream), packetization-mode 0, AAC sound after
# the video, a vendor attribute of its own.
HIK_AAC = (
    "streamtype=5;profile-level-id=15;mode=AAC-hbr;config=1190;"
    "SizeLength=13;IndexLength=3;IndexDeltaLength=3;Profile=1;"
)
HIKVISION = f"""v=0
o=- 2222 0 IN IP4 0.0.0.0
s=HIK Media Server V3.5.43
i=HIK Media Server Session Description : standard
e=NONE
c=IN IP4 0.0.0.0
t=0 0
a=control:*
b=AS:2176
a=range:npt=now-
m=video 0 RTP/AVP 96
i=Video Media
a=rtpmap:96 H264/90000
a=fmtp:96 profile-level-id=4D0014;packetization-mode=0
a=control:trackID=video
b=AS:2048
m=audio 0 RTP/AVP 104
i=Audio Media
a=rtpmap:104 MPEG4-GENERIC/48000
a=control:trackID=audio
a=fmtp:104 {HIK_AAC}
a=Media_header:MEDIAINFO=494D4B4801010000040000010120011080BB000000F4010000000000000000000000000000000000;
a=appversion:1.0
"""

# A DVR behind LIVE555 (Streamedian/html5_rtsp_player issue 89): High profile, level 4.2.
LIVE555_SETS = "Z2QAKq2EAQwgCGEAQwgCGEAQwgCEK1A8ARPyzcBAQECA,aO48sA=="
LIVE555 = f"""v=0
o=- 3333 1 IN IP4 192.0.2.118
s=device=3
t=0 0
a=tool:LIVE555 Streaming Media v2016.11.28
a=type:broadcast
a=control:*
a=range:npt=0-
m=video 0 RTP/AVP 96
c=IN IP4 0.0.0.0
b=AS:4096000
a=rtpmap:96 H264/90000
a=fmtp:96 packetization-mode=1;profile-level-id=64002A;sprop-parameter-sets={LIVE555_SETS}
a=control:track1
"""

# A camera's own server (Streamedian/html5_rtsp_player issue 119): no fmtp at all, a control of its own
# form, Content-Base with a slash, and an ONVIF metadata track.
ANTS = """v=0
o=- 4444 4444 IN IP4 192.0.2.106
a=control:*
a=source-filter: incl IN IP4 * 192.0.2.106
s=WUHAN Ants RtspServer
a=range:npt=0-
t=0 0
m=video 0 RTP/AVP 96
c=IN IP4 0.0.0.0
a=rtpmap:96 H264/90000
a=control:ctype=video
a=recvonly
m=application 0 RTP/AVP 106
a=rtpmap:106 vnd.onvif.metadata/90000
a=control:ctype=app106
a=sendonly
"""

# go2rtc issue 679: a camera that answers with media lines only, no v=, o=, s= or t=.
BARE = "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\n"


@pytest.mark.parametrize(
    ("sdp", "base", "codec", "setup_url"),
    [
        (TPLINK, "rtsp://192.0.2.39:554/stream1/", "h265", "rtsp://192.0.2.39:554/stream1/track1"),
        (AXIS, "rtsp://192.0.2.110/axis-media/media.amp/", "h264", "rtsp://192.0.2.110/axis-media/media.amp/trackID=1"),
        (
            HIKVISION,
            "rtsp://192.0.2.64:554/Streaming/Channels/101",
            "h264",
            "rtsp://192.0.2.64:554/Streaming/Channels/101/trackID=video",
        ),
        (LIVE555, "rtsp://192.0.2.118/device=3", "h264", "rtsp://192.0.2.118/device=3/track1"),
        (ANTS, "rtsp://192.0.2.106:554/ch01.264/", "h264", "rtsp://192.0.2.106:554/ch01.264/ctype=video"),
        (BARE, "rtsp://192.0.2.118:554/", "h264", "rtsp://192.0.2.118:554/trackID=0"),
    ],
    ids=["tp-link-h265", "axis", "hikvision", "live555-dvr", "ants", "media-lines-only"],
)
def test_each_cameras_video_and_where_to_set_it_up(sdp: str, base: str, codec: str, setup_url: str) -> None:
    found, _fmtp, control = video_of_sdp(sdp)
    assert found == codec
    assert resolve(base, control) == setup_url


def test_parameter_sets_from_the_sdp_agree_with_what_the_camera_declared() -> None:
    # H.265 (TP-LINK): FFmpeg reads the same three sets (its decoder exports them when opened with them).
    _, fmtp, _ = video_of_sdp(TPLINK)
    ours = stream_info_of("h265", fmtp)
    decoder = av.CodecContext.create("hevc", "r")
    decoder.extradata = ours.extradata
    decoder.open()
    assert (ours.width, ours.height) == (decoder.width, decoder.height) == (1920, 1080)
    assert ours.profile == decoder.profile == "Main" and fmtp["profile-id"] == "1"  # 1: Main
    # H.264: FFmpeg reads no size before a picture, so the camera's own profile-level-id is the witness.
    for sdp, profile in ((AXIS, "Baseline"), (LIVE555, "High")):
        _, fmtp, _ = video_of_sdp(sdp)
        info = stream_info_of("h264", fmtp)
        assert info.profile == profile
        assert {"42": "Baseline", "4D": "Main", "64": "High"}[fmtp["profile-level-id"][:2].upper()] == profile
        assert info.width and info.height and info.extradata is not None
        assert info.extradata.count(b"\x00\x00\x00\x01") == 2  # the SPS and the PPS, each as Annex B
        assert base64.b64decode(fmtp["sprop-parameter-sets"].split(",")[0]) in info.extradata


def test_no_parameter_sets_in_the_sdp_leave_the_size_to_the_stream() -> None:
    # Hikvision and the Ants server send them in the stream, before each keyframe: the stream figures
    # read them there (StreamStats), so nothing is known, and nothing is refused, at SETUP.
    for sdp in (HIKVISION, ANTS, BARE):
        _, fmtp, _ = video_of_sdp(sdp)
        info = stream_info_of("h264", fmtp)
        assert (info.width, info.height, info.extradata) == (None, None, None)


def test_sound_or_metadata_only_is_no_video() -> None:
    audio_only = "v=0\r\nm=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=control:track2\r\n"
    with pytest.raises(SdpError) as caught:
        video_of_sdp(audio_only)
    assert caught.value.no_video
