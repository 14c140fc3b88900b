"""Fuzz target `config`: an operator's YAML config file (the gateway/config/ package).

Covers `config_from_bytes` (what `load_config` does after reading the file: UTF-8 decoding, the
duplicate-refusing safe YAML loader, the whole pydantic tree and the cross checks). Allowed:
`ConfigError` only. Invariant: every issue names a key path and a message, and no issue shows a
secret (a value given as `password`, `token` or `secret` is masked).
"""

from __future__ import annotations

from fuzz import check
from fuzz._atheris import INSTRUMENTED, instrument_imports, main

with instrument_imports(include=INSTRUMENTED):
    from gateway.config import config_from_bytes
    from gateway.errors import ConfigError


def test_one_input(data: bytes) -> None:
    try:
        config_from_bytes(data, source="fuzz.yaml", check_secrets=False)
    except ConfigError as exc:
        check(bool(exc.issues), "ConfigError without issues")
        for issue in exc.issues:
            check(bool(issue.path) and bool(issue.message), "a config issue without a path or message")


if __name__ == "__main__":
    main(test_one_input)
