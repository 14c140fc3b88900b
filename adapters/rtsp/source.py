"""Blocking RTSP reader on PyAV. Call it from a worker thread; it never decodes.

With ``audio=True`` it also sets up the camera's sound track, when the camera announces one in a codec
GB/T 28181 carries (G.711 A-law or mu-law, AAC), and yields its frames among the video packets in the
order they arrive (`Packet.is_audio`). A stalled video is still a stall while the sound goes on.

FFmpeg's error texts quote the URL it was given, credentials included, so every message that
leaves this module is redacted.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av
import av.error

from adapters.common.media import AudioInfo, Packet, StreamInfo
from adapters.common.redact import mask_text
from adapters.rtsp.errors import Reason, SourceError

SUPPORTED_CODECS = {"h264": "h264", "hevc": "h265"}
# FFmpeg's decoder names of the sound codecs read (raw AAC: the RTSP depacketizer strips RFC 3640's
# AU headers; LATM, MP4A-LATM, is another codec and not read).
AUDIO_CODECS = {"pcm_alaw": "pcma", "pcm_mulaw": "pcmu", "aac": "aac"}


def classify(exc: BaseException, secrets: tuple[str, ...] = ()) -> SourceError:
    """Map a PyAV/FFmpeg exception onto a Reason with a redacted message."""
    detail = mask_text(str(exc), secrets)
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return SourceError(Reason.AUTH_FAILED, detail)
    if isinstance(exc, av.error.HTTPNotFoundError):
        return SourceError(Reason.NOT_FOUND, detail)
    if isinstance(exc, ConnectionRefusedError):
        return SourceError(Reason.REFUSED, detail)
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError | av.error.EOFError):
        return SourceError(Reason.ENDED, detail)
    if isinstance(exc, TimeoutError | av.error.ExitError):
        return SourceError(Reason.TIMEOUT, detail)
    if isinstance(exc, av.error.InvalidDataError | av.error.HTTPError):
        return SourceError(Reason.PROTOCOL, detail)
    code = getattr(exc, "errno", None)
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EIO, errno.ENOENT):
        # FFmpeg reports a failed name lookup as EIO and an unreachable host as EHOSTUNREACH.
        return SourceError(Reason.UNREACHABLE, detail)
    if code == errno.ETIMEDOUT:
        return SourceError(Reason.TIMEOUT, detail)
    return SourceError(Reason.PROTOCOL, detail)


class RtspSource:
    """One RTSP session. `open()` connects and reads the SDP; `packets()` yields video packets.

    Not thread-safe: one worker thread owns an instance from open() to close().
    """

    def __init__(
        self,
        source_id: str,
        url: str,
        *,
        transport: str = "tcp",
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        secrets: tuple[str, ...] = (),
        audio: bool = False,
    ) -> None:
        self.source_id = source_id
        self._audio_wanted = audio
        self._url = url
        self._transport = transport
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._secrets = secrets
        self._container: Any = None
        self._stream: Any = None
        self._audio: Any = None
        self.info: StreamInfo | None = None

    @property
    def audio_wanted(self) -> bool:
        """Whether the sound track is set up at open (the caller asked; the camera may have none)."""
        return self._audio_wanted

    def open(self) -> StreamInfo:
        options = {
            "rtsp_transport": self._transport,
            # Socket I/O timeout in microseconds. FFmpeg's RTSP client gives up only after two of these
            # in a row (measured), so half the stall timeout makes a silent stream fail on time.
            "timeout": str(int(self._read_timeout_s * 1_000_000 / 2)),
            # Video only unless the sound is wanted: data tracks (ONVIF metadata) are never set up.
            "allowed_media_types": "video+audio" if self._audio_wanted else "video",
            # Take codec and size from the SDP's parameter sets instead of reading a second of video
            # first: opening drops from ~1.1 s to ~0.1 s. In-band SPS fill in what the SDP lacks.
            "analyzeduration": "0",
            "probesize": "32",
            # Do not hold packets back to reorder them: arrival times are measured.
            "max_delay": "0",
        }
        try:
            self._container = av.open(
                self._url,
                options=options,
                timeout=(self._connect_timeout_s, self._read_timeout_s),
            )
        except av.error.FFmpegError as exc:
            raise classify(exc, self._secrets) from None
        except OSError as exc:
            raise classify(exc, self._secrets) from None
        videos = list(self._container.streams.video)
        if not videos:
            self.close()
            raise SourceError(Reason.NO_VIDEO, "the stream announces no video track")
        stream = videos[0]
        codec = SUPPORTED_CODECS.get(stream.codec_context.name)
        if codec is None:
            self.close()
            raise SourceError(Reason.UNSUPPORTED_CODEC, f"codec {stream.codec_context.name} is not H.264/H.265")
        self._stream = stream
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        self.info = StreamInfo(
            codec=codec,
            width=ctx.width or None,
            height=ctx.height or None,
            profile=ctx.profile if isinstance(ctx.profile, str) else None,
            nominal_fps=float(rate) if rate else None,
            time_base=Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000),
            extradata=bytes(ctx.extradata) if ctx.extradata else None,
            audio=self._open_audio(),
        )
        return self.info

    def _open_audio(self) -> AudioInfo | None:
        """The first sound track in a codec we carry; any other is left unread."""
        for stream in self._container.streams.audio if self._audio_wanted else ():
            ctx = stream.codec_context
            codec = AUDIO_CODECS.get(ctx.name)
            if codec is None or not ctx.sample_rate:
                continue
            self._audio = stream
            return AudioInfo(
                codec=codec,
                sample_rate=int(ctx.sample_rate),
                channels=int(ctx.layout.nb_channels or 1),
                time_base=Fraction(stream.time_base) if stream.time_base else Fraction(1, int(ctx.sample_rate)),
                extradata=bytes(ctx.extradata) if ctx.extradata else None,
            )
        return None

    def packets(self) -> Iterator[Packet]:
        """Yield packets until the stream ends or fails; failures raise SourceError."""
        if self._container is None or self.info is None:
            raise SourceError(Reason.PROTOCOL, "packets() called before open()")
        codec, time_base, source_id = self.info.codec, self.info.time_base, self.source_id
        audio, sound = self._audio, self.info.audio
        streams = (self._stream,) if audio is None else (self._stream, audio)
        audio_index = -1 if audio is None else audio.index
        # With a sound track the socket never goes quiet when the video stops, so the stall is timed here.
        last_video = time.monotonic()
        try:
            for pkt in self._container.demux(*streams):
                if pkt.size == 0:  # the flush packet PyAV yields at end of stream
                    break
                if pkt.stream_index == audio_index:
                    assert sound is not None
                    now = time.monotonic()
                    if now - last_video > self._read_timeout_s:
                        raise SourceError(Reason.STALLED, f"no video for {self._read_timeout_s:g} s")
                    yield Packet(source_id, sound.codec, pkt.pts, pkt.dts, sound.time_base, True, bytes(pkt), now)
                    continue
                last_video = time.monotonic()
                yield Packet(
                    source_id=source_id,
                    codec=codec,
                    pts=pkt.pts,
                    dts=pkt.dts,
                    time_base=time_base,
                    keyframe=bool(pkt.is_keyframe),
                    data=bytes(pkt),
                    arrival=last_video,
                )
        except (av.error.FFmpegError, OSError) as exc:
            error = classify(exc, self._secrets)
            if error.reason is Reason.TIMEOUT:
                error = SourceError(Reason.STALLED, f"no data for {self._read_timeout_s:g} s")
            raise error from None
        raise SourceError(Reason.ENDED, "the server ended the stream")

    def close(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            # Closing a dead connection may fail; there is nothing left to release then.
            with contextlib.suppress(av.error.FFmpegError, OSError):
                container.close()
