"""MANSCDP bodies: queries modelled on GB/T 28181-2016 annex J, our responses parsed back, charsets,
hostile input (bombs, external entities, oversize, random mutations) ending only in ManscdpError."""

from __future__ import annotations

import random
from datetime import datetime
from xml.etree.ElementTree import Element

import pytest

from adapters.gb28181.manscdp import (
    ALARM_TYPES,
    MAX_BODY_BYTES,
    CatalogItem,
    ManscdpError,
    alarm_notify,
    catalog_notify,
    catalog_responses,
    device_info_response,
    device_status_response,
    format_time,
    keepalive,
    parse,
)

DEVICE = "34020000001180000001"  # 118: NVR acting as the lower platform
PLATFORM = "34020000002000000001"  # 200: the upper SIP server


def _query(cmd: str, sn: int = 17430, device_id: str = DEVICE, encoding: str = "GB2312") -> bytes:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\r\n<Query>\r\n<CmdType>{cmd}</CmdType>\r\n'
        f"<SN>{sn}</SN>\r\n<DeviceID>{device_id}</DeviceID>\r\n</Query>\r\n"
    ).encode()


def _camera(n: int, name: str | None = None, status: str = "ON") -> CatalogItem:
    return CatalogItem(
        device_id=f"3402000000132{n:07d}",
        name=name or f"Camera {n}",
        manufacturer="Hikvision",
        model="DS-2CD2T47",
        owner="Owner",
        civil_code="340200",
        address="Gate 1",
        parent_id=DEVICE,
        status="ON" if status == "ON" else "OFF",
    )


def _items(el: Element, path: str) -> list[Element]:
    found = el.find(path)
    assert found is not None, path
    return list(found)


def _text(el: Element, path: str) -> str:
    found = el.find(path)
    assert found is not None and found.text is not None, path
    return found.text


# --- parsing the annex J queries --------------------------------------------------------------


@pytest.mark.parametrize("cmd", ["Catalog", "DeviceInfo", "DeviceStatus"])
def test_parse_annex_j_queries(cmd: str) -> None:
    msg = parse(_query(cmd))
    assert (msg.root, msg.cmd_type, msg.sn, msg.device_id) == ("Query", cmd, 17430, DEVICE)
    assert msg.fields["CmdType"] == cmd


def test_parse_control_with_nested_parts_keeps_leaf_fields_and_element() -> None:
    body = (
        '<?xml version="1.0"?><Control><CmdType>DeviceControl</CmdType><SN>11</SN>'
        f"<DeviceID>{DEVICE}</DeviceID><PTZCmd>A50F4D1000001021</PTZCmd>"
        "<Info><ControlPriority>5</ControlPriority></Info></Control>"
    ).encode()
    msg = parse(body)
    assert msg.root == "Control"
    assert msg.fields["PTZCmd"] == "A50F4D1000001021"
    assert "Info" not in msg.fields  # not a leaf
    assert _text(msg.element, "Info/ControlPriority") == "5"


def test_parse_tolerates_lowercase_elements_from_2022_peers() -> None:
    body = b"<query><cmdtype>catalog</cmdtype><sn> 7 </sn><deviceid>34020000001320000001</deviceid></query>"
    msg = parse(body)
    assert (msg.root, msg.cmd_type, msg.sn) == ("Query", "Catalog", 7)
    assert msg.field("DeviceID") == "34020000001320000001"
    assert msg.field("StartTime") is None


def test_parse_keeps_unknown_cmd_types_verbatim() -> None:
    assert parse(_query("VendorThing")).cmd_type == "VendorThing"


def test_gb2312_declared_body_with_gbk_only_characters_decodes() -> None:
    # 镕 is in GBK but not GB2312: platforms declare GB2312 and send it anyway.
    body = (
        '<?xml version="1.0" encoding="GB2312"?><Notify><CmdType>Keepalive</CmdType><SN>1</SN>'
        f"<DeviceID>{DEVICE}</DeviceID><Status>朱镕基路摄像机</Status></Notify>"
    ).encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        body.decode("gb2312")
    assert parse(body).fields["Status"] == "朱镕基路摄像机"


def test_utf8_declared_but_gbk_sent_still_decodes() -> None:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Notify><CmdType>Keepalive</CmdType><SN>1</SN>'
        f"<DeviceID>{DEVICE}</DeviceID><Status>正常</Status></Notify>"
    ).encode("gbk")
    assert parse(body).fields["Status"] == "正常"


def test_utf8_bom_and_no_declaration() -> None:
    body = b"\xef\xbb\xbf" + _query("Catalog", encoding="UTF-8")
    assert parse(body).cmd_type == "Catalog"
    assert parse(b"<Query><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>1</DeviceID></Query>").sn == 1


# --- refusals -----------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<Query><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>&lol9;</DeviceID></Query>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0" encoding="GB2312"?>
<!DOCTYPE Query [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Query><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>&xxe;</DeviceID></Query>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Query [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<Query><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>1</DeviceID></Query>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, PARAMETER_ENTITY], ids=["bomb", "xxe", "pe"])
def test_dtds_and_entities_are_refused_with_400(body: bytes) -> None:
    with pytest.raises(ManscdpError) as info:
        parse(body)
    assert info.value.status == 400


def test_oversized_body_is_refused_with_413() -> None:
    body = _query("Catalog").replace(b"</Query>", b"<Pad>" + b"x" * MAX_BODY_BYTES + b"</Pad></Query>")
    with pytest.raises(ManscdpError) as info:
        parse(body)
    assert info.value.status == 413


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"not xml",
        b"<Query><CmdType>Catalog</CmdType><SN>1</SN>",  # truncated
        b"<Query><SN>1</SN><DeviceID>1</DeviceID></Query>",  # no CmdType
        b"<Query><CmdType>Catalog</CmdType><DeviceID>1</DeviceID></Query>",  # no SN
        b"<Query><CmdType>Catalog</CmdType><SN>1</SN></Query>",  # no DeviceID
        b"<Query><CmdType>Catalog</CmdType><SN>-1</SN><DeviceID>1</DeviceID></Query>",
        b"<Query><CmdType>Catalog</CmdType><SN>1e3</SN><DeviceID>1</DeviceID></Query>",
        b"<Query><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>a b</DeviceID></Query>",
        b"<Envelope><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>1</DeviceID></Envelope>",
        b'<?xml version="1.0" encoding="UTF-16"?><Query/>',
        b'<?xml version="1.0" encoding="EBCDIC-XYZ"?><Query/>',
    ],
)
def test_malformed_bodies_are_400(body: bytes) -> None:
    with pytest.raises(ManscdpError) as info:
        parse(body)
    assert info.value.status == 400


def _mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    tokens = [b"<", b">", b"&", b"&#0;", b"&#x110000;", b"<!DOCTYPE a>", b"]]>", b"\x00", b"\xff\xfe", b"\x81\x30"]
    tokens += [b'encoding="gbk"', b'encoding="utf-16"', b"</Query>", b"<SN>", b"99999999999999999999", b"\xe4\xb8"]
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(5)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[pos:pos] = rng.choice(tokens)
        elif op == 2:
            del data[pos : pos + rng.randint(1, 20)]
        elif op == 3:
            data = data[:pos]
        else:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(data)


def test_random_mutations_raise_only_manscdp_error() -> None:
    rng = random.Random(28181)
    seeds = [
        _query("Catalog"),
        EXTERNAL_ENTITY,
        keepalive(5, DEVICE),
        catalog_responses(1, DEVICE, [_camera(1, "大门 & 东"), _camera(2)], 10)[0],
        alarm_notify(3, DEVICE, priority=1, method=5, time=datetime(2024, 5, 1), description="入侵", alarm_type=6),
    ]
    outcomes = {"ok": 0, "refused": 0}
    for _ in range(3000):
        body = _mutate(rng, rng.choice(seeds))
        try:
            parse(body)
        except ManscdpError as exc:
            assert exc.status in (400, 413)
            outcomes["refused"] += 1
        else:
            outcomes["ok"] += 1
    assert outcomes["refused"] > 1000 and outcomes["ok"] > 50  # the mutations exercise both paths


# --- building ---------------------------------------------------------------------------------


def test_catalog_response_parts_carry_sumnum_and_per_part_num() -> None:
    query = parse(_query("Catalog", sn=248))
    items = [_camera(n) for n in range(1, 6)]
    parts = catalog_responses(query.sn, DEVICE, items, per_message=2)
    assert len(parts) == 3
    seen: list[str] = []
    for part, expected in zip(parts, (2, 2, 1), strict=True):
        assert part.startswith(b'<?xml version="1.0" encoding="GB2312"?>')
        msg = parse(part)
        assert (msg.root, msg.cmd_type, msg.sn, msg.device_id) == ("Response", "Catalog", 248, DEVICE)
        assert msg.fields["SumNum"] == "5"
        device_list = msg.element.find("DeviceList")
        assert device_list is not None and device_list.get("Num") == str(expected)
        assert len(device_list) == expected
        seen += [_text(item, "DeviceID") for item in device_list]
    assert seen == [i.device_id for i in items]
    first = _items(parse(parts[0]).element, "DeviceList")[0]
    assert [child.tag for child in first] == [
        "DeviceID",
        "Name",
        "Manufacturer",
        "Model",
        "Owner",
        "CivilCode",
        "Address",
        "Parental",
        "ParentID",
        "SafetyWay",
        "RegisterWay",
        "Secrecy",
        "Status",
    ]
    assert (_text(first, "SafetyWay"), _text(first, "RegisterWay"), _text(first, "Secrecy")) == ("0", "1", "0")


def test_empty_catalog_is_one_part_with_zero_counts() -> None:
    (part,) = catalog_responses(1, DEVICE, [], per_message=20)
    msg = parse(part)
    assert msg.fields["SumNum"] == "0"
    device_list = msg.element.find("DeviceList")
    assert device_list is not None and device_list.get("Num") == "0"
    with pytest.raises(ValueError):
        catalog_responses(1, DEVICE, [], per_message=0)


def test_catalog_system_and_virtual_organisation_entries() -> None:
    system = CatalogItem(device_id=DEVICE.replace("118", "200"), name="站点网关", parental=1, civil_code="340200")
    org = CatalogItem(
        device_id="34020000002160000001",
        name="出入口",
        parent_id="34020000002150000001",
        business_group_id="34020000002150000001",
    )
    camera = CatalogItem(
        device_id="34020000001320000001", name="东门", parent_id=org.device_id, longitude=117.2, latitude=31.8
    )
    (part,) = catalog_responses(9, DEVICE, [system, org, camera], per_message=10)
    sys_el, org_el, cam_el = _items(parse(part).element, "DeviceList")
    assert _text(sys_el, "Parental") == "1" and _text(sys_el, "Name") == "站点网关"
    assert [c.tag for c in org_el] == ["DeviceID", "Name", "ParentID", "BusinessGroupID"]
    assert (_text(cam_el, "Longitude"), _text(cam_el, "Latitude")) == ("117.200000", "31.800000")
    assert _text(cam_el, "ParentID") == org.device_id


def test_chinese_and_markup_names_round_trip_in_gb2312_and_utf8() -> None:
    names = ['东门 & 北门 <主> "入口"', "朱镕基路", "𠀀 rare", "ctl\x01char"]
    items = [_camera(n, name) for n, name in enumerate(names, 1)]
    for charset, codec in (("GB2312", "gb18030"), ("UTF-8", "utf-8")):
        (part,) = catalog_responses(1, DEVICE, items, 10, charset=charset)  # type: ignore[arg-type]
        assert f'encoding="{charset}"'.encode() in part
        part.decode(codec)  # strictly decodable in the declared family
        got = [_text(i, "Name") for i in _items(parse(part).element, "DeviceList")]
        assert got == [*names[:3], "ctlchar"]  # XML-invalid control characters are dropped
    gb = catalog_responses(1, DEVICE, [_camera(1, "东门")], 10)[0]
    assert "东门".encode("gb2312") in gb


def test_keepalive_matches_the_standard_shape() -> None:
    msg = parse(keepalive(43, DEVICE))
    assert (msg.root, msg.cmd_type, msg.sn, msg.fields["Status"]) == ("Notify", "Keepalive", 43, "OK")
    msg = parse(keepalive(44, DEVICE, "ERROR", faulty=["34020000001320000002"]))
    assert msg.fields["Status"] == "ERROR"
    assert _text(msg.element, "Info/DeviceID") == "34020000001320000002"


def test_device_info_response() -> None:
    body = device_info_response(
        17430, DEVICE, name="网关 1", manufacturer="SiteGW", model="edge-1", firmware="0.1.0", channels=16
    )
    msg = parse(body)
    assert (msg.root, msg.cmd_type, msg.sn) == ("Response", "DeviceInfo", 17430)
    assert msg.fields == {
        "CmdType": "DeviceInfo",
        "SN": "17430",
        "DeviceID": DEVICE,
        "DeviceName": "网关 1",
        "Result": "OK",
        "Manufacturer": "SiteGW",
        "Model": "edge-1",
        "Firmware": "0.1.0",
        "Channel": "16",
    }


def test_device_status_response() -> None:
    when = datetime(2024, 5, 1, 8, 0, 0, 123456)
    body = device_status_response(
        7, DEVICE, online=True, status_ok=True, device_time=when, encode=True, record=False,
        alarm_status=[("34020000001340000001", "OFFDUTY")],
    )  # fmt: skip
    msg = parse(body)
    assert (msg.fields["Online"], msg.fields["Status"], msg.fields["Result"]) == ("ONLINE", "OK", "OK")
    assert (msg.fields["Encode"], msg.fields["Record"]) == ("ON", "OFF")
    assert msg.fields["DeviceTime"] == "2024-05-01T08:00:00"
    alarms = msg.element.find("Alarmstatus")
    assert alarms is not None and alarms.get("Num") == "1"
    assert _text(alarms, "Item/DutyStatus") == "OFFDUTY"
    down = parse(device_status_response(8, DEVICE, online=False, status_ok=False, device_time=when, reason="断网"))
    assert (down.fields["Online"], down.fields["Status"], down.fields["Reason"]) == ("OFFLINE", "ERROR", "断网")


def test_catalog_notify_on_off() -> None:
    body = catalog_notify(12, DEVICE, [(_camera(1), "ON"), (_camera(2, status="OFF"), "OFF"), (_camera(3), "DEL")])
    msg = parse(body)
    assert (msg.root, msg.cmd_type, msg.fields["SumNum"]) == ("Notify", "Catalog", "3")
    items = _items(msg.element, "DeviceList")
    assert [_text(i, "Event") for i in items] == ["ON", "OFF", "DEL"]
    assert _text(items[1], "Status") == "OFF"


def test_alarm_notify_video_alarm() -> None:
    body = alarm_notify(
        20, "34020000001320000001", priority=1, method=5, time=datetime(2024, 5, 1, 8, 0), description="东门区域入侵",
        alarm_type=6, event_type=1, longitude=117.2, latitude=31.8,
    )  # fmt: skip
    msg = parse(body)
    assert (msg.root, msg.cmd_type, msg.device_id) == ("Notify", "Alarm", "34020000001320000001")
    assert (msg.fields["AlarmPriority"], msg.fields["AlarmMethod"]) == ("1", "5")
    assert msg.fields["AlarmTime"] == "2024-05-01T08:00:00"
    assert msg.fields["AlarmDescription"] == "东门区域入侵"
    assert _text(msg.element, "Info/AlarmType") == "6"
    assert _text(msg.element, "Info/AlarmTypeParam/EventType") == "1"
    plain = parse(alarm_notify(21, DEVICE, priority=4, method=2, time=datetime(2024, 5, 1), description="x"))
    assert plain.element.find("Info") is None and "Longitude" not in plain.fields


@pytest.mark.parametrize(
    "kwargs",
    [
        {"priority": 0, "method": 5, "alarm_type": 1},
        {"priority": 5, "method": 5, "alarm_type": 1},
        {"priority": 1, "method": 8, "alarm_type": None},
        {"priority": 1, "method": 5, "alarm_type": 14},
        {"priority": 1, "method": 1, "alarm_type": 1},
    ],
)
def test_alarm_notify_rejects_values_outside_the_standard(kwargs: dict[str, int | None]) -> None:
    with pytest.raises(ValueError):
        alarm_notify(1, DEVICE, time=datetime(2024, 5, 1), description="", **kwargs)  # type: ignore[arg-type]


def test_alarm_table_covers_the_2016_video_alarm_types() -> None:
    assert set(ALARM_TYPES[5]) >= set(range(1, 13))
    assert set(ALARM_TYPES[2]) == {1, 2, 3, 4, 5}
    assert set(ALARM_TYPES[6]) == {1, 2}


def test_format_time_is_wall_clock_without_zone() -> None:
    assert format_time(datetime(2024, 5, 1, 8, 0, 0, 999999)) == "2024-05-01T08:00:00"
