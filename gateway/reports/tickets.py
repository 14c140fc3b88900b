"""The coverage report's hidden-danger section: the tickets (gateway/tickets/) alive in the period, how
fast people took them on and how fast the faults were repaired, and what was still open at the end.

Read from the tickets table; nothing is asked of the running service. Everything is judged as it
stood at the period's end (or now, for a period not over yet): an acknowledgement or a repair after
it does not count, as the timelines stop there too. Durations are whole, not cut at the period's
start: a fault that began last month and was repaired this month took as long as it took.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

from gateway.config import CameraConfig, GatewayConfig, ZoneConfig
from gateway.i18n import N_
from gateway.reports import findings as finding_of
from gateway.reports.model import CameraReport, Finding, TicketFigures, TicketLine, TicketsReport
from gateway.tickets.store import Ticket, TicketStore

DEFINITION = N_(
    "Hidden dangers: a camera fault that lasted past its grace time opens a ticket; people are told, a"
    " person acknowledges it, and it closes once the camera has been healthy for the recovery time."
    " Opened: tickets opened in the period. Acknowledged in target: of the tickets told in the period"
    " that were acknowledged by its end or were past the target then, those acknowledged within the"
    " target after being told. Time to acknowledge: told to acknowledged, for those told in the period."
    " Time to repair: the fault's start to the ticket's close, for those closed in the period."
    " Overdue: open and not acknowledged within the target at the period's end."
)
# A reopened ticket keeps one row: its state in a period before the reopening is no longer known.
UNKNOWN_NOTE = N_("reopened after the period: its state at the period's end is not known")


def ticket_line(ticket: Ticket, cut: float, wait_s: float) -> TicketLine:
    """The ticket as it stood at `cut` (the period's end, or now)."""
    told = ticket.episode_at
    # Reopened after the period, the row tells of the new episode only: nothing of it counts here.
    known = told <= cut
    acked = known and ticket.acknowledged_at is not None and ticket.acknowledged_at <= cut
    closed = known and ticket.closed_at is not None and ticket.closed_at <= cut
    acknowledge_s = ticket.acknowledged_at - told if acked and ticket.acknowledged_at is not None else None
    repair_s = ticket.closed_at - ticket.since if closed and ticket.closed_at is not None else None
    return TicketLine(
        id=ticket.id,
        camera_id=ticket.camera_id,
        zone_id=ticket.zone_id,
        fault=ticket.fault,
        detail=ticket.detail,
        since=ticket.since,
        opened_at=ticket.opened_at,
        first_told_at=told,
        reopened=ticket.reopened,
        acknowledged_at=ticket.acknowledged_at if acked else None,
        acknowledged_by=ticket.acknowledged_by if acked else None,
        note=ticket.note if acked else None,
        closed_at=ticket.closed_at if closed else None,
        state_at_end="unknown" if not known else ("closed" if closed else "open"),
        acknowledge_s=round(acknowledge_s, 3) if acknowledge_s is not None else None,
        repair_s=round(repair_s, 3) if repair_s is not None else None,
        overdue=known and not closed and not acked and cut - told >= wait_s,
    )


def figures(lines: Iterable[TicketLine], start: float, cut: float, wait_s: float) -> TicketFigures:
    lines = list(lines)
    told_here = [t for t in lines if t.state_at_end != "unknown" and start <= t.first_told_at < cut]
    acked = [t.acknowledge_s for t in told_here if t.acknowledge_s is not None]
    due = [t for t in told_here if t.acknowledge_s is not None or cut - t.first_told_at >= wait_s]
    # overlapping() leaves out tickets closed before the period: every repair here is within it.
    repaired = [t.repair_s for t in lines if t.repair_s is not None]
    still_open = [t for t in lines if t.open_at_end]
    return TicketFigures(
        opened=sum(1 for t in lines if start <= t.opened_at < cut),
        due=len(due),
        acknowledged_in_target=sum(1 for t in due if t.acknowledge_s is not None and t.acknowledge_s <= wait_s),
        acknowledge_median_s=_median(acked),
        acknowledge_worst_s=max(acked) if acked else None,
        repaired=len(repaired),
        repair_median_s=_median(repaired),
        repair_worst_s=max(repaired) if repaired else None,
        open_at_end=len(still_open),
        overdue_at_end=sum(1 for t in still_open if t.overdue),
        oldest_open_s=round(max(cut - t.since for t in still_open), 3) if still_open else None,
    )


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def tickets_of(
    config: GatewayConfig,
    cameras: Sequence[CameraConfig],
    zones: Sequence[ZoneConfig],
    store: TicketStore,
    start: float,
    end: float,
    now: float,
) -> TicketsReport:
    """The section for the report's cameras and zones over [start, end), judged at min(end, now)."""
    cut = max(start, min(end, now))
    wait_s = config.tickets.acknowledge_within_min * 60
    in_report = {c.id for c in cameras}
    # A period not begun yet has nothing to show; one under way is judged now.
    found = store.overlapping(start, end) if cut > start else []
    lines = [ticket_line(t, cut, wait_s) for t in found if t.camera_id in in_report and t.opened_at < cut]
    lines.sort(key=lambda t: (not t.open_at_end, not t.overdue, t.opened_at, t.id))
    by_camera: dict[str, list[TicketLine]] = {}
    for line in lines:
        by_camera.setdefault(line.camera_id, []).append(line)
    return TicketsReport(
        acknowledge_target_s=wait_s,
        site=figures(lines, start, cut, wait_s),
        zones={z.id: figures((t for t in lines if t.zone_id == z.id), start, cut, wait_s) for z in zones},
        cameras={c.id: figures(by_camera[c.id], start, cut, wait_s) for c in cameras if c.id in by_camera},
        tickets=tuple(lines),
        definition=DEFINITION,
    )


def findings(section: TicketsReport, tz: ZoneInfo) -> dict[str, list[Finding]]:
    """A failure per danger overdue at the period's end, by camera: nobody took it on in time."""
    out: dict[str, list[Finding]] = {}
    for line in section.tickets:
        if line.overdue:
            out.setdefault(line.camera_id, []).append(
                finding_of.ticket_overdue(
                    line.camera_id, line.id, line.fault, line.since, section.acknowledge_target_s, tz
                )
            )
    return out


def with_tickets(reports: list[CameraReport], section: TicketsReport, tz: ZoneInfo) -> list[CameraReport]:
    """The camera reports with a finding for each of their overdue dangers."""
    found = findings(section, tz)
    out = []
    for report in reports:
        extra = found.get(report.id)
        if not extra:
            out.append(report)
            continue
        merged = (*report.findings, *extra)
        out.append(dataclasses.replace(report, findings=merged, passed=not any(f.severity == "fail" for f in merged)))
    return out
