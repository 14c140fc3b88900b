"""Small checks the sign-in pages rely on: where to go after signing in, and form tokens."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

LOGIN_CSRF_COOKIE = "gw_login_csrf"
_MAX_NEXT = 2000


def safe_next(value: str | None, default: str = "/") -> str:
    """``value`` when it is a path on this gateway, else ``default``.

    Anything else would make the sign-in form an open redirect: "//evil" and "/\\evil" are read by
    browsers as another host, and control characters can split a header.
    """
    if not value or len(value) > _MAX_NEXT or not value.startswith("/"):
        return default
    if value.startswith(("//", "/\\")) or "\\" in value:
        return default
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def new_form_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; an empty or missing token never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
