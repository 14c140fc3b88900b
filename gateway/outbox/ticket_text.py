"""What people read about a hidden-danger ticket (隐患), in Simplified Chinese or English: one rendering
shared by every channel (WeCom, DingTalk and Feishu bots, e-mail), so the words live in one place.

`render(payload)` reads a "ticket" message's payload (gateway/tickets/service.py makes it; unknown keys
are ignored, missing ones tolerated) into a `TicketText`: a title such as "【隐患】东门 1 号摄像机 离线",
a sentence saying what to do, and labelled fields. `markdown`, `plain` and `html` lay it out for a
channel. The words are in the `notify` catalog, rendered in the payload's `language` (not the
process's: one gateway may notify in a language other than its pages'); faults, zone kinds and the
gateway's English wording of a fault are the shared terms (gateway/i18n/terms.py).
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.i18n import DEFAULT_LANGUAGE, N_, Language, gettext, pgettext, using
from gateway.i18n.formats import datetime_text
from gateway.i18n.terms import FAULTS, ZONE_KINDS, reason_text, term

Flavor = Literal["wecom", "dingtalk", "feishu"]
Tone = Literal["danger", "warning", "done", "info"]

DEFAULT_TIMEZONE: Final = "Asia/Shanghai"
URGENT_EVENTS: Final = frozenset({"opened", "escalated", "reopened"})

PREFIXES: Final[dict[str, str]] = {
    "opened": N_("[Hidden danger]"),
    "escalated": N_("[Escalated]"),
    "reopened": N_("[Danger back]"),
    "acknowledged": N_("[Acknowledged]"),
    "closed": N_("[Repaired]"),
    "other": N_("[Hidden danger]"),
}

ACTIONS: Final[dict[str, str]] = {
    "opened": N_("A security hidden danger: check it and have it repaired promptly."),
    "escalated": N_("Not acknowledged in time: escalated to the next contact list."),
    "reopened": N_("The danger is back: acknowledge it again and have it repaired."),
    "acknowledged": N_("Acknowledged: being repaired."),
    "closed": N_("The camera is healthy again: the danger is repaired."),
    "other": N_("The ticket changed."),
}

# The separators are shared terms (the `terms` catalog): named here, not marked again.
_COLON: Final = ": "
_REASON_JOIN: Final = "; "
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Colours a channel may show: WeCom's markdown font colours and Feishu's card header templates.
WECOM_COLOUR: Final[dict[Tone, str]] = {"danger": "warning", "warning": "warning", "done": "info", "info": "comment"}
FEISHU_TEMPLATE: Final[dict[Tone, str]] = {"danger": "red", "warning": "orange", "done": "green", "info": "blue"}
HTML_COLOUR: Final[dict[Tone, str]] = {"danger": "#c62828", "warning": "#e65100", "done": "#2e7d32", "info": "#1565c0"}


@dataclass(frozen=True)
class TicketText:
    language: Language
    event: str
    title: str
    action: str
    fields: tuple[tuple[str, str], ...]
    link: str | None
    link_label: str
    tone: Tone

    @property
    def urgent(self) -> bool:
        """A danger found, back or escalated: it goes out at once, quiet hours or not."""
        return self.event in URGENT_EVENTS


# -- reading the payload ---------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    # One line: a value must not break a channel's layout (a note typed with line breaks).
    text = " ".join(str(value).split())
    return text or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _zone_info(name: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(name or DEFAULT_TIMEZONE))
    except (ValueError, ZoneInfoNotFoundError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def language_of(payload: dict[str, Any]) -> Language:
    return "en" if payload.get("language") == "en" else DEFAULT_LANGUAGE


def format_time(at: float, zone: ZoneInfo, language: Language) -> str:
    """A moment in the site's time zone: 2026年12月7日 08:30, or 7 Dec 2026 08:30."""
    if language == "zh-CN":
        return datetime_text(at, zone, language, seconds=False)
    t = datetime.fromtimestamp(at, zone)
    return f"{t.day} {_MONTHS[t.month - 1]} {t.year} {t.hour:02d}:{t.minute:02d}"


def _unit(unit: str, n: int) -> str:
    if unit == "d":
        return pgettext("duration", "{n} d").format(n=n)
    if unit == "h":
        return pgettext("duration", "{n} h").format(n=n)
    if unit == "m":
        return pgettext("duration", "{n} min").format(n=n)
    return pgettext("duration", "{n} s").format(n=n)


def format_duration(seconds: float, language: Language) -> str:
    """1小时5分, 2天3小时, 45秒; or 1 h 5 min, 2 d 3 h, 45 s: the two largest units, rounded down.

    Not formats.duration_text: a message shows no seconds past a minute, and rounds down (a ticket
    open 59.6 s has not lasted a minute).
    """
    with using(language):
        total = max(0, int(seconds))
        if total < 60:
            return _unit("s", total)
        days, rest = divmod(total, 86400)
        hours, rest = divmod(rest, 3600)
        minutes = rest // 60
        parts = [("d", days), ("h", hours)] if days else [("h", hours), ("m", minutes)] if hours else [("m", minutes)]
        shown = [_unit(u, n) for u, n in parts if n or u == parts[0][0]]
        if len(shown) == 1:
            return shown[0]
        return pgettext("duration", "{larger} {smaller}").format(larger=shown[0], smaller=shown[1])


def translate_detail(detail: str, language: Language) -> str:
    """The gateway's wording of a fault in the reader's language, phrase by phrase ("; " separated);
    a phrase not known is kept as written."""
    with using(language):
        out: list[str] = []
        for phrase in (p.strip() for p in detail.split(";")):
            if not phrase:
                continue
            translated = reason_text(phrase)
            if translated == phrase:
                # The gateway words its reasons in lower case; a capitalised one is known all the same.
                lowered = reason_text(phrase.lower())
                if lowered != phrase.lower():
                    translated = lowered
            out.append(translated)
        return gettext(_REASON_JOIN).join(out)


def _tone(event: str) -> Tone:
    if event == "closed":
        return "done"
    if event == "acknowledged":
        return "info"
    return "warning" if event == "escalated" else "danger"


def render(payload: dict[str, Any]) -> TicketText:
    """The ticket message's payload as people read it, in its `language` and its site's `timezone`."""
    language = language_of(payload)
    with using(language):
        return _render(payload, language)


def _render(payload: dict[str, Any], language: Language) -> TicketText:
    zone = _zone_info(payload.get("timezone"))
    event = str(payload.get("event") or "other")
    known_event = event if event in PREFIXES else "other"

    fault_code = str(payload.get("fault") or "")
    fault = term(FAULTS, fault_code) if fault_code else "?"
    camera_id = _text(payload.get("camera_id")) or "?"
    camera_name = _text(payload.get("camera_name")) or camera_id
    title = gettext("{prefix} {camera}: {fault}").format(
        prefix=gettext(PREFIXES[known_event]), camera=camera_name, fault=fault
    )

    fields: list[tuple[str, str]] = []
    site = _text(payload.get("site_name"))
    if site:
        fields.append((pgettext("ticket field", "Site"), site))
    camera = (
        camera_name
        if camera_name == camera_id
        else pgettext("ticket", "{name} ({id})").format(name=camera_name, id=camera_id)
    )
    fields.append((pgettext("ticket field", "Camera"), camera))
    zone_name = _text(payload.get("zone_name")) or _text(payload.get("zone_id"))
    kind_code = str(payload.get("zone_kind") or "")
    zone_kind = term(ZONE_KINDS, kind_code) if kind_code in ZONE_KINDS else None
    if zone_name:
        shown_zone = pgettext("ticket", "{name} ({kind})").format(name=zone_name, kind=zone_kind)
        fields.append((pgettext("ticket field", "Zone"), shown_zone if zone_kind else zone_name))
    detail = _text(payload.get("detail"))
    shown_fault = fault
    if detail and detail != fault_code:
        shown_fault = pgettext("ticket", "{fault} ({detail})").format(
            fault=fault, detail=translate_detail(detail, language)
        )
    fields.append((pgettext("ticket field", "Danger"), shown_fault))
    since = _number(payload.get("since"))
    at = _number(payload.get("at"))
    if since is not None:
        fields.append((pgettext("ticket field", "Since"), format_time(since, zone, language)))
    if event in URGENT_EVENTS and since is not None and at is not None:
        fields.append((pgettext("ticket field", "Lasting"), format_duration(at - since, language)))
    contact = _text(payload.get("contact_list"))
    level = _number(payload.get("level"))
    if contact and event in URGENT_EVENTS:
        shown = (
            pgettext("ticket", "{contact} (level {n})").format(contact=contact, n=int(level) + 1) if level else contact
        )
        fields.append((pgettext("ticket field", "Told"), shown))
    acknowledged_by = _text(payload.get("acknowledged_by"))
    acknowledged_at = _number(payload.get("acknowledged_at"))
    if acknowledged_by and event in ("acknowledged", "closed"):
        fields.append((pgettext("ticket field", "Acknowledged by"), acknowledged_by))
        if acknowledged_at is not None and event == "acknowledged":
            fields.append((pgettext("ticket field", "Acknowledged at"), format_time(acknowledged_at, zone, language)))
    note = _text(payload.get("note"))
    if note and event in ("acknowledged", "closed"):
        fields.append((pgettext("ticket field", "Note"), note))
    repair = _number(payload.get("repair_s"))
    if event == "closed":
        if repair is not None:
            fields.append((pgettext("ticket field", "Time to repair"), format_duration(repair, language)))
        if at is not None:
            fields.append((pgettext("ticket field", "Repaired at"), format_time(at, zone, language)))
    link = _text(payload.get("link"))
    return TicketText(
        language=language,
        event=event,
        title=title,
        action=gettext(ACTIONS[known_event]),
        fields=tuple(fields),
        link=link if link and re.match(r"https?://", link) else None,
        link_label=gettext("Open the ticket"),
        tone=_tone(event),
    )


# -- layouts ---------------------------------------------------------------------------------------------


def markdown(text: TicketText, flavor: Flavor) -> str:
    """The body in a bot's markdown: WeCom's (coloured title), DingTalk's (a heading), Feishu's lark_md
    (the card's header shows the title and a button the link, so neither is repeated)."""
    with using(text.language):
        colon = gettext(_COLON)
    rows = [f"**{name}**{colon}{value}" for name, value in text.fields]
    if flavor == "wecom":
        lines = [f'<font color="{WECOM_COLOUR[text.tone]}">**{text.title}**</font>', f"> {text.action}", *rows]
        if text.link:
            lines.append(f"[{text.link_label}]({text.link})")
        return "\n".join(lines)
    if flavor == "dingtalk":
        # DingTalk's markdown wants blank lines between blocks and list items for rows.
        parts = [f"#### {text.title}", text.action, "\n".join(f"- {row}" for row in rows)]
        if text.link:
            parts.append(f"[{text.link_label}]({text.link})")
        return "\n\n".join(parts)
    return "\n".join([text.action, *rows])


def plain(text: TicketText) -> str:
    with using(text.language):
        colon = gettext(_COLON)
    lines = [text.title, "", text.action, ""]
    lines += [f"{name}{colon}{value}" for name, value in text.fields]
    if text.link:
        lines += ["", f"{text.link_label}{colon}{text.link}"]
    return "\n".join(lines) + "\n"


def html(text: TicketText, picture_cid: str | None = None) -> str:
    """Simple HTML for mail clients: inline styles only, every value escaped."""
    esc = html_lib.escape
    rows = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0;white-space:nowrap">{esc(name)}</th>'
        f'<td style="padding:2px 0">{esc(value)}</td></tr>'
        for name, value in text.fields
    )
    parts = [
        '<html><body style="font-family:sans-serif">',
        f'<h2 style="color:{HTML_COLOUR[text.tone]}">{esc(text.title)}</h2>',
        f"<p>{esc(text.action)}</p>",
        f"<table>{rows}</table>",
    ]
    if text.link:
        parts.append(f'<p><a href="{esc(text.link, quote=True)}">{esc(text.link_label)}</a></p>')
    if picture_cid:
        parts.append(f'<p><img src="cid:{esc(picture_cid, quote=True)}" alt="" style="max-width:100%"></p>')
    parts.append("</body></html>")
    return "".join(parts)
