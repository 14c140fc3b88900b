"""Hidden-danger tickets as the pages show them: the tickets page and the dashboard's open dangers.

Fault names are the shared terms (gateway.i18n.terms.FAULTS), so a danger reads the same here, in the
report and in the message people are sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from gateway.auth import Role
from gateway.i18n import N_
from gateway.i18n.terms import FAULTS, term
from gateway.tickets.store import Ticket

#: The state filter's choices: (value, words marked for the catalog, translated where shown).
STATES: Final = (("all", N_("all")), ("open", N_("open")), ("closed", N_("closed")))
# The unit's own people take a danger on (the API's rule, gateway/api/routes/tickets.py).
ACKNOWLEDGERS: Final = frozenset({Role.ADMIN, Role.OPERATOR})
OPEN_SHOWN: Final = 1000
CLOSED_SHOWN: Final = 100


def fault_labels() -> dict[str, str]:
    """Every fault code's words in the current language (the dashboard's script shows new dangers with them)."""
    return {code: term(FAULTS, code) for code in FAULTS}


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
