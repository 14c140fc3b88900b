"""SOAP 1.2 plumbing for ONVIF: envelopes, WS-Security UsernameToken, hardened parsing, faults.

Reading matches elements by local name only: vendors put elements in the wrong namespace or use
odd prefixes, and optional fields are often missing. Parsing goes through defusedxml with DTDs
forbidden, so a billion-laughs bomb or an external entity is refused before any expansion.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final
from xml.etree.ElementTree import Element  # type only; parsing goes through defusedxml
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from adapters.common.redact import mask_text

__all__ = [
    "NS_DEVICE",
    "NS_MEDIA",
    "NS_MEDIA2",
    "NS_RECORDING",
    "NS_SCHEMA",
    "NS_SEARCH",
    "SOAP_CONTENT_TYPE",
    "OnvifError",
    "build_envelope",
    "child",
    "children",
    "descendant",
    "descendants",
    "fault_error",
    "local_name",
    "parse_envelope",
    "password_digest",
    "text_of",
    "username_token",
]

NS_ENV: Final = "http://www.w3.org/2003/05/soap-envelope"
NS_DEVICE: Final = "http://www.onvif.org/ver10/device/wsdl"
NS_MEDIA: Final = "http://www.onvif.org/ver10/media/wsdl"
NS_MEDIA2: Final = "http://www.onvif.org/ver20/media/wsdl"
NS_SCHEMA: Final = "http://www.onvif.org/ver10/schema"
NS_RECORDING: Final = "http://www.onvif.org/ver10/recording/wsdl"
NS_SEARCH: Final = "http://www.onvif.org/ver10/search/wsdl"
NS_EVENTS: Final = "http://www.onvif.org/ver10/events/wsdl"
NS_WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_WSU: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_WSS_UT_PROFILE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
DIGEST_TYPE_URI: Final = _WSS_UT_PROFILE + "#PasswordDigest"
NONCE_ENCODING: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
SOAP_CONTENT_TYPE: Final = "application/soap+xml"
MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024

REASONS: Final = frozenset({"unreachable", "timeout", "auth failed", "not onvif", "bad response", "not supported"})


class OnvifError(Exception):
    """An ONVIF call failed. `reason` is one of REASONS; `detail` is redacted (never a password)."""

    def __init__(self, reason: str, detail: str = "", *, secrets: tuple[str, ...] = ()) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown OnvifError reason {reason!r}")
        self.reason = reason
        self.detail = mask_text(detail, secrets)[:500]
        super().__init__(f"{reason}: {self.detail}" if self.detail else reason)


# --- building ---------------------------------------------------------------------------------


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """WS-Security PasswordDigest = Base64(SHA-1(nonce + created + password))."""
    raw = nonce + created.encode("utf-8") + password.encode("utf-8")
    return base64.b64encode(hashlib.sha1(raw).digest()).decode("ascii")  # noqa: S324 - mandated by WSS


def format_created(moment: datetime) -> str:
    """UTC timestamp in the form cameras accept: 2026-01-02T03:04:05.123Z."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def username_token(username: str, password: str, created: datetime, nonce: bytes | None = None) -> str:
    """The wsse:Security header block with a PasswordDigest UsernameToken."""
    nonce = os.urandom(16) if nonce is None else nonce
    created_s = format_created(created)
    digest = password_digest(nonce, created_s, password)
    return (
        f'<wsse:Security s:mustUnderstand="1" xmlns:wsse="{NS_WSSE}" xmlns:wsu="{NS_WSU}">'
        "<wsse:UsernameToken>"
        f"<wsse:Username>{escape(username)}</wsse:Username>"
        f'<wsse:Password Type="{DIGEST_TYPE_URI}">{digest}</wsse:Password>'
        f'<wsse:Nonce EncodingType="{NONCE_ENCODING}">{base64.b64encode(nonce).decode("ascii")}</wsse:Nonce>'
        f"<wsu:Created>{created_s}</wsu:Created>"
        "</wsse:UsernameToken></wsse:Security>"
    )


def build_envelope(body: str, security: str | None = None) -> bytes:
    """A SOAP 1.2 envelope around `body` (which declares its own namespaces), optionally with a header."""
    header = f"<s:Header>{security}</s:Header>" if security else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{NS_ENV}" xmlns:tt="{NS_SCHEMA}">{header}<s:Body>{body}</s:Body></s:Envelope>'
    ).encode()


# --- reading ----------------------------------------------------------------------------------


def local_name(tag: str) -> str:
    """'{ns}Name' or 'prefix:Name' -> 'Name'."""
    if tag.startswith("{"):
        tag = tag.rpartition("}")[2]
    return tag.rpartition(":")[2]


def children(el: Element, name: str) -> Iterator[Element]:
    for c in el:
        if isinstance(c.tag, str) and local_name(c.tag) == name:
            yield c


def child(el: Element | None, *path: str) -> Element | None:
    """Follow direct children by local name; None when any step is missing."""
    cur = el
    for name in path:
        if cur is None:
            return None
        cur = next(children(cur, name), None)
    return cur


def descendants(el: Element, name: str) -> Iterator[Element]:
    for d in el.iter():
        if isinstance(d.tag, str) and local_name(d.tag) == name:
            yield d


def descendant(el: Element | None, name: str) -> Element | None:
    return None if el is None else next(descendants(el, name), None)


def text_of(el: Element | None, *path: str) -> str | None:
    """Stripped text of the element at `path` below `el`; None when missing or empty."""
    target = child(el, *path) if path else el
    if target is None or target.text is None:
        return None
    value = target.text.strip()
    return value or None


def parse_xml(data: bytes) -> Element:
    """Parse untrusted XML: no DTD, no entities, no external references. Raises OnvifError('bad response')."""
    if len(data) > MAX_RESPONSE_BYTES:
        raise OnvifError("bad response", f"response too large ({len(data)} bytes)")
    try:
        root: Element = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise OnvifError("bad response", f"refused unsafe XML ({type(exc).__name__})") from None
    except (SafeET.ParseError, ValueError, UnicodeError, OverflowError) as exc:
        raise OnvifError("bad response", f"malformed XML: {exc}") from None
    except LookupError:  # expat looks up the prolog's encoding="..." in Python's codec registry
        raise OnvifError("bad response", "malformed XML: unknown encoding in the XML declaration") from None
    return root


def parse_envelope(data: bytes) -> Element:
    """Parse a SOAP envelope and return its Body; raise OnvifError for faults and non-SOAP documents."""
    root = parse_xml(data)
    if local_name(root.tag) != "Envelope":
        raise OnvifError("not onvif", f"not a SOAP envelope (root element {local_name(root.tag)!r})")
    body = child(root, "Body")
    if body is None:
        raise OnvifError("bad response", "SOAP envelope without a Body")
    fault = child(body, "Fault")
    if fault is not None:
        raise fault_error(fault)
    return body


_AUTH_MARKERS: Final = ("notauthorized", "failedauthentication", "invalidsecurity", "not authorized", "unauthorized")
_UNSUPPORTED_MARKERS: Final = ("actionnotsupported", "notsupported", "not supported", "unknownaction", "noservice")


def fault_error(fault: Element) -> OnvifError:
    """Map a SOAP 1.1 or 1.2 Fault to an OnvifError with the right reason."""
    codes: list[str] = []
    code = child(fault, "Code")
    while code is not None:
        value = text_of(code, "Value")
        if value:
            codes.append(local_name(value))
        code = child(code, "Subcode")
    faultcode = text_of(fault, "faultcode")
    if faultcode:
        codes.append(local_name(faultcode))
    reason_text = text_of(fault, "Reason", "Text") or text_of(fault, "faultstring") or ""
    haystack = " ".join([*codes, reason_text]).lower()
    detail = f"SOAP fault {'/'.join(codes) or '?'}: {reason_text}".strip()
    if any(marker in haystack for marker in _AUTH_MARKERS):
        return OnvifError("auth failed", detail)
    if any(marker in haystack for marker in _UNSUPPORTED_MARKERS):
        return OnvifError("not supported", detail)
    return OnvifError("bad response", detail)


def xsd_datetime(value: str | None) -> datetime | None:
    """An xs:dateTime as an aware UTC datetime (naive values are taken as UTC); None if absent or invalid."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
