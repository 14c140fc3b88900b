"""Config of the outbox and its destinations (`uplinks.mqtt`, `uplinks.webhooks`, `uplinks.gat1400`,
`uplinks.gat1400_subscribers` and `uplinks.outbox` in the site config).

The checks that need the rest of the tree (`cross_check`, which root.py runs) take plain values and
return ConfigIssues with full key paths.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal, Protocol

from pydantic import AfterValidator, Field

from gateway.config.analytics import RULE_KINDS
from gateway.config.base import AsText, Model, Slug
from gateway.config.secrets import SecretRef, secret_issues
from gateway.errors import ConfigIssue

# "ticket": a hidden-danger ticket's change (gateway/tickets/), for the people on its contact lists.
MessageKind = Literal["event", "state", "quality", "health", "ticket"]
MESSAGE_KINDS: tuple[MessageKind, ...] = ("event", "state", "quality", "health", "ticket")
_WEBHOOK_KINDS: tuple[MessageKind, ...] = ("event", "state", "quality")
_TOPIC_PREFIX = r"^[^#+/\x00]+(/[^#+/\x00]+)*$"
_GAT_ID = re.compile(r"\d{20}")


def _gat_device_id(value: str) -> str:
    if not _GAT_ID.fullmatch(value):
        raise ValueError("a GA/T 1400 device ID is exactly 20 digits")
    return value


GatDeviceId = Annotated[str, AsText, AfterValidator(_gat_device_id)]


class _Filtered(Model):
    """What a destination receives: the kinds of message, the cameras, the detection rules."""

    cameras: Literal["all"] | list[Slug] = Field(default="all", description="'all' cameras or a list of camera ids")
    event_kinds: list[str] | None = Field(
        default=None, description="Detection rule kinds to send (intrusion, line_crossing, ...); default all"
    )


class MqttUplink(_Filtered):
    """An MQTT broker (the unit's security centre, a home-automation style integration)."""

    id: Slug = Field(description="Short name of this destination, used in the API, metrics and logs")
    host: str = Field(min_length=1, max_length=253)
    port: int | None = Field(default=None, ge=1, le=65535, description="Default 1883, or 8883 with TLS")
    client_id: str | None = Field(default=None, max_length=64, description="Default: gateway-<site id>")
    username: str | None = Field(default=None, min_length=1)
    password: SecretRef | None = Field(default=None, description="Broker password (env or file)")
    tls: bool = False
    ca_file: Path | None = Field(default=None, description="CA bundle for the broker's certificate")
    cert_file: Path | None = Field(default=None, description="Client certificate, for brokers that require one")
    key_file: Path | None = None
    tls_insecure: bool = Field(default=False, description="Skip the host name check (lab brokers only: unsafe)")
    topic_prefix: str = Field(default="gateway", pattern=_TOPIC_PREFIX, description="First levels of every topic")
    kinds: list[MessageKind] = Field(default_factory=lambda: list(MESSAGE_KINDS))
    event_image: Literal["link", "inline"] = Field(
        default="link", description="Events carry a snapshot link, or also an inline JPEG thumbnail (base64)"
    )
    thumbnail_width: int = Field(default=320, ge=64, le=1920)
    health_interval_s: float = Field(default=60.0, ge=5, le=3600, description="Health figures per camera")


class WebhookUplink(_Filtered):
    """An HTTP endpoint that receives JSON POSTs signed with HMAC-SHA256."""

    id: Slug
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2000)
    secret: SecretRef = Field(description="Shared HMAC key (env or file); receivers verify every POST with it")
    kinds: list[MessageKind] = Field(default_factory=lambda: list(_WEBHOOK_KINDS))
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    verify_tls: bool = True
    ca_file: Path | None = None
    event_image: Literal["link", "inline"] = "link"
    thumbnail_width: int = Field(default=320, ge=64, le=1920)
    health_interval_s: float = Field(default=60.0, ge=5, le=3600)


class Gat1400Uplink(_Filtered):
    """A GA/T 1400 view library (视图库): person records with their pictures from detection events."""

    id: Slug
    url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$", description="Base URL, e.g. http://10.1.2.3:8080")
    device_id: GatDeviceId = Field(description="The gateway's 20-digit ID registered at the view library")
    username: str = Field(min_length=1, description="Digest user name, usually the device ID")
    password: SecretRef
    keepalive_s: float = Field(default=60.0, ge=5, le=3600)
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    retry_s: float = Field(default=30.0, ge=1, le=3600, description="Wait before registering again after a failure")
    faces: bool = Field(default=True, description="Also upload face records where a pose gives the head")

    @property
    def kinds(self) -> tuple[MessageKind, ...]:
        """A view library takes person records, which only detection events make."""
        return ("event",)


class Gat1400SubscriberUplink(_Filtered):
    """A GA/T 1400 platform that takes data only by subscription (订阅): it subscribes at this gateway's
    `/VIID/Subscribes` (served on `listen_host`:`listen_port`) and receives SubscribeNotifications at
    the ReceiveAddr it gives; the gateway registers to it at `url` and keeps alive, as a lower view
    library does. `cameras` and `event_kinds` bound what any of its subscriptions can receive."""

    id: Slug
    url: str = Field(
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="The platform's base URL: Register and Keepalive go here, and a ReceiveAddr given as a path",
    )
    device_id: GatDeviceId = Field(description="The gateway's 20-digit ID as this platform knows it")
    username: str = Field(min_length=1, max_length=128, description="Our digest user name at the platform")
    password: SecretRef = Field(description="Our digest password at the platform (env or file)")
    subscriber_username: str = Field(
        min_length=1, max_length=128, description="The digest user name the platform uses at our /VIID/Subscribes"
    )
    subscriber_password: SecretRef = Field(description="The platform's digest password at our /VIID/Subscribes")
    listen_host: str = Field(
        min_length=1,
        max_length=253,
        description="Address /VIID/Subscribes listens on: the interface facing the platform (0.0.0.0: all)",
    )
    listen_port: int = Field(ge=1, le=65535, description="Port of /VIID/Subscribes (its own: /VIID is at the root)")
    registration: bool = Field(default=True, description="Register and keep alive at the platform before notifying")
    keepalive_s: float = Field(default=60.0, ge=5, le=3600)
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    retry_s: float = Field(default=30.0, ge=1, le=3600, description="Wait before registering again after a failure")
    faces: bool = Field(default=True, description="Offer face records (SubscribeDetail 12) where a pose gives the head")
    max_subscriptions: int = Field(default=16, ge=1, le=64, description="Active subscriptions this platform may hold")
    max_body_bytes: int = Field(
        default=256 * 1024, ge=4096, le=16 * 1024 * 1024, description="Largest request body /VIID/Subscribes reads"
    )

    @property
    def kinds(self) -> tuple[MessageKind, ...]:
        """Notifications are person and face records, which only detection events make."""
        return ("event",)


class OutboxConfig(Model):
    """The durable queue every MQTT, webhook and GA/T 1400 message passes through."""

    max_messages: int = Field(
        default=200_000, ge=100, le=50_000_000, description="Undelivered messages kept; beyond, the oldest are dropped"
    )
    max_age_days: float = Field(default=14.0, gt=0, le=365, description="Undelivered messages older than this drop")
    batch_size: int = Field(default=100, ge=1, le=5000, description="Messages handed to a destination at once")
    retry_initial_s: float = Field(default=1.0, gt=0, le=60)
    retry_max_s: float = Field(default=300.0, gt=0, le=3600, description="Cap of the exponential backoff")
    memory_buffer: int = Field(
        default=10_000, ge=10, le=1_000_000, description="Messages held in memory while storage cannot be written"
    )


DestinationConfig = MqttUplink | WebhookUplink | Gat1400Uplink | Gat1400SubscriberUplink


class _Camera(Protocol):
    @property
    def id(self) -> str: ...


def cross_check(
    *,
    mqtt: Sequence[MqttUplink],
    webhooks: Sequence[WebhookUplink],
    gat1400: Sequence[Gat1400Uplink],
    cameras: Sequence[_Camera],
    check_secrets: bool,
    gat1400_subscribers: Sequence[Gat1400SubscriberUplink] = (),
    api_port: int | None = None,
) -> list[ConfigIssue]:
    """Issues of the destinations against the rest of the tree, each with its key path."""
    issues: list[ConfigIssue] = []
    camera_ids = {c.id for c in cameras}
    seen: set[str] = set()
    groups: list[tuple[str, Sequence[DestinationConfig]]] = [
        ("mqtt", mqtt),
        ("webhooks", webhooks),
        ("gat1400", gat1400),
        ("gat1400_subscribers", gat1400_subscribers),
    ]
    ports: dict[int, str] = {} if api_port is None else {api_port: "server.port"}
    for group, items in groups:
        for i, dest in enumerate(items):
            where = f"uplinks.{group}[{i}]"
            # Ids share one namespace: they key the outbox's per-destination backlog.
            if dest.id in seen:
                issues.append(
                    ConfigIssue(f"{where}.id", "another MQTT, webhook or GA/T 1400 uplink has this id", dest.id)
                )
            seen.add(dest.id)
            if isinstance(dest.cameras, list):
                for j, cid in enumerate(dest.cameras):
                    if cid not in camera_ids:
                        issues.append(ConfigIssue(f"{where}.cameras[{j}]", "no camera with this id", cid))
            for j, kind in enumerate(dest.event_kinds or []):
                if kind not in RULE_KINDS:
                    issues.append(
                        ConfigIssue(
                            f"{where}.event_kinds[{j}]", f"not a rule kind ({', '.join(sorted(RULE_KINDS))})", kind
                        )
                    )
            if isinstance(dest, MqttUplink):
                if (dest.username is None) != (dest.password is None):
                    issues.append(ConfigIssue(f"{where}.password", "give both username and password, or neither"))
                if (dest.cert_file is None) != (dest.key_file is None):
                    issues.append(
                        ConfigIssue(f"{where}.key_file", "a client certificate needs its key, and the reverse")
                    )
                if not dest.tls and (dest.ca_file or dest.cert_file):
                    issues.append(ConfigIssue(f"{where}.tls", "certificate files are given but tls is false"))
                for key in ("ca_file", "cert_file", "key_file"):
                    path = getattr(dest, key)
                    if check_secrets and path is not None and not Path(path).is_file():
                        issues.append(ConfigIssue(f"{where}.{key}", "no such file", str(path)))
                if check_secrets:
                    issues += secret_issues(dest.password, f"{where}.password")
            elif isinstance(dest, WebhookUplink):
                if check_secrets:
                    issues += secret_issues(dest.secret, f"{where}.secret")
            elif isinstance(dest, Gat1400SubscriberUplink):
                if dest.listen_port in ports:
                    issues.append(
                        ConfigIssue(
                            f"{where}.listen_port", f"{ports[dest.listen_port]} uses this port", str(dest.listen_port)
                        )
                    )
                ports[dest.listen_port] = f"{where}.listen_port"
                if check_secrets:
                    issues += secret_issues(dest.password, f"{where}.password")
                    issues += secret_issues(dest.subscriber_password, f"{where}.subscriber_password")
            elif check_secrets:
                issues += secret_issues(dest.password, f"{where}.password")
    return issues
