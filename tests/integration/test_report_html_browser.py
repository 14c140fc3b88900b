"""The HTML report in a real browser: visible verdict and rows, coloured timelines, no errors, fits 1024 px;
in Chinese with no English words left but names, ids, units and standards."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.reports.render import STATE_FILLS, render
from tests.support.browser import page
from tests.support.i18n_words import READABLE_TEXT_JS, foreign_words
from tests.support.reportdata import sample_report

pytestmark = pytest.mark.integration


def test_report_page_in_chromium() -> None:
    report = sample_report()
    # A long unbroken name is what usually pushes a table past the viewport.
    long_name = "Camera-" + "x" * 120
    cameras = (replace(report.cameras[0], name=long_name), *report.cameras[1:])
    report = replace(report, cameras=cameras)
    html = render(report, "html").body.decode("utf-8")  # in Chinese, the default language
    with page(1024, 768) as (browser_page, errors):
        browser_page.set_content(html, wait_until="load")
        verdict = browser_page.locator("#verdict")
        assert verdict.is_visible()
        assert "不合格" in verdict.inner_text()
        conclusion = browser_page.locator("#summary p.conclusion")
        assert conclusion.is_visible() and "结论为不合格" in conclusion.inner_text()
        # Everything a reader sees or hears is Chinese but for names, ids, units and standards.
        seen = browser_page.evaluate(READABLE_TEXT_JS)
        shown_names = [report.site_name, report.site_id, report.unit_name, report.timezone]
        shown_names += [n for c in report.cameras for n in (c.name, c.id, c.measured_codec or "")]
        shown_names += [n for z in report.zones for n in (z.name, z.id)]
        assert foreign_words(seen, shown_names) == []
        for word in ("出入口", "重要部位", "在线率", "完好率", "高清", "视频质量诊断", "画面冻结"):
            assert word in "".join(seen), word
        for cam in report.cameras:
            row = browser_page.locator(f'table#cameras tr[data-camera="{cam.id}"]')
            assert row.count() == 1
            row.scroll_into_view_if_needed()
            assert row.is_visible(), cam.id
            fills = browser_page.locator(f'svg.timeline[data-camera="{cam.id}"] rect').evaluate_all(
                "rects => rects.map(r => [r.dataset.state, r.getAttribute('fill'), r.getBBox().width])"
            )
            assert fills, cam.id
            for state, fill, width in fills:
                assert fill == STATE_FILLS[state], (cam.id, state, fill)
                assert width > 0
        east_states = {
            state
            for state, _, _ in browser_page.locator('svg.timeline[data-camera="cam-east"] rect').evaluate_all(
                "rects => rects.map(r => [r.dataset.state, 0, 0])"
            )
        }
        assert {"online", "offline", "unknown"} <= east_states
        # The hatch for unknown time must resolve (a missing pattern would paint nothing).
        assert browser_page.locator("pattern#tl-unknown").count() == 1
        scroll_width = browser_page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= 1024, scroll_width
        tables_fit = browser_page.evaluate(
            "[...document.querySelectorAll('table#zones, table#cameras')]"
            ".every(t => t.scrollWidth <= t.parentElement.clientWidth + 1)"
        )
        assert tables_fit, "the zones or cameras table scrolls sideways at 1024 px"
        assert errors == []


def test_english_report_page_in_chromium() -> None:
    html = render(sample_report(), "html", "en").body.decode("utf-8")
    with page(1024, 768) as (browser_page, errors):
        browser_page.set_content(html, wait_until="load")
        assert "FAIL" in browser_page.locator("#verdict").inner_text()
        assert "the verdict is FAIL" in browser_page.locator("#summary p.conclusion").inner_text()
        assert browser_page.evaluate("document.documentElement.scrollWidth") <= 1024
        assert errors == []
