"""The PDF report's page layout on fpdf2: the fonts it embeds (with a fallback font for Chinese), text that
falls back glyph by glyph, word wrap that breaks Chinese by character, headings, striped tables with their
header repeated on each page, timeline bars and their legend, and the footer on every page.

What the pages say is render_pdf's; this module only lays text out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpdf import FPDF

from gateway.i18n import gettext
from gateway.reports.model import TIMELINE_STATES, Report
from gateway.reports.render_common import STATE_COLOURS, Clock, Segment, state_label
from gateway.reports.render_text import period_name

_ = gettext

# A short list of the places Debian, Fedora, Alpine and macOS put these fonts; no font scanning.
_REGULAR_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/Library/Fonts/DejaVuSans.ttf",
)
_BOLD_FONTS = tuple(path.replace("DejaVuSans.ttf", "DejaVuSans-Bold.ttf") for path in _REGULAR_FONTS)
_FALLBACK_FONTS = (
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/google-droid-sans-fonts/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/droid/DroidSansFallbackFull.ttf",
    "/usr/local/share/fonts/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/droid/DroidSansFallback.ttf",
)


@dataclass(frozen=True)
class PdfFonts:
    """The TrueType files the PDF embeds; None where not found (the renderer then degrades, never fails)."""

    regular: str | None
    bold: str | None
    fallback: str | None


def find_fonts() -> PdfFonts:
    def first(paths: Iterable[str]) -> str | None:
        return next((p for p in paths if Path(p).is_file()), None)

    return PdfFonts(first(_REGULAR_FONTS), first(_BOLD_FONTS), first(_FALLBACK_FONTS))


def _cmap(font: Any) -> frozenset[int]:
    return frozenset(font.cmap)  # TTFFont only; core fonts have no cmap and are never passed here


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


INK = (33, 37, 41)
MUTED = (96, 104, 115)
_RULE = (206, 212, 218)
_ZEBRA = (244, 246, 248)
_HEAD = (226, 232, 240)
PASS = (30, 132, 73)
FAIL = (192, 41, 41)
WARN = (176, 120, 0)


# fpdf2 reserves the alias's own width for the page count: "{nb}" leaves room for 4 characters only
# (a 90-day report of a large site runs to four digits of pages), hence a longer alias.
_PAGES_ALIAS = "{pages_total}"


class _ReportPdf(FPDF):
    """FPDF with the report's footer (site, period, page x of y) on every page."""

    footer_text = ""
    footer_font = ("helvetica", "")
    page_label = "Page {page} of {total}"

    def footer(self) -> None:
        self.set_y(-9)
        self.set_font(self.footer_font[0], self.footer_font[1], 7)
        self.set_text_color(*MUTED)
        self.cell(0, 4, self.footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 4, self.page_label.format(page=self.page_no(), total=_PAGES_ALIAS), align="R")


@dataclass(frozen=True)
class Col:
    title: str
    width: float
    align: str = "L"


class PdfWriter:
    """A small table-and-text layout on top of FPDF's low-level ``text``.

    FPDF's ``cell`` costs ~0.3 ms with fallback fonts; a 1,000-camera report has tens of thousands of cells,
    so this writes each run of text with ``text`` in the right font and measures widths from the font's own
    width tables (~20x faster), doing fallback and truncation itself.
    """

    LINE = 4.6  # table row height in mm at 7 pt

    def __init__(self, report: Report, fonts: PdfFonts) -> None:
        self.report = report
        self.clock = Clock(report)
        self.replaced = False
        pdf = _ReportPdf(orientation="L", unit="mm", format="A4")
        pdf.alias_nb_pages(_PAGES_ALIAS)
        pdf.set_margins(10, 10, 10)
        pdf.set_auto_page_break(True, margin=12)
        pdf.set_title(
            _("Coverage report {site} {period}").format(site=report.site_name, period=period_name(report.period_label))
        )
        pdf.set_creator(f"gateway {report.gateway_version}")
        self.ttf = fonts.regular is not None
        self.glyphs: frozenset[int] = frozenset()
        self.fallback_glyphs: frozenset[int] = frozenset()
        if fonts.regular is not None:
            pdf.add_font("main", "", fonts.regular)
            pdf.add_font("main", "B", fonts.bold or fonts.regular)
            self.family = "main"
            self.glyphs = _cmap(pdf.fonts["main"])
            if fonts.fallback is not None:
                pdf.add_font("fallback", "", fonts.fallback)
                self.fallback_glyphs = _cmap(pdf.fonts["fallback"]) - self.glyphs
                # Only the footer goes through FPDF's own cell(), which needs to know the fallback itself.
                pdf.set_fallback_fonts(["fallback"], exact_match=False)
        else:
            self.family = "helvetica"
        # Every character some embedded font draws; asked once per cell, so built once.
        self.known = self.glyphs | self.fallback_glyphs
        pdf.footer_font = (self.family, "")
        clock = self.clock
        pdf.footer_text = self.safe(
            f"{report.site_name} ({report.site_id}) · {period_name(report.period_label)} · "
            f"{clock.text(report.start, False)} – {clock.text(report.end, False)} {clock.utc_offset()}"
        )
        pdf.page_label = self.safe(_("Page {page} of {total}"))
        self.pdf = pdf
        self.style = ""
        self.size = 8.0
        self.ellipsis = "…" if self.ttf else "..."
        self._ink: tuple[int, int, int] | None = None
        self.notes: list[str] = []  # the renderer's own notes for the reader, added to the report's

    # -- text ------------------------------------------------------------------------------------------

    def draws_chinese(self) -> bool:
        return all(ord(ch) in self.known for ch in "视频监控覆盖率合格")

    def safe(self, text: str) -> str:
        """Text every character of which some embedded font can draw; the rest become '?'."""
        if not self.ttf:
            encoded = text.replace("·", "-").encode("latin-1", "replace").decode("latin-1")
            if encoded != text:
                self.replaced = True
            return encoded
        known = self.known
        if text.isascii() or all(ord(ch) in known or ch == "\n" for ch in text):
            return text
        self.replaced = True
        return "".join(ch if ord(ch) in known else "?" for ch in text)

    def ink(self, rgb: tuple[int, int, int]) -> None:
        """Text colour; the fill colour follows, because FPDF wraps every text in q/Q while the two differ."""
        if rgb != self._ink:
            self.pdf.set_text_color(*rgb)
            self.pdf.set_fill_color(*rgb)
            self._ink = rgb

    def fill(self, rgb: tuple[int, int, int]) -> None:
        self.pdf.set_fill_color(*rgb)
        self._ink = None

    def font(self, style: str = "", size: float | None = None) -> None:
        self.style = style
        if size is not None:
            self.size = size
        self.pdf.set_font(self.family, style, self.size)

    def _runs(self, text: str) -> list[tuple[str, str]]:
        """``text`` split into (font family, run) by which font has the glyphs."""
        if not self.fallback_glyphs or text.isascii():
            return [(self.family, text)]
        runs: list[tuple[str, str]] = []
        fallback = self.fallback_glyphs
        for ch in text:
            family = "fallback" if ord(ch) in fallback else self.family
            if runs and runs[-1][0] == family:
                runs[-1] = (family, runs[-1][1] + ch)
            else:
                runs.append((family, ch))
        return runs

    def _run_font(self, family: str) -> Any:
        style = self.style if family == self.family else ""
        key = f"{family}{style}"
        if key not in self.pdf.fonts:  # core fonts are only loaded by set_font
            self.pdf.set_font(family, style, self.size)
        return self.pdf.fonts[key]

    def width(self, text: str) -> float:
        total = 0.0
        for family, run in self._runs(text):
            total += self._run_font(family).get_text_width(run, self.size, None)[1]
        return float(total) / self.pdf.k

    def fit(self, text: str, width: float) -> str:
        """``text`` cut (with an ellipsis) to fit ``width`` mm."""
        if self.width(text) <= width:
            return text
        keep = len(text)
        while keep > 0 and self.width(text[:keep] + self.ellipsis) > width:
            keep = max(0, min(keep - 1, int(keep * width / max(self.width(text[:keep]), 0.01))))
        return text[:keep] + self.ellipsis

    def name_id(self, name: str, ident: str, width: float) -> str:
        """``name (id)`` for a table cell ``width`` mm wide at 7 pt, the name cut rather than the id: the id is
        what the CSV and JSON are searched by."""
        self.font("", 7)
        tail = f" ({self.safe(ident)})"
        room = width - 2.4 - self.width(tail)  # put_cell's padding
        return (self.fit(self.safe(name), room) if room > 0 else "") + tail

    def put(self, x: float, y: float, text: str) -> None:
        """Write ``text`` (already made safe) with its top-left at x, y."""
        baseline = y + self.size / self.pdf.k * 0.78
        pdf = self.pdf
        runs = self._runs(text)
        if len(runs) == 1 and runs[0][0] == self.family:  # the common case: the current font, no switching
            pdf.text(x, baseline, text)
            return
        for family, run in runs:
            pdf.set_font(family, self.style if family == self.family else "", self.size)
            pdf.text(x, baseline, run)
            x += self._run_font(family).get_text_width(run, self.size, None)[1] / pdf.k
        pdf.set_font(self.family, self.style, self.size)

    def put_cell(self, x: float, y: float, w: float, text: str, align: str = "L", pad: float = 1.2) -> None:
        if not text:
            return
        text = self.safe(text)
        text_w = self.width(text)
        if text_w > w - 2 * pad:
            text = self.fit(text, w - 2 * pad)
            text_w = self.width(text)
        if align == "R":
            x = x + w - pad - text_w
        elif align == "C":
            x = x + (w - text_w) / 2
        else:
            x += pad
        self.put(x, y + (self.LINE - self.size / self.pdf.k) / 2, text)

    def wrap(self, text: str, width: float) -> list[str]:
        """Greedy word wrap; a word wider than the line (a CJK run has no spaces) is broken by character."""
        lines: list[str] = []
        for para in self.safe(text).split("\n"):
            line = ""
            for word in para.split(" "):
                candidate = f"{line} {word}" if line else word
                if self.width(candidate) <= width:
                    line = candidate
                    continue
                if line:
                    lines.append(line)
                line = ""
                for ch in word:
                    if self.width(line + ch) > width and line:
                        lines.append(line)
                        line = ""
                    line += ch
            lines.append(line)
        return lines

    def paragraph(
        self, text: str, size: float = 8.0, style: str = "", colour: tuple[int, int, int] = INK, indent: float = 0.0
    ) -> None:
        pdf = self.pdf
        self.font(style, size)
        self.ink(colour)
        height = size / pdf.k * 1.35
        for line in self.wrap(text, pdf.epw - indent):
            self.need(height)
            self.put(pdf.l_margin + indent, pdf.get_y(), line)
            pdf.set_y(pdf.get_y() + height)

    # -- layout ----------------------------------------------------------------------------------------

    def need(self, height: float) -> bool:
        """Start a new page when ``height`` does not fit; True when it did."""
        pdf = self.pdf
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
            return True
        return False

    def heading(self, title: str, note: str = "") -> None:
        pdf = self.pdf
        self.need(26)  # a heading never ends a page: room for it and the first rows of what follows
        pdf.set_y(pdf.get_y() + 3)
        self.font("B", 11.5)
        self.ink(INK)
        title = self.safe(title)
        self.put(pdf.l_margin, pdf.get_y(), title)
        if note:
            note_x = pdf.l_margin + self.width(title) + 3
            self.font("", 7.5)
            self.ink(MUTED)
            self.put(note_x, pdf.get_y() + 1.2, self.fit(self.safe(note), pdf.epw - note_x + pdf.l_margin))
        pdf.set_y(pdf.get_y() + 6)
        pdf.set_draw_color(*_RULE)
        pdf.set_line_width(0.3)
        pdf.line(pdf.l_margin, pdf.get_y() - 1.2, pdf.l_margin + pdf.epw, pdf.get_y() - 1.2)

    def table(
        self,
        cols: Sequence[Col],
        rows: Iterable[Sequence[str | tuple[str, tuple[int, int, int]]]],
        bars: Sequence[list[Segment]] | None = None,
        bar_col: int | None = None,
    ) -> None:
        """Rows of single-line cells (cut to fit), zebra striped, header repeated on each new page.

        A cell is text or (text, colour). ``bars`` gives each row a timeline drawn in column ``bar_col``.
        """
        pdf = self.pdf
        x0 = pdf.l_margin

        def header() -> None:
            y = pdf.get_y()
            self.fill(_HEAD)
            pdf.rect(x0, y, sum(c.width for c in cols), self.LINE + 0.4, style="F")
            self.font("B", 7)
            self.ink(INK)
            x = x0
            for col in cols:
                self.put_cell(x, y + 0.2, col.width, col.title, col.align)
                x += col.width
            pdf.set_y(y + self.LINE + 0.4)

        self.need(self.LINE * 3)
        header()
        self.font("", 7)
        for index, row in enumerate(rows):
            if self.need(self.LINE):
                header()
                self.font("", 7)
            y = pdf.get_y()
            if index % 2:
                self.fill(_ZEBRA)
                pdf.rect(x0, y, sum(c.width for c in cols), self.LINE, style="F")
            x = x0
            for col_index, (col, cell) in enumerate(zip(cols, row, strict=False)):
                if bars is not None and col_index == bar_col:
                    self.bar(x + 1, y + 0.9, col.width - 2, self.LINE - 1.8, bars[index])
                else:
                    text, colour = cell if isinstance(cell, tuple) else (cell, INK)
                    self.ink(colour)
                    self.put_cell(x, y, col.width, text, col.align)
                x += col.width
            pdf.set_y(y + self.LINE)
        pdf.set_y(pdf.get_y() + 2)

    def bar(self, x: float, y: float, w: float, h: float, segs: Sequence[Segment]) -> None:
        pdf = self.pdf
        self.fill(_rgb(STATE_COLOURS["unknown"]))
        pdf.rect(x, y, w, h, style="F")
        # One colour at a time (the fill colour is an operator per change); worse states drawn last, on top,
        # so a thin outage widened to the minimum stays visible over its online neighbours.
        for state in ("online", "disabled", "degraded", "offline"):
            picked = [seg for seg in segs if seg.state == state]
            if picked:
                self.fill(_rgb(STATE_COLOURS[state]))
                for seg in picked:
                    pdf.rect(x + seg.x, y, max(seg.w, 0.25), h, style="F")

    def legend(self) -> None:
        pdf = self.pdf
        self.need(6)
        y = pdf.get_y()
        x = pdf.l_margin
        self.font("", 7)
        self.ink(MUTED)
        for state in TIMELINE_STATES:
            self.fill(_rgb(STATE_COLOURS[state]))
            pdf.rect(x, y + 0.6, 4, 2.6, style="F")
            label = self.safe(state_label(state))
            self.put(x + 5, y + 0.3, label)
            x += 5 + self.width(label) + 5
        pdf.set_y(y + 5)
