"""The only place a camera source is made: a camera's RTSP URL (main or sub stream), its credentials,
and the secrets to keep out of errors. ONVIF cameras are resolved to RTSP before (the inventory).
The command-line tools that read a URL given by hand (`gateway probe`, `gateway detect`) make theirs
here too (:func:`url_source`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import unquote, urlsplit

from adapters.common.media import Packet, StreamInfo
from adapters.rtsp import Reason, RtspSource, SourceError
from adapters.rtsp.live import LightRtspSource
from gateway.config import CameraConfig, SupervisorConfig

StreamName = Literal["main", "sub"]


class Source(Protocol):
    def open(self) -> StreamInfo: ...
    def packets(self) -> Iterator[Packet]: ...
    def close(self) -> None: ...


SourceFactory = Callable[[CameraConfig, SupervisorConfig], Source]


def camera_source(camera: CameraConfig, settings: SupervisorConfig, stream: StreamName = "main") -> Source:
    """An RTSP source for the camera's main or sub stream; the camera must have rtsp:// URLs by now.

    A main stream's source reads the camera's sound track too, when there is one (unless the camera's
    `source.audio` is false): the session is the camera's only one, and a GB/T 28181 platform (which
    views main streams) gets the sound inside its PS stream. The buses hand audio only to the consumers
    that ask for it (`PacketBus.subscribe(audio=True)`); health, pictures, analytics, live view in the
    browser and recordings see the video alone."""
    url = camera.source.sub_rtsp if stream == "sub" else camera.source.rtsp
    if url is None:
        what = "sub stream (source.sub_rtsp or onvif.sub_profile)" if stream == "sub" else "rtsp URL"
        raise SourceError(Reason.UNSUPPORTED_SOURCE, f"camera {camera.id!r} has no {what}")
    secrets: tuple[str, ...] = ()
    if camera.credentials and camera.credentials.password:
        secrets = (camera.credentials.password.resolve(),)
    return RtspSource(
        camera.id if stream == "main" else f"{camera.id}#sub",
        camera.secret_url(sub=stream == "sub"),
        transport=camera.source.transport,
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.stall_timeout_s,
        secrets=secrets,
        audio=stream == "main" and camera.source.audio,
    )


def rtsp_source_factory(camera: CameraConfig, settings: SupervisorConfig) -> Source:
    """The main stream's source (the readers' and worker processes' factory)."""
    return camera_source(camera, settings, "main")


@dataclass(frozen=True)
class LightSources:
    """A source factory that reads a camera's main stream with the light reader (`adapters.rtsp.live`)
    where it can: RTP over TCP, and no platform takes the camera's sound (`with_sound`). The others get
    FFmpeg's reader, as from `rtsp_source_factory`. Picklable: worker processes are handed one."""

    with_sound: frozenset[str] = frozenset()

    def __call__(self, camera: CameraConfig, settings: SupervisorConfig) -> Source:
        if camera.source.transport != "tcp" or camera.id in self.with_sound or camera.source.rtsp is None:
            return camera_source(camera, settings, "main")
        return LightRtspSource(
            camera.id,
            camera.secret_url(),
            connect_timeout_s=settings.connect_timeout_s,
            read_timeout_s=settings.stall_timeout_s,
        )


def url_source(name: str, url: str, *, transport: str = "tcp", timeout_s: float = 5.0) -> RtspSource:
    """A source for an rtsp:// URL typed by a person; its password, if any, is kept out of errors."""
    password = urlsplit(url).password
    secrets = (unquote(password),) if password else ()
    return RtspSource(
        name, url, transport=transport, connect_timeout_s=timeout_s, read_timeout_s=timeout_s, secrets=secrets
    )
