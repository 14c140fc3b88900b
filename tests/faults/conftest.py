from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.faulttable import TABLE, FaultTable


@pytest.fixture(scope="session")
def fault_table() -> Iterator[FaultTable]:
    """Record one FaultRow per fault; tests/conftest.py prints and writes the table when the run ends."""
    yield TABLE
