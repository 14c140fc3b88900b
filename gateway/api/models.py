"""Shapes of API answers (documented in the OpenAPI schema)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from gateway.config import CameraConfig
from gateway.health.state import CameraStatus


class Measured(BaseModel):
    codec: str | None
    width: int | None
    height: int | None
    fps: float | None
    bitrate_kbps: float | None


class Expected(BaseModel):
    width: int | None
    height: int | None
    fps: float | None
    codec: str | None


class CameraOut(BaseModel):
    id: str
    name: str
    enabled: bool
    url: str = Field(description="Source URL with the password masked")
    transport: str
    zones: list[str]
    location: str | None
    gb_channel_id: str | None
    state: str
    reason: str | None
    since: float = Field(description="Unix time of the last state change")
    last_packet_at: float | None
    reconnects: int
    expected: Expected
    measured: Measured

    @classmethod
    def build(cls, camera: CameraConfig, status: CameraStatus) -> CameraOut:
        res = camera.expected.resolution
        m = status.measured
        return cls(
            id=camera.id,
            name=camera.name,
            enabled=camera.enabled,
            url=camera.display_url(),
            transport=camera.source.transport,
            zones=list(camera.zones),
            location=camera.location,
            gb_channel_id=camera.gb_channel_id,
            state=status.state.value,
            reason=status.reason,
            since=status.since,
            last_packet_at=status.last_packet_at,
            reconnects=status.reconnects,
            expected=Expected(
                width=res.width if res else None,
                height=res.height if res else None,
                fps=camera.expected.fps,
                codec=camera.expected.codec,
            ),
            measured=Measured(codec=m.codec, width=m.width, height=m.height, fps=m.fps, bitrate_kbps=m.bitrate_kbps),
        )


class ZoneOut(BaseModel):
    id: str
    name: str
    kind: str
    cameras: list[str]


class SiteOut(BaseModel):
    id: str
    name: str
    unit: str
    key_unit: bool
    hd_min_resolution: str
    zones: list[ZoneOut]


class UserOut(BaseModel):
    name: str
    role: str
    disabled: bool
    created_at: float


class NewUserIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: str


class NewUserOut(UserOut):
    token: str = Field(description="Shown once; only its hash is stored")


class Healthz(BaseModel):
    status: str
    cameras: int
    online: int
