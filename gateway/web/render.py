"""Rendering pages: one Jinja2 environment (autoescaped), the shared layout's context, error pages."""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from gateway import __version__, i18n
from gateway.auth import Role
from gateway.i18n import jinja as i18n_jinja
from gateway.reports.model import hms
from gateway.web import ASSETS_PREFIX, TEMPLATES_DIR

if TYPE_CHECKING:
    from gateway.web.viewer import Viewer

# Pages hold people's names and camera pictures: never cached by a shared proxy or kept after sign-out.
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    href: str
    roles: frozenset[Role]


_STAFF = frozenset({Role.ADMIN, Role.OPERATOR, Role.AUDITOR})
NAV = (
    NavItem("dashboard", "Dashboard", "/", frozenset(Role)),
    # Everyone sees the events of the cameras they may see: an officer gets the alarms of their feeds.
    NavItem("events", "Events", "/events", frozenset(Role)),
    # Every role reads the dangers of the cameras it may see; admins and operators take them on.
    NavItem("tickets", "隐患 / Dangers", "/tickets", frozenset(Role)),
    NavItem("reports", "Reports", "/reports", _STAFF),
    NavItem("audit", "Audit log", "/audit", frozenset({Role.ADMIN, Role.AUDITOR})),
    NavItem("users", "Users", "/admin/users", frozenset({Role.ADMIN})),
)


class Clock:
    """Times as the site reads them: its own time zone, whatever the browser's."""

    def __init__(self, tz: ZoneInfo, now: float | None = None) -> None:
        self.tz = tz
        self.now = time.time() if now is None else now

    def text(self, ts: float | None, seconds: bool = True) -> str:
        if ts is None or not math.isfinite(ts):
            return "–"
        return datetime.fromtimestamp(ts, self.tz).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

    def iso(self, ts: float | None) -> str:
        if ts is None or not math.isfinite(ts):
            return ""
        return datetime.fromtimestamp(ts, self.tz).isoformat(timespec="seconds")

    def ago(self, ts: float | None) -> str:
        if ts is None or not math.isfinite(ts):
            return "–"
        s = max(0, round(self.now - ts))
        if s < 90:
            return f"{s} s ago"
        if s < 5400:
            return f"{round(s / 60)} min ago"
        if s < 2 * 86400:
            return f"{round(s / 3600)} h ago"
        return f"{round(s / 86400)} days ago"

    @property
    def zone(self) -> str:
        offset = datetime.fromtimestamp(self.now, self.tz).utcoffset() or timedelta(0)
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def fmt_num(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def fmt_kbps(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if value >= 10_000:
        return f"{value / 1000:,.1f} Mb/s"
    return f"{value:,.0f} kb/s"


def fmt_pct(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if value >= 99.995:
        return "100 %"
    return f"{value:.2f} %"


def fmt_resolution(width: int | None, height: int | None) -> str:
    return f"{width}×{height}" if width and height else "–"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        # Every template is HTML and every value may come from config or users: escape everything.
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    i18n_jinja.install(env)
    env.filters.update(num=fmt_num, kbps=fmt_kbps, pct=fmt_pct, hms=hms)
    env.globals.update(resolution=fmt_resolution, assets=ASSETS_PREFIX, version=__version__)
    return env


def page(
    request: Request,
    template: str,
    viewer: Viewer | None,
    *,
    status_code: int = 200,
    active: str = "",
    title: str = "",
    **context: Any,
) -> HTMLResponse:
    runtime = request.app.state.runtime
    site = runtime.config.site
    nav = [item for item in NAV if viewer is not None and viewer.role in item.roles]
    body = (
        environment()
        .get_template(template)
        .render(
            site=site,
            viewer=viewer,
            nav=nav,
            active=active,
            title=title,
            clock=Clock(ZoneInfo(site.timezone)),
            request_path=request.url.path,
            language=i18n.current(),
            # The words the pages' scripts show, in the page's language (msgid -> text; empty for English).
            js_words=i18n.domain_messages(i18n.current(), "webjs"),
            **context,
        )
    )
    return HTMLResponse(body, status_code=status_code, headers=NO_STORE)


_ERROR_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    422: "Check the request",
    503: "Not available",
}


def error_page(request: Request, viewer: Viewer | None, status_code: int, message: str) -> HTMLResponse:
    title = _ERROR_TITLES.get(status_code, "Something went wrong")
    return page(request, "error.html", viewer, status_code=status_code, title=title, code=status_code, message=message)
