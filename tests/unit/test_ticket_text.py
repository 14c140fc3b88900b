"""What people read about a ticket (gateway/outbox/ticket_text.py), and a ticket message's picture."""

from __future__ import annotations

import base64
import re
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from adapters.rtsp.errors import Reason
from gateway.health.policy import QUALITY_REASONS, SLOW_DELIVERY_REASON
from gateway.i18n.terms import FAULTS
from gateway.outbox.pictures import MAX_PICTURE_BYTES, PICTURE_KEY, attach_picture, picture_of
from gateway.outbox.ticket_text import (
    format_duration,
    format_time,
    html,
    markdown,
    plain,
    render,
    translate_detail,
)
from tests.support.ticketpayload import AT, SINCE, ticket_payload

EVENTS = ("opened", "escalated", "reopened", "acknowledged", "closed")
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Latin words a Chinese text may hold: the values of the payload (ids, names) and units.
ALLOWED_LATIN = {"east", "gate", "duty", "security", "chief", "https", "gateway", "school", "example", "tickets", "id"}
UNITS = {"fps", "kb"}


def every_layout(payload: dict[str, object]) -> list[str]:
    text = render(payload)
    return [
        text.title,
        markdown(text, "wecom"),
        markdown(text, "dingtalk"),
        markdown(text, "feishu"),
        plain(text),
        html(text),
    ]


def latin_words(text: str) -> set[str]:
    text = re.sub(r"<[^>]+>", " ", text)  # markup (html tags, WeCom's font colour)
    return {w.lower() for w in re.findall(r"[A-Za-z]{2,}", text)}


@pytest.mark.parametrize("event", EVENTS)
def test_chinese_text_has_no_english_words(event: str) -> None:
    payload = ticket_payload(
        event=event,
        level=1 if event == "escalated" else 0,
        contact_list="security-chief" if event == "escalated" else "duty",
        acknowledged_by="李明" if event in ("acknowledged", "closed") else None,
        acknowledged_at=AT - 600 if event in ("acknowledged", "closed") else None,
        note="已派人更换网线" if event in ("acknowledged", "closed") else None,
        repair_s=AT - SINCE if event == "closed" else None,
        fault="picture",
        detail="picture frozen; 704x576 is below HD (1920x1080); frame rate below the minimum 5 fps",
    )
    for layout in every_layout(payload):
        plain_text = layout.replace("**", "")
        leftover = latin_words(plain_text) - ALLOWED_LATIN - UNITS
        # WeCom's colour names and markdown/html words are markup, not words people read.
        leftover -= {"font", "color", "warning", "info", "comment", "html", "body", "style", "href"}
        assert not leftover, (event, leftover, layout)


def test_chinese_titles_and_fields() -> None:
    opened = render(ticket_payload())
    assert opened.title == "【隐患】东门 1 号摄像机 离线"
    assert opened.urgent and opened.tone == "danger"
    fields = dict(opened.fields)
    assert fields == {
        "场所": "第一中学",
        "摄像机": "东门 1 号摄像机（east-gate-1）",
        "区域": "东门（出入口）",
        "隐患": "离线（连接被拒绝）",
        "发生时间": "2026年12月7日 08:30",
        "已持续": "1小时5分",
        "通知对象": "duty",
    }
    closed = render(
        ticket_payload(event="closed", repair_s=3900.0, acknowledged_by="李明", note="已更换网线", fault="below_hd")
    )
    assert closed.title == "【已整改】东门 1 号摄像机 非高清"
    assert not closed.urgent and closed.tone == "done"
    assert dict(closed.fields)["整改用时"] == "1小时5分"
    assert dict(closed.fields)["整改完成时间"] == "2026年12月7日 09:35"
    assert dict(closed.fields)["确认人"] == "李明"
    escalated = render(ticket_payload(event="escalated", level=1, contact_list="security-chief", fault="video_lost"))
    assert escalated.title == "【升级】东门 1 号摄像机 视频丢失"
    assert dict(escalated.fields)["通知对象"] == "security-chief（第2级）"
    kinds = {k: render(ticket_payload(zone_kind=k)).fields[2][1] for k in ("crowded_area", "key_area", "perimeter")}
    assert kinds == {"crowded_area": "东门（人员密集区）", "key_area": "东门（重要部位）", "perimeter": "东门（周界）"}
    faults = {f: render(ticket_payload(fault=f, detail=f)).title.split()[-1] for f in FAULTS}
    assert faults == {
        "offline": "离线",
        "video_lost": "视频丢失",
        "picture": "画面异常",
        "below_hd": "非高清",
        "degraded": "降级",
    }
    assert render(ticket_payload(event="reopened")).title.startswith("【隐患复发】")
    assert render(ticket_payload(event="acknowledged")).title.startswith("【已确认】")


def test_english_text() -> None:
    text = render(ticket_payload(language="en", camera_name="East gate 1", zone_name="East gate"))
    assert text.title == "[Hidden danger] East gate 1: offline"
    fields = dict(text.fields)
    assert fields["Zone"] == "East gate (entrance)"
    assert fields["Danger"] == "offline (refused)"
    assert fields["Since"] == "7 Dec 2026 08:30"
    assert fields["Lasting"] == "1 h 5 min"
    closed = render(ticket_payload(language="en", event="closed", repair_s=2 * 86400 + 3 * 3600 + 59))
    assert closed.title.startswith("[Repaired] ")
    assert dict(closed.fields)["Time to repair"] == "2 d 3 h"
    assert not re.search(r"[\u4e00-\u9fff]", "".join(closed.action + closed.link_label))


def test_every_reason_the_gateway_words_is_translated() -> None:
    for phrase in [r.value for r in Reason] + list(QUALITY_REASONS.values()) + [SLOW_DELIVERY_REASON]:
        translated = translate_detail(phrase, "zh-CN")
        assert translated != phrase and re.search(r"[\u4e00-\u9fff]", translated), phrase
    assert translate_detail("frame rate below half the expected 25 fps", "zh-CN") == "帧率低于预期 25 fps 的一半"
    assert translate_detail("bitrate below the minimum 512 kb/s", "zh-CN") == "码率低于最低 512 kb/s"
    assert translate_detail("keyframe interval over the maximum 4 s", "zh-CN") == "关键帧间隔超过最大 4 秒"
    # A phrase the table does not know is shown as the gateway wrote it.
    assert translate_detail("picture frozen; something new", "zh-CN") == "画面冻结；something new"
    assert translate_detail("refused", "en") == "refused"


def test_times_and_durations() -> None:
    assert format_time(SINCE, SHANGHAI, "zh-CN") == "2026年12月7日 08:30"
    assert format_time(SINCE, ZoneInfo("Europe/Berlin"), "en") == "7 Dec 2026 01:30"
    assert [format_duration(s, "zh-CN") for s in (0, 45, 60, 3600, 3900, 86400 + 7200, 86400 + 59)] == [
        "0秒",
        "45秒",
        "1分",
        "1小时",
        "1小时5分",
        "1天2小时",
        "1天",
    ]
    assert [format_duration(s, "en") for s in (45, 300, 3900)] == ["45 s", "5 min", "1 h 5 min"]


def test_layouts() -> None:
    text = render(ticket_payload())
    wecom = markdown(text, "wecom")
    assert wecom.startswith('<font color="warning">**【隐患】东门 1 号摄像机 离线**</font>')
    assert "[查看隐患工单](https://gateway.school.example/tickets?id=7)" in wecom
    ding = markdown(text, "dingtalk")
    assert ding.startswith("#### 【隐患】") and "\n- **区域**：东门（出入口）" in ding
    feishu = markdown(text, "feishu")
    assert "【隐患】" not in feishu and "https://" not in feishu  # the card's header and button show them
    assert plain(text).splitlines()[0] == "【隐患】东门 1 号摄像机 离线"


def test_values_are_escaped_and_kept_to_one_line() -> None:
    text = render(ticket_payload(event="acknowledged", acknowledged_by="<b>x</b>", note='a\nb "c" <script>'))
    page = html(text, "pic@site")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert '<img src="cid:pic@site"' in page
    assert dict(text.fields)["备注"] == 'a b "c" <script>'


def test_malformed_payloads_still_render() -> None:
    text = render({"event": "opened", "unknown": 1, "since": "yesterday", "link": "javascript:alert(1)"})
    assert text.title == "【隐患】? ?"
    assert text.link is None  # only http(s) links
    assert render({}).title.startswith("【隐患】")
    assert render(ticket_payload(timezone="Nowhere/Else", language="fr")).language == "zh-CN"


def jpeg(width: int, height: int, quality: int = 95) -> bytes:
    rng = np.random.default_rng(7)
    picture = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(buf)


def test_a_picture_travels_bounded_in_the_payload() -> None:
    small = jpeg(64, 48)
    payload = attach_picture(ticket_payload(), small)
    assert picture_of(payload) == small
    big = jpeg(1920, 1080)  # noise compresses badly: far over 512 KiB
    assert len(big) > MAX_PICTURE_BYTES
    shrunk = picture_of(attach_picture(ticket_payload(), big))
    assert shrunk is not None and len(shrunk) <= MAX_PICTURE_BYTES
    assert PICTURE_KEY not in attach_picture(ticket_payload(), b"not a jpeg")
    assert picture_of({PICTURE_KEY: "%%%"}) is None
    assert picture_of({PICTURE_KEY: base64.b64encode(b"GIF89a").decode()}) is None
    assert picture_of({PICTURE_KEY: "A" * (MAX_PICTURE_BYTES * 2)}) is None
