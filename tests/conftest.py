from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from gateway.sim.clips import ClipInfo
    from gateway.sim.people_clips import PeopleClip
    from tests.postgres import PostgresServer

BACKENDS = ("sqlite", "postgresql")

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--storage",
        choices=("both", *BACKENDS),
        default=os.environ.get("GATEWAY_TEST_STORAGE", "both"),
        help="storage backend of the tests: tests that take `storage_url` run on each backend given (default: "
        "both); gateway processes in integration tests use `gateway_storage_url`: PostgreSQL only when "
        "postgresql is given, else SQLite ($GATEWAY_TEST_STORAGE)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "storage_backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("storage")
        metafunc.parametrize("storage_backend", BACKENDS if chosen == "both" else (chosen,))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (Debian's binaries, 127.0.0.1, a free port)."""
    from tests.postgres import PostgresServer, wait_for

    server = PostgresServer().start()
    try:
        wait_for(server)
        yield server
    finally:
        server.stop()


def _new_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path, *, migrated: bool = True) -> str:
    if backend == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.new_database(migrated=migrated)
    return f"sqlite:///{tmp_path}/gateway.db"


@pytest.fixture
def storage_url(storage_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database on each backend in turn (see --storage)."""
    return _new_url(storage_backend, request, tmp_path)


@pytest.fixture
def empty_storage_url(storage_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database with no tables at all, on each backend in turn (for migration tests)."""
    return _new_url(storage_backend, request, tmp_path, migrated=False)


@pytest.fixture
def gateway_storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database for one gateway process: PostgreSQL under --storage=postgresql, else SQLite."""
    backend = "postgresql" if request.config.getoption("storage") == "postgresql" else "sqlite"
    return _new_url(backend, request, tmp_path)
