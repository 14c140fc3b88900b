"""Hidden-danger tickets (gateway/tickets/) on a real database with a fake clock: grace times by fault and
zone, one ticket for a flapping camera, escalation, recovery, acknowledgement, who is told."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from gateway.config import GatewayConfig, parse_config
from gateway.health.state import CameraState, CameraStatus
from gateway.outbox.store import NewMessage
from gateway.storage.db import Database
from gateway.tickets.policy import fault_of
from gateway.tickets.service import TicketService
from gateway.tickets.store import TicketStore

SITE: dict[str, Any] = {
    "site": {"id": "s1", "name": "School", "unit": {"name": "Unit", "headcount": 10}},
    "zones": [
        {"id": "lab", "name": "Chemistry lab", "kind": "key_area"},
        {"id": "hall", "name": "Hall", "kind": "crowded_area"},
    ],
    "cameras": [
        {"id": "lab1", "name": "Lab door", "source": {"rtsp": "rtsp://h/a"}, "zones": ["lab", "hall"]},
        {"id": "hall1", "name": "Hall", "source": {"rtsp": "rtsp://h/b"}, "zones": ["hall"]},
    ],
    "uplinks": {
        "webhooks": [
            {"id": "duty", "url": "http://127.0.0.1:9/duty", "kinds": ["ticket"], "secret": {"env": "T_WH"}},
            {"id": "boss", "url": "http://127.0.0.1:9/boss", "kinds": ["ticket"], "secret": {"env": "T_WH"}},
            {"id": "labs", "url": "http://127.0.0.1:9/labs", "kinds": ["ticket"], "secret": {"env": "T_WH"}},
            {"id": "events", "url": "http://127.0.0.1:9/events", "secret": {"env": "T_WH"}},
        ]
    },
    "tickets": {"recovery_s": 60, "reopen_within_s": 600, "acknowledge_within_min": 10, "escalation": ["duty", "boss"]},
    "notify": {
        "contacts": {"duty": {"destinations": ["duty", "labs"]}, "boss": {"destinations": ["boss"], "zones": ["lab"]}}
    },
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Rig:
    def __init__(self, config: GatewayConfig, db: Database) -> None:
        self.clock = Clock()
        self.told: list[NewMessage] = []
        self.audited: list[tuple[str, str, str]] = []
        self.service = TicketService(config, TicketStore(db), self.publish, audit_entry=self.audit, clock=self.clock)

    def publish(self, messages: Sequence[NewMessage]) -> None:
        self.told += messages

    def audit(self, actor: str, role: str, action: str, target: str, detail: dict[str, Any]) -> None:
        self.audited.append((actor, action, target))

    def status(self, camera: str, state: CameraState, reason: str | None = None, *faults: str) -> None:
        status = CameraStatus(camera, state, reason, self.clock.now, faults=faults)
        self.service.camera_changed(status, None)

    async def at(self, seconds_later: float) -> None:
        self.clock.now += seconds_later
        await self.service.judge()

    def events(self) -> list[tuple[str, int, frozenset[str] | None]]:
        return [(m.payload["event"], m.payload["level"], m.audience) for m in self.told]


@pytest.fixture
def rig(storage_url: str) -> Iterator[Rig]:
    with Database(storage_url) as db:
        yield Rig(parse_config(SITE, check_secrets=False), db)


def test_faults_of_statuses() -> None:
    def fault(state: CameraState, reason: str | None = None, *faults: str) -> str | None:
        return fault_of(CameraStatus("c", state, reason, 0.0, faults=faults))

    assert fault(CameraState.ONLINE) is None and fault(CameraState.CONNECTING) is None
    assert fault(CameraState.DISABLED) is None
    assert fault(CameraState.OFFLINE, "unreachable") == "offline"
    assert fault(CameraState.OFFLINE, "stalled") == "video_lost"
    assert fault(CameraState.DEGRADED, "x", "below_hd", "quality:frozen") == "picture"
    assert fault(CameraState.DEGRADED, "x", "below_hd") == "below_hd"
    assert fault(CameraState.DEGRADED, "slow", "slow_delivery") == "degraded"


async def test_a_key_area_camera_down_past_its_grace_opens_one_ticket_told_to_the_first_list(rig: Rig) -> None:
    rig.status("lab1", CameraState.OFFLINE, "unreachable")
    rig.status("hall1", CameraState.OFFLINE, "unreachable")
    await rig.at(100)
    assert rig.told == []  # the key area's grace is 120 s, the hall's 300 s
    await rig.at(25)
    (opened,) = rig.service.store.open_tickets()
    assert (opened.camera_id, opened.fault, opened.zone_id, opened.zone_kind) == ("lab1", "offline", "lab", "key_area")
    assert rig.events() == [("opened", 0, frozenset({"duty", "labs"}))]
    payload = rig.told[0].payload
    assert payload["camera_name"] == "Lab door" and payload["zone_name"] == "Chemistry lab"
    assert payload["since"] == opened.since and payload["language"] == "zh-CN"
    assert rig.told[0].kind == "ticket" and rig.told[0].msg_id == f"s1:ticket:{opened.id}:opened:0:0"
    await rig.at(200)
    assert {t.camera_id for t in rig.service.store.open_tickets()} == {"lab1", "hall1"}
    await rig.at(5)
    assert len(rig.service.store.open_tickets()) == 2  # judged again: still two tickets, told once each
    assert [e for e, _, _ in rig.events()] == ["opened", "opened"]
    assert ("system", "ticket_open", "lab1") in rig.audited


async def test_a_flapping_camera_is_one_ticket(rig: Rig) -> None:
    rig.status("lab1", CameraState.OFFLINE, "unreachable")
    await rig.at(130)
    (ticket,) = rig.service.store.open_tickets()
    for _ in range(3):
        rig.status("lab1", CameraState.ONLINE)
        await rig.at(30)  # back, but not for the recovery time: still open
        assert rig.service.store.open_tickets()
        rig.status("lab1", CameraState.OFFLINE, "unreachable")
        await rig.at(5)
    rig.status("lab1", CameraState.ONLINE)
    await rig.at(61)
    assert rig.service.store.open_tickets() == []
    closed = rig.service.store.get(ticket.id)
    assert closed is not None and closed.closed_at == rig.clock.now
    assert rig.told[-1].payload["repair_s"] == pytest.approx(closed.closed_at - closed.since)
    # Down again soon after: the same ticket, reopened.
    rig.status("lab1", CameraState.OFFLINE, "unreachable")
    await rig.at(125)
    (again,) = rig.service.store.open_tickets()
    assert again.id == ticket.id and again.reopened == 1 and again.since == ticket.since
    assert [e for e, _, _ in rig.events()] == ["opened", "closed", "reopened"]
    assert len(rig.service.store.search()) == 1


async def test_unacknowledged_tickets_go_up_the_chain_and_acknowledged_ones_stay(rig: Rig) -> None:
    rig.status("lab1", CameraState.DEGRADED, "lens covered", "quality:occlusion")
    await rig.at(601)  # a picture fault's grace: 10 min
    (ticket,) = rig.service.store.open_tickets()
    assert ticket.fault == "picture"
    await rig.at(599)
    assert [e for e, _, _ in rig.events()] == ["opened"]
    await rig.at(2)
    assert rig.events()[-1] == ("escalated", 1, frozenset({"boss"}))
    await rig.at(601)
    assert len(rig.events()) == 2  # the last list: nobody further to tell
    done = await rig.service.acknowledge(ticket.id, "wang", "operator", "cleaning the lens")
    assert (done.acknowledged_by, done.note) == ("wang", "cleaning the lens")
    again = await rig.service.acknowledge(ticket.id, "li", "admin", "ladder ordered")
    assert (again.acknowledged_by, again.note) == ("wang", "ladder ordered")  # the first keeps it
    assert [e for e, _, _ in rig.events()][-2:] == ["acknowledged", "acknowledged"]
    assert ("wang", "ticket_ack", "lab1") in rig.audited


async def test_a_contact_list_of_other_zones_is_not_told(rig: Rig) -> None:
    rig.status("hall1", CameraState.OFFLINE, "unreachable")
    await rig.at(301)
    (ticket,) = rig.service.store.open_tickets()
    await rig.at(601)  # escalated to "boss", whose list takes the lab zone only
    updated = rig.service.store.get(ticket.id)
    assert updated is not None and updated.level == 1
    assert [e for e, _, _ in rig.events()] == ["opened"]


async def test_a_ticket_takes_the_worse_fault_and_the_latest_detail(rig: Rig) -> None:
    rig.status("lab1", CameraState.DEGRADED, "below HD", "below_hd")
    await rig.at(1801)
    (ticket,) = rig.service.store.open_tickets()
    assert ticket.fault == "below_hd"
    rig.status("lab1", CameraState.OFFLINE, "refused")
    await rig.at(1)
    worse = rig.service.store.get(ticket.id)
    assert worse is not None and (worse.fault, worse.detail) == ("offline", "refused")


async def test_acknowledging_a_closed_or_unknown_ticket_is_not_found(rig: Rig) -> None:
    from gateway.errors import NotFoundError

    with pytest.raises(NotFoundError):
        await rig.service.acknowledge(999, "wang", "operator", None)


@pytest.mark.usefixtures("english")
def test_contact_lists_and_escalation_are_checked_with_their_key_paths() -> None:
    from gateway.errors import ConfigError

    bad = {
        **SITE,
        "tickets": {"escalation": ["duty", "nobody"]},
        "notify": {"contacts": {"duty": {"destinations": ["duty", "pager", "events"], "zones": ["attic"]}}},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(bad, check_secrets=False)
    text = str(caught.value)
    assert "tickets.escalation[1]" in text and "nobody" in text
    assert "notify.contacts.duty.destinations[1]" in text and "pager" in text
    assert "notify.contacts.duty.zones[0]" in text and "attic" in text
    assert "notify.contacts.duty.destinations[2]" in text and "does not take 'ticket'" in text
    grace = {**SITE, "tickets": {"grace_s": {"offline": {"default": -5}}}}
    with pytest.raises(ConfigError) as caught:
        parse_config(grace, check_secrets=False)
    assert "tickets.grace_s.offline.default" in str(caught.value)


async def test_an_opened_ticket_is_told_with_the_cameras_picture(storage_url: str) -> None:
    import cv2
    import numpy as np

    ok, buf = cv2.imencode(".jpg", np.full((90, 160, 3), 128, np.uint8))
    assert ok
    asked: list[str] = []

    async def picture(camera_id: str) -> bytes | None:
        asked.append(camera_id)
        return bytes(buf)

    with Database(storage_url) as db:
        rig = Rig(parse_config(SITE, check_secrets=False), db)
        rig.service = TicketService(
            parse_config(SITE, check_secrets=False), TicketStore(db), rig.publish, clock=rig.clock, picture=picture
        )
        rig.status("lab1", CameraState.OFFLINE, "unreachable")
        await rig.at(125)
        rig.status("lab1", CameraState.ONLINE)
        await rig.at(61)
    opened, closed = rig.told
    assert asked == ["lab1"] and opened.payload.get("picture_b64")  # the danger is told with its picture
    assert "picture_b64" not in closed.payload  # the repair is not
