"""Fuzz target `sip`: SIP datagrams and TCP streams from a platform (adapters/gb28181/sip.py, digest).

Covers `sip.parse` (one UDP datagram), `StreamFramer` (the same bytes cut into fuzzer-chosen
chunks), `error_response` (what we answer to a request that did not parse), the header accessors
the user agent routes on (Call-ID, CSeq, Via branch, tags, Expires, Date), `response_to` as the
user agent answers every request, and the Digest parsers for WWW-Authenticate/Authorization.
Allowed: `SipError`, and `DigestError` from the Digest parsers. Invariants: a parsed message,
serialised, parses again to the same start line, headers and body; every response we build parses again (an error answer
echoes an unreadable CSeq verbatim, so that one is exempt).
"""

from __future__ import annotations

import contextlib

from fuzz import check
from fuzz._atheris import INSTRUMENTED, instrument_imports, main

with instrument_imports(include=INSTRUMENTED):
    from adapters.common import digest
from adapters.gb28181 import sip


def _same(a: sip.SipMessage, b: sip.SipMessage) -> bool:
    return (a.method, a.uri, a.status, a.reason, a.body) == (b.method, b.uri, b.status, b.reason, b.body) and [
        row for row in a.headers if sip._key(row[0]) != "content-length"
    ] == [row for row in b.headers if sip._key(row[0]) != "content-length"]


def _reparses(msg: sip.SipMessage, what: str) -> sip.SipMessage:
    try:
        again = sip.parse(msg.to_bytes())
    except sip.SipError as exc:
        raise AssertionError(f"{what} does not parse again: {exc}") from None
    return again


def _cseq_readable(msg: sip.SipMessage) -> bool:
    try:
        _ = msg.cseq
    except (sip.SipError, ValueError):
        return False
    return True


def _accessors(msg: sip.SipMessage) -> None:
    for reader in (lambda: msg.call_id, lambda: msg.cseq):
        with contextlib.suppress(sip.SipError):
            reader()
    _ = (msg.from_tag, msg.to_tag, msg.vias, msg.via_branch, msg.content_type, msg.expires, msg.is_request)
    date = msg.get("Date")
    if date is not None:
        sip.parse_date(date)
    for name in ("WWW-Authenticate", "Proxy-Authenticate"):
        for value in msg.get_all(name):
            with contextlib.suppress(digest.DigestError):
                digest.parse_challenge(value)
    for name in ("Authorization", "Proxy-Authorization"):
        for value in msg.get_all(name):
            with contextlib.suppress(digest.DigestError):
                digest.parse_authorization(value)


def _answer(msg: sip.SipMessage) -> None:
    """What the user agent does with any request: answer it (with received/rport), and re-read ours."""
    if not msg.is_request or msg.method == "ACK":
        return
    for status in (100, 200, 405):
        resp = sip.response_to(msg, status, received=("192.0.2.7", 5062), extra_headers=[("Allow", "MESSAGE")])
        again = _reparses(resp, f"our {status} answer")
        check(again.status == status, "our answer's status changed on re-reading")


def test_one_input(data: bytes) -> None:
    raw = data
    split = len(data) // 3  # the stream arrives in two TCP segments

    try:
        msg = sip.parse(raw)
    except sip.SipError as exc:
        check(100 <= exc.status <= 699, "SipError status out of range")
        answer = sip.error_response(raw, exc)
        if answer is not None and _cseq_readable(answer):
            # An unreadable CSeq is echoed verbatim by design; everything else must parse again.
            _reparses(answer, "our error answer")
    else:
        again = _reparses(msg, "a parsed message")
        check(_same(msg, again), "a parsed message changed after serialising and parsing again")
        _accessors(msg)
        _answer(msg)

    framer = sip.StreamFramer()
    chunks = [raw[:split], raw[split:], b""] if split else [raw, b""]
    for chunk in chunks:
        try:
            for framed in framer.feed(chunk):
                _accessors(framed)
        except sip.SipError:
            break


if __name__ == "__main__":
    main(test_one_input)
