"""Pydantic's own validation messages in the reader's language.

Pydantic words its built-in errors in English only. English keeps pydantic's exact words; another
language gets the message of the error's `type`, filled from its `ctx` (the bound, the pattern, the
values allowed). A type not listed here is shown with pydantic's English inside a translated frame,
so nothing is lost. Our own validators' messages are translated where they are raised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from gateway.i18n import N_, current, gettext, ngettext, pgettext

#: The error type -> our message, with pydantic's ctx keys as placeholders.
MESSAGES: Final[Mapping[str, str]] = {
    "missing": N_("Field required"),
    "extra_forbidden": N_("Extra inputs are not permitted"),
    "int_parsing": N_("Input should be a valid integer"),
    "int_type": N_("Input should be a valid integer"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "int_parsing_size": N_("Unable to parse input string as an integer, exceeded maximum size"),
    "float_parsing": N_("Input should be a valid number"),
    "float_type": N_("Input should be a valid number"),
    "finite_number": N_("Input should be a finite number"),
    "bool_parsing": N_("Input should be a valid boolean"),
    "bool_type": N_("Input should be a valid boolean"),
    "string_type": N_("Input should be a valid string"),
    "greater_than": N_("Input should be greater than {gt}"),
    "greater_than_equal": N_("Input should be greater than or equal to {ge}"),
    "less_than": N_("Input should be less than {lt}"),
    "less_than_equal": N_("Input should be less than or equal to {le}"),
    "multiple_of": N_("Input should be a multiple of {multiple_of}"),
    "literal_error": N_("Input should be {expected}"),
    "enum": N_("Input should be {expected}"),
    "string_pattern_mismatch": N_("String should match pattern '{pattern}'"),
    "url_parsing": N_("Input should be a valid URL, {error}"),
    "url_scheme": N_("URL scheme should be {expected_schemes}"),
    "url_type": N_("URL input should be a string or URL"),
    "list_type": N_("Input should be a valid list"),
    "tuple_type": N_("Input should be a valid tuple"),
    "dict_type": N_("Input should be a valid dictionary"),
    "model_type": N_("Input should be a valid dictionary"),
    "model_attributes_type": N_("Input should be a valid dictionary"),
    "none_required": N_("Input should be None"),
    "date_parsing": N_("Input should be a valid date in the format YYYY-MM-DD"),
    "date_type": N_("Input should be a valid date in the format YYYY-MM-DD"),
    "datetime_parsing": N_("Input should be a valid datetime"),
    "time_parsing": N_("Input should be in a valid time format"),
    "union_tag_invalid": N_("Input tag '{tag}' does not match any of the expected tags: {expected_tags}"),
    "union_tag_not_found": N_("Unable to extract tag using discriminator {discriminator}"),
}


def _choices(text: str) -> str:
    """Pydantic's list of allowed values ("'a', 'b' or 'c'") with the reader's separators."""
    head, sep, last = text.rpartition(" or ")
    if not sep:
        return text
    return head.replace(", ", pgettext("list", ", ")) + pgettext("list", " or ") + last


def _counted(kind: str, ctx: Mapping[str, Any]) -> str | None:
    """The messages with a count in them, which need the plural forms."""
    if kind in ("string_too_short", "too_short"):
        n = int(ctx.get("min_length", 0))
        if kind == "too_short":
            return ngettext("List should have at least {n} item", "List should have at least {n} items", n).format(n=n)
        text = ngettext("String should have at least {n} character", "String should have at least {n} characters", n)
        return text.format(n=n)
    if kind in ("string_too_long", "too_long"):
        n = int(ctx.get("max_length", 0))
        if kind == "too_long":
            return ngettext("List should have at most {n} item", "List should have at most {n} items", n).format(n=n)
        text = ngettext("String should have at most {n} character", "String should have at most {n} characters", n)
        return text.format(n=n)
    return None


def validation_message(
    kind: str, message: str, ctx: Mapping[str, Any] | None, own_types: frozenset[str] = frozenset()
) -> str:
    """One pydantic error (`type`, `msg`, `ctx`) as the current language words it."""
    if kind == "value_error" or kind in own_types:
        # Our validators raised it, already in the current language.
        return message.removeprefix("Value error, ")
    if current() == "en":
        return message
    context = dict(ctx or {})
    for key in ("expected", "expected_tags", "expected_schemes"):
        if isinstance(context.get(key), str):
            context[key] = _choices(context[key])
    counted = _counted(kind, context)
    if counted is not None:
        return counted
    template = MESSAGES.get(kind)
    if template is not None:
        try:
            return gettext(template).format(**context)
        except (KeyError, IndexError, ValueError):
            pass
    return gettext("invalid value ({detail})").format(detail=message)


#: PyYAML's words for what it could not parse (its English is kept as it is: people search for it).
YAML_PROBLEMS: Final[Mapping[str, str]] = {
    "mapping values are not allowed here": N_("mapping values are not allowed here"),
    "found unexpected end of stream": N_("found unexpected end of stream"),
    "could not find expected ':'": N_("could not find expected ':'"),
}
_YAML_PATTERNS: Final = (
    (re.compile(r"expected (.+), but got (.+)"), N_("expected {expected}, but got {found}")),
    (re.compile(r"expected (.+), but found (.+)"), N_("expected {expected}, but found {found}")),
    (
        re.compile(r"found character (.+) that cannot start any token"),
        N_("found character {found} that cannot start any token"),
    ),
    (re.compile(r"found undefined alias (.+)"), N_("found undefined alias {found}")),
)


def yaml_problem(problem: str) -> str:
    """What PyYAML could not parse, in the current language (a problem not known here is shown as it is)."""
    known = YAML_PROBLEMS.get(problem)
    if known is not None:
        return gettext(known)
    for pattern, message in _YAML_PATTERNS:
        match = pattern.fullmatch(problem)
        if match is not None:
            parts = match.groups()
            return gettext(message).format(expected=_choices(parts[0]), found=parts[-1])
    return problem
