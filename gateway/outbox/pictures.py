"""A ticket message's picture: a JPEG carried in the payload as `picture_b64` (base64), at most
`MAX_PICTURE_BYTES`, for the channels that can show one without a public URL (a WeCom bot's image
message, an e-mail's inline picture).

A ticket has no events-table row whose snapshot a channel could read at delivery time (as detection
events do, by `event_id`), so the picture travels with the message: stored once in the outbox whatever
the number of destinations, and the same on every resend.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Final

from gateway.outbox.messages import thumbnail

PICTURE_KEY: Final = "picture_b64"
MAX_PICTURE_BYTES: Final = 512 * 1024
_JPEG_START: Final = b"\xff\xd8\xff"
# Widths tried, largest first, when a picture is too big as it is.
_SHRINK_WIDTHS: Final = (1920, 1280, 960, 640)


def attach_picture(payload: dict[str, Any], jpeg: bytes | None) -> dict[str, Any]:
    """A copy of the payload carrying the JPEG, made smaller when it is over the bound (blocking:
    decodes and encodes), or without a picture when it is none or cannot be read."""
    out = {k: v for k, v in payload.items() if k != PICTURE_KEY}
    if not jpeg or not jpeg.startswith(_JPEG_START):
        return out
    picture: bytes | None = jpeg
    for width in _SHRINK_WIDTHS:
        if picture is not None and len(picture) <= MAX_PICTURE_BYTES:
            break
        picture = thumbnail(jpeg, width)
    if picture is None or len(picture) > MAX_PICTURE_BYTES:
        return out
    out[PICTURE_KEY] = base64.b64encode(picture).decode("ascii")
    return out


def picture_of(payload: dict[str, Any]) -> bytes | None:
    """The JPEG a payload carries, or None (none, not base64, not a JPEG, or over the bound)."""
    encoded = payload.get(PICTURE_KEY)
    if not isinstance(encoded, str) or len(encoded) > (MAX_PICTURE_BYTES * 4) // 3 + 4:
        return None
    try:
        picture = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not picture.startswith(_JPEG_START) or len(picture) > MAX_PICTURE_BYTES:
        return None
    return picture
