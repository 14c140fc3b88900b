"""The words people read, in Simplified Chinese first and English second (gettext catalogs through Babel).

The source language of every message is English: a msgid is the English text, so a message without a
translation still reads. The Chinese translations live in `locales/zh_CN/LC_MESSAGES/<domain>.po`, one
catalog per part of the product (see DOMAINS), read and merged at first use. `.po` files are read at
run time (Babel compiles them in memory) rather than shipping `.mo` files beside them, so a catalog
can never be stale against a compiled copy.

Which language applies is a context variable: the CLI sets it once at start, a page or an API answer
sets it for the request it serves (`using(...)`). Code that makes user-facing text calls `_()` at the
moment the text is made; module-level tables of words mark their entries with `N_()` and translate them
where they are shown.

Machine fields (JSON keys, fault codes, metric names, config keys) are never translated.
"""

from __future__ import annotations

import functools
import gettext as gettext_module
import io
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Final, Literal, get_args

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

Language = Literal["zh-CN", "en"]
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)
DEFAULT_LANGUAGE: Final[Language] = "zh-CN"

#: One catalog per part of the product, each extracted from its own sources (scripts/i18n.py DOMAIN_RULES).
#: `terms` holds the words every part shares (zone kinds, camera states, fault and check names), so
#: a term reads the same on the dashboard, in the report and in a ticket message.
DOMAINS: Final = ("terms", "web", "webjs", "report", "cli", "api", "notify")

LOCALES_DIR: Final = Path(__file__).parent / "locales"
#: The Babel/gettext name of each language's catalog folder.
CATALOG_LOCALE: Final[dict[Language, str]] = {"zh-CN": "zh_CN", "en": "en"}

_current: ContextVar[Language] = ContextVar("gateway_language", default=DEFAULT_LANGUAGE)


def catalog_path(language: Language, domain: str) -> Path:
    return LOCALES_DIR / CATALOG_LOCALE[language] / "LC_MESSAGES" / f"{domain}.po"


def _compiled(path: Path, language: Language) -> Translations | None:
    if not path.is_file():
        return None
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=CATALOG_LOCALE[language])
    buf = io.BytesIO()
    # Fuzzy entries (a guessed translation nobody checked) are left out, as msgfmt does.
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain=path.stem)


@functools.cache
def translations(language: Language) -> gettext_module.NullTranslations:
    """Every domain's catalog of `language`, merged into one (English needs none: msgids are English)."""
    merged: Translations | None = None
    for domain in DOMAINS:
        one = _compiled(catalog_path(language, domain), language)
        if one is None:
            continue
        if merged is None:
            merged = one
        else:
            merged.merge(one)
    return merged if merged is not None else gettext_module.NullTranslations()


@functools.cache
def domain_messages(language: Language, domain: str) -> Mapping[str, str]:
    """One domain's translations as msgid -> text (the pages hand their scripts' words over this way)."""
    path = catalog_path(language, domain)
    if not path.is_file():
        return {}
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=CATALOG_LOCALE[language])
    return {
        str(m.id): str(m.string)
        for m in catalog
        if m.id and isinstance(m.id, str) and isinstance(m.string, str) and m.string and not m.fuzzy
    }


def current() -> Language:
    return _current.get()


def set_language(language: Language) -> None:
    """For the CLI: one language for the whole process, set once at start."""
    _current.set(language)


@contextmanager
def using(language: Language) -> Iterator[None]:
    token = _current.set(language)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return translations(_current.get()).pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).npgettext(context, singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    """Marks a message for the catalogs without translating it: it is translated where it is shown."""
    return message


_TAG = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_]([A-Za-z0-9]{2,8}))?(?:[-_.@].*)?\s*$")


def parse_language(text: str | None) -> Language | None:
    """The supported language a tag or locale name means: zh, zh-CN, zh_CN.UTF-8, zh-Hans -> zh-CN; en* -> en.

    Traditional Chinese (zh-TW, zh-HK, zh-Hant) is not Simplified: it is not taken as zh-CN, so such a
    request falls through to the next choice rather than reading a script it did not ask for.
    """
    if not text:
        return None
    match = _TAG.match(text)
    if match is None:
        return None
    lang, region = match.group(1).lower(), (match.group(2) or "").lower()
    if lang == "zh":
        return None if region in ("tw", "hk", "mo", "hant") else "zh-CN"
    if lang == "en":
        return "en"
    return None


def negotiate(accept_language: str | None) -> Language | None:
    """The best supported language of an HTTP Accept-Language header (RFC 9110 weights), or None."""
    if not accept_language:
        return None
    best: tuple[float, int, Language] | None = None
    for index, part in enumerate(accept_language.split(",")[:32]):
        tag, _sep, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _eq, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        language = parse_language(tag)
        if language is None or not 0 < weight <= 1:
            continue
        # Equal weights keep the header's order.
        candidate = (weight, -index, language)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best is not None else None


def from_environment(environ: Mapping[str, str] | None = None) -> Language | None:
    """The language the user's locale asks for, in gettext's order: LANGUAGE, LC_ALL, LC_MESSAGES, LANG.

    C and POSIX (a server's usual locale) name no language: the caller falls back to the site's.
    """
    env = os.environ if environ is None else environ
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if not value:
            continue
        for item in value.split(":"):
            if item.split(".")[0] in ("C", "POSIX"):
                return None
            language = parse_language(item)
            if language is not None:
                return language
        if name != "LANGUAGE":
            # gettext stops at the first of LC_ALL, LC_MESSAGES and LANG that is set.
            return None
    return None
