"""The fault suite's summary: one row per fault, printed at the end and written as a Markdown table.

Each fault test measures its own figures against the ground truth it recorded and records one row.
The table goes to $GATEWAY_FAULT_TABLE (``make faults`` points it at docs/faults.md) or else to
var/faults/table.md, so that an ordinary test run never rewrites the committed document.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FaultRow:
    fault: str
    # Seconds from injecting the fault until the gateway showed it (API state, status, counter).
    # None where there is nothing to detect from outside, which the note must explain.
    detected_s: float | None
    # Seconds from removing the fault until the gateway was back to normal.
    recovered_s: float | None
    # What the test holds the two figures to, in words ("detect <= 12 s, recover <= 20 s").
    bound: str
    # What was lost against the ground truth ("0 of 37 events", "0 s of uptime"); "none" only when
    # the test compared and found nothing missing.
    lost: str
    # What was counted twice against the ground truth ("0 duplicates").
    duplicated: str = "0"
    note: str = ""


class FaultTable:
    def __init__(self) -> None:
        self.rows: list[FaultRow] = []

    def to_json(self) -> str:
        return json.dumps([dataclasses.asdict(r) for r in self.rows])

    def add_json(self, text: str) -> None:
        self.rows.extend(FaultRow(**r) for r in json.loads(text))

    def record(self, row: FaultRow) -> None:
        self.rows.append(row)

    def markdown(self) -> str:
        def secs(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.1f} s"

        lines = [
            "| fault | detected after | recovered after | bound | data lost | counted twice | note |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r.fault} | {secs(r.detected_s)} | {secs(r.recovered_s)} | {r.bound} | {r.lost} "
                f"| {r.duplicated} | {r.note} |"
            )
        return "\n".join(lines) + "\n"

    def write(self) -> Path | None:
        if not self.rows:
            return None
        target = Path(os.environ.get("GATEWAY_FAULT_TABLE") or REPO / "var" / "faults" / "table.md")
        target.parent.mkdir(parents=True, exist_ok=True)
        head = (
            "# Fault suite results\n\n"
            "Written by `make faults` (`tests/faults/`): each fault is injected into real parts on 127.0.0.1 "
            "and measured against the ground truth the test recorded. Do not edit by hand.\n\n"
            f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}.\n\n"
        )
        target.write_text(head + self.markdown(), encoding="utf-8")
        return target


# The session's table. Under pytest-xdist each worker fills its own, and tests/conftest.py hands the
# rows to the controller, which prints and writes them.
TABLE = FaultTable()
