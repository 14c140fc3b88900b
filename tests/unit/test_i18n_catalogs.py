"""Every user-facing message is in its catalog with a Chinese translation (scripts/i18n.py check)."""

from __future__ import annotations

from scripts import i18n as catalogs


def test_every_marked_message_has_a_checked_chinese_translation() -> None:
    problems = catalogs.check()
    assert not problems, "\n".join(str(p) for p in problems[:40])


def test_the_check_finds_a_message_missing_from_its_catalog(monkeypatch) -> None:
    real = catalogs.extract_domain

    def with_one_more(domain: str):
        template = real(domain)
        if domain == "terms":
            template.add("a message nobody translated", locations=[("gateway/i18n/terms.py", 1)])
        return template

    monkeypatch.setattr(catalogs, "extract_domain", with_one_more)
    problems = catalogs.check()
    assert [p.message for p in problems] == ["a message nobody translated"]


def test_placeholders_are_compared() -> None:
    assert catalogs.placeholders("{0} is below HD ({1})") == (["0", "1"], [])
    assert catalogs.placeholders("%(n)s cameras, {{literal}}") == ([], ["n"])


def test_every_source_file_belongs_to_one_domain() -> None:
    assert catalogs.domain_of("gateway/web/templates/base.html") == "web"
    assert catalogs.domain_of("gateway/web/static/app.js") == "webjs"
    assert catalogs.domain_of("gateway/reports/render.py") == "report"
    assert catalogs.domain_of("gateway/config/site.py") == "cli"
    assert catalogs.domain_of("gateway/storage/tickets.py") == "api"
    assert catalogs.domain_of("gateway/i18n/terms.py") == "terms"
