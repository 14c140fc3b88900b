"""The site (`site:`), the unit responsible for it, and its zones (`zones:`)."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from gateway.config.base import GbId, Model, Slug
from gateway.i18n import DEFAULT_LANGUAGE, Language, _


class UnitConfig(Model):
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


class SiteConfig(Model):
    id: Slug = Field(description="Short id of the site, used in reports and topics")
    name: str = Field(min_length=1)
    timezone: str = Field(
        default="Asia/Shanghai", description="IANA zone of the site: day boundaries in reports, night hours"
    )
    unit: UnitConfig
    language: Language = Field(
        default=DEFAULT_LANGUAGE,
        description="zh-CN | en: the language of the pages (each user may switch), reports, messages and the CLI",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ValueError, OSError, ZoneInfoNotFoundError):
            raise ValueError(
                _("unknown time zone {zone} (an IANA name such as Asia/Shanghai)").format(zone=repr(zone))
            ) from None
        return zone


ZoneKind = Literal["entrance", "crowded_area", "key_area", "perimeter", "other"]


class ZoneConfig(Model):
    id: Slug
    name: str = Field(min_length=1)
    kind: ZoneKind = Field(description="entrance | crowded_area | key_area | perimeter | other")
    description: str | None = None
