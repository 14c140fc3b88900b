"""Coverage-guided fuzzing (atheris/libFuzzer) of the parsers that face the network or an operator's file.

One harness module per target; each one's `test_one_input(data)` feeds fuzzer bytes to the real
entry points and fails (raises something other than the documented error, or an `InvariantError`)
on anything that must not happen. `python -m fuzz --seconds N [target ...]` runs them; see
docs/security.md, section "Fuzzing".

This module must not import the code under test: each harness imports it inside
`atheris.instrument_imports()` so that coverage reaches the fuzzer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

TARGETS: Final = ("sip", "sdp", "manscdp", "onvif_soap", "rtsp_url", "config", "replay", "viid")
CORPUS_ROOT: Final = Path(__file__).resolve().parent / "corpus"


class InvariantError(AssertionError):
    """A parser returned, but its result breaks a property that must always hold."""


def check(condition: bool, message: str) -> None:
    """Raise InvariantError(message) when `condition` is false (not stripped by -O, unlike assert)."""
    if not condition:
        raise InvariantError(message)
