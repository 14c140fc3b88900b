"""SecretRef: how the config names a secret (an environment variable or a file), never the secret.

Used by the cameras' credentials and by the uplinks' and live view's secrets; `secret_issues` is the
check their cross checks share.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from gateway.config.base import Model
from gateway.errors import ConfigIssue, SecretUnavailableError
from gateway.i18n import _

# The type of a validation error whose value must not be shown (it may be a secret written in the
# wrong place): the loader reports its key path and message only.
HIDDEN_VALUE_ERROR = "secret_value_hidden"


class SecretRef(Model):
    """A secret is never written in the config: it names an environment variable or a file."""

    env: str | None = Field(default=None, description="Name of an environment variable holding the secret")
    file: Path | None = Field(default=None, description="Path of a file whose first line is the secret")

    @model_validator(mode="before")
    @classmethod
    def _a_reference(cls, data: Any) -> Any:
        if isinstance(data, str | bytes | int | float):
            # Most likely the secret itself, written where its reference belongs: never echoed.
            raise PydanticCustomError(
                HIDDEN_VALUE_ERROR, _("a secret is never written in the config: give {env: NAME} or {file: PATH}")
            )
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError(_("give exactly one of 'env' or 'file'"))
        if self.env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.env):
            raise ValueError(_("'env' must be an environment variable name"))
        return self

    def describe(self) -> str:
        return (
            _("environment variable {name}").format(name=self.env)
            if self.env
            else _("file {path}").format(path=self.file)
        )

    def resolve(self) -> str:
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None or value == "":
                raise SecretUnavailableError(_("environment variable {name} is not set").format(name=self.env))
            return value
        assert self.file is not None
        try:
            first = self.file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise SecretUnavailableError(
                _("cannot read secret file {path}: {reason}").format(path=self.file, reason=exc.strerror)
            ) from None
        if not first or not first[0].strip():
            raise SecretUnavailableError(_("secret file {path} is empty").format(path=self.file))
        return first[0].strip()


def secret_issues(ref: SecretRef | None, where: str) -> list[ConfigIssue]:
    """The issue of a secret that cannot be read (none when it can, or when none is given)."""
    if ref is None:
        return []
    try:
        ref.resolve()
    except SecretUnavailableError as exc:
        return [ConfigIssue(f"{where}.{'env' if ref.env else 'file'}", str(exc))]
    return []
