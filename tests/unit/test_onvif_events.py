"""ONVIF event parsing: notification shapes, topic kinds, hostile and half-empty messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from adapters.onvif.events import (
    MAX_ITEMS,
    OnvifEvent,
    _duration,
    _reference_headers,
    _remaining_s,
    normalise_topic,
    parse_notifications,
)
from adapters.onvif.soap import descendant, parse_envelope, parse_xml
from gateway import device_events
from gateway.config import GatewayConfig
from gateway.device_events import DeviceEventService
from gateway.storage import schema
from gateway.storage.db import Database

ENV = "http://www.w3.org/2003/05/soap-envelope"
NS = (
    f'xmlns:s="{ENV}" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
    'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:tns1="http://www.onvif.org/ver10/topics"'
)


def _pull_response(messages: str, extra: str = "") -> bytes:
    return (
        f"<s:Envelope {NS}><s:Body><tev:PullMessagesResponse>{extra}{messages}"
        "</tev:PullMessagesResponse></s:Body></s:Envelope>"
    ).encode()


def _message(topic: str, inner: str, attrs: str = 'UtcTime="2026-05-01T10:00:00Z" PropertyOperation="Changed"') -> str:
    return (
        f"<wsnt:NotificationMessage><wsnt:Topic>{topic}</wsnt:Topic>"
        f"<wsnt:Message><tt:Message {attrs}>{inner}</tt:Message></wsnt:Message></wsnt:NotificationMessage>"
    )


MOTION = _message(
    "tns1:RuleEngine/CellMotionDetector/Motion",
    '<tt:Source><tt:SimpleItem Name="VideoSourceConfigurationToken" Value="vsc_1"/>'
    '<tt:SimpleItem Name="Rule" Value="MyMotionDetectorRule"/></tt:Source>'
    '<tt:Data><tt:SimpleItem Name="IsMotion" Value="true"/></tt:Data>',
)


def test_motion_notification_is_parsed() -> None:
    [event] = parse_notifications(parse_envelope(_pull_response(MOTION)))
    assert event.topic == "RuleEngine/CellMotionDetector/Motion" and event.kind == "motion"
    assert event.utc == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert event.source == {"VideoSourceConfigurationToken": "vsc_1", "Rule": "MyMotionDetectorRule"}
    assert event.data == {"IsMotion": "true"}
    assert event.operation == "Changed"


@pytest.mark.parametrize(
    ("topic", "kind"),
    [
        ("RuleEngine/CellMotionDetector/Motion", "motion"),
        ("VideoSource/MotionAlarm", "motion"),
        ("VideoSource/GlobalSceneChange/ImagingService", "tamper"),
        ("VideoSource/GlobalSceneChange/AnalyticsService", "tamper"),
        ("RuleEngine/TamperDetector/Tamper", "tamper"),
        ("Device/Trigger/DigitalInput", "alarm_input"),
        ("VideoSource/ImageTooDark/ImagingService", "other"),
        ("VideoSource/MotionAlarmX", "other"),
    ],
)
def test_topic_kinds(topic: str, kind: str) -> None:
    assert OnvifEvent(topic, None, {}, {}).kind == kind


def test_topic_prefixes_are_dropped_on_every_segment() -> None:
    assert normalise_topic(" tns1:VideoSource/tnsaxis:MotionAlarm ") == "VideoSource/MotionAlarm"
    assert normalise_topic("tns1:RuleEngine//TamperDetector/Tamper") == "RuleEngine/TamperDetector/Tamper"


def test_flattened_and_half_empty_messages_do_not_crash() -> None:
    flat = (
        "<wsnt:NotificationMessage><wsnt:Topic>tns1:VideoSource/MotionAlarm</wsnt:Topic>"
        '<wsnt:Message UtcTime="garbage"><tt:Data><tt:SimpleItem Name="State" Value="false"/>'
        '<tt:SimpleItem Value="no name"/><tt:SimpleItem Name="no value"/></tt:Data></wsnt:Message>'
        "</wsnt:NotificationMessage>"
    )
    no_topic = "<wsnt:NotificationMessage><wsnt:Message/></wsnt:NotificationMessage>"
    no_message = "<wsnt:NotificationMessage><wsnt:Topic>tns1:X</wsnt:Topic></wsnt:NotificationMessage>"
    events = parse_notifications(parse_envelope(_pull_response(flat + no_topic + no_message)))
    assert [(e.topic, e.utc, e.data, e.source) for e in events] == [
        ("VideoSource/MotionAlarm", None, {"State": "false"}, {})
    ]


def test_huge_item_lists_and_values_are_capped() -> None:
    items = "".join(f'<tt:SimpleItem Name="k{i}" Value="{"v" * 1000}"/>' for i in range(200))
    [event] = parse_notifications(parse_envelope(_pull_response(_message("tns1:X/Y", f"<tt:Data>{items}</tt:Data>"))))
    assert len(event.data) == MAX_ITEMS and all(len(v) == 256 for v in event.data.values())


def test_lifetime_comes_from_the_devices_own_clock_pair() -> None:
    times = (
        "<wsnt:CurrentTime>2020-01-01T00:00:00Z</wsnt:CurrentTime>"
        "<wsnt:TerminationTime>2020-01-01T00:01:30Z</wsnt:TerminationTime>"
    )
    body = parse_envelope(_pull_response("", times))
    assert _remaining_s(descendant(body, "PullMessagesResponse"), 5.0) == 90.0  # a device years off is fine
    assert _remaining_s(parse_envelope(_pull_response("")), 5.0) == 5.0
    assert _duration(0.2) == "PT1S" and _duration(60) == "PT60S"


def test_reference_parameters_are_echoed_as_headers() -> None:
    ref = parse_xml(
        b'<a:SubscriptionReference xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:v="urn:v">'
        b"<a:Address>http://x/sub</a:Address><a:ReferenceParameters><v:SubscriptionId>42</v:SubscriptionId>"
        b"</a:ReferenceParameters></a:SubscriptionReference>"
    )
    header = _reference_headers(ref)
    assert "SubscriptionId" in header and "42" in header and "urn:v" in header
    assert _reference_headers(parse_xml(b"<r><Address>http://x</Address></r>")) == ""


async def test_device_events_are_filed_on_the_gateway_clock_with_the_camera_time_kept(
    storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A camera whose clock jumped a day back must not file its events a day back, out of every
    # query for the current window.
    config = GatewayConfig.model_construct()  # storing an event reads no configuration
    received = datetime(2026, 5, 2, 10, 0, 5, tzinfo=UTC).timestamp()
    monkeypatch.setattr(device_events.time, "time", lambda: received)
    camera_time = datetime(2026, 5, 1, 10, tzinfo=UTC)  # one day behind
    with Database(storage_url) as db:
        service = DeviceEventService(config, db)
        await service._store("cam", OnvifEvent("VideoSource/MotionAlarm", camera_time, {"Src": "1"}, {"State": "true"}))
        await service._store("cam", OnvifEvent("VideoSource/MotionAlarm", None, {}, {"State": "false"}))
        with db.engine.connect() as conn:
            rows = conn.execute(select(schema.device_events).order_by(schema.device_events.c.id)).mappings().all()
    assert [r["ts"] for r in rows] == [received, received]
    assert rows[0]["data"] == {"Src": "1", "State": "true", "camera_time": "2026-05-01T10:00:00+00:00"}
    assert rows[1]["data"] == {"State": "false"}  # the camera gave no time: nothing to keep
