"""The audit log for admins and auditors: query, export (itself audited) and chain verification."""

from __future__ import annotations

import time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response

from gateway import audit
from gateway.api.deps import RuntimeDep, client_ip, require
from gateway.api.models import DB_INT_MAX
from gateway.auth import Role, User
from gateway.errors import InvalidRequestError
from gateway.i18n import _
from gateway.period import parse_instant

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
AuditReader = Annotated[User, Depends(require(Role.ADMIN, Role.AUDITOR))]
MAX_PAGE = 1000
# An export is the whole filtered period; past this the auditor narrows it or uses `gateway audit export`.
MAX_EXPORT = 100_000


@router.get("", summary="Audit entries, newest first (format=json or csv)")
def query_audit(
    request: Request,
    runtime: RuntimeDep,
    user: AuditReader,
    start: Annotated[str | None, Query(alias="from", description="ISO 8601 or Unix seconds")] = None,
    end: Annotated[str | None, Query(alias="to", description="ISO 8601 or Unix seconds")] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(description=" | ".join(audit.ACTIONS))] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
    fmt: Annotated[str, Query(alias="format", description="json | csv (csv: the whole period, for export)")] = "json",
) -> Any:
    if fmt not in ("json", "csv"):
        raise InvalidRequestError(_("'format' must be json or csv, not {fmt}").format(fmt=repr(fmt[:20])))
    if action is not None and action not in audit.ACTIONS:
        raise InvalidRequestError(_("'action' must be one of {items}").format(items=", ".join(audit.ACTIONS)))
    tz = ZoneInfo(runtime.config.site.timezone)
    since = parse_instant(start, "from", tz) if start else None
    until = parse_instant(end, "to", tz) if end else None
    if fmt == "csv":
        entries = runtime.audit.query(since, until, actor, action, MAX_EXPORT, 0, target)
        runtime.audit.record(
            user.name,
            user.role.value,
            audit.AUDIT_EXPORT,
            "audit log",
            {"entries": len(entries), "from": since, "to": until, "actor": actor, "action": action},
            client_ip(request),
        )
        stamp = time.strftime("%Y%m%d-%H%M%S")
        headers = {"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"', "Cache-Control": "no-store"}
        return Response(audit.to_csv(entries), media_type="text/csv; charset=utf-8", headers=headers)
    entries = runtime.audit.query(since, until, actor, action, limit, offset, target)
    total = runtime.audit.count(since, until, actor, action, target)
    return {"total": total, "entries": [e.as_dict() for e in entries]}


@router.get("/verify", summary="Check the hash chain of the whole log")
def verify_audit(runtime: RuntimeDep, _user: AuditReader) -> dict[str, Any]:
    result = runtime.audit.verify()
    return {
        "ok": result.ok,
        "checked": result.checked,
        "problems": [{"seq": seq, "problem": what} for seq, what in result.problems],
        "head": f"{result.head_seq}:{result.head_hash}",
    }
