"""The base model and small validated types shared by every part of the config tree."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from gateway.i18n import _


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(_("must be 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit"))
    return value


Slug = Annotated[str, AfterValidator(_slug)]


# YAML reads an unquoted numeric ID (a 20-digit GB/T 28181 or GA/T 1400 ID) as an int: accept it as
# the digits it is.
AsText = BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)


def _gb_id(value: str) -> str:
    if not re.fullmatch(r"\d{20}", value):
        raise ValueError(_("a GB/T 28181 ID is exactly 20 digits"))
    return value


GbId = Annotated[str, AsText, AfterValidator(_gb_id)]
