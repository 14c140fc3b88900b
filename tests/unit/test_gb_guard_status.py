"""GB/T 28181 guard and alarm commands, the alarm query, DeviceStatus as things are, the catalog events
beyond ON/OFF (VLOST, DEFECT) and the catalog changes between runs (ADD, DEL, UPDATE), with the fake
SIP link of tests/support/gbunit.py."""

from __future__ import annotations

from typing import Any

from adapters.gb28181 import manscdp
from adapters.gb28181.sip import SipMessage
from gateway.analytics.events import Event
from gateway.gb28181.catalog import catalog_changes, catalog_event, told
from gateway.gb28181.guard import Guard, RaisedAlarm
from gateway.health.state import CameraState, CameraStatus
from tests.support.configs import CH1, CH2, UNIT_ID
from tests.support.gbunit import Site, manscdp_message, settle, subscribe_request


def _intrusion(camera: str = "gate", at: float = 1_700_000_000.0) -> Event:
    return Event(None, camera, "door", "intrusion", "z", at, (1,), (), {}, "person in zone z", 640, 360)


def _answers(site: Site, cmd: str) -> list[manscdp.Manscdp]:
    bodies = [manscdp.parse(m.body) for m in site.link.sent_of("MESSAGE")]
    return [b for b in bodies if b.cmd_type == cmd]


def _sent_alarms(site: Site) -> list[manscdp.Manscdp]:
    return [b for b in _answers(site, "Alarm") if b.root == "Notify"]


async def _control(site: Site, device_id: str, inner: str) -> SipMessage | None:
    return await site.uplink._on_request(manscdp_message("Control", "DeviceControl", device_id, inner))


async def test_reset_guard_holds_alarms_back_and_set_guard_lets_them_through() -> None:
    site = Site(alarms="always")
    answer = await _control(site, UNIT_ID, "<GuardCmd>ResetGuard</GuardCmd>")  # the system: every channel
    assert answer is not None and answer.status == 200
    await settle()
    (result,) = _answers(site, "DeviceControl")
    assert result.field("Result") == "OK"
    site.uplink.detection_event(_intrusion())
    await settle()
    assert _sent_alarms(site) == [] and site.uplink.counters["alarms_held_back"] == 1
    await _control(site, CH1, "<GuardCmd>SetGuard</GuardCmd>")  # one channel armed again
    await settle()
    site.uplink.detection_event(_intrusion())
    site.uplink.detection_event(_intrusion("hall"))  # still disarmed
    await settle()
    assert [a.device_id for a in _sent_alarms(site)] == [CH1]


async def test_duty_status_follows_alarm_and_reset_alarm() -> None:
    site = Site(alarms="always")
    site.uplink.detection_event(_intrusion())
    await settle()

    async def duties() -> dict[str, str]:
        site.link.sent.clear()
        await site.uplink._on_request(manscdp_message("Query", "DeviceStatus", UNIT_ID))
        await settle()
        (status,) = _answers(site, "DeviceStatus")
        return {i.findtext("DeviceID") or "": i.findtext("DutyStatus") or "" for i in status.element.iter("Item")}

    assert await duties() == {CH1: "ALARM", CH2: "ONDUTY"}
    await _control(site, CH1, "<AlarmCmd>ResetAlarm</AlarmCmd><Info><AlarmMethod>5</AlarmMethod></Info>")
    assert await duties() == {CH1: "ONDUTY", CH2: "ONDUTY"}
    await _control(site, CH2, "<GuardCmd>ResetGuard</GuardCmd>")
    assert await duties() == {CH1: "ONDUTY", CH2: "OFFDUTY"}


async def test_alarm_query_answers_ok_then_the_matching_alarms() -> None:
    site = Site(alarms="always")
    site.uplink.detection_event(_intrusion(at=1_700_000_000.0))
    site.set_state("gate", CameraState.OFFLINE)  # a priority 2 video-anomaly alarm, at 1970-01-01
    await settle()
    site.link.sent.clear()
    # Priority 2 only, intrusion type 6 only: the first; the range of time on its own: both.
    inner = "<StartAlarmPriority>2</StartAlarmPriority><EndAlarmPriority>2</EndAlarmPriority><AlarmType>6</AlarmType>"
    answer = await site.uplink._on_request(manscdp_message("Query", "Alarm", UNIT_ID, inner))
    assert answer is not None and answer.status == 200
    await settle()
    replies = _answers(site, "Alarm")
    assert [r.root for r in replies] == ["Response", "Notify"]
    assert replies[0].field("Result") == "OK" and replies[1].element.findtext(".//AlarmType") == "6"
    for inner, found in (
        ("<AlarmMethod>0</AlarmMethod>", 2),
        ("<AlarmMethod>25</AlarmMethod><StartAlarmTime>2023-11-14T00:00:00</StartAlarmTime>", 1),
        ("<AlarmMethod>2</AlarmMethod>", 0),
    ):
        site.link.sent.clear()
        await site.uplink._on_request(manscdp_message("Query", "Alarm", CH1, inner))
        await settle()
        assert [r.root for r in _answers(site, "Alarm")] == ["Response"] + ["Notify"] * found, inner
    bad = await site.uplink._on_request(manscdp_message("Query", "Alarm", UNIT_ID, "<AlarmMethod>x5</AlarmMethod>"))
    assert bad is not None and bad.status == 400


async def test_device_status_says_why_a_channel_is_not_ok() -> None:
    site = Site()
    frozen = CameraStatus("gate", CameraState.DEGRADED, "frozen", 5.0, faults=("quality:frozen",))
    site.uplink.camera_changed(frozen, CameraStatus("gate", CameraState.ONLINE, None, 1.0))
    await site.uplink._on_request(manscdp_message("Query", "DeviceStatus", CH1))
    await site.uplink._on_request(manscdp_message("Query", "DeviceStatus", UNIT_ID))
    await settle()
    channel, system = _answers(site, "DeviceStatus")
    # Video still comes (online, encoding) but the picture is faulty: Status ERROR with the reason.
    assert (channel.field("Online"), channel.field("Status"), channel.field("Encode")) == ("ONLINE", "ERROR", "ON")
    assert "frozen" in (channel.field("Reason") or "")
    assert channel.field("Record") is None  # no recordings configured: not claimed either way
    assert (system.field("Status"), system.field("Reason")) == ("ERROR", "cameras not OK: Gate")


async def test_device_status_record_comes_from_the_recording_device() -> None:
    import time

    site = Site()
    now = time.time()
    spans: dict[str, list[tuple[float, float]] | None] = {
        "gate": [(now - 600, now - 5)],
        "hall": [(now - 900, now - 800)],
    }

    async def search(camera: str, start: float, end: float) -> list[tuple[float, float]] | None:
        return spans.get(camera)

    site.uplink._recordings = search
    for channel in (CH1, CH2):
        await site.uplink._on_request(manscdp_message("Query", "DeviceStatus", channel))
    await settle()
    assert [s.field("Record") for s in _answers(site, "DeviceStatus")] == ["ON", "OFF"]


def test_catalog_event_of_each_status() -> None:
    def status(state: CameraState, reason: str | None = None, faults: tuple[str, ...] = ()) -> CameraStatus:
        return CameraStatus("c", state, reason, 1.0, faults=faults)

    assert catalog_event(None) == "OFF"
    assert catalog_event(status(CameraState.ONLINE)) == "ON"
    assert catalog_event(status(CameraState.DEGRADED, "below HD", ("below_hd",))) == "ON"
    assert catalog_event(status(CameraState.DEGRADED, "covered", ("quality:occlusion",))) == "DEFECT"
    assert catalog_event(status(CameraState.OFFLINE, "stalled")) == "VLOST"
    assert catalog_event(status(CameraState.OFFLINE, "no video track")) == "VLOST"
    assert catalog_event(status(CameraState.OFFLINE, "unreachable")) == "OFF"
    assert catalog_event(status(CameraState.CONNECTING)) == "OFF"


async def test_catalog_subscribers_hear_vlost_and_defect() -> None:
    site = Site()
    await site.uplink._on_request(_subscribe())
    await settle()
    site.link.sent.clear()
    online = CameraStatus("gate", CameraState.ONLINE, None, 1.0)
    covered = CameraStatus("gate", CameraState.DEGRADED, "covered", 2.0, faults=("quality:occlusion",))
    stalled = CameraStatus("gate", CameraState.OFFLINE, "stalled", 3.0)
    site.uplink.camera_changed(covered, online)
    site.uplink.camera_changed(stalled, covered)
    site.uplink.camera_changed(online, stalled)
    await settle()
    events = [manscdp.parse(n.body).element.findtext(".//Event") for n in site.link.sent_of("NOTIFY")]
    assert events == ["DEFECT", "VLOST", "ON"]


def _subscribe() -> SipMessage:
    return subscribe_request("Catalog")


class _Journal:
    """The ledger's catalog half, in memory."""

    def __init__(self, told: dict[str, dict[str, object]]) -> None:
        self.told = told
        self.saved: list[dict[str, dict[str, object]]] = []

    def told_catalog(self, uplink_id: str) -> dict[str, dict[str, object]]:
        return dict(self.told)

    def catalog_told(self, uplink_id: str, items: dict[str, dict[str, object]], at: float) -> None:
        self.saved.append(items)
        self.told = items

    def __getattr__(self, name: str) -> Any:  # the session half: not used here
        return lambda *a, **k: None


async def test_catalog_changes_since_the_last_run_go_to_the_first_subscription() -> None:
    site = Site()
    items = {i.device_id: told(i) for i in site.uplink._catalog() if i.device_id != UNIT_ID}
    gone = "12010000001320000009"
    # CH2 is new since "the last run", CH1 renamed, `gone` removed.
    before: dict[str, dict[str, object]] = {CH1: {**items[CH1], "name": "Old gate"}, gone: {"name": "Removed"}}
    journal = _Journal(before)
    site.uplink._journal = journal
    await site.uplink._load_changes()
    await site.uplink._on_request(_subscribe())
    await settle()
    first = [manscdp.parse(n.body) for n in site.link.sent_of("NOTIFY")]
    changes = {i.findtext("DeviceID"): i.findtext("Event") for i in first[0].element.iter("Item")}
    assert changes == {CH1: "UPDATE", CH2: "ADD", gone: "DEL"}
    states = {i.findtext("DeviceID"): i.findtext("Event") for i in first[1].element.iter("Item")}
    assert states == {CH1: "ON", CH2: "ON"}
    assert journal.told == items  # told once: the next run starts from here
    site.link.sent.clear()
    await site.uplink._on_request(_subscribe())  # a second subscription gets the states only
    await settle()
    (again,) = [manscdp.parse(n.body) for n in site.link.sent_of("NOTIFY")]
    assert {i.findtext("Event") for i in again.element.iter("Item")} == {"ON"}


async def test_first_run_stores_the_catalog_without_events() -> None:
    site = Site()
    journal = _Journal({})
    site.uplink._journal = journal
    await site.uplink._load_changes()
    assert site.uplink._changes is None and set(journal.told) == {CH1, CH2}


def test_catalog_changes_ignore_what_onvif_reports() -> None:
    site = Site()
    items = [i for i in site.uplink._catalog() if i.device_id != UNIT_ID]
    before = {i.device_id: told(i) for i in items}
    assert catalog_changes(before, items) == []
    # Manufacturer and model are learnt from the camera after the start: no UPDATE for them.
    from dataclasses import replace

    assert catalog_changes(before, [replace(i, manufacturer="Other") for i in items]) == []


def test_guard_keeps_a_bounded_ring_of_recent_alarms() -> None:
    guard = Guard([CH1], armed=True)
    for k in range(300):
        guard.admit(RaisedAlarm(CH1, float(k), 3, 5, 6, "x"))
    kept = guard.recent(manscdp.AlarmQuery(), zone=__import__("datetime").UTC)
    assert len(kept) == 256 and kept[0].at == 44.0
    assert not guard.set_guard("unknown", False) or guard.duty(CH1) == "OFFDUTY"


async def test_a_covered_lens_is_alarm_type_13_to_a_2022_platform_only() -> None:
    online = CameraStatus("gate", CameraState.ONLINE, None, 1.0)
    covered = CameraStatus("gate", CameraState.DEGRADED, "lens covered", 2.0, faults=("quality:occlusion",))

    async def alarm_type(edition: str, platform_version: str | None) -> str | None:
        site = Site(alarms="always", edition=edition)
        site.link.platform_gb_version = platform_version
        site.uplink.camera_changed(covered, online)
        await settle()
        (alarm,) = _sent_alarms(site)
        return alarm.element.findtext(".//AlarmType")

    assert await alarm_type("2022", "3.0") == "13"
    assert await alarm_type("2022", None) == "13"  # a platform that names no edition: as configured
    assert await alarm_type("2022", "2.0") == "11"  # it answered as a 2016 platform
    assert await alarm_type("2016", "3.0") == "11"
