"""Independent readers of what the gateway sends a GB/T 28181 platform: FFmpeg (through PyAV) reading our
PS, FFmpeg and aiortc depacketizing our elementary-stream RTP. The product's own readers (psdemux, the
replay depacketizer) are checked against these, so a mistake shared by our muxer and our demuxer shows.

FFmpeg's PS demuxer knows stream types by ISO/IEC 13818-1 only (and G.711 under Hikvision's "IMKH"
header): it reads our AAC as AAC, but takes a G.711 stream (0x90/0x91, GB/T 28181 annex C) for MPEG
audio. For G.711 `ps_streams` therefore hands the audio packets FFmpeg demuxed to FFmpeg's G.711
decoder, which is what a platform that knows the GB stream types does.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from adapters.common.h26x import iter_nal_units

# Our sound codec names -> FFmpeg's decoders.
AUDIO_DECODERS = {"pcma": "pcm_alaw", "pcmu": "pcm_mulaw", "aac": "aac"}


@dataclass
class PsStream:
    """One elementary stream FFmpeg found in a PS: its id (0x1E0, 0x1C0), what it took it for, its packets."""

    stream_id: int
    kind: str  # "video" | "audio"
    codec: str  # FFmpeg's codec name as probed
    packets: list[tuple[int | None, bytes]] = field(default_factory=list)  # (pts at 90 kHz, data)
    width: int | None = None
    height: int | None = None
    audio_samples: int = 0  # samples decoded (audio only)
    audio_frames: int = 0  # frames decoded (audio only)
    sample_rate: int | None = None


def ps_streams(ps: bytes, audio: str | None = None) -> dict[str, PsStream]:
    """FFmpeg's view of a PS byte stream, by kind. With `audio` (our codec name), the audio packets are
    decoded by FFmpeg's decoder of that codec, and the samples counted (see the module doc)."""
    import av
    from av.audio.codeccontext import AudioCodecContext
    from av.video.codeccontext import VideoCodecContext

    streams: dict[str, PsStream] = {}
    # FFmpeg's MPEG audio parser would join G.711 frames it takes for MP2 into packets of its own making:
    # the demuxer's packets are the PES payloads only without parsers.
    options = {"fflags": "+noparse+nofillin"} if audio in ("pcma", "pcmu") else {}
    with av.open(io.BytesIO(ps), "r", format="mpeg", options=options) as container:
        by_index: dict[int, PsStream] = {}
        for st in container.streams:
            found = PsStream(int(st.id), st.type, st.codec_context.name)
            if isinstance(st.codec_context, VideoCodecContext):
                found.width, found.height = st.codec_context.width, st.codec_context.height
            by_index[st.index] = streams[st.type] = found
        for packet in container.demux():
            if packet.size == 0 or packet.stream.index not in by_index:
                continue
            pts = None if packet.pts is None else int(packet.pts * packet.time_base * 90000)
            by_index[packet.stream.index].packets.append((pts, bytes(packet)))
    sound = streams.get("audio")
    if audio is not None and sound is not None:
        decoder = cast(AudioCodecContext, av.CodecContext.create(AUDIO_DECODERS[audio], "r"))
        if audio != "aac":
            decoder.sample_rate = 8000
            decoder.layout = "mono"
        for _, data in sound.packets:
            for frame in decoder.decode(av.Packet(data)):
                sound.audio_frames += 1
                sound.audio_samples += frame.samples
                sound.sample_rate = frame.sample_rate
    return streams


def nal_units(access_unit: bytes) -> list[bytes]:
    """An Annex-B access unit's NAL units, start codes (3 or 4 bytes) aside."""
    return [bytes(n) for n in iter_nal_units(access_unit)]


def aiortc_h264_frames(datagrams: Sequence[bytes]) -> list[bytes]:
    """aiortc's RFC 6184 depayloader over our RTP packets: one Annex-B access unit per RTP timestamp."""
    from aiortc.codecs.h264 import H264PayloadDescriptor

    frames: list[bytes] = []
    current: list[bytes] = []
    stamp: int | None = None
    for datagram in datagrams:
        ts = int.from_bytes(datagram[4:8], "big")
        if stamp is not None and ts != stamp and current:
            frames.append(b"".join(current))
            current = []
        stamp = ts
        _, data = H264PayloadDescriptor.parse(datagram[12:])
        current.append(data)
    if current:
        frames.append(b"".join(current))
    return frames


def ffmpeg_rtp_frames(datagrams: Sequence[bytes], encoding: str, payload_type: int) -> list[bytes]:
    """FFmpeg's RFC 6184 / RFC 7798 depacketizer over our RTP packets, sent to it over UDP on 127.0.0.1
    as a platform would receive them (an SDP file names the port, payload type and encoding): the
    access units it demuxes, in order."""
    import av

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1] & ~1  # RTP on an even port, RTCP on the next
    fmtp = f"a=fmtp:{payload_type} packetization-mode=1\r\n" if encoding == "H264" else ""
    sdp = (
        f"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=gb\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=video {port} RTP/AVP {payload_type}\r\na=rtpmap:{payload_type} {encoding}/90000\r\n{fmtp}"
    )
    fd, path = tempfile.mkstemp(suffix=".sdp")
    with os.fdopen(fd, "w") as handle:
        handle.write(sdp)
    frames: list[bytes] = []
    failure: list[BaseException] = []
    opened = threading.Event()

    def receive() -> None:
        try:
            options = {"protocol_whitelist": "file,udp,rtp", "buffer_size": str(8 << 20), "reorder_queue_size": "0"}
            # The read timeout ends the demuxing once our packets are all in.
            with av.open(path, format="sdp", options=options, timeout=(10.0, 1.5)) as container:
                opened.set()
                for packet in container.demux(video=0):
                    if packet.size:
                        frames.append(bytes(packet))
        except av.error.ExitError:
            pass  # the read timeout: nothing more comes
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            failure.append(exc)
        finally:
            opened.set()

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            deadline = time.monotonic() + 10
            while not _bound(port) and time.monotonic() < deadline:
                time.sleep(0.01)
            for i, datagram in enumerate(datagrams):
                sender.sendto(datagram, ("127.0.0.1", port))
                if i % 20 == 19:
                    time.sleep(0.001)  # no burst larger than the socket buffer
        thread.join(30)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    if failure:
        raise failure[0]
    return frames


def _bound(port: int) -> bool:
    """Whether FFmpeg has bound its RTP port yet (our own bind fails once it has)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def rtp_fields(datagram: bytes) -> tuple[int, int, bool, int]:
    """(sequence number, timestamp, marker, payload type) read straight off the header."""
    return (
        int.from_bytes(datagram[2:4], "big"),
        int.from_bytes(datagram[4:8], "big"),
        bool(datagram[1] & 0x80),
        datagram[1] & 0x7F,
    )


def group_by_timestamp(datagrams: Sequence[bytes]) -> list[list[bytes]]:
    """RTP packets in runs of one timestamp, in order."""
    runs: list[list[bytes]] = []
    for datagram in datagrams:
        ts = rtp_fields(datagram)[1]
        if runs and rtp_fields(runs[-1][0])[1] == ts:
            runs[-1].append(datagram)
        else:
            runs.append([datagram])
    return runs
