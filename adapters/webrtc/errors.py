"""Errors of the WebRTC adapter, with a message a viewer's developer can act on."""

from __future__ import annotations


class OfferError(ValueError):
    """The SDP offer cannot be answered: malformed, no video, or no codec we can send."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)
