from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from gateway.sim.clips import ClipInfo
    from gateway.sim.people_clips import PeopleClip

# Tests never reach beyond 127.0.0.1; keep any library that might phone home quiet.
os.environ.setdefault("YOLO_OFFLINE", "1")


def _clip_dir() -> Path:
    # The integration tests' sim_clips fixture caches in the same place, so each clip is made once.
    return Path(os.environ.get("GATEWAY_SIM_CLIPS", Path(__file__).resolve().parents[1] / "samples" / "clips"))


@pytest.fixture(scope="session")
def sample_clips() -> dict[str, ClipInfo]:
    """The simulator clips (8 s loops, as the integration tests make them), cached across runs."""
    from gateway.sim.clips import make_clips  # imported here: av and cv2 are not needed by most tests

    return make_clips(_clip_dir())


@pytest.fixture(scope="session")
def fault_clips() -> dict[str, ClipInfo]:
    """The fault clips (black, blurred, covered, colour cast, noisy, moved: 6 s at 720p), cached across runs."""
    from gateway.sim.clips import make_fault_clips

    return make_fault_clips(_clip_dir())


@pytest.fixture(scope="session")
def people_clips() -> dict[str, PeopleClip]:
    """The people clips (walk, loiter, crowd, fall, empty: 720p, 10 fps, with ground truth), cached across runs."""
    from gateway.sim.people_clips import make_people_clips

    return make_people_clips(_clip_dir())
