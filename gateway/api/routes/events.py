"""Detection events of the analytics rules: list with filters, one event, its snapshot."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from gateway.access import Access
from gateway.analytics.events import Event, EventStore
from gateway.api.deps import AccessDep, RuntimeDep
from gateway.api.models import DB_INT_MAX
from gateway.config.analytics import RULE_KINDS
from gateway.errors import InvalidRequestError, NotFoundError, StorageError
from gateway.i18n import _
from gateway.period import parse_instant

PREFIX = "/api/v1/events"
router = APIRouter(prefix=PREFIX, tags=["events"])

# Every role reads events, of the cameras it may see only (AccessDep): events show people, and an
# officer or an operator sees only the feeds granted to them.
MAX_PAGE = 500
# A snapshot never changes once stored; it only disappears when pruned, so a day is a safe lifetime.
_SNAPSHOT_CACHE = "private, max-age=86400, immutable"


def get_events(runtime: RuntimeDep) -> EventStore:
    # getattr: the runtime gains `events` with the analytics pipeline; a runtime without it answers 503.
    store = getattr(runtime, "events", None)
    if not isinstance(store, EventStore):
        raise StorageError(_("analytics events are not available"))
    return store


EventsDep = Annotated[EventStore, Depends(get_events)]
EventId = Annotated[int, Path(ge=1, le=DB_INT_MAX)]


class BoxOut(BaseModel):
    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    track_id: int


class EventOut(BaseModel):
    id: int
    camera_id: str
    rule_id: str
    kind: str = Field(description="intrusion | line_crossing | loitering | crowding | fall")
    zone_id: str | None
    ts: float = Field(description="Unix seconds")
    time: str = Field(description="ISO 8601 in the site's time zone")
    track_ids: list[int]
    boxes: list[BoxOut] = Field(description="In pixels of a frame_width x frame_height picture")
    detail: dict[str, Any]
    message: str
    frame_width: int
    frame_height: int
    snapshot_url: str | None = Field(description="JPEG of the frame with the boxes drawn; None when not kept")

    @classmethod
    def build(cls, event: Event, tz: ZoneInfo) -> EventOut:
        assert event.id is not None
        return cls(
            id=event.id,
            camera_id=event.camera_id,
            rule_id=event.rule_id,
            kind=event.kind,
            zone_id=event.zone_id,
            ts=event.at,
            time=datetime.fromtimestamp(event.at, tz).isoformat(timespec="milliseconds"),
            track_ids=list(event.track_ids),
            boxes=[BoxOut(x1=b.x1, y1=b.y1, x2=b.x2, y2=b.y2, score=b.score, track_id=b.track_id) for b in event.boxes],
            detail=event.detail,
            message=event.message,
            frame_width=event.frame_width,
            frame_height=event.frame_height,
            snapshot_url=f"{PREFIX}/{event.id}/snapshot" if event.has_snapshot else None,
        )


class EventPageOut(BaseModel):
    events: list[EventOut] = Field(description="Newest first")
    next_before_id: int | None = Field(description="Pass as before_id for the next page; None on the last page")


def _cameras(values: list[str] | None, known: set[str]) -> list[str] | None:
    if not values:
        return None
    ids = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if not ids:
        return None
    unknown = sorted({c for c in ids if c not in known})
    if unknown:
        shown = ", ".join(repr(c[:64]) for c in unknown[:5])
        raise InvalidRequestError(_("'camera': no camera {shown} on this gateway").format(shown=shown))
    return ids


def _instant(value: str | None, name: str, tz: ZoneInfo) -> float | None:
    if value is None or not value.strip():
        return None
    instant = parse_instant(value, name, tz)
    # float() takes 'nan' and 'inf', which would silently match nothing.
    if not math.isfinite(instant) or instant < 0:
        raise InvalidRequestError(
            _("'{name}' must be a time after 1970, not {value}").format(name=name, value=repr(value[:40]))
        )
    return instant


def _event(store: EventStore, event_id: int, access: Access) -> Event:
    event = store.get(event_id)
    # An event of an ungranted camera answers like a missing one.
    if event is None or not access.can_see(event.camera_id):
        raise NotFoundError(_("no event {event_id}").format(event_id=event_id))
    return event


# Plain `def` routes: FastAPI runs them in its thread pool, so database reads never block the loop.
@router.get("", response_model=EventPageOut, summary="Detection events, newest first")
def list_events(
    runtime: RuntimeDep,
    access: AccessDep,
    store: EventsDep,
    camera: Annotated[list[str] | None, Query(description="Camera id; repeat or comma-separate for several")] = None,
    zone: Annotated[str | None, Query(description="Site zone id")] = None,
    kind: Annotated[str | None, Query(description=" | ".join(sorted(RULE_KINDS)))] = None,
    rule: Annotated[str | None, Query(description="Rule id")] = None,
    start: Annotated[str | None, Query(alias="from", description="ISO 8601 or Unix seconds; inclusive")] = None,
    end: Annotated[str | None, Query(alias="to", description="ISO 8601 or Unix seconds; exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    before_id: Annotated[
        int | None, Query(ge=1, le=DB_INT_MAX, description="next_before_id of the previous page")
    ] = None,
) -> EventPageOut:
    config = runtime.config
    tz = ZoneInfo(config.site.timezone)
    camera_ids = _cameras(camera, {c.id for c in access.visible(config.cameras)})
    if camera_ids is None and access.camera_ids is not None:
        camera_ids = sorted(access.camera_ids)
        if not camera_ids:
            return EventPageOut(events=[], next_before_id=None)
    if zone is not None and zone not in {z.id for z in config.zones}:
        raise InvalidRequestError(_("'zone': no zone {zone} on this site").format(zone=repr(zone[:64])))
    if kind is not None and kind not in RULE_KINDS:
        raise InvalidRequestError(
            _("'kind' must be one of {items}, not {kind}").format(
                items=", ".join(sorted(RULE_KINDS)), kind=repr(kind[:40])
            )
        )
    since, until = _instant(start, "from", tz), _instant(end, "to", tz)
    if since is not None and until is not None and since >= until:
        raise InvalidRequestError(_("'from' must be before 'to'"))
    # One more than asked tells whether another page exists without a second query.
    rows = store.query(camera_ids, zone, kind, rule, since, until, limit=limit + 1, before_id=before_id)
    page = rows[:limit]
    next_id = page[-1].id if len(rows) > limit else None
    return EventPageOut(events=[EventOut.build(e, tz) for e in page], next_before_id=next_id)


@router.get("/{event_id}", response_model=EventOut, summary="One detection event")
def get_event(event_id: EventId, runtime: RuntimeDep, access: AccessDep, store: EventsDep) -> EventOut:
    return EventOut.build(_event(store, event_id, access), ZoneInfo(runtime.config.site.timezone))


@router.get(
    "/{event_id}/snapshot",
    summary="The event's snapshot (JPEG)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "The frame with the boxes drawn"}},
)
def event_snapshot(event_id: EventId, access: AccessDep, store: EventsDep) -> Response:
    _event(store, event_id, access)
    image = store.snapshot(event_id)
    if image is None:
        raise NotFoundError(_("event {event_id} has no snapshot").format(event_id=event_id))
    headers = {"Cache-Control": _SNAPSHOT_CACHE, "Content-Disposition": f'inline; filename="event-{event_id}.jpg"'}
    return Response(image, media_type="image/jpeg", headers=headers)
