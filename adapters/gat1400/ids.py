"""GA/T 1400.1 object identifiers: picture (41 digits) and person/face object (48 digits) ids."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

SEQ_MODULO: Final = 100_000
TYPE_IMAGE: Final = "02"
TYPE_PERSON: Final = "01"
TYPE_FACE: Final = "06"
IMAGE_ID_LEN: Final = 41
OBJECT_ID_LEN: Final = 48

_DEVICE_ID = re.compile(r"[0-9]{20}")
_IMAGE_ID = re.compile(r"[0-9]{41}")


def viid_time(dt: datetime) -> str:
    """yyyyMMddHHmmss, as given: the view library expects the device's local wall clock."""
    return dt.strftime("%Y%m%d%H%M%S")


def _seq(seq: int) -> str:
    # Callers keep a monotonically growing counter; the id field only has room for five digits.
    return f"{seq % SEQ_MODULO:05d}"


def check_device_id(device_id: str) -> str:
    if not _DEVICE_ID.fullmatch(device_id):
        raise ValueError(f"GA/T 1400 device id must be exactly 20 digits, got {device_id!r}")
    return device_id


def image_id(device_id: str, at: datetime, seq: int) -> str:
    """DeviceID(20) + "02" + shot time(14) + sequence(5)."""
    return check_device_id(device_id) + TYPE_IMAGE + viid_time(at) + _seq(seq)


def _object_id(image: str, type_code: str, seq: int) -> str:
    if not _IMAGE_ID.fullmatch(image) or image[20:22] != TYPE_IMAGE:
        raise ValueError(f"not a GA/T 1400 image id: {image!r}")
    return image + type_code + _seq(seq)


def person_id(image: str, seq: int) -> str:
    """ImageID(41) + "01" + sequence(5)."""
    return _object_id(image, TYPE_PERSON, seq)


def face_id(image: str, seq: int) -> str:
    """ImageID(41) + "06" + sequence(5)."""
    return _object_id(image, TYPE_FACE, seq)
