"""The one exception tree of the gateway.

Every error the gateway raises on purpose derives from GatewayError, so the CLI and the API
can turn it into a clear message (never a traceback) and a stable exit or HTTP status code.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.i18n import _


class GatewayError(Exception):
    """Base of all errors the gateway raises on purpose."""

    #: HTTP status the API answers with when this error escapes a route.
    http_status: int = 500


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file: where it is, what was there, what is wrong."""

    path: str
    message: str
    value: str | None = None

    def __str__(self) -> str:
        if self.value is None:
            return _("{path}: {message}").format(path=self.path, message=self.message)
        return _("{path}: {message} (value: {value})").format(path=self.path, message=self.message, value=self.value)


class ConfigError(GatewayError):
    """The config could not be loaded or is invalid; carries every issue found, not just the first."""

    http_status = 400

    def __init__(self, source: str, issues: list[ConfigIssue]) -> None:
        self.source = source
        self.issues = issues
        lines = "\n".join(f"  {issue}" for issue in issues)
        head = _("{source}: {count} config error(s)").format(source=source, count=len(issues))
        super().__init__(f"{head}\n{lines}")


class SecretUnavailableError(GatewayError):
    """A credential referenced by the config (environment variable or file) cannot be read."""


class StorageError(GatewayError):
    """The database cannot be opened, migrated or written."""

    http_status = 503


class AuthError(GatewayError):
    """Missing or invalid credentials."""

    http_status = 401


class PermissionDeniedError(GatewayError):
    """Valid credentials, but the role or grant does not allow the action."""

    http_status = 403


class NotFoundError(GatewayError):
    http_status = 404


class InvalidRequestError(GatewayError):
    http_status = 422


class ConflictError(GatewayError):
    http_status = 409
