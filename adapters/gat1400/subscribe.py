"""GA/T 1400.4 subscriptions from the lower side: the SubscribeObjects an upper platform sends to
`/VIID/Subscribes`, parsed and checked, and the SubscribeNotificationObjects sent back to its
ReceiveAddr. Pure: no I/O. Parsers take untrusted network input and raise only Gat1400ProtocolError
(SubscribeRefused for one bad object of a list, so the others still get their answers).

Codes, as the GA/T 1400 implementations we read agree (netposa's SubscribeDetailEnum, the
dyne VIID entity, wvp-GB28181-pro's gat1400 Constants; the standard's tables were not at hand):
SubscribeDetail 11 = persons (自动采集的人员信息), 12 = faces (自动采集的人脸信息), 3 = the capture-device
catalog; SubscribeStatus 0 active, 1 cancelled, 2 expired; OperateType 0 subscribe, 1 cancel (2,
modify, is one vendor's and is read as an update). ResourceClass numbers differ between those
implementations, so matching never relies on them: see the application's use of `resource_uri`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

from adapters.gat1400.ids import viid_time
from adapters.gat1400.objects import (
    STATUS_INVALID_JSON_CONTENT,
    Gat1400ProtocolError,
    ViidObject,
    load_body,
    parse_time_any,
)

DETAIL_NAMES: Final = {
    "1": "案(事)件目录",
    "2": "单个案(事)件内容",
    "3": "采集设备目录",
    "4": "采集设备状态",
    "5": "采集系统目录",
    "6": "采集系统状态",
    "7": "视频卡口目录",
    "8": "单个卡口记录",
    "9": "车道目录",
    "10": "单个车道记录",
    "11": "自动采集的人员信息",
    "12": "自动采集的人脸信息",
    "13": "自动采集的车辆信息",
    "14": "自动采集的非机动车辆信息",
    "15": "自动采集的物品信息",
    "16": "自动采集的文件信息",
}
DETAIL_PERSONS: Final = "11"
DETAIL_FACES: Final = "12"

SUBSCRIBE_ACTIVE: Final = 0
SUBSCRIBE_CANCELLED: Final = 1
SUBSCRIBE_EXPIRED: Final = 2

OPERATE_SUBSCRIBE: Final = 0
OPERATE_CANCEL: Final = 1
OPERATE_MODIFY: Final = 2

# A 33-digit business object id (the published SubscribeID examples): management unit code (12) +
# sub-type (2) + time (14) + sequence (5). Subscriptions are sub-type 03 in those examples; 04 for
# notifications follows the same table as we understand it (not verified against the standard).
SUBTYPE_NOTIFICATION: Final = "04"
BUSINESS_ID_LEN: Final = 33

MAX_ITEMS: Final = 64  # SubscribeObjects in one request
MAX_RESOURCES: Final = 1000  # entries of one ResourceURI
MAX_TEXT: Final = 256
MAX_URL: Final = 2000
MAX_REPORT_INTERVAL_S: Final = 86_400

_SUBSCRIBE_ID = re.compile(r"[0-9A-Za-z_.\-]{1,64}")
_RESOURCE = re.compile(r"[0-9A-Za-z_.\-]{1,64}")
_DETAIL = re.compile(r"[0-9]{1,3}")
_INT = re.compile(r"-?[0-9]{1,9}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ORG = re.compile(r"[0-9]{12}")


class SubscribeRefused(Gat1400ProtocolError):
    """One SubscribeObject that cannot be taken: the StatusCode to answer it with and why."""

    def __init__(self, reason: str, subscribe_id: str = "", code: int = STATUS_INVALID_JSON_CONTENT) -> None:
        super().__init__(reason)
        self.reason = reason
        self.subscribe_id = subscribe_id
        self.code = code


@dataclass(frozen=True)
class Cancellation:
    """Who cancelled, when and why (SubscribeCancelOrg, SubscribeCancelPerson, CancelTime, CancelReason)."""

    org: str | None = None
    person: str | None = None
    time: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Subscribe:
    """A SubscribeObject. Every field but the id may be absent (None): an update names only what
    changes. Times are naive datetimes on the platform's wall clock, or aware ones for instants (an
    epoch or an ISO time with an offset); the application settles the zone."""

    subscribe_id: str
    operate_type: int = OPERATE_SUBSCRIBE
    title: str | None = None
    details: tuple[str, ...] | None = None
    resource_class: int | None = None
    resource_uri: tuple[str, ...] | None = None
    applicant_name: str | None = None
    applicant_org: str | None = None
    begin_time: datetime | None = None
    end_time: datetime | None = None
    receive_addr: str | None = None
    report_interval_s: int | None = None
    reason: str | None = None
    subscribe_status: int | None = None
    result_image_declare: str | None = None
    cancellation: Cancellation | None = None

    def merged_into(self, base: Subscribe) -> Subscribe:
        """`base` with every field this update gives replaced."""
        given = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        given.pop("operate_type", None)
        return replace(base, **given)


@dataclass(frozen=True)
class Refused:
    """The answer owed to one SubscribeObject of a list that was not taken."""

    subscribe_id: str
    code: int
    reason: str


def _text(obj: Mapping[str, Any], key: str, sid: str, limit: int = MAX_TEXT) -> str | None:
    if key not in obj or obj[key] is None:
        return None
    value = obj[key]
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise SubscribeRefused(f"{key} must be a string", sid)
    value = value.strip()
    if len(value) > limit:
        raise SubscribeRefused(f"{key} longer than {limit} characters", sid)
    if _CONTROL.search(value):
        raise SubscribeRefused(f"{key} holds control characters", sid)
    return value


def _int(obj: Mapping[str, Any], key: str, sid: str, low: int, high: int) -> int | None:
    if key not in obj or obj[key] is None or obj[key] == "":
        return None
    raw = obj[key]
    if isinstance(raw, bool):
        raise SubscribeRefused(f"{key} must be an integer", sid)
    if isinstance(raw, str) and _INT.fullmatch(raw.strip()):
        raw = int(raw)
    if not isinstance(raw, int) or not low <= raw <= high:
        raise SubscribeRefused(f"{key} must be an integer from {low} to {high}", sid)
    return raw


def _list(obj: Mapping[str, Any], key: str, sid: str, item: re.Pattern[str], limit: int) -> tuple[str, ...] | None:
    text = _text(obj, key, sid, limit=limit * 65)
    if text is None:
        return None
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    if len(parts) > limit:
        raise SubscribeRefused(f"{key} lists more than {limit} entries", sid)
    for part in parts:
        if not item.fullmatch(part):
            raise SubscribeRefused(f"{key} entry {part[:40]!r} is malformed", sid)
    return parts


def _time(obj: Mapping[str, Any], key: str, sid: str) -> datetime | None:
    if key not in obj or obj[key] in (None, ""):
        return None
    try:
        return parse_time_any(obj[key])
    except Gat1400ProtocolError as exc:
        raise SubscribeRefused(f"{key}: {exc}", sid) from None


def _receive_addr(obj: Mapping[str, Any], sid: str) -> str | None:
    addr = _text(obj, "ReceiveAddr", sid, limit=MAX_URL)
    if addr is None or addr == "":
        return None
    if addr.startswith("/") and not addr.startswith("//"):
        return addr  # a path on the platform's own address; the application resolves it
    try:
        parts = urlsplit(addr)
        port = parts.port
    except ValueError:
        raise SubscribeRefused("ReceiveAddr is not a URL", sid) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SubscribeRefused("ReceiveAddr must be an http(s) URL", sid)
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs; the digest answer is how we authenticate.
        raise SubscribeRefused("ReceiveAddr must not carry credentials", sid)
    if port == 0:
        raise SubscribeRefused("ReceiveAddr has port 0", sid)
    return addr


def parse_cancellation(obj: Any, sid: str = "") -> Cancellation | None:
    """The cancel fields of a SubscribeObject (or of the body of PUT /VIID/Subscribes/<ID>)."""
    if not isinstance(obj, Mapping):
        return None
    if isinstance(obj.get("SubscribeObject"), Mapping):
        obj = obj["SubscribeObject"]
    found = Cancellation(
        org=_text(obj, "SubscribeCancelOrg", sid),
        person=_text(obj, "SubscribeCancelPerson", sid),
        time=_text(obj, "CancelTime", sid, limit=40),
        reason=_text(obj, "CancelReason", sid),
    )
    return None if found == Cancellation() else found


def parse_subscribe(obj: Any) -> Subscribe:
    """One SubscribeObject; raises SubscribeRefused."""
    if not isinstance(obj, Mapping):
        raise SubscribeRefused("SubscribeObject must be a JSON object")
    raw_id = obj.get("SubscribeID")
    sid = str(raw_id).strip() if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else ""
    if not _SUBSCRIBE_ID.fullmatch(sid):
        raise SubscribeRefused("SubscribeID missing or not 1-64 letters, digits, '.', '_' or '-'", sid[:64])
    operate = _int(obj, "OperateType", sid, 0, 9)
    if operate is not None and operate not in (OPERATE_SUBSCRIBE, OPERATE_CANCEL, OPERATE_MODIFY):
        raise SubscribeRefused(f"OperateType {operate} is not 0 (subscribe) or 1 (cancel)", sid)
    details = _list(obj, "SubscribeDetail", sid, _DETAIL, len(DETAIL_NAMES))
    if details is not None:
        details = tuple(d.lstrip("0") or "0" for d in details)
    return Subscribe(
        subscribe_id=sid,
        operate_type=OPERATE_SUBSCRIBE if operate is None else operate,
        title=_text(obj, "Title", sid),
        details=details,
        resource_class=_int(obj, "ResourceClass", sid, 0, 99),
        resource_uri=_list(obj, "ResourceURI", sid, _RESOURCE, MAX_RESOURCES),
        applicant_name=_text(obj, "ApplicantName", sid),
        applicant_org=_text(obj, "ApplicantOrg", sid),
        begin_time=_time(obj, "BeginTime", sid),
        end_time=_time(obj, "EndTime", sid),
        receive_addr=_receive_addr(obj, sid),
        report_interval_s=_int(obj, "ReportInterval", sid, 0, MAX_REPORT_INTERVAL_S),
        reason=_text(obj, "Reason", sid),
        subscribe_status=_int(obj, "SubscribeStatus", sid, 0, 99),
        result_image_declare=_text(obj, "ResultImageDeclare", sid, limit=64),
        cancellation=parse_cancellation(obj, sid),
    )


def parse_subscribe_list(body: Any) -> list[Subscribe | Refused]:
    """{"SubscribeListObject": {"SubscribeObject": [...]}} (a single object is taken as a list of
    one). A body that is not that raises Gat1400ProtocolError; each bad object becomes a Refused."""
    data = load_body(body)
    if not isinstance(data, Mapping) or not isinstance(data.get("SubscribeListObject"), Mapping):
        raise Gat1400ProtocolError("body must hold a SubscribeListObject")
    items = data["SubscribeListObject"].get("SubscribeObject")
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list) or not items:
        raise Gat1400ProtocolError("SubscribeListObject.SubscribeObject must be a non-empty list")
    if len(items) > MAX_ITEMS:
        raise Gat1400ProtocolError(f"more than {MAX_ITEMS} SubscribeObjects in one request")
    out: list[Subscribe | Refused] = []
    for item in items:
        try:
            out.append(parse_subscribe(item))
        except SubscribeRefused as exc:
            out.append(Refused(exc.subscribe_id, exc.code, exc.reason))
    return out


def parse_id_list(text: str) -> list[str]:
    """The IDList query value of DELETE /VIID/Subscribes (comma separated)."""
    ids = [p.strip() for p in text.split(",") if p.strip()]
    if not ids or len(ids) > MAX_ITEMS or not all(_SUBSCRIBE_ID.fullmatch(i) for i in ids):
        raise Gat1400ProtocolError(f"IDList must hold 1-{MAX_ITEMS} subscription ids")
    return ids


def _time_text(value: datetime | None) -> str | None:
    return None if value is None else viid_time(value)


def subscribe_object(sub: Subscribe, status: int | None = None) -> ViidObject:
    """The SubscribeObject as this side answers a query (and stores it): absent fields left out."""
    values: dict[str, Any] = {
        "SubscribeID": sub.subscribe_id,
        "Title": sub.title,
        "SubscribeDetail": None if sub.details is None else ",".join(sub.details),
        "ResourceClass": sub.resource_class,
        "ResourceURI": None if sub.resource_uri is None else ",".join(sub.resource_uri),
        "ApplicantName": sub.applicant_name,
        "ApplicantOrg": sub.applicant_org,
        "BeginTime": _time_text(sub.begin_time),
        "EndTime": _time_text(sub.end_time),
        "ReceiveAddr": sub.receive_addr,
        "ReportInterval": sub.report_interval_s,
        "Reason": sub.reason,
        "OperateType": sub.operate_type,
        "SubscribeStatus": sub.subscribe_status if status is None else status,
        "ResultImageDeclare": sub.result_image_declare,
    }
    if sub.cancellation is not None:
        values.update(
            {
                "SubscribeCancelOrg": sub.cancellation.org,
                "SubscribeCancelPerson": sub.cancellation.person,
                "CancelTime": sub.cancellation.time,
                "CancelReason": sub.cancellation.reason,
            }
        )
    return {k: v for k, v in values.items() if v is not None}


def subscribe_list(objs: Sequence[ViidObject]) -> ViidObject:
    return {"SubscribeListObject": {"SubscribeObject": list(objs)}}


def business_id(org: str, subtype: str, at: datetime, seq: int) -> str:
    """Management unit code (12 digits) + sub-type (2) + time (14) + sequence (5): 33 digits."""
    if not _ORG.fullmatch(org) or not re.fullmatch(r"[0-9]{2}", subtype):
        raise ValueError(f"not a 12-digit unit code and 2-digit sub-type: {org!r}, {subtype!r}")
    return f"{org}{subtype}{viid_time(at)}{seq % 100_000:05d}"


def notification_object(
    notification_id: str,
    subscribe_id: str,
    title: str,
    trigger_time: datetime,
    persons: Sequence[ViidObject] = (),
    faces: Sequence[ViidObject] = (),
) -> ViidObject:
    """A SubscribeNotificationObject carrying person and/or face records; InfoIDs names them."""
    info = [str(p.get("PersonID", "")) for p in persons] + [str(f.get("FaceID", "")) for f in faces]
    obj: ViidObject = {
        "NotificationID": notification_id,
        "SubscribeID": subscribe_id,
        "Title": title,
        "TriggerTime": viid_time(trigger_time),
        "InfoIDs": ",".join(info),
    }
    if persons:
        obj["PersonObjectList"] = {"PersonObject": list(persons)}
    if faces:
        obj["FaceObjectList"] = {"FaceObject": list(faces)}
    return obj


def notification_list(objs: Sequence[ViidObject]) -> ViidObject:
    return {"SubscribeNotificationListObject": {"SubscribeNotificationObject": list(objs)}}
