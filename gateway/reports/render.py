"""Renders a coverage :class:`~gateway.reports.model.Report` as JSON, CSV, HTML or PDF for auditors.

The JSON and CSV carry every record; the HTML and PDF, made to be read, lead with the summary and the
reasons grouped, and detail only the cameras that failed worst (digest.py). Times are shown in the
report's time zone, durations in seconds (and h:mm:ss where a person reads them). Names come from the
site config, so every renderer treats them as hostile text: HTML autoescapes, CSV neutralises formulas,
PDF replaces what its fonts cannot draw.

The HTML, PDF and CSV speak the language they are rendered in (Simplified Chinese by default, or
English): `render(report, fmt, language)`, the current language when none is given. The JSON is for
programs and has no language. Each format lives in its own module (render_json, render_csv, render_html, render_pdf;
render_common and render_text hold what they share); this one chooses and names the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.errors import InvalidRequestError
from gateway.i18n import Language, current, gettext, parse_language, using
from gateway.reports.coverage import without_gc
from gateway.reports.model import Report
from gateway.reports.render_common import (
    LIST_LIMIT,
    STATE_COLOURS,
    STATE_FILLS,
    STATE_LABELS,
    Clock,
    Segment,
    longest,
    more_note,
    segments,
    size_label,
)
from gateway.reports.render_csv import CSV_COLUMNS, CSV_TITLES, csv_safe, render_csv
from gateway.reports.render_html import render_html
from gateway.reports.render_json import render_json

__all__ = [
    "CSV_COLUMNS",
    "CSV_TITLES",
    "DRAWN",
    "FORMATS",
    "LIST_LIMIT",
    "STATE_COLOURS",
    "STATE_FILLS",
    "STATE_LABELS",
    "Clock",
    "Rendered",
    "Segment",
    "csv_safe",
    "filename",
    "longest",
    "more_note",
    "render",
    "render_csv",
    "render_html",
    "render_json",
    "render_pdf",
    "report_language",
    "segments",
    "size_label",
]

FORMATS = ("json", "csv", "html", "pdf")
# The formats that draw the cameras' timeline bars: a report made for the others needs none
# (build_report's ``drawn``).
DRAWN = ("html", "pdf")

_MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}


@dataclass(frozen=True)
class Rendered:
    body: bytes
    media_type: str
    filename: str


def render(report: Report, fmt: str, language: Language | None = None) -> Rendered:
    """The report in ``fmt`` (one of :data:`FORMATS`) and ``language`` (default: the current one), with a
    media type and a download file name."""
    language = language if language is not None else current()
    with using(language):
        if fmt not in FORMATS:
            raise InvalidRequestError(
                gettext("unknown report format {format!r}: choose one of {formats}").format(
                    format=fmt, formats=", ".join(FORMATS)
                )
            )
        renderers = {"json": render_json, "csv": render_csv, "html": render_html, "pdf": render_pdf}
        with without_gc():
            body = renderers[fmt](report)
    return Rendered(body=body, media_type=_MEDIA_TYPES[fmt], filename=filename(report, fmt))


def report_language(lang: str | None) -> Language:
    """The language a request's ``lang`` asks for (zh-CN, zh, en...); the current one when it names none."""
    if lang is None:
        return current()
    language = parse_language(lang)
    if language is None:
        raise InvalidRequestError(gettext("'lang' must be zh-CN or en, not {lang!r}").format(lang=lang[:20]))
    return language


def filename(report: Report, ext: str) -> str:
    """``coverage-<site>-<first day>-<last day>.<ext>``; the period end is exclusive, so a day is one date."""
    first = report.local(report.start).strftime("%Y%m%d")
    last = report.local(max(report.start, report.end - 1.0)).strftime("%Y%m%d")
    site = re.sub(r"[^A-Za-z0-9._-]+", "_", report.site_id).strip("._") or "site"
    return f"coverage-{site}-{first}-{last}.{ext}"


def render_pdf(report: Report) -> bytes:
    # Imported when a PDF is first asked for: fpdf and its font tools took 0.3 s of every start of the
    # gateway and of each command-line call, for a format most of them never write.
    from gateway.reports.render_pdf import render_pdf as write_pdf

    return write_pdf(report)
