"""The one place atheris is imported (it has no type stubs), and the shared harness entry point."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import atheris  # type: ignore[import-untyped]

FuzzedDataProvider: Any = atheris.FuzzedDataProvider
instrument_imports: Callable[..., Any] = atheris.instrument_imports

# What a harness instruments: the project's own code, not the standard library or pydantic.
INSTRUMENTED = ["adapters", "gateway"]


def main(test_one_input: Callable[[bytes], None]) -> None:
    """Run libFuzzer on `test_one_input` with this process's command line (corpus dirs, -flags)."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
