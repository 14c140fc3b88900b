"""A synthetic camera picture for the picture-quality tests: drawn here with numpy and OpenCV."""

from __future__ import annotations

import cv2
import numpy as np


def scene(
    w: int = 1920,
    h: int = 1080,
    *,
    seed: int = 0,
    variant: int = 0,
    noise: float = 3.0,
    clock: str | None = "2024-05-01 08:00:00",
    person_x: float | None = None,
) -> np.ndarray:
    """A textured scene: lit gradient, rectangles and discs, floor lines, a sign, sensor noise, a clock."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    base = [(150, 130, 110), (105, 135, 160), (120, 120, 120)][variant % 3]  # cool, warm, neutral light
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        img[..., c] = base[c] * (0.6 + 0.5 * y) + 30 * x
    s = w / 1920
    layout = np.random.default_rng(100 + variant)  # the layout depends on the variant only, not the seed
    for _ in range(25):
        x0, y0 = int(layout.integers(0, int(w - 200 * s))), int(layout.integers(0, int(h - 200 * s)))
        ww, hh = int(layout.integers(40, 300) * s), int(layout.integers(40, 300) * s)
        col = tuple(int(v) for v in layout.integers(20, 235, 3))
        if layout.random() < 0.5:
            cv2.rectangle(img, (x0, y0), (x0 + ww, y0 + hh), col, -1)
        else:
            cv2.circle(img, (x0 + ww // 2, y0 + hh // 2), max(ww, hh) // 2, col, -1)
    for i in range(0, w, int(120 * s)):
        cv2.line(img, (i, int(h * 0.6)), (i + int(200 * s), h), (60, 60, 60), max(1, int(2 * s)))
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, "SHOP 24H", (int(900 * s), int(300 * s)), font, 3 * s, (240, 240, 240), max(1, int(6 * s)))
    if person_x is not None:  # a person-sized figure: body and head, about half the frame tall
        px = int(person_x * w)
        cv2.rectangle(img, (px, int(h * 0.45)), (px + int(130 * s), int(h * 0.95)), (40, 50, 70), -1)
        cv2.circle(img, (px + int(65 * s), int(h * 0.42)), int(45 * s), (80, 110, 160), -1)
    img += rng.normal(0, noise, img.shape[:2])[..., None].astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if clock:  # burned-in OSD clock: white text with a dark outline, as cameras draw it
        org, scale = (int(40 * s), int(70 * s)), 1.6 * s
        cv2.putText(out, clock, org, font, scale, (0, 0, 0), max(1, int(7 * s)), cv2.LINE_AA)
        cv2.putText(out, clock, org, font, scale, (255, 255, 255), max(1, int(3 * s)), cv2.LINE_AA)
    return out
