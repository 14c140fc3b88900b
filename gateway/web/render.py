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
from gateway.i18n import N_, formats
from gateway.i18n import _ as gettext
from gateway.i18n import jinja as i18n_jinja
from gateway.reports.model import hms
from gateway.web import ASSETS_PREFIX, TEMPLATES_DIR
from gateway.web.words import install_words

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
# Labels are marked here and translated where the header draws them (the request's language).
NAV = (
    NavItem("dashboard", N_("Dashboard"), "/", frozenset(Role)),
    # Everyone sees the events of the cameras they may see: an officer gets the alarms of their feeds.
    NavItem("events", N_("Events"), "/events", frozenset(Role)),
    # Every role reads the dangers of the cameras it may see; admins and operators take them on.
    NavItem("tickets", N_("Hidden dangers"), "/tickets", frozenset(Role)),
    NavItem("reports", N_("Reports"), "/reports", _STAFF),
    NavItem("audit", N_("Audit log"), "/audit", frozenset({Role.ADMIN, Role.AUDITOR})),
    NavItem("users", N_("Users"), "/admin/users", frozenset({Role.ADMIN})),
)


class Clock:
    """Times as the site reads them: its own time zone, whatever the browser's."""

    def __init__(self, tz: ZoneInfo, now: float | None = None) -> None:
        self.tz = tz
        self.now = time.time() if now is None else now

    def text(self, ts: float | None, seconds: bool = True) -> str:
        """A date and time as the page's language writes it (2026年12月7日 14:05:09), always 24-hour."""
        return formats.datetime_text(ts, self.tz, seconds=seconds)

    def iso(self, ts: float | None) -> str:
        if ts is None or not math.isfinite(ts):
            return ""
        return datetime.fromtimestamp(ts, self.tz).isoformat(timespec="seconds")

    def ago(self, ts: float | None) -> str:
        if ts is None or not math.isfinite(ts):
            return "–"
        s = max(0, round(self.now - ts))
        if s < 90:
            return gettext("{n} s ago").format(n=s)
        if s < 5400:
            return gettext("{n} min ago").format(n=round(s / 60))
        if s < 2 * 86400:
            return gettext("{n} h ago").format(n=round(s / 3600))
        return gettext("{n} days ago").format(n=round(s / 86400))

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
    install_words(env)
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
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
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
            # Where the language switch brings the user back to (the /language route checks it is local).
            request_target=here,
            language=i18n.current(),
            # The words the pages' scripts show, in the page's language (msgid -> text; empty for English).
            js_words=i18n.domain_messages(i18n.current(), "webjs"),
            **context,
        )
    )
    return HTMLResponse(body, status_code=status_code, headers=NO_STORE)


_ERROR_TITLES = {
    400: N_("Bad request"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    409: N_("Conflict"),
    422: N_("Check the request"),
    503: N_("Not available"),
}
_OTHER_ERROR = N_("Something went wrong")


def error_page(request: Request, viewer: Viewer | None, status_code: int, message: str) -> HTMLResponse:
    title = gettext(_ERROR_TITLES.get(status_code, _OTHER_ERROR))
    return page(request, "error.html", viewer, status_code=status_code, title=title, code=status_code, message=message)
