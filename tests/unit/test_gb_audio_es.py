"""GB/T 28181-2022 media: the camera's sound inside the PS (G.711 A-law and mu-law, AAC), video as an
H.264/H.265 elementary stream for an offer without PS, one RTP timestamp per frame in both modes.

Real sockets on 127.0.0.1. What the platform receives is read by our own readers (psdemux, the replay
depacketizer) and by independent ones: FFmpeg (PyAV) demuxing the PS and depacketizing the RTP, aiortc
depayloading H.264 (tests/support/mediacheck.py)."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import pytest

from adapters.common.aac import AacConfig, AacConfigError, is_adts
from adapters.common.media import AudioInfo, Packet, StreamInfo
from adapters.gb28181.es import nal_payloads
from adapters.gb28181.media import AUDIO_HOLD, Clock, MediaSender, MediaTarget
from adapters.gb28181.ps import (
    AUDIO_STREAM_ID,
    STREAM_TYPE_AAC,
    STREAM_TYPE_G711A,
    STREAM_TYPE_G711U,
    STREAM_TYPE_H264,
    VIDEO_STREAM_ID,
    PsMuxer,
)
from adapters.gb28181.psdemux import PsDemuxer, RtpPsReader
from adapters.gb28181.sdp import SdpError, build_answer, choose_payload, parse_offer
from adapters.rtsp.depacketize import Depacketizer, parse_rtp
from gateway.config import SupervisorConfig
from gateway.health.state import MeasuredStream
from gateway.pipeline.bus import PacketBus
from gateway.pipeline.readers import read_session
from tests.support.mediacheck import (
    aiortc_h264_frames,
    ffmpeg_rtp_frames,
    group_by_timestamp,
    nal_units,
    ps_streams,
    rtp_fields,
)

if TYPE_CHECKING:
    from sim.clips import ClipInfo

Frames = list[tuple[bytes, bool]]
SSRC = 100000001
FRAME_TICKS = 3600  # 90 kHz at 25 fps
STREAM_TYPES = {"pcma": STREAM_TYPE_G711A, "pcmu": STREAM_TYPE_G711U, "aac": STREAM_TYPE_AAC}


@pytest.fixture(scope="module")
def clips(sample_clips: dict[str, ClipInfo]) -> dict[str, Frames]:
    """Access units of the 720p H.264 and 1080p H.265 sample clips."""
    import av

    out: dict[str, Frames] = {}
    for codec, name, fmt in (("h264", "hd720_h264", "h264"), ("h265", "hd_h265", "hevc")):
        with av.open(str(sample_clips[name].path), format=fmt) as container:
            out[codec] = [(bytes(p), bool(p.is_keyframe)) for p in container.demux(video=0) if p.size]
    return out


@dataclass(frozen=True)
class Sound:
    """A few seconds of a 1 kHz tone encoded as a camera would send it."""

    info: AudioInfo
    frames: list[tuple[int, bytes]]  # (pts in the time base, data)
    samples_per_frame: int


def encode_tone(codec: str, seconds: float = 4.0) -> Sound:
    import av
    from av.audio.codeccontext import AudioCodecContext

    rate, per = (8000, 160) if codec != "aac" else (16000, 1024)
    name = {"pcma": "pcm_alaw", "pcmu": "pcm_mulaw", "aac": "aac"}[codec]
    encoder = cast(AudioCodecContext, av.CodecContext.create(name, "w"))
    encoder.sample_rate, encoder.layout = rate, "mono"
    encoder.format = "fltp" if codec == "aac" else "s16"
    encoder.open()
    frames: list[tuple[int, bytes]] = []
    for start in range(0, int(rate * seconds), per):
        wave = np.sin(2 * np.pi * 1000 * np.arange(start, start + per) / rate)
        samples = (0.3 * wave).astype(np.float32) if codec == "aac" else (8000 * wave).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format=encoder.format.name, layout="mono")
        frame.sample_rate, frame.pts = rate, start
        frames += [(p.pts or 0, bytes(p)) for p in encoder.encode(frame)]
    extradata = bytes(encoder.extradata) if codec == "aac" and encoder.extradata else None
    return Sound(AudioInfo(codec, rate, 1, Fraction(1, rate), extradata), frames, per)


async def interleaved(
    video: Frames, sound: Sound | None, *, codec: str = "h264", fps: float = 25.0, slices: bool = False
) -> AsyncIterator[Packet]:
    """Video at `fps` from frame `first` on and the sound, merged in time order as an RTSP session
    delivers them (video pts in 1/90000, sound in its sample rate, one origin)."""
    events: list[tuple[float, Packet]] = []
    tb = Fraction(1, 90000)
    for n, (data, key) in enumerate(video):
        pts = round(n * 90000 / fps)
        parts = [(data, key)]
        if slices:  # every NAL unit a packet of its own, all with the picture's pts
            parts = [(b"\x00\x00\x00\x01" + nal, key) for nal in nal_units(data)]
        events += [(n / fps, Packet("cam", codec, pts, pts, tb, k, d, 0.0)) for d, k in parts]
    if sound is not None:
        rate = sound.info.sample_rate
        for pts, data in sound.frames:
            if pts / rate < len(video) / fps:
                packet = Packet("cam", sound.info.codec, pts, pts, sound.info.time_base, True, data, 0.0)
                events.append((pts / rate + 1e-6, packet))
    events.sort(key=lambda e: e[0])
    for i, (_, packet) in enumerate(events):
        yield packet
        if i % 50 == 0:
            await asyncio.sleep(0)


class UdpReceiver:
    """The platform's RTP port, drained by a thread."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.datagrams: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                self.datagrams.append(self.sock.recv(65536))
            except TimeoutError:
                if self._stop.is_set():
                    return

    def stop(self) -> list[bytes]:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        return self.datagrams


def udp_target(port: int, **kw: object) -> MediaTarget:
    return MediaTarget(
        transport="udp",
        remote_ip="127.0.0.1",
        remote_port=port,
        local_ip="127.0.0.1",
        ssrc=SSRC,
        **kw,  # type: ignore[arg-type]
    )


async def send(sender: MediaSender, packets: AsyncIterator[Packet], receiver: UdpReceiver) -> list[bytes]:
    await sender.open()
    await sender.run(packets)
    await asyncio.sleep(0.1)  # the last datagrams reach the receiver thread
    return receiver.stop()


def assert_one_timestamp_per_frame(datagrams: list[bytes]) -> list[list[bytes]]:
    """Every run of packets with one timestamp is one frame: the marker on its last packet, on no other,
    and the sequence numbers without a gap."""
    runs = group_by_timestamp(datagrams)
    for run in runs:
        markers = [rtp_fields(d)[2] for d in run]
        assert markers == [False] * (len(run) - 1) + [True], markers
    seqs = [rtp_fields(d)[0] for d in datagrams]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    return runs


# --- the sound in the PS -------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["pcma", "pcmu", "aac"])
async def test_sound_rides_in_the_ps_and_both_readers_find_both_streams(clips: dict[str, Frames], codec: str) -> None:
    video = clips["h264"][:100]  # 4 s, keyframes at 0 and 50
    sound = encode_tone(codec)
    receiver = UdpReceiver()
    sender = MediaSender(udp_target(receiver.port), "h264", audio=sound.info)
    assert sender.audio == codec
    datagrams = await send(sender, interleaved(video, sound), receiver)
    stats = sender.stats

    # The RTP layer: one frame per picture (the sound rides in the pictures' packs), one timestamp each,
    # the marker on its last packet, timestamps that only go forward.
    runs = assert_one_timestamp_per_frame(datagrams)
    assert len(runs) == stats.frames_sent == 100
    stamps = [rtp_fields(run[0])[1] for run in runs]
    assert stamps == [n * FRAME_TICKS for n in range(100)]
    reader = RtpPsReader(ssrc=SSRC, payload_type=96)
    frames = [f for d in datagrams for f in reader.feed_rtp(d)] + reader.finish()
    assert reader.report.ok, reader.report.errors

    # Our PS reader: both streams in the map, every sound frame with its PTS on the video's clock.
    demuxer = PsDemuxer()
    units = [u for f in frames for u in demuxer.feed(f.data, end_of_frame=True)] + demuxer.flush()
    assert demuxer.report.ok, demuxer.report.errors
    assert demuxer.report.stream_types == {VIDEO_STREAM_ID: STREAM_TYPE_H264, AUDIO_STREAM_ID: STREAM_TYPES[codec]}
    audio = [u for u in units if u.stream_id == AUDIO_STREAM_ID]
    assert len([u for u in units if u.stream_id == VIDEO_STREAM_ID]) == 100
    rate = sound.info.sample_rate
    # All of it from the first picture on (the last picture takes what came after it along); before it
    # (the AAC encoder's priming frame) nothing.
    expected = [(p * 90000 // rate, d) for p, d in sound.frames if 0 <= p * 90000 // rate < 100 * FRAME_TICKS]
    early = len([p for p, _ in sound.frames if p < 0])
    assert stats.audio_frames_sent == len(audio) == len(expected) and stats.audio_frames_dropped == early
    assert [u.pts for u in audio] == [p for p, _ in expected]
    if codec == "aac":  # behind an ADTS header made from the camera's AudioSpecificConfig
        assert all(is_adts(u.data) and u.data[7:] == d for u, (_, d) in zip(audio, expected, strict=False))
    else:
        assert [u.data for u in audio] == [d for _, d in expected]
    # The system header announces the audio stream (audio_bound 1, a 0xC0 entry).
    first = frames[0].data
    header = first[first.index(b"\x00\x00\x01\xbb") :]
    assert header[9] >> 2 == 1 and header[15] == AUDIO_STREAM_ID

    # FFmpeg: a video and an audio stream; the sound decodes to as many samples as were sent.
    found = ps_streams(b"".join(f.data for f in frames), audio=codec)
    assert found["video"].codec == "h264" and (found["video"].width, found["video"].height) == (1280, 720)
    assert found["audio"].stream_id == 0x1C0 and len(found["audio"].packets) == len(audio)
    if codec == "aac":
        assert found["audio"].codec == "aac"  # FFmpeg knows 0x0F itself
    assert found["audio"].sample_rate == rate
    assert found["audio"].audio_samples >= (len(audio) - 1) * sound.samples_per_frame


async def test_a_camera_without_sound_sends_exactly_what_it_did(clips: dict[str, Frames]) -> None:
    """No sound track: the same bytes as a muxer that never heard of audio."""
    video = clips["h264"][:30]
    receiver = UdpReceiver()
    sender = MediaSender(udp_target(receiver.port), "h264", audio=None)
    datagrams = await send(sender, interleaved(video, None), receiver)
    plain = PsMuxer("h264")
    payloads = b"".join(d[12:] for d in datagrams)
    assert payloads == b"".join(plain.mux(data, n * FRAME_TICKS, key) for n, (data, key) in enumerate(video))
    assert b"\x00\x00\x01\xc0" not in payloads


async def test_sound_without_pictures_goes_alone_and_rtp_time_never_goes_back(clips: dict[str, Frames]) -> None:
    """A 0.4 fps video: the sound waits AUDIO_HOLD at most, then goes in packs of its own, as RTP frames
    whose timestamps fall between the pictures'."""
    video = clips["h264"][:4]
    sound = encode_tone("pcma", seconds=10)
    receiver = UdpReceiver()
    sender = MediaSender(udp_target(receiver.port), "h264", audio=sound.info)
    datagrams = await send(sender, interleaved(video, sound, fps=0.4), receiver)
    runs = assert_one_timestamp_per_frame(datagrams)
    stamps = [rtp_fields(run[0])[1] for run in runs]
    assert all(b > a for a, b in itertools.pairwise(stamps)), stamps
    alone = [run for run in runs if b"\x00\x00\x01\xe0" not in b"".join(d[12:] for d in run)]
    assert len(alone) >= 3 and sender.stats.frames_sent == 4
    demuxer = PsDemuxer()
    units = [u for run in runs for u in demuxer.feed(b"".join(d[12:] for d in run), end_of_frame=True)]
    assert demuxer.report.ok, demuxer.report.errors
    audio = [u.pts or 0 for u in units if u.stream_id == AUDIO_STREAM_ID]
    assert audio == sorted(audio) and len(audio) == sender.stats.audio_frames_sent
    # Each pack of sound alone spans less than the hold.
    for run in alone:
        pack = [u.pts or 0 for u in PsDemuxer().feed(b"".join(d[12:] for d in run), end_of_frame=True)]
        assert pack and max(pack) - min(pack) <= AUDIO_HOLD


def test_sound_follows_the_videos_clock_and_is_dropped_off_it() -> None:
    clock = Clock()
    tb8 = Fraction(1, 8000)
    assert clock.stamp_audio(0, tb8) is None  # no video yet: no timeline
    clock.stamp(1000, 1000, Fraction(1, 25))  # the video at 40 s
    assert clock.stamp_audio(320_160, tb8) == 40 * 90000 + 1800  # 40.02 s
    assert clock.stamp_audio(None, tb8) is None
    assert clock.stamp_audio(0, tb8) is None  # 40 s off: a restarted source, before its video came back
    clock.stamp(0, 0, Fraction(1, 25))  # the restarted video continues the timeline one frame later
    assert clock.restarts == 1
    assert clock.stamp_audio(80, tb8) == 40 * 90000 + 3600 + 900


def test_aac_configuration_and_adts() -> None:
    config = AacConfig.parse(b"\x14\x08")  # AAC LC, 16 kHz, mono (the simulated camera's)
    assert (config.object_type, config.sample_rate, config.channels) == (2, 16000, 1)
    header = config.adts_header(100)
    assert is_adts(header + bytes(100)) and len(header) == 7
    assert ((header[3] & 0x03) << 11 | header[4] << 3 | header[5] >> 5) == 107  # aac_frame_length
    for bad in (b"", b"\xf8\x00", b"\x17\x88"):  # too short, escape object type, explicit frequency
        with pytest.raises(AacConfigError):
            AacConfig.parse(bad)
    # A camera whose AAC cannot be described by ADTS: video only, rather than no session.
    sender = MediaSender(udp_target(9), "h264", audio=AudioInfo("aac", 16000, 1, Fraction(1, 16000), b"\xf8\x00"))
    assert sender.audio is None
    sender.close()


# --- one RTP timestamp per frame --------------------------------------------------------------------


async def test_ps_one_rtp_timestamp_per_picture_even_when_the_camera_slices_it(clips: dict[str, Frames]) -> None:
    video = clips["h264"][:40]
    receiver = UdpReceiver()
    sender = MediaSender(udp_target(receiver.port), "h264")
    datagrams = await send(sender, interleaved(video, None, slices=True), receiver)
    runs = assert_one_timestamp_per_frame(datagrams)
    assert len(runs) == 40 and [rtp_fields(r[0])[1] for r in runs] == [n * FRAME_TICKS for n in range(40)]
    assert len(datagrams) > 40 * 2  # the keyframes alone span many packets


# --- elementary streams ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("codec", "encoding", "pt"), [("h264", "H264", 98), ("h265", "H265", 99)])
async def test_an_elementary_stream_round_trips_through_ffmpeg_and_our_depacketizer(
    clips: dict[str, Frames], codec: str, encoding: str, pt: int
) -> None:
    video = clips[codec][:60]
    receiver = UdpReceiver()
    target = udp_target(receiver.port, payload_type=pt, encoding=encoding)
    sender = MediaSender(target, codec, audio=AudioInfo("pcma", 8000, 1, Fraction(1, 8000), None))  # type: ignore[arg-type]
    assert sender.audio is None  # an elementary stream carries the video alone
    datagrams = await send(sender, interleaved(video, encode_tone("pcma", 2.4), codec=codec), receiver)

    runs = assert_one_timestamp_per_frame(datagrams)
    assert len(runs) == 60 and [rtp_fields(r[0])[1] for r in runs] == [n * FRAME_TICKS for n in range(60)]
    assert {rtp_fields(d)[3] for d in datagrams} == {pt}
    assert max(len(d) for d in datagrams) <= 12 + 1400
    fragment = 28 if codec == "h264" else 49
    first_types = {(d[12] & 0x1F) if codec == "h264" else (d[12] >> 1) & 0x3F for d in datagrams}
    assert fragment in first_types  # large NAL units went as FU-A / FU

    expected = [nal_units(data) for data, _ in video]
    # Our own depacketizer (the replay reader's).
    depacketizer = Depacketizer(codec)  # type: ignore[arg-type]
    units = [u for d in datagrams for u in depacketizer.push(parse_rtp(d))] + depacketizer.flush()
    assert depacketizer.lost == 0 and [u.nal_units for u in units] == expected
    assert [u.keyframe for u in units] == [key for _, key in video]
    # FFmpeg's, over UDP as a platform receives it.
    assert [nal_units(f) for f in ffmpeg_rtp_frames(datagrams, encoding, pt)] == expected
    if codec == "h264":  # and aiortc's
        assert [nal_units(f) for f in aiortc_h264_frames(datagrams)] == expected


async def test_an_elementary_stream_gets_parameter_sets_before_each_idr_and_its_pts(clips: dict[str, Frames]) -> None:
    """A camera that sends its SPS/PPS only in the SDP; B-frame-like pts out of decode order."""
    video = clips["h264"][:51]
    params = b"".join(b"\x00\x00\x00\x01" + n for n in nal_units(video[0][0]) if n[0] & 0x1F in (7, 8))
    stripped = [
        (b"".join(b"\x00\x00\x00\x01" + n for n in nal_units(d) if n[0] & 0x1F not in (7, 8)), k) for d, k in video
    ]
    receiver = UdpReceiver()
    sender = MediaSender(udp_target(receiver.port, payload_type=98, encoding="H264"), "h264", parameter_sets=params)

    def presented(n: int) -> int:
        """Pictures 1 and 2, 3 and 4... shown in the other order than decoded, as with B-frames."""
        return FRAME_TICKS * (n if n == 0 else n + 1 if n % 2 else n - 1)

    await sender.open()

    async def packets() -> AsyncIterator[Packet]:
        for n, (data, key) in enumerate(stripped):
            yield Packet("cam", "h264", presented(n), n * FRAME_TICKS, Fraction(1, 90000), key, data, 0.0)

    await sender.run(packets())
    await asyncio.sleep(0.1)
    runs = assert_one_timestamp_per_frame(receiver.stop())
    assert [rtp_fields(r[0])[1] for r in runs] == [presented(n) for n in range(51)]
    depacketizer = Depacketizer("h264")
    units = [u for run in runs for d in run for u in depacketizer.push(parse_rtp(d))] + depacketizer.flush()
    keyframes = [u for u in units if u.keyframe]
    assert len(keyframes) == 2 and all({7, 8, 5} <= {n[0] & 0x1F for n in u.nal_units} for u in keyframes)
    assert not any(n[0] & 0x1F == 7 for u in units if not u.keyframe for n in u.nal_units)


async def test_an_elementary_stream_over_tcp(clips: dict[str, Frames]) -> None:
    video = clips["h265"][:30]
    received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def platform(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.set_result(await reader.read(-1))
        writer.close()

    server = await asyncio.start_server(platform, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    target = MediaTarget(
        transport="tcp",
        setup="active",
        remote_ip="127.0.0.1",
        remote_port=port,
        ssrc=SSRC,
        payload_type=99,
        encoding="H265",
    )
    sender = MediaSender(target, "h265")
    await sender.open()
    stats = await sender.run(interleaved(video, None, codec="h265"))
    data = await asyncio.wait_for(received, 5)
    server.close()
    datagrams, pos = [], 0
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 2], "big")
        datagrams.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    assert stats.bytes_sent == len(data) and stats.packets_sent == len(datagrams)
    runs = assert_one_timestamp_per_frame(datagrams)
    assert len(runs) == 30
    depacketizer = Depacketizer("h265")
    units = [u for d in datagrams for u in depacketizer.push(parse_rtp(d))] + depacketizer.flush()
    assert [u.nal_units for u in units] == [nal_units(d) for d, _ in video]


def test_fragmentation_units_cut_at_the_mtu() -> None:
    nal = b"\x65" + bytes(range(256)) * 20  # an IDR slice of 5121 bytes
    payloads = nal_payloads("h264", b"\x00\x00\x00\x01\x67\x42\x00\x1f" + b"\x00\x00\x01" + nal, 1000)
    assert bytes(payloads[0]) == b"\x67\x42\x00\x1f"  # the SPS: a single NAL unit packet
    fragments = [bytes(p) for p in payloads[1:]]
    assert all(len(p) <= 1000 for p in fragments) and len(fragments) == 6
    assert [f[0] for f in fragments] == [0x60 | 28] * 6  # NRI of the IDR, type FU-A
    assert [f[1] & 0xC0 for f in fragments] == [0x80, 0, 0, 0, 0, 0x40] and {f[1] & 0x1F for f in fragments} == {5}
    assert b"".join(f[2:] for f in fragments) == nal[1:]
    hevc = b"\x26\x01" + bytes(range(1, 251)) * 12  # an IDR_W_RADL NAL unit
    fus = [bytes(p) for p in nal_payloads("h265", b"\x00\x00\x01" + hevc, 1000)]
    assert [(f[0] >> 1) & 0x3F for f in fus] == [49] * 4 and {f[2] & 0x3F for f in fus} == {19}
    assert b"".join(f[3:] for f in fus) == hevc[2:]


# --- SDP: which payload --------------------------------------------------------------------------------


def _offer(*rtpmaps: str) -> str:
    pts = " ".join(m.split()[0] for m in rtpmaps)
    lines = ["v=0", "o=34020000002000000001 0 0 IN IP4 10.0.0.5", "s=Play", "c=IN IP4 10.0.0.5", "t=0 0"]
    lines += [f"m=video 30000 RTP/AVP {pts}", "a=recvonly", *(f"a=rtpmap:{m}" for m in rtpmaps), "y=0100000001"]
    return "\r\n".join(lines) + "\r\n"


def test_an_offer_without_ps_gets_the_elementary_stream_of_the_cameras_codec() -> None:
    both = parse_offer(_offer("96 PS/90000", "98 H264/90000", "99 H265/90000"))
    assert choose_payload(both, "h265").encoding == "PS"  # PS stays preferred
    es = parse_offer(_offer("98 H264/90000", "100 H265/90000"))
    assert es.ps_payload is None and dict(es.es_payloads) == {"h264": 98, "h265": 100}
    h265 = choose_payload(es, "h265")
    assert (h265.pt, h265.encoding) == (100, "H265")
    answer = build_answer(
        es, device_id="34020000001320000001", local_ip="10.0.0.9", local_port=6000, ssrc="0100000001", payload=h265
    )
    assert "m=video 6000 RTP/AVP 100\r\n" in answer and "a=rtpmap:100 H265/90000\r\n" in answer
    h264 = build_answer(es, device_id="34020000001320000001", local_ip="10.0.0.9", local_port=6000, ssrc="0100000001")
    assert "a=rtpmap:98 H264/90000\r\na=fmtp:98 packetization-mode=1\r\n" in h264
    only_h264 = parse_offer(_offer("98 H264/90000"))
    with pytest.raises(SdpError) as refused:
        choose_payload(only_h264, "h265")
    assert refused.value.status == 488
    with pytest.raises(SdpError):
        parse_offer(_offer("97 MPEG4/90000", "98 H264/8000"))  # nothing we send (a wrong clock is not H264/90000)
    target = MediaTarget.from_offer(es, payload=h265)
    assert (target.payload_type, target.encoding) == (100, "H265")
    with pytest.raises(ValueError, match="cannot send h264 as H265"):
        MediaSender(target, "h264")


# --- the bus hands sound to those who ask ---------------------------------------------------------------


async def test_the_bus_gives_sound_only_to_subscribers_that_take_it() -> None:
    bus = PacketBus("cam")
    video_only, with_sound = bus.subscribe("viewer", 16), bus.subscribe("gb", 16, audio=True)
    assert bus.wants_audio
    bus.publish(Packet("cam", "h264", 0, 0, Fraction(1, 90000), True, b"v", 0.0))
    bus.publish(Packet("cam", "pcma", 0, 0, Fraction(1, 8000), True, b"a", 0.0))
    assert video_only.pending() == 1 and with_sound.pending() == 2
    assert (await with_sound.get()).data == b"v" and (await with_sound.get()).is_audio
    with_sound.close()
    assert not bus.wants_audio


class SoundSource:
    """A camera with a microphone: video and sound packets, then the end."""

    def open(self) -> StreamInfo:
        return StreamInfo(
            "h264", 64, 64, None, 25.0, Fraction(1, 90000), None, AudioInfo("pcma", 8000, 1, Fraction(1, 8000), None)
        )

    def packets(self) -> AsyncIterator[Packet] | list[Packet]:
        out = []
        for n in range(20):
            out.append(
                Packet("cam", "h264", n * 3600, n * 3600, Fraction(1, 90000), n == 0, b"\x00\x00\x01\x65", n * 0.04)
            )
            out.append(Packet("cam", "pcma", n * 320, n * 320, Fraction(1, 8000), True, bytes(320), n * 0.04))
        return out

    def close(self) -> None:
        pass


def test_the_health_reader_measures_the_video_alone_and_passes_sound_on_only_when_asked() -> None:
    snapshots: list[MeasuredStream] = []
    settings = SupervisorConfig()
    for wanted in (False, True):
        bus = PacketBus("cam")
        taken: list[Packet] = []
        sub = bus.subscribe_blocking("gb", 100, audio=wanted)
        with pytest.raises(Exception, match="ended"):
            read_session(SoundSource(), settings, threading.Event(), lambda m, _at: snapshots.append(m), bus)  # type: ignore[arg-type]
        while (packet := sub.get(0)) is not None:
            taken.append(packet)
        assert len([p for p in taken if not p.is_audio]) == 20
        assert len([p for p in taken if p.is_audio]) == (20 if wanted else 0)
    assert snapshots and all(s.packets <= 20 for s in snapshots)  # the sound is not counted as video


# --- the simulated camera's microphone -----------------------------------------------------------------


def test_the_simulated_camera_takes_an_audio_track(tmp_path: Path) -> None:
    from sim import rtsp_server
    from sim.server import RtspServerProcess

    clip = tmp_path / "v.h264"
    clip.write_bytes(b"\x00\x00\x00\x01\x65")
    spec_file = tmp_path / "spec.json"
    entry = {"path": "/cam", "file": str(clip), "codec": "h264"}
    spec_file.write_text(json.dumps({"port": 8554, "mounts": [{**entry, "audio": "pcma"}, {**entry, "path": "/n"}]}))
    spec = rtsp_server.load_spec(str(spec_file), {})
    assert [m.audio for m in spec.mounts] == ["pcma", None]
    spec_file.write_text(json.dumps({"port": 8554, "mounts": [{**entry, "audio": "g726"}]}))
    with pytest.raises(rtsp_server.SpecError, match="audio must be one of"):
        rtsp_server.load_spec(str(spec_file), {})
    assert "alawenc ! rtppcmapay name=pay1 pt=8" in rtsp_server.audio_branch("pcma")
    assert "mulawenc ! rtppcmupay name=pay1 pt=0" in rtsp_server.audio_branch("pcmu")
    assert "voaacenc ! rtpmp4gpay name=pay1" in rtsp_server.audio_branch("aac")
    with pytest.raises(ValueError, match="names paths that are not mounts"):
        RtspServerProcess([], ptz=[], audio={"/cam": "pcma"}, replays=[("/r", tmp_path)])


class _FakePacket:
    def __init__(self, index: int, pts: int) -> None:
        self.stream_index, self.pts, self.dts, self.size, self.is_keyframe = index, pts, pts, 4, True

    def __bytes__(self) -> bytes:
        return b"\x00\x00\x01\x65"


class _FakeContainer:
    """A camera whose video stops after one frame while its sound goes on."""

    def demux(self, *streams: object) -> Iterator[_FakePacket]:
        yield _FakePacket(0, 0)
        for n in range(1000):
            time.sleep(0.01)
            yield _FakePacket(1, n * 80)


def test_a_video_that_stops_while_the_sound_goes_on_is_a_stall() -> None:
    from adapters.rtsp import Reason, RtspSource, SourceError

    source = RtspSource("cam", "rtsp://127.0.0.1/x", read_timeout_s=0.2, audio=True)
    source._container, source._stream = _FakeContainer(), object()
    source._audio = type("Stream", (), {"index": 1})()
    sound = AudioInfo("pcma", 8000, 1, Fraction(1, 8000), None)
    source.info = StreamInfo("h264", 64, 64, None, 25.0, Fraction(1, 90000), None, sound)
    got: list[Packet] = []
    with pytest.raises(SourceError) as stalled:
        for packet in source.packets():
            got.append(packet)
    assert stalled.value.reason is Reason.STALLED and "no video" in stalled.value.detail
    assert got[0].codec == "h264" and 3 <= len([p for p in got if p.codec == "pcma"]) <= 30


def test_only_a_main_stream_reads_sound_and_a_camera_can_say_no() -> None:
    from gateway.config import parse_config
    from gateway.streams.sources import camera_source
    from tests.support.configs import GB_SITE

    config = parse_config(GB_SITE, check_secrets=False)
    camera = config.cameras[0]
    assert camera.source.audio is True  # the default: the platforms get the camera's sound
    assert camera_source(camera, config.supervisor).audio_wanted
    quiet = camera.model_copy(update={"source": camera.source.model_copy(update={"audio": False})})
    assert not camera_source(quiet, config.supervisor).audio_wanted
