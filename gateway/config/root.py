"""The root of the config tree, `GatewayConfig`, and the checks that need the whole tree.

`cross_check` looks across sections (zone and camera ids, channel ids, the instance's shard) and runs
each branch's own cross check (analytics, gb28181, outbox) with the values it needs; every issue
carries its key path.
"""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import Field

from gateway.config.analytics import AnalyticsConfig
from gateway.config.analytics import cross_check as analytics_cross_check
from gateway.config.base import Model
from gateway.config.cameras import CAMERA_TYPE_CODES, CameraConfig, Resolution
from gateway.config.gb28181 import cross_check as gb28181_cross_check
from gateway.config.liveview import LiveViewConfig, PtzConfig
from gateway.config.outbox import cross_check as destinations_cross_check
from gateway.config.policy import PolicyConfig
from gateway.config.recordings import RecorderConfig
from gateway.config.recordings import cross_check as recordings_cross_check
from gateway.config.site import SiteConfig, ZoneConfig
from gateway.config.system import (
    InstanceConfig,
    LoggingConfig,
    OnvifConfig,
    ServerConfig,
    StorageConfig,
    SupervisorConfig,
)
from gateway.config.tickets import NotifyConfig, TicketsConfig
from gateway.config.tickets import cross_check as tickets_cross_check
from gateway.config.uplinks import UplinksConfig
from gateway.errors import ConfigIssue, SecretUnavailableError
from gateway.i18n import _


class GatewayConfig(Model):
    version: Literal[1] = Field(default=1, description="Config format version")
    site: SiteConfig
    zones: list[ZoneConfig] = Field(default_factory=list)
    cameras: list[CameraConfig] = Field(default_factory=list)
    recorders: list[RecorderConfig] = Field(
        default_factory=list, description="NVRs with ONVIF Profile G holding the cameras' recordings"
    )
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
    ptz: PtzConfig = Field(default_factory=PtzConfig, description="PTZ control of the cameras that have it")
    tickets: TicketsConfig = Field(
        default_factory=TicketsConfig, description="Hidden-danger tickets for camera faults that last"
    )
    notify: NotifyConfig = Field(
        default_factory=NotifyConfig, description="Who is told of tickets, and in what language"
    )
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


def cross_check(config: GatewayConfig, *, check_secrets: bool) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    zone_ids: set[str] = set()
    for i, zone in enumerate(config.zones):
        if zone.id in zone_ids:
            issues.append(ConfigIssue(f"zones[{i}].id", _("duplicate zone id"), zone.id))
        zone_ids.add(zone.id)
    camera_ids: set[str] = set()
    channel_ids: set[str] = set()
    for i, cam in enumerate(config.cameras):
        where = f"cameras[{i}]"
        if cam.id in camera_ids:
            issues.append(ConfigIssue(f"{where}.id", _("duplicate camera id"), cam.id))
        camera_ids.add(cam.id)
        for j, zone_id in enumerate(cam.zones):
            if zone_id not in zone_ids:
                issues.append(ConfigIssue(f"{where}.zones[{j}]", _("no zone with this id is declared"), zone_id))
        if cam.gb_channel_id is not None:
            if cam.gb_channel_id[10:13] not in CAMERA_TYPE_CODES:
                issues.append(
                    ConfigIssue(
                        f"{where}.gb_channel_id",
                        _("type code (digits 11-13) must be 131 (camera) or 132 (IP camera)"),
                        cam.gb_channel_id,
                    )
                )
            if cam.gb_channel_id in channel_ids:
                issues.append(ConfigIssue(f"{where}.gb_channel_id", _("duplicate channel id"), cam.gb_channel_id))
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
            issues.append(ConfigIssue(f"instance.cameras[{i}]", _("no camera with this id is declared"), cid))
        elif cid in seen_in_shard:
            issues.append(ConfigIssue(f"instance.cameras[{i}]", _("camera listed twice"), cid))
        seen_in_shard.add(cid)
    if config.site.unit.gb_id is not None and config.site.unit.gb_id[10:13] != "200":
        issues.append(
            ConfigIssue("site.unit.gb_id", _("a platform ID has type code 200 in digits 11-13"), config.site.unit.gb_id)
        )
    issues += recordings_cross_check(config.recorders, config.cameras, check_secrets=check_secrets)
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
        gat1400_subscribers=uplinks.gat1400_subscribers,
        api_port=config.server.port,
        bots=uplinks.bots,
        email=uplinks.email,
    )
    issues += tickets_cross_check(
        config.tickets,
        config.notify,
        destinations={d.id: list(d.kinds) for d in uplinks.destinations()},
        zones=config.zones,
    )
    return issues
