from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.table import FaultTable

_TABLE = FaultTable()


@pytest.fixture(scope="session")
def fault_table() -> Iterator[FaultTable]:
    """Record one FaultRow per fault; the table is printed and written when the session ends."""
    yield _TABLE


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _TABLE.rows:
        return
    terminalreporter.section("fault table")
    terminalreporter.write(_TABLE.markdown())
    path = _TABLE.write()
    terminalreporter.write_line(f"written to {path}")
