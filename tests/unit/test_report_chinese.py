"""The report an inspector reads in Chinese (the default language): the HTML, the PDF read back and the CSV
say everything in the trade's words, with Chinese dates, and leave no English behind but names, ids, units
and standards; the first page states the verdict in a sentence and the policy as rules, with the policy's
keys in the appendix only. The English report still reads as before."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace

import pypdf
import pytest

from gateway import i18n
from gateway.errors import InvalidRequestError
from gateway.reports import findings as finding_of
from gateway.reports.model import Finding, Report
from gateway.reports.render import CSV_COLUMNS, render, report_language
from gateway.reports.render_pdf import PdfFonts, render_pdf
from gateway.reports.render_text import period_name
from tests.support.i18n_words import foreign_words, readable_text
from tests.support.reportdata import big_report, forwarded_report, sample_report

# The words of the glossary (docs/glossary.md) the sample report's content calls for.
TERMS = ("出入口", "重要部位", "在线率", "完好率", "高清", "视频质量诊断", "画面冻结", "录像保存天数", "不合格", "合格")
POLICY_KEYS = ("policy.min_fps", "policy.coverage_target_percent", "frozen_s", "blur_laplacian_var")


def names(report: Report) -> list[str]:
    """What the report shows as the configuration wrote it: names and ids of the site, zones and cameras."""
    out = [report.site_name, report.site_id, report.unit_name, report.timezone, report.gateway_version]
    out += [z.name for z in report.zones] + [z.id for z in report.zones]
    out += [c.name for c in report.cameras] + [c.id for c in report.cameras]
    out += [c.measured_codec or "" for c in report.cameras]
    return out


def pdf_pages(body: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(body)).pages]


def test_the_default_language_is_chinese_and_english_is_asked_for() -> None:
    report = sample_report()
    assert i18n.current() == "zh-CN"
    assert "视频监控覆盖率与合规报告" in render(report, "html").body.decode()
    english = render(report, "html", "en").body.decode()
    assert "Video coverage and compliance report" in english and "视频监控覆盖率与合规报告" not in english
    with i18n.using("en"):
        assert "Video coverage" in render(report, "html").body.decode()
    # The language is the renderer's affair only: the caller's stays as it was.
    assert i18n.current() == "zh-CN"


def test_pdf_is_chinese_with_the_trade_words_and_no_english() -> None:
    report = sample_report()
    pages = pdf_pages(render(report, "pdf", "zh-CN").body)
    text = "\n".join(pages)
    for word in TERMS:
        assert word in text, word
    assert "2026年11月20日 00:00" in text and "第 1 页，共" in text
    body, appendix = text.split("附录：技术参数")
    assert foreign_words([body], names(report)) == []
    # The appendix holds the policy's keys; the pages before it speak in rules.
    for key in POLICY_KEYS:
        assert key in appendix and key not in body, key


def test_pdf_first_page_states_the_verdict_and_its_reasons_in_sentences() -> None:
    report = sample_report()
    first = pdf_pages(render(report, "pdf", "zh-CN").body)[0]
    flat = re.sub(r"\s+", "", first)
    assert "结论为不合格" in flat
    # The zone's kind and name in the sentence that fails it (the east gate is an entrance).
    assert "本报告期内，出入口「东门」的视频覆盖率为94.54%，低于要求的99%" in flat
    assert "摄像机「东门入口01」（cam-east）的在线率为94.54%" in flat
    assert "视频质量诊断：画面冻结" in flat
    # The policy as the rules it checks.
    assert "摄像机应为高清（不低于1920×1080）" in flat and "摄像机在线率不低于99%" in flat
    assert "各区域（出入口、重要部位）的视频覆盖率不低于99%" in flat
    assert "摄像机完好率" in flat and "25.00%" in flat  # one of the four cameras in good order
    assert "policy." not in first


def test_html_is_chinese_with_the_trade_words_and_no_english() -> None:
    report = sample_report()
    html = render(report, "html", "zh-CN").body.decode()
    assert '<html lang="zh-CN">' in html
    texts = readable_text(html)
    assert foreign_words(texts, names(report)) == []
    joined = "".join(texts)
    for word in TERMS:
        assert word in joined, word
    assert "结论为不合格" in joined and "2026年11月20日 03:10:00" in joined
    appendix = html.split('id="appendix"')[1]
    for key in POLICY_KEYS:
        assert key in appendix and key not in html.split('id="appendix"')[0], key


def test_a_passing_report_says_so_in_a_sentence() -> None:
    report = sample_report(passed=True, findings=())
    html = render(report, "html", "zh-CN").body.decode()
    assert "各项规则均已满足，结论为合格。" in html and "无不合格项或警告。" in html


def test_csv_header_and_words_are_chinese_and_the_english_csv_keeps_the_ids() -> None:
    report = sample_report()
    body = render(report, "csv", "zh-CN").body.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    header = rows[0]
    assert len(header) == len(CSV_COLUMNS)
    assert header[:5] == ["记录类型", "编号", "名称", "类型", "结论"] and "在线率（%）" in header
    by_column = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert by_column[0]["record"] == "报告" and by_column[0]["verdict"] == "不合格"
    zones = {row["id"]: row for row in by_column if row["record"] == "区域"}
    assert zones["warehouse"]["kind"] == "重要部位" and "视频覆盖率为 93.80 %" in zones["warehouse"]["detail"]
    incident = next(row for row in by_column if row["record"] == "故障" and row["id"] == "cam-store")
    assert incident["kind"] == "视频质量诊断：画面冻结" and incident["ongoing"] == "否"
    assert incident["start"] == "2026-11-20T14:02:00+08:00"  # times stay ISO 8601 for a spreadsheet
    english = render(report, "csv", "en").body.decode("utf-8-sig")
    assert english.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert "FAIL" in english and "不合格" not in english


def test_json_has_no_language() -> None:
    report = sample_report()
    assert render(report, "json", "zh-CN").body == render(report, "json", "en").body
    findings = json.loads(render(report, "json").body)["findings"]
    assert set(findings[0]) == {"severity", "subject", "message"}
    assert findings[0]["message"].startswith("covered 94.54 % of the monitored time")


def test_the_english_report_states_its_verdict_in_a_sentence_too() -> None:
    report = sample_report()
    first = pdf_pages(render(report, "pdf", "en").body)[0]
    flat = re.sub(r"\s+", " ", first)
    assert "It fails 6 check(s): the verdict is FAIL." in flat
    assert "entrance “东门” was covered 94.54 % of the monitored time, below the required 99 %" in flat
    assert "Every camera is HD (at least 1920×1080)" in flat


def test_every_finding_reads_as_a_chinese_sentence() -> None:
    report = sample_report()
    names_of = finding_of.Names.of(report)
    made = [
        finding_of.zone_no_camera("east-gate"),
        finding_of.zone_not_monitored("warehouse"),
        finding_of.camera_disabled("cam-east"),
        finding_of.camera_not_monitored("cam-east"),
        finding_of.camera_fault("cam-east", "low_fps", 60, hd="1920x1080", min_fps=15),
        finding_of.camera_fault("cam-east", "slow_delivery", 60, hd="1920x1080", min_fps=15),
        finding_of.camera_fault("cam-east", "long_keyframe_interval", 60, hd="", min_fps=15, keyframe_s=4),
        finding_of.camera_fault("cam-east", "low_bitrate", 60, hd="", min_fps=15, bitrate_kbps=64),
        finding_of.camera_retention("cam-east", 12.5, 90),
        finding_of.gateway_unwatched(80.0, 95.0),
        finding_of.staffing_short(820, 5, 17, 2, 5),
        finding_of.staffing_undeclared(),
        finding_of.uplink_never_registered("city", 3),
        finding_of.policy_changed(2),
        finding_of.recordings_unverifiable("cam-east"),
        finding_of.recordings_not_audited("cam-east"),
        finding_of.recordings_days_below("cam-east", 99.0, 2, 90.5, "2026-11-20"),
        finding_of.recordings_gaps("cam-east", 3, 300, 1800),
        finding_of.recordings_device_error("cam-east", "timeout"),
        finding_of.ticket_overdue("cam-east", 7, "offline", report.start + 3600, 1800, names_of.tz),
    ]
    with i18n.using("zh-CN"):
        said = [finding_of.sentence(f, names_of) for f in made]
    for finding, text in zip(made, said, strict=True):
        assert text.endswith("。"), text
        assert foreign_words([text], [*names(report), "city", "timeout"]) == [], (
            finding.code,
            text,
        )
    assert "本单位申报安保人员 5 人，按职工 820 人应配备 17 人。本单位申报专职安保人员 2 人" in said[10]
    assert "最低为 2026年11月20日的 90.50 %" in said[16]
    assert "始于 2026年11月20日 01:00" in said[19]
    # A finding made without a code (an older build's) is shown as it was written.
    plain = Finding("warn", "camera x", "something new")
    assert finding_of.sentence(plain, names_of) == "camera x: something new"


@pytest.mark.parametrize(
    ("label", "chinese", "english"),
    [
        ("day 2026-11-20", "日报（2026年11月20日）", "daily report (2026-11-20)"),
        ("week 2026-W47", "周报（2026年第47周）", "weekly report (2026-W47)"),
        ("month 2026-11 (to date)", "月报（2026年11月），截至目前", "monthly report (2026-11), to date"),
        ("custom", "自定义时段", "custom period"),
    ],
)
def test_period_names(label: str, chinese: str, english: str) -> None:
    with i18n.using("zh-CN"):
        assert period_name(label) == chinese
    with i18n.using("en"):
        assert period_name(label) == english


def test_a_request_may_name_the_report_language() -> None:
    assert report_language("en") == "en" and report_language("zh") == "zh-CN"
    with i18n.using("en"):
        assert report_language(None) == "en"
    with pytest.raises(InvalidRequestError, match="zh-CN"):
        report_language("fr")


def test_without_a_chinese_font_the_pdf_is_english_and_says_why() -> None:
    fonts = PdfFonts(regular="/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", bold=None, fallback=None)
    with i18n.using("zh-CN"):
        text = "\n".join(pdf_pages(render_pdf(sample_report(), fonts=fonts)))
    assert "Video coverage and compliance report" in text and "No font with Chinese characters" in text
    assert "??????" not in text  # not a report of question marks


def test_forwarding_and_tickets_words() -> None:
    report = forwarded_report()
    html = render(report, "html", "zh-CN").body.decode()
    assert "4 台启用的摄像机中 2 台已联网" in html and "未联网" in html
    assert "未包含：生成本报告时未读取隐患工单。" in html
    texts = readable_text(html)
    uplinks = [u.id for u in report.forwarding.uplinks] if report.forwarding else []
    assert foreign_words(texts, [*names(report), *uplinks, "GB", "MB", "kB"]) == []


def test_big_chinese_report_renders() -> None:
    # How fast is benchmarks/bench_report.py's and bench_i18n.py's to measure, not a test's.
    report = big_report(cameras=1000)
    assert render(report, "csv", "zh-CN").body.decode("utf-8-sig").count("\n") > 1000
    assert render(report, "html", "zh-CN").body.decode().count('<tr data-camera="') == 1000
    report = replace(report, cameras=report.cameras[:150])
    assert render(report, "pdf", "zh-CN").body.startswith(b"%PDF")
