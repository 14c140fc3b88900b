"""Jinja2's i18n extension wired to the catalogs: `{{ _("...") }}`, `{% trans %}...{% endtrans %}`.

The callables read the current language (a context variable), so one environment serves every
language: the caller renders inside `gateway.i18n.using(language)`. New-style gettext is used: the
messages take `%(name)s` arguments as keywords and are escaped like any other value.
"""

from __future__ import annotations

import jinja2

from gateway import i18n
from gateway.i18n import formats, terms
from gateway.i18n.phrases import phrase_text


def install(env: jinja2.Environment) -> None:
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext, npgettext=i18n.npgettext
    )
    env.globals.update(
        current_language=i18n.current,
        term=terms.term,
        reason_text=terms.reason_text,
        phrase_text=phrase_text,
        ZONE_KINDS=terms.ZONE_KINDS,
        CAMERA_STATES=terms.CAMERA_STATES,
        FAULTS=terms.FAULTS,
        CHECKS=terms.CHECKS,
        CHECK_STATES=terms.CHECK_STATES,
        RULES=terms.RULES,
        ROLES=terms.ROLES,
    )
    env.filters.update(duration=formats.duration_text)
