"""The web pages: sign-in, dashboard, camera, events, hidden dangers, reports, audit log and users.

Pages read the same runtime the API does and render on the server; the little JavaScript there is
(state refresh, live view, picture fallbacks) lives in static files, as the CSP demands.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from gateway.access import Grant, GrantKind
from gateway.api.deps import RuntimeDep, client_ip
from gateway.api.language import LANGUAGE_COOKIE, LANGUAGE_COOKIE_MAX_AGE
from gateway.api.models import CameraOut
from gateway.audit import ACTIONS
from gateway.auth import Role
from gateway.config import CameraConfig, GatewayConfig
from gateway.config.analytics import RULE_KINDS
from gateway.device_events import DeviceEventRow, latest_device_events
from gateway.errors import AuthError, InvalidRequestError, NotFoundError
from gateway.health.uptime import Interval, outages
from gateway.i18n import N_, current, gettext, parse_language
from gateway.reports.coverage import build_report
from gateway.reports.findings import Names, sentence, severity_word
from gateway.reports.model import Report
from gateway.reports.period import report_period
from gateway.reports.render_text import period_name
from gateway.runtime import Runtime
from gateway.sessions import SESSION_COOKIE
from gateway.storage import schema
from gateway.tickets.store import Ticket
from gateway.web.charts import SamplePoint, UptimeBar, history_chart, recordings_bar, uptime_bar
from gateway.web.render import NO_STORE, error_page, page
from gateway.web.security import LOGIN_CSRF_COOKIE, new_form_token, safe_next, tokens_match
from gateway.web.tickets import ACKNOWLEDGERS, CLOSED_SHOWN, OPEN_SHOWN, STATES, fault_labels, ticket_rows
from gateway.web.viewer import AdminViewer, AuditViewer, PageRoute, StaffViewer, Viewer, ViewerDep, login_redirect
from gateway.web.words import device_kind

router = APIRouter(route_class=PageRoute, include_in_schema=False)

DAY_S = 86_400.0
EVENTS_PAGE = 50
AUDIT_PAGE = 50
MAX_SAMPLES = 20_000
REFRESH_MS = 12_000
DEVICE_EVENTS_SHOWN = 10
# Live view is for watching; auditors read history and reports (see gateway/access.py).
LIVE_ROLES = frozenset({Role.ADMIN, Role.OPERATOR, Role.POLICE})

Text = Annotated[str | None, Query(max_length=200)]
# The names of the date fields as the forms label them, for a message about a bad date.
_FIELD_LABELS = {"from": N_("From"), "to": N_("To"), "date": N_("Date")}


def _tz(runtime: Runtime) -> ZoneInfo:
    return ZoneInfo(runtime.config.site.timezone)


def _blank(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


# ------------------------------------------------------------------------------------------ sign-in


def _cookie_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_form(
    request: Request, next_path: str, *, error: str | None = None, name: str = "", status_code: int = 200
) -> HTMLResponse:
    # A fresh login token with every form: a page left open in another tab cannot be replayed.
    token = new_form_token()
    response = page(
        request,
        "login.html",
        None,
        status_code=status_code,
        title=gettext("Sign in"),
        csrf=token,
        next_path=next_path,
        error=error,
        name=name,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_cookie_secure(request),
        path="/login",
        max_age=3600,
    )
    return response


@router.get("/login")
def login_page(request: Request, runtime: RuntimeDep, next: Text = None) -> Response:
    next_path = safe_next(next)
    token = request.cookies.get(SESSION_COOKIE)
    if token and runtime.sessions.get(token) is not None:
        return RedirectResponse(next_path, status_code=303, headers=NO_STORE)
    return _login_form(request, next_path)


@router.post("/login")
async def login_submit(
    request: Request,
    runtime: RuntimeDep,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=2048)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    next_path = safe_next(next)
    if not tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE), csrf):
        message = gettext("The sign-in form expired or came from another page. Reload the page and sign in again.")
        return _login_form(request, next_path, error=message, name=name, status_code=400)
    if not name.strip() or not password:
        message = gettext("Enter your user name and password.")
        return _login_form(request, next_path, error=message, name=name, status_code=400)
    try:
        # scrypt takes tens of milliseconds: keep it off the event loop.
        session = await asyncio.to_thread(runtime.sessions.login, name, password, client_ip(request))
    except AuthError as exc:
        # The session layer words it, in the request's language.
        return _login_form(request, next_path, error=_sentence(str(exc)), name=name, status_code=401)
    response = RedirectResponse(next_path, status_code=303, headers=NO_STORE)
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        httponly=True,
        samesite="strict",
        secure=_cookie_secure(request),
        path="/",
        max_age=max(60, int(session.expires_at - time.time())),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login", httponly=True, samesite="strict")
    return response


_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def _sentence(text: str) -> str:
    """A message as a sentence: capitalised and with its full stop (a Chinese one after Chinese text)."""
    if not text:
        return text
    if _CJK.search(text[-1:]):
        return text if text.endswith(("。", "！", "？")) else text + "。"
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


@router.get("/language")
def switch_language(
    request: Request, to: Text = None, next: Annotated[str | None, Query(max_length=2000)] = None
) -> Response:
    """The header's language switch: remembered on this browser for a year, then back to the page."""
    response = RedirectResponse(safe_next(next), status_code=303, headers=NO_STORE)
    language = parse_language(to)
    if language is not None:
        # Lax, not Strict: the choice must hold on a page opened from a link in a message.
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=LANGUAGE_COOKIE_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=_cookie_secure(request),
            path="/",
        )
    return response


@router.post("/logout")
async def logout(request: Request, runtime: RuntimeDep, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    session = await asyncio.to_thread(runtime.sessions.get, token) if token else None
    if session is None:
        response: Response = login_redirect("/")
    else:
        if not tokens_match(session.csrf, csrf):
            viewer_access = await asyncio.to_thread(runtime.grants.access_for, session.user)
            viewer = Viewer(session, viewer_access)
            return error_page(request, viewer, 403, gettext("The sign-out form was missing its security token."))
        await asyncio.to_thread(runtime.sessions.logout, session.token, client_ip(request))
        response = RedirectResponse("/login", status_code=303, headers=NO_STORE)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_cookie_secure(request))
    return response


# ---------------------------------------------------------------------------------------- dashboard


@dataclass(frozen=True)
class CameraRow:
    camera: CameraOut
    bar: UptimeBar
    below_hd: bool


def _below_hd(config: GatewayConfig, width: int | None, height: int | None) -> bool:
    if not width or not height:
        return False
    hd = config.hd_min_resolution()
    return min(width, height) < min(hd.width, hd.height) or max(width, height) < max(hd.width, hd.height)


def _zone_names(config: GatewayConfig) -> dict[str, str]:
    return {z.id: z.name for z in config.zones}


STATE_ORDER = ("online", "degraded", "offline", "connecting", "disabled")


@router.get("/")
async def dashboard(request: Request, runtime: RuntimeDep, viewer: ViewerDep) -> HTMLResponse:
    config = runtime.config
    cameras = viewer.access.visible(config.cameras)
    # Current states come from the tracker, which lives on the event loop: read them here, not in a thread.
    outs = [CameraOut.build(c, runtime.status(c.id)) for c in cameras]
    now = time.time()
    start = now - DAY_S
    ids = [c.id for c in cameras]
    timelines = await asyncio.to_thread(runtime.reader.timelines, ids, start, now, now) if ids else {}
    tz = _tz(runtime)
    rows = [
        CameraRow(
            out,
            uptime_bar(timelines.get(out.id, []), start, now, tz),
            _below_hd(config, out.measured.width, out.measured.height),
        )
        for out in outs
    ]
    counts = {state: sum(1 for o in outs if o.state == state) for state in STATE_ORDER}
    hd = config.hd_min_resolution()
    # Every open danger the viewer may see, this instance's cameras or not: they come before the rest.
    found = await asyncio.to_thread(runtime.tickets.store.open_tickets)
    dangers = ticket_rows(
        (t for t in found if viewer.access.can_see(t.camera_id)),
        {c.id: c.name for c in config.cameras},
        _zone_names(config),
        now,
        config.tickets.acknowledge_within_min * 60,
    )
    return page(
        request,
        "dashboard.html",
        viewer,
        active="dashboard",
        title=gettext("Cameras"),
        dangers=dangers,
        fault_labels=fault_labels(),
        now=now,
        rows=rows,
        counts=counts,
        total=len(outs),
        zone_names=_zone_names(config),
        hd_min=f"{hd.width}x{hd.height}",
        refresh_ms=REFRESH_MS,
        bar_start=start,
        bar_end=now,
    )


# ------------------------------------------------------------------------------------------- camera


def _visible_camera(runtime: Runtime, viewer_can_see: bool, camera_id: str) -> CameraConfig:
    camera = runtime.config.camera(camera_id)
    # One answer for "unknown" and "not granted": a page must not tell which cameras exist.
    if camera is None or not viewer_can_see:
        raise NotFoundError(
            gettext("no camera {camera} here, or it is not shared with you").format(camera=repr(camera_id[:64]))
        )
    return camera


def _samples(runtime: Runtime, camera_id: str, start: float, end: float) -> list[SamplePoint]:
    t = schema.camera_samples
    query = (
        select(t.c.ts, t.c.state, t.c.fps, t.c.bitrate_kbps)
        .where(t.c.camera_id == camera_id, t.c.ts >= start, t.c.ts < end)
        .order_by(t.c.ts, t.c.id)
        .limit(MAX_SAMPLES)
    )
    with runtime.db.engine.connect() as conn:
        return [SamplePoint(r.ts, r.state, r.fps, r.bitrate_kbps) for r in conn.execute(query)]


@router.get("/cameras/{camera_id}")
async def camera_page(camera_id: str, request: Request, runtime: RuntimeDep, viewer: ViewerDep) -> HTMLResponse:
    camera = _visible_camera(runtime, viewer.access.can_see(camera_id), camera_id)
    out = CameraOut.build(camera, runtime.status(camera_id))
    now = time.time()
    start = now - DAY_S
    tz = _tz(runtime)

    def load() -> tuple[list[Interval], list[SamplePoint], list[DeviceEventRow]]:
        return (
            runtime.reader.timeline(camera_id, start, now, now),
            _samples(runtime, camera_id, start, now),
            latest_device_events(runtime.db, camera_id, DEVICE_EVENTS_SHOWN),
        )

    timeline, samples, device_events = await asyncio.to_thread(load)
    recordings = await _recordings_panel(runtime, camera, now, tz)
    chart = history_chart(samples, timeline, start, now, tz, runtime.config.supervisor.sample_interval_s)
    bar = uptime_bar(timeline, start, now, tz)
    config = runtime.config
    return page(
        request,
        "camera.html",
        viewer,
        active="dashboard",
        title=camera.name,
        camera=out,
        zone_names=_zone_names(config),
        bar=bar,
        chart=chart,
        outages=list(reversed(outages(timeline, now)))[:10],
        below_hd=_below_hd(config, out.measured.width, out.measured.height),
        hd_min=config.hd_min_resolution(),
        min_fps=config.policy.min_fps,
        stream=config.policy.stream,
        live_allowed=viewer.role in LIVE_ROLES,
        device=runtime.inventory.latest.get(camera_id),
        device_events=device_events,
        events_subscribed=any(c.id == camera_id for c in runtime.device_events.cameras()),
        tamper=runtime.device_events.tamper_state(camera_id, now),
        tamper_label=device_kind("tamper"),
        recordings=recordings,
        # Whether to offer the PTZ pad: the page asks the API whether the camera really has PTZ.
        ptz_possible=camera.source.onvif is not None,
    )


RECORDING_DAYS_SHOWN = 7


def _recordings_source_text(camera: CameraConfig) -> str:
    """Where the camera's recordings live, in the page's words (the source's own description is English)."""
    rec = camera.recordings
    if rec is not None and rec.recorder is not None:
        return gettext("recorder {recorder}, channel {channel}").format(recorder=rec.recorder, channel=rec.channel)
    if rec is not None and rec.onvif:
        return gettext("the camera's own storage (ONVIF Profile G)")
    return gettext("a playback URL")


async def _recordings_panel(runtime: Runtime, camera: CameraConfig, now: float, tz: ZoneInfo) -> dict[str, Any] | None:
    """The last week of the camera's recordings as the audit found them, or None when not configured."""
    camera_id = camera.id
    source = runtime.recordings.source_of(camera_id)
    if source is None:
        return None
    store = runtime.recordings.store
    start = now - RECORDING_DAYS_SHOWN * DAY_S
    first, last = datetime.fromtimestamp(start, tz).date(), datetime.fromtimestamp(now, tz).date()
    days, check = await asyncio.gather(
        asyncio.to_thread(store.days, camera_id, first, last), asyncio.to_thread(store.latest_check, camera_id)
    )
    bar = recordings_bar(((d.start, d.end, d.gaps) for d in days), start, now, tz)
    long_s = runtime.config.policy.recordings.max_gap_s
    gaps = [(a, b) for d in days for a, b in d.gaps if b - a > long_s and b > start]
    return {
        "source": _recordings_source_text(camera),
        "verifiable": runtime.recordings.verifiable(camera_id),
        "bar": bar,
        "check": check,
        "retained_days": (check.ts - check.earliest) / 86400 if check and check.ok and check.earliest else None,
        "long_gaps": list(reversed(gaps))[:10],
        "days": RECORDING_DAYS_SHOWN,
    }


# ------------------------------------------------------------------------------------------- events


def _day_start(value: str | None, name: str, tz: ZoneInfo) -> tuple[float | None, str]:
    """Midnight (site time) of a YYYY-MM-DD field, and the value to put back in the form."""
    text = _blank(value)
    if text is None:
        return None, ""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidRequestError(_bad_date(name, text)) from None
    return datetime.combine(day, datetime.min.time(), tz).timestamp(), day.isoformat()


def _bad_date(name: str, text: str) -> str:
    label = gettext(_FIELD_LABELS.get(name, name))
    return gettext("'{field}' must be a date like 2026-03-01, not {value}").format(field=label, value=repr(text[:20]))


def _day_range(
    start: str | None, end: str | None, tz: ZoneInfo, problems: list[str]
) -> tuple[float | None, float | None, str, str]:
    """Whole days from the first picked day to the end of the last one; a bad value becomes a problem."""
    try:
        since, from_text = _day_start(start, "from", tz)
        until_day, to_text = _day_start(end, "to", tz)
    except InvalidRequestError as exc:
        problems.append(_sentence(str(exc)))
        return None, None, "", ""
    until = _day_after(until_day, tz) if until_day is not None else None
    return since, until, from_text, to_text


def _day_after(ts: float, tz: ZoneInfo) -> float:
    day = datetime.fromtimestamp(ts, tz).date() + timedelta(days=1)
    return datetime.combine(day, datetime.min.time(), tz).timestamp()


@router.get("/events")
async def events_page(
    request: Request,
    runtime: RuntimeDep,
    viewer: ViewerDep,
    camera: Text = None,
    kind: Text = None,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    before: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    config = runtime.config
    tz = _tz(runtime)
    cameras = viewer.access.visible(config.cameras)
    visible_ids = [c.id for c in cameras]
    problems: list[str] = []
    camera_id, kind_value = _blank(camera), _blank(kind)
    if camera_id is not None and camera_id not in visible_ids:
        problems.append(gettext("That camera is not on this gateway or not shared with you."))
        camera_id = None
    if kind_value is not None and kind_value not in RULE_KINDS:
        problems.append(gettext("Unknown event kind {kind}.").format(kind=repr(kind_value[:40])))
        kind_value = None
    since, until, from_text, to_text = _day_range(start, end, tz, problems)
    if since is not None and until is not None and since >= until:
        problems.append(gettext("The first day must not be after the last."))
        since = until = None
    before_id = int(before) if before and before.isdigit() and 0 < int(before) < 2**62 else None
    # Operators see only their granted cameras' events; an empty list must mean none, not all.
    ids: Sequence[str] | None = [camera_id] if camera_id else (None if viewer.access.all_cameras else visible_ids)

    def load() -> list[Any]:
        if ids is not None and not ids:
            return []
        return runtime.events.query(ids, None, kind_value, None, since, until, EVENTS_PAGE + 1, before_id)

    rows = await asyncio.to_thread(load)
    events = rows[:EVENTS_PAGE]
    filters = {"camera": camera_id or "", "kind": kind_value or "", "from": from_text, "to": to_text}
    kept = {k: v for k, v in filters.items() if v}
    older = urlencode({**kept, "before": events[-1].id}) if len(rows) > EVENTS_PAGE and events else None
    return page(
        request,
        "events.html",
        viewer,
        active="events",
        title=gettext("Detection events"),
        events=events,
        cameras=cameras,
        camera_names={c.id: c.name for c in cameras},
        zone_names=_zone_names(config),
        kinds=sorted(RULE_KINDS),
        filters=filters,
        problems=problems,
        older=older,
        newest=urlencode(kept) if before_id else None,
        analytics_on=any(c.analytics is not None for c in config.cameras),
    )


# ------------------------------------------------------------------------------------------ tickets


@router.get("/tickets")
async def tickets_page(
    request: Request,
    runtime: RuntimeDep,
    viewer: ViewerDep,
    state: Text = None,
    camera: Text = None,
    zone: Text = None,
    ticket_no: Annotated[str | None, Query(alias="id", max_length=20)] = None,
) -> HTMLResponse:
    """Hidden dangers: open ones first (their age counts live), closed ones below with their repair time;
    `id` shows one ticket (the link in the messages people are sent)."""
    config = runtime.config
    cameras = viewer.access.visible(config.cameras)
    problems: list[str] = []
    state_value = _blank(state) or "all"
    if state_value not in dict(STATES):
        problems.append(gettext("Unknown state {state}; showing all.").format(state=repr(state_value[:20])))
        state_value = "all"
    camera_id, zone_id = _blank(camera), _blank(zone)
    if camera_id is not None and not any(c.id == camera_id for c in cameras):
        problems.append(gettext("That camera is not on this gateway or not shared with you."))
        camera_id = None
    if zone_id is not None and not any(z.id == zone_id for z in config.zones):
        problems.append(gettext("Unknown zone {zone}.").format(zone=repr(zone_id[:40])))
        zone_id = None
    wanted = int(ticket_no) if ticket_no and ticket_no.isdigit() and 0 < int(ticket_no) < 2**62 else None
    if ticket_no and wanted is None:
        problems.append(gettext("No ticket {ticket}.").format(ticket=repr(ticket_no[:20])))
    store = runtime.tickets.store

    def load() -> list[Ticket]:
        if wanted is not None:
            one = store.get(wanted)
            return [one] if one is not None else []
        filters: dict[str, Any] = {"camera_id": camera_id, "zone_id": zone_id}
        open_ = store.search(state="open", limit=OPEN_SHOWN, **filters) if state_value != "closed" else []
        closed = store.search(state="closed", limit=CLOSED_SHOWN, **filters) if state_value != "open" else []
        return [*open_, *closed]

    found = [t for t in await asyncio.to_thread(load) if viewer.access.can_see(t.camera_id)]
    if wanted is not None and not found:
        # One answer for "no such ticket" and "not shared": a page must not tell which exist.
        problems.append(gettext("No ticket {ticket} here, or its camera is not shared with you.").format(ticket=wanted))
    wait_s = config.tickets.acknowledge_within_min * 60
    now = time.time()
    rows = ticket_rows(found, {c.id: c.name for c in config.cameras}, _zone_names(config), now, wait_s)
    return page(
        request,
        "tickets.html",
        viewer,
        active="tickets",
        title=gettext("Hidden dangers"),
        open_rows=[r for r in rows if r.ticket.open],
        closed_rows=[r for r in rows if not r.ticket.open],
        show_open=wanted is not None or state_value != "closed",
        show_closed=wanted is not None or state_value != "open",
        single=wanted,
        cameras=cameras,
        zones=config.zones,
        states=STATES,
        filters={"state": state_value, "camera": camera_id or "", "zone": zone_id or ""},
        problems=problems,
        fault_labels=fault_labels(),
        can_ack=viewer.role in ACKNOWLEDGERS,
        target_s=wait_s,
        closed_shown=CLOSED_SHOWN,
        now=now,
    )


# ------------------------------------------------------------------------------------------ reports

REPORT_FORMATS = (("html", "HTML"), ("pdf", "PDF"), ("csv", "CSV"), ("json", "JSON"))


@dataclass(frozen=True)
class ReportQuery:
    period: str
    day: str
    start: str
    end: str
    zones: tuple[str, ...]

    def api_params(self) -> list[tuple[str, str]]:
        if self.period == "custom":
            params = [("from", f"{self.start}T00:00:00"), ("to", f"{_next_day(self.end)}T00:00:00")]
        else:
            params = [("period", self.period), ("date", self.day)]
        return params + [("zone", z) for z in self.zones]


def _next_day(text: str) -> str:
    return (date.fromisoformat(text) + timedelta(days=1)).isoformat()


def _iso_day(value: str | None, name: str) -> str | None:
    text = _blank(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise InvalidRequestError(_bad_date(name, text)) from None


@router.get("/reports")
async def reports_page(
    request: Request,
    runtime: RuntimeDep,
    viewer: StaffViewer,
    period: Text = None,
    day: Annotated[str | None, Query(alias="date", max_length=40)] = None,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    zone: Annotated[list[str] | None, Query()] = None,
) -> HTMLResponse:
    config = runtime.config
    tz = _tz(runtime)
    today = datetime.now(tz).date().isoformat()
    known_zones = {z.id for z in config.zones}
    zones = tuple(z for z in (zone or []) if z in known_zones)
    problems: list[str] = []
    if zone and len(zones) != len(zone):
        problems.append(gettext("Some chosen zones are not on this site; they were left out."))
    kind = _blank(period) or "day"
    if kind not in ("day", "week", "month", "custom"):
        problems.append(gettext("Unknown period {period}; showing today.").format(period=repr(kind[:20])))
        kind = "day"
    query = ReportQuery(kind, today, today, today, zones)
    report: Report | None = None
    try:
        query = ReportQuery(
            kind,
            _iso_day(day, "date") or today,
            _iso_day(start, "from") or today,
            _iso_day(end, "to") or today,
            zones,
        )
        if kind == "custom":
            window = report_period(
                kind=None,
                day=None,
                start=f"{query.start}T00:00:00",
                end=f"{_next_day(query.end)}T00:00:00",
                tz=tz,
            )
        else:
            window = report_period(kind=kind, day=query.day, start=None, end=None, tz=tz)
        # The same report the downloads give, so that the verdict shown here is theirs.
        report = await asyncio.to_thread(
            build_report,
            config,
            runtime.reader,
            window,
            zone_ids=list(zones) or None,
            ledger=runtime.ledger,
            recordings=runtime.recordings.store,
            tickets=runtime.tickets.store,
        )
    except InvalidRequestError as exc:
        problems.append(_sentence(str(exc)))
    base = query.api_params()
    # In the page's language: the user's choice, which the browser's Accept-Language may not be.
    base.append(("lang", current()))
    downloads = [
        (label, fmt, "/api/v1/reports/coverage?" + urlencode([*base, ("format", fmt)])) for fmt, label in REPORT_FORMATS
    ]
    return page(
        request,
        "reports.html",
        viewer,
        active="reports",
        title=gettext("Coverage reports"),
        query=query,
        report=report,
        problems=problems,
        zones=config.zones,
        downloads=downloads if report is not None else [],
        summary=_report_summary(report) if report is not None else None,
        # Said as the report says them: plain sentences in the page's language, with the site's names.
        period=period_name(report.period_label) if report is not None else "",
        findings=_finding_lines(report) if report is not None else [],
    )


@dataclass(frozen=True)
class FindingLine:
    severity: str  # fail / warn / info: the style
    word: str
    text: str


def _finding_lines(report: Report) -> list[FindingLine]:
    names = Names.of(report)
    return [FindingLine(f.severity, severity_word(f.severity), sentence(f, names)) for f in report.findings]


@dataclass(frozen=True)
class ReportSummary:
    cameras: int
    cameras_passed: int
    zones: int
    zones_passed: int
    fails: int
    warns: int
    monitored_percent: float | None


def _report_summary(report: Report) -> ReportSummary:
    enabled = [c for c in report.cameras if c.enabled]
    length = report.end - report.start
    monitored = 100.0 * (1 - report.gateway.seconds / length) if length > 0 else None
    return ReportSummary(
        cameras=len(enabled),
        cameras_passed=sum(1 for c in enabled if c.passed),
        zones=len(report.zones),
        zones_passed=sum(1 for z in report.zones if z.passed),
        fails=sum(1 for f in report.findings if f.severity == "fail"),
        warns=sum(1 for f in report.findings if f.severity == "warn"),
        monitored_percent=monitored if monitored is None or math.isfinite(monitored) else None,
    )


# -------------------------------------------------------------------------------------------- audit


@router.get("/audit")
async def audit_page(
    request: Request,
    runtime: RuntimeDep,
    viewer: AuditViewer,
    actor: Text = None,
    action: Text = None,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    page_no: Annotated[str | None, Query(alias="page", max_length=10)] = None,
) -> HTMLResponse:
    tz = _tz(runtime)
    problems: list[str] = []
    actor_value, action_value = _blank(actor), _blank(action)
    if action_value is not None and action_value not in ACTIONS:
        problems.append(gettext("Unknown action {action}.").format(action=repr(action_value[:40])))
        action_value = None
    since, until, from_text, to_text = _day_range(start, end, tz, problems)
    number = int(page_no) if page_no and page_no.isdigit() and 0 < int(page_no) < 100_000 else 1
    offset = (number - 1) * AUDIT_PAGE
    log = runtime.audit

    def load() -> tuple[list[Any], int, Any]:
        entries = log.query(since, until, actor_value, action_value, AUDIT_PAGE, offset)
        total = log.count(since, until, actor_value, action_value)
        return entries, total, log.verify()

    entries, total, verification = await asyncio.to_thread(load)
    filters = {"actor": actor_value or "", "action": action_value or "", "from": from_text, "to": to_text}
    kept = {k: v for k, v in filters.items() if v}
    pages = max(1, math.ceil(total / AUDIT_PAGE))
    return page(
        request,
        "audit.html",
        viewer,
        active="audit",
        title=gettext("Audit log"),
        entries=entries,
        total=total,
        number=number,
        pages=pages,
        prev=urlencode({**kept, "page": number - 1}) if number > 1 else None,
        next=urlencode({**kept, "page": number + 1}) if number < pages else None,
        filters=filters,
        actions=ACTIONS,
        problems=problems,
        verification=verification,
        export="/api/v1/audit?" + urlencode({"format": "csv", **_audit_export_params(kept)}),
    )


def _audit_export_params(kept: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in kept.items() if k in ("actor", "action")}
    if "from" in kept:
        out["from"] = f"{kept['from']}T00:00:00"
    if "to" in kept:
        out["to"] = f"{_next_day(kept['to'])}T00:00:00"
    return out


# -------------------------------------------------------------------------------------------- users


def _grant_text(grant: Grant) -> str:
    if grant.kind is GrantKind.ALL:
        return gettext("all cameras")
    if grant.kind is GrantKind.ZONE:
        return gettext("zone {zone}").format(zone=grant.target)
    return gettext("camera {camera}").format(camera=grant.target)


@router.get("/admin/users")
async def users_page(request: Request, runtime: RuntimeDep, viewer: AdminViewer) -> HTMLResponse:
    def load() -> tuple[list[Any], dict[str, list[str]]]:
        grants: dict[str, list[str]] = {}
        for grant in runtime.grants.list_grants():
            grants.setdefault(grant.user, []).append(_grant_text(grant))
        return runtime.users.list(), grants

    users, grants = await asyncio.to_thread(load)
    title = gettext("Users")
    return page(request, "users.html", viewer, active="users", title=title, users=users, grants=grants, Role=Role)
