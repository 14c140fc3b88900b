"""Loading the config: the strict YAML loader, validation, and one ConfigError listing every issue.

`load_config` collects *all* problems (structure first, then cross-references and secrets) and raises
one ConfigError listing each with its key path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from adapters.common.redact import mask_text
from gateway.config.analytics import RULE_KINDS
from gateway.config.root import GatewayConfig, cross_check
from gateway.config.secrets import HIDDEN_VALUE_ERROR
from gateway.errors import ConfigError, ConfigIssue


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, which plain YAML silently lets the last one win.

    It also turns what PyYAML's scalar constructors raise for a value that matches a type but
    cannot be built (`2001-02-30`, `!!int 0x`, `!!timestamp x`, a zone offset of 99 h) into a
    ConstructorError at the value's line, instead of a bare ValueError/TypeError.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, AttributeError, OverflowError, IndexError):
            kind = str(node.tag).rpartition(":")[2] or "YAML"
            # The value itself is not quoted: it may be a secret written in the wrong place.
            raise yaml.constructor.ConstructorError(None, None, f"not a valid {kind} value", node.start_mark) from None


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping or list cannot be a key", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen[key] = loader.construct_object(value_node, deep=deep)
    return seen


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _shown_value(value: Any) -> str | None:
    if isinstance(value, (dict, list)):
        return None
    text = mask_text(repr(value))
    return text if len(text) <= 80 else text[:77] + "..."


def issues_from_validation(exc: ValidationError) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors(include_url=False):
        # Pydantic puts the failing union member / validator name into loc; keep only real keys.
        loc = tuple(p for p in err["loc"] if isinstance(p, int) or not str(p).startswith("function-"))
        # A discriminated union (analytics rules) puts the chosen tag after the list index: drop it.
        loc = tuple(p for i, p in enumerate(loc) if not (i and isinstance(loc[i - 1], int) and p in RULE_KINDS))
        message = err["msg"].removeprefix("Value error, ")
        hidden = err["type"] in ("missing", HIDDEN_VALUE_ERROR)
        value = None if hidden else _shown_value(err.get("input"))
        issues.append(ConfigIssue(_key_path(loc), message, value))
    return issues


def parse_config(data: Any, *, source: str = "<config>", check_secrets: bool = True) -> GatewayConfig:
    """Validate already-parsed YAML/JSON data; raise ConfigError listing every issue."""
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigIssue("(top level)", "the config must be a mapping of keys")])
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, issues_from_validation(exc)) from None
    issues = cross_check(config, check_secrets=check_secrets)
    if issues:
        raise ConfigError(source, issues)
    return config


def load_config(path: Path | str, *, check_secrets: bool = True) -> GatewayConfig:
    """Load and validate a YAML config file; raise ConfigError listing every issue."""
    path = Path(path)
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(source, [ConfigIssue("(file)", f"cannot read: {exc.strerror}")]) from None
    return config_from_bytes(data, source=source, check_secrets=check_secrets)


def config_from_bytes(data: bytes, *, source: str = "<config>", check_secrets: bool = True) -> GatewayConfig:
    """Decode (UTF-8), load (safe YAML, duplicate keys refused) and validate a config file's bytes.

    Raises only ConfigError, listing every issue: this is what `load_config` does after reading the
    file, and what the fuzz target `config` exercises.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte {exc.start}"
        raise ConfigError(source, [ConfigIssue(where, "the file is not UTF-8 text")]) from None
    try:
        loaded = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader derives from SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [ConfigIssue(where, f"invalid YAML: {problem}")]) from None
    except RecursionError:
        raise ConfigError(source, [ConfigIssue("(file)", "invalid YAML: nested too deeply")]) from None
    return parse_config(loaded if loaded is not None else {}, source=source, check_secrets=check_secrets)
