"""What people read about a hidden-danger ticket (隐患), in Simplified Chinese or English: one rendering
shared by every channel (WeCom, DingTalk and Feishu bots, e-mail), so the words live in one place.

`render(payload)` reads a "ticket" message's payload (gateway/tickets/service.py makes it; unknown keys
are ignored, missing ones tolerated) into a `TicketText`: a title such as "【隐患】东门 1 号摄像机 离线",
a sentence saying what to do, and labelled fields. `markdown`, `plain` and `html` lay it out for a
channel. All the words are in `WORDS`, one dict per language (issue 24 moves them to gettext catalogs).

The gateway words a camera's fault in English (gateway/health/policy.py, adapters/rtsp/errors.py);
`WORDS[...]["reasons"]` and `["patterns"]` translate the phrases it uses, and a phrase not known here
is shown as the gateway wrote it.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Language = Literal["zh-CN", "en"]
Flavor = Literal["wecom", "dingtalk", "feishu"]
Tone = Literal["danger", "warning", "done", "info"]

DEFAULT_LANGUAGE: Final[Language] = "zh-CN"
DEFAULT_TIMEZONE: Final = "Asia/Shanghai"
URGENT_EVENTS: Final = frozenset({"opened", "escalated", "reopened"})

WORDS: Final[dict[Language, dict[str, Any]]] = {
    "zh-CN": {
        "prefix": {
            "opened": "【隐患】",
            "escalated": "【升级】",
            "reopened": "【隐患复发】",
            "acknowledged": "【已确认】",
            "closed": "【已整改】",
            "other": "【隐患】",
        },
        "title": "{prefix}{camera} {fault}",
        "action": {
            "opened": "发现安全隐患，请尽快核实并整改。",
            "escalated": "隐患未在时限内确认，已升级通知。",
            "reopened": "隐患再次出现，请重新确认并整改。",
            "acknowledged": "隐患已确认，正在整改。",
            "closed": "摄像机已恢复正常，隐患已整改。",
            "other": "隐患状态有变化。",
        },
        "fault": {
            "offline": "离线",
            "video_lost": "视频丢失",
            "picture": "画面异常",
            "below_hd": "非高清",
            "degraded": "降级",
        },
        "zone_kind": {
            "entrance": "出入口",
            "crowded_area": "人员密集区",
            "key_area": "重要部位",
            "perimeter": "周界",
            "other": "其他区域",
        },
        "label": {
            "site": "场所",
            "camera": "摄像机",
            "zone": "区域",
            "fault": "隐患",
            "since": "发生时间",
            "lasted": "已持续",
            "contact": "通知对象",
            "acknowledged_by": "确认人",
            "acknowledged_at": "确认时间",
            "note": "备注",
            "repair": "整改用时",
            "closed_at": "整改完成时间",
            "link": "查看隐患工单",
        },
        "level": "{contact}（第{n}级）",
        "with_detail": "{fault}（{detail}）",
        "zone": "{name}（{kind}）",
        "camera": "{name}（{id}）",
        "date": "{y}年{m}月{d}日 {H:02d}:{M:02d}",
        "duration": {"d": "{n}天", "h": "{n}小时", "m": "{n}分", "s": "{n}秒", "join": ""},
        "colon": "：",
        "reason_join": "；",
        "reasons": {
            # adapters/rtsp/errors.py Reason values, and what the supervisor says besides
            "unreachable": "网络不可达",
            "refused": "连接被拒绝",
            "auth failed": "认证失败",
            "not found": "视频地址不存在",
            "no video track": "没有视频轨道",
            "unsupported codec": "编码格式不受支持",
            "stalled": "视频中断",
            "stream ended": "视频流已结束",
            "protocol error": "协议错误",
            "timeout": "连接超时",
            "unsupported source": "视频源不受支持",
            "internal error": "网关内部错误",
            "offline": "离线",
            "degraded": "降级",
            "connecting": "连接中",
            # gateway/health/policy.py QUALITY_REASONS and SLOW_DELIVERY_REASON
            "picture blank (black or no signal)": "画面空白（黑屏或无信号）",
            "picture too dark": "画面过暗",
            "picture overexposed": "画面过曝",
            "picture low in contrast (fog, misted or dirty cover)": "画面对比度低（雾气、起雾或护罩脏污）",
            "picture blurred or out of focus": "画面模糊或失焦",
            "lens covered": "镜头被遮挡",
            "strong colour cast": "画面严重偏色",
            "picture very noisy": "画面噪点严重",
            "stripes or rolling interference in the picture": "画面有条纹或滚动干扰",
            "picture frozen": "画面冻结",
            "camera shaking": "摄像机抖动",
            "camera moved (view differs from its reference picture)": "摄像机被移动（画面与基准画面不同）",
            "video arrives slower than real time (under 50%): link too slow for the stream": (
                "视频到达慢于实时（不足50%）：链路带宽不足"
            ),
        },
        "patterns": [
            (r"frame rate below the night minimum ([\d.]+) fps", "帧率低于夜间最低 {0} fps"),
            (r"frame rate below half the expected ([\d.]+) fps", "帧率低于预期 {0} fps 的一半"),
            (r"frame rate below the minimum ([\d.]+) fps", "帧率低于最低 {0} fps"),
            (r"keyframe interval over the maximum ([\d.]+) s", "关键帧间隔超过最大 {0} 秒"),
            (r"bitrate below the minimum ([\d.]+) kb/s", "码率低于最低 {0} kb/s"),
            (r"(\d+x\d+) is below HD \((\d+x\d+)\)", "分辨率 {0} 低于高清标准 {1}"),
            (r"picture check (\w+) failed", "画面检测未通过（{0}）"),
            (r"credentials unavailable: .*", "摄像机凭据不可用"),
        ],
    },
    "en": {
        "prefix": {
            "opened": "[Hidden danger]",
            "escalated": "[Escalated]",
            "reopened": "[Danger back]",
            "acknowledged": "[Acknowledged]",
            "closed": "[Repaired]",
            "other": "[Hidden danger]",
        },
        "title": "{prefix} {camera}: {fault}",
        "action": {
            "opened": "A security hidden danger: check it and have it repaired promptly.",
            "escalated": "Not acknowledged in time: escalated to the next contact list.",
            "reopened": "The danger is back: acknowledge it again and have it repaired.",
            "acknowledged": "Acknowledged: being repaired.",
            "closed": "The camera is healthy again: the danger is repaired.",
            "other": "The ticket changed.",
        },
        "fault": {
            "offline": "offline",
            "video_lost": "video lost",
            "picture": "picture fault",
            "below_hd": "below HD",
            "degraded": "degraded",
        },
        "zone_kind": {
            "entrance": "entrance",
            "crowded_area": "crowded area",
            "key_area": "key area",
            "perimeter": "perimeter",
            "other": "other area",
        },
        "label": {
            "site": "Site",
            "camera": "Camera",
            "zone": "Zone",
            "fault": "Danger",
            "since": "Since",
            "lasted": "Lasting",
            "contact": "Told",
            "acknowledged_by": "Acknowledged by",
            "acknowledged_at": "Acknowledged at",
            "note": "Note",
            "repair": "Time to repair",
            "closed_at": "Repaired at",
            "link": "Open the ticket",
        },
        "level": "{contact} (level {n})",
        "with_detail": "{fault} ({detail})",
        "zone": "{name} ({kind})",
        "camera": "{name} ({id})",
        "date": "{d} {mon} {y} {H:02d}:{M:02d}",
        "months": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
        "duration": {"d": "{n} d", "h": "{n} h", "m": "{n} min", "s": "{n} s", "join": " "},
        "colon": ": ",
        "reason_join": "; ",
        "reasons": {},
        "patterns": [],
    },
}

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
    words = WORDS[language]
    t = datetime.fromtimestamp(at, zone)
    months: list[str] = words.get("months", [])
    mon = months[t.month - 1] if months else ""
    return str(words["date"]).format(y=t.year, m=t.month, d=t.day, mon=mon, H=t.hour, M=t.minute)


def format_duration(seconds: float, language: Language) -> str:
    """1小时5分, 2天3小时, 45秒; or 1 h 5 min, 2 d 3 h, 45 s: the two largest units, rounded down."""
    unit: dict[str, str] = WORDS[language]["duration"]
    total = max(0, int(seconds))
    if total < 60:
        return unit["s"].format(n=total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [("d", days), ("h", hours)] if days else [("h", hours), ("m", minutes)] if hours else [("m", minutes)]
    return unit["join"].join(unit[u].format(n=n) for u, n in parts if n or u == parts[0][0])


def translate_detail(detail: str, language: Language) -> str:
    """The gateway's wording of a fault in the reader's language, phrase by phrase ("; " separated);
    a phrase not known is kept as written."""
    words = WORDS[language]
    reasons: dict[str, str] = words["reasons"]
    patterns: list[tuple[str, str]] = words["patterns"]
    if not reasons and not patterns:
        return detail
    out: list[str] = []
    for phrase in (p.strip() for p in detail.split(";")):
        if not phrase:
            continue
        translated = reasons.get(phrase) or reasons.get(phrase.lower())
        if translated is None:
            for pattern, template in patterns:
                match = re.fullmatch(pattern, phrase)
                if match:
                    translated = template.format(*match.groups())
                    break
        out.append(translated or phrase)
    return str(words["reason_join"]).join(out)


def _tone(event: str) -> Tone:
    if event == "closed":
        return "done"
    if event == "acknowledged":
        return "info"
    return "warning" if event == "escalated" else "danger"


def render(payload: dict[str, Any]) -> TicketText:
    """The ticket message's payload as people read it, in its `language` and its site's `timezone`."""
    language = language_of(payload)
    words = WORDS[language]
    label: dict[str, str] = words["label"]
    zone = _zone_info(payload.get("timezone"))
    event = str(payload.get("event") or "other")
    known_event = event if event in words["prefix"] else "other"

    fault_code = str(payload.get("fault") or "")
    fault = words["fault"].get(fault_code, fault_code or "?")
    camera_id = _text(payload.get("camera_id")) or "?"
    camera_name = _text(payload.get("camera_name")) or camera_id
    title = str(words["title"]).format(prefix=words["prefix"][known_event], camera=camera_name, fault=fault)

    fields: list[tuple[str, str]] = []
    site = _text(payload.get("site_name"))
    if site:
        fields.append((label["site"], site))
    camera = camera_name if camera_name == camera_id else str(words["camera"]).format(name=camera_name, id=camera_id)
    fields.append((label["camera"], camera))
    zone_name = _text(payload.get("zone_name")) or _text(payload.get("zone_id"))
    zone_kind = words["zone_kind"].get(str(payload.get("zone_kind") or ""))
    if zone_name:
        fields.append(
            (label["zone"], str(words["zone"]).format(name=zone_name, kind=zone_kind) if zone_kind else zone_name)
        )
    detail = _text(payload.get("detail"))
    shown_fault = fault
    if detail and detail != fault_code:
        shown_fault = str(words["with_detail"]).format(fault=fault, detail=translate_detail(detail, language))
    fields.append((label["fault"], shown_fault))
    since = _number(payload.get("since"))
    at = _number(payload.get("at"))
    if since is not None:
        fields.append((label["since"], format_time(since, zone, language)))
    if event in URGENT_EVENTS and since is not None and at is not None:
        fields.append((label["lasted"], format_duration(at - since, language)))
    contact = _text(payload.get("contact_list"))
    level = _number(payload.get("level"))
    if contact and event in URGENT_EVENTS:
        shown = str(words["level"]).format(contact=contact, n=int(level) + 1) if level else contact
        fields.append((label["contact"], shown))
    acknowledged_by = _text(payload.get("acknowledged_by"))
    acknowledged_at = _number(payload.get("acknowledged_at"))
    if acknowledged_by and event in ("acknowledged", "closed"):
        fields.append((label["acknowledged_by"], acknowledged_by))
        if acknowledged_at is not None and event == "acknowledged":
            fields.append((label["acknowledged_at"], format_time(acknowledged_at, zone, language)))
    note = _text(payload.get("note"))
    if note and event in ("acknowledged", "closed"):
        fields.append((label["note"], note))
    repair = _number(payload.get("repair_s"))
    if event == "closed":
        if repair is not None:
            fields.append((label["repair"], format_duration(repair, language)))
        if at is not None:
            fields.append((label["closed_at"], format_time(at, zone, language)))
    link = _text(payload.get("link"))
    return TicketText(
        language=language,
        event=event,
        title=title,
        action=words["action"][known_event],
        fields=tuple(fields),
        link=link if link and re.match(r"https?://", link) else None,
        link_label=label["link"],
        tone=_tone(event),
    )


# -- layouts ---------------------------------------------------------------------------------------------


def markdown(text: TicketText, flavor: Flavor) -> str:
    """The body in a bot's markdown: WeCom's (coloured title), DingTalk's (a heading), Feishu's lark_md
    (the card's header shows the title and a button the link, so neither is repeated)."""
    colon = WORDS[text.language]["colon"]
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
    colon = WORDS[text.language]["colon"]
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
