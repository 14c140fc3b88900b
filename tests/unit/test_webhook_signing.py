from __future__ import annotations

import hashlib
import hmac

import pytest

from adapters.webhook.signing import (
    BadSignature,
    MalformedSignature,
    ReplayedMessage,
    ReplayGuard,
    StaleSignature,
    sign,
    verify,
)

BODY = b'{"event":"intrusion","camera":"cam-1"}'
SECRET = b"s3cret"
T = 1_700_000_000


def test_roundtrip_matches_the_documented_construction() -> None:
    header = sign(BODY, SECRET, T)
    expected = hmac.new(SECRET, f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={T},v1={expected}"
    assert verify(BODY, header, SECRET, now=T + 10) == T


def test_tampered_body_and_wrong_secret() -> None:
    header = sign(BODY, SECRET, T)
    with pytest.raises(BadSignature):
        verify(BODY + b" ", header, SECRET, now=T)
    with pytest.raises(BadSignature):
        verify(BODY, header, b"other", now=T)
    # The timestamp is signed too: moving it breaks the signature.
    with pytest.raises(BadSignature):
        verify(BODY, header.replace(f"t={T}", f"t={T + 1}"), SECRET, now=T)


def test_key_rotation_secrets_and_several_v1_entries() -> None:
    old, new = b"old-key", b"new-key"
    assert verify(BODY, sign(BODY, old, T), [new, old], now=T) == T
    both = sign(BODY, new, T) + "," + sign(BODY, old, T).split(",")[1]
    assert verify(BODY, both, old, now=T) == T
    assert verify(BODY, both, [new], now=T) == T
    # Unknown schemes are ignored next to a valid v1.
    assert verify(BODY, both + ",v2=abc", old, now=T) == T
    with pytest.raises(ValueError):
        verify(BODY, both, [], now=T)


@pytest.mark.parametrize("offset", [301, -301, 86_400])
def test_stale_and_future_timestamps(offset: int) -> None:
    header = sign(BODY, SECRET, T)
    with pytest.raises(StaleSignature):
        verify(BODY, header, SECRET, now=T + offset)
    assert verify(BODY, header, SECRET, now=T + offset, tolerance_s=abs(offset)) == T


def test_replayed_message_id_and_signature() -> None:
    guard = ReplayGuard()
    header = sign(BODY, SECRET, T)
    verify(BODY, header, SECRET, message_id="m1", now=T, guard=guard)
    with pytest.raises(ReplayedMessage):
        verify(BODY, header, SECRET, message_id="m1", now=T + 1, guard=guard)
    # Same bytes under another id: still the same signature.
    with pytest.raises(ReplayedMessage):
        verify(BODY, header, SECRET, message_id="m2", now=T + 1, guard=guard)
    # Without ids, distinct messages pass and the signature is the key.
    other = sign(b"{}", SECRET, T)
    verify(b"{}", other, SECRET, now=T, guard=guard)
    with pytest.raises(ReplayedMessage):
        verify(b"{}", other, SECRET, now=T, guard=guard)


def test_invalid_signatures_are_not_remembered() -> None:
    guard = ReplayGuard()
    with pytest.raises(BadSignature):
        verify(BODY, sign(BODY, b"forged", T), SECRET, message_id="m1", now=T, guard=guard)
    assert len(guard) == 0
    verify(BODY, sign(BODY, SECRET, T), SECRET, message_id="m1", now=T, guard=guard)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "v1=" + "a" * 64,  # no t
        f"t={T}",  # no v1
        f"t={T},v1=" + "g" * 64,  # not hex
        f"t={T},v1=abcd",  # short
        f"t=soon,v1={'a' * 64}",
        f"t=-5,v1={'a' * 64}",
        f"t={T},v1",
        f"t={T}," + ",".join(["v1=" + "a" * 64] * 100),  # huge
        "x" * 100_000,
    ],
)
def test_malformed_headers(header: str) -> None:
    with pytest.raises(MalformedSignature):
        verify(BODY, header, SECRET, now=T)


def test_guard_forgets_after_the_window_and_is_bounded() -> None:
    guard = ReplayGuard(window_s=600)
    guard.check_and_remember("m1", 1000.0)
    with pytest.raises(ReplayedMessage):
        guard.check_and_remember("m1", 1599.0)
    guard.check_and_remember("m2", 1700.0)  # m1 is older than the window now
    assert len(guard) == 1
    guard.check_and_remember("m1", 1700.5)

    small = ReplayGuard(max_entries=3)
    for i in range(10):
        small.check_and_remember(f"id{i}", 0.0)
    assert len(small) == 3
