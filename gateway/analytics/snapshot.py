"""The JPEG kept with an event: the frame, the tracks' boxes, the rule's zone or line, and a caption.

The frame is downsized first and everything is drawn at the output size, so strokes and text keep a
readable thickness whatever the camera's resolution, and drawing costs little on a 4K frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import numpy.typing as npt

from gateway.analytics.events import EventBox

Image = npt.NDArray[np.uint8]
Point = tuple[float, float]

# BGR colours.
_BOX = (0, 200, 255)
_ZONE = (60, 60, 255)
_TEXT = (255, 255, 255)
_STRIP = (0, 0, 0)
_ZONE_ALPHA = 0.25
_STRIP_ALPHA = 0.6
_FONT = cv2.FONT_HERSHEY_SIMPLEX
# Far outside any frame, but small enough for OpenCV's int32 maths after its sub-pixel shifts.
_COORD_LIMIT = 1 << 20


def event_label(kind: str, rule_id: str, at: float, tz: ZoneInfo) -> str:
    """'intrusion night-yard 2025-03-01 08:00:05 +0800': what the caption strip says."""
    return f"{kind} {rule_id} {datetime.fromtimestamp(at, tz):%Y-%m-%d %H:%M:%S %z}"


def _ascii(text: str) -> str:
    # OpenCV's Hershey fonts have ASCII glyphs only; anything else would print as '?' runs.
    return text.encode("ascii", "replace").decode("ascii")


def _pt(x: float, y: float, s: float) -> tuple[int, int]:
    def one(v: float) -> int:
        return round(max(-_COORD_LIMIT, min(_COORD_LIMIT, v * s)))

    return one(x), one(y)


def _blend(base: Image, layer: Image, alpha: float) -> None:
    cv2.addWeighted(layer, alpha, base, 1.0 - alpha, 0.0, dst=base)


def _draw_overlays(img: Image, overlays: Sequence[Sequence[Point]], s: float, thickness: int) -> None:
    shapes = [np.array([_pt(x, y, s) for x, y in shape], np.int32) for shape in overlays if len(shape) >= 2]
    if not shapes:
        return
    layer = img.copy()
    for pts in shapes:
        if len(pts) == 2:
            a, b = (int(pts[0][0]), int(pts[0][1])), (int(pts[1][0]), int(pts[1][1]))
            cv2.line(layer, a, b, _ZONE, thickness * 4, cv2.LINE_AA)
        else:
            cv2.fillPoly(layer, [pts], _ZONE, cv2.LINE_AA)
    _blend(img, layer, _ZONE_ALPHA)
    # A solid outline over the translucent fill, so the edge is exact where the fill is faint.
    for pts in shapes:
        cv2.polylines(img, [pts], len(pts) > 2, _ZONE, thickness, cv2.LINE_AA)


def _draw_boxes(img: Image, boxes: Sequence[EventBox], s: float, thickness: int, scale: float, top: int) -> None:
    """`top`: rows the caption strip will cover, which a box's own label must keep clear of."""
    h, w = img.shape[:2]
    for box in boxes:
        if not all(math.isfinite(v) for v in (box.x1, box.y1, box.x2, box.y2, box.score)):
            continue  # a tracker's NaN must not cost the event its snapshot
        x1, y1 = _pt(min(box.x1, box.x2), min(box.y1, box.y2), s)
        x2, y2 = _pt(max(box.x1, box.x2), max(box.y1, box.y2), s)
        # Trackers predict boxes past the frame edge; draw the visible part, skip what is all outside.
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w - 1), min(y2, h - 1)
        if x1 >= x2 or y1 >= y2:
            continue
        cv2.rectangle(img, (x1, y1), (x2, y2), _BOX, thickness, cv2.LINE_AA)
        text = f"#{box.track_id} {box.score:.2f}"
        (tw, th), base = cv2.getTextSize(text, _FONT, scale, 1)
        # Above the box when there is room below the caption, else just inside the box's visible top.
        ty = y1 - 2 if y1 - th - base - 2 >= top else min(max(y1, top) + th + base, h - 1)
        cv2.rectangle(img, (x1, ty - th - base), (min(x1 + tw + 4, w - 1), ty + 2), _BOX, cv2.FILLED)
        cv2.putText(img, text, (x1 + 2, ty - base + 1), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)


def _caption_height(scale: float) -> tuple[int, int, int]:
    """(strip height, text height, padding) of the caption at this font scale."""
    (_, th), base = cv2.getTextSize("Ag", _FONT, scale, 1)
    pad = max(2, th // 3)
    return th + base + 2 * pad, th, pad


def _draw_caption(img: Image, label: str, scale: float) -> None:
    h, w = img.shape[:2]
    text = _ascii(label)
    strip_h, th, pad = _caption_height(scale)
    strip_h = min(h, strip_h)
    layer = img.copy()
    cv2.rectangle(layer, (0, 0), (w - 1, strip_h - 1), _STRIP, cv2.FILLED)
    _blend(img, layer, _STRIP_ALPHA)
    cv2.putText(img, text, (pad, pad + th), _FONT, scale, _TEXT, 1, cv2.LINE_AA)


def render_snapshot(
    frame: Image,
    boxes: Sequence[EventBox],
    *,
    label: str,
    overlays: Sequence[Sequence[Point]] = (),
    max_width: int = 1280,
    quality: int = 80,
) -> bytes:
    """JPEG of `frame` (H x W x 3 BGR) with the boxes, overlays and a caption strip.

    `boxes` and `overlays` are in pixels of `frame`. An overlay of two points is a crossing line,
    of three or more a zone polygon. The frame is left untouched.
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8 or frame.size == 0:
        raise ValueError(f"a snapshot needs an H x W x 3 uint8 image, not {frame.dtype} {frame.shape}")
    if max_width < 16:
        raise ValueError(f"max_width must be at least 16, not {max_width}")
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1..100, not {quality}")
    h, w = frame.shape[:2]
    s = min(1.0, max_width / w)
    if s < 1.0:
        size = (max_width, max(1, round(h * s)))
        img = np.ascontiguousarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), np.uint8)
    else:
        img = frame.copy()
    out_w = img.shape[1]
    thickness = max(1, round(out_w / 640))
    text_scale = max(0.4, out_w / 1600)
    caption_scale = text_scale * 1.2
    _draw_overlays(img, overlays, s, thickness)
    _draw_boxes(img, boxes, s, thickness, text_scale, top=_caption_height(caption_scale)[0])
    _draw_caption(img, label, caption_scale)
    ok, encoded = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(encoded.tobytes())
