"""GA/T 1400.3/1400.4 JSON objects: person and face records with sub-images, and the server's
ResponseStatus answers. Pure: no I/O. Parsers take untrusted network input and raise only
Gat1400ProtocolError, so a malformed answer fails one request instead of crashing a task.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from adapters.gat1400.ids import viid_time

# ImageType codes (GA/T 1400.3): 10 person picture, 11 face picture, 14 scene picture.
IMAGE_PERSON: Final = "10"
IMAGE_FACE: Final = "11"
IMAGE_SCENE: Final = "14"
# EventSort (自动分析事件类型): the standard's code table was not at hand; public GA/T 1400 samples of
# device-captured person/face records use 10, so that is the default. Callers may override per image.
EVENT_SORT_DEFAULT: Final = 10
INFO_KIND_AUTO: Final = 1  # InfoKind 1: collected automatically (0 other, 2 entered by hand)

ViidObject = dict[str, Any]

_INT = re.compile(r"-?[0-9]{1,9}")


class Gat1400Error(Exception):
    """Anything that went wrong talking GA/T 1400."""


class Gat1400ProtocolError(Gat1400Error):
    """The server's answer is not what GA/T 1400.4 says it should be."""


@dataclass(frozen=True)
class Box:
    """Pixel box in the scene picture: (x1, y1) left-top, (x2, y2) right-bottom."""

    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True)
class SubImage:
    image_id: str
    type_code: str
    jpeg: bytes = field(repr=False)
    width: int
    height: int
    shot_at: datetime
    event_sort: int = EVENT_SORT_DEFAULT


@dataclass(frozen=True)
class ResponseStatus:
    request_url: str
    status_code: int
    status_string: str
    id: str
    local_time: str

    @property
    def ok(self) -> bool:
        return self.status_code == 0


def sub_image_info(img: SubImage, device_id: str) -> ViidObject:
    return {
        "ImageID": img.image_id,
        "EventSort": img.event_sort,
        "DeviceID": device_id,
        "StoragePath": "",
        "Type": img.type_code,
        "FileFormat": "Jpeg",
        "ShotTime": viid_time(img.shot_at),
        "Width": img.width,
        "Height": img.height,
        "Data": base64.b64encode(img.jpeg).decode("ascii"),
    }


def _common(device_id: str, source_id: str, box: Box, appear: datetime, images: Sequence[SubImage]) -> ViidObject:
    return {
        "InfoKind": INFO_KIND_AUTO,
        "SourceID": source_id,
        "DeviceID": device_id,
        "LeftTopX": int(box.x1),
        "LeftTopY": int(box.y1),
        "RightBtmX": int(box.x2),
        "RightBtmY": int(box.y2),
        "LocationMarkTime": viid_time(appear),
        "SubImageList": {"SubImageInfoObject": [sub_image_info(i, device_id) for i in images]},
    }


def person_object(
    person_id: str,
    device_id: str,
    source_id: str,
    box: Box,
    appear: datetime,
    disappear: datetime,
    images: Sequence[SubImage],
) -> ViidObject:
    obj: ViidObject = {"PersonID": person_id}
    obj.update(_common(device_id, source_id, box, appear, images))
    obj["PersonAppearTime"] = viid_time(appear)
    obj["PersonDisAppearTime"] = viid_time(disappear)
    return obj


def face_object(
    face_id: str,
    device_id: str,
    source_id: str,
    box: Box,
    appear: datetime,
    disappear: datetime,
    images: Sequence[SubImage],
) -> ViidObject:
    obj: ViidObject = {"FaceID": face_id}
    obj.update(_common(device_id, source_id, box, appear, images))
    obj["FaceAppearTime"] = viid_time(appear)
    obj["FaceDisAppearTime"] = viid_time(disappear)
    return obj


def person_list(objs: Sequence[ViidObject]) -> ViidObject:
    return {"PersonListObject": {"PersonObject": list(objs)}}


def face_list(objs: Sequence[ViidObject]) -> ViidObject:
    return {"FaceListObject": {"FaceObject": list(objs)}}


def _load(body: Any) -> Any:
    if isinstance(body, bytes | bytearray | str):
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Gat1400ProtocolError(f"answer is not JSON: {exc}") from None
    return body


def _member(obj: Any, key: str) -> Any:
    if not isinstance(obj, Mapping):
        raise Gat1400ProtocolError(f"expected a JSON object holding {key!r}, got {type(obj).__name__}")
    if key not in obj:
        raise Gat1400ProtocolError(f"{key!r} missing from answer")
    return obj[key]


def _text(obj: Any, key: str, default: str | None = None) -> str:
    if default is not None and isinstance(obj, Mapping) and key not in obj:
        return default
    value = _member(obj, key)
    # Servers differ on numbers vs strings for ids and times; accept both, refuse containers.
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise Gat1400ProtocolError(f"{key!r} must be a string, got {type(value).__name__}")


def _status(obj: Any) -> ResponseStatus:
    raw = _member(obj, "StatusCode")
    if isinstance(raw, bool):
        raise Gat1400ProtocolError("'StatusCode' must be an integer, got bool")
    if isinstance(raw, int):
        code = raw
    elif isinstance(raw, str) and _INT.fullmatch(raw.strip()):
        code = int(raw)  # some servers send "0"
    else:
        raise Gat1400ProtocolError(f"'StatusCode' must be an integer, got {raw!r:.40}")
    return ResponseStatus(
        request_url=_text(obj, "RequestURL", ""),
        status_code=code,
        status_string=_text(obj, "StatusString", ""),
        id=_text(obj, "Id", ""),
        local_time=_text(obj, "LocalTime", ""),
    )


def parse_status(body: Any) -> ResponseStatus:
    """{"ResponseStatusObject": {...}} (bytes, str or decoded JSON)."""
    return _status(_member(_load(body), "ResponseStatusObject"))


def parse_status_list(body: Any) -> list[ResponseStatus]:
    """{"ResponseStatusListObject": {"ResponseStatusObject": [...]}}, one status per uploaded object."""
    data = _load(body)
    if isinstance(data, Mapping) and "ResponseStatusObject" in data and "ResponseStatusListObject" not in data:
        return [parse_status(data)]  # some servers answer a one-object upload with a bare status
    items = _member(_member(data, "ResponseStatusListObject"), "ResponseStatusObject")
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list):
        raise Gat1400ProtocolError(f"'ResponseStatusObject' must be a list, got {type(items).__name__}")
    return [_status(item) for item in items]


def parse_time(body: Any) -> datetime:
    """SystemTimeObject.LocalTime as a naive datetime in the server's local time."""
    text = _text(_member(_load(body), "SystemTimeObject"), "LocalTime")
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        raise Gat1400ProtocolError(f"'LocalTime' is not yyyyMMddHHmmss: {text!r:.40}") from None
