"""What speaking Chinese costs: the coverage report rendered in Chinese against English, same report.

    .venv/bin/python -m benchmarks.bench_i18n [--cameras 100] [--days 30] [--repeats 5]

The report is built once from bench_report's synthetic history (the "heavy" profile: every camera
reboots nightly, so every timeline and table is full), then rendered to HTML, PDF and CSV in English
(the baseline: the same code, messages looked up and left as they are) and in Chinese; medians over
--repeats renders, and their ratio. Also: a picture-check detail and an event message through
gateway/i18n/phrases.py (the camera and events pages show a dozen of them per page), in microseconds.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.bench_report import DAY, START, build_history, site_config
from gateway import i18n
from gateway.health.uptime import HistoryReader
from gateway.i18n import Language
from gateway.i18n.phrases import phrase_text
from gateway.reports.coverage import ReportPeriod, build_report
from gateway.reports.render import render
from gateway.storage.db import Database

# Each with a figure the benchmark changes to make a text never seen before.
DETAIL = (
    "picture repeats in 3 samples since the last live one, only the clock changes (temporal noise 0.11 levels"
    " against the previous sample, P-frames 0.20% of the keyframe) [night thresholds]"
)
MESSAGE = "Loitering: 2 people stayed at least 60 s (longest 75 s) (rule 'lobby', zone 'hall')."


def median_s(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    db_path = Path(f"/tmp/bench_i18n-{args.cameras}x{args.days}.db")
    url = f"sqlite:///{db_path}"
    if not db_path.exists():
        Database(url).open().close()
        build_history(db_path, args.cameras, args.days, "heavy")
    config = site_config(args.cameras, url)
    period = ReportPeriod(START, START + args.days * DAY, f"{args.days} days", START + args.days * DAY + 60)
    with Database(url) as db:
        report = build_report(config, HistoryReader(db), period)
    print(f"report: {args.cameras} cameras x {args.days} days, {args.repeats} renders each, medians")
    print(f"{'format':<8}{'English (s)':>13}{'Chinese (s)':>13}{'ratio':>8}{'en size':>12}{'zh size':>12}")
    languages: tuple[Language, Language] = ("en", "zh-CN")
    for fmt in ("html", "pdf", "csv"):
        sizes = {lang: len(render(report, fmt, lang).body) for lang in languages}
        en, zh = (median_s(functools.partial(render, report, fmt, lang), args.repeats) for lang in languages)
        print(f"{fmt:<8}{en:>13.3f}{zh:>13.3f}{zh / en:>8.2f}{sizes['en']:>12,}{sizes['zh-CN']:>12,}")
    for label, template in (("check detail", DETAIL), ("event message", MESSAGE)):
        per = {}
        for lang in languages:
            with i18n.using(lang):
                # Texts never seen before (a figure changes), then one text shown again and again.
                fresh = median_s(functools.partial(_phrases, template, 1000, True), args.repeats) * 1000
                again = median_s(functools.partial(_phrases, template, 1000, False), args.repeats) * 1000
                per[lang] = (fresh, again)
        print(
            f"{label}: English {per['en'][0]:.2f} us; Chinese {per['zh-CN'][0]:.1f} us the first time,"
            f" {per['zh-CN'][1]:.2f} us shown again"
        )


_RUN = [0]


def _phrases(template: str, times: int, fresh: bool) -> None:
    for _ in range(times):
        _RUN[0] += 1
        phrase_text(
            template.replace("3 samples", f"{_RUN[0]} samples").replace("75 s", f"{_RUN[0]} s") if fresh else template
        )


if __name__ == "__main__":
    main()
