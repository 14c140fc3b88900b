"""Config of the outbox and its destinations (`uplinks.mqtt`, `uplinks.webhooks`, `uplinks.gat1400`,
`uplinks.gat1400_subscribers`, `uplinks.bots`, `uplinks.email` and `uplinks.outbox` in the site config).

The checks that need the rest of the tree (`cross_check`, which root.py runs) take plain values and
return ConfigIssues with full key paths.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal, Protocol

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from gateway.config.analytics import RULE_KINDS
from gateway.config.base import AsText, Model, Slug
from gateway.config.secrets import HIDDEN_VALUE_ERROR, SecretRef, secret_issues
from gateway.errors import ConfigIssue
from gateway.i18n import N_, _

# "ticket": a hidden-danger ticket's change (gateway/tickets/), for the people on its contact lists.
MessageKind = Literal["event", "state", "quality", "health", "ticket"]
MESSAGE_KINDS: tuple[MessageKind, ...] = ("event", "state", "quality", "health", "ticket")
_WEBHOOK_KINDS: tuple[MessageKind, ...] = ("event", "state", "quality")
_TOPIC_PREFIX = r"^[^#+/\x00]+(/[^#+/\x00]+)*$"
_GAT_ID = re.compile(r"\d{20}")


def _gat_device_id(value: str) -> str:
    if not _GAT_ID.fullmatch(value):
        raise ValueError(_("a GA/T 1400 device ID is exactly 20 digits"))
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


# -- people's channels: group bots and e-mail (ticket notifications) ----------------------------------------

NotifyKind = Literal["ticket"]
_NOTIFY_KINDS: tuple[NotifyKind, ...] = ("ticket",)
BotKind = Literal["wecom", "dingtalk", "feishu"]
_HH_MM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")
# Tickets whose change can wait for the end of quiet hours; a danger found or escalated cannot.
HELD_IN_QUIET_HOURS: tuple[str, ...] = ("closed", "acknowledged")


_TIME_OF_DAY = N_("a time of day as HH:MM, from 00:00 to 23:59 (quote it: '22:00')")


def _yaml_time(value: object) -> object:
    # YAML 1.1 reads an unquoted 22:00 as the base-60 number 1320: give it back its clock form.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        text = f"{value // 60:02d}:{value % 60:02d}"
        if not _HH_MM.fullmatch(text):
            raise ValueError(_("{value} is not {what}").format(value=text, what=_(_TIME_OF_DAY)))
        return text
    return value


def _time_of_day(value: str) -> str:
    if not _HH_MM.fullmatch(value):
        raise ValueError(_(_TIME_OF_DAY))
    return value


TimeOfDay = Annotated[str, BeforeValidator(_yaml_time), AfterValidator(_time_of_day)]


class QuietHours(Model):
    """A daily period in the site's time zone during which a channel holds the ticket changes that can
    wait (closed, acknowledged) until its end; dangers found, escalated or back go out at once."""

    start: TimeOfDay = Field(description="HH:MM, the site's time: holding starts")
    end: TimeOfDay = Field(description="HH:MM, the site's time: what was held goes out (may be the next day)")

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError(_("start and end are the same time: give a period, or no quiet_hours"))
        return self

    def minutes(self) -> tuple[int, int]:
        """(start, end) in minutes after midnight."""
        h1, m1 = self.start.split(":")
        h2, m2 = self.end.split(":")
        return int(h1) * 60 + int(m1), int(h2) * 60 + int(m2)


def _bot_url(value: object) -> object:
    if isinstance(value, str):
        # The error must not echo the value: it holds the bot's key.
        raise PydanticCustomError(
            HIDDEN_VALUE_ERROR,
            _(
                "a bot's webhook URL holds its key (WeCom key=, DingTalk access_token=, Feishu's hook id): "
                "give it as a secret reference, {env: NAME} or {file: PATH}, never in the config file"
            ),
        )
    return value


BotUrl = Annotated[SecretRef, BeforeValidator(_bot_url)]


def _address(value: str) -> str:
    if not _ADDRESS.fullmatch(value):
        raise ValueError(_("an e-mail address such as duty@example.com"))
    return value


def _sender(value: str) -> str:
    _name, address = parseaddr(value)
    if not _ADDRESS.fullmatch(address) or "\n" in value or "\r" in value:
        raise ValueError(_("an e-mail address, or 'Name <address>'"))
    return value


Address = Annotated[str, AfterValidator(_address)]
Sender = Annotated[str, AfterValidator(_sender)]


class _Notified(Model):
    """What a people's channel receives: ticket messages of these cameras, quiet hours aside."""

    kinds: list[NotifyKind] = Field(
        default_factory=lambda: list(_NOTIFY_KINDS),
        min_length=1,
        description="Message kinds; 'ticket' is the one rendered",
    )
    cameras: Literal["all"] | list[Slug] = Field(default="all", description="'all' cameras or a list of camera ids")
    quiet_hours: QuietHours | None = Field(
        default=None, description="Hold closed/acknowledged tickets during these hours (site time), never drop"
    )
    picture: bool = Field(default=True, description="Send the ticket's picture where the channel can take one")


class BotUplink(_Notified):
    """A WeCom (企业微信), DingTalk (钉钉) or Feishu (飞书) group bot: ticket notifications in the bot's
    own markdown or card format."""

    id: Slug = Field(description="Short name of this destination, used in contact lists, the API, metrics and logs")
    kind: BotKind = Field(description="wecom | dingtalk | feishu")
    url: BotUrl = Field(description="The webhook URL with its key: a secret reference (env or file), never plain")
    secret: SecretRef | None = Field(
        default=None, description="Signing secret (DingTalk 加签 SEC..., Feishu 签名校验), when the bot has one"
    )
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    max_per_minute: int | None = Field(
        default=None, ge=1, le=100, description="Messages a minute at most (default: WeCom 20, DingTalk 20, Feishu 100)"
    )


class EmailUplink(_Notified):
    """A mailbox (or several) reached through an SMTP server: ticket notifications as mails."""

    id: Slug
    host: str = Field(min_length=1, max_length=253, description="SMTP server")
    port: int | None = Field(default=None, ge=1, le=65535, description="Default 587 (starttls), 465 (tls), 25 (none)")
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="starttls (port 587), tls (implicit, 465), or none (a relay on this host)"
    )
    username: str | None = Field(default=None, min_length=1, max_length=256)
    password: SecretRef | None = Field(default=None, description="SMTP password (env or file)")
    sender: Sender = Field(alias="from", max_length=320, description="From: an address, or 'Name <address>'")
    to: list[Address] = Field(min_length=1, max_length=50, description="Recipients")
    timeout_s: float = Field(default=20.0, gt=0, le=300)
    ca_file: Path | None = Field(
        default=None, description="CA bundle for a server whose certificate a private CA signed"
    )

    def smtp_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"starttls": 587, "tls": 465, "none": 25}[self.security]


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
ChannelConfig = BotUplink | EmailUplink


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
    bots: Sequence[BotUplink] = (),
    email: Sequence[EmailUplink] = (),
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
                issues.append(ConfigIssue(f"{where}.id", _(_ID_TAKEN), dest.id))
            seen.add(dest.id)
            if isinstance(dest.cameras, list):
                for j, cid in enumerate(dest.cameras):
                    if cid not in camera_ids:
                        issues.append(ConfigIssue(f"{where}.cameras[{j}]", _("no camera with this id"), cid))
            for j, kind in enumerate(dest.event_kinds or []):
                if kind not in RULE_KINDS:
                    issues.append(
                        ConfigIssue(
                            f"{where}.event_kinds[{j}]",
                            _("not a rule kind ({kinds})").format(kinds=", ".join(sorted(RULE_KINDS))),
                            kind,
                        )
                    )
            if isinstance(dest, MqttUplink):
                if (dest.username is None) != (dest.password is None):
                    issues.append(ConfigIssue(f"{where}.password", _(_BOTH_OR_NEITHER)))
                if (dest.cert_file is None) != (dest.key_file is None):
                    issues.append(
                        ConfigIssue(f"{where}.key_file", _("a client certificate needs its key, and the reverse"))
                    )
                if not dest.tls and (dest.ca_file or dest.cert_file):
                    issues.append(ConfigIssue(f"{where}.tls", _("certificate files are given but tls is false")))
                for key in ("ca_file", "cert_file", "key_file"):
                    path = getattr(dest, key)
                    if check_secrets and path is not None and not Path(path).is_file():
                        issues.append(ConfigIssue(f"{where}.{key}", _(_NO_SUCH_FILE), str(path)))
                if check_secrets:
                    issues += secret_issues(dest.password, f"{where}.password")
            elif isinstance(dest, WebhookUplink):
                if check_secrets:
                    issues += secret_issues(dest.secret, f"{where}.secret")
            elif isinstance(dest, Gat1400SubscriberUplink):
                if dest.listen_port in ports:
                    issues.append(
                        ConfigIssue(
                            f"{where}.listen_port",
                            _("{key} uses this port").format(key=ports[dest.listen_port]),
                            str(dest.listen_port),
                        )
                    )
                ports[dest.listen_port] = f"{where}.listen_port"
                if check_secrets:
                    issues += secret_issues(dest.password, f"{where}.password")
                    issues += secret_issues(dest.subscriber_password, f"{where}.subscriber_password")
            elif check_secrets:
                issues += secret_issues(dest.password, f"{where}.password")
    issues += _channel_issues(bots, email, camera_ids, seen, check_secrets=check_secrets)
    return issues


def _bot_url_issues(ref: SecretRef, where: str) -> list[ConfigIssue]:
    """A bot URL's reference must be readable and hold an http(s) URL (never shown: it holds the key)."""
    issues = secret_issues(ref, where)
    if not issues and not re.fullmatch(r"https?://[^\s/]+/\S*", ref.resolve()):
        issues.append(ConfigIssue(f"{where}.{'env' if ref.env else 'file'}", _("does not hold an http(s) webhook URL")))
    return issues


_ID_TAKEN = N_("another uplink (MQTT, webhook, GA/T 1400, bot or e-mail) has this id")
_BOTH_OR_NEITHER = N_("give both username and password, or neither")
_NO_SUCH_FILE = N_("no such file")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def _channel_issues(
    bots: Sequence[BotUplink],
    email: Sequence[EmailUplink],
    camera_ids: set[str],
    seen: set[str],
    *,
    check_secrets: bool,
) -> list[ConfigIssue]:
    """Issues of the people's channels: ids shared with every other uplink, cameras, secrets."""
    issues: list[ConfigIssue] = []
    channels: list[tuple[str, ChannelConfig]] = [
        *((f"uplinks.bots[{i}]", b) for i, b in enumerate(bots)),
        *((f"uplinks.email[{i}]", e) for i, e in enumerate(email)),
    ]
    for where, dest in channels:
        if dest.id in seen:
            issues.append(ConfigIssue(f"{where}.id", _(_ID_TAKEN), dest.id))
        seen.add(dest.id)
        if isinstance(dest.cameras, list):
            for j, cid in enumerate(dest.cameras):
                if cid not in camera_ids:
                    issues.append(ConfigIssue(f"{where}.cameras[{j}]", _("no camera with this id"), cid))
        if isinstance(dest, BotUplink):
            if dest.kind == "wecom" and dest.secret is not None:
                issues.append(
                    ConfigIssue(f"{where}.secret", _("a WeCom bot has no signing secret: its key is in the URL"))
                )
            if check_secrets:
                issues += _bot_url_issues(dest.url, f"{where}.url")
                issues += secret_issues(dest.secret, f"{where}.secret")
            continue
        if (dest.username is None) != (dest.password is None):
            issues.append(ConfigIssue(f"{where}.password", _(_BOTH_OR_NEITHER)))
        if dest.username is not None and dest.security == "none" and dest.host not in _LOOPBACK:
            issues.append(
                ConfigIssue(
                    f"{where}.security",
                    _("a login over an unencrypted connection would send the password in clear: use starttls or tls"),
                    dest.security,
                )
            )
        if dest.ca_file is not None and dest.security == "none":
            issues.append(ConfigIssue(f"{where}.ca_file", _("a CA file is given but security is none")))
        if check_secrets:
            if dest.ca_file is not None and not Path(dest.ca_file).is_file():
                issues.append(ConfigIssue(f"{where}.ca_file", _(_NO_SUCH_FILE), str(dest.ca_file)))
            issues += secret_issues(dest.password, f"{where}.password")
    return issues
