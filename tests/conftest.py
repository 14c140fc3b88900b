from __future__ import annotations

import collections
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.clips import clips_locked
from tests.support.faulttable import TABLE
from tests.support.ports import use_worker_ports

if TYPE_CHECKING:
    from models.base import Detector
    from sim.clips import ClipInfo
    from sim.people_clips import PeopleClip
    from tests.support.postgres import PostgresServer

BACKENDS = ("sqlite", "postgresql")

# Tests never reach beyond 127.0.0.1; keep any library that might phone home quiet.
os.environ.setdefault("YOLO_OFFLINE", "1")

# Each parallel worker (pytest -n) takes the ports of its servers from a range of its own, below the
# kernel's ephemeral ports (tests/support/ports.py): workers never race for a port. Child processes
# inherit the range.
use_worker_ports()


@pytest.fixture(scope="module")
def detector() -> Iterator[Detector]:
    """The product's default detector, loaded as the analytics service loads it (down to the tracker's
    low score), with two threads: the real-footage and clip tests run it on hundreds of frames."""
    from gateway.analytics.analyzer import detector_confidence
    from gateway.config.analytics import AnalyticsConfig
    from models.registry import load_detector

    settings = AnalyticsConfig()
    d = settings.detector
    det = load_detector(
        d.backend,
        model=d.model,
        models_dir=Path(__file__).resolve().parents[1] / d.models_dir,
        threads=2,
        confidence=detector_confidence(settings),
    )
    yield det
    det.close()


@pytest.fixture(scope="session")
def sample_clips() -> dict[str, ClipInfo]:
    """The simulator clips (8 s loops), cached in samples/clips (or $GATEWAY_SIM_CLIPS) across runs."""
    from sim.clips import make_clips  # imported here: av and cv2 are not needed by most tests

    with clips_locked() as directory:
        return make_clips(directory)


@pytest.fixture(scope="session")
def lawn_clips() -> dict[str, ClipInfo]:
    """Real footage (vtest.avi from Debian's opencv-doc, installed by `make setup`): its still lawn as a
    live 720p camera and as a frozen one (sim/footage.py), cached with the other clips."""
    from sim.footage import make_lawn_clips

    with clips_locked() as directory:
        return make_lawn_clips(directory)


@pytest.fixture(scope="session")
def sim_clips(sample_clips: dict[str, ClipInfo]) -> dict[str, ClipInfo]:
    """The same clips, under the name the integration tests use."""
    return sample_clips


@pytest.fixture(scope="session")
def fault_clips() -> dict[str, ClipInfo]:
    """The fault clips (black, blurred, covered, colour cast, noisy, moved: 6 s at 720p), cached across runs."""
    from sim.clips import make_fault_clips

    with clips_locked() as directory:
        return make_fault_clips(directory)


@pytest.fixture(scope="session")
def people_clips() -> dict[str, PeopleClip]:
    """The people clips (walk, loiter, crowd, fall, empty: 720p, 10 fps, with ground truth), cached across runs."""
    from sim.people_clips import make_people_clips

    with clips_locked() as directory:
        return make_people_clips(directory)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # pytest-xdist schedules work by node id: of several items sharing one it runs one and reports
    # the others as nothing at all (schemathesis under pytest 9 did this). Refuse such a collection.
    counts = collections.Counter(item.nodeid for item in items)
    repeated = sorted(nodeid for nodeid, n in counts.items() if n > 1)
    if repeated:
        raise pytest.UsageError(f"{len(repeated)} node id(s) name several tests, e.g. {repeated[0]}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: its fault rows go to the controller
        workeroutput["fault_rows"] = TABLE.to_json()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    rows = getattr(node, "workeroutput", {}).get("fault_rows")
    if rows:
        TABLE.add_json(rows)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TABLE.rows:
        return
    terminalreporter.section("fault table")
    terminalreporter.write(TABLE.markdown())
    terminalreporter.write_line(f"written to {TABLE.write()}")


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
    from tests.support.postgres import PostgresServer, wait_for

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
    from tests.support.storage import new_url

    return new_url(request, tmp_path)


@pytest.fixture
def english(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """English words for a test of what is refused and where (the default language is Chinese).

    The CLI takes its language from the locale, everything else from the current language; the
    Chinese wording is checked by the tests of the messages themselves (test_messages_language.py).
    """
    from gateway.i18n import using

    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    with using("en"):
        yield
