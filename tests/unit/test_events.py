from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from gateway.access import GrantStore
from gateway.analytics.events import Event, EventBox, EventStore
from gateway.analytics.snapshot import event_label, render_snapshot
from gateway.app import create_app
from gateway.auth import UserStore
from gateway.config import GatewayConfig, parse_config
from gateway.storage.db import Database

# These tests check what is refused; the words in Chinese are checked in test_messages_language.py.
ENGLISH = {"Accept-Language": "en"}

T0 = 1_740_787_200.0  # 2025-03-01T00:00:00Z = 08:00 in Asia/Shanghai
BOX = EventBox(10.0, 20.0, 110.0, 220.0, 0.91, 7)


def event(
    camera: str = "cam1", kind: str = "intrusion", at: float = T0, zone: str | None = "gate", rule: str = "r1"
) -> Event:
    return Event(
        id=None,
        camera_id=camera,
        rule_id=rule,
        kind=kind,
        zone_id=zone,
        at=at,
        track_ids=(7,),
        boxes=(BOX,),
        detail={"dwell_s": 12.5, "towards": [1, 2]},
        message=f"{kind} on {camera}",
        frame_width=1920,
        frame_height=1080,
    )


@pytest.fixture
def store(storage_url: str) -> Iterator[EventStore]:
    with Database(storage_url) as db:
        yield EventStore(db)


# -- store ------------------------------------------------------------------------------------------


def test_round_trip_keeps_every_field(store: EventStore) -> None:
    first = store.add(event(), b"\xff\xd8jpeg")
    second = store.add(event(zone=None), None)
    assert second > first
    got = store.get(first)
    assert got is not None
    assert got == Event(**{**event().__dict__, "id": first, "has_snapshot": True})
    assert store.snapshot(first) == b"\xff\xd8jpeg"
    plain = store.get(second)
    assert plain is not None and plain.zone_id is None and not plain.has_snapshot
    assert store.snapshot(second) is None
    assert store.get(999) is None and store.snapshot(999) is None


def test_bad_events_are_refused(store: EventStore) -> None:
    with pytest.raises(ValueError, match="unknown event kind"):
        store.add(event(kind="party"), None)
    with pytest.raises(ValueError, match="Unix seconds"):
        store.add(event(at=float("nan")), None)


def test_filters_and_time_window(store: EventStore) -> None:
    store.add(event("cam1", "intrusion", T0), None)
    store.add(event("cam2", "loitering", T0 + 10, zone=None, rule="r2"), None)
    store.add(event("cam1", "crowding", T0 + 20, rule="r3"), None)

    def kinds(**filters: Any) -> list[str]:
        return [e.kind for e in store.query(**filters)]

    assert kinds() == ["crowding", "loitering", "intrusion"]  # newest first
    assert kinds(camera_ids=["cam1"]) == ["crowding", "intrusion"]
    assert kinds(camera_ids=[]) == []
    assert kinds(zone="gate") == ["crowding", "intrusion"]
    assert kinds(kind="loitering") == ["loitering"]
    assert kinds(rule="r3") == ["crowding"]
    assert kinds(since=T0 + 10) == ["crowding", "loitering"]
    assert kinds(until=T0 + 10) == ["intrusion"]  # 'until' is exclusive
    assert kinds(camera_ids=["cam1", "cam2"], since=T0 + 5, until=T0 + 15) == ["loitering"]


def test_paging_by_id(store: EventStore) -> None:
    ids = [store.add(event(at=T0 + i), None) for i in range(7)]
    seen: list[int] = []
    before: int | None = None
    while page := store.query(limit=3, before_id=before):
        seen += [e.id for e in page if e.id is not None]
        before = page[-1].id
    assert seen == ids[::-1]
    with pytest.raises(ValueError, match="limit"):
        store.query(limit=0)


def test_prune_deletes_events_and_their_snapshots(store: EventStore) -> None:
    old = [store.add(event(at=T0 + i), b"old") for i in range(3)]
    new = store.add(event(at=T0 + 100), b"new")
    assert store.prune(T0 + 50) == 3
    assert all(store.get(i) is None and store.snapshot(i) is None for i in old)
    assert store.snapshot(new) == b"new"
    assert store.prune(T0 + 50) == 0


def test_counts_per_camera_and_kind(store: EventStore) -> None:
    store.add(event("cam1", "intrusion", T0 - 100), None)  # before the window
    store.add(event("cam1", "intrusion", T0), None)
    store.add(event("cam1", "intrusion", T0 + 1), None)
    store.add(event("cam1", "fall", T0 + 2), None)
    store.add(event("cam2", "line_crossing", T0 + 3), None)
    assert store.counts(T0) == {"cam1": {"intrusion": 2, "fall": 1}, "cam2": {"line_crossing": 1}}
    assert store.counts(T0 + 1000) == {}


def test_store_is_usable_from_threads(store: EventStore) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(10):
                store.add(event(at=T0 + n * 100 + i), b"x")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(store.query(limit=100)) == 40


def test_migration_creates_indexed_tables(store: EventStore, tmp_path: Path) -> None:
    insp = inspect(store._db.engine)
    assert {"events", "event_snapshots"} <= set(insp.get_table_names())
    indexes = {i["name"]: i["column_names"] for i in insp.get_indexes("events")}
    assert indexes["ix_events_camera_ts"] == ["camera_id", "ts"]
    assert indexes["ix_events_ts"] == ["ts"]
    assert "image" not in {c["name"] for c in insp.get_columns("events")}
    fks = insp.get_foreign_keys("event_snapshots")
    assert fks[0]["referred_table"] == "events"


# -- snapshot ---------------------------------------------------------------------------------------


def _decode(jpeg: bytes) -> np.ndarray[Any, np.dtype[np.uint8]]:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image, np.uint8)


def test_snapshot_is_a_jpeg_with_the_box_drawn() -> None:
    frame = np.full((480, 640, 3), 90, np.uint8)
    jpeg = render_snapshot(frame, [EventBox(200, 150, 400, 400, 0.8, 3)], label="intrusion r1")
    assert jpeg[:2] == b"\xff\xd8"
    img = _decode(jpeg)
    assert img.shape == (480, 640, 3)
    diff = np.abs(img.astype(int) - 90).sum(axis=2)
    assert diff[275, 200] > 60 and diff[400, 300] > 60  # left and bottom edges of the box
    assert diff[300, 300] < 20  # inside the box: untouched
    assert diff[470, 20] < 20  # far from everything: untouched
    assert diff[5:20, 5:200].max() > 60  # the caption strip
    assert (frame == 90).all()  # the caller's frame is left alone


def test_snapshot_is_downsized_and_draws_overlays() -> None:
    frame = np.full((1080, 1920, 3), 128, np.uint8)
    zone = [(960.0, 540.0), (1800.0, 540.0), (1800.0, 1000.0), (960.0, 1000.0)]
    line = [(0.0, 300.0), (900.0, 300.0)]
    jpeg = render_snapshot(frame, [], label="zone", overlays=[zone, line], max_width=960, quality=70)
    img = _decode(jpeg)
    assert img.shape == (540, 960, 3)
    diff = np.abs(img.astype(int) - 128).sum(axis=2)
    assert diff[385, 690] > 30  # inside the zone, scaled by one half: tinted
    assert diff[150, 200] > 30  # on the line
    assert diff[100, 700] < 15  # outside both


def test_snapshot_survives_boxes_outside_the_frame() -> None:
    frame = np.zeros((120, 160, 3), np.uint8)
    boxes = [
        EventBox(-50, -40, 60, 50, 0.5, 1),  # partly outside, top left
        EventBox(140, 100, 400, 300, 0.5, 2),  # partly outside, bottom right
        EventBox(500, 500, 600, 600, 0.5, 3),  # wholly outside
        EventBox(1e12, -1e12, 2e12, 1e12, 0.5, 4),  # absurd
        EventBox(float("nan"), 0, 10, 10, 0.5, 5),
        EventBox(30, 30, 10, 10, 0.5, 6),  # corners swapped
    ]
    img = _decode(render_snapshot(frame, boxes, label="über edge"))
    assert img.shape == (120, 160, 3)
    assert img[50, 30].sum() > 100  # bottom edge of the first box


def test_snapshot_refuses_what_is_not_a_bgr_frame() -> None:
    with pytest.raises(ValueError, match="H x W x 3"):
        render_snapshot(np.zeros((10, 10), np.uint8), [], label="x")
    with pytest.raises(ValueError, match="H x W x 3"):
        render_snapshot(np.zeros((0, 10, 3), np.uint8), [], label="x")


def test_event_label_is_in_site_time() -> None:
    assert event_label("intrusion", "r1", T0, ZoneInfo("Asia/Shanghai")) == "intrusion r1 2025-03-01 08:00:00 +0800"


# -- API --------------------------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, storage_url: str) -> GatewayConfig:
    return parse_config(
        {
            "site": {"id": "s1", "name": "Test site", "unit": {"name": "Unit", "headcount": 10, "key_unit": True}},
            "zones": [{"id": "gate", "name": "Gate", "kind": "entrance"}],
            "cameras": [
                {"id": "cam1", "name": "Gate cam", "source": {"rtsp": "rtsp://127.0.0.1:9/a"}, "zones": ["gate"]},
                {"id": "cam2", "name": "Yard", "source": {"rtsp": "rtsp://127.0.0.1:9/b"}},
            ],
            "storage": {"url": storage_url},
        }
    )


@pytest.fixture
def tokens(config: GatewayConfig) -> dict[str, str]:
    with Database(config.storage.url) as db:
        users = UserStore(db)
        made = {role: users.add_user(f"{role}-user", role)[1] for role in ("admin", "operator", "auditor", "police")}
        # The operator of these tests looks after every camera; police get grants where a test needs them.
        GrantStore(db, config, users).grant("operator-user", "all", "*", by="test")
        return made


@pytest.fixture
def client(config: GatewayConfig, tokens: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(config, start_cameras=False), headers=ENGLISH) as c:
        yield c


@pytest.fixture
def api_store(client: TestClient) -> EventStore:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    if getattr(runtime, "events", None) is None:
        runtime.events = EventStore(runtime.db)  # until the runtime builds its own
    store: EventStore = runtime.events
    return store


def h(tokens: dict[str, str], role: str = "operator") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def test_list_events_with_filters(client: TestClient, tokens: dict[str, str], api_store: EventStore) -> None:
    first = api_store.add(event("cam1", "intrusion", T0), b"\xff\xd8one")
    api_store.add(event("cam2", "loitering", T0 + 60, zone=None, rule="r2"), None)
    api_store.add(event("cam1", "crowding", T0 + 120, rule="r3"), None)

    r = client.get("/api/v1/events", headers=h(tokens))
    assert r.status_code == 200
    body = r.json()
    assert [e["kind"] for e in body["events"]] == ["crowding", "loitering", "intrusion"]
    assert body["next_before_id"] is None
    oldest = body["events"][-1]
    assert oldest == {
        "id": first,
        "camera_id": "cam1",
        "rule_id": "r1",
        "kind": "intrusion",
        "zone_id": "gate",
        "ts": T0,
        "time": "2025-03-01T08:00:00.000+08:00",
        "track_ids": [7],
        "boxes": [{"x1": 10.0, "y1": 20.0, "x2": 110.0, "y2": 220.0, "score": 0.91, "track_id": 7}],
        "detail": {"dwell_s": 12.5, "towards": [1, 2]},
        "message": "intrusion on cam1",
        "frame_width": 1920,
        "frame_height": 1080,
        "snapshot_url": f"/api/v1/events/{first}/snapshot",
    }
    assert body["events"][0]["snapshot_url"] is None

    def kinds(params: dict[str, Any]) -> list[str]:
        r = client.get("/api/v1/events", params=params, headers=h(tokens, "auditor"))
        assert r.status_code == 200, r.text
        return [e["kind"] for e in r.json()["events"]]

    assert kinds({"camera": "cam2"}) == ["loitering"]
    assert kinds({"camera": "cam1,cam2"}) == ["crowding", "loitering", "intrusion"]
    assert kinds({"camera": ["cam2", "cam1"]}) == ["crowding", "loitering", "intrusion"]
    assert kinds({"zone": "gate"}) == ["crowding", "intrusion"]
    assert kinds({"kind": "intrusion"}) == ["intrusion"]
    assert kinds({"rule": "r2"}) == ["loitering"]
    assert kinds({"from": "2025-03-01T08:01:00+08:00"}) == ["crowding", "loitering"]
    assert kinds({"from": str(T0), "to": "2025-03-01T00:01:00Z"}) == ["intrusion"]
    assert kinds({"to": "2025-03-01T08:01:00"}) == ["intrusion"]  # no offset: site time


def test_paging_through_the_api(client: TestClient, tokens: dict[str, str], api_store: EventStore) -> None:
    ids = [api_store.add(event(at=T0 + i), None) for i in range(5)]
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(5):
        body = client.get("/api/v1/events", params=params, headers=h(tokens, "admin")).json()
        seen += [e["id"] for e in body["events"]]
        if body["next_before_id"] is None:
            break
        params["before_id"] = body["next_before_id"]
    assert seen == ids[::-1]


def test_one_event_and_its_snapshot(client: TestClient, tokens: dict[str, str], api_store: EventStore) -> None:
    jpeg = render_snapshot(np.zeros((90, 160, 3), np.uint8), [BOX], label="intrusion r1")
    with_snap = api_store.add(event(), jpeg)
    without = api_store.add(event(), None)

    r = client.get(f"/api/v1/events/{with_snap}", headers=h(tokens))
    assert r.status_code == 200 and r.json()["id"] == with_snap
    r = client.get(f"/api/v1/events/{with_snap}/snapshot", headers=h(tokens))
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    assert "max-age" in r.headers["cache-control"] and "private" in r.headers["cache-control"]
    assert r.content == jpeg

    r = client.get(f"/api/v1/events/{without}/snapshot", headers=h(tokens))
    assert r.status_code == 404 and r.json() == {"error": f"event {without} has no snapshot"}
    r = client.get("/api/v1/events/999", headers=h(tokens))
    assert r.status_code == 404 and r.json() == {"error": "no event 999"}
    r = client.get("/api/v1/events/999/snapshot", headers=h(tokens))
    assert r.status_code == 404 and r.json() == {"error": "no event 999"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"camera": "cam1,nope"}, "no camera 'nope'"),
        ({"zone": "roof"}, "no zone 'roof'"),
        ({"kind": "party"}, "'kind' must be one of"),
        ({"from": "yesterday"}, "'from' must be ISO 8601"),
        ({"to": "nan"}, "'to' must be a time after 1970"),
        ({"from": "-5"}, "'from' must be a time after 1970"),
        ({"from": "2025-03-02T00:00:00+08:00", "to": "2025-03-01T00:00:00+08:00"}, "'from' must be before 'to'"),
        ({"limit": "0"}, "invalid request"),
        ({"limit": "501"}, "invalid request"),
        ({"before_id": "x"}, "invalid request"),
    ],
)
def test_bad_queries_are_422(
    client: TestClient, tokens: dict[str, str], api_store: EventStore, params: dict[str, str], message: str
) -> None:
    r = client.get("/api/v1/events", params=params, headers=h(tokens))
    assert r.status_code == 422
    assert message in r.json()["error"]
    assert "Traceback" not in r.text


def test_event_ids_must_be_numbers(client: TestClient, tokens: dict[str, str], api_store: EventStore) -> None:
    r = client.get("/api/v1/events/abc", headers=h(tokens))
    assert r.status_code == 422 and r.json()["error"] == "invalid request"


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/events/1", "/api/v1/events/1/snapshot"])
def test_roles(client: TestClient, tokens: dict[str, str], api_store: EventStore, path: str) -> None:
    api_store.add(event(), b"\xff\xd8")
    r = client.get(path)
    assert r.status_code == 401 and r.json() == {"error": "missing bearer token"}
    # Police see the events of the cameras granted to them, and nothing of the others.
    r = client.get(path, headers=h(tokens, "police"))
    if path == "/api/v1/events":
        assert r.status_code == 200 and r.json()["events"] == []
    else:
        assert r.status_code == 404 and "no event" in r.json()["error"]
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    runtime.grants.grant("police-user", "camera", event().camera_id, by="test")
    for role in ("admin", "operator", "auditor", "police"):
        r = client.get(path, headers=h(tokens, role))
        assert r.status_code == 200, role
        if path == "/api/v1/events":
            assert len(r.json()["events"]) == 1, role


def test_no_event_store_is_a_clear_503(client: TestClient, tokens: dict[str, str]) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    saved = getattr(runtime, "events", None)
    runtime.events = None
    try:
        r = client.get("/api/v1/events", headers=h(tokens))
        assert r.status_code == 503 and r.json() == {"error": "analytics events are not available"}
        assert client.get("/api/v1/events").status_code == 401  # still no peeking without a token
    finally:
        runtime.events = saved
