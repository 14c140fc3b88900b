"""The evaluation set of the quality checks: real footage, faults applied to it, and encoders.

Sources are real: vtest.avi (PETS 2009, outdoor, people) and tree.avi (foliage in wind) from Debian's
opencv-doc (``sim/footage.py``). Each case is a list of frames (a clean live scene, or one
fault applied to a real scene at the severity documented in docs/quality.md), encoded as a camera
would send it: ``camera`` (CRF 23, a keyframe every 2 s) or ``smart`` (a smart codec: CRF 30 capped at
400 kbit/s, a keyframe every 4 s). The burned-in clock is drawn after the fault, as cameras do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from sim.footage import LAWN, TREE, VTEST, Image, crop, read_frames

FPS = 10
FRAMES = 790  # 79 s at 10 fps, the whole of vtest
# encoder -> (x264 rate control, GOP in frames, frames used): the smart codec's longer GOPs need the
# whole clip for as many samples as the camera's get from half of it.
PROFILES = {
    "camera": ("crf=23", 20, 400),
    "smart": ("crf=30:vbv-maxrate=400:vbv-bufsize=800", 40, 790),
}
BUILDING = (300, 0, 400, 200)  # the top of vtest: brick, windows, a van; people pass at its foot


@dataclass(frozen=True)
class Case:
    name: str
    fault: str | None  # the check that must fail; None: clean live footage (no check may fail)
    make: Callable[[], list[Image]]
    night: bool = False
    onset_s: float = 0.0  # when the fault starts (the "moved" camera turns part way)
    # The picture the camera showed when it was set up (its reference: scene and usual colour); None:
    # the first good sample, as the gateway does for a new camera.
    installed: Callable[[], Image] | None = None


def _even(image: Image) -> Image:
    h, w = image.shape[:2]
    return np.ascontiguousarray(image[: h - h % 2, : w - w % 2])


@cache
def _vtest() -> tuple[Image, ...]:
    return tuple(read_frames(VTEST))


@cache
def _tree() -> tuple[Image, ...]:
    frames = read_frames(TREE)
    # 320x240 footage, shown at 640x480 as a small camera would send it; looped forward and back so the
    # loop point is no jump.
    big = [np.asarray(cv2.resize(f, (640, 480), interpolation=cv2.INTER_CUBIC), np.uint8) for f in frames]
    return tuple(big + big[::-1])


def full(n: int = FRAMES, start: int = 0) -> list[Image]:
    return [_even(f) for f in _vtest()[start : start + n]]


def lawn(n: int = FRAMES, start: int = 0) -> list[Image]:
    return [_even(crop(f, LAWN)) for f in _vtest()[start : start + n]]


def building(n: int = FRAMES, start: int = 0) -> list[Image]:
    return [_even(crop(f, BUILDING)) for f in _vtest()[start : start + n]]


def tree(n: int = FRAMES) -> list[Image]:
    frames = _tree()
    return [frames[i % len(frames)] for i in range(n)]


def _f32(image: Image) -> np.ndarray:
    return image.astype(np.float32)


def _u8(image: np.ndarray) -> Image:
    return np.asarray(np.clip(image, 0, 255), np.uint8)


# --- what happens to a real picture ----------------------------------------------------------------


def night(frames: list[Image]) -> list[Image]:
    """Night: 30 % of the light, and the real temporal noise (frame minus the temporal median) amplified
    so that it is 2.5 times the day's in absolute levels, as a sensor at high gain shows it."""
    still = np.median(np.stack(frames[:: max(1, len(frames) // 40)]), axis=0).astype(np.float32)
    return [_u8(still * 0.3 + (_f32(f) - still) * 2.5) for f in frames]


def denoised(frames: list[Image], depth: int = 16) -> list[Image]:
    """A camera's temporal noise reduction (3D-DNR): a running average over about ``depth`` frames."""
    out, acc = [], _f32(frames[0])
    for f in frames:
        acc += (_f32(f) - acc) / depth
        out.append(_u8(acc))
    return out


def frozen(frames: list[Image]) -> list[Image]:
    return [frames[0]] * len(frames)


def blurred(frames: list[Image]) -> list[Image]:
    sigma = frames[0].shape[1] / 400  # 4.8 px at 1920: a lens clearly out of focus
    return [np.asarray(cv2.GaussianBlur(f, (0, 0), sigma), np.uint8) for f in frames]


def covered(frames: list[Image]) -> list[Image]:
    h, w = frames[0].shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (int(w * 0.8), h // 2), (int(w * 0.62), int(h * 0.75)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), w / 40)[..., None]
    palm = np.full((h, w, 3), (38, 45, 60), np.float32)  # an unlit hand, out of focus
    return [_u8(_f32(f) * (1 - mask) + palm * mask) for f in frames]


def colour_cast(frames: list[Image]) -> list[Image]:
    gains = np.diag(np.array((1.15, 0.75, 1.35), np.float32))  # B, G, R: a lost IR-cut filter
    return [np.asarray(cv2.transform(f, gains), np.uint8) for f in frames]


def noisy(frames: list[Image]) -> list[Image]:
    rng = np.random.default_rng(7)
    return [_u8(_f32(f) + rng.normal(0, 20, f.shape[:2])[..., None]) for f in frames]


def darkened(frames: list[Image]) -> list[Image]:
    return [_u8(_f32(f) * 0.12) for f in frames]


def overexposed(frames: list[Image]) -> list[Image]:
    return [_u8(_f32(f) * 2.2 + 40) for f in frames]


def fogged(frames: list[Image]) -> list[Image]:
    return [_u8(_f32(f) * 0.15 + 150) for f in frames]


def striped(frames: list[Image]) -> list[Image]:
    h = frames[0].shape[0]
    rows = np.arange(h, dtype=np.float32)[:, None, None]
    period = h / 20  # twenty bars, rolling down a bar every ten frames
    return [_u8(_f32(f) + 10 * np.sin(2 * np.pi * (rows / period + n / 10))) for n, f in enumerate(frames)]


def shaken(frames: list[Image]) -> list[Image]:
    rng = np.random.default_rng(3)
    h, w = frames[0].shape[:2]
    out = []
    for f in frames:
        dx, dy = rng.uniform(-0.03, 0.03) * w, rng.uniform(-0.03, 0.03) * h
        m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        out.append(np.asarray(cv2.warpAffine(f, m, (w, h), borderMode=cv2.BORDER_REFLECT), np.uint8))
    return out


def turned(frames: list[Image], at: int) -> list[Image]:
    h, w = frames[0].shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 3.0, 1.0)
    m[0, 2] += 0.10 * w
    after = [np.asarray(cv2.warpAffine(f, m, (w, h), borderMode=cv2.BORDER_REFLECT), np.uint8) for f in frames[at:]]
    return frames[:at] + after


def black(n: int = FRAMES) -> list[Image]:
    rng = np.random.default_rng(1)
    return [np.asarray(rng.integers(0, 4, (576, 768, 1)).repeat(3, axis=2), np.uint8) for _ in range(n)]


def no_signal(n: int = FRAMES) -> list[Image]:
    screen = np.full((576, 768, 3), (200, 60, 20), np.uint8)
    cv2.putText(screen, "NO SIGNAL", (250, 300), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
    return [screen] * n


def cases() -> list[Case]:
    turn_at = 400 // 3  # a third into the camera encoder's part
    return [
        # clean live footage: no check may fail
        Case("vtest (people walking)", None, full),
        Case("vtest, later part", None, lambda: full(start=395)),
        Case("lawn (still)", None, lawn),
        Case("building (still, passers-by)", None, building),
        Case("tree (foliage in wind)", None, tree),
        Case("lawn, 3D-DNR smoothed", None, lambda: denoised(lawn())),
        Case("vtest at night", None, lambda: night(full()), night=True),
        Case("lawn at night", None, lambda: night(lawn()), night=True),
        Case("building at night", None, lambda: night(building()), night=True),
        # faults
        Case("vtest frozen", "frozen", lambda: frozen(full()), installed=lambda: full(1)[0]),
        Case("lawn frozen", "frozen", lambda: frozen(lawn()), installed=lambda: lawn(1)[0]),
        Case("building frozen", "frozen", lambda: frozen(building()), installed=lambda: building(1)[0]),
        Case("lawn at night frozen", "frozen", lambda: frozen(night(lawn())), night=True),
        Case("vtest defocused", "blur", lambda: blurred(full()), installed=lambda: full(1)[0]),
        Case("building defocused", "blur", lambda: blurred(building()), installed=lambda: building(1)[0]),
        Case("tree defocused", "blur", lambda: blurred(tree()), installed=lambda: tree(1)[0]),
        Case("vtest covered", "occlusion", lambda: covered(full()), installed=lambda: full(1)[0]),
        Case("building covered", "occlusion", lambda: covered(building()), installed=lambda: building(1)[0]),
        Case("vtest colour cast", "colour_cast", lambda: colour_cast(full()), installed=lambda: full(1)[0]),
        Case("building colour cast", "colour_cast", lambda: colour_cast(building()), installed=lambda: building(1)[0]),
        Case("vtest noisy", "noise", lambda: noisy(full()), installed=lambda: full(1)[0]),
        Case("lawn noisy", "noise", lambda: noisy(lawn()), installed=lambda: lawn(1)[0]),
        Case("vtest dark", "dark", lambda: darkened(full()), installed=lambda: full(1)[0]),
        Case("building dark", "dark", lambda: darkened(building()), installed=lambda: building(1)[0]),
        Case("vtest overexposed", "bright", lambda: overexposed(full()), installed=lambda: full(1)[0]),
        Case("building overexposed", "bright", lambda: overexposed(building()), installed=lambda: building(1)[0]),
        Case("vtest fog", "contrast", lambda: fogged(full()), installed=lambda: full(1)[0]),
        Case("lawn fog", "contrast", lambda: fogged(lawn()), installed=lambda: lawn(1)[0]),
        Case("building fog", "contrast", lambda: fogged(building()), installed=lambda: building(1)[0]),
        Case("vtest rolling bars", "stripes", lambda: striped(full()), installed=lambda: full(1)[0]),
        Case("lawn rolling bars", "stripes", lambda: striped(lawn()), installed=lambda: lawn(1)[0]),
        Case("building rolling bars", "stripes", lambda: striped(building()), installed=lambda: building(1)[0]),
        Case("vtest shaking", "shake", lambda: shaken(full()), installed=lambda: full(1)[0]),
        Case("building shaking", "shake", lambda: shaken(building()), installed=lambda: building(1)[0]),
        Case("tree shaking", "shake", lambda: shaken(tree()), installed=lambda: tree(1)[0]),
        Case("vtest turned", "scene_change", lambda: turned(full(), turn_at), onset_s=turn_at / FPS),
        Case("building turned", "scene_change", lambda: turned(building(), turn_at), onset_s=turn_at / FPS),
        Case("black", "blank", black),
        Case("no signal (blue)", "blank", no_signal),
    ]
