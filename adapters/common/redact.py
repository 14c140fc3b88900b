"""Hide credentials in URLs and free text before they reach logs, API answers or exceptions.

Lives in adapters/ because protocol code must redact its own error messages and may not
import gateway/.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# scheme://user:password@host -> scheme://user:***@host ; also catches URLs inside longer text
# (exception messages from FFmpeg/PyAV quote the URL they failed on).
_URL_CREDENTIALS = re.compile(r"(?P<prefix>[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*):(?P<secret>[^\s@/]*)@")
# key=value or "key": "value" forms that carry secrets in query strings, headers or JSON.
_KEY_VALUE = re.compile(
    # Not after a hyphen or letter: "camera wrong-password: offline" names a camera, it holds no secret.
    r"(?P<key>(?<![\w-])(?:\w+_)?(?:password|passwd|pwd|token|secret|api[_-]?key|authorization)\"?\s*[:=]\s*\"?)"
    r"(?P<value>(?:Bearer\s+|Digest\s+|Basic\s+)?[^\s\"&,;]+)",
    re.IGNORECASE,
)


def mask_url(url: str) -> str:
    """Return the URL with its password (if any) replaced by ***; the user name stays visible."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_text(url)
    if parts.password is None:
        return mask_text(url) if "@" in url else url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{user}:{MASK}@{host}" + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def mask_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask credentials in URLs, secret-looking key/value pairs, and any of the given literal secrets."""
    masked = _URL_CREDENTIALS.sub(lambda m: f"{m.group('prefix')}:{MASK}@", text)
    masked = _KEY_VALUE.sub(lambda m: f"{m.group('key')}{MASK}", masked)
    for secret in secrets:
        if secret and len(secret) >= 3:
            masked = masked.replace(secret, MASK)
    return masked


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """Put credentials into a URL (for handing to a client library only; never log the result)."""
    if not username:
        return url
    from urllib.parse import quote

    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = quote(username, safe="")
    if password is not None:
        netloc += ":" + quote(password, safe="")
    netloc += "@" + host + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
