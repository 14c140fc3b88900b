"""The tests' own layout: what tests share lives in tests/support, and no test module imports another.

A helper that one test module imports from another drags that module's fixtures and constants along,
and gets copied the day someone needs it elsewhere; tests/support (docs/testing.md, "Test support")
is where shared servers, fakes and helpers go. This reads every Python file under tests/ with `ast`.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SUPPORT = "tests.support"


def module_name(path: Path) -> str:
    """`tests/unit/test_x.py` -> `tests.unit.test_x` (a package's __init__ is the package)."""
    parts = list(path.relative_to(TESTS.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) for each module the source imports, anywhere in it (function bodies included),
    relative imports resolved against `module`. `from pkg import name` yields `pkg.name`, since the
    name may be a module; a name that is only an attribute names no module under tests and is harmless."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names if alias.name != "*"]
    return found


def forbidden(imported: str) -> bool:
    """A module of the tests package that is not shared support: a test module, a conftest, a helper
    left beside the tests (`tests` itself, the bare package, names nothing)."""
    inside_tests = imported.startswith("tests.")
    return inside_tests and not (imported == SUPPORT or imported.startswith(f"{SUPPORT}."))


def violations(path: Path) -> list[str]:
    module = module_name(path)
    found = imported_modules(path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py")
    return [f"{path.relative_to(TESTS.parent)}:{line} imports {name}" for line, name in found if forbidden(name)]


def test_no_module_under_tests_imports_a_test_module_or_a_helper_outside_tests_support() -> None:
    test_modules = sorted(TESTS.rglob("test_*.py"))
    assert len(test_modules) > 50, test_modules  # the walk found the suite
    bad = [v for path in sorted(TESTS.rglob("*.py")) for v in violations(path)]
    assert bad == [], "import shared helpers from tests.support, not from other test files:\n" + "\n".join(bad)


def test_shared_helpers_live_in_tests_support_only() -> None:
    """Outside tests/support, tests/ holds test modules, conftest.py files and package markers."""
    stray = [
        str(path.relative_to(TESTS.parent))
        for path in sorted(TESTS.rglob("*.py"))
        if path.relative_to(TESTS).parts[0] != "support"
        and not path.name.startswith("test_")
        and path.name not in ("conftest.py", "__init__.py")
    ]
    assert stray == [], f"shared test helpers belong in tests/support: {stray}"


def test_the_check_sees_every_kind_of_import() -> None:
    source = (
        "import tests.integration.test_gb_live\n"
        "from tests.integration.test_gateway_site import Site\n"
        "from tests.conftest import clips_locked\n"
        "from tests import browser\n"
        "from . import test_config\n"
        "from .test_gb_catalog import GB_SITE\n"
        "def f():\n"
        "    from tests.faults import faultproxy\n"
        "from tests.support.gateway import Site\n"
        "from tests.support import waiting\n"
        "import tests.support.ports\n"
        "from gateway.config import parse_config\n"
    )
    found = imported_modules(source, "tests.unit.test_x")
    assert [(line, name) for line, name in found if forbidden(name)] == [
        (1, "tests.integration.test_gb_live"),
        (2, "tests.integration.test_gateway_site"),
        (2, "tests.integration.test_gateway_site.Site"),
        (3, "tests.conftest"),
        (3, "tests.conftest.clips_locked"),
        (4, "tests.browser"),
        (5, "tests.unit"),
        (5, "tests.unit.test_config"),
        (6, "tests.unit.test_gb_catalog"),
        (6, "tests.unit.test_gb_catalog.GB_SITE"),
        (8, "tests.faults"),
        (8, "tests.faults.faultproxy"),
    ]
