"""Shapes of API answers (documented in the OpenAPI schema)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from gateway.config import CameraConfig
from gateway.health.state import CameraStatus
from gateway.i18n.terms import reason_text

# SQLite and PostgreSQL integers are signed 64-bit: a larger id, offset or cursor is refused as a 422
# rather than overflowing the driver (found by the schemathesis run: OverflowError, a 500).
DB_INT_MAX = 2**63 - 1


class QualityCheckOut(BaseModel):
    name: str
    score: float | None = Field(description="None (NaN) when the check could not run")
    state: str = Field(description="pass | fail | not_checkable")
    detail: str


class Measured(BaseModel):
    """Measured from the packets received (no decoding): what the camera really sends."""

    codec: str | None
    profile: str | None
    level: str | None
    width: int | None
    height: int | None
    resolution_source: str | None = Field(description="'sps' (parameter sets) or 'sdp'")
    fps: float | None = Field(description="From timestamps over the last seconds")
    signalled_fps: float | None = Field(description="What the SPS timing info or the SDP announces")
    bitrate_kbps: float | None = Field(
        description="Averaged over the newest whole GOPs (keyframe to keyframe) reaching back 5 s, so that a"
        " long GOP's keyframe does not make it swing; over the last seconds until a whole GOP is seen"
    )
    bitrate_span_s: float | None = Field(None, description="Stream seconds bitrate_kbps is averaged over")
    bitrate_gops: int = Field(0, description="Whole GOPs in bitrate_kbps (0: none seen yet, not judged)")
    gop_frames: int | None
    keyframe_interval_s: float | None = Field(description="Seconds between the last two keyframes")
    since_keyframe_s: float | None = Field(
        None,
        description="Stream seconds since the last keyframe; beyond keyframe_interval_s the keyframes are"
        " late (policy.stream.max_keyframe_interval_s judges the longer of the two)",
    )
    packets: int
    bytes: int
    ts_jumps: int = Field(description="Timestamp jumps (backwards, or forwards by many frames)")
    gaps: int = Field(description="Pauses of over a second between packets")
    max_gap_s: float
    realtime_ratio: float | None = Field(
        None,
        description="Media seconds received per second over the last seconds: well under 1 means the link"
        " cannot carry the stream (fault slow_delivery below 0.5)",
    )
    quality: list[QualityCheckOut] = Field(description="Picture-quality checks of the last sampled keyframe")
    quality_at: float | None


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
    reason_text: str | None = Field(
        description="The reason in the request's language (Accept-Language); `reason` stays as the gateway words it"
    )
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
            reason_text=reason_text(status.reason) if status.reason else None,
            since=status.since,
            last_packet_at=status.last_packet_at,
            reconnects=status.reconnects,
            expected=Expected(
                width=res.width if res else None,
                height=res.height if res else None,
                fps=camera.expected.fps,
                codec=camera.expected.codec,
            ),
            # From the attributes, not dataclasses.asdict: that deep-copies every figure (and the new
            # reference picture's bytes), and was most of the time of listing 500 cameras.
            measured=Measured.model_validate(m, from_attributes=True),
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
    password: str | None = Field(default=None, description="For the web pages; at least 10 characters")


class UserChangeIn(BaseModel):
    disabled: bool | None = Field(default=None, description="Disabling ends the user's web sessions")
    password: str | None = Field(default=None, description="A new password; ends the user's web sessions")


class GrantIn(BaseModel):
    kind: str = Field(description="camera | zone | all")
    target: str | None = Field(default=None, max_length=64, description="Camera or zone id; none for 'all'")


class GrantOut(BaseModel):
    kind: str
    target: str
    created_at: float
    created_by: str


class TokenOut(BaseModel):
    token: str = Field(description="Shown once; only its hash is stored")


class MeOut(BaseModel):
    name: str
    role: str
    all_cameras: bool
    cameras: list[str] = Field(description="Ids of the cameras this user may see")


class NewUserOut(UserOut):
    token: str = Field(description="Shown once; only its hash is stored")


class Healthz(BaseModel):
    status: str
    cameras: int
    online: int
    # Long-lived tasks and threads that failed and are waiting to start again (GET /api/v1/gateway/parts).
    parts_down: int = 0


class PartOut(BaseModel):
    """A long-lived task or thread of the gateway, watched: restarted whenever it fails."""

    name: str
    kind: str
    running: bool
    restarts: int
    last_failure: str | None
    last_failure_at: float | None
    down_since: float | None


class DeviceOut(BaseModel):
    """What the camera says about itself over ONVIF, at the last check."""

    checked_at: float
    ok: bool
    error: str | None
    manufacturer: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    clock_offset_s: float | None = Field(description="Camera clock minus gateway clock")
    clock_ok: bool | None = Field(description="Within policy.max_clock_drift_s")
    retention_verifiable: bool = Field(description="False when the device offers no recording search")
    retention_days: float | None
    retention_ok: bool | None = Field(description="At least policy.retention_days")
    main_profile: str | None
    main_stream: str | None = Field(description="Codec and size the camera is configured to send")


class CameraHealthOut(CameraOut):
    bus_subscribers: int
    bus_dropped: int = Field(description="Packets dropped by slow consumers of this camera")
    device: DeviceOut | None = Field(description="ONVIF cameras only")


class OutageOut(BaseModel):
    start: float
    end: float
    duration_s: float
    reasons: list[str]
    ongoing: bool


class UptimeOut(BaseModel):
    camera_id: str
    start: float
    end: float
    uptime_percent: float | None = Field(description="Online or degraded, as a share of the time known")
    up_s: float
    down_s: float
    unknown_s: float = Field(description="Gateway not running, or connecting after a start")
    seconds: dict[str, float] = Field(description="Time per state in the window")
    outages: list[OutageOut]


class IntervalOut(BaseModel):
    start: float
    end: float
    state: str
    reason: str | None


class RunOut(BaseModel):
    id: int
    instance: str
    start: float
    end: float
    clean_stop: bool
    current: bool


class GatewayRunsOut(BaseModel):
    runs: list[RunOut]
    down: list[IntervalOut] = Field(description="Parts of the window no gateway run covered")
    down_s: float


class SampleOut(BaseModel):
    ts: float
    state: str
    codec: str | None
    profile: str | None
    width: int | None
    height: int | None
    fps: float | None
    bitrate_kbps: float | None
    gop_frames: int | None
    keyframe_interval_s: float | None
    reconnects: int


class DeviceEventOut(BaseModel):
    ts: float
    kind: str = Field(
        description="motion | tamper | people | line_crossing | intrusion | alarm_input | other, from the topic "
        "and data items (docs/onvif-events.md); events stored before a kind was known keep the kind they had"
    )
    topic: str
    operation: str | None = Field(description="Initialized (state at subscription), Changed or Deleted")
    data: dict[str, str] | None
    active: bool | None = Field(
        default=None,
        description="true: the condition started (or holds), false: it ended; null: the message does not say",
    )


class QualityRowOut(BaseModel):
    ts: float
    check: str
    state: str = Field(description="pass | fail | not_checkable")
    score: float | None
    detail: str | None


class RecordingGapOut(BaseModel):
    start: float
    end: float
    duration_s: float


class RecordingDayOut(BaseModel):
    day: str = Field(description="Calendar day in the site's time zone, YYYY-MM-DD")
    start: float = Field(description="Start of the audited part of the day (epoch seconds)")
    end: float = Field(description="End of the audited part: the day's end, or the last search for today")
    recorded_s: float
    completeness_percent: float
    gaps: list[RecordingGapOut]
    long_gaps: int = Field(description="Gaps longer than policy.recordings.max_gap_s")
    checked_at: float


class RecordingCheckOut(BaseModel):
    ts: float
    ok: bool
    error: str | None
    recording_token: str | None
    earliest: float | None
    latest: float | None
    queries: int = Field(description="SOAP requests the search cost the recording device")


class CameraRecordingsOut(BaseModel):
    camera_id: str
    source: str | None = Field(description="Where its recordings live; null: not configured")
    verifiable: bool = Field(description="Its recordings can be searched (an NVR channel or its own Profile G)")
    last_check: RecordingCheckOut | None
    retained_days: float | None = Field(description="Age of the oldest recording the device reported, in days")
    retention_ok: bool | None = Field(description="retained_days >= policy.retention_days; null: not verifiable")
    days: list[RecordingDayOut]
