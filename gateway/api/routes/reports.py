"""Coverage/compliance reports for auditors: JSON, CSV, HTML or PDF for a day, week, month or custom period."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response

from gateway import audit
from gateway.api.deps import RuntimeDep, client_ip, require
from gateway.auth import Role, User
from gateway.errors import InvalidRequestError, NotFoundError
from gateway.reports.coverage import build_report
from gateway.reports.period import report_period
from gateway.reports.render import DRAWN, FORMATS, render, report_language

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

ReportUser = Annotated[User, Depends(require(Role.ADMIN, Role.AUDITOR, Role.OPERATOR))]
# The HTML report carries its own styles and nothing else: no script, no outside resource.
_HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


@router.get(
    "/coverage",
    summary="Coverage and compliance report",
    responses={
        200: {
            "description": "The report in the asked format",
            "content": {"application/json": {}, "text/csv": {}, "text/html": {}, "application/pdf": {}},
        }
    },
)
async def coverage_report(
    request: Request,
    runtime: RuntimeDep,
    user: ReportUser,
    start: Annotated[str | None, Query(alias="from", description="ISO 8601 or Unix seconds (custom period)")] = None,
    end: Annotated[str | None, Query(alias="to", description="ISO 8601 or Unix seconds; default now")] = None,
    period: Annotated[str | None, Query(description="day | week | month, around 'date' (default today)")] = None,
    date: Annotated[str | None, Query(description="A day in the period, 2026-11-22, with 'period'")] = None,
    fmt: Annotated[str, Query(alias="format", description=f"One of {', '.join(FORMATS)}")] = "json",
    site: Annotated[str | None, Query(description="Site id; this gateway serves one site")] = None,
    zone: Annotated[list[str] | None, Query(description="Only these zones (repeat for several)")] = None,
    lang: Annotated[
        str | None,
        Query(description="zh-CN or en for the HTML, PDF and CSV; default: Accept-Language, else the site's language"),
    ] = None,
) -> Response:
    # The whole site, shards watched by other instances on the same database included.
    config = runtime.site_config
    if site is not None and site != config.site.id:
        raise NotFoundError(f"no site {site[:64]!r}: this gateway serves {config.site.id!r}")
    if zone:
        known = {z.id for z in config.zones}
        unknown = [z for z in zone if z not in known]
        if unknown:
            raise NotFoundError(f"no zone {unknown[0][:64]!r}")
    if fmt not in FORMATS:
        raise InvalidRequestError(f"'format' must be one of {', '.join(FORMATS)}, not {fmt[:20]!r}")
    # A page links to the report in its reader's chosen language, which the browser's header may not be.
    language = report_language(lang)
    window = report_period(kind=period, day=date, start=start, end=end, tz=ZoneInfo(config.site.timezone))
    access = runtime.grants.access_for(user)
    if not access.all_cameras:
        # An operator's report covers the cameras granted to them, and says so by its camera list.
        config = config.model_copy(update={"cameras": access.visible(config.cameras)})

    def make() -> tuple[bytes, str, str]:
        report = build_report(
            config,
            runtime.reader,
            window,
            zone_ids=zone or None,
            ledger=runtime.ledger,
            recordings=runtime.recordings.store,
            tickets=runtime.tickets.store,
            drawn=fmt in DRAWN,
        )
        rendered = render(report, fmt, language)
        runtime.audit.record(
            user.name,
            user.role.value,
            audit.REPORT_EXPORT,
            f"coverage {window.label}",
            {"format": fmt, "zones": zone or [], "from": window.start, "to": window.end},
            client_ip(request),
        )
        return rendered.body, rendered.media_type, rendered.filename

    body, media_type, filename = await asyncio.to_thread(make)
    log.info("user %s exported the %s coverage report %s", user.name, fmt, window.label)
    disposition = "inline" if fmt in ("json", "html") else "attachment"
    headers = {"Content-Disposition": f'{disposition}; filename="{filename}"', "Cache-Control": "no-store"}
    if fmt == "html":
        headers["Content-Security-Policy"] = _HTML_CSP
    return Response(body, media_type=media_type, headers=headers)
