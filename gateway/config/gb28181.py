"""Config of the GB/T 28181 uplinks (`uplinks.gb28181:` in the site config).

The checks that need the rest of the tree (`cross_check`, which root.py runs) take plain values and
return ConfigIssues with full key paths.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Literal, Protocol

from pydantic import AfterValidator, Field, IPvAnyAddress

from gateway.config.base import AsText, Model, Slug
from gateway.config.secrets import SecretRef, secret_issues
from gateway.errors import ConfigIssue
from gateway.i18n import _

# GB/T 28181-2016 clause 9.1.2: a registration lasts at least 3600 s, and a failed one is retried
# no sooner than 60 s later; neither is configurable below the standard's floor.
MIN_EXPIRES_S = 3600
RETRY_S = 60.0
PLATFORM_TYPE = "200"  # annex D digits 11-13: SIP server / platform

_DIGITS20 = re.compile(r"\d{20}")


def _platform_id(value: str) -> str:
    if not _DIGITS20.fullmatch(value):
        raise ValueError(_("a GB/T 28181 ID is exactly 20 digits"))
    if value[10:13] != PLATFORM_TYPE:
        raise ValueError(_("a platform ID has type code 200 in digits 11-13"))
    return value


PlatformId = Annotated[str, AsText, AfterValidator(_platform_id)]


class Gb28181Uplink(Model):
    """One upper platform the site registers to (city network, sector regulator...)."""

    id: Slug = Field(description="Short name of this uplink, used in the API, metrics and logs")
    server_id: PlatformId = Field(description="The platform's 20-digit SIP server ID (type 200)")
    server_domain: Annotated[str, AsText] = Field(
        min_length=1, max_length=64, pattern=r"^[0-9A-Za-z._-]+$", description="SIP domain, usually 10 digits"
    )
    host: str = Field(min_length=1, max_length=253, description="Address of the platform's SIP server")
    port: int = Field(default=5060, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = "udp"
    password: SecretRef = Field(description="Registration password (env or file), given by the platform")
    local_port: int = Field(default=5060, ge=0, le=65535, description="Our SIP port (0: any free port)")
    expires_s: int = Field(
        default=MIN_EXPIRES_S, ge=MIN_EXPIRES_S, le=86400, description="Registration lifetime (>= 3600)"
    )
    keepalive_s: float = Field(default=60.0, ge=1, le=3600, description="Keepalive MESSAGE interval")
    keepalive_misses: int = Field(default=3, ge=1, le=10, description="Unanswered keepalives that mean offline")
    channels: Literal["all"] | list[Slug] = Field(
        default="all", description="'all' cameras with a gb_channel_id, or a list of camera ids"
    )
    charset: Literal["GB2312", "UTF-8"] = Field(default="GB2312", description="Encoding of our MANSCDP bodies")
    catalog_per_message: int = Field(
        default=20, ge=1, le=200, description="Items per Response MESSAGE of a Catalog or RecordInfo"
    )
    max_sessions: int = Field(default=16, ge=1, le=256, description="Live video sessions at once (INVITEs beyond: 486)")
    media_ip: IPvAnyAddress | None = Field(
        default=None, description="Address put in our SDP answers; default: the address the SIP link uses"
    )
    alarms: Literal["subscribed", "always", "off"] = Field(
        default="subscribed",
        description="Alarm Notify: to an alarm SUBSCRIBE only, also as MESSAGE without one, or never",
    )
    armed_at_start: bool = Field(
        default=True,
        description="Channels start armed (alarms go out) until the platform's GuardCmd ResetGuard disarms them",
    )
    edition: Literal["2016", "2022"] = Field(
        default="2022",
        description="GB/T 28181 edition: 2022 sends X-GB-Ver 3.0 and its alarm codes (13: image occlusion)",
    )


class _Camera(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def gb_channel_id(self) -> str | None: ...


def cross_check(
    uplinks: Sequence[Gb28181Uplink], *, unit_gb_id: str | None, cameras: Sequence[_Camera], check_secrets: bool
) -> list[ConfigIssue]:
    """Issues of the GB/T 28181 uplinks against the rest of the tree, each with its key path."""
    issues: list[ConfigIssue] = []
    if uplinks and unit_gb_id is None:
        issues.append(
            ConfigIssue("site.unit.gb_id", _("uplinks.gb28181 needs the gateway's own 20-digit ID (type 200) here"))
        )
    channel_of = {c.id: c.gb_channel_id for c in cameras}
    seen_ids: set[str] = set()
    local_ports: set[tuple[str, int]] = set()
    for i, up in enumerate(uplinks):
        where = f"uplinks.gb28181[{i}]"
        if up.id in seen_ids:
            issues.append(ConfigIssue(f"{where}.id", _("duplicate uplink id"), up.id))
        seen_ids.add(up.id)
        if unit_gb_id is not None and up.server_id == unit_gb_id:
            issues.append(
                ConfigIssue(f"{where}.server_id", _("is the gateway's own ID (site.unit.gb_id)"), up.server_id)
            )
        if up.local_port:
            # Each link owns its socket: two on one port would fail to bind at start.
            port_key = (up.transport, up.local_port)
            if port_key in local_ports:
                issues.append(
                    ConfigIssue(f"{where}.local_port", _("another uplink already uses this port"), str(up.local_port))
                )
            local_ports.add(port_key)
        if isinstance(up.channels, list):
            chosen: set[str] = set()
            for j, cid in enumerate(up.channels):
                if cid in chosen:
                    issues.append(ConfigIssue(f"{where}.channels[{j}]", _("camera listed twice"), cid))
                chosen.add(cid)
                if cid not in channel_of:
                    issues.append(ConfigIssue(f"{where}.channels[{j}]", _("no camera with this id"), cid))
                elif channel_of[cid] is None:
                    issues.append(
                        ConfigIssue(f"{where}.channels[{j}]", _("this camera has no gb_channel_id to forward as"), cid)
                    )
        if check_secrets:
            issues += secret_issues(up.password, f"{where}.password")
    return issues
