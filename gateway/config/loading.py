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
from gateway.config.messages import validation_message, yaml_problem
from gateway.config.root import GatewayConfig, cross_check
from gateway.config.secrets import HIDDEN_VALUE_ERROR
from gateway.errors import ConfigError, ConfigIssue
from gateway.i18n import Language, _, parse_language


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
            problem = _("not a valid {kind} value").format(kind=kind)
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, _("a mapping or list cannot be a key"), key_node.start_mark
            ) from None
        if key in seen:
            problem = _("duplicate key {key}").format(key=repr(key))
            raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark)
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
    return out or _("(top level)")


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
        message = validation_message(err["type"], err["msg"], err.get("ctx"), own_types=frozenset({HIDDEN_VALUE_ERROR}))
        hidden = err["type"] in ("missing", HIDDEN_VALUE_ERROR)
        value = None if hidden else _shown_value(err.get("input"))
        issues.append(ConfigIssue(_key_path(loc), message, value))
    return issues


def parse_config(data: Any, *, source: str = "<config>", check_secrets: bool = True) -> GatewayConfig:
    """Validate already-parsed YAML/JSON data; raise ConfigError listing every issue."""
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigIssue(_("(top level)"), _("the config must be a mapping of keys"))])
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
        issue = ConfigIssue(_("(file)"), _("cannot read: {reason}").format(reason=exc.strerror))
        raise ConfigError(source, [issue]) from None
    return config_from_bytes(data, source=source, check_secrets=check_secrets)


def config_from_bytes(data: bytes, *, source: str = "<config>", check_secrets: bool = True) -> GatewayConfig:
    """Decode (UTF-8), load (safe YAML, duplicate keys refused) and validate a config file's bytes.

    Raises only ConfigError, listing every issue: this is what `load_config` does after reading the
    file, and what the fuzz target `config` exercises.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = _("byte {offset}").format(offset=exc.start)
        raise ConfigError(source, [ConfigIssue(where, _("the file is not UTF-8 text"))]) from None
    try:
        loaded = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader derives from SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = _where(mark)
        problem = yaml_problem(getattr(exc, "problem", None) or str(exc))
        raise ConfigError(source, [ConfigIssue(where, _("invalid YAML: {problem}").format(problem=problem))]) from None
    except RecursionError:
        raise ConfigError(source, [ConfigIssue(_("(file)"), _("invalid YAML: nested too deeply"))]) from None
    return parse_config(loaded if loaded is not None else {}, source=source, check_secrets=check_secrets)


def _where(mark: Any) -> str:
    if mark is None:
        return _("(file)")
    return _("line {line}, column {column}").format(line=mark.line + 1, column=mark.column + 1)


def peek_language(path: Path | str) -> Language | None:
    """The `site.language` a config file asks for, read before (and whether or not) it validates.

    The CLI needs the language before loading, to word the loading's own errors in it; a file that is
    unreadable or not YAML names none, and the caller falls back to the default.
    """
    try:
        loaded = yaml.load(Path(path).read_bytes().decode("utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return None
    site = loaded.get("site") if isinstance(loaded, dict) else None
    value = site.get("language") if isinstance(site, dict) else None
    return parse_language(value) if isinstance(value, str) else None
