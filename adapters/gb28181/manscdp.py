"""MANSCDP (Application/MANSCDP+xml) bodies of GB/T 28181-2016, tolerant of 2022 peers.

Pure functions: `parse` reads an incoming body into a typed `Manscdp`; the builders return the bytes
of an outgoing body. Nothing here does I/O or knows about SIP transactions.

Reading is hostile-input safe: a size limit (413), defusedxml with DTDs and entities forbidden
(a billion-laughs bomb or an external entity is refused before any expansion, 400), and any other
malformed input ends in `ManscdpError` carrying the SIP status to answer -- never another exception.

Charset: platforms mostly declare GB2312 but put GBK/GB18030-only characters in names, so a GB2312
or GBK declaration is decoded as GB18030 (a strict superset of both). Outgoing bodies declare GB2312
by default (what most platforms expect) and are encoded as GB18030, so a name outside GB2312 still
survives instead of being replaced with '?'.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from xml.etree.ElementTree import Element  # type only; parsing goes through defusedxml
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from adapters.gb28181.ptzcmd import PtzCmdError, PtzCommand, parse_ptz_cmd

__all__ = [
    "ALARM_METHODS",
    "ALARM_TYPES",
    "CONTENT_TYPE",
    "MAX_BODY_BYTES",
    "POSITION_CAPABILITIES",
    "AlarmQuery",
    "AlarmResetControl",
    "CatalogEvent",
    "CatalogItem",
    "Charset",
    "Control",
    "DutyStatus",
    "GuardControl",
    "HomePositionControl",
    "IFrameControl",
    "Manscdp",
    "ManscdpError",
    "PtzControl",
    "RecordControl",
    "RootName",
    "SnapShotConfigControl",
    "TeleBootControl",
    "alarm_notify",
    "alarm_query",
    "catalog_notify",
    "catalog_responses",
    "config_download_basic_param",
    "device_control",
    "device_info_response",
    "device_status_response",
    "format_time",
    "home_position_response",
    "keepalive",
    "parse",
    "preset_query_responses",
    "ptz_position_response",
    "result_response",
    "upload_snapshot_finished_notify",
]

CONTENT_TYPE: Final = "Application/MANSCDP+xml"
# A catalog query or a control command is a few hundred bytes; 64 KiB leaves room for large
# Notify/Response bodies from peers and still bounds what a hostile sender can make us parse.
MAX_BODY_BYTES: Final = 64 * 1024

RootName = Literal["Query", "Control", "Notify", "Response"]
Charset = Literal["GB2312", "GB18030", "UTF-8"]
CatalogEvent = Literal["ON", "OFF", "VLOST", "DEFECT", "ADD", "DEL", "UPDATE"]
DutyStatus = Literal["ONDUTY", "OFFDUTY", "ALARM"]

# --- alarm codes: the one place they live ------------------------------------------------------
# Source: GB/T 28181-2016, annex A.2.5 (alarm notify: AlarmMethod, Info/AlarmType) and the same
# table repeated in A.2.3 (alarm reset) and A.2.4.5 (record query). 13 "image occlusion" is printed
# in some copies of the 2016 text and in GB/T 28181-2022, absent from others; platforms (e.g. wvp)
# accept it, so it is listed for method 5 -- send 11 (video anomaly) to a strict 2016 peer instead.
ALARM_METHODS: Final[Mapping[int, str]] = {
    1: "telephone alarm (电话报警)",
    2: "device alarm (设备报警)",
    3: "SMS alarm (短信报警)",
    4: "GPS alarm (GPS报警)",
    5: "video alarm (视频报警)",
    6: "device fault alarm (设备故障报警)",
    7: "other alarm (其他报警)",
}
ALARM_TYPES: Final[Mapping[int, Mapping[int, str]]] = {
    2: {
        1: "video loss (视频丢失报警)",
        2: "device tamper / anti-dismantle (设备防拆报警)",
        3: "storage disk full (存储设备磁盘满报警)",
        4: "device over-temperature (设备高温报警)",
        5: "device under-temperature (设备低温报警)",
    },
    5: {
        1: "manual video alarm (人工视频报警)",
        2: "moving target detection (运动目标检测报警)",
        3: "left object detection (遗留物检测报警)",
        4: "object removal detection (物体移除检测报警)",
        5: "tripwire / line crossing (绊线检测报警)",
        6: "intrusion detection (入侵检测报警)",
        7: "wrong-way / retrograde (逆行检测报警)",
        8: "loitering detection (徘徊检测报警)",
        9: "flow counting (流量统计报警)",
        10: "density / crowding (密度检测报警)",
        11: "video anomaly (视频异常检测报警)",
        12: "fast movement (快速移动报警)",
        13: "image occlusion (图像遮挡报警; 2022 text)",
    },
    6: {
        1: "storage disk fault (存储设备磁盘故障报警)",
        2: "storage fan fault (存储设备风扇故障报警)",
    },
}


class ManscdpError(Exception):
    """An incoming MANSCDP body was refused; `status` is the SIP status to answer (400, 413)."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail[:300]
        super().__init__(f"{status}: {self.detail}")


# --- reading ----------------------------------------------------------------------------------

_ROOTS: Final[Mapping[str, RootName]] = {
    "query": "Query",
    "control": "Control",
    "notify": "Notify",
    "response": "Response",
}
# Canonical spelling of the command types we may meet, so a 2022 peer's "catalog" or "DEVICEINFO"
# dispatches like "Catalog". Unknown command types pass through unchanged.
_CMD_TYPES: Final[Mapping[str, str]] = {
    name.lower(): name
    for name in (
        "Catalog",
        "DeviceInfo",
        "DeviceStatus",
        "Keepalive",
        "Alarm",
        "RecordInfo",
        "DeviceControl",
        "DeviceConfig",
        "ConfigDownload",
        "PresetQuery",
        "MobilePosition",
        "Broadcast",
        "MediaStatus",
        "HomePositionQuery",
        "CruiseTrackListQuery",
        "CruiseTrackQuery",
        "PTZPosition",
        "SDCardStatus",
        "DeviceUpgradeResult",
        "UploadSnapShotFinished",
        "VideoUploadNotify",
    )
}
_PROLOG_ENCODING: Final = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")
# GB2312 and GBK declarations are read as GB18030: it is a superset of both, and platforms declare
# GB2312 while sending GBK-only characters in device names.
_CODECS: Final[Mapping[str, str]] = {
    "gb2312": "gb18030",
    "gb_2312": "gb18030",
    "gb-2312": "gb18030",
    "gbk": "gb18030",
    "cp936": "gb18030",
    "x-gbk": "gb18030",
    "gb18030": "gb18030",
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "iso-8859-1": "latin-1",
    "latin1": "latin-1",
}
_SN_DIGITS: Final = re.compile(r"\d{1,18}")
# 20-digit codes normally; civil codes (2-8 digits) and some vendors' IDs are shorter or alphanumeric.
_DEVICE_ID: Final = re.compile(r"[0-9A-Za-z_-]{1,64}")


@dataclass(frozen=True, slots=True)
class Manscdp:
    """One parsed MANSCDP body. `fields` maps each leaf child of the root to its stripped text
    (first occurrence wins); `element` is the root for nested parts (DeviceList, Info, PTZCmd...)."""

    root: RootName
    cmd_type: str
    sn: int
    device_id: str
    fields: Mapping[str, str]
    element: Element

    def field(self, name: str) -> str | None:
        """A leaf field by name, ignoring case (2022 peers and some vendors vary the casing)."""
        value = self.fields.get(name)
        if value is not None:
            return value
        wanted = name.lower()
        return next((v for k, v in self.fields.items() if k.lower() == wanted), None)


def _local(tag: object) -> str:
    if not isinstance(tag, str):  # comments and processing instructions have callable tags
        return ""
    if tag.startswith("{"):
        tag = tag.rpartition("}")[2]
    return tag.rpartition(":")[2]


def _decode(body: bytes) -> str:
    body = body.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM some Windows platforms put first
    match = _PROLOG_ENCODING.match(body[:200])
    declared = match.group(1).decode("ascii").lower() if match else None
    if declared is not None and declared not in _CODECS:
        raise ManscdpError(400, f"unsupported XML encoding {declared!r}")
    codec = _CODECS[declared] if declared is not None else "utf-8"
    try:
        return body.decode(codec)
    except UnicodeDecodeError:
        pass
    # A wrong or missing declaration is common (UTF-8 declared, GBK sent, or the reverse): try the
    # other family strictly, then accept a lossy decode -- one bad byte in a name must not make us
    # ignore a whole catalog query.
    other = "gb18030" if codec == "utf-8" else "utf-8"
    try:
        return body.decode(other)
    except UnicodeDecodeError:
        return body.decode(codec, errors="replace")


def _parse_xml(text: str) -> Element:
    try:
        root: Element = SafeET.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ManscdpError(400, f"refused unsafe XML ({type(exc).__name__})") from None
    except (SafeET.ParseError, ValueError, UnicodeError, LookupError, OverflowError) as exc:
        raise ManscdpError(400, f"malformed XML: {exc}") from None
    return root


def _leaf_fields(root: Element) -> dict[str, str]:
    fields: dict[str, str] = {}
    for el in root:
        name = _local(el.tag)
        if not name or len(el) or name in fields:
            continue
        fields[name] = (el.text or "").strip()
    return fields


def _required(fields: dict[str, str], name: str) -> str:
    wanted = name.lower()
    value = next((v for k, v in fields.items() if k.lower() == wanted), "")
    if not value:
        raise ManscdpError(400, f"missing {name}")
    return value


def parse(body: bytes) -> Manscdp:
    """Parse an incoming MANSCDP body. Raises only ManscdpError (400 malformed/unsafe, 413 too large)."""
    if len(body) > MAX_BODY_BYTES:
        raise ManscdpError(413, f"MANSCDP body too large ({len(body)} bytes > {MAX_BODY_BYTES})")
    if not body.strip():
        raise ManscdpError(400, "empty MANSCDP body")
    root = _parse_xml(_decode(body))
    root_name = _ROOTS.get(_local(root.tag).lower())
    if root_name is None:
        raise ManscdpError(400, f"unknown MANSCDP root element {_local(root.tag)[:40]!r}")
    fields = _leaf_fields(root)
    cmd_raw = _required(fields, "CmdType")
    cmd_type = _CMD_TYPES.get(cmd_raw.lower(), cmd_raw)
    sn_text = _required(fields, "SN")
    if not _SN_DIGITS.fullmatch(sn_text):
        raise ManscdpError(400, f"bad SN {sn_text[:30]!r}")
    device_id = _required(fields, "DeviceID")
    if not _DEVICE_ID.fullmatch(device_id):
        raise ManscdpError(400, f"bad DeviceID {device_id[:30]!r}")
    return Manscdp(root_name, cmd_type, int(sn_text), device_id, fields, root)


# --- building ---------------------------------------------------------------------------------

# Characters XML 1.0 cannot carry at all (C0 controls except tab/newline/CR, surrogates, U+FFFE/F):
# a camera name holding one would make the whole body unparseable upstream, so they are dropped.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: object) -> str:
    return escape(_NOT_XML.sub("", str(value)))


def format_time(moment: datetime) -> str:
    """The standard's time form, 2024-05-01T08:00:00: wall-clock time, no zone, no fraction.
    Pass local time; an aware datetime is written in its own zone's wall-clock time."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _el(name: str, value: object) -> str:
    return f"<{name}>{_text(value)}</{name}>"


def _document(root: RootName, cmd_type: str, sn: int, device_id: str, inner: Sequence[str], charset: Charset) -> bytes:
    if sn < 0:
        raise ValueError("SN must be >= 0")
    head = f'<?xml version="1.0" encoding="{charset}"?>\r\n<{root}>\r\n'
    lines = [_el("CmdType", cmd_type), _el("SN", sn), _el("DeviceID", device_id), *inner]
    text = head + "\r\n".join(lines) + f"\r\n</{root}>\r\n"
    return text.encode("utf-8" if charset == "UTF-8" else "gb18030")


def keepalive(
    sn: int, device_id: str, status: str = "OK", *, faulty: Sequence[str] = (), charset: Charset = "GB2312"
) -> bytes:
    """Keepalive Notify (A.2.5); `faulty` lists the IDs of failed channels (the optional Info block)."""
    inner = [_el("Status", status)]
    if faulty:
        inner.append("<Info>" + "".join(_el("DeviceID", d) for d in faulty) + "</Info>")
    return _document("Notify", "Keepalive", sn, device_id, inner, charset)


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """One catalog entry (A.2.1 itemType). The kind follows digits 11-13 of the ID: 215 business
    groups and 216 virtual organisations are written with the reduced field set the standard gives
    them (DeviceID, Name, ParentID, BusinessGroupID); devices, channels and 200 systems in full."""

    device_id: str
    name: str
    manufacturer: str = ""
    model: str = ""
    owner: str = ""
    civil_code: str = ""
    address: str = ""
    parental: int = 0
    parent_id: str = ""
    safety_way: int = 0
    register_way: int = 1
    secrecy: int = 0
    status: Literal["ON", "OFF"] = "ON"
    longitude: float | None = None
    latitude: float | None = None
    business_group_id: str = ""

    def __post_init__(self) -> None:
        if self.parental not in (0, 1):
            raise ValueError("Parental must be 0 or 1")
        if self.status not in ("ON", "OFF"):
            raise ValueError("Status must be ON or OFF")

    @property
    def type_code(self) -> str:
        """Digits 11-13 of a 20-digit ID (131 camera, 200 system, 216 virtual organisation...), else ''."""
        return self.device_id[10:13] if len(self.device_id) == 20 else ""

    def xml(self, event: CatalogEvent | None = None) -> str:
        parts = [_el("DeviceID", self.device_id)]
        if event is not None:
            parts.append(_el("Event", event))
        parts.append(_el("Name", self.name))
        if self.type_code in ("215", "216"):
            if self.parent_id:
                parts.append(_el("ParentID", self.parent_id))
            if self.business_group_id:
                parts.append(_el("BusinessGroupID", self.business_group_id))
            return "<Item>" + "".join(parts) + "</Item>"
        parts += [
            _el("Manufacturer", self.manufacturer),
            _el("Model", self.model),
            _el("Owner", self.owner),
            _el("CivilCode", self.civil_code),
            _el("Address", self.address),
            _el("Parental", self.parental),
            _el("ParentID", self.parent_id),
        ]
        if self.business_group_id:
            parts.append(_el("BusinessGroupID", self.business_group_id))
        parts += [
            _el("SafetyWay", self.safety_way),
            _el("RegisterWay", self.register_way),
            _el("Secrecy", self.secrecy),
            _el("Status", self.status),
        ]
        if self.longitude is not None and self.latitude is not None:
            parts += [_el("Longitude", f"{self.longitude:.6f}"), _el("Latitude", f"{self.latitude:.6f}")]
        return "<Item>" + "".join(parts) + "</Item>"


def _chunks(items: Sequence[CatalogItem], size: int) -> Iterator[Sequence[CatalogItem]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def catalog_responses(
    sn: int, device_id: str, items: Sequence[CatalogItem], per_message: int, *, charset: Charset = "GB2312"
) -> list[bytes]:
    """The Catalog Response split into parts of at most `per_message` items. Every part carries
    SumNum = the total and DeviceList Num = the items in that part, which is how platforms know when
    the catalog is complete. An empty catalog is one part with SumNum 0."""
    if per_message < 1:
        raise ValueError("per_message must be >= 1")
    total = len(items)
    parts = list(_chunks(items, per_message)) or [()]
    out = []
    for part in parts:
        device_list = f'<DeviceList Num="{len(part)}">' + "".join(i.xml() for i in part) + "</DeviceList>"
        out.append(_document("Response", "Catalog", sn, device_id, [_el("SumNum", total), device_list], charset))
    return out


def catalog_notify(
    sn: int,
    device_id: str,
    items_with_event: Sequence[tuple[CatalogItem, CatalogEvent]],
    *,
    charset: Charset = "GB2312",
) -> bytes:
    """Catalog change Notify: each Item carries an Event (ON, OFF, VLOST, DEFECT, ADD, DEL, UPDATE)."""
    body = "".join(item.xml(event) for item, event in items_with_event)
    inner = [_el("SumNum", len(items_with_event)), f'<DeviceList Num="{len(items_with_event)}">{body}</DeviceList>']
    return _document("Notify", "Catalog", sn, device_id, inner, charset)


_QUERY_TIME: Final = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def parse_query_time(value: str | None, name: str) -> datetime:
    """A query's StartTime or EndTime, 2024-05-01T08:00:00, as the naive wall-clock time it names (the
    standard's times carry no zone: the site's local time). A zone some platforms add is honoured
    by returning an aware datetime. Raises ManscdpError (400) on anything else."""
    if value is None:
        raise ManscdpError(400, f"{name} missing")
    text = value.strip()
    if not _QUERY_TIME.match(text):
        raise ManscdpError(400, f"{name} is not a time like 2024-05-01T08:00:00: {text[:40]!r}")
    try:
        return datetime.fromisoformat(text.replace(" ", "T").replace("Z", "+00:00"))
    except ValueError:
        raise ManscdpError(400, f"{name} is not a valid time: {text[:40]!r}") from None


@dataclass(frozen=True, slots=True)
class AlarmQuery:
    """Query CmdType Alarm (2016 A.2.4.6), every condition optional: priorities 1 (most urgent) to 4,
    0 or absent meaning all; AlarmMethod digits written together ("25": device or video alarms), 0
    all; the time range as `parse_query_time` reads it (naive: the site's wall-clock time)."""

    start_priority: int | None = None
    end_priority: int | None = None
    methods: frozenset[int] | None = None
    alarm_type: int | None = None
    start: datetime | None = None
    end: datetime | None = None


def alarm_query(body: Manscdp) -> AlarmQuery:
    """The conditions of an alarm query; ManscdpError (400) for one that cannot be read."""
    methods: frozenset[int] | None = None
    text = (body.field("AlarmMethod") or "").strip()
    if text:
        if not text.isdigit() or len(text) > 8:
            raise ManscdpError(400, f"AlarmMethod is not a string of method digits: {text[:20]!r}")
        digits = frozenset(int(c) for c in text)
        methods = None if 0 in digits else digits
    start = body.field("StartAlarmTime")
    end = body.field("EndAlarmTime")
    query = AlarmQuery(
        start_priority=_control_int(body.field("StartAlarmPriority"), "StartAlarmPriority", 0, 4),
        end_priority=_control_int(body.field("EndAlarmPriority"), "EndAlarmPriority", 0, 4),
        methods=methods,
        alarm_type=_control_int(body.field("AlarmType"), "AlarmType", 0, 99),
        start=parse_query_time(start, "StartAlarmTime") if start and start.strip() else None,
        end=parse_query_time(end, "EndAlarmTime") if end and end.strip() else None,
    )
    return query


@dataclass(frozen=True, slots=True)
class RecordItem:
    """One recording of a RecordInfo response (A.2.6 itemFileType): a recorded span of one channel."""

    device_id: str
    name: str
    start: datetime  # the site's wall-clock time (see format_time)
    end: datetime
    file_path: str = ""
    address: str = ""
    secrecy: int = 0
    type: str = "time"
    recorder_id: str = ""

    def xml(self) -> str:
        parts = [
            _el("DeviceID", self.device_id),
            _el("Name", self.name),
            _el("FilePath", self.file_path),
            _el("Address", self.address),
            _el("StartTime", format_time(self.start)),
            _el("EndTime", format_time(self.end)),
            _el("Secrecy", self.secrecy),
            _el("Type", self.type),
        ]
        if self.recorder_id:
            parts.append(_el("RecorderID", self.recorder_id))
        return "<Item>" + "".join(parts) + "</Item>"


def record_info_responses(
    sn: int,
    device_id: str,
    name: str,
    items: Sequence[RecordItem],
    per_message: int,
    *,
    charset: Charset = "GB2312",
) -> list[bytes]:
    """The RecordInfo Response in parts of at most `per_message` items, each with SumNum = the total and
    RecordList Num = its own count, as the Catalog's; no recording is one part with SumNum 0."""
    if per_message < 1:
        raise ValueError("per_message must be >= 1")
    total = len(items)
    parts = [items[i : i + per_message] for i in range(0, total, per_message)] or [()]
    out = []
    for part in parts:
        records = f'<RecordList Num="{len(part)}">' + "".join(i.xml() for i in part) + "</RecordList>"
        inner = [_el("Name", name), _el("SumNum", total), records]
        out.append(_document("Response", "RecordInfo", sn, device_id, inner, charset))
    return out


def result_response(cmd_type: str, sn: int, device_id: str, *, ok: bool = True, charset: Charset = "GB2312") -> bytes:
    """A bare Response with Result OK/ERROR, the body of a 200 to a catalog or alarm SUBSCRIBE (A.2.6)."""
    return _document("Response", cmd_type, sn, device_id, [_el("Result", "OK" if ok else "ERROR")], charset)


def device_info_response(
    sn: int,
    device_id: str,
    *,
    name: str,
    manufacturer: str,
    model: str,
    firmware: str,
    channels: int,
    charset: Charset = "GB2312",
) -> bytes:
    """DeviceInfo Response (A.2.6)."""
    inner = [
        _el("DeviceName", name),
        _el("Result", "OK"),
        _el("Manufacturer", manufacturer),
        _el("Model", model),
        _el("Firmware", firmware),
        _el("Channel", channels),
    ]
    return _document("Response", "DeviceInfo", sn, device_id, inner, charset)


def device_status_response(
    sn: int,
    device_id: str,
    *,
    online: bool,
    status_ok: bool,
    device_time: datetime,
    alarm_status: Sequence[tuple[str, DutyStatus]] = (),
    reason: str = "",
    encode: bool | None = None,
    record: bool | None = None,
    charset: Charset = "GB2312",
) -> bytes:
    """DeviceStatus Response (A.2.6). `alarm_status` pairs an alarm input/channel ID with its duty
    status; the element is spelled `Alarmstatus`, as in the standard's schema."""
    inner = [
        _el("Result", "OK"),
        _el("Online", "ONLINE" if online else "OFFLINE"),
        _el("Status", "OK" if status_ok else "ERROR"),
    ]
    if reason:
        inner.append(_el("Reason", reason))
    if encode is not None:
        inner.append(_el("Encode", "ON" if encode else "OFF"))
    if record is not None:
        inner.append(_el("Record", "ON" if record else "OFF"))
    inner.append(_el("DeviceTime", format_time(device_time)))
    alarms = "".join(f"<Item>{_el('DeviceID', i)}{_el('DutyStatus', s)}</Item>" for i, s in alarm_status)
    inner.append(f'<Alarmstatus Num="{len(alarm_status)}">{alarms}</Alarmstatus>')
    return _document("Response", "DeviceStatus", sn, device_id, inner, charset)


def alarm_notify(
    sn: int,
    device_id: str,
    *,
    priority: int,
    method: int,
    time: datetime,
    description: str,
    alarm_type: int | None = None,
    event_type: int | None = None,
    longitude: float | None = None,
    latitude: float | None = None,
    charset: Charset = "GB2312",
) -> bytes:
    """Alarm Notify (A.2.5) for `device_id` (the alarming channel). priority 1 (highest) to 4;
    method and alarm_type from ALARM_METHODS / ALARM_TYPES (method 5 = video alarm); event_type is
    the intrusion parameter (1 entering, 2 leaving the area) carried in Info/AlarmTypeParam."""
    if not 1 <= priority <= 4:
        raise ValueError("AlarmPriority must be 1..4")
    if method not in ALARM_METHODS:
        raise ValueError(f"unknown AlarmMethod {method}")
    if alarm_type is not None and alarm_type not in ALARM_TYPES.get(method, {}):
        raise ValueError(f"AlarmType {alarm_type} is not defined for AlarmMethod {method}")
    if event_type is not None and event_type not in (1, 2):
        raise ValueError("EventType must be 1 (enter) or 2 (leave)")
    inner = [
        _el("AlarmPriority", priority),
        _el("AlarmMethod", method),
        _el("AlarmTime", format_time(time)),
        _el("AlarmDescription", description),
    ]
    if longitude is not None and latitude is not None:
        inner += [_el("Longitude", f"{longitude:.6f}"), _el("Latitude", f"{latitude:.6f}")]
    if alarm_type is not None:
        param = f"<AlarmTypeParam>{_el('EventType', event_type)}</AlarmTypeParam>" if event_type else ""
        inner.append(f"<Info>{_el('AlarmType', alarm_type)}{param}</Info>")
    return _document("Notify", "Alarm", sn, device_id, inner, charset)


# MediaStatus NotifyType 121: the sender reached the end of the file or span (A.2.5, clause 9.8).
MEDIA_END: Final = 121


def media_status_notify(sn: int, device_id: str, *, notify_type: int = MEDIA_END, charset: Charset = "GB2312") -> bytes:
    """MediaStatus Notify: a playback or download of `device_id` (the channel) has ended."""
    return _document("Notify", "MediaStatus", sn, device_id, [_el("NotifyType", notify_type)], charset)


# --- device control (A.2.3.1): what a DeviceControl body asks for ------------------------------
# A Control body carries one or more commands as children of the root, each optionally followed by an
# Info block. Cross-checked against 648540858/wvp-GB28181-pro (SIPCommander's guard, alarm, record,
# teleboot and home-position bodies), lunasaw/gb28181-proxy (entity/control/DeviceControl*.java) and
# lunasaw/Sip-Proxy (entity/control/SnapShotConfig.java), and the device side of
# whswhs1128/7608_netcam (ite_gb28181_sip.c: GuardCmd, RecordCmd, HomePosition).


@dataclass(frozen=True, slots=True)
class PtzControl:
    """PTZCmd: the annex A.3 command (adapters/gb28181/ptzcmd.py), with Info/ControlPriority if sent."""

    command: PtzCommand
    priority: int | None = None


@dataclass(frozen=True, slots=True)
class TeleBootControl:
    """TeleBoot Boot: restart the device."""


@dataclass(frozen=True, slots=True)
class RecordControl:
    """RecordCmd Record (True) or StopRecord (False); StreamNumber (2022: 0 main, 1 sub stream) if sent."""

    record: bool
    stream_number: int | None = None


@dataclass(frozen=True, slots=True)
class GuardControl:
    """GuardCmd SetGuard (armed) or ResetGuard (disarmed)."""

    armed: bool


@dataclass(frozen=True, slots=True)
class AlarmResetControl:
    """AlarmCmd ResetAlarm, with the Info block's AlarmMethod and AlarmType if sent (see ALARM_METHODS)."""

    method: int | None = None
    alarm_type: int | None = None


@dataclass(frozen=True, slots=True)
class IFrameControl:
    """IFameCmd Send (the standard's spelling; IFrameCmd is read too): send a key frame at once."""


@dataclass(frozen=True, slots=True)
class HomePositionControl:
    """HomePosition: Enabled 1/0; when enabled, after ResetTime seconds idle the camera goes back to
    preset PresetIndex (0-255). ResetTime and PresetIndex are optional."""

    enabled: bool
    reset_time: int | None = None
    preset_index: int | None = None


@dataclass(frozen=True, slots=True)
class SnapShotConfigControl:
    """SnapShotConfig (GB/T 28181-2022): take SnapNum pictures (1-10), Interval seconds apart (>= 1),
    upload them to UploadURL and report them with UploadSnapShotFinished under SessionID (32-128
    letters, digits and '-'). The 2022 text lists it among the device configurations (CmdType
    DeviceConfig, as lunasaw/Sip-Proxy sends it); it is read from DeviceControl bodies as well."""

    snap_num: int
    upload_url: str
    session_id: str
    interval: int | None = None


Control = (
    PtzControl
    | TeleBootControl
    | RecordControl
    | GuardControl
    | AlarmResetControl
    | IFrameControl
    | HomePositionControl
    | SnapShotConfigControl
)

_CONTROL_INT: Final = re.compile(r"\+?\d{1,9}", re.ASCII)
_SESSION_ID: Final = re.compile(r"[0-9A-Za-z-]{32,128}", re.ASCII)
_MAX_URL: Final = 2048


def _child(parent: Element, name: str) -> Element | None:
    """The first child element named `name` (any case, any namespace prefix)."""
    wanted = name.lower()
    return next((el for el in parent if _local(el.tag).lower() == wanted), None)


def _child_text(parent: Element | None, name: str) -> str | None:
    """The stripped text of child `name`, '' for an empty element, None when there is none."""
    el = None if parent is None else _child(parent, name)
    return None if el is None else (el.text or "").strip()


def _control_int(text: str | None, name: str, low: int, high: int) -> int | None:
    """An optional integer field: absent or empty is None; anything else must be an integer in range."""
    if not text:
        return None
    if not _CONTROL_INT.fullmatch(text):
        raise ManscdpError(400, f"{name} is not an integer: {text[:20]!r}")
    value = int(text)
    if not low <= value <= high:
        raise ManscdpError(400, f"{name} {value} is outside {low}..{high}")
    return value


def _keyword(el: Element, allowed: Mapping[str, bool]) -> bool:
    text = (el.text or "").strip()
    value = allowed.get(text.lower())
    if value is None:
        names = " or ".join(sorted(allowed))
        raise ManscdpError(400, f"{_local(el.tag)} must be {names}, not {text[:30]!r}")
    return value


def _ptz_control(el: Element, root: Element, info: Element | None) -> Control:
    try:
        command = parse_ptz_cmd(el.text or "")
    except PtzCmdError as exc:
        raise ManscdpError(exc.status, str(exc)) from None
    return PtzControl(command, _control_int(_child_text(info, "ControlPriority"), "ControlPriority", 0, 255))


def _teleboot_control(el: Element, root: Element, info: Element | None) -> Control:
    _keyword(el, {"boot": True})
    return TeleBootControl()


def _record_control(el: Element, root: Element, info: Element | None) -> Control:
    record = _keyword(el, {"record": True, "stoprecord": False})
    return RecordControl(record, _control_int(_child_text(root, "StreamNumber"), "StreamNumber", 0, 255))


def _guard_control(el: Element, root: Element, info: Element | None) -> Control:
    return GuardControl(_keyword(el, {"setguard": True, "resetguard": False}))


def _alarm_control(el: Element, root: Element, info: Element | None) -> Control:
    _keyword(el, {"resetalarm": True})
    method = _control_int(_child_text(info, "AlarmMethod"), "AlarmMethod", 0, 99)
    return AlarmResetControl(method, _control_int(_child_text(info, "AlarmType"), "AlarmType", 0, 99))


def _iframe_control(el: Element, root: Element, info: Element | None) -> Control:
    _keyword(el, {"send": True})
    return IFrameControl()


def _home_position_control(el: Element, root: Element, info: Element | None) -> Control:
    enabled = _child_text(el, "Enabled")
    if enabled not in ("0", "1"):
        raise ManscdpError(400, f"HomePosition/Enabled must be 0 or 1, not {(enabled or '')[:20]!r}")
    return HomePositionControl(
        enabled == "1",
        _control_int(_child_text(el, "ResetTime"), "HomePosition/ResetTime", 0, 999_999_999),
        _control_int(_child_text(el, "PresetIndex"), "HomePosition/PresetIndex", 0, 255),
    )


def _snapshot_control(el: Element, root: Element, info: Element | None) -> Control:
    snap_num = _control_int(_child_text(el, "SnapNum"), "SnapShotConfig/SnapNum", 1, 10)
    if snap_num is None:
        raise ManscdpError(400, "SnapShotConfig/SnapNum missing")
    interval = _control_int(_child_text(el, "Interval"), "SnapShotConfig/Interval", 1, 999_999_999)
    url = _child_text(el, "UploadURL") or ""
    if not url or len(url) > _MAX_URL or any(c.isspace() for c in url):
        raise ManscdpError(400, "SnapShotConfig/UploadURL missing or malformed")
    session_id = _child_text(el, "SessionID") or ""
    if not _SESSION_ID.fullmatch(session_id):
        raise ManscdpError(400, "SnapShotConfig/SessionID must be 32-128 letters, digits or '-'")
    return SnapShotConfigControl(snap_num, url, session_id, interval)


_CONTROL_READERS: Final = {
    "ptzcmd": _ptz_control,
    "teleboot": _teleboot_control,
    "recordcmd": _record_control,
    "guardcmd": _guard_control,
    "alarmcmd": _alarm_control,
    "ifamecmd": _iframe_control,
    "iframecmd": _iframe_control,
    "homeposition": _home_position_control,
    "snapshotconfig": _snapshot_control,
}


def device_control(body: Manscdp) -> list[Control]:
    """Every command a parsed Control body carries, in document order (a body may carry several).
    Commands this module does not know (DragZoomIn, DeviceUpgrade, BasicParam...) are skipped, so an
    empty list means "nothing here for us". Raises ManscdpError (400) for a body that is not a Control
    or a command whose value is malformed (a bad PTZCmd included)."""
    if body.root != "Control":
        raise ManscdpError(400, f"a {body.root} body carries no device control")
    root = body.element
    info = _child(root, "Info")
    controls: list[Control] = []
    for el in root:
        reader = _CONTROL_READERS.get(_local(el.tag).lower())
        if reader is not None:
            controls.append(reader(el, root, info))
    return controls


# --- answers to the PTZ and configuration queries ------------------------------------------------


def preset_query_responses(
    sn: int,
    device_id: str,
    presets: Sequence[tuple[int, str]],
    per_message: int,
    *,
    charset: Charset = "GB2312",
) -> list[bytes]:
    """PresetQuery Response (A.2.6): `presets` are (PresetID 1-255, PresetName) pairs, sent as
    <PresetList Num=n><Item><PresetID/><PresetName/></Item>...</PresetList>, n the items in that message.

    One message when they fit in `per_message`: exactly the standard's form, which has no SumNum. More
    than that are split like the Catalog, each part also carrying SumNum = the total; the standard does
    not define split preset answers, and wvp (PresetQueryResponseMessageHandler) reads PresetList Num
    as the total and takes the first part as the whole list, so for such platforms wire per_message
    >= 255 (the most presets there can be). No preset is one message with <PresetList Num="0"/>: the
    2016 text says to leave PresetList out then, but wvp refuses a PresetQuery answer without it."""
    if per_message < 1:
        raise ValueError("per_message must be >= 1")
    for preset_id, _name in presets:
        if isinstance(preset_id, bool) or not isinstance(preset_id, int) or not 1 <= preset_id <= 255:
            raise ValueError(f"PresetID must be 1..255, not {preset_id!r}")
    total = len(presets)
    parts = [presets[i : i + per_message] for i in range(0, total, per_message)] or [()]
    out = []
    for part in parts:
        items = "".join(f"<Item>{_el('PresetID', pid)}{_el('PresetName', name)}</Item>" for pid, name in part)
        inner = [f'<PresetList Num="{len(part)}">{items}</PresetList>']
        if len(parts) > 1:
            inner.insert(0, _el("SumNum", total))
        out.append(_document("Response", "PresetQuery", sn, device_id, inner, charset))
    return out


def home_position_response(
    sn: int,
    device_id: str,
    *,
    enabled: bool,
    reset_time: int | None = None,
    preset_index: int | None = None,
    charset: Charset = "GB2312",
) -> bytes:
    """HomePositionQuery Response (GB/T 28181-2022): the home position settings in a <HomePosition>
    block (Enabled 1/0, ResetTime seconds, PresetIndex 0-255), laid out as the HomePosition control's
    block. Implementations disagree here: some device simulators write the three fields directly
    under <Response>, while platform-side parsers look for the block; the block is what a reader of
    the control already understands, so it is what is written."""
    if reset_time is not None and reset_time < 0:
        raise ValueError("ResetTime must be >= 0")
    if preset_index is not None and not 0 <= preset_index <= 255:
        raise ValueError("PresetIndex must be 0..255")
    block = [_el("Enabled", 1 if enabled else 0)]
    if reset_time is not None:
        block.append(_el("ResetTime", reset_time))
    if preset_index is not None:
        block.append(_el("PresetIndex", preset_index))
    inner = ["<HomePosition>" + "".join(block) + "</HomePosition>"]
    return _document("Response", "HomePositionQuery", sn, device_id, inner, charset)


def _decimal(value: float, name: str, low: float, high: float) -> str:
    if not low <= value <= high:  # also false for NaN
        raise ValueError(f"{name} must be in {low}..{high}, not {value!r}")
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def ptz_position_response(
    sn: int,
    device_id: str,
    *,
    pan: float,
    tilt: float,
    zoom: float,
    horizontal_field_angle: float | None = None,
    vertical_field_angle: float | None = None,
    max_view_distance: float | None = None,
    charset: Charset = "GB2312",
) -> bytes:
    """PTZPosition Response (GB/T 28181-2022 PTZ精准状态查询应答): Pan, the horizontal angle in degrees
    (0-360); Tilt, the vertical angle in degrees (-90-90); Zoom, the zoom ratio (>= 1); then, if known,
    the horizontal and vertical field angles (degrees) and the farthest view distance (metres), all
    with two decimals. Written flat under <Response>, as lunasaw/Sip-Proxy (PTZPositionResponse.java,
    citing A.2.6.15) does; one other implementation reads them from a <PTZPosInfo> block instead."""
    inner = [
        _el("Pan", _decimal(pan, "Pan", 0.0, 360.0)),
        _el("Tilt", _decimal(tilt, "Tilt", -90.0, 90.0)),
        _el("Zoom", _decimal(zoom, "Zoom", 1.0, 1e6)),
    ]
    if horizontal_field_angle is not None:
        inner.append(_el("HorizontalFieldAngle", _decimal(horizontal_field_angle, "HorizontalFieldAngle", 0.0, 360.0)))
    if vertical_field_angle is not None:
        inner.append(_el("VerticalFieldAngle", _decimal(vertical_field_angle, "VerticalFieldAngle", 0.0, 360.0)))
    if max_view_distance is not None:
        inner.append(_el("MaxViewDistance", _decimal(max_view_distance, "MaxViewDistance", 0.0, 1e9)))
    return _document("Response", "PTZPosition", sn, device_id, inner, charset)


# PositionCapability of BasicParam: 0 none, 1 GPS, 2 BeiDou (wvp's BasicParam.java gives the same list).
POSITION_CAPABILITIES: Final[Mapping[int, str]] = {0: "none", 1: "GPS", 2: "BeiDou (北斗)"}


def config_download_basic_param(
    sn: int,
    device_id: str,
    *,
    name: str,
    expiration: int,
    heartbeat_interval: int,
    heartbeat_count: int,
    position_capability: int | None = None,
    longitude: float | None = None,
    latitude: float | None = None,
    charset: Charset = "GB2312",
) -> bytes:
    """ConfigDownload Response with Result OK and the BasicParam block (A.2.6, basicParamCfgType):
    Name, Expiration (registration expiry, s), HeartBeatInterval (s), HeartBeatCount (missed
    keepalives that mean lost), then PositionCapability and Longitude/Latitude when given.

    Devices that follow GB/T 28181-2011 also put DeviceID, SIPServerID, SIPServerIP, SIPServerPort,
    DomainName and Password in the block; the 2016 type has none of them, and the registration
    password is never sent back. The three position fields are 2016's read-back; a 2022 peer's type
    reportedly drops them, so leave them out (None) for a strict 2022 platform."""
    for label, value in (
        ("Expiration", expiration),
        ("HeartBeatInterval", heartbeat_interval),
        ("HeartBeatCount", heartbeat_count),
    ):
        if value < 1:
            raise ValueError(f"{label} must be >= 1")
    if position_capability is not None and position_capability not in POSITION_CAPABILITIES:
        raise ValueError(f"PositionCapability must be one of {sorted(POSITION_CAPABILITIES)}")
    if (longitude is None) != (latitude is None):
        raise ValueError("give both Longitude and Latitude or neither")
    block = [
        _el("Name", name),
        _el("Expiration", expiration),
        _el("HeartBeatInterval", heartbeat_interval),
        _el("HeartBeatCount", heartbeat_count),
    ]
    if position_capability is not None:
        block.append(_el("PositionCapability", position_capability))
    if longitude is not None and latitude is not None:
        block += [_el("Longitude", f"{longitude:.6f}"), _el("Latitude", f"{latitude:.6f}")]
    inner = [_el("Result", "OK"), "<BasicParam>" + "".join(block) + "</BasicParam>"]
    return _document("Response", "ConfigDownload", sn, device_id, inner, charset)


def upload_snapshot_finished_notify(
    sn: int,
    device_id: str,
    *,
    session_id: str,
    file_ids: Sequence[str],
    charset: Charset = "GB2312",
) -> bytes:
    """UploadSnapShotFinished Notify (GB/T 28181-2022): the pictures a SnapShotConfig asked for are
    uploaded; SessionID is the configuration's, SnapShotList holds one SnapShotFileID per picture (as
    lunasaw/Sip-Proxy's UploadSnapShotFinishedNotify.java writes it, without a Num attribute)."""
    if not _SESSION_ID.fullmatch(session_id):
        raise ValueError("SessionID must be 32-128 letters, digits or '-'")
    if not file_ids or any(not f for f in file_ids):
        raise ValueError("at least one non-empty SnapShotFileID is needed")
    files = "".join(_el("SnapShotFileID", f) for f in file_ids)
    inner = [_el("SessionID", session_id), f"<SnapShotList>{files}</SnapShotList>"]
    return _document("Notify", "UploadSnapShotFinished", sn, device_id, inner, charset)
