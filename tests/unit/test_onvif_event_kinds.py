"""What ONVIF events mean: vendors' notification messages through the real SOAP parser to a kind and an
on/off; the camera's tamper state as the picture checks read it; the camera page and API showing both.

The messages are in tests/unit/data/onvif_events/, one file per vendor, each naming the public examples
it was written from.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from adapters.onvif import EVENT_KINDS, OnvifEvent, classify
from adapters.onvif.event_kinds import RULES, parse_state
from adapters.onvif.events import parse_notifications
from adapters.onvif.soap import parse_envelope
from gateway import device_events
from gateway.app import create_app
from gateway.config import GatewayConfig
from gateway.device_events import (
    KIND_LABELS,
    TAMPER_PULSE_S,
    DeviceEventService,
    kind_label,
    latest_device_events,
)
from gateway.sessions import SESSION_COOKIE
from gateway.storage import schema
from gateway.storage.db import Database
from tests.support.apisite import USER_PASSWORD, bearer, seed, site_config

DATA = Path(__file__).parent / "data" / "onvif_events"
DOCS = Path(__file__).parents[2] / "docs" / "onvif-events.md"

# Per file, every message in order: (topic after normalising, kind, active).
EXPECTED: dict[str, list[tuple[str, str, bool | None]]] = {
    "onvif_standard.xml": [
        ("RuleEngine/CellMotionDetector/Motion", "motion", True),
        ("RuleEngine/CellMotionDetector/Motion", "motion", False),
        ("VideoSource/MotionAlarm", "motion", True),
        ("RuleEngine/MotionRegionDetector/Motion", "motion", True),
        ("RuleEngine/TamperDetector/Tamper", "tamper", False),
        ("VideoSource/GlobalSceneChange/ImagingService", "tamper", True),
        ("VideoSource/ImageTooDark/ImagingService", "other", True),  # dusk, not tampering
        ("RuleEngine/LineDetector/Crossed", "line_crossing", True),  # an instant: on when it happens
        ("RuleEngine/LineDetector/Crossed", "line_crossing", None),  # ...and no state at subscription
        ("RuleEngine/FieldDetector/ObjectsInside", "intrusion", True),
        ("RuleEngine/CountAggregation/Counter", "people", None),  # a count, not an on/off
        ("Device/Trigger/DigitalInput", "alarm_input", True),
        ("Device/Trigger/Relay", "other", True),
    ],
    "tapo.xml": [
        ("RuleEngine/CellMotionDetector/Tamper", "tamper", True),
        ("RuleEngine/CellMotionDetector/Tamper", "tamper", False),
        ("RuleEngine/CellMotionDetector/People", "people", True),
        ("RuleEngine/PeopleDetector/People", "people", False),
        ("RuleEngine/CellMotionDetector/LineCross", "line_crossing", True),
        ("RuleEngine/CellMotionDetector/Intrusion", "intrusion", True),
        ("RuleEngine/TPSmartEventDetector/TPSmartEvent", "motion", True),  # IsVehicle
        ("RuleEngine/CellMotionDetector/TpSmartEvent", "people", True),  # IsPeople
        ("RuleEngine/TPSmartEventDetector/TPSmartEvent", "other", None),  # IsNotPerson: unknown item
    ],
    "axis.xml": [
        ("CameraApplicationPlatform/VMD/Camera1Profile1", "motion", True),
        ("CameraApplicationPlatform/VMD/Camera1ProfileANY", "motion", False),
        ("RuleEngine/VMD3/vmd3_video_1", "motion", True),
        ("VideoSource/Tampering", "tamper", True),
        ("VideoSource/GlobalSceneChange/ImagingService", "tamper", False),
        ("Device/Sensor/PIR", "motion", True),
        ("RuleEngine/CrossLineDetection/linetouched", "line_crossing", True),
        ("Device/IO/Port", "alarm_input", False),
        ("VideoSource/DayNightVision", "other", None),
    ],
    "hikvision.xml": [
        ("Device/Trigger/AlarmIn", "alarm_input", True),
        ("Device/AlarmIn", "alarm_input", False),
        ("AlarmIn", "alarm_input", True),
        ("VideoAnalytics/MotionAlarm", "motion", False),
        ("UserAlarm/VideoCover", "tamper", True),
        ("RuleEngine/TamperDetector/Tamper", "tamper", False),
        ("RuleEngine/FieldDetector/ObjectsInside", "intrusion", False),
    ],
    "ajax.xml": [
        ("RuleEngine/MotionDetector/Detection", "motion", True),
        ("RuleEngine/ObjectDetection/Object", "people", True),  # Human,Vehicle
        ("RuleEngine/ObjectDetection/Object", "motion", True),  # Animal
        ("RuleEngine/ObjectDetection/Object", "motion", False),  # nothing seen any more
    ],
    "dahua.xml": [
        ("RuleEngine/LineDetector/Crossed", "line_crossing", True),
        ("RuleEngine/CellMotionDetector/Motion", "motion", True),
        ("RuleEngine/TamperDetector/Tamper", "tamper", True),
    ],
    "reolink.xml": [
        ("RuleEngine/MyRuleDetector/PeopleDetect", "people", True),
        ("RuleEngine/MyRuleDetector/VehicleDetect", "motion", False),
        ("RuleEngine/MyRuleDetector/Visitor", "other", True),
    ],
    "unknown.xml": [
        ("This/Rule/DoesNotExist", "other", True),
        ("Device/Logs", "other", None),
        ("Monitoring/ProcessorUsage", "other", None),
    ],
}


def test_every_fixture_is_checked() -> None:
    assert sorted(p.name for p in DATA.glob("*.xml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vendor_messages_have_their_kind_and_state(name: str) -> None:
    text = (DATA / name).read_text(encoding="utf-8")
    assert re.search(r"<!--.*(issue|tests/|parsers|specification|documentation).*-->", text, re.S), (
        "each fixture names the public examples it was written from"
    )
    events = parse_notifications(parse_envelope(text.encode()))
    assert [(e.topic, e.kind, e.active) for e in events] == EXPECTED[name]


def test_a_vendor_topic_no_rule_names_is_classified_by_its_data_item() -> None:
    assert classify("RuleEngine/SomeVendorDetector/Thing", {"IsTamper": "1"}).kind == "tamper"
    assert classify("RuleEngine/SomeVendorDetector/Thing", {"IsLineCross": "true"}).kind == "line_crossing"
    # A topic rule beats a data item rule: an alarm input carrying IsMotion stays an alarm input.
    assert classify("Device/Trigger/DigitalInput", {"IsMotion": "true", "LogicalState": "false"}).kind == (
        "alarm_input"
    )
    assert classify("Device/Trigger/DigitalInput", {"IsMotion": "true", "LogicalState": "false"}).active is False


def test_topics_match_whole_segments_without_regard_to_case() -> None:
    assert classify("videosource/motionalarm", {"State": "TRUE"}).kind == "motion"
    assert classify("VideoSource/MotionAlarmX", {"State": "true"}).kind == "other"
    assert classify("VideoSource/MotionAlarm/Extra", {"State": "true"}).kind == "other"
    assert classify("VideoSource/GlobalSceneChange", {"State": "true"}).kind == "tamper"  # ** matches nothing too
    assert classify("Deep/" * 10_000 + "AlarmIn", {"State": "true"}).kind == "other"  # hostile depth: cheap, no match


@pytest.mark.parametrize(
    ("value", "state"),
    [
        ("true", True),
        (" TRUE ", True),
        ("1", True),
        ("active", True),
        ("On", True),
        ("false", False),
        ("0", False),
        ("inactive", False),
        ("", None),
        ("2", None),
        ("touched", None),
        (None, None),
    ],
)
def test_state_words(value: str | None, state: bool | None) -> None:
    assert parse_state(value) is state


def test_every_kind_has_a_label_and_every_rule_is_documented() -> None:
    assert set(KIND_LABELS) == set(EVENT_KINDS)
    assert kind_label("tamper") == "遮挡/篡改 Tamper" and kind_label("retired-kind") == "retired-kind"
    docs = DOCS.read_text(encoding="utf-8")
    missing = [r.topic for r in RULES if f"`{r.topic}`" not in docs]
    assert not missing, f"docs/onvif-events.md lacks {missing}"
    for kind in EVENT_KINDS:
        assert f"`{kind}`" in docs


# ------------------------------------------------------------------------------- tamper evidence


def _tamper(active: str, op: str = "Changed") -> OnvifEvent:
    source = {"Rule": "MyTamperDetectorRule"}
    return OnvifEvent("RuleEngine/TamperDetector/Tamper", None, source, {"IsTamper": active}, op)


async def test_tamper_state_follows_the_camera(storage_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(device_events.time, "time", lambda: clock[0])
    config = GatewayConfig.model_construct()
    with Database(storage_url) as db:
        service = DeviceEventService(config, db)
        assert service.tamper_state("cam") is None and service.tamper_active("cam") is None
        await service._store("cam", _tamper("false", op="Initialized"))
        assert service.tamper_active("cam") is False
        clock[0] = 1010.0
        await service._store("cam", _tamper("true"))
        clock[0] = 1020.0
        await service._store("cam", _tamper("true"))  # said again: it started at 1010 all the same
        state = service.tamper_state("cam")
        assert state is not None and (state.active, state.since, state.topic) == (
            True,
            1010.0,
            "RuleEngine/TamperDetector/Tamper",
        )
        # A second detector that sees nothing does not clear the first.
        scene = OnvifEvent("VideoSource/GlobalSceneChange/ImagingService", None, {"Source": "1"}, {"State": "false"})
        await service._store("cam", scene)
        assert service.tamper_active("cam") is True
        clock[0] = 1030.0
        await service._store("cam", _tamper("false"))
        state = service.tamper_state("cam")
        assert state is not None and (state.active, state.since) == (False, 1030.0)
        # Motion says nothing about tampering; another camera knows nothing of this one.
        await service._store("cam", OnvifEvent("VideoSource/MotionAlarm", None, {}, {"State": "true"}))
        assert service.tamper_active("cam") is False and service.tamper_active("other-cam") is None
        # A detector the camera deletes stops counting; one that never said anything counts for nothing.
        await service._store("cam", _tamper("true"))
        await service._store("cam", _tamper("true", op="Deleted"))
        assert service.tamper_active("cam") is False
        await service._store("cam", OnvifEvent("VideoSource/GlobalSceneChange/ImagingService", None, {}, {}))
        assert service.tamper_active("cam") is False
        with db.engine.connect() as conn:
            kinds = conn.execute(select(schema.device_events.c.kind)).scalars().all()
    assert kinds.count("tamper") == 8 and kinds.count("motion") == 1


async def test_a_momentary_tamper_counts_for_a_while(storage_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_events.time, "time", lambda: 5000.0)
    with Database(storage_url) as db:
        service = DeviceEventService(GatewayConfig.model_construct(), db)
        axis = OnvifEvent("VideoSource/Tampering", None, {"channel": "1"}, {"tampering": "1"})
        await service._store("cam", axis)
    assert service.tamper_active("cam", now=5000.0 + TAMPER_PULSE_S - 1) is True
    late = service.tamper_state("cam", now=5000.0 + TAMPER_PULSE_S + 1)
    assert late is not None and (late.active, late.since) == (False, 5000.0 + TAMPER_PULSE_S)


async def test_tampering_is_logged_when_it_starts_not_when_it_was_never_there(
    storage_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Database(storage_url) as db:
        service = DeviceEventService(GatewayConfig.model_construct(), db)
        with caplog.at_level("INFO", logger="gateway.device_events"):
            await service._store("cam", _tamper("false", op="Initialized"))
            assert not caplog.records
            await service._store("cam", _tamper("true", op="Initialized"))  # covered when we subscribed
            await service._store("cam", _tamper("false"))
    assert [(r.levelname, "ended" in r.getMessage()) for r in caplog.records] == [
        ("WARNING", False),
        ("INFO", True),
    ]
    assert "the camera reports tampering" in caplog.records[0].getMessage()


# ------------------------------------------------------------------------------ page and API


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    config = site_config(tmp_path, monkeypatch)
    tokens = seed(config)
    with TestClient(create_app(config, start_cameras=False)) as client:
        yield client, tokens


def _store(client: TestClient, camera_id: str, *events: OnvifEvent) -> None:
    service = client.app.state.runtime.device_events  # type: ignore[attr-defined]

    async def store() -> None:
        for e in events:
            await service._store(camera_id, e)

    asyncio.run(store())


def test_the_camera_page_shows_its_own_events_and_tamper_state(site: Any) -> None:
    client, _ = site
    runtime = client.app.state.runtime
    client.cookies.set(SESSION_COOKIE, _session(client))
    page = client.get("/cameras/a1")
    assert page.status_code == 200 and "device-events" not in page.text  # not subscribed, nothing stored
    _store(
        client,
        "a1",
        OnvifEvent("RuleEngine/CellMotionDetector/Motion", None, {}, {"IsMotion": "true"}),
        OnvifEvent("RuleEngine/CellMotionDetector/People", None, {}, {"IsPeople": "true"}),
        _tamper("true"),
    )
    _store(client, "b1", OnvifEvent("Device/Trigger/DigitalInput", None, {}, {"LogicalState": "true"}))
    page = client.get("/cameras/a1")
    assert page.status_code == 200
    html = page.text
    table = html[html.index('id="device-events"') :]
    # The page speaks the site's language (zh-CN by default): each kind's Chinese name.
    assert table.index(">遮挡/篡改<") < table.index(">人员<") < table.index(">移动侦测<")  # newest first
    assert "报警输入" not in table  # camera b1's
    assert table.count("<td>开始") == 3 and "<td>结束" not in table
    assert 'id="device-tamper"' in html and "摄像机报告自" in html
    client.cookies.set("lang", "en")
    english = client.get("/cameras/a1").text
    table = english[english.index('id="device-events"') :]
    assert table.index(">Tamper<") < table.index(">People<") < table.index(">Motion<")
    assert table.count("<td>started") == 3 and "the camera reports tampering since" in english
    client.cookies.delete("lang")
    assert [r.label for r in latest_device_events(runtime.db, "a1")] == [
        "遮挡/篡改 Tamper",
        "人员 People",
        "移动侦测 Motion",
    ]


def test_the_api_filters_by_the_new_kinds_and_says_whether_each_started(site: Any) -> None:
    client, tokens = site
    _store(
        client,
        "a1",
        OnvifEvent("RuleEngine/CellMotionDetector/Tamper", None, {"Rule": "r"}, {"IsTamper": "true"}),
        OnvifEvent("RuleEngine/CellMotionDetector/Tamper", None, {"Rule": "r"}, {"IsTamper": "false"}),
        OnvifEvent("RuleEngine/LineDetector/Crossed", None, {}, {"ObjectId": "3"}),
    )
    # A row stored before the kinds were widened keeps its kind.
    with Database(client.app.state.runtime.config.storage.url) as db, db.engine.begin() as conn:
        conn.execute(
            schema.device_events.insert().values(
                camera_id="a1", ts=time.time(), kind="other", topic="Device/Trigger/DigitalInput", data={}
            )
        )
    h = bearer(tokens["operator"])
    tampers = client.get("/api/v1/cameras/a1/device-events?kind=tamper", headers=h).json()
    assert [(e["kind"], e["active"]) for e in tampers] == [("tamper", True), ("tamper", False)]
    crossings = client.get("/api/v1/cameras/a1/device-events?kind=line_crossing", headers=h).json()
    assert [(e["topic"], e["active"]) for e in crossings] == [("RuleEngine/LineDetector/Crossed", True)]
    assert len(client.get("/api/v1/cameras/a1/device-events?kind=other", headers=h).json()) == 1
    assert client.get("/api/v1/cameras/a1/device-events?kind=bogus", headers=h).status_code == 422


def _session(client: TestClient) -> str:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    token: str = runtime.sessions.login("admin-u", USER_PASSWORD, "testclient").token
    return token
