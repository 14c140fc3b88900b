"""Keep the catalogs in step with the sources: `python -m scripts.i18n update` (make i18n) and `check`.

`update` extracts every marked message (`_()`, `N_()`, `gettext()`... in Python, `{{ _() }}` and
`{% trans %}` in templates, `_()` in the pages' scripts) with Babel, domain by domain, and merges it
into `gateway/i18n/locales/zh_CN/LC_MESSAGES/<domain>.po`: new messages arrive untranslated, messages
no longer in the sources are dropped, translations are kept. `check` (and tests/unit/test_i18n_catalogs.py)
fails when a message of the sources is not in its catalog, a catalog holds a message the sources no
longer have, a translation is missing or fuzzy, or a translation's placeholders differ from its message's.

Each source file belongs to one domain: the first rule of DOMAIN_RULES it matches.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract
from babel.messages.pofile import read_po, write_po

from gateway.i18n import DOMAINS, catalog_path

ROOT = Path(__file__).resolve().parent.parent

# (glob relative to the repository, domain): the first match wins.
DOMAIN_RULES: tuple[tuple[str, str], ...] = (
    ("gateway/i18n/*.py", "terms"),
    ("gateway/web/static/*.js", "webjs"),
    ("gateway/web/*.py", "web"),
    ("gateway/web/templates/*.html", "web"),
    ("gateway/reports/*.py", "report"),
    ("gateway/reports/templates/*.html", "report"),
    ("gateway/outbox/*.py", "notify"),
    ("gateway/tickets/*.py", "notify"),
    ("gateway/cli.py", "cli"),
    ("gateway/config/*.py", "cli"),
    ("gateway/*.py", "api"),
    ("gateway/*/*.py", "api"),
    ("gateway/*/*/*.py", "api"),
)

_METHODS = {".py": "python", ".html": "jinja2.ext:babel_extract", ".js": "javascript"}
_OPTIONS = {
    ".html": {"extensions": "jinja2.ext.i18n", "trimmed": "false", "newstyle_gettext": "true"},
    ".js": {},
    ".py": {},
}
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "_": None}
COMMENT_TAGS = ["i18n:", "Translators:"]


def domain_of(relpath: str) -> str | None:
    for pattern, domain in DOMAIN_RULES:
        if fnmatch.fnmatchcase(relpath, pattern) and relpath.count("/") == pattern.count("/"):
            return domain
    return None


def sources(domain: str) -> Iterator[Path]:
    for path in sorted((ROOT / "gateway").rglob("*")):
        if path.suffix not in _METHODS or not path.is_file() or "locales" in path.parts:
            continue
        if domain_of(path.relative_to(ROOT).as_posix()) == domain:
            yield path


def extract_domain(domain: str) -> Catalog:
    """Every message the domain's sources mark, with where it is used (file names only: no line churn)."""
    template = Catalog(project="site-video-gateway", charset="utf-8", fuzzy=False)
    for path in sources(domain):
        rel = path.relative_to(ROOT).as_posix()
        with path.open("rb") as fp:
            for lineno, message, comments, context in extract(
                _METHODS[path.suffix], fp, KEYWORDS, COMMENT_TAGS, _OPTIONS[path.suffix]
            ):
                if isinstance(message, tuple | list):
                    msgid: str | tuple[str, ...] = tuple(m for m in message if m)
                    if not msgid:
                        continue
                    if len(msgid) == 1:
                        msgid = msgid[0]
                elif message:
                    msgid = message
                else:
                    continue
                template.add(msgid, locations=[(rel, lineno)], auto_comments=comments, context=context)
    return template


_HEADER = {
    "project": "site-video-gateway",
    "copyright_holder": "the site-video-gateway developers",
    "msgid_bugs_address": "the project's issue tracker",
    "last_translator": "the site-video-gateway developers",
    "language_team": "Simplified Chinese",
    # Fixed dates: an update that changes no message changes no byte of the catalog.
    "creation_date": datetime(2026, 12, 7, tzinfo=UTC),
    "revision_date": datetime(2026, 12, 7, tzinfo=UTC),
}


def _read(path: Path, locale: str) -> Catalog:
    if path.is_file():
        with path.open("rb") as fp:
            catalog = read_po(fp, locale=locale)
    else:
        catalog = Catalog(locale=locale, charset="utf-8", fuzzy=False)
    for key, value in _HEADER.items():
        setattr(catalog, key, value)
    return catalog


def _write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    write_po(buf, catalog, width=120, include_lineno=False, ignore_obsolete=True, omit_header=False, sort_output=False)
    path.write_bytes(buf.getvalue())


def update(domains: tuple[str, ...] = DOMAINS, language: str = "zh-CN", locale: str = "zh_CN") -> None:
    for domain in domains:
        template = extract_domain(domain)
        path = catalog_path(language, domain)  # type: ignore[arg-type]
        catalog = _read(path, locale)
        # No fuzzy matching: a guessed translation of a near message is worse than none for a reviewer.
        catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
        catalog.fuzzy = False
        if len(catalog) or path.is_file():
            _write(catalog, path)


_BRACES = re.compile(r"(?<!\{)\{([^{}]*)\}(?!\})")
_PERCENT = re.compile(r"%\((\w+)\)[sdifr]|%[sdif]")


def placeholders(text: str) -> tuple[list[str], list[str]]:
    return sorted(_BRACES.findall(text)), sorted(_PERCENT.findall(text))


@dataclass(frozen=True)
class Problem:
    domain: str
    message: str
    what: str

    def __str__(self) -> str:
        return f"{self.domain}: {self.message!r}: {self.what}"


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple | list):
        return [v for v in value if isinstance(v, str)]
    return []


def check(language: str = "zh-CN", locale: str = "zh_CN") -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, tuple[str, str]] = {}
    for domain in DOMAINS:
        template = extract_domain(domain)
        path = catalog_path(language, domain)  # type: ignore[arg-type]
        catalog = _read(path, locale)
        wanted = {(m.id, m.context) for m in template if m.id}
        have = {(m.id, m.context) for m in catalog if m.id}
        for key in sorted(wanted - have, key=str):
            problems.append(Problem(domain, str(key[0]), "used in the sources but not in the catalog (make i18n)"))
        for key in sorted(have - wanted, key=str):
            problems.append(Problem(domain, str(key[0]), "in the catalog but no longer in the sources (make i18n)"))
        for m in catalog:
            if not m.id:
                continue
            ids, strings = _texts(m.id), _texts(m.string)
            if m.fuzzy or not strings or not all(s.strip() for s in strings):
                problems.append(Problem(domain, ids[0], "no Chinese translation"))
                continue
            want = placeholders(ids[-1])
            for s in strings:
                if placeholders(s) != want:
                    problems.append(Problem(domain, ids[0], f"placeholders differ: {s!r}"))
            # One English message means one thing: it must read the same in every domain.
            earlier = seen.get(ids[0])
            if earlier is not None and earlier[1] != strings[0] and m.context is None:
                what = f"translated {strings[0]!r} here, {earlier[1]!r} in {earlier[0]}"
                problems.append(Problem(domain, ids[0], what))
            seen.setdefault(ids[0], (domain, strings[0]))
    return problems


def untranslated(domain: str, language: str = "zh-CN", locale: str = "zh_CN") -> list[str]:
    catalog = _read(catalog_path(language, domain), locale)  # type: ignore[arg-type]
    return [str(_texts(m.id)[0]) for m in catalog if m.id and (m.fuzzy or not any(_texts(m.string)))]


def fill(domain: str, translations: dict[str, str | list[str]], language: str = "zh-CN", locale: str = "zh_CN") -> int:
    """Puts translations (msgid -> text, or a list of plural texts) into the domain's catalog; returns how many."""
    path = catalog_path(language, domain)  # type: ignore[arg-type]
    catalog = _read(path, locale)
    done = 0
    for m in catalog:
        if not m.id:
            continue
        text = translations.get(str(_texts(m.id)[0]))
        if text is None:
            continue
        if isinstance(m.id, tuple):
            m.string = tuple(text) if isinstance(text, list) else (text,)
        else:
            m.string = text if isinstance(text, str) else text[0]
        m.flags.discard("fuzzy")
        done += 1
    _write(catalog, path)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.i18n", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("update", "check", "untranslated", "fill"))
    parser.add_argument("domain", nargs="?", choices=DOMAINS, help="the catalog (update: all when left out)")
    parser.add_argument("file", nargs="?", help="fill: a JSON object of msgid -> Chinese text")
    args = parser.parse_args(argv)
    if args.command == "update":
        update((args.domain,) if args.domain else DOMAINS)
        return 0
    if args.command == "untranslated":
        print(json.dumps({m: "" for m in untranslated(args.domain)}, ensure_ascii=False, indent=1))
        return 0
    if args.command == "fill":
        with Path(args.file).open(encoding="utf-8") as fp:
            print(f"{fill(args.domain, json.load(fp))} translation(s) put in {args.domain}", file=sys.stderr)
        return 0
    problems = check()
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
