"""Config of WebRTC live view (`live_view:` in the site config)."""

from __future__ import annotations

from typing import Final

from pydantic import Field, IPvAnyAddress, model_validator

from gateway.config.base import Model
from gateway.config.secrets import SecretRef
from gateway.i18n import _

# Two by default: on the 2-core edge box two threads cut the keyframe fan-out's tail to about 0.7x
# (their `sendto` and SRTP run without the GIL) at the same CPU; more convoy on the GIL (docs/webrtc.md).
SENDER_THREADS_PER_CAMERA: Final = 2


class IceServer(Model):
    """A STUN or TURN server on the police network; none by default (no public STUN, ever)."""

    urls: list[str] = Field(min_length=1, description="stun:HOST:PORT or turn:HOST:PORT?transport=udp|tcp")
    username: str | None = Field(default=None, description="TURN user name")
    credential: SecretRef | None = Field(default=None, description="TURN password (env or file)")

    @model_validator(mode="after")
    def _check(self) -> IceServer:
        for url in self.urls:
            if not url.startswith(("stun:", "turn:", "turns:")):
                raise ValueError(_("ICE server URL {url} must start with stun:, turn: or turns:").format(url=repr(url)))
        if any(u.startswith("turn") for u in self.urls) and (self.username is None or self.credential is None):
            raise ValueError(_("a TURN server needs a username and a credential"))
        return self


class LiveViewConfig(Model):
    enabled: bool = Field(default=True, description="Serve WebRTC live view and snapshots")
    max_viewers_per_camera: int = Field(default=10, ge=1, le=100, description="Viewers of one camera at once")
    max_viewers: int = Field(default=40, ge=1, le=1000, description="Viewers of all cameras at once")
    ice_servers: list[IceServer] = Field(
        default_factory=list, description="STUN/TURN servers given to aiortc; default none: host candidates only"
    )
    ice_addresses: list[IPvAnyAddress] = Field(
        default_factory=list,
        description="Local addresses offered as ICE host candidates (default: every interface but loopback)",
    )
    connect_timeout_s: float = Field(default=30.0, ge=5, le=300, description="A session whose ICE never connects ends")
    sender_threads_per_camera: int = Field(
        default=SENDER_THREADS_PER_CAMERA,
        ge=1,
        le=16,
        description="Sender threads one camera's live viewers are shared out on",
    )


class PtzConfig(Model):
    """`ptz:`: how the cameras' PTZ is shared by the people and platforms that control it."""

    idle_release_s: float = Field(
        default=30.0, ge=1, le=600, description="A controller keeps a camera until idle this long; others wait"
    )
    safety_stop_s: float = Field(
        default=5.0, ge=0.5, le=60, description="A move without a stop ends by itself after this long"
    )
