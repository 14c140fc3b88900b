"""HTTP digest authentication as SIP and RTSP use it (RFC 3261 section 22.4, RFC 2326 section 18; RFC 2617,
RFC 7616, RFC 8760).

GB/T 28181 registrars challenge REGISTER with `401` + `WWW-Authenticate: Digest realm=..., nonce=...`,
usually MD5, with or without `qop="auth"`; NVRs challenge RTSP requests the same way. The client side
is `parse_challenge` + `authorization`; `www_authenticate`, `parse_authorization` and `verify` are the
server side, for our test platform.

Passwords are only ever function arguments: no object here keeps one, and no exception message or
repr contains one (`Credentials` hides its password from repr).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "Challenge",
    "Credentials",
    "DigestError",
    "DigestResponse",
    "authorization",
    "new_nonce",
    "parse_authorization",
    "parse_challenge",
    "verify",
    "www_authenticate",
]

# RFC 7616 section 3.2 names; SHA-256 is RFC 8760's for SIP. hashlib names by upper-case algorithm.
_HASHES: Final[dict[str, str]] = {"MD5": "md5", "SHA-256": "sha256"}
_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_NC_RE: Final = re.compile(r"[0-9A-Fa-f]{8}")
_CTL_RE: Final = re.compile(r"[\x00-\x1f\x7f]")
MAX_HEADER: Final = 8 * 1024


class DigestError(ValueError):
    """A challenge or Authorization that cannot be used; `status` is the SIP/RTSP status to answer (400,
    or 401 where noted). `reason` is a fixed text, never a piece of the input."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Credentials:
    """A username and password to answer challenges with; the password is kept out of repr."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Challenge:
    """One Digest challenge (WWW-Authenticate or Proxy-Authenticate). `params` keeps every
    parameter as received (names lowercased, values unquoted), unknown ones included."""

    realm: str
    nonce: str
    opaque: str | None = None
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    stale: bool = False
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DigestResponse:
    """The parameters of an Authorization / Proxy-Authorization Digest header."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    cnonce: str | None = None
    nc: str | None = None
    qop: str | None = None
    opaque: str | None = None
    params: dict[str, str] = field(default_factory=dict)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _parse_params(text: str) -> dict[str, str]:
    """`Digest a=b, c="d, \\"e\\""` -> {"a": "b", "c": 'd, "e"'} (RFC 7235 section 2.1 auth-params).

    Stops at a token not followed by `=`: that is the next challenge's scheme in a combined row.
    """
    if len(text) > MAX_HEADER:
        raise DigestError("authentication header too long")
    pos = _skip_ws(text, 0)
    scheme = _TOKEN_RE.match(text, pos)
    if scheme is None or scheme.group().lower() != "digest":
        raise DigestError("not a Digest header")
    pos = scheme.end()
    params: dict[str, str] = {}
    while True:
        pos = _skip_ws(text, pos)
        while pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
        if pos >= len(text):
            break
        name_match = _TOKEN_RE.match(text, pos)
        if name_match is None:
            raise DigestError("malformed Digest parameter")
        after_name = _skip_ws(text, name_match.end())
        if after_name >= len(text) or text[after_name] != "=":
            if params:
                break  # another scheme follows
            raise DigestError("malformed Digest parameter")
        name = name_match.group().lower()
        pos = _skip_ws(text, after_name + 1)
        if pos < len(text) and text[pos] == '"':
            value, pos = _quoted(text, pos)
        else:
            value_match = _TOKEN_RE.match(text, pos)
            if value_match is None:
                raise DigestError("malformed Digest parameter value")
            value, pos = value_match.group(), value_match.end()
        if name in params:
            raise DigestError("repeated Digest parameter")  # RFC 7616 section 3.3
        params[name] = value
        pos = _skip_ws(text, pos)
        if pos < len(text) and text[pos] != ",":
            raise DigestError("expected a comma between Digest parameters")
    return params


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """Read the quoted-string at `pos` (RFC 3261 section 25.1: `\\` escapes the next character)."""
    out: list[str] = []
    pos += 1
    while pos < len(text):
        ch = text[pos]
        if ch == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
        elif ch == '"':
            return "".join(out), pos + 1
        else:
            out.append(ch)
            pos += 1
    raise DigestError("unterminated quoted string")


def _quote(value: str, what: str) -> str:
    if _CTL_RE.search(value):
        raise ValueError(f"{what} contains a control character")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _algorithm(name: str) -> tuple[str, bool]:
    """(hashlib name, is a -sess variant) for an algorithm parameter, case-insensitively."""
    upper = name.upper()
    sess = upper.endswith("-SESS")
    base = upper.removesuffix("-SESS")
    if base not in _HASHES:
        raise DigestError("unsupported digest algorithm")
    return _HASHES[base], sess


def _canonical_algorithm(name: str) -> str:
    upper = name.upper()
    return upper.removesuffix("-SESS") + ("-sess" if upper.endswith("-SESS") else "")


def _utf8(text: str) -> bytes:
    # Header text was decoded with surrogateescape (see sip.py): hash the bytes that were on the wire.
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _h(hash_name: str, data: bytes) -> str:
    return hashlib.new(hash_name, data, usedforsecurity=False).hexdigest()


def _response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None,
    cnonce: str | None,
    nc: str | None,
    body: bytes,
) -> str:
    """request-digest of RFC 2617 section 3.2.2.1 (qop absent: the RFC 2069 form)."""
    hash_name, sess = _algorithm(algorithm)

    def h(text: str) -> str:
        return _h(hash_name, _utf8(text))

    ha1 = h(f"{username}:{realm}:{password}")
    if sess:
        ha1 = h(f"{ha1}:{nonce}:{cnonce or ''}")  # RFC 2617 section 3.2.2.2
    # auth-int also covers the body (RFC 2617 section 3.2.2.3).
    ha2 = h(f"{method}:{uri}:{_h(hash_name, body)}") if qop == "auth-int" else h(f"{method}:{uri}")
    if qop:
        return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return h(f"{ha1}:{nonce}:{ha2}")


def parse_challenge(header_value: str) -> Challenge:
    """Parse a WWW-Authenticate / Proxy-Authenticate Digest challenge; raises DigestError."""
    params = _parse_params(header_value)
    realm = params.get("realm")
    nonce = params.get("nonce")
    if realm is None or nonce is None:
        raise DigestError("challenge without realm or nonce")
    algorithm = params.get("algorithm", "MD5")
    qop = tuple(item.strip().lower() for item in params.get("qop", "").split(",") if item.strip())
    return Challenge(
        realm=realm,
        nonce=nonce,
        opaque=params.get("opaque"),
        algorithm=algorithm,
        qop=qop,
        stale=params.get("stale", "").lower() == "true",
        params=params,
    )


def authorization(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str | None = None,
    nc: int = 1,
    body: bytes = b"",
) -> str:
    """The Authorization (or Proxy-Authorization) value answering `challenge`.

    `uri` must be the Request-URI of the request being sent (RFC 3261 section 22.4). qop=auth is
    chosen when offered, else auth-int (hashes `body`), else the qop-less RFC 2069 form most GB
    platforms use. `nc` counts requests sent with this nonce (RFC 7616 section 3.4).
    """
    _algorithm(challenge.algorithm)  # refuse an unsupported algorithm before computing anything
    if not 0 < nc <= 0xFFFFFFFF:
        raise ValueError("nc out of range")
    qop: str | None = None
    if challenge.qop:
        if "auth" in challenge.qop:
            qop = "auth"
        elif "auth-int" in challenge.qop:
            qop = "auth-int"
        else:
            raise DigestError("no supported qop offered")
    sess = challenge.algorithm.upper().endswith("-SESS")
    # A cnonce goes with qop, and MD5-sess folds one into HA1 (RFC 2617 section 3.2.2.2).
    cnonce = (cnonce or secrets.token_hex(8)) if qop is not None or sess else None
    nc_text = f"{nc:08x}"
    response = _response(
        algorithm=challenge.algorithm,
        username=username,
        realm=challenge.realm,
        password=password,
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        qop=qop,
        cnonce=cnonce,
        nc=nc_text,
        body=body,
    )
    parts = [
        f"username={_quote(username, 'username')}",
        f"realm={_quote(challenge.realm, 'realm')}",
        f"nonce={_quote(challenge.nonce, 'nonce')}",
        f"uri={_quote(uri, 'uri')}",
        f'response="{response}"',
        f"algorithm={_canonical_algorithm(challenge.algorithm)}",
    ]
    if cnonce is not None:
        parts.append(f"cnonce={_quote(cnonce, 'cnonce')}")
    if challenge.opaque is not None:
        parts.append(f"opaque={_quote(challenge.opaque, 'opaque')}")
    if qop is not None:
        parts.append(f"qop={qop}")  # unquoted in the response (RFC 2617 section 3.2.2)
        parts.append(f"nc={nc_text}")
    return "Digest " + ", ".join(parts)


# --- server side (the fake upper platform in our tests) -------------------------------------


def new_nonce() -> str:
    return secrets.token_hex(16)


def www_authenticate(
    realm: str,
    nonce: str,
    *,
    opaque: str | None = None,
    algorithm: str = "MD5",
    qop: tuple[str, ...] = (),
    stale: bool = False,
) -> str:
    """A WWW-Authenticate Digest value (qop is quoted in challenges, RFC 2617 section 3.2.1)."""
    _algorithm(algorithm)
    parts = [f"realm={_quote(realm, 'realm')}", f"nonce={_quote(nonce, 'nonce')}"]
    if opaque is not None:
        parts.append(f"opaque={_quote(opaque, 'opaque')}")
    parts.append(f"algorithm={_canonical_algorithm(algorithm)}")
    if qop:
        parts.append(f"qop={_quote(','.join(qop), 'qop')}")
    if stale:
        parts.append("stale=TRUE")
    return "Digest " + ", ".join(parts)


def parse_authorization(header_value: str) -> DigestResponse:
    """Parse an Authorization / Proxy-Authorization Digest value; raises DigestError (400)."""
    params = _parse_params(header_value)
    missing = [name for name in ("username", "realm", "nonce", "uri", "response") if name not in params]
    if missing:
        raise DigestError("Authorization lacks " + ", ".join(missing))
    qop = params.get("qop")
    if qop is not None:
        qop = qop.lower()
        if "cnonce" not in params or not _NC_RE.fullmatch(params.get("nc", "")):
            raise DigestError("Authorization with qop needs cnonce and an 8-digit nc")
    return DigestResponse(
        username=params["username"],
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=params["response"].lower(),
        algorithm=params.get("algorithm", "MD5"),
        cnonce=params.get("cnonce"),
        nc=params.get("nc"),
        qop=qop,
        opaque=params.get("opaque"),
        params=params,
    )


def verify(
    header_value: str,
    *,
    method: str,
    password: str,
    realm: str | None = None,
    nonce: str | None = None,
    uri: str | None = None,
    body: bytes = b"",
) -> bool:
    """True when an Authorization value proves knowledge of `password`.

    Pass the realm and nonce that were issued (and the Request-URI) to have them checked too; a
    nonce the server never issued must not be accepted. Malformed headers raise DigestError.
    """
    answer = parse_authorization(header_value)
    if realm is not None and answer.realm != realm:
        return False
    if nonce is not None and answer.nonce != nonce:
        return False
    if uri is not None and answer.uri != uri:
        return False
    if answer.qop not in (None, "auth", "auth-int"):
        return False
    expected = _response(
        algorithm=answer.algorithm,
        username=answer.username,
        realm=answer.realm,
        password=password,
        nonce=answer.nonce,
        method=method,
        uri=answer.uri,
        qop=answer.qop,
        cnonce=answer.cnonce,
        nc=answer.nc,
        body=body,
    )
    if not answer.response.isascii():
        return False  # compare_digest refuses non-ASCII str; such a response is wrong anyway
    return hmac.compare_digest(expected, answer.response)
