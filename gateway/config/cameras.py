"""The cameras (`cameras:`): their sources, credentials, the stream they are expected to send."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, model_validator

from adapters.common.redact import mask_url, with_credentials
from gateway.config.analytics import CameraAnalytics
from gateway.config.base import GbId, Model, Slug
from gateway.config.recordings import CameraRecordings
from gateway.config.secrets import SecretRef
from gateway.i18n import _

# GB/T 28181-2016 annex D type codes (digits 11-13) that may stand for a forwarded camera channel.
CAMERA_TYPE_CODES = frozenset({"131", "132"})


def _resolution(value: Any) -> Any:
    """Accept '1920x1080' as well as {width: 1920, height: 1080}."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", value)
        if not match:
            raise ValueError(_("resolution must look like '1920x1080'"))
        return {"width": int(match.group(1)), "height": int(match.group(2))}
    return value


class Resolution(Model):
    width: int = Field(gt=0, le=16384, description="Pixels per line")
    height: int = Field(gt=0, le=16384, description="Lines")

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"

    def at_least(self, other: Resolution) -> bool:
        # Compare pixel counts along both axes: a 1080x1920 portrait camera still counts as 1080p.
        return min(self.width, self.height) >= min(other.width, other.height) and max(self.width, self.height) >= max(
            other.width, other.height
        )


ResolutionField = Annotated[Resolution, BeforeValidator(_resolution)]


class OnvifSource(Model):
    host: str = Field(min_length=1)
    port: int = Field(default=80, ge=1, le=65535)
    profile: str | None = Field(
        default=None, description="Profile token of the main stream (default: the largest H.264/H.265 profile)"
    )
    sub_profile: str | None = Field(default=None, description="Profile token of a sub stream for analytics")


class SourceConfig(Model):
    rtsp: str | None = Field(default=None, description="RTSP URL without credentials")
    sub_rtsp: str | None = Field(
        default=None, description="RTSP URL of a smaller sub stream (analytics decode it instead of the main stream)"
    )
    onvif: OnvifSource | None = None
    transport: Literal["tcp", "udp"] = Field(default="tcp", description="RTP transport for RTSP")
    audio: bool = Field(
        default=True,
        description="Read the main stream's sound (G.711, AAC) for the GB/T 28181 platforms; false: video only",
    )

    @model_validator(mode="after")
    def _check(self) -> SourceConfig:
        if (self.rtsp is None) == (self.onvif is None):
            raise ValueError(_("give exactly one of 'rtsp' or 'onvif'"))
        for key, url in (("rtsp", self.rtsp), ("sub_rtsp", self.sub_rtsp)):
            if url is None:
                continue
            parts = urlsplit(url)
            if parts.scheme not in ("rtsp", "rtsps"):
                raise ValueError(_("'{key}' must be an rtsp:// or rtsps:// URL").format(key=key))
            if not parts.hostname:
                raise ValueError(_("'{key}' URL has no host").format(key=key))
            try:
                # Reading the port checks it (urllib raises on a bad one).
                parts.port  # noqa: B018
            except ValueError:
                bad_port = _("'{key}' URL has an invalid port (must be a number 0-65535)")
                raise ValueError(bad_port.format(key=key)) from None
            if parts.username is not None or parts.password is not None:
                raise ValueError(
                    _(
                        "credentials do not belong in the URL: set credentials.username and "
                        "credentials.password (env or file)"
                    )
                )
        return self


class CredentialsConfig(Model):
    username: str = Field(min_length=1)
    password: SecretRef | None = None


class ExpectedStream(Model):
    """What the camera is configured (or required) to send; measured values are kept beside it."""

    resolution: ResolutionField | None = None
    fps: float | None = Field(default=None, gt=0, le=240)
    codec: Literal["h264", "h265"] | None = None


class CameraConfig(Model):
    id: Slug
    name: str = Field(min_length=1)
    enabled: bool = True
    source: SourceConfig
    credentials: CredentialsConfig | None = None
    zones: list[Slug] = Field(default_factory=list, description="Ids of the zones this camera covers")
    expected: ExpectedStream = Field(default_factory=ExpectedStream)
    gb_channel_id: GbId | None = Field(default=None, description="GB/T 28181 channel ID (type 131 or 132)")
    location: str | None = None
    analytics: CameraAnalytics | None = Field(default=None, description="Person and behaviour detection rules")
    recordings: CameraRecordings | None = Field(
        default=None, description="Where its recordings live: an NVR's channel, its own Profile G, a playback URL"
    )

    @property
    def has_onvif(self) -> bool:
        return self.source.onvif is not None

    def display_url(self) -> str:
        """The source URL as it may be shown anywhere: user name visible, password masked."""
        if self.source.rtsp is None:
            assert self.source.onvif is not None
            user = f"{self.credentials.username}:***@" if self.credentials else ""
            return f"onvif://{user}{self.source.onvif.host}:{self.source.onvif.port}"
        if self.credentials is None:
            return self.source.rtsp
        return mask_url(with_credentials(self.source.rtsp, self.credentials.username, "x"))

    @property
    def has_sub_stream(self) -> bool:
        """A sub stream is configured: an rtsp URL, or an ONVIF profile the inventory resolves."""
        onvif = self.source.onvif
        return self.source.sub_rtsp is not None or (onvif is not None and onvif.sub_profile is not None)

    def secret_url(self, *, sub: bool = False) -> str:
        """The URL (of the sub stream with sub=True) with real credentials, for the client library only.
        Never log it."""
        url = self.source.sub_rtsp if sub else self.source.rtsp
        assert url is not None
        if self.credentials is None:
            return url
        password = self.credentials.password.resolve() if self.credentials.password else None
        return with_credentials(url, self.credentials.username, password)
