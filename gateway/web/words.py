"""Words only the pages show: audit actions, the camera's own event kinds, the language switch.

The words every part shares (zone kinds, states, faults, checks, roles) come from gateway.i18n.terms;
these tables hold the rest, marked for the `web` catalog and translated where a template shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import jinja2

from gateway import audit
from gateway.device_events import KIND_LABELS
from gateway.i18n import N_, current, gettext
from gateway.i18n.terms import ROLES, reason_text, term

AUDIT_ACTIONS: Final[Mapping[str, str]] = {
    audit.LOGIN: N_("sign-in"),
    audit.LOGIN_FAILED: N_("failed sign-in"),
    audit.LOGOUT: N_("sign-out"),
    audit.LIVE_VIEW_START: N_("live view started"),
    audit.LIVE_VIEW_STOP: N_("live view stopped"),
    audit.REPLAY_START: N_("playback started"),
    audit.REPLAY_STOP: N_("playback stopped"),
    audit.PTZ_CONTROL: N_("PTZ control"),
    audit.SNAPSHOT: N_("snapshot viewed"),
    audit.TICKET_OPEN: N_("hidden danger opened"),
    audit.TICKET_ESCALATE: N_("hidden danger escalated"),
    audit.TICKET_ACK: N_("hidden danger acknowledged"),
    audit.TICKET_CLOSE: N_("hidden danger repaired"),
    audit.REPORT_EXPORT: N_("report exported"),
    audit.AUDIT_EXPORT: N_("audit log exported"),
    audit.CONFIG_CHANGE: N_("configuration changed"),
    audit.USER_ADD: N_("user added"),
    audit.USER_DISABLE: N_("user disabled"),
    audit.USER_ENABLE: N_("user enabled"),
    audit.PASSWORD_SET: N_("password set"),
    audit.TOKEN_ISSUE: N_("API token issued"),
    audit.TOKEN_REVOKE: N_("API token revoked"),
    audit.GRANT_ADD: N_("camera granted"),
    audit.GRANT_REMOVE: N_("grant removed"),
}

#: The language switch: each language named in its own words, so a reader finds theirs whatever is shown.
LANGUAGE_NAMES: Final = (("zh-CN", "中文"), ("en", "English"))


_SYSTEM = N_("system")
#: The roles an audit entry may carry besides the users' (gateway/cli.py acts as "console").
_OTHER_ROLES: Final[Mapping[str, str]] = {audit.SYSTEM_ACTOR: _SYSTEM, "console": N_("console")}


def role_text(role: str | None) -> str:
    """A role as the audit log records it: a user's, the gateway itself, or the box's own console."""
    other = _OTHER_ROLES.get(role or "")
    return gettext(other) if other is not None else term(ROLES, role)


def actor_text(actor: str) -> str:
    """Who did it: a user's name as it is, the gateway itself in the page's words."""
    return gettext(_SYSTEM) if actor == audit.SYSTEM_ACTOR else actor


def device_kind(kind: str) -> str:
    """A camera's own event kind (ONVIF) in the page's language; device_events keeps both languages."""
    pair = KIND_LABELS.get(kind)
    if pair is None:
        return kind
    return pair[0] if current() == "zh-CN" else pair[1]


def install_words(env: jinja2.Environment) -> None:
    env.globals.update(
        AUDIT_ACTIONS=AUDIT_ACTIONS,
        LANGUAGE_NAMES=LANGUAGE_NAMES,
        table_text=term,
        device_kind=device_kind,
        role_text=role_text,
        actor_text=actor_text,
        SYSTEM_ACTOR=audit.SYSTEM_ACTOR,
    )
    env.filters.update(reason_text=reason_text)
