"""GA/T 1400 subscription objects: parsing what an upper platform sends to /VIID/Subscribes, building
the SubscribeObjects and SubscribeNotificationObjects we send back, and the time forms platforms use.

The subscribe example is modelled on the published GA/T 1400 subscription walk-through (gitweixin.com
"GAT1400视图库订阅通知", ?p=812: a batch POST with a 33-digit SubscribeID such as
330101020001032017113010580006371 and ApplicantName "admin"); the SubscribeDetail codes are those the
implementations we read agree on (adapters/gat1400/subscribe.py says which).
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from adapters.common.redact import with_credentials
from adapters.gat1400.client import ViidClient, ViidSettings
from adapters.gat1400.objects import Gat1400ProtocolError, parse_time, parse_time_any, parse_time_value
from adapters.gat1400.subscribe import (
    BUSINESS_ID_LEN,
    OPERATE_CANCEL,
    Cancellation,
    Refused,
    Subscribe,
    business_id,
    notification_list,
    notification_object,
    parse_cancellation,
    parse_id_list,
    parse_subscribe,
    parse_subscribe_list,
    subscribe_list,
    subscribe_object,
)

SID = "330101020001032017113010580006371"


def example(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "SubscribeID": SID,
        "Title": "人脸订阅",
        "SubscribeDetail": "11,12",
        "ResourceClass": 4,
        "ResourceURI": "33010102001190000001,33010102001320000001",
        "ApplicantName": "admin",
        "ApplicantOrg": "杭州市公安局",
        "BeginTime": "20171130105800",
        "EndTime": "20181130105800",
        "ReceiveAddr": "http://10.0.0.1:8080/VIID/SubscribeNotifications",
        "OperateType": 0,
        "ReportInterval": 5,
        "Reason": "测试",
        "SubscribeStatus": 0,
    }
    obj.update(changes)
    return obj


def body(*objs: Any) -> bytes:
    return json.dumps({"SubscribeListObject": {"SubscribeObject": list(objs)}}, ensure_ascii=False).encode()


def test_the_published_example_parses() -> None:
    (sub,) = parse_subscribe_list(body(example()))
    assert isinstance(sub, Subscribe)
    assert sub.subscribe_id == SID and sub.title == "人脸订阅" and sub.details == ("11", "12")
    assert sub.resource_uri == ("33010102001190000001", "33010102001320000001") and sub.resource_class == 4
    assert sub.begin_time == datetime(2017, 11, 30, 10, 58) and sub.end_time == datetime(2018, 11, 30, 10, 58)
    assert sub.receive_addr == "http://10.0.0.1:8080/VIID/SubscribeNotifications"
    assert sub.report_interval_s == 5 and sub.operate_type == 0 and sub.applicant_org == "杭州市公安局"
    assert sub.cancellation is None


def test_lenient_where_platforms_differ() -> None:
    # Numbers as strings and strings as numbers, one object instead of a list, detail as a number.
    data = {
        "SubscribeListObject": {"SubscribeObject": example(ReportInterval="10", SubscribeDetail=12, OperateType="0")}
    }
    (sub,) = parse_subscribe_list(data)
    assert isinstance(sub, Subscribe) and sub.report_interval_s == 10 and sub.details == ("12",)
    (sub,) = parse_subscribe_list(
        body(example(SubscribeDetail=" 011 , 12 ", ReceiveAddr="/VIID/SubscribeNotifications"))
    )
    assert isinstance(sub, Subscribe) and sub.details == ("11", "12")
    assert sub.receive_addr == "/VIID/SubscribeNotifications"  # a path on the platform's own address
    # Epoch milliseconds and ISO with an offset are instants (aware); the application settles the zone.
    sub = parse_subscribe(example(EndTime=1_700_000_000_000, BeginTime="2023-11-14T22:13:20+08:00"))
    assert sub.end_time == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert sub.begin_time is not None and sub.begin_time.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"SubscribeID": ""}, "SubscribeID"),
        ({"SubscribeID": "a/b"}, "SubscribeID"),
        ({"SubscribeID": True}, "SubscribeID"),
        ({"ReceiveAddr": "ftp://10.0.0.1/x"}, "http(s)"),
        ({"ReceiveAddr": with_credentials("http://10.0.0.1/x", "user", secrets.token_urlsafe(6))}, "credentials"),
        ({"ReceiveAddr": "http://10.0.0.1:99999/x"}, "not a URL"),
        ({"ReceiveAddr": "//10.0.0.1/x"}, "http(s)"),
        ({"Title": "x" * 300}, "Title"),
        ({"Title": "a\x00b"}, "control"),
        ({"Title": ["x"]}, "Title"),
        ({"OperateType": 5}, "OperateType"),
        ({"OperateType": True}, "OperateType"),
        ({"ReportInterval": -1}, "ReportInterval"),
        ({"ReportInterval": "soon"}, "ReportInterval"),
        ({"EndTime": "tomorrow"}, "EndTime"),
        ({"SubscribeDetail": "11,people"}, "SubscribeDetail"),
        ({"ResourceURI": "3301,../etc"}, "ResourceURI"),
        ({"ResourceURI": ",".join(["1"] * 1001)}, "ResourceURI"),
    ],
)
def test_one_bad_object_is_refused_the_others_taken(changes: dict[str, Any], why: str) -> None:
    good = example(SubscribeID="2")
    first, second = parse_subscribe_list(body(example(**changes), good))
    assert isinstance(first, Refused) and why in first.reason and first.code == 8
    assert isinstance(second, Subscribe) and second.subscribe_id == "2"
    # The reason never carries the offending value itself (it would go back into answers and logs).
    assert "pw@" not in first.reason


@pytest.mark.parametrize(
    "data",
    [
        b"{",
        b"[" * 100_000,
        b'"just a string"',
        {"SubscribeList": {}},
        {"SubscribeListObject": {"SubscribeObject": []}},
        {"SubscribeListObject": {"SubscribeObject": "x"}},
        {"SubscribeListObject": {"SubscribeObject": [example()] * 65}},
    ],
)
def test_a_body_that_is_no_subscribe_list(data: Any) -> None:
    with pytest.raises(Gat1400ProtocolError):
        parse_subscribe_list(data)


def test_cancel_fields_and_id_lists() -> None:
    sub = parse_subscribe(
        example(OperateType=1, SubscribeCancelOrg="市局", SubscribeCancelPerson="张三", CancelReason="到期")
    )
    assert sub.operate_type == OPERATE_CANCEL
    assert sub.cancellation == Cancellation(org="市局", person="张三", time=None, reason="到期")
    assert parse_cancellation({"SubscribeObject": {"CancelReason": "x"}}) == Cancellation(reason="x")
    assert parse_cancellation(None) is None and parse_cancellation({}) is None
    assert parse_id_list(f"{SID}, 2 ,") == [SID, "2"]
    for bad in ("", ",", "a/b", ",".join(["1"] * 65)):
        with pytest.raises(Gat1400ProtocolError):
            parse_id_list(bad)


def test_an_update_changes_what_it_names() -> None:
    base = parse_subscribe(example())
    update = parse_subscribe({"SubscribeID": SID, "Title": "新标题", "ReportInterval": 0})
    merged = update.merged_into(base)
    assert merged.title == "新标题" and merged.report_interval_s == 0
    assert merged.details == base.details and merged.receive_addr == base.receive_addr


def test_the_object_we_answer_and_store_reads_back_the_same() -> None:
    sub = parse_subscribe(example(SubscribeCancelPerson="张三"))
    obj = subscribe_object(sub, status=1)
    assert obj["SubscribeStatus"] == 1 and obj["SubscribeDetail"] == "11,12" and obj["EndTime"] == "20181130105800"
    assert parse_subscribe(obj) == sub.__class__(**{**sub.__dict__, "subscribe_status": 1})
    assert subscribe_list([obj]) == {"SubscribeListObject": {"SubscribeObject": [obj]}}
    assert "Title" not in subscribe_object(Subscribe(subscribe_id="x"))  # absent stays absent


def test_business_ids() -> None:
    at = datetime(2024, 3, 5, 7, 8, 9)
    nid = business_id("310105000020", "04", at, 123_456)
    assert nid == "310105000020" + "04" + "20240305070809" + "23456" and len(nid) == BUSINESS_ID_LEN
    for org, subtype in (("31010500002", "04"), ("31010500002x", "04"), ("310105000020", "4")):
        with pytest.raises(ValueError):
            business_id(org, subtype, at, 1)


def test_notifications() -> None:
    at = datetime(2024, 3, 5, 7, 8, 9)
    person, face = {"PersonID": "p1", "DeviceID": "d"}, {"FaceID": "f1"}
    obj = notification_object("n" * 33, SID, "人员", at, [person], [face])
    assert obj == {
        "NotificationID": "n" * 33,
        "SubscribeID": SID,
        "Title": "人员",
        "TriggerTime": "20240305070809",
        "InfoIDs": "p1,f1",
        "PersonObjectList": {"PersonObject": [person]},
        "FaceObjectList": {"FaceObject": [face]},
    }
    only_faces = notification_object("n", SID, "", at, (), [face])
    assert "PersonObjectList" not in only_faces and only_faces["InfoIDs"] == "f1"
    assert notification_list([obj]) == {"SubscribeNotificationListObject": {"SubscribeNotificationObject": [obj]}}


# --- the time answer ---------------------------------------------------------------------------

AT = datetime(2024, 3, 5, 7, 8, 9)
EPOCH = 1_709_622_489  # 2024-03-05 07:08:09 UTC


@pytest.mark.parametrize(
    "raw",
    ["20240305070809", 20240305070809, "2024-03-05T07:08:09", "2024-03-05 07:08:09", " 20240305070809 "],
)
def test_wall_clock_forms_are_taken_as_written(raw: Any) -> None:
    assert parse_time_value(raw) == AT
    assert parse_time_any(raw).tzinfo is None


@pytest.mark.parametrize(
    "raw",
    [
        EPOCH,
        str(EPOCH),
        EPOCH * 1000,
        str(EPOCH * 1000),
        float(EPOCH),
        "2024-03-05T07:08:09Z",
        "2024-03-05T15:08:09+08:00",
    ],
)
def test_instants_are_taken_as_instants(raw: Any) -> None:
    assert parse_time_any(raw) == datetime(2024, 3, 5, 7, 8, 9, tzinfo=UTC)
    # As this machine's wall clock: what the client compares with its own.
    assert parse_time_value(raw) == datetime.fromtimestamp(EPOCH)


def test_milliseconds_keep_their_fraction() -> None:
    assert parse_time_any(EPOCH * 1000 + 250) == datetime(2024, 3, 5, 7, 8, 9, 250_000, tzinfo=UTC)
    assert parse_time_any(f"{EPOCH}.5").microsecond == 500_000


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "now",
        "2024-03-05",
        "2024-13-05T00:00:00",
        "99999999999999",
        "12",
        "123456789012345678",
        True,
        None,
        [1],
        1e30,
        float("nan"),
        "19000101000000",
        "2024-03-05T07:08:09+25:00",
    ],
)
def test_other_time_answers_are_refused(raw: Any) -> None:
    with pytest.raises(Gat1400ProtocolError):
        parse_time_value(raw)


def test_time_objects() -> None:
    assert parse_time(json.dumps({"SystemTimeObject": {"LocalTime": EPOCH * 1000}})) == datetime.fromtimestamp(EPOCH)
    assert parse_time({"SystemTimeObject": {"LocalTime": "20240305070809"}}) == AT
    with pytest.raises(Gat1400ProtocolError):
        parse_time({"SystemTimeObject": {"LocalTime": "soon"}})


@pytest.mark.parametrize("form", ["ms", "s", "iso-offset", "compact"])
async def test_the_client_reads_each_time_form(form: str) -> None:
    """ViidClient.server_time against a server answering in each form: the clock offset comes out
    right (the server here is 90 s ahead of us)."""
    ahead = datetime.now(UTC) + timedelta(seconds=90)
    shanghai = timezone(timedelta(hours=8))
    local_time: Any = {
        "ms": int(ahead.timestamp() * 1000),
        "s": int(ahead.timestamp()),
        "iso-offset": ahead.astimezone(shanghai).isoformat(timespec="seconds"),
        "compact": ahead.astimezone().strftime("%Y%m%d%H%M%S"),  # a server in our zone
    }[form]

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/VIID/System/Time"
        return httpx.Response(200, json={"SystemTimeObject": {"VIIDServerID": "1", "LocalTime": local_time}})

    settings = ViidSettings("http://viid.test", "31010500001190000001", "u", "p")
    async with ViidClient(settings, transport=httpx.MockTransport(answer)) as client:
        await client.server_time()
    assert client.clock_offset_s is not None and abs(client.clock_offset_s - 90) < 2
