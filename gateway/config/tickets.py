"""Config of hidden-danger tickets and who is told (`tickets:` and `notify:` in the site config).

A camera fault that lasts past its grace time opens a ticket (gateway/tickets/). The grace time
depends on the kind of fault and the kind of zone the camera watches: a key area's camera that is
offline for two minutes is a danger, a blurred corridor picture for ten. Contact lists name outbox
destinations (`uplinks.bots`, `uplinks.email`, `uplinks.webhooks`, `uplinks.mqtt`); a ticket is told
to the first list of `tickets.escalation`, and to the next one each time it goes unacknowledged for
`acknowledge_within_min`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

from pydantic import Field

from gateway.config.base import Model, Slug
from gateway.errors import ConfigIssue
from gateway.i18n import Language, _

# What the gateway opens tickets for; each is one of a camera's states or fault codes.
FaultKind = Literal["offline", "video_lost", "picture", "below_hd", "degraded"]
FAULT_KINDS: tuple[FaultKind, ...] = ("offline", "video_lost", "picture", "below_hd", "degraded")


class GraceBy(Model):
    """Seconds a fault must last before it is a ticket, per zone kind; `default` for the others and
    for cameras in no zone. A camera in several zones takes the shortest."""

    default: float = Field(ge=0, le=7 * 86400)
    entrance: float | None = Field(default=None, ge=0, le=7 * 86400)
    crowded_area: float | None = Field(default=None, ge=0, le=7 * 86400)
    key_area: float | None = Field(default=None, ge=0, le=7 * 86400)
    perimeter: float | None = Field(default=None, ge=0, le=7 * 86400)
    other: float | None = Field(default=None, ge=0, le=7 * 86400)

    def for_zone(self, kind: str | None) -> float:
        value = (
            getattr(self, kind, None)
            if kind in ("entrance", "crowded_area", "key_area", "perimeter", "other")
            else None
        )
        return self.default if value is None else float(value)


class Graces(Model):
    offline: GraceBy = Field(default_factory=lambda: GraceBy(default=300, key_area=120, entrance=120))
    video_lost: GraceBy = Field(default_factory=lambda: GraceBy(default=300, key_area=120, entrance=120))
    picture: GraceBy = Field(default_factory=lambda: GraceBy(default=600))
    below_hd: GraceBy = Field(default_factory=lambda: GraceBy(default=1800))
    degraded: GraceBy = Field(default_factory=lambda: GraceBy(default=1800))

    def of(self, fault: FaultKind) -> GraceBy:
        grace: GraceBy = getattr(self, fault)
        return grace


class TicketsConfig(Model):
    enabled: bool = Field(default=True, description="Open tickets for camera faults that last")
    grace_s: Graces = Field(default_factory=Graces, description="Seconds a fault lasts before it opens a ticket")
    recovery_s: float = Field(
        default=300, ge=0, le=86400, description="Healthy this long, a ticket closes by itself (repaired)"
    )
    reopen_within_s: float = Field(
        default=3600,
        ge=0,
        le=7 * 86400,
        description="A fault back within this long after its ticket closed reopens it (a flapping camera: one ticket)",
    )
    acknowledge_within_min: float = Field(
        default=30, gt=0, le=10080, description="Not acknowledged in this time: told to the next contact list"
    )
    escalation: list[Slug] = Field(
        default_factory=list, description="Contact lists (notify.contacts) in the order they are told"
    )


class ContactList(Model):
    destinations: list[Slug] = Field(min_length=1, description="Outbox destination ids (bots, e-mail, webhooks...)")
    zones: Literal["all"] | list[Slug] = Field(default="all", description="Only tickets of cameras in these zones")


class NotifyConfig(Model):
    language: Language | None = Field(
        default=None, description="Language of the messages people read (default: the site's, site.language)"
    )
    contacts: dict[Slug, ContactList] = Field(default_factory=dict, description="Contact lists by id")
    link_base: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="The dashboard's address as people reach it, for links in messages (default: no link)",
    )


class _Zone(Protocol):
    @property
    def id(self) -> str: ...


def cross_check(
    tickets: TicketsConfig,
    notify: NotifyConfig,
    *,
    destinations: Mapping[str, Sequence[str]],
    zones: Sequence[_Zone],
) -> list[ConfigIssue]:
    """Issues of tickets/notify against the rest of the tree, each with its key path. `destinations`
    maps each outbox destination's id to the kinds of message it takes."""
    issues: list[ConfigIssue] = []
    zone_ids = {z.id for z in zones}
    for name, contact in notify.contacts.items():
        for j, dest in enumerate(contact.destinations):
            where = f"notify.contacts.{name}.destinations[{j}]"
            if dest not in destinations:
                issues.append(ConfigIssue(where, _("no such destination"), dest))
            elif "ticket" not in destinations[dest]:
                issues.append(
                    ConfigIssue(where, _("this destination does not take 'ticket' messages (its kinds)"), dest)
                )
        if isinstance(contact.zones, list):
            for j, zone in enumerate(contact.zones):
                if zone not in zone_ids:
                    issues.append(ConfigIssue(f"notify.contacts.{name}.zones[{j}]", _("no such zone"), zone))
    for i, name in enumerate(tickets.escalation):
        if name not in notify.contacts:
            issues.append(ConfigIssue(f"tickets.escalation[{i}]", _("no such contact list in notify.contacts"), name))
    return issues
