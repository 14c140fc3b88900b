"""How this gateway process runs: camera supervision, ONVIF reads, the HTTP server, storage, its
instance (scale-out) and logging."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from gateway.config.base import Model
from gateway.i18n import _


class SupervisorConfig(Model):
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
        description="Processes that read cameras (0: all in the main process); default: none up to 50"
        " cameras, then one per cameras_per_worker cameras",
    )
    cameras_per_worker: int = Field(
        default=250,
        ge=1,
        le=1000,
        description="Cameras one reader process hosts when workers is automatic (each process costs ~120 MB)",
    )
    rtsp_reader: Literal["light", "ffmpeg"] = Field(
        default="light",
        description="How camera streams are read: 'light', our own RTSP reader (tens of kB a camera) for video"
        " over TCP, with FFmpeg kept for the cameras it cannot read (RTP over UDP, sound a GB/T 28181 platform"
        " takes); 'ffmpeg', PyAV for every camera",
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
            raise ValueError(_("backoff_max_s must be >= backoff_initial_s"))
        return self


class OnvifConfig(Model):
    refresh_s: float = Field(
        default=3600.0,
        ge=5,
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
            raise ValueError(_("set_clock: ntp needs ntp_server"))
        return self


class ServerConfig(Model):
    bind: str = Field(default="127.0.0.1", description="Address the API listens on")
    port: int = Field(default=8080, ge=1, le=65535)
    session_hours: float = Field(
        default=12, gt=0, le=24 * 30, description="A web-page sign-in ends this long after it began, at the latest"
    )
    session_idle_minutes: float = Field(
        default=30, gt=0, le=24 * 60, description="A web-page sign-in ends after this long without a request"
    )


class StorageConfig(Model):
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
            raise ValueError(_("storage url must start with sqlite:/// or postgresql://"))
        return self


class InstanceConfig(Model):
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


class LoggingConfig(Model):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
