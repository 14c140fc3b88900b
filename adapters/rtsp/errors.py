"""Why a source failed, as a small closed set of reasons that the health model can count."""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    UNREACHABLE = "unreachable"
    REFUSED = "refused"
    AUTH_FAILED = "auth failed"
    NOT_FOUND = "not found"
    NO_VIDEO = "no video track"
    UNSUPPORTED_CODEC = "unsupported codec"
    STALLED = "stalled"
    ENDED = "stream ended"
    PROTOCOL = "protocol error"
    TIMEOUT = "timeout"
    UNSUPPORTED_SOURCE = "unsupported source"


class SourceError(Exception):
    """A source could not open or stopped; `reason` is one of Reason, `detail` is already redacted."""

    def __init__(self, reason: Reason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}")
