"""Choosing the language, reading the catalogs, and Chinese dates, numbers and durations."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from gateway import i18n
from gateway.i18n import formats, terms

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2026-12-07 14:05:09 in Shanghai
TS = 1796623509.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("en;q=0.5, zh", "zh-CN"),
        ("zh-Hans", "zh-CN"),
        ("zh-TW", None),
        ("fr-FR, de;q=0.9", None),
        ("zh;q=0, en;q=0.1", "en"),
        ("*", None),
        ("", None),
        (None, None),
        ("zh;q=abc", None),
    ],
)
def test_accept_language_picks_the_best_supported_language(header: str | None, expected: str | None) -> None:
    assert i18n.negotiate(header) == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh-CN"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, None),
        ({"LC_ALL": "POSIX", "LANG": "zh_CN.UTF-8"}, None),
        ({"LANGUAGE": "fr:en", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"LANGUAGE": "fr", "LANG": "zh_CN.UTF-8"}, "zh-CN"),
        ({"LC_MESSAGES": "zh_CN", "LANG": "en_US"}, "zh-CN"),
        ({}, None),
    ],
)
def test_the_locale_environment_is_read_as_gettext_reads_it(environ: dict[str, str], expected: str | None) -> None:
    assert i18n.from_environment(environ) == expected


def test_messages_follow_the_current_language() -> None:
    with i18n.using("zh-CN"):
        assert i18n.gettext("key area") == "重要部位"
        with i18n.using("en"):
            assert i18n.gettext("key area") == "key area"
        assert terms.term(terms.ZONE_KINDS, "crowded_area") == "人员密集区"
        assert terms.term(terms.ZONE_KINDS, "no_such_kind") == "no_such_kind"
    with i18n.using("en"):
        assert terms.term(terms.CHECKS, "frozen") == "frozen picture"


def test_a_reason_is_shown_part_by_part_with_its_figures() -> None:
    reason = "frame rate below the minimum 5 fps; 704x576 is below HD (1280x720); stalled: no packet for 10 s"
    with i18n.using("zh-CN"):
        assert terms.reason_text(reason) == (
            "帧率低于最低 5 fps；分辨率 704x576 低于高清标准（1280x720）；视频中断：no packet for 10 s"
        )
        assert terms.reason_text("picture check frozen failed") == "视频质量诊断未通过：画面冻结"
        assert terms.reason_text("something new") == "something new"
    with i18n.using("en"):
        assert terms.reason_text(reason) == reason


def test_chinese_dates_numbers_and_durations() -> None:
    assert formats.date_text(TS, SHANGHAI, "zh-CN") == "2026年12月7日"
    assert formats.datetime_text(TS, SHANGHAI, "zh-CN") == "2026年12月7日 14:05:09"
    assert formats.datetime_text(TS, SHANGHAI, "zh-CN", seconds=False) == "2026年12月7日 14:05"
    assert formats.datetime_text(TS, SHANGHAI, "en") == "2026-12-07 14:05:09"
    assert formats.duration_text(3 * 3600 + 5 * 60 + 3, "zh-CN") == "3小时5分"
    assert formats.duration_text(2 * 86400 + 4 * 3600, "zh-CN") == "2天4小时"
    assert formats.duration_text(59, "en") == "59 s"
    assert formats.duration_text(0, "zh-CN") == "0秒"
    assert formats.percent_text(99.996) == "100 %"
    assert formats.percent_text(18.114) == "18.11 %"
    assert formats.number_text(12345.678) == "12,345.7"
