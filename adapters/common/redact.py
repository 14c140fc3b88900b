"""Hide credentials in URLs and free text before they reach logs, API answers or exceptions.

Lives in adapters/ because protocol code must redact its own error messages and may not
import gateway/.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# The password of a URL's userinfo becomes *** (scheme://user:***@host); also catches URLs inside longer text
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
    masked = _mask_url_once(url)
    if masked == url:
        return masked
    # Masking can change how the text splits: when urllib refused the URL, a masked key=value may
    # have held the '[' or '/' it stumbled on, and the rest now reads as user:password@host.
    try:
        password = urlsplit(masked).password
    except ValueError:
        return masked
    return masked if password in (None, MASK) else _mask_url_once(masked)


def _mask_url_once(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return _mask_authority(url)
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


def _mask_authority(url: str) -> str:
    """mask_url for what urllib refuses (a bad [IPv6] host, say): mask the userinfo of the authority.

    The userinfo ends at the authority's last '@', as urllib reads it, so a password holding an
    unescaped '@' is masked whole (mask_text alone would stop at its first '@').
    """
    head, sep, rest = url.partition("//")
    ends = [i for i in (rest.find(ch) for ch in "/?#") if i >= 0]
    end = min(ends, default=len(rest))
    userinfo, at, hostport = rest[:end].rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return mask_text(url)
    user = userinfo.split(":", 1)[0]
    return mask_text(f"{head}//{user}:{MASK}@{hostport}{rest[end:]}")


def mask_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask credentials in URLs, secret-looking key/value pairs, and any of the given literal secrets."""
    masked = _URL_CREDENTIALS.sub(lambda m: f"{m.group('prefix')}:{MASK}@", text)
    masked = _KEY_VALUE.sub(lambda m: f"{m.group('key')}{MASK}", masked)
    for secret in secrets:
        if secret and len(secret) >= 3:
            masked = masked.replace(secret, MASK)
    return masked


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """Put credentials into a URL (for handing to a client library only; never log the result).

    Raises ValueError (naming the problem, never quoting the URL) for a port that is not 0-65535.
    """
    if not username:
        return url
    from urllib.parse import quote

    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        # urllib's message quotes the bad port text, which may be a mistyped password: not shown.
        raise ValueError("URL has an invalid port (must be a number 0-65535)") from None
    netloc = quote(username, safe="")
    if password is not None:
        netloc += ":" + quote(password, safe="")
    netloc += "@" + host + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
