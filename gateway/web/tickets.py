"""Hidden-danger tickets as the pages show them: the tickets page and the dashboard's open dangers.

Words are Simplified Chinese first, English second, as the people who act on a danger read them; issue
24 moves them into the message catalogs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from gateway.auth import Role
from gateway.tickets.store import Ticket

FAULT_LABELS: Final[Mapping[str, str]] = {
    "offline": "离线 / offline",
    "video_lost": "视频丢失 / video lost",
    "picture": "画面异常 / picture fault",
    "below_hd": "非高清 / below HD",
    "degraded": "视频质量下降 / degraded",
}
STATES: Final = (("all", "全部 / all"), ("open", "未关闭 / open"), ("closed", "已关闭 / closed"))
# The unit's own people take a danger on (the API's rule, gateway/api/routes/tickets.py).
ACKNOWLEDGERS: Final = frozenset({Role.ADMIN, Role.OPERATOR})
OPEN_SHOWN: Final = 1000
CLOSED_SHOWN: Final = 100


@dataclass(frozen=True)
class TicketRow:
    ticket: Ticket
    camera_name: str
    zone_name: str | None
    age_s: float  # open: since the fault began; closed: its repair time
    overdue: bool  # open and not acknowledged within the target


def ticket_rows(
    tickets: Iterable[Ticket],
    camera_names: Mapping[str, str],
    zone_names: Mapping[str, str],
    now: float,
    wait_s: float,
) -> list[TicketRow]:
    """Open tickets first, the unacknowledged among them first, then the oldest fault first; closed ones
    after, the latest closed first."""
    rows = [
        TicketRow(
            ticket=t,
            camera_name=camera_names.get(t.camera_id, t.camera_id),
            zone_name=zone_names.get(t.zone_id, t.zone_id) if t.zone_id else None,
            age_s=max(0.0, (t.closed_at or now) - t.since),
            overdue=t.open and t.acknowledged_at is None and now - t.episode_at >= wait_s,
        )
        for t in tickets
    ]
    open_rows = sorted((r for r in rows if r.ticket.open), key=_open_order)
    closed_rows = sorted((r for r in rows if not r.ticket.open), key=lambda r: -(r.ticket.closed_at or 0.0))
    return open_rows + closed_rows


def _open_order(row: TicketRow) -> tuple[bool, float, int]:
    return (row.ticket.acknowledged_at is not None, row.ticket.since, row.ticket.id)
