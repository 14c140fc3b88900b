"""The first two pages of the Chinese PDF report as images for the documentation.

    .venv/bin/python -m scripts.report_images            # writes docs/images/zh/report-page-{1,2}.png

The report is the renderer tests' sample day (tests/support/reportdata.py: a key unit, four cameras in
three zones, an outage, a frozen picture, a camera below HD) with the site's names in Chinese, as a
Chinese site configures them. Pages are drawn with pypdfium2 at 100 dpi and stored as 256-colour PNGs
(small enough for the repository, sharp enough to read).
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import replace
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]  # no type information shipped
from PIL import Image

from gateway.reports.model import Report
from gateway.reports.render import render
from tests.support.reportdata import sample_report

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images" / "zh"
DPI = 100
MAX_BYTES = 400_000

ZONE_NAMES = {"main-gate": "正门", "east-gate": "东门", "warehouse": "成品仓库"}
CAMERA_NAMES = {
    "cam-gate-hd": "正门 高清 01",
    "cam-east": "东门 入口 01",
    "cam-store": "成品仓库 3 号通道",
    "cam-lobby": "正门 大厅 标清",
}


def chinese_site() -> Report:
    report = sample_report()
    return replace(
        report,
        site_name="滨江精密制造 7 号厂区",
        unit_name="滨江精密制造有限公司",
        zones=tuple(replace(z, name=ZONE_NAMES.get(z.id, z.name)) for z in report.zones),
        cameras=tuple(replace(c, name=CAMERA_NAMES.get(c.id, c.name)) for c in report.cameras),
    )


def page_images(pdf: bytes, pages: int, dpi: int = DPI) -> list[bytes]:
    document = pdfium.PdfDocument(pdf)
    try:
        out = []
        for index in range(min(pages, len(document))):
            image = document[index].render(scale=dpi / 72).to_pil().convert("RGB")
            small = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
            buffer = io.BytesIO()
            small.save(buffer, format="PNG", optimize=True)
            out.append(buffer.getvalue())
        return out
    finally:
        document.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.report_images", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder for report-page-N.png (default: %(default)s)")
    args = parser.parse_args(argv)
    pdf = render(chinese_site(), "pdf", "zh-CN").body
    args.out.mkdir(parents=True, exist_ok=True)
    for number, png in enumerate(page_images(pdf, 2), start=1):
        if len(png) > MAX_BYTES:
            print(f"page {number}: {len(png)} bytes, over {MAX_BYTES}", file=sys.stderr)
            return 1
        path = args.out / f"report-page-{number}.png"
        path.write_bytes(png)
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {len(png) // 1000} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
