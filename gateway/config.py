"""The gateway's one config tree: pydantic models loaded from YAML, validated completely at start.

Every model forbids unknown keys, so a typo is an error with its key path, never a silently
ignored setting. `load_config` collects *all* problems (structure first, then cross-references
and secrets) and raises one ConfigError listing each with its key path.
"""

from __future__ import annotations

import dataclasses
import math
import re
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from adapters.common.redact import mask_text, mask_url, with_credentials
from gateway.analytics.config import RULE_KINDS, AnalyticsConfig, CameraAnalytics
from gateway.analytics.config import cross_check as analytics_cross_check
from gateway.config_types import Model as _Model
from gateway.config_types import Slug
from gateway.errors import ConfigError, ConfigIssue, SecretUnavailableError
from gateway.gb28181.config import Gb28181Uplink
from gateway.gb28181.config import cross_check as gb28181_cross_check
from gateway.liveview.config import LiveViewConfig
from gateway.outbox.config import Gat1400Uplink, MqttUplink, OutboxConfig, WebhookUplink
from gateway.outbox.config import cross_check as destinations_cross_check
from gateway.quality.frames import CHECK_NAMES
from gateway.quality.schedule import DayNight
from gateway.quality.thresholds import DEFAULT_THRESHOLDS, NIGHT_OVERRIDES, QualityThresholds
from gateway.secrets import SecretRef as SecretRef  # re-exported: its home moved, importers did not

# -- small validated types -------------------------------------------------------------------------


def _gb_id(value: str) -> str:
    if not re.fullmatch(r"\d{20}", value):
        raise ValueError("a GB/T 28181 ID is exactly 20 digits")
    return value


GbId = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v), AfterValidator(_gb_id)]

# GB/T 28181-2016 annex D type codes (digits 11-13) that may stand for a forwarded camera channel.
CAMERA_TYPE_CODES = frozenset({"131", "132"})


def _resolution(value: Any) -> Any:
    """Accept '1920x1080' as well as {width: 1920, height: 1080}."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", value)
        if not match:
            raise ValueError("resolution must look like '1920x1080'")
        return {"width": int(match.group(1)), "height": int(match.group(2))}
    return value


class Resolution(_Model):
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


# -- site ------------------------------------------------------------------------------------------


class UnitConfig(_Model):
    """The organisation responsible for the site's security (the 'unit')."""

    name: str = Field(min_length=1, description="Legal name of the unit")
    key_unit: bool = Field(default=False, description="Designated key unit (重点单位): stricter HD policy")
    headcount: int = Field(ge=0, description="Number of staff, for the security-staffing check")
    security_staff: int | None = Field(default=None, ge=0, description="Declared number of security staff")
    full_time_security_staff: int | None = Field(
        default=None, ge=0, description="Declared full-time security staff (key units)"
    )
    civil_code: str | None = Field(
        default=None, pattern=r"^\d{6}$", description="Administrative division code (6 digits)"
    )
    address: str | None = None
    gb_id: GbId | None = Field(default=None, description="The gateway's own GB/T 28181 ID as a platform")


class SiteConfig(_Model):
    id: Slug = Field(description="Short id of the site, used in reports and topics")
    name: str = Field(min_length=1)
    timezone: str = Field(
        default="Asia/Shanghai", description="IANA zone of the site: day boundaries in reports, night hours"
    )
    unit: UnitConfig

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ValueError, OSError, ZoneInfoNotFoundError):
            raise ValueError(f"unknown time zone {zone!r} (an IANA name such as Asia/Shanghai)") from None
        return zone


ZoneKind = Literal["entrance", "crowded_area", "key_area", "perimeter", "other"]


class ZoneConfig(_Model):
    id: Slug
    name: str = Field(min_length=1)
    kind: ZoneKind = Field(description="entrance | crowded_area | key_area | perimeter | other")
    description: str | None = None


# -- cameras ---------------------------------------------------------------------------------------


class OnvifSource(_Model):
    host: str = Field(min_length=1)
    port: int = Field(default=80, ge=1, le=65535)
    profile: str | None = Field(
        default=None, description="Profile token of the main stream (default: the largest H.264/H.265 profile)"
    )
    sub_profile: str | None = Field(default=None, description="Profile token of a sub stream for analytics")


class SourceConfig(_Model):
    rtsp: str | None = Field(default=None, description="RTSP URL without credentials")
    sub_rtsp: str | None = Field(
        default=None, description="RTSP URL of a smaller sub stream (analytics decode it instead of the main stream)"
    )
    onvif: OnvifSource | None = None
    transport: Literal["tcp", "udp"] = Field(default="tcp", description="RTP transport for RTSP")

    @model_validator(mode="after")
    def _check(self) -> SourceConfig:
        if (self.rtsp is None) == (self.onvif is None):
            raise ValueError("give exactly one of 'rtsp' or 'onvif'")
        for key, url in (("rtsp", self.rtsp), ("sub_rtsp", self.sub_rtsp)):
            if url is None:
                continue
            parts = urlsplit(url)
            if parts.scheme not in ("rtsp", "rtsps"):
                raise ValueError(f"'{key}' must be an rtsp:// or rtsps:// URL")
            if not parts.hostname:
                raise ValueError(f"'{key}' URL has no host")
            try:
                _ = parts.port
            except ValueError:
                raise ValueError(f"'{key}' URL has an invalid port (must be a number 0-65535)") from None
            if parts.username is not None or parts.password is not None:
                raise ValueError(
                    "credentials do not belong in the URL: set credentials.username and "
                    "credentials.password (env or file)"
                )
        return self


class CredentialsConfig(_Model):
    username: str = Field(min_length=1)
    password: SecretRef | None = None


class ExpectedStream(_Model):
    """What the camera is configured (or required) to send; measured values are kept beside it."""

    resolution: ResolutionField | None = None
    fps: float | None = Field(default=None, gt=0, le=240)
    codec: Literal["h264", "h265"] | None = None


class CameraConfig(_Model):
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


# -- policy, runtime -------------------------------------------------------------------------------


def _checked_thresholds(thresholds: dict[str, float]) -> dict[str, float]:
    fields = {f.name: f.type for f in dataclasses.fields(QualityThresholds)}
    for key, value in thresholds.items():
        if key not in fields:
            raise ValueError(f"unknown threshold {key!r}; see docs/quality.md for the list")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"threshold {key} must be a finite number >= 0")
        if fields[key] in (int, "int") and value != int(value):
            raise ValueError(f"threshold {key} must be a whole number")
    return thresholds


def _thresholds(base: QualityThresholds, overrides: dict[str, float]) -> QualityThresholds:
    fields = {f.name: f.type for f in dataclasses.fields(QualityThresholds)}
    values: dict[str, Any] = {k: int(v) if fields[k] in (int, "int") else float(v) for k, v in overrides.items()}
    return dataclasses.replace(base, **values)


_CLOCK_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class NightPolicy(_Model):
    min_fps: float | None = Field(
        default=None,
        gt=0,
        le=240,
        description="Minimum frame rate at night: cameras lengthen the exposure in the dark and lower the"
        " frame rate to fit it (null: policy.min_fps day and night)",
    )
    start: str = Field(default="19:00", pattern=_CLOCK_TIME, description="When night begins (HH:MM, site time zone)")
    end: str = Field(default="07:00", pattern=_CLOCK_TIME, description="When night ends (HH:MM, the next morning)")
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Night overrides of the quality thresholds, on top of the built-in night ones (darker,"
        " noisier, flatter: see docs/quality.md) and the day overrides",
    )

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, thresholds: dict[str, float]) -> dict[str, float]:
        return _checked_thresholds(thresholds)

    @staticmethod
    def minutes(clock: str) -> int:
        hours, minutes = clock.split(":")
        return int(hours) * 60 + int(minutes)


class QualityPolicy(_Model):
    checks: list[str] = Field(
        default_factory=lambda: list(CHECK_NAMES),
        description="Picture-quality checks whose failure makes a camera degraded (not coverage); the others"
        " are still measured and stored",
    )
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Overrides of the quality thresholds (see docs/quality.md), e.g. {dark_mean_luma: 30}",
    )
    night: NightPolicy | None = Field(
        default_factory=lambda: NightPolicy(),
        description="Night hours and their thresholds in the site's time zone; null: day thresholds all the time",
    )

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, checks: list[str]) -> list[str]:
        unknown = [c for c in checks if c not in CHECK_NAMES]
        if unknown:
            raise ValueError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECK_NAMES)}")
        return checks

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, thresholds: dict[str, float]) -> dict[str, float]:
        return _checked_thresholds(thresholds)

    def quality_thresholds(self) -> QualityThresholds:
        return _thresholds(DEFAULT_THRESHOLDS, self.thresholds)

    def night_thresholds(self) -> QualityThresholds | None:
        """Night: the day thresholds (with their overrides), then the built-in night values, then the night
        overrides."""
        if self.night is None:
            return None
        return _thresholds(_thresholds(self.quality_thresholds(), NIGHT_OVERRIDES), self.night.thresholds)

    def day_night(self, timezone: str) -> DayNight | None:
        night = self.night_thresholds()
        if self.night is None or night is None:
            return None
        return DayNight(timezone, NightPolicy.minutes(self.night.start), NightPolicy.minutes(self.night.end), night)


class StreamPolicy(_Model):
    """Limits on what a camera's encoder does. Smart codecs (H.264+/H.265+, Smart Codec) lengthen the GOP
    and drop the bitrate on still scenes by design: by default both are measured and reported, never a
    fault; set a limit to make a breach one."""

    max_keyframe_interval_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="Longest keyframe interval (s) that is not a fault (null: measured, not judged)",
    )
    min_bitrate_kbps: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description="Lowest bitrate (kb/s, averaged over whole GOPs) that is not a fault (null: measured, not judged)",
    )


class PolicyConfig(_Model):
    hd_min_resolution: ResolutionField | None = Field(
        default=None, description="Minimum resolution that counts as HD; default 1920x1080 for key units, else 1280x720"
    )
    min_fps: float = Field(default=15.0, gt=0, le=240, description="Minimum frame rate that counts as working")
    uptime_target_percent: float = Field(default=99.0, ge=0, le=100)
    retention_days: int = Field(default=30, ge=1, le=3650, description="Days of recorded video required")
    max_clock_drift_s: float = Field(default=5.0, gt=0)
    coverage_target_percent: float = Field(
        default=99.0, ge=0, le=100, description="Share of the monitored time each zone must be covered"
    )
    min_monitored_percent: float = Field(
        default=95.0,
        ge=0,
        le=100,
        description="Share of a report's period the gateway must have watched for the report to pass: time"
        " nobody watched is not evidence of coverage",
    )
    quality: QualityPolicy = Field(default_factory=lambda: QualityPolicy())
    stream: StreamPolicy = Field(
        default_factory=lambda: StreamPolicy(),
        description="Optional limits on keyframe interval and bitrate (default: measured, not judged)",
    )


class SupervisorConfig(_Model):
    connect_timeout_s: float = Field(default=5.0, gt=0, le=120, description="Time allowed to open a stream")
    stall_timeout_s: float = Field(
        default=3.0, gt=0, le=300, description="Connected but no packets for this long: offline (stalled)"
    )
    backoff_initial_s: float = Field(default=1.0, gt=0, le=60)
    backoff_max_s: float = Field(default=30.0, gt=0, le=3600)
    auth_retry_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Least wait after a refused login: cameras lock accounts after a few bad attempts",
    )
    probe_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="While a camera refuses connections, how often its port is checked (cheap TCP connect)",
    )
    read_batch_s: float = Field(
        default=0.5,
        ge=0,
        le=2,
        description="Cameras nobody is viewing or forwarding are read in bursts this far apart (0: per packet);"
        " it costs nothing in detection time and saves most of the CPU of many streams",
    )
    workers: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="Processes that read cameras (0: all in the main process); default: one per"
        " cameras_per_worker cameras, none for a small site",
    )
    cameras_per_worker: int = Field(
        default=50, ge=1, le=500, description="Cameras one reader process hosts when workers is automatic"
    )
    quality_interval_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="Decode one keyframe this often per camera for the picture-quality checks (0: off)",
    )
    sample_interval_s: float = Field(
        default=60.0, ge=5, le=3600, description="How often measured stream figures are stored as history"
    )

    @model_validator(mode="after")
    def _order(self) -> SupervisorConfig:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be >= backoff_initial_s")
        return self


class OnvifConfig(_Model):
    refresh_s: float = Field(
        default=3600.0,
        ge=10,
        le=86400,
        description="How often each ONVIF camera's inventory and clock are read (a clock that jumps shows at the"
        " next read)",
    )
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    set_clock: Literal["off", "manual", "ntp"] = Field(
        default="off",
        description="Correct a camera clock that drifts past policy.max_clock_drift_s: 'manual' sets it to"
        " the gateway's time, 'ntp' points it at ntp_server. Off by default: the site may manage clocks itself",
    )
    ntp_server: str | None = Field(default=None, description="NTP server for set_clock: ntp")
    events: bool = Field(
        default=False,
        description="Subscribe to each ONVIF camera's own events (motion, tamper) by PullPoint and store them",
    )

    @model_validator(mode="after")
    def _ntp(self) -> OnvifConfig:
        if self.set_clock == "ntp" and not self.ntp_server:
            raise ValueError("set_clock: ntp needs ntp_server")
        return self


class ServerConfig(_Model):
    bind: str = Field(default="127.0.0.1", description="Address the API listens on")
    port: int = Field(default=8080, ge=1, le=65535)
    session_hours: float = Field(
        default=12, gt=0, le=24 * 30, description="A web-page sign-in ends this long after it began, at the latest"
    )
    session_idle_minutes: float = Field(
        default=30, gt=0, le=24 * 60, description="A web-page sign-in ends after this long without a request"
    )


class StorageConfig(_Model):
    url: str = Field(
        default="sqlite:///var/gateway.db",
        description="SQLAlchemy URL: sqlite:///PATH (default, WAL mode) or postgresql://...",
    )
    samples_days: int = Field(
        default=400,
        ge=7,
        le=3650,
        description="Days stats samples and ONVIF readings are kept (state changes and runs are kept for good:"
        " they are small and uptime reports need them)",
    )

    @model_validator(mode="after")
    def _scheme(self) -> StorageConfig:
        scheme = self.url.split(":", 1)[0]
        if scheme.split("+", 1)[0] not in ("sqlite", "postgresql"):
            raise ValueError("storage url must start with sqlite:/// or postgresql://")
        return self


class InstanceConfig(_Model):
    """This process's part of a site that several gateway processes share (one database)."""

    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@:-]*$",
        description="Names this process in the database (its runs, outbox and cursors); each process sharing "
        "a database needs its own. Default: <site id>@<host name>",
    )
    cameras: list[str] | None = Field(
        default=None,
        description="The cameras this process reads, its shard of the site; the others are left to other "
        "instances. Default: all cameras. Reports read every camera from the database.",
    )


class LoggingConfig(_Model):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class UplinksConfig(_Model):
    """`uplinks:`: the GB/T 28181 platforms (gateway/gb28181/) and the outbox's destinations (gateway/outbox/)."""

    gb28181: list[Gb28181Uplink] = Field(default_factory=list, description="GB/T 28181 upper platforms")
    mqtt: list[MqttUplink] = Field(default_factory=list, description="MQTT brokers")
    webhooks: list[WebhookUplink] = Field(default_factory=list, description="Signed HTTP webhooks")
    gat1400: list[Gat1400Uplink] = Field(default_factory=list, description="GA/T 1400 view libraries")
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="This gateway's URL as receivers reach it, for snapshot links in messages",
    )
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)

    def destinations(self) -> list[MqttUplink | WebhookUplink | Gat1400Uplink]:
        return [*self.mqtt, *self.webhooks, *self.gat1400]


class GatewayConfig(_Model):
    version: Literal[1] = Field(default=1, description="Config format version")
    site: SiteConfig
    zones: list[ZoneConfig] = Field(default_factory=list)
    cameras: list[CameraConfig] = Field(default_factory=list)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    supervisor: SupervisorConfig = Field(default_factory=SupervisorConfig)
    onvif: OnvifConfig = Field(default_factory=OnvifConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)
    uplinks: UplinksConfig = Field(
        default_factory=UplinksConfig, description="Upper platforms the site registers to (GB/T 28181)"
    )
    live_view: LiveViewConfig = Field(default_factory=LiveViewConfig, description="WebRTC live view for viewers")
    instance: InstanceConfig = Field(
        default_factory=InstanceConfig, description="This process's name and shard of cameras (scale-out)"
    )

    def instance_id(self) -> str:
        return self.instance.id or f"{self.site.id}@{socket.gethostname()}"

    def for_instance(self) -> GatewayConfig:
        """The site as this process runs it: only the cameras of its shard."""
        if self.instance.cameras is None:
            return self
        shard = set(self.instance.cameras)
        return self.model_copy(update={"cameras": [c for c in self.cameras if c.id in shard]})

    def hd_min_resolution(self) -> Resolution:
        if self.policy.hd_min_resolution is not None:
            return self.policy.hd_min_resolution
        return Resolution(width=1920, height=1080) if self.site.unit.key_unit else Resolution(width=1280, height=720)

    def camera(self, camera_id: str) -> CameraConfig | None:
        return next((c for c in self.cameras if c.id == camera_id), None)


# -- loading ---------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, which plain YAML silently lets the last one win.

    It also turns what PyYAML's scalar constructors raise for a value that matches a type but
    cannot be built (`2001-02-30`, `!!int 0x`, `!!timestamp x`, a zone offset of 99 h) into a
    ConstructorError at the value's line, instead of a bare ValueError/TypeError.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, AttributeError, OverflowError, IndexError):
            kind = str(node.tag).rpartition(":")[2] or "YAML"
            # The value itself is not quoted: it may be a secret written in the wrong place.
            raise yaml.constructor.ConstructorError(None, None, f"not a valid {kind} value", node.start_mark) from None


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping or list cannot be a key", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen[key] = loader.construct_object(value_node, deep=deep)
    return seen


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _shown_value(value: Any) -> str | None:
    if isinstance(value, (dict, list)):
        return None
    text = mask_text(repr(value))
    return text if len(text) <= 80 else text[:77] + "..."


def issues_from_validation(exc: ValidationError) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors(include_url=False):
        # Pydantic puts the failing union member / validator name into loc; keep only real keys.
        loc = tuple(p for p in err["loc"] if isinstance(p, int) or not str(p).startswith("function-"))
        # A discriminated union (analytics rules) puts the chosen tag after the list index: drop it.
        loc = tuple(p for i, p in enumerate(loc) if not (i and isinstance(loc[i - 1], int) and p in RULE_KINDS))
        message = err["msg"].removeprefix("Value error, ")
        value = None if err["type"] == "missing" else _shown_value(err.get("input"))
        issues.append(ConfigIssue(_key_path(loc), message, value))
    return issues


def _cross_check(config: GatewayConfig, *, check_secrets: bool) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    zone_ids: set[str] = set()
    for i, zone in enumerate(config.zones):
        if zone.id in zone_ids:
            issues.append(ConfigIssue(f"zones[{i}].id", "duplicate zone id", zone.id))
        zone_ids.add(zone.id)
    camera_ids: set[str] = set()
    channel_ids: set[str] = set()
    for i, cam in enumerate(config.cameras):
        where = f"cameras[{i}]"
        if cam.id in camera_ids:
            issues.append(ConfigIssue(f"{where}.id", "duplicate camera id", cam.id))
        camera_ids.add(cam.id)
        for j, zone_id in enumerate(cam.zones):
            if zone_id not in zone_ids:
                issues.append(ConfigIssue(f"{where}.zones[{j}]", "no zone with this id is declared", zone_id))
        if cam.gb_channel_id is not None:
            if cam.gb_channel_id[10:13] not in CAMERA_TYPE_CODES:
                issues.append(
                    ConfigIssue(
                        f"{where}.gb_channel_id",
                        "type code (digits 11-13) must be 131 (camera) or 132 (IP camera)",
                        cam.gb_channel_id,
                    )
                )
            if cam.gb_channel_id in channel_ids:
                issues.append(ConfigIssue(f"{where}.gb_channel_id", "duplicate channel id", cam.gb_channel_id))
            channel_ids.add(cam.gb_channel_id)
        if cam.analytics is not None:
            expected = cam.expected.resolution
            issues += analytics_cross_check(
                f"{where}.analytics",
                cam.analytics,
                expected_size=(expected.width, expected.height) if expected else None,
                has_sub_stream=cam.has_sub_stream,
                zone_ids=zone_ids,
                site=config.analytics,
            )
        if check_secrets and cam.enabled and cam.credentials and cam.credentials.password:
            ref = cam.credentials.password
            try:
                ref.resolve()
            except SecretUnavailableError as exc:
                key = "env" if ref.env else "file"
                issues.append(ConfigIssue(f"{where}.credentials.password.{key}", str(exc)))
    seen_in_shard: set[str] = set()
    for i, cid in enumerate(config.instance.cameras or []):
        if cid not in camera_ids:
            issues.append(ConfigIssue(f"instance.cameras[{i}]", "no camera with this id is declared", cid))
        elif cid in seen_in_shard:
            issues.append(ConfigIssue(f"instance.cameras[{i}]", "camera listed twice", cid))
        seen_in_shard.add(cid)
    if config.site.unit.gb_id is not None and config.site.unit.gb_id[10:13] != "200":
        issues.append(
            ConfigIssue("site.unit.gb_id", "a platform ID has type code 200 in digits 11-13", config.site.unit.gb_id)
        )
    uplinks = config.uplinks
    issues += gb28181_cross_check(
        uplinks.gb28181, unit_gb_id=config.site.unit.gb_id, cameras=config.cameras, check_secrets=check_secrets
    )
    issues += destinations_cross_check(
        mqtt=uplinks.mqtt,
        webhooks=uplinks.webhooks,
        gat1400=uplinks.gat1400,
        cameras=config.cameras,
        check_secrets=check_secrets,
    )
    return issues


def parse_config(data: Any, *, source: str = "<config>", check_secrets: bool = True) -> GatewayConfig:
    """Validate already-parsed YAML/JSON data; raise ConfigError listing every issue."""
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigIssue("(top level)", "the config must be a mapping of keys")])
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, issues_from_validation(exc)) from None
    issues = _cross_check(config, check_secrets=check_secrets)
    if issues:
        raise ConfigError(source, issues)
    return config


def load_config(path: Path | str, *, check_secrets: bool = True) -> GatewayConfig:
    """Load and validate a YAML config file; raise ConfigError listing every issue."""
    path = Path(path)
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(source, [ConfigIssue("(file)", f"cannot read: {exc.strerror}")]) from None
    return config_from_bytes(data, source=source, check_secrets=check_secrets)


def config_from_bytes(data: bytes, *, source: str = "<config>", check_secrets: bool = True) -> GatewayConfig:
    """Decode (UTF-8), load (safe YAML, duplicate keys refused) and validate a config file's bytes.

    Raises only ConfigError, listing every issue: this is what `load_config` does after reading the
    file, and what the fuzz target `config` exercises.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte {exc.start}"
        raise ConfigError(source, [ConfigIssue(where, "the file is not UTF-8 text")]) from None
    try:
        loaded = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader derives from SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [ConfigIssue(where, f"invalid YAML: {problem}")]) from None
    except RecursionError:
        raise ConfigError(source, [ConfigIssue("(file)", "invalid YAML: nested too deeply")]) from None
    return parse_config(loaded if loaded is not None else {}, source=source, check_secrets=check_secrets)
