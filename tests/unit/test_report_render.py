from __future__ import annotations

import csv
import io
import json
import math
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import pypdf
import pytest

from gateway import i18n
from gateway.errors import InvalidRequestError
from gateway.reports import findings as finding_of
from gateway.reports.coverage import FORWARDING_DEFINITION
from gateway.reports.digest import DETAILED, SHOWN, digest, group_findings
from gateway.reports.model import CameraReport, Finding, Incident, IsoFormatter, Outage, Report
from gateway.reports.render import FORMATS, LIST_LIMIT, STATE_FILLS, render, size_label
from gateway.reports.render_pdf import PdfFonts, render_pdf
from tests.support.reportdata import at, big_report, forwarded_report, sample_report, with_camera

CAMERA_IDS = ("cam-gate-hd", "cam-east", "cam-store", "cam-lobby")


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """These tests check the content and layout of each format, read in English (the machine ids of the
    English CSV among them); test_report_chinese.py reads the Chinese report."""
    with i18n.using("en"):
        yield


XSS = "<script>alert(1)</script>"


def camera(report: Report, cam_id: str) -> CameraReport:
    return next(cam for cam in report.cameras if cam.id == cam_id)


# -------------------------------------------------------------------------------------------- dispatch


def test_unknown_format_is_an_invalid_request_naming_the_allowed_ones() -> None:
    with pytest.raises(InvalidRequestError) as raised:
        render(sample_report(), "xlsx")
    assert raised.value.http_status == 422
    for fmt in FORMATS:
        assert fmt in str(raised.value)


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [("json", "application/json"), ("csv", "text/csv"), ("html", "text/html"), ("pdf", "application/pdf")],
)
def test_media_type_and_filename(fmt: str, media_type: str) -> None:
    out = render(sample_report(), fmt)
    assert out.media_type.startswith(media_type)
    # The period end is exclusive: one day is one date in the name.
    assert out.filename == f"coverage-plant-7-20261120-20261120.{fmt}"


def test_filename_keeps_only_safe_characters_of_the_site_id() -> None:
    out = render(sample_report(site_id="../东门 site"), "json")
    assert "/" not in out.filename and " " not in out.filename
    assert out.filename.endswith("-20261120-20261120.json")


# ------------------------------------------------------------------------------------------------ json


def test_json_round_trips_with_local_iso_times() -> None:
    report = sample_report()
    body = render(report, "json").body
    data = json.loads(body.decode("utf-8"))
    assert data["site_id"] == "plant-7"
    assert data["passed"] is False
    assert data["start_iso"] == "2026-11-20T00:00:00+08:00"
    assert [cam["id"] for cam in data["cameras"]] == list(CAMERA_IDS)
    east = data["cameras"][1]
    assert east["outages"][0]["start_iso"] == "2026-11-20T03:10:00+08:00"
    assert east["outages"][0]["duration_s"] == 4500
    assert "东门" in body.decode("utf-8")  # ensure_ascii=False: names stay readable
    assert data["staffing"]["passed"] is True


def test_json_never_writes_nan() -> None:
    report = with_camera(sample_report(), "cam-east", uptime_percent=float("nan"), clock_offset_s=float("inf"))
    body = render(report, "json").body.decode("utf-8")
    assert "NaN" not in body and "Infinity" not in body
    east = json.loads(body)["cameras"][1]
    assert east["uptime_percent"] is None and east["clock_offset_s"] is None


def test_json_times_are_the_standard_librarys_in_a_zone_with_summer_time() -> None:
    # The JSON formats its times in batches (numpy): each must read as the standard library gives it,
    # across both DST changes of a year, and with milliseconds that lie on a half (0.0005).
    rng = random.Random(3)
    starts = [1_767_225_600 + rng.uniform(0, 365 * 86400) for _ in range(1500)]
    starts += [float(round(s)) + rng.choice((0.0005, 0.0015, 0.9995, 0.25)) for s in starts[:500]]
    outages = tuple(Outage(s, s + rng.uniform(0, 7200), ("the stream ended",), False) for s in starts)
    report = replace(with_camera(sample_report(), "cam-east", outages=outages), timezone="Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    found = json.loads(render(report, "json").body)["cameras"][1]["outages"]
    assert len(found) == len(outages)
    for data, outage in zip(found, outages, strict=True):
        assert data["start_iso"] == datetime.fromtimestamp(math.floor(outage.start), berlin).isoformat()
        assert data["end_iso"] == datetime.fromtimestamp(math.floor(outage.end), berlin).isoformat()
        assert (data["start"], data["end"]) == (round(outage.start, 3), round(outage.end, 3))
        assert data["duration_s"] == round(outage.end - outage.start, 3)
    assert {data["start_iso"][-6:] for data in found} == {"+01:00", "+02:00"}


def dict_json(report: Report) -> bytes:
    """The JSON as it was written before the outages and incidents were written as text: to_dict's."""
    return orjson.dumps(report.to_dict())


def test_json_is_to_dicts_byte_for_byte() -> None:
    # The outages and incidents are written as text by the column (render_json.py); every byte must be
    # what orjson writes of to_dict's data: key order, floats, escapes, ongoing, empty lists, the
    # offsets of a zone with summer time and one with a half-hour offset.
    rng = random.Random(11)
    reasons = ("the stream ended", 'say "why"\\', "断流\n", "connection refused")
    faults = (("below_hd", "704x576 is below HD (1920x1080)"), ("quality:frozen", "画面冻结 \t"), ("low_fps", ""))
    report = sample_report()
    cameras = []
    for index, cam in enumerate(report.cameras):
        count = 0 if index == 2 else rng.randrange(1, 300)
        starts = sorted(1_767_225_600 + rng.uniform(0, 365 * 86400) for _ in range(count))
        starts += [float(round(s)) + rng.choice((0.0005, 0.0015, 0.9995, 0.25, 0.0)) for s in starts[:50]]
        outages = tuple(
            Outage(s, s + rng.choice((0.0, 60.0, rng.uniform(0, 7200))), tuple(rng.sample(reasons, 2)), k == 0)
            for k, s in enumerate(starts)
        )
        incidents = tuple(
            Incident(fault, s, s + rng.uniform(0, 900), detail, ongoing=k % 7 == 3)
            for k, s in enumerate(starts[::3])
            for fault, detail in [rng.choice(faults)]
        )
        cameras.append(replace(cam, outages=outages, incidents=incidents if index != 1 else ()))
    report = replace(report, cameras=tuple(cameras))
    for timezone in ("Asia/Shanghai", "Europe/Berlin", "Asia/Kolkata", "America/St_Johns"):
        zoned = replace(report, timezone=timezone)
        assert render(zoned, "json").body == dict_json(zoned), timezone


def test_json_of_times_in_an_offset_with_seconds_is_to_dicts() -> None:
    # Shanghai's local mean time (+08:05:43, before 1901): no minute lines up, each time is formatted
    # by itself.
    starts = [-2_500_000_000.0 + k * 3601.5 for k in range(5)]
    assert IsoFormatter(ZoneInfo("Asia/Shanghai")).parts(np.array(starts)) is None
    report = with_camera(sample_report(), "cam-east", outages=tuple(Outage(s, s + 61, ("x",), False) for s in starts))
    assert render(report, "json").body == dict_json(report)


# ------------------------------------------------------------------------------------------------- csv


def csv_rows(report: Report) -> list[dict[str, str]]:
    body = render(report, "csv").body
    assert body.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 BOM"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def test_csv_has_every_record_type_and_camera() -> None:
    rows = csv_rows(sample_report())
    records = {row["record"] for row in rows}
    assert records == {
        "report",
        "finding",
        "zone",
        "zone_gap",
        "camera",
        "outage",
        "incident",
        "gateway_down",
        "staffing",
    }
    report_row = next(row for row in rows if row["record"] == "report")
    assert report_row["verdict"] == "FAIL"
    assert report_row["start"] == "2026-11-20T00:00:00+08:00"
    assert "hd_min_resolution=1920x1080" in report_row["detail"]
    assert [row["id"] for row in rows if row["record"] == "camera"] == list(CAMERA_IDS)
    zones = {row["id"]: row for row in rows if row["record"] == "zone"}
    assert zones["east-gate"]["name"] == "东门"
    assert zones["east-gate"]["verdict"] == "FAIL"
    lobby = next(row for row in rows if row["record"] == "camera" and row["id"] == "cam-lobby")
    assert lobby["measured_resolution"] == "704x576"
    assert lobby["clock_offset_s"] == "7.8"


def test_csv_durations_are_seconds_and_hms() -> None:
    rows = csv_rows(sample_report())
    outages = [row for row in rows if row["record"] == "outage"]
    assert [(row["id"], row["duration_s"], row["duration_hms"]) for row in outages] == [
        ("cam-east", "4500", "1:15:00"),
        ("cam-east", "150", "0:02:30"),
    ]
    assert outages[0]["start"] == "2026-11-20T03:10:00+08:00"
    assert outages[0]["detail"] == "refused; unreachable"
    incident = next(row for row in rows if row["record"] == "incident" and row["kind"] == "quality:frozen")
    assert incident["duration_s"] == "5280" and incident["ongoing"] == "no"
    east = next(row for row in rows if row["record"] == "camera" and row["id"] == "cam-east")
    assert east["outages"] == "2" and east["outage_s"] == "4650"
    assert east["retention_days"] == "" and "retention not verifiable" in east["detail"]
    total = next(row for row in rows if row["record"] == "gateway_down" and row["kind"] == "total")
    assert total["duration_s"] == "1200" and total["duration_hms"] == "0:20:00"


def test_csv_neutralises_formulas_but_not_numbers() -> None:
    evil = '=HYPERLINK("http://evil.example/","click")'
    report = with_camera(sample_report(), "cam-east", name=evil, zones=("@SUM(A1)",))
    rows = csv_rows(report)
    east = next(row for row in rows if row["record"] == "camera" and row["id"] == "cam-east")
    assert east["name"] == "'" + evil
    assert east["zones"] == "'@SUM(A1)"
    assert all(row["name"] == "'" + evil for row in rows if row["record"] == "outage")
    assert east["clock_offset_s"] == "-2.5"  # a negative number we wrote stays a number
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@")), value


# ------------------------------------------------------------------------------------------------ html


class Collector(HTMLParser):
    """Elements (tag, attributes) in document order, and the text inside ``#verdict``."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.verdict_text = ""
        self._in_verdict = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        self.elements.append((tag, attributes))
        if attributes.get("id") == "verdict":
            self._in_verdict = 1
        elif self._in_verdict:
            self._in_verdict += 1

    def handle_endtag(self, tag: str) -> None:
        if self._in_verdict:
            self._in_verdict -= 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_verdict:
            self.verdict_text += data

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in attrs.items())]


def parsed_html(report: Report) -> tuple[str, Collector]:
    html = render(report, "html").body.decode("utf-8")
    collector = Collector()
    collector.feed(html)
    collector.close()
    return html, collector


def test_html_has_the_stable_ids_tests_and_people_rely_on() -> None:
    report = sample_report()
    html, page = parsed_html(report)
    assert "FAIL" in page.verdict_text
    for section in ("policy", "gateway-downtime", "staffing"):
        assert len([a for _, a in page.elements if a.get("id") == section]) == 1, section
    assert page.find("table", id="zones") and page.find("table", id="cameras")
    assert [a["data-camera"] for a in page.find("tr") if "data-camera" in a] == list(CAMERA_IDS)
    assert [a["data-zone"] for a in page.find("tr") if "data-zone" in a] == ["main-gate", "east-gate", "warehouse"]
    timelines = [a for t, a in page.elements if t == "svg" and "timeline" in a.get("class", "").split()]
    assert [a["data-camera"] for a in timelines if "data-camera" in a] == list(CAMERA_IDS)
    fills = {a["fill"] for a in page.find("rect") if "data-state" in a}
    assert fills <= set(STATE_FILLS.values())
    assert {STATE_FILLS["online"], STATE_FILLS["offline"], STATE_FILLS["degraded"], STATE_FILLS["unknown"]} <= fills
    assert "东门" in html and "1:15:00" in html and "not verifiable" in html
    # Self-contained: nothing to fetch, nothing to run.
    assert "<script" not in html and "http://" not in html and "https://" not in html and "<link" not in html


def test_html_passes_when_the_report_passes() -> None:
    _, page = parsed_html(sample_report(passed=False, findings=()))
    assert "FAIL" in page.verdict_text
    _, page = parsed_html(sample_report(passed=True, findings=()))
    assert "PASS" in page.verdict_text and "FAIL" not in page.verdict_text


def test_html_escapes_names_from_config() -> None:
    report = with_camera(sample_report(), "cam-east", name=XSS, zones=(XSS,))
    report = replace(report, site_name=f'"{XSS}', notes=(XSS,))
    html, page = parsed_html(report)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert XSS in "".join(page.text)  # shown to the reader as text


# ------------------------------------------------------------------------------------------------- pdf


def pdf_text(body: bytes) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(body))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def test_pdf_carries_the_content() -> None:
    report = sample_report()
    body = render(report, "pdf").body
    assert body.startswith(b"%PDF-")
    pages, text = pdf_text(body)
    assert pages >= 1
    for expected in (
        "Riverside Plant 7",
        "FAIL",
        "东门",
        "1:15:00",
        "0:02:30",
        "frozen picture",
        "704x576",
        "Page 1 of",
    ):
        assert expected in text, expected
    for cam_id in CAMERA_IDS:
        assert cam_id in text, cam_id


def test_pdf_without_truetype_fonts_still_renders_and_says_so() -> None:
    body = render_pdf(sample_report(), fonts=PdfFonts(regular=None, bold=None, fallback=None))
    pages, text = pdf_text(body)
    assert pages >= 1
    assert "Riverside Plant 7" in text and "cam-east" in text and "FAIL" in text
    assert "Helvetica" in text and "shown as '?'" in text


def test_pdf_without_cjk_fallback_replaces_what_it_cannot_draw() -> None:
    fonts = PdfFonts(regular="/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", bold=None, fallback=None)
    _, text = pdf_text(render_pdf(sample_report(), fonts=fonts))
    assert "cam-east" in text and "shown as '?'" in text


def test_pdf_survives_hostile_and_long_names() -> None:
    long_name = "东门入口" * 40 + " " + "x" * 300
    report = with_camera(sample_report(), "cam-east", name=long_name, zones=(XSS, "=1+1"))
    report = replace(report, notes=("😀 emoji and \u202e bidi override", "line\nbreak"))
    pages, text = pdf_text(render(report, "pdf").body)
    assert pages >= 1 and "cam-east" in text


# ----------------------------------------------------------------------------------------------- sizes


def test_big_report_lists_every_camera_on_one_line_and_draws_few_timelines() -> None:
    # How fast and how big is benchmarks/bench_report.py's to measure; this is what the page holds.
    report = big_report(cameras=1000)
    html = render(report, "html").body.decode("utf-8")
    assert html.count('<tr data-camera="') == 1000
    assert html.count('<svg class="timeline" data-camera="') == DETAILED
    assert "data-failed-camera" not in html and "No camera failed a rule." in html


def test_big_report_pdf_is_paged_with_every_camera() -> None:
    report = big_report(cameras=200)
    pages, text = pdf_text(render(report, "pdf").body)
    assert pages > 5
    for cam in report.cameras[::37]:
        assert cam.id in text


def test_pages_list_the_longest_outages_and_count_the_rest() -> None:
    report = sample_report()
    cam = report.cameras[1]
    first = cam.outages[0]
    many = tuple(replace(first, start=first.start + k * 10, end=first.start + k * 10 + 1 + k % 7) for k in range(40))
    report = replace(report, cameras=(report.cameras[0], replace(cam, outages=many), *report.cameras[2:]))
    html = render(report, "html").body.decode("utf-8")
    table = html.split(f'data-camera-outages="{cam.id}"')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + LIST_LIMIT  # header + the longest ones
    assert f"… and {40 - LIST_LIMIT} shorter one(s)" in html
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(render(report, "pdf").body)).pages)
    assert f"and {40 - LIST_LIMIT} shorter one(s)" in text
    # The exports keep every one.
    assert len(json.loads(render(report, "json").body)["cameras"][1]["outages"]) == 40


# ------------------------------------------------------------------------------------------ forwarding


def test_size_label() -> None:
    assert [size_label(n) for n in (0, 999, 1000, 1_234_567_890, 5 * 10**12)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "1.2 GB",
        "5000.0 GB",
    ]


def test_csv_has_forwarding_per_camera_and_uplink() -> None:
    rows = csv_rows(forwarded_report())
    cams = {row["id"]: row for row in rows if row["record"] == "camera"}
    gate = cams["cam-gate-hd"]
    assert (gate["forwarded"], gate["uplinks"], gate["registered_percent"], gate["registered_s"]) == (
        "yes",
        "city; district",
        "97.5",
        "84240",
    )
    assert (gate["sessions"], gate["session_s"], gate["bytes_sent"]) == ("3", "5400", "1234567890")
    assert (cams["cam-store"]["forwarded"], cams["cam-store"]["uplinks"]) == ("no", "")
    site = next(row for row in rows if row["record"] == "forwarding")
    assert site["detail"].startswith("2 of 4 enabled camera(s) forwarded, 1 while an uplink was registered;")
    assert "key-area cameras: 0 of 1 forwarded" in site["detail"] and "registered to its platform" in site["detail"]
    uplinks = {row["id"]: row for row in rows if row["record"] == "uplink"}
    assert uplinks["city"]["cameras"] == "cam-gate-hd; cam-east" and uplinks["city"]["registered_percent"] == "0"
    assert uplinks["district"]["registered_s"] == "84240"
    # A site without uplinks has neither record nor values in these columns.
    plain = csv_rows(sample_report())
    assert not any(row["record"] in ("forwarding", "uplink") for row in plain)
    assert all(row["forwarded"] == "" for row in plain)


def test_json_has_forwarding() -> None:
    data = json.loads(render(forwarded_report(), "json").body)
    assert data["forwarding"]["forwarded"] == 2 and data["forwarding"]["definition"] == FORWARDING_DEFINITION
    assert data["cameras"][0]["forwarding"]["uplinks"] == ["city", "district"]
    assert data["cameras"][2]["forwarding"]["forwarded"] is False
    assert json.loads(render(sample_report(), "json").body)["forwarding"] is None


def test_html_shows_forwarded_and_not_forwarded_cameras() -> None:
    html, page = parsed_html(forwarded_report())
    assert len(page.find("section", id="forwarding")) == 1
    assert [a["data-uplink"] for a in page.find("tr") if "data-uplink" in a] == ["city", "district"]
    rows = [a["data-forward-camera"] for a in page.find("tr") if "data-forward-camera" in a]
    assert rows == list(CAMERA_IDS)
    section = html.split('id="forwarding"')[1].split("</section>")[0]
    gate = section.split('data-forward-camera="cam-gate-hd"')[1].split("</tr>")[0]
    assert "city, district" in gate and "97.50 %" in gate and "1:30:00" in gate and "1.2 GB" in gate
    store = section.split('data-forward-camera="cam-store"')[1].split("</tr>")[0]
    assert "not forwarded" in store
    assert "2 of 4 enabled camera(s) forwarded" in section and "Not applicable" not in section


def test_html_and_pdf_say_not_applicable_without_uplinks() -> None:
    html, page = parsed_html(sample_report())
    section = html.split('id="forwarding"')[1].split("</section>")[0]
    assert "Not applicable" in section and "not forwarded" not in html
    assert not [a for a in page.find("tr") if "data-forward-camera" in a]
    _, text = pdf_text(render(sample_report(), "pdf").body)
    assert "Not applicable: this site has no GB/T 28181 uplink" in text


def test_pdf_shows_forwarding() -> None:
    _, text = pdf_text(render(forwarded_report(), "pdf").body)
    for expected in ("Forwarded to the city network", "2 of 4 enabled camera(s) forwarded", "not forwarded", "1.2 GB"):
        assert expected in text, expected
    assert "97.50 %" in text and "city, district" in text


# ------------------------------------------------------------------------- what the pages give detail to


def failing(report: Report, failed: dict[str, tuple[Finding, ...]]) -> Report:
    """``report`` with the cameras of ``failed`` failing on those findings, the report's findings made again
    from its zones' and cameras' as coverage.py makes them (the site's own kept)."""
    for cam_id, found in failed.items():
        report = with_camera(report, cam_id, findings=found, passed=False)
    own = tuple(f for f in report.findings if not f.subject.startswith(("zone ", "camera ")))
    made = tuple(f for z in report.zones for f in z.findings) + tuple(f for c in report.cameras for f in c.findings)
    return replace(report, findings=made + own)


def uptime_fail(cam_id: str, uptime: float) -> Finding:
    return finding_of.camera_uptime(cam_id, uptime, 99.0, 3, 600.0)


def test_html_details_the_cameras_that_failed_and_not_the_others() -> None:
    # cam-gate-hd passes, with an outage of its own: counted on its line, not listed.
    own = Outage(at(9), at(9.5), ("timeout",), ongoing=False)
    report = with_camera(sample_report(), "cam-gate-hd", outages=(own,))
    html, page = parsed_html(report)
    detailed = [a["data-failed-camera"] for a in page.find("div") if "data-failed-camera" in a]
    assert detailed == ["cam-east", "cam-store", "cam-lobby"]
    assert [a["data-camera-outages"] for a in page.find("table") if "data-camera-outages" in a] == ["cam-east"]
    incidents = [a["data-camera-incidents"] for a in page.find("table") if "data-camera-incidents" in a]
    assert incidents == ["cam-store", "cam-lobby"]
    gate_row = html.split('<tr data-camera="cam-gate-hd">')[1].split("</tr>")[0]
    assert "1 · 0:30:00" in gate_row and 'href="#camera-cam-gate-hd"' not in gate_row
    assert 'href="#camera-cam-east"' in html.split('<tr data-camera="cam-east">')[1].split("</tr>")[0]
    lobby = html.split('data-failed-camera="cam-lobby"')[1].split("</div>")[0]
    assert "below HD (1920×1080)" in lobby and "The clock of the camera" in lobby
    # The figures a rule failed on are marked on the camera's line.
    lobby_row = html.split('<tr data-camera="cam-lobby">')[1].split("</tr>")[0]
    assert '<td class="num fail-text">+7.8 s</td>' in lobby_row and 'class="fail-text">1920×1080 / 704×576' in lobby_row
    # A small site keeps every timeline, and the page says where the full detail is.
    timelines = [a["data-camera"] for t, a in page.elements if t == "svg" and "data-camera" in a]
    assert timelines == list(CAMERA_IDS)
    scope = html.split('id="scope"')[1].split("</p>")[0]
    assert "details the 3 that failed" in scope and "CSV and JSON exports" in scope


def test_pdf_details_the_cameras_that_failed_and_not_the_others() -> None:
    own = Outage(at(9), at(9.5), ("timeout",), ongoing=False)
    report = with_camera(sample_report(), "cam-gate-hd", outages=(own,))
    _, text = pdf_text(render(report, "pdf").body)
    assert "outage 2026-11-20 03:10:00 – 04:25:00" in text  # cam-east's, in its detail
    assert "09:00:00" not in text  # cam-gate-hd's outage is counted on its line only
    assert "Cameras that failed" in text and "The clock of the camera" in text
    assert "full detail of every camera" in text


def test_findings_are_grouped_by_kind_with_the_worst_named() -> None:
    report = big_report(cameras=40)
    uptimes = {f"cam-{i:04d}": 90.0 + i for i in (3, 1, 7, 2, 9, 5, 8)}  # cam-0001 is the worst
    frozen = {
        f"cam-{i:04d}": finding_of.camera_fault(f"cam-{i:04d}", "quality:frozen", 60.0 * i, hd="1920x1080", min_fps=15)
        for i in (20, 30)
    }
    failed = {cam_id: (uptime_fail(cam_id, u),) for cam_id, u in uptimes.items()}
    failed["cam-0030"] = (frozen["cam-0030"],)
    failed["cam-0020"] = (frozen["cam-0020"],)
    report = failing(report, failed)
    groups = {g.key: g for g in group_findings(report)}
    uptime = groups["camera_uptime"]
    assert (uptime.severity, uptime.count, uptime.more) == ("fail", 7, 7 - SHOWN)
    assert ["(cam-0001)" in s for s in uptime.sentences] == [True, False, False]
    assert "(cam-0002)" in uptime.sentences[1] and "(cam-0003)" in uptime.sentences[2]
    assert uptime.title == "Cameras with an uptime below the target"
    fault = groups["camera_fault:quality:frozen"]
    assert fault.count == 2 and "(cam-0030)" in fault.sentences[0]  # the longest at fault first
    assert groups["gateway_down"].count == 1 and groups["gateway_down"].title == ""
    html, page = parsed_html(report)
    counts = {a["data-finding"]: a["data-count"] for a in page.find("li") if "data-finding" in a}
    expected = {"camera_uptime": 7, "camera_fault:quality:frozen": 2, "retention_unverifiable": 1, "gateway_down": 1}
    assert counts == {key: str(count) for key, count in expected.items()}
    assert f"… and {7 - SHOWN} more" in html


def test_only_the_worst_failing_cameras_get_detail_on_a_large_site() -> None:
    report = big_report(cameras=40)
    failed = {f"cam-{i:04d}": (uptime_fail(f"cam-{i:04d}", 98.0),) for i in range(DETAILED + 5)}
    failed["cam-0039"] = (uptime_fail("cam-0039", 98.0), finding_of.camera_clock("cam-0039", 9.0, 5.0))
    report = failing(report, failed)
    shown = digest(report)
    assert len(shown.failed) == DETAILED + 6 and len(shown.detailed) == DETAILED
    assert "cam-0039" in {cam.id for cam in shown.detailed}  # two failures: among the worst
    assert shown.drawn == shown.detailed  # no room left for passing cameras' timelines
    html, page = parsed_html(report)
    assert len([a for a in page.find("div") if "data-failed-camera" in a]) == DETAILED
    assert html.count('<tr data-camera="') == 40
    assert "The other 6 camera(s) that failed are marked in the table of cameras" in html
    # Few failing: their timelines and then passing cameras', in the report's order.
    few = failing(big_report(cameras=40), {"cam-0035": (uptime_fail("cam-0035", 98.0),)})
    drawn = [cam.id for cam in digest(few).drawn]
    assert drawn == [f"cam-{i:04d}" for i in range(DETAILED - 1)] + ["cam-0035"]
