"""Webhook signatures: what the gateway sends and what a receiver checks.

Every webhook POST carries two headers:

    X-Gateway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, b"<t>." + body)>
    X-Gateway-Message-Id: <id>

The signature covers the timestamp, so a captured request cannot be replayed later than the tolerance,
and the message id (remembered by a ReplayGuard) stops replays inside it. During a key rotation the
header may carry several v1= entries and a receiver may accept several secrets. Receiver example
(this module has no dependencies beyond the standard library; copy it or import it):

    from adapters.webhook.signing import ReplayedMessage, ReplayGuard, SignatureError, verify

    guard = ReplayGuard()  # one per process, shared by all requests

    def handle(body: bytes, headers: Mapping[str, str]) -> int:
        try:
            verify(body, headers["X-Gateway-Signature"], [b"new-secret", b"old-secret"],
                   message_id=headers["X-Gateway-Message-Id"], guard=guard)
        except ReplayedMessage:
            return 200  # seen already (a resend after a lost answer, or a replay): nothing to do
        except (KeyError, SignatureError):
            return 400  # 4xx: the gateway will not retry this message
        process(json.loads(body))
        return 204

Verify the raw body bytes exactly as received, before any JSON parsing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

__all__ = [
    "BadSignature",
    "MalformedSignature",
    "ReplayGuard",
    "ReplayedMessage",
    "SignatureError",
    "StaleSignature",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "X-Gateway-Signature"
MESSAGE_ID_HEADER = "X-Gateway-Message-Id"

# Far above a real header with a handful of rotated keys; parsing attacker-sized input is pointless.
_MAX_HEADER_LEN = 2048
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class SignatureError(Exception):
    """The request must be refused."""


class MalformedSignature(SignatureError):
    pass


class BadSignature(SignatureError):
    pass


class StaleSignature(SignatureError):
    """The timestamp is outside the tolerance, in the past or in the future."""


class ReplayedMessage(SignatureError):
    pass


def _digest(body: bytes, secret: bytes, timestamp: int) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: bytes, timestamp: int) -> str:
    """The X-Gateway-Signature header value for this body."""
    return f"t={timestamp},v1={_digest(body, secret, timestamp)}"


class ReplayGuard:
    """Remembers message ids and signatures seen within window_s; thread-safe.

    window_s must be at least twice verify()'s tolerance: a message is acceptable from tolerance before
    to tolerance after its timestamp, and it must be remembered for all of that span. Memory is bounded
    by max_entries; past it the oldest entries are forgotten early (their timestamps still age out).
    """

    def __init__(self, window_s: float = 600.0, max_entries: int = 100_000) -> None:
        self.window_s = window_s
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_remember(self, message_id: str | None, now: float, *, signature: str | None = None) -> None:
        """Raise ReplayedMessage if the id (or the signature) was seen within the window, else remember both."""
        keys = ([f"id:{message_id}"] if message_id is not None else []) + ([f"sig:{signature}"] if signature else [])
        with self._lock:
            self._forget_before(now - self.window_s)
            for key in keys:
                if key in self._seen:
                    raise ReplayedMessage(f"message {message_id or signature!r} was already received")
            for key in keys:
                self._seen[key] = now
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)

    def _forget_before(self, cutoff: float) -> None:
        # Insertion order is arrival order, so the oldest entries are at the front.
        while self._seen:
            key, seen_at = next(iter(self._seen.items()))
            if seen_at >= cutoff:
                break
            del self._seen[key]


def _parse(header: str) -> tuple[int, list[str]]:
    if not header or len(header) > _MAX_HEADER_LEN:
        raise MalformedSignature("signature header is empty or too long")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise MalformedSignature("signature header entry without '='")
        if key == "t":
            if not value.isascii() or not value.isdigit() or len(value) > 12:
                raise MalformedSignature("signature timestamp is not a unix time")
            timestamp = int(value)
        elif key == "v1":
            if not _HEX64.fullmatch(value):
                raise MalformedSignature("v1 signature is not 64 hex digits")
            candidates.append(value.lower())
        # Other schemes are ignored so that a future v2 can be added next to v1.
    if timestamp is None:
        raise MalformedSignature("signature header has no t=")
    if not candidates:
        raise MalformedSignature("signature header has no v1=")
    return timestamp, candidates


def verify(
    body: bytes,
    signature_header: str,
    secret: bytes | Sequence[bytes],
    *,
    message_id: str | None = None,
    tolerance_s: float = 300,
    now: float | None = None,
    guard: ReplayGuard | None = None,
) -> int:
    """Check the signature header against the raw body; return its timestamp or raise SignatureError.

    secret may be several secrets (key rotation): any of them may match any v1= entry. With a guard, a
    valid message seen before raises ReplayedMessage; without message_id the signature alone is the key.
    """
    secrets = [secret] if isinstance(secret, bytes | bytearray) else list(secret)
    if not secrets:
        raise ValueError("no secret to verify with")
    timestamp, candidates = _parse(signature_header)
    matched: str | None = None
    for key in secrets:
        expected = _digest(body, bytes(key), timestamp)
        for candidate in candidates:
            # No early exit: the time taken must not depend on which secret or entry matched.
            if hmac.compare_digest(expected, candidate) and matched is None:
                matched = candidate
    if matched is None:
        raise BadSignature("signature does not match the body")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise StaleSignature(f"signature timestamp is {current - timestamp:+.0f} s off (tolerance {tolerance_s:g} s)")
    if guard is not None:
        guard.check_and_remember(message_id, current, signature=matched)
    return timestamp
