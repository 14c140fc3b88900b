from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import pytest

from adapters.gat1400 import ids
from adapters.gat1400.objects import (
    IMAGE_FACE,
    IMAGE_SCENE,
    Box,
    Gat1400ProtocolError,
    SubImage,
    face_list,
    face_object,
    parse_status,
    parse_status_list,
    parse_time,
    person_list,
    person_object,
)

DEV = "31010500001190000001"
AT = datetime(2024, 3, 5, 7, 8, 9)
JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"


def test_image_id_composition() -> None:
    iid = ids.image_id(DEV, AT, 42)
    assert iid == DEV + "02" + "20240305070809" + "00042"
    assert len(iid) == ids.IMAGE_ID_LEN == 41


def test_object_ids() -> None:
    iid = ids.image_id(DEV, AT, 1)
    pid, fid = ids.person_id(iid, 7), ids.face_id(iid, 8)
    assert len(pid) == len(fid) == ids.OBJECT_ID_LEN == 48
    assert pid == iid + "01" + "00007"
    assert fid == iid + "06" + "00008"


def test_sequence_wraps() -> None:
    assert ids.image_id(DEV, AT, 100_000).endswith("00000")
    assert ids.image_id(DEV, AT, 100_123).endswith("00123")
    assert ids.person_id(ids.image_id(DEV, AT, 0), 199_999).endswith("99999")


@pytest.mark.parametrize("bad", ["", "123", DEV + "0", DEV[:-1] + "x", "３" * 20, "²" * 20])
def test_bad_device_id(bad: str) -> None:
    with pytest.raises(ValueError, match="20 digits"):
        ids.image_id(bad, AT, 0)


def test_bad_image_id() -> None:
    with pytest.raises(ValueError):
        ids.person_id("1" * 40, 0)
    with pytest.raises(ValueError):  # type digits must say "image"
        ids.face_id(DEV + "01" + "20240305070809" + "00001", 0)


def test_viid_time() -> None:
    assert ids.viid_time(AT) == "20240305070809"


def _images(iid: str) -> list[SubImage]:
    return [
        SubImage(iid, IMAGE_SCENE, JPEG, 1920, 1080, AT),
        SubImage(ids.image_id(DEV, AT, 2), IMAGE_FACE, JPEG, 96, 128, AT),
    ]


def test_person_object_fields() -> None:
    iid = ids.image_id(DEV, AT, 1)
    obj = person_object(ids.person_id(iid, 1), DEV, iid, Box(10, 20, 110, 320), AT, AT, _images(iid))
    assert obj["PersonID"].startswith(iid)
    assert obj["InfoKind"] == 1
    assert obj["SourceID"] == iid and obj["DeviceID"] == DEV
    assert (obj["LeftTopX"], obj["LeftTopY"], obj["RightBtmX"], obj["RightBtmY"]) == (10, 20, 110, 320)
    assert obj["PersonAppearTime"] == obj["PersonDisAppearTime"] == obj["LocationMarkTime"] == "20240305070809"
    subs = obj["SubImageList"]["SubImageInfoObject"]
    assert [s["Type"] for s in subs] == ["14", "11"]
    first = subs[0]
    assert set(first) == {
        "ImageID", "EventSort", "DeviceID", "StoragePath", "Type", "FileFormat", "ShotTime", "Width", "Height", "Data",
    }  # fmt: skip
    assert base64.b64decode(first["Data"]) == JPEG
    assert first["FileFormat"] == "Jpeg" and first["Width"] == 1920 and isinstance(first["EventSort"], int)
    json.dumps(person_list([obj]))  # JSON-serialisable as is
    assert person_list([obj]) == {"PersonListObject": {"PersonObject": [obj]}}


def test_face_object_fields() -> None:
    iid = ids.image_id(DEV, AT, 1)
    obj = face_object(ids.face_id(iid, 3), DEV, iid, Box(1, 2, 3, 4), AT, AT, _images(iid)[1:])
    assert obj["FaceID"][41:43] == "06"
    assert obj["FaceAppearTime"] == obj["FaceDisAppearTime"] == "20240305070809"
    assert "PersonID" not in obj
    assert face_list([obj]) == {"FaceListObject": {"FaceObject": [obj]}}


def test_sub_image_repr_hides_bytes() -> None:
    assert "fake-jpeg" not in repr(SubImage("1", "14", JPEG, 1, 1, AT))


def _status(**over: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "RequestURL": "/VIID/Persons",
        "StatusCode": 0,
        "StatusString": "OK",
        "Id": "1",
        "LocalTime": "20240305070809",
    }
    s.update(over)
    return s


def test_parse_status_good() -> None:
    st = parse_status(json.dumps({"ResponseStatusObject": _status()}).encode())
    assert st.ok and st.status_code == 0 and st.request_url == "/VIID/Persons" and st.id == "1"
    assert parse_status({"ResponseStatusObject": _status(StatusCode="4")}).status_code == 4


def test_parse_status_list_good() -> None:
    body = {"ResponseStatusListObject": {"ResponseStatusObject": [_status(Id="a"), _status(Id="b", StatusCode=1)]}}
    got = parse_status_list(json.dumps(body))
    assert [(s.id, s.status_code) for s in got] == [("a", 0), ("b", 1)]
    # a single object in place of a list, and a bare status, are tolerated
    assert len(parse_status_list({"ResponseStatusListObject": {"ResponseStatusObject": _status()}})) == 1
    assert len(parse_status_list({"ResponseStatusObject": _status()})) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"<xml/>",
        b"\xff\xfe\x00",
        "",
        None,
        [],
        42,
        {},
        {"ResponseStatusObject": None},
        {"ResponseStatusObject": []},
        {"ResponseStatusObject": {"StatusString": "OK"}},
        {"ResponseStatusObject": _status(StatusCode="zero")},
        {"ResponseStatusObject": _status(StatusCode="²")},
        {"ResponseStatusObject": _status(StatusCode=True)},
        {"ResponseStatusObject": _status(StatusCode=None)},
        {"ResponseStatusObject": _status(Id={"x": 1})},
    ],
)
def test_parse_status_malformed(body: Any) -> None:
    with pytest.raises(Gat1400ProtocolError):
        parse_status(body)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        {"ResponseStatusListObject": None},
        {"ResponseStatusListObject": {}},
        {"ResponseStatusListObject": {"ResponseStatusObject": "x"}},
        {"ResponseStatusListObject": {"ResponseStatusObject": [1]}},
        {"ResponseStatusListObject": {"ResponseStatusObject": [{"StatusCode": []}]}},
    ],
)
def test_parse_status_list_malformed(body: Any) -> None:
    with pytest.raises(Gat1400ProtocolError):
        parse_status_list(body)


def test_parse_time() -> None:
    body = {"SystemTimeObject": {"VIIDServerID": "1", "TimeMode": "1", "LocalTime": "20240305070809"}}
    assert parse_time(json.dumps(body)) == AT
    for bad in (b"{", {}, {"SystemTimeObject": {"LocalTime": "2024-03-05"}}, {"SystemTimeObject": {}}):
        with pytest.raises(Gat1400ProtocolError):
            parse_time(bad)
