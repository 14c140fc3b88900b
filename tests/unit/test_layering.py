"""The layering contract, checked on the import graph (docs/architecture.md, "Layers").

Every module under adapters/, models/, gateway/, sim/ and benchmarks/ is parsed with `ast` (nothing is
imported, so this runs in well under a second) and each static import is checked, including the
imports inside functions and under `if TYPE_CHECKING:`: a deferred import is still a dependency.

A plain test rather than import-linter: the contract is a few dozen lines of standard library, runs
in the unit suite that `make test` already runs, and its failures name both modules and both
layers; import-linter would be one more pinned dependency (with its own graph builder, grimp) for
the same check.

What is not counted: the implicit import of a parent package's ``__init__`` (importing
``gateway.quality.thresholds`` runs ``gateway/quality/__init__.py`` too). The config tree is one
package, ``gateway.config``, whose ``__init__`` is part of it and is checked like its other modules;
no feature package holds a config module, so no feature package's ``__init__`` has to be kept free
of imports for the config's sake.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROOTS = ("adapters", "models", "gateway", "sim", "benchmarks")

# The layers, lowest first: a module may import its own layer and the layers below it, never one
# above. "pkg.*" covers pkg and every module below it; a plain name covers that one module. A plain
# name beats any wildcard, and among wildcards the longest wins. docs/architecture.md draws the same.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # Libraries of the project that know nothing of the application: protocol code and the
    # person/pose detector backends (the models/ package, not the "models" layer below).
    ("adapters", ("adapters", "adapters.*", "models", "models.*")),
    # Data and value types: what the layers above pass around. They import only each other.
    (
        "models",
        (
            "gateway",  # __version__
            "gateway.errors",
            "gateway.health.state",  # CameraState, is_up, MeasuredStream, CameraStatus, HealthTracker
            "gateway.quality.frames",  # CheckResult, Prepared
            "gateway.quality.thresholds",  # the check names and their thresholds
            "gateway.quality.schedule",  # DayNight: which thresholds apply when
            "gateway.reports.model",  # the coverage report as data
            "gateway.analytics.geometry",  # points, lines and zone polygons
            "gateway.i18n.*",  # the language of the moment, the catalogs, the shared terms, formats
        ),
    ),
    # The config tree: one pydantic model in one package, gateway.config (its __init__ re-exports
    # the public names), one module per part of the tree, the features' sections included.
    ("config", ("gateway.config.*",)),
    # What the gateway knows and keeps, without running anything of its own: storage, health
    # judgement and history, the picture checks, users, grants, sessions, audit, the watchdog.
    (
        "core",
        (
            "gateway.storage.*",
            "gateway.health.*",
            "gateway.quality.*",
            "gateway.auth",
            "gateway.access",
            "gateway.sessions",
            "gateway.audit",
            "gateway.admin",
            "gateway.period",
            "gateway.tasks",
            "gateway.logs",
        ),
    ),
    # The parts that do the work: reading cameras, analysing, forwarding (GB/T 28181 uplinks, the
    # outbox and its destinations), live view, reporting.
    (
        "services",
        (
            "gateway.streams.*",
            "gateway.pipeline.*",
            "gateway.supervisor",
            "gateway.analytics.*",
            "gateway.gb28181.*",
            "gateway.outbox.*",
            "gateway.liveview.*",
            "gateway.recordings.*",
            "gateway.ptz",
            "gateway.tickets.*",
            "gateway.reports.*",
            "gateway.inventory",
            "gateway.device_events",
            "gateway.discover",
            "gateway.probe",
        ),
    ),
    # Composition: gateway.compose builds every service from the config and connects them; gateway.runtime
    # starts and stops them.
    ("runtime", ("gateway.runtime", "gateway.compose")),
    # The interfaces served over HTTP: the API and the web pages.
    ("interfaces", ("gateway.api.*", "gateway.web.*")),
    # Entry points: the ASGI app factory, the server, the CLI, the simulated site, the benchmarks.
    (
        "entry",
        (
            "gateway.app",
            "gateway.serve",
            "gateway.cli",
            "gateway.analytics.cli",
            "sim",
            "sim.*",
            "benchmarks",
            "benchmarks.*",
        ),
    ),
]

# (b) The models: data and value types. They import nothing first-party but each other.
MODELS = frozenset(dict(LAYERS)["models"]) | {"adapters.common.media"}

# (c) The config tree imports only itself, the models and the adapters' helpers (URL redaction).
CONFIG_MAY_IMPORT = ("config", "models", "adapters")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int

    def where(self) -> str:
        path = module_paths()[self.importer].relative_to(ROOT)
        return f"{path}:{self.line}: {self.importer} imports {self.imported}"


@functools.cache
def module_paths() -> dict[str, Path]:
    """Every module under ROOTS, by dotted name (a package by its own name, for its __init__)."""
    paths: dict[str, Path] = {}
    for root in ROOTS:
        for path in sorted((ROOT / root).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            paths[".".join(parts)] = path
    return paths


def imports_of(module: str) -> list[Import]:
    """Every first-party import of one module, resolved to the module it names."""
    paths = module_paths()
    path = paths[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import sub` imports the module pkg.sub; `from mod import name` imports mod
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
        else:
            continue
        for name in dict.fromkeys(names):
            if name.split(".")[0] in ROOTS:
                found.append(Import(module, _existing(name, paths), node.lineno))
    return found


def _existing(name: str, paths: dict[str, Path]) -> str:
    """The module an import resolves to (`import gateway.x.y` where y is a name resolves to x)."""
    while name not in paths and "." in name:
        name = name.rpartition(".")[0]
    return name


def layer_of(module: str) -> str | None:
    best: tuple[int, str] | None = None
    for layer, names in LAYERS:
        for name in names:
            if name.endswith(".*"):
                prefix = name[:-2]
                hit = module == prefix or module.startswith(prefix + ".")
            else:
                hit = module == name
            # an exact name beats any wildcard; among wildcards, the longest wins
            rank = len(name) + (1000 if not name.endswith(".*") else 0)
            if hit and (best is None or rank > best[0]):
                best = (rank, layer)
    return best[1] if best else None


def rank_of(layer: str) -> int:
    return [name for name, _ in LAYERS].index(layer)


@functools.cache
def all_imports() -> tuple[Import, ...]:
    return tuple(imp for module in module_paths() for imp in imports_of(module))


def test_every_module_has_a_layer() -> None:
    missing = sorted(m for m in module_paths() if layer_of(m) is None)
    assert not missing, (
        "modules without a layer (add each to LAYERS in tests/unit/test_layering.py and to "
        "docs/architecture.md): " + ", ".join(missing)
    )


def test_the_graph_is_found() -> None:
    # a parser that silently found nothing would pass every contract below
    edges = {(i.importer, i.imported) for i in all_imports()}
    assert ("gateway.runtime", "gateway.config") in edges
    assert ("gateway.api.routes.health", "gateway.period") in edges
    assert len(edges) > 400


def test_adapters_and_detector_backends_never_import_the_application() -> None:
    """(a) adapters/ (and models/, the detector backends) never import gateway or benchmarks."""
    bad = [
        i.where()
        for i in all_imports()
        if i.importer.split(".")[0] in ("adapters", "models") and i.imported.split(".")[0] in ("gateway", "benchmarks")
    ]
    assert not bad, "adapters/ and models/ are libraries; they must not import the application:\n" + "\n".join(bad)


def test_the_gateway_never_imports_the_simulated_site() -> None:
    """sim/ (the demo's cameras) is not part of the gateway: no gateway module imports it, entry points included."""
    bad = [
        i.where() for i in all_imports() if i.importer.split(".")[0] == "gateway" and i.imported.split(".")[0] == "sim"
    ]
    assert not bad, "the gateway imports the simulated site (sim/ is not shipped):\n" + "\n".join(bad)


def test_models_import_only_models() -> None:
    """(b) data and value types import nothing first-party but other models: no config, no service."""
    bad = [
        f"{i.where()} (a {layer_of(i.imported)} module; models import only {', '.join(sorted(MODELS))})"
        for i in all_imports()
        if layer_of(i.importer) == "models" and i.imported not in MODELS and layer_of(i.imported) != "models"
    ]
    assert not bad, "a model imports something that is not a model:\n" + "\n".join(bad)


def test_config_imports_no_feature_module() -> None:
    """(c) the config tree imports only itself, the models and adapters (no service, runtime, api...)."""
    bad = [
        f"{i.where()} (a {layer_of(i.imported)} module)"
        for i in all_imports()
        if layer_of(i.importer) == "config" and layer_of(i.imported) not in CONFIG_MAY_IMPORT
    ]
    assert not bad, "the config tree imports a feature module:\n" + "\n".join(bad)


def test_no_import_points_up() -> None:
    """(d) a module imports its own layer and the layers below it, never a higher one."""
    order = " < ".join(name for name, _ in LAYERS)
    bad = []
    for i in all_imports():
        low, high = layer_of(i.importer), layer_of(i.imported)
        if low is not None and high is not None and rank_of(high) > rank_of(low):
            bad.append(f"{i.where()}: layer '{low}' imports layer '{high}'")
    assert not bad, (
        f"imports that point up (layers: {order}):\n"
        + "\n".join(bad)
        + "\nmove what the lower module needs down to its layer (or below), or give the module another layer"
        " in LAYERS (tests/unit/test_layering.py) and docs/architecture.md if it truly belongs there"
    )
