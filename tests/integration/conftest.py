from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.sim.clips import ClipInfo, make_clips

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sim_clips() -> dict[str, ClipInfo]:
    """All simulator clips (8 s loops), cached in samples/clips (or $GATEWAY_SIM_CLIPS) across runs."""
    out_dir = Path(os.environ.get("GATEWAY_SIM_CLIPS", REPO / "samples" / "clips"))
    return make_clips(out_dir)
