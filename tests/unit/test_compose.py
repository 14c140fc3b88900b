"""The composition root: a gateway that fails while starting still closes its run and its database."""

from __future__ import annotations

import copy
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.compose import running_gateway
from gateway.config import parse_config
from gateway.runtime import Runtime
from gateway.storage import schema
from gateway.storage.db import Database
from tests.support.configs import MINIMAL


async def test_a_gateway_that_fails_to_start_closes_its_run_and_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = copy.deepcopy(MINIMAL)
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    data["storage"] = {"url": url}
    config = parse_config(data, check_secrets=False)

    async def fail(self: Runtime, *, cameras: bool = True) -> None:
        raise RuntimeError("a part failed to start")

    monkeypatch.setattr(Runtime, "start", fail)
    before = set(threading.enumerate())  # another test's writer thread is not this one's
    with pytest.raises(RuntimeError, match="failed to start"):
        async with running_gateway(config, start_cameras=False):
            pytest.fail("the body must not run")
    # The history writer was stopped (it writes the run's end), so no thread is left behind ...
    assert not [t for t in threading.enumerate() if t.name == "history-writer" and t not in before]
    # ... and the run is closed: a later run does not see a crash.
    with Database(url) as db, db.engine.connect() as conn:
        (stopped,) = conn.execute(select(schema.gateway_runs.c.stopped_at)).one()
    assert stopped is not None
