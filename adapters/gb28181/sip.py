"""SIP message layer for the GB/T 28181 user agent: parse, frame, build (RFC 3261 syntax only).

No transactions, dialogs or sockets here: those belong to the user agent. Everything read from the
network goes through `parse` (one UDP datagram) or `StreamFramer` (a TCP byte stream). Hostile
input never raises anything but `SipError`, whose `status` is the response to send back (when the
bad message was a request whose Via/From/To/Call-ID/CSeq can still be read; otherwise drop it).

Header bytes are decoded as UTF-8 with ``surrogateescape``: SIP is UTF-8 (RFC 3261 section 7.3.1),
but some GB platforms put GB2312 display names into From/To, and those bytes must survive a
round trip into our responses untouched. Bodies stay bytes: MANSCDP XML declares its own encoding.
"""

from __future__ import annotations

import email.utils
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

__all__ = [
    "DEFAULT_USER_AGENT",
    "MAX_HEADERS",
    "MAX_HEADER_SECTION",
    "MAX_LINE",
    "MAX_MESSAGE",
    "REASONS",
    "SipError",
    "SipMessage",
    "StreamFramer",
    "addr_uri",
    "error_response",
    "format_gb_date",
    "header_params",
    "is_keepalive",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse",
    "parse_date",
    "request",
    "response_to",
    "split_header_list",
]

MAX_MESSAGE: Final = 64 * 1024
MAX_HEADER_SECTION: Final = 16 * 1024
MAX_HEADERS: Final = 100
MAX_LINE: Final = 8 * 1024
MAX_CSEQ: Final = 2**31 - 1  # RFC 3261 section 8.1.1.5: the sequence number MUST be < 2**31
MAX_DELTA_SECONDS: Final = 2**32 - 1  # RFC 3261 section 20.19
DEFAULT_USER_AGENT: Final = "site-video-gateway"
BRANCH_COOKIE: Final = "z9hG4bK"  # RFC 3261 section 8.1.1.7

REASONS: Final[dict[int, str]] = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    603: "Decline",
}

# RFC 3261 section 7.3.3 compact forms, plus the common ones from later RFCs (Event: RFC 6665,
# used by GB catalog/alarm subscriptions; Session-Expires: RFC 4028; Refer-To/Referred-By).
_COMPACT: Final[dict[str, str]] = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "e": "content-encoding",
    "k": "supported",
    "s": "subject",
    "o": "event",
    "u": "allow-events",
    "x": "session-expires",
    "r": "refer-to",
    "b": "referred-by",
}
_TCHAR: Final = r"A-Za-z0-9\-.!%*_+`'~"  # RFC 3261 section 25.1 `token`
_TOKEN_RE: Final = re.compile(rf"[{_TCHAR}]+")
_HEADER_RE: Final = re.compile(rf"([{_TCHAR}]+)[ \t]*:")
_VERSION_RE: Final = re.compile(r"SIP/(\d{1,4})\.(\d{1,4})", re.IGNORECASE)
_STATUS_RE: Final = re.compile(r"[1-6][0-9][0-9]")
_SCHEME_RE: Final = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*):")
_CSEQ_RE: Final = re.compile(rf"[ \t]*([0-9]{{1,10}})[ \t]+([{_TCHAR}]+)[ \t]*")
_DIGITS_RE: Final = re.compile(r"[ \t]*([0-9]+)[ \t]*")
_URI_SCHEMES: Final = frozenset({"sip", "sips", "tel"})
_TRANSPORTS: Final = frozenset({"UDP", "TCP", "TLS", "SCTP", "WS", "WSS"})
_CTL_RE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CTL_BYTES_RE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class SipError(Exception):
    """A message that cannot be accepted; `status` is the SIP response code to answer with.

    `reason` is a fixed, short text (never a piece of the input, so it is safe to log and to put
    into a Warning header). Statuses: 400 malformed, 413 any size limit (message, header section,
    line, header count, Content-Length), 416 unknown Request-URI scheme, 505 not SIP/2.0.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def _key(name: str) -> str:
    low = name.lower()
    return _COMPACT.get(low, low)


def _check_field(text: str, what: str) -> str:
    # Header injection guard for values we write: a CR or LF would start a new header line.
    if _CTL_RE.search(text):
        raise ValueError(f"{what} contains a control character")
    return text


def _split_outside(value: str, sep: str) -> list[str]:
    """Split on `sep` outside quoted strings and <...> (URI params and headers live in there)."""
    parts: list[str] = []
    buf: list[str] = []
    in_quotes = escaped = in_angle = False
    for ch in value:
        if in_quotes:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
        elif ch == "<":
            in_angle = True
        elif ch == ">":
            in_angle = False
        elif ch == sep and not in_angle:
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf))
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def split_header_list(value: str) -> list[str]:
    """The comma-separated elements of one header row (RFC 3261 section 7.3.1), quote-aware."""
    return [part.strip() for part in _split_outside(value, ",") if part.strip()]


def header_params(value: str) -> dict[str, str]:
    """`;name=value` parameters of a Via, From, To or Contact value; names lowercased, flags map to "".

    Parameters inside <...> belong to the URI, not the header (RFC 3261 section 20.10), and are
    not returned. Quoted values are unquoted.
    """
    params: dict[str, str] = {}
    for part in _split_outside(value, ";")[1:]:
        name, _, val = part.partition("=")
        name = name.strip().lower()
        if name and name not in params:
            params[name] = _unquote(val.strip())
    return params


def addr_uri(value: str) -> str:
    """The URI of a name-addr or addr-spec (From, To, Contact): `"A" <sip:x@y;lr>;tag=1` -> `sip:x@y;lr`."""
    in_quotes = escaped = False
    for i, ch in enumerate(value):
        if in_quotes:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
        elif ch == "<":
            end = value.find(">", i + 1)
            return value[i + 1 : end if end > i else len(value)].strip()
    # addr-spec without <>: everything after ';' is a header parameter (RFC 3261 section 20.10).
    return _split_outside(value, ";")[0].strip()


@dataclass
class SipMessage:
    """One SIP request (`method`, `uri`) or response (`status`, `reason`).

    `headers` keeps the rows in order with the names as received (compact forms included); lookups
    are case-insensitive and understand compact forms. `body` is raw bytes.
    """

    method: str | None = None
    uri: str | None = None
    status: int | None = None
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def get(self, name: str) -> str | None:
        """The first row named `name` (any case, full or compact form), or None."""
        key = _key(name)
        for row_name, value in self.headers:
            if _key(row_name) == key:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every row named `name`, in order (rows are not split on commas; see `split_header_list`)."""
        key = _key(name)
        return [value for row_name, value in self.headers if _key(row_name) == key]

    def set(self, name: str, value: str) -> None:
        """Replace the first row named `name` in place and drop the others; append when absent."""
        _check_field(name, "header name")
        _check_field(value, "header value")
        if not _TOKEN_RE.fullmatch(name):
            raise ValueError("header name is not a token")
        key = _key(name)
        out: list[tuple[str, str]] = []
        placed = False
        for row in self.headers:
            if _key(row[0]) != key:
                out.append(row)
            elif not placed:
                out.append((name, value))
                placed = True
        if not placed:
            out.append((name, value))
        self.headers = out

    def add(self, name: str, value: str) -> None:
        """Append a row (for headers that may repeat: Via, Record-Route, WWW-Authenticate ...)."""
        _check_field(name, "header name")
        _check_field(value, "header value")
        if not _TOKEN_RE.fullmatch(name):
            raise ValueError("header name is not a token")
        self.headers.append((name, value))

    def remove(self, name: str) -> None:
        key = _key(name)
        self.headers = [row for row in self.headers if _key(row[0]) != key]

    def _require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SipError(400, f"missing {name}")
        return value

    @property
    def call_id(self) -> str:
        value = self._require("Call-ID").strip()
        if not value:
            raise SipError(400, "empty Call-ID")
        return value

    @property
    def cseq(self) -> tuple[int, str]:
        """(sequence number, method); RFC 3261 section 8.1.1.5."""
        match = _CSEQ_RE.fullmatch(self._require("CSeq"))
        if match is None:
            raise SipError(400, "malformed CSeq")
        number = int(match.group(1))
        if number > MAX_CSEQ:
            raise SipError(400, "CSeq number out of range")
        return number, match.group(2)

    @property
    def from_tag(self) -> str | None:
        value = self.get("From")
        return None if value is None else header_params(value).get("tag") or None

    @property
    def to_tag(self) -> str | None:
        value = self.get("To")
        return None if value is None else header_params(value).get("tag") or None

    @property
    def vias(self) -> list[str]:
        """Every Via value, top first, comma-combined rows split (RFC 3261 section 7.3.1)."""
        return [via for row in self.get_all("Via") for via in split_header_list(row)]

    @property
    def via_branch(self) -> str | None:
        """The top Via's branch: the transaction key of RFC 3261 section 17.2.3."""
        vias = self.vias
        return header_params(vias[0]).get("branch") or None if vias else None

    @property
    def content_type(self) -> str | None:
        """The media type, lowercased and without parameters (`application/manscdp+xml`)."""
        value = self.get("Content-Type")
        if value is None:
            return None
        media = value.split(";", 1)[0].strip().lower()
        return media or None

    @property
    def expires(self) -> int | None:
        """Expires header, else the first Contact's `expires` param (how registrars answer).

        None when absent or malformed; values above 2**32-1 are clamped (RFC 3261 section 20.19).
        """
        candidates: list[str] = []
        header = self.get("Expires")
        if header is not None:
            candidates.append(header)
        contact = self.get("Contact")
        if contact is not None:
            first = split_header_list(contact)
            if first:
                candidates.append(header_params(first[0]).get("expires", ""))
        for text in candidates:
            match = _DIGITS_RE.fullmatch(text)
            if match is not None:
                digits = match.group(1).lstrip("0") or "0"
                return MAX_DELTA_SECONDS if len(digits) > 10 else min(int(digits), MAX_DELTA_SECONDS)
        return None

    def start_line(self) -> str:
        if self.method is not None:
            return f"{self.method} {self.uri} SIP/2.0"
        reason = self.reason if self.reason is not None else REASONS.get(self.status or 0, "")
        return f"SIP/2.0 {self.status} {reason}"

    def to_bytes(self) -> bytes:
        """Wire form: CRLF line ends; exactly one Content-Length, equal to len(body) (RFC 3261 18.3)."""
        lines = [self.start_line()]
        wrote_length = False
        for name, value in self.headers:
            if _key(name) == "content-length":
                if wrote_length:
                    continue
                value = str(len(self.body))
                wrote_length = True
            lines.append(f"{name}: {value}")
        if not wrote_length:
            lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body


# --- parsing ------------------------------------------------------------------------------------


def is_keepalive(data: bytes) -> bool:
    """True for a datagram or chunk of only CR/LF: a keepalive ping/pong (RFC 5626 section 3.5.1)."""
    return bool(data) and not data.strip(b"\r\n")


def _skip_crlf(data: bytes | bytearray) -> int:
    # RFC 3261 section 7.5: CRLFs before the start line are ignored.
    i = 0
    while i < len(data) and data[i] in (10, 13):
        i += 1
    return i


def _find_head_end(data: bytes | bytearray, start: int, scan_from: int) -> tuple[int, int] | None:
    """(end of the header section, start of the body), or None while the empty line is missing.

    Bare LF line ends are tolerated (RFC 3261 section 7.5 recommends leniency on input).
    """
    limit = start + MAX_HEADER_SECTION + 4
    crlf = data.find(b"\r\n\r\n", scan_from, limit)
    lf = data.find(b"\n\n", scan_from, limit)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        end, body = crlf, crlf + 4
    elif lf >= 0:
        end, body = lf, lf + 2
    else:
        return None
    if end - start > MAX_HEADER_SECTION:
        raise SipError(413, "header section too large")
    return end, body


def _parse_start_line(line: str) -> SipMessage:
    if _CTL_RE.search(line):
        raise SipError(400, "control character in start line")
    if line[:4].upper() == "SIP/":
        parts = line.split(" ", 2)
        _check_version(parts[0])
        if len(parts) < 2 or not _STATUS_RE.fullmatch(parts[1]):
            raise SipError(400, "malformed status line")
        # Some platforms omit the reason phrase; the code alone is enough.
        return SipMessage(status=int(parts[1]), reason=parts[2] if len(parts) == 3 else "")
    parts = line.split(" ")
    if len(parts) != 3 or not line.isascii():
        raise SipError(400, "malformed request line")
    method, uri, version = parts
    _check_version(version)
    if not _TOKEN_RE.fullmatch(method):
        raise SipError(400, "malformed method")
    scheme = _SCHEME_RE.match(uri)
    if scheme is None:
        raise SipError(400, "malformed Request-URI")
    if scheme.group(1).lower() not in _URI_SCHEMES:
        raise SipError(416, "unsupported URI scheme")  # RFC 3261 section 8.2.2.1
    return SipMessage(method=method, uri=uri)


def _check_version(text: str) -> None:
    # RFC 3261 section 7.1: the version is case-insensitive; anything but 2.0 is 505 (section 21.5.6).
    match = _VERSION_RE.fullmatch(text)
    if match is None:
        raise SipError(400, "malformed SIP version")
    if (int(match.group(1)), int(match.group(2))) != (2, 0):
        raise SipError(505, "only SIP/2.0 is supported")


def _parse_head(head: bytes | bytearray) -> SipMessage:
    if b"\x00" in head:
        raise SipError(400, "NUL byte in header section")
    raw_lines = bytes(head).split(b"\n")
    lines: list[str] = []
    for raw in raw_lines:
        if len(raw) > MAX_LINE:
            raise SipError(413, "header line too long")
        raw = raw.removesuffix(b"\r")
        if b"\r" in raw:
            raise SipError(400, "bare CR in header section")
        if _CTL_BYTES_RE.search(raw):
            # RFC 3261 section 25.1 allows no CTLs but HTAB in header text; refusing them here
            # also means any value we copy into a response is safe to write back.
            raise SipError(400, "control character in header section")
        lines.append(raw.decode("utf-8", "surrogateescape"))
    msg = _parse_start_line(lines[0])
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            # Folding: a continuation line is the same as one SP (RFC 3261 section 7.3.1).
            if not headers:
                raise SipError(400, "continuation line before any header")
            name, value = headers[-1]
            more = line.strip(" \t")
            # An empty continuation adds nothing (not a trailing space a re-read would strip).
            value = f"{value} {more}" if value and more else value or more
            if len(value) > MAX_LINE:
                raise SipError(413, "header field too long")
            headers[-1] = (name, value)
            continue
        match = _HEADER_RE.match(line)
        if match is None:
            raise SipError(400, "malformed header line")
        if len(headers) >= MAX_HEADERS:
            raise SipError(413, "too many header fields")
        headers.append((match.group(1), line[match.end() :].strip(" \t")))
    msg.headers = headers
    return msg


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    lengths: set[int] = set()
    for name, value in headers:
        if _key(name) != "content-length":
            continue
        match = _DIGITS_RE.fullmatch(value)
        if match is None:
            raise SipError(400, "malformed Content-Length")
        digits = match.group(1).lstrip("0") or "0"
        if len(digits) > 6 or int(digits) > MAX_MESSAGE:
            raise SipError(413, "Content-Length too large")
        lengths.add(int(digits))
    if len(lengths) > 1:
        raise SipError(400, "conflicting Content-Length headers")
    return lengths.pop() if lengths else None


def _validate(msg: SipMessage) -> None:
    # RFC 3261 section 8.1.1: To, From, CSeq, Call-ID and Via are mandatory (Max-Forwards is
    # tolerated when missing: some GB platforms leave it out of in-dialog requests).
    for name in ("Via", "From", "To"):
        if not (msg.get(name) or "").strip():
            raise SipError(400, f"missing {name}")
    _ = msg.call_id
    _, method = msg.cseq
    if msg.method is not None and method != msg.method:
        raise SipError(400, "CSeq method does not match the request")


def parse(data: bytes) -> SipMessage:
    """Parse one SIP message from a UDP datagram; raises only `SipError`.

    Without Content-Length the body runs to the end of the datagram; bytes after a shorter
    Content-Length are discarded; a longer one is a 400 (RFC 3261 section 18.3).
    """
    if len(data) > MAX_MESSAGE:
        raise SipError(413, "message too large")
    start = _skip_crlf(data)
    if start == len(data):
        raise SipError(400, "empty message")
    found = _find_head_end(data, start, start)
    if found is None:
        if len(data) - start > MAX_HEADER_SECTION:
            raise SipError(413, "header section too large")
        raise SipError(400, "header section not terminated")
    head_end, body_start = found
    msg = _parse_head(data[start:head_end])
    length = _content_length(msg.headers)
    rest = data[body_start:]
    if length is None:
        msg.body = rest
    elif length > len(rest):
        raise SipError(400, "Content-Length larger than the message")
    else:
        msg.body = rest[:length]
    _validate(msg)
    return msg


class StreamFramer:
    """Cuts a TCP byte stream into SIP messages (RFC 3261 section 18.3: Content-Length is required).

    CR/LF between messages are keep-alives (RFC 5626 section 3.5.1 pings are CRLFCRLF, pongs
    CRLF) and are skipped; `keepalive_lfs` counts their LFs so the transport can answer a ping
    with CRLF or notice a pong. Memory is bounded: a header section that does not end within
    16 KiB, or a body over 64 KiB, is a 413.

    Any error loses the framing, so the framer is dead afterwards and the connection should be
    closed. Messages completed before the error are returned first; the error is raised by the
    next `feed` (call `feed(b"")` to flush it) and is also kept in `error`.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scan = 0
        self._pending: tuple[SipMessage, int, int] | None = None
        self.error: SipError | None = None
        self.keepalive_lfs = 0

    def feed(self, chunk: bytes) -> list[SipMessage]:
        if self.error is not None:
            raise SipError(self.error.status, self.error.reason)
        self._buf += chunk
        out: list[SipMessage] = []
        try:
            while (msg := self._next()) is not None:
                out.append(msg)
        except SipError as exc:
            self.error = exc
            self._buf.clear()
            self._pending = None
            if not out:
                raise
        return out

    def _next(self) -> SipMessage | None:
        buf = self._buf
        if self._pending is None:
            skip = _skip_crlf(buf)
            if skip:
                self.keepalive_lfs += buf.count(b"\n", 0, skip)
                del buf[:skip]
                self._scan = 0
            if not buf:
                return None
            # Resume the search a few bytes back so an empty line split across chunks is found.
            found = _find_head_end(buf, 0, max(0, self._scan - 3))
            if found is None:
                if len(buf) > MAX_HEADER_SECTION:
                    raise SipError(413, "header section too large")
                self._scan = len(buf)
                return None
            head_end, body_start = found
            msg = _parse_head(buf[:head_end])
            length = _content_length(msg.headers)
            if length is None:
                raise SipError(400, "Content-Length required on a stream transport")
            if body_start + length > MAX_MESSAGE:
                raise SipError(413, "message too large")
            _validate(msg)
            self._pending = (msg, body_start, length)
        msg, body_start, length = self._pending
        if len(buf) < body_start + length:
            return None
        msg.body = bytes(buf[body_start : body_start + length])
        del buf[: body_start + length]
        self._pending = None
        self._scan = 0
        return msg


# --- answering what did not parse ----------------------------------------------------------------

_ERROR_HEADERS: Final = frozenset({"via", "from", "to", "call-id", "cseq"})


def error_response(data: bytes, error: SipError, user_agent: str | None = DEFAULT_USER_AGENT) -> SipMessage | None:
    """The `error.status` answer to a request that failed `parse`, or None when none can be built.

    RFC 3261 section 8.2 wants a malformed request answered when it can be, so the sender stops
    retransmitting and learns why. Only the start line and the five headers a response copies are
    read, leniently and within the usual limits; a response, or a request whose Via, From, To,
    Call-ID or CSeq cannot be found, is dropped (there is nobody to answer).
    """
    start = _skip_crlf(data)
    head = data[start : start + MAX_HEADER_SECTION]
    end = head.find(b"\r\n\r\n")
    lines = (head if end < 0 else head[:end]).split(b"\n")
    first = lines[0].removesuffix(b"\r").decode("ascii", "replace")
    parts = first.split(" ")
    if len(parts) != 3 or not _TOKEN_RE.fullmatch(parts[0]) or not _VERSION_RE.fullmatch(parts[2]):
        return None
    method = parts[0]
    if method == "ACK":
        return None  # never answered (RFC 3261 section 17.2.1)
    found: list[tuple[str, str]] = []
    for raw in lines[1 : MAX_HEADERS + 1]:
        raw = raw.removesuffix(b"\r")
        if len(raw) > MAX_LINE or _CTL_BYTES_RE.search(raw):
            continue
        line = raw.decode("utf-8", "surrogateescape")
        match = _HEADER_RE.match(line)
        if match is not None and _key(match.group(1)) in _ERROR_HEADERS:
            found.append((match.group(1), line[match.end() :].strip(" \t")))
    present = {_key(name) for name, _ in found}
    if present != _ERROR_HEADERS:
        return None
    req = SipMessage(method=method, uri="sip:invalid", headers=found)
    try:
        # The sender matches an answer by its Call-ID: without a readable one, or with an empty
        # Via/From/To, there is nobody to answer. The CSeq is echoed as it came (RFC 3261 8.2.6.2),
        # readable or not, so a sender with a broken CSeq still learns why it was refused.
        _ = req.call_id
        if not all((req.get(name) or "").strip() for name in ("Via", "From", "To")):
            return None
        return response_to(req, error.status, error.reason, user_agent=user_agent)
    except (SipError, ValueError):
        return None


# --- building -----------------------------------------------------------------------------------


def new_branch() -> str:
    """A Via branch with the RFC 3261 magic cookie (section 8.1.1.7)."""
    return BRANCH_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    """A From/To tag: 32 random bits at least (RFC 3261 section 19.3); digits-only suits GB peers."""
    return str(secrets.randbelow(10**10)).zfill(10)


def new_call_id(host: str) -> str:
    """A globally unique Call-ID (RFC 3261 section 8.1.1.4)."""
    return f"{secrets.token_hex(12)}@{_check_field(host, 'host')}"


def _name_addr(uri: str, tag: str | None) -> str:
    _check_field(uri, "URI")
    value = uri if "<" in uri else f"<{uri}>"
    if tag:
        value += f";tag={_check_field(tag, 'tag')}"
    return value


def _host_port(host: str, port: int) -> str:
    if not 0 < port < 65536:
        raise ValueError("port out of range")
    host = _check_field(host, "host")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 reference (RFC 3261 section 25.1)
    return f"{host}:{port}"


def _append_body(
    msg: SipMessage, extra_headers: Iterable[tuple[str, str]], body: bytes, content_type: str | None
) -> None:
    for name, value in extra_headers:
        msg.add(name, value)
    if body and content_type is None:
        raise ValueError("a body needs a Content-Type (RFC 3261 section 20.15)")
    if content_type is not None:
        msg.set("Content-Type", content_type)
    msg.set("Content-Length", str(len(body)))
    msg.body = body


def request(
    method: str,
    uri: str,
    *,
    via_host: str,
    via_port: int,
    transport: str,
    from_uri: str,
    from_tag: str,
    to_uri: str,
    to_tag: str | None = None,
    call_id: str,
    cseq: int,
    contact: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
    branch: str | None = None,
    max_forwards: int = 70,
    user_agent: str | None = DEFAULT_USER_AGENT,
) -> SipMessage:
    """A request with the mandatory headers of RFC 3261 section 8.1.1 in the usual order.

    The Via carries `rport` (RFC 3581) so replies find us through NAT. A fresh branch is made
    unless `branch` is given (a CANCEL or a non-2xx ACK reuses the INVITE's, section 9.1/17.1.1.3).
    Bad arguments raise ValueError (they are our bugs, not the peer's).
    """
    if not _TOKEN_RE.fullmatch(method):
        raise ValueError("method is not a token")
    _check_field(uri, "Request-URI")
    if " " in uri or _SCHEME_RE.match(uri) is None:
        raise ValueError("Request-URI is not a URI")
    transport = transport.upper()
    if transport not in _TRANSPORTS:
        raise ValueError("unknown transport")
    if not 0 <= cseq <= MAX_CSEQ:
        raise ValueError("CSeq out of range")
    if not 0 <= max_forwards <= 255:
        raise ValueError("Max-Forwards out of range")
    branch = branch or new_branch()
    msg = SipMessage(method=method, uri=uri)
    msg.add("Via", f"SIP/2.0/{transport} {_host_port(via_host, via_port)};rport;branch={branch}")
    msg.add("From", _name_addr(from_uri, from_tag))
    msg.add("To", _name_addr(to_uri, to_tag))
    msg.add("Call-ID", call_id)
    msg.add("CSeq", f"{cseq} {method}")
    if contact is not None:
        msg.add("Contact", _name_addr(contact, None))
    msg.add("Max-Forwards", str(max_forwards))
    if user_agent:
        msg.add("User-Agent", user_agent)
    _append_body(msg, extra_headers, body, content_type)
    return msg


def _stamp_via(via_row: str, host: str, port: int) -> str:
    """Add received/rport to the top Via of a row (RFC 3261 section 18.2.1, RFC 3581 section 4)."""
    vias = _split_outside(via_row, ",")
    top = vias[0].strip()
    parts = [part.strip() for part in _split_outside(top, ";")]
    names = [part.partition("=")[0].strip().lower() for part in parts]
    sent_by = parts[0].split(None, 1)[-1] if parts[0].split() else ""
    sent_host = sent_by.rsplit(":", 1)[0] if not sent_by.startswith("[") else sent_by.split("]")[0] + "]"
    has_rport = "rport" in names[1:]
    out = [parts[0]]
    for name, part in zip(names[1:], parts[1:], strict=True):
        if name == "rport":
            out.append(f"rport={port}")
        elif name != "received":
            out.append(part)
    if has_rport or sent_host.strip("[]") != host:
        out.append(f"received={host}")
    vias[0] = ";".join(out)
    return ",".join(vias)


def stamp_received(resp: SipMessage, source: tuple[str, int]) -> SipMessage:
    """`resp` with received/rport filled in its top Via for the request's source address (RFC 3261
    section 18.2.1, RFC 3581 section 4), whoever built it; idempotent. The response then goes back
    through NAT the way the request came."""
    for index, (name, value) in enumerate(resp.headers):
        if _key(name) == "via":
            resp.headers[index] = (name, _stamp_via(value, *source))
            break
    return resp


def response_to(
    req: SipMessage,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
    received: tuple[str, int] | None = None,
    user_agent: str | None = DEFAULT_USER_AGENT,
) -> SipMessage:
    """A response to `req` as RFC 3261 section 8.2.6.2 requires.

    Via rows (in order), From, Call-ID and CSeq are copied; To is copied and, when the request had
    no To tag, gets `to_tag` (a fresh one if None) except on 100 Trying. Record-Route is copied on
    1xx/2xx (section 12.1.1), Timestamp on 100 (section 8.2.6.1). `received` is the packet's source
    address: it fills in the top Via's received/rport so the answer goes back through NAT.
    """
    if not req.is_request:
        raise ValueError("can only answer a request")
    if not 100 <= status <= 699:
        raise ValueError("status out of range")
    if reason is not None:
        _check_field(reason, "reason")
    msg = SipMessage(status=status, reason=reason if reason is not None else REASONS.get(status, ""))
    first_via = True
    for name, value in req.headers:
        key = _key(name)
        if key == "via":
            if first_via and received is not None:
                value = _stamp_via(value, *received)
            first_via = False
            msg.add("Via", value)
        elif key == "record-route" and 100 < status < 300:
            msg.add("Record-Route", value)
    for name in ("From", "Call-ID", "CSeq"):
        copied = req.get(name)
        if copied is not None:
            msg.add(name, copied)
    to_value = req.get("To")
    if to_value is not None:
        if status > 100 and not header_params(to_value).get("tag"):
            to_value += f";tag={_check_field(to_tag or new_tag(), 'tag')}"
        msg.add("To", to_value)
    stamp = req.get("Timestamp")
    if status == 100 and stamp is not None:
        msg.add("Timestamp", stamp)
    if user_agent:
        msg.add("User-Agent", user_agent)
    _append_body(msg, extra_headers, body, content_type)
    return msg


# --- Date (GB/T 28181 time sync) ----------------------------------------------------------------

_GB_DATE_RE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})?"
)


def parse_date(value: str) -> datetime | None:
    """The time in a Date header, or None when it cannot be read.

    GB/T 28181 registrars send `2024-05-01T08:00:00.000`: the platform's local time without a zone,
    returned as a naive datetime (the caller knows the platform's zone, normally UTC+8). A zone
    suffix, if a platform adds one, gives an aware datetime. RFC 1123 dates (`Wed, 01 May 2024
    00:00:00 GMT`, RFC 3261 section 20.17) give an aware UTC datetime.
    """
    text = value.strip()
    if not text or len(text) > 64:
        return None
    match = _GB_DATE_RE.fullmatch(text)
    if match is not None:
        year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
        micro = int((match.group(7) or "0")[:6].ljust(6, "0"))
        tz: timezone | None = None
        zone = match.group(8)
        if zone:
            if zone in ("Z", "z"):
                tz = UTC
            else:
                digits = zone[1:].replace(":", "")
                offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
                if offset >= timedelta(hours=24):
                    return None
                tz = timezone(-offset if zone[0] == "-" else offset)
        try:
            return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
        except ValueError:
            return None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # "-0000" means UTC with unknown local zone (RFC 5322 3.3)
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_gb_date(moment: datetime) -> str:
    """`2024-05-01T08:00:00.000`, the GB/T 28181 Date form (local time of the sender, no zone)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
