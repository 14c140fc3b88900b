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
from datetime import UTC, datetime
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


# ResponseStatus StatusCode (GA/T 1400.4): 0 OK, 1 other error, 2 device busy, 3 device error,
# 4 invalid operation, 5/6 invalid XML format/content, 7/8 invalid JSON format/content, 9 rebooting.
STATUS_OK: Final = 0
STATUS_OTHER_ERROR: Final = 1
STATUS_DEVICE_BUSY: Final = 2
STATUS_INVALID_OPERATION: Final = 4
STATUS_INVALID_JSON_FORMAT: Final = 7
STATUS_INVALID_JSON_CONTENT: Final = 8


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


def status_object(request_url: str, code: int, text: str, object_id: str, at: datetime) -> ViidObject:
    """One ResponseStatusObject as a server answers it (LocalTime: the answering side's wall clock)."""
    return {
        "RequestURL": request_url,
        "StatusCode": code,
        "StatusString": text,
        "Id": object_id,
        "LocalTime": viid_time(at),
    }


def status_answer(status: ViidObject) -> ViidObject:
    return {"ResponseStatusObject": status}


def status_list_answer(statuses: Sequence[ViidObject]) -> ViidObject:
    return {"ResponseStatusListObject": {"ResponseStatusObject": list(statuses)}}


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


def load_body(body: Any) -> Any:
    """JSON text (bytes or str) decoded, or an already decoded value as it is."""
    if isinstance(body, bytes | bytearray | str):
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Gat1400ProtocolError(f"not JSON: {exc}") from None
        except RecursionError:  # nesting deeper than the interpreter's stack: hostile or broken
            raise Gat1400ProtocolError("not JSON: nested too deep") from None
    return body


_load = load_body


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


# Epoch answers are told apart from yyyyMMddHHmmss by size: seconds and milliseconds of 2000-2099.
_EPOCH_S = (946_684_800, 4_102_444_800)
_EPOCH_MS = (_EPOCH_S[0] * 1000, _EPOCH_S[1] * 1000)
_NUMBER = re.compile(r"[0-9]{9,14}(\.[0-9]{1,6})?")


def _from_epoch(value: float) -> datetime | None:
    if _EPOCH_S[0] <= value < _EPOCH_S[1]:
        return datetime.fromtimestamp(value, UTC)
    if _EPOCH_MS[0] <= value < _EPOCH_MS[1]:
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


def parse_time_any(raw: Any) -> datetime:
    """A GA/T 1400 time in any form the platforms in use send:

    - ``yyyyMMddHHmmss`` (the standard's), or ISO 8601 without an offset: the sender's wall clock,
      returned naive;
    - Unix seconds or milliseconds (a number or its digits; a public platform answers the time query
      with epoch milliseconds), or ISO 8601 with an offset or ``Z``: an instant, returned aware.
    """
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise Gat1400ProtocolError(f"time must be a string or a number, got {type(raw).__name__}")
    text = repr(raw) if isinstance(raw, float) else str(raw).strip()
    if len(text) > 40:
        raise Gat1400ProtocolError("time value too long")
    if isinstance(raw, int | float) or _NUMBER.fullmatch(text):
        if len(text) == 14 and text.isdigit():
            try:
                return _in_range(datetime.strptime(text, "%Y%m%d%H%M%S"), text)
            except ValueError:
                pass  # 14 digits that are no date: refused below unless they are an epoch
        try:
            instant = _from_epoch(float(text))
        except (OverflowError, ValueError, OSError):
            instant = None
        if instant is None:
            raise Gat1400ProtocolError(f"time is neither yyyyMMddHHmmss nor Unix seconds or ms: {text!r:.40}")
        return instant
    if len(text) > 10 and ("T" in text or " " in text):
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise Gat1400ProtocolError(f"time is not ISO 8601: {text!r:.40}") from None
        return _in_range(parsed, text)
    raise Gat1400ProtocolError(f"time is not yyyyMMddHHmmss, ISO 8601 or Unix time: {text!r:.40}")


def parse_time_value(raw: Any) -> datetime:
    """A GA/T 1400 time as a naive datetime: a wall-clock form as the sender wrote it, an instant
    (epoch, ISO with an offset) on this machine's local wall clock."""
    value = parse_time_any(raw)
    return value if value.tzinfo is None else value.astimezone().replace(tzinfo=None)


def _in_range(value: datetime, text: str) -> datetime:
    if not 2000 <= value.year < 2100:
        raise Gat1400ProtocolError(f"time out of range: {text!r:.40}")
    return value


def parse_time(body: Any) -> datetime:
    """SystemTimeObject.LocalTime (see parse_time_value for the forms accepted)."""
    obj = _member(_load(body), "SystemTimeObject")
    return parse_time_value(_member(obj, "LocalTime"))
