"""Synthetic camera clips for the RTSP simulator.

Each clip is a raw Annex-B elementary stream (``.h264`` / ``.h265``) that loops seamlessly: it holds a
whole number of GOPs, every GOP starts with an IDR carrying its parameter sets, and all motion is
periodic over the clip, so the server can replay it forever without re-encoding. The burned-in clock
is the one thing that jumps back at the loop point, as it would on a camera whose clock was reset.

``FAULT_CLIPS`` are short 720p clips of broken cameras (black, blurred, covered, colour cast, noisy,
moved) for the picture-quality tests; they are made only by :func:`make_fault_clips`, never by the
demo. The "moved" clip does not loop seamlessly: its view jumps back at the loop point.

``SMART_CLIPS`` are streams as "smart" codecs send them (Hikvision H.264+/H.265+, Dahua Smart Codec):
variable bitrate with a quality target instead of a bitrate, keyframes 4 to 10 s apart, and a night
picture at a lowered frame rate. Made only by :func:`make_smart_clips`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np
import numpy.typing as npt

# Bump whenever the pictures or encoder settings change, so cached clips are regenerated.
GENERATOR_VERSION = 4

Codec = Literal["h264", "h265"]
Image = npt.NDArray[np.uint8]

_EXTENSIONS: dict[Codec, str] = {"h264": ".h264", "h265": ".h265"}
_MUXERS: dict[Codec, str] = {"h264": "h264", "h265": "hevc"}
_GRAIN_MARGIN = 64
_OSD_EPOCH = datetime(2024, 5, 1, 8, 0, 0)  # fixed, so that clips are reproducible


@dataclass(frozen=True)
class ClipInfo:
    name: str
    path: Path
    codec: Codec
    width: int
    height: int
    fps: float  # 12.5 for a PAL camera at half rate; whole numbers stay ints, so cached sidecars still match
    frames: int
    gop: int

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    @property
    def gop_seconds(self) -> float:
        return self.gop / self.fps


# --- people ------------------------------------------------------------------------------------------

# Rectangles (x0, y0, x1, y1) around one person in the ultralytics sample images.
_PERSON_CROPS: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "coat": ("bus.jpg", (45, 385, 250, 912)),
    "black": ("bus.jpg", (222, 398, 348, 880)),
    "suit": ("zidane.jpg", (745, 40, 1150, 720)),
}


def _assets_dir() -> Path:
    # Only the data files are needed: importing ultralytics would pull in torch.
    spec = importlib.util.find_spec("ultralytics")
    locations = spec.submodule_search_locations if spec else None
    if not locations:
        raise FileNotFoundError(
            "ultralytics sample images not found: pip install --no-deps ultralytics-opencv-headless==8.4.190"
        )
    return Path(locations[0]) / "assets"


@dataclass(frozen=True)
class _Sprite:
    image: npt.NDArray[np.float32]
    alpha: npt.NDArray[np.float32]  # H x W x 1, soft edge so the crop's own background fades out

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def _load_person(key: str, height: int, *, mirror: bool = False) -> _Sprite:
    file_name, (x0, y0, x1, y1) = _PERSON_CROPS[key]
    path = _assets_dir() / file_name
    picture = cv2.imread(str(path))
    if picture is None:
        raise FileNotFoundError(f"cannot read sample image {path}")
    crop = picture[y0:y1, x0:x1]
    width = max(1, round(crop.shape[1] * height / crop.shape[0]))
    crop = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
    if mirror:
        crop = crop[:, ::-1]
    # A super-ellipse keeps head and feet while hiding the rectangle's corners.
    ys = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    xs = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    radius = (xs**4 + ys**4) ** 0.25
    alpha = np.clip((1.0 - radius) / 0.2, 0.0, 1.0)[:, :, None]
    return _Sprite(crop.astype(np.float32), alpha.astype(np.float32))


@dataclass(frozen=True)
class _Walker:
    """A person crossing the frame horizontally, `laps` times per clip, bobbing with each step."""

    sprite: _Sprite
    feet_y: float  # fraction of frame height where the feet are
    laps: int = 1
    steps: int = 8  # steps per lap; integer so the bob is periodic too
    phase: float = 0.0
    leftwards: bool = False

    def position(self, n: int, frames: int, frame_width: int) -> tuple[int, int]:
        """Top-left corner of the sprite in frame n; periodic in n with period `frames`."""
        u = (n * self.laps / frames + self.phase) % 1.0
        if self.leftwards:
            u = 1.0 - u
        travel = frame_width + self.sprite.width
        x = round(u * travel) - self.sprite.width
        bob = abs(np.sin(np.pi * self.steps * u)) * self.sprite.height * 0.015
        return x, round(-bob)


def _paste(canvas: Image, sprite: _Sprite, x: int, y: int) -> None:
    h, w = canvas.shape[:2]
    cx0, cy0 = max(x, 0), max(y, 0)
    cx1, cy1 = min(x + sprite.width, w), min(y + sprite.height, h)
    if cx0 >= cx1 or cy0 >= cy1:
        return
    src = np.s_[cy0 - y : cy1 - y, cx0 - x : cx1 - x]
    roi = canvas[cy0:cy1, cx0:cx1].astype(np.float32)
    alpha = sprite.alpha[src]
    canvas[cy0:cy1, cx0:cx1] = (roi + (sprite.image[src] - roi) * alpha).astype(np.uint8)


# --- scenes ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Palette:
    wall_top: tuple[int, int, int]
    wall_bottom: tuple[int, int, int]
    floor_far: tuple[int, int, int]
    floor_near: tuple[int, int, int]
    accent: tuple[int, int, int]


_DAY = _Palette((200, 205, 210), (150, 160, 170), (120, 125, 130), (70, 75, 85), (40, 90, 160))
_WARM = _Palette((170, 200, 225), (120, 150, 180), (100, 120, 140), (50, 65, 80), (150, 70, 40))
_NIGHT = _Palette((14, 12, 12), (10, 9, 9), (9, 9, 9), (5, 5, 5), (18, 16, 14))


def _gradient(rows: int, width: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image:
    t = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None, None]
    column = np.array(top, np.float32) * (1.0 - t) + np.array(bottom, np.float32) * t
    return np.repeat(column, width, axis=1).astype(np.uint8)


def _background(width: int, height: int, palette: _Palette, layout: int) -> Image:
    """A corridor-like scene: wall, tiled floor in perspective, a door, windows, a pillar."""
    horizon = int(height * 0.45)
    image = np.vstack(
        [
            _gradient(horizon, width, palette.wall_top, palette.wall_bottom),
            _gradient(height - horizon, width, palette.floor_far, palette.floor_near),
        ]
    )
    s = height / 1080
    line = tuple(max(0, c - 25) for c in palette.floor_near)
    vanish_x = width * (0.35 + 0.3 * layout)
    for k in range(-12, 13):
        cv2.line(image, (int(vanish_x + k * 60 * s), horizon), (int(width / 2 + k * 260 * s), height), line, 1)
    y, step = float(horizon), 12.0 * s
    while y < height:
        cv2.line(image, (0, int(y)), (width, int(y)), line, 1)
        step *= 1.35
        y += step
    dark = tuple(max(0, c - 60) for c in palette.wall_bottom)
    door_x = int(width * (0.12 if layout == 0 else 0.7))
    cv2.rectangle(image, (door_x, int(horizon - 330 * s)), (door_x + int(170 * s), horizon), dark, -1)
    cv2.rectangle(image, (door_x, int(horizon - 330 * s)), (door_x + int(170 * s), horizon), palette.accent, 3)
    for i in range(3):
        wx = int(width * (0.4 + 0.15 * i)) if layout == 0 else int(width * (0.08 + 0.15 * i))
        cv2.rectangle(image, (wx, int(90 * s)), (wx + int(200 * s), int(260 * s)), palette.wall_top, -1)
        cv2.rectangle(image, (wx, int(90 * s)), (wx + int(200 * s), int(260 * s)), dark, 2)
    pillar_x = int(width * (0.85 if layout == 0 else 0.5))
    cv2.rectangle(image, (pillar_x, 0), (pillar_x + int(90 * s), int(horizon + 40 * s)), dark, -1)
    sign_x, sign_y = door_x + int(25 * s), int(horizon - 400 * s)
    cv2.rectangle(image, (sign_x, sign_y), (sign_x + int(120 * s), sign_y + int(50 * s)), (40, 150, 40), -1)
    cv2.putText(image, "EXIT", (sign_x + int(14 * s), sign_y + int(40 * s)), cv2.FONT_HERSHEY_SIMPLEX, 1.2 * s,
                (255, 255, 255), max(1, round(2 * s)), cv2.LINE_AA)  # fmt: skip
    return image


def draw_osd(image: Image, label: str, when: datetime) -> None:
    """Burn in a clock and a camera name, as real cameras do (white text with a dark outline)."""
    height, width = image.shape[:2]
    scale = height / 1080 * 1.3
    thick = max(1, round(height / 1080 * 3))
    font = cv2.FONT_HERSHEY_SIMPLEX
    stamp = when.strftime("%Y-%m-%d %H:%M:%S")
    for text, origin in ((stamp, (int(30 * scale), int(50 * scale))),
                         (label, (width - int(30 * scale) - cv2.getTextSize(label, font, scale, thick)[0][0],
                                  height - int(30 * scale)))):  # fmt: skip
        cv2.putText(image, text, origin, font, scale, (0, 0, 0), thick + 3, cv2.LINE_AA)
        cv2.putText(image, text, origin, font, scale, (255, 255, 255), thick, cv2.LINE_AA)


# What happens to the picture between the scene and the sensor (defocus, a hand on the lens, the camera
# turned): (image, frame number, frame count) -> image.
Lens = Callable[[Image, int, int], Image]


@dataclass(frozen=True)
class _Scene:
    background: Image
    label: str
    walkers: tuple[_Walker, ...] = ()
    frozen: bool = False  # the picture stops after the first frame; the camera's clock keeps running
    noise: int = 0  # per-pixel sensor noise adds 0..noise 8-bit levels
    seed: int = 0
    extras: tuple[Callable[[Image, int, int], None], ...] = ()
    lens: tuple[Lens, ...] = ()
    colour_gains: tuple[float, float, float] | None = None  # B, G, R gains of a miscoloured sensor

    def _grain_field(self, rng: np.random.Generator) -> Image:
        height, width = self.background.shape[:2]
        size = (height + _GRAIN_MARGIN, width + _GRAIN_MARGIN, 1)
        luma = rng.integers(0, self.noise + 1, size=size, dtype=np.uint8)
        return np.repeat(luma, 3, axis=2)

    def frames(self, count: int, fps: float) -> Iterator[Image]:
        rng = np.random.default_rng(self.seed)
        height, width = self.background.shape[:2]
        grain = self._grain_field(rng) if self.noise else None
        gains = np.diag(np.array(self.colour_gains, np.float32)) if self.colour_gains else None
        still: Image | None = None
        for n in range(count):
            if self.frozen and still is not None:
                # A frozen encoder keeps stamping its clock on the last picture it got: only the OSD changes,
                # which is what the frozen check must see through.
                image = still.copy()
                draw_osd(image, self.label, _OSD_EPOCH + timedelta(seconds=n // fps))
                yield image
                continue
            image = self.background.copy()
            for extra in self.extras:
                extra(image, n, count)
            for walker in sorted(self.walkers, key=lambda w: w.feet_y):  # nearer people drawn last
                x, bob = walker.position(n, count, width)
                _paste(image, walker.sprite, x, int(walker.feet_y * height) - walker.sprite.height + bob)
            # Light goes through the lens, then the sensor adds its noise and colour, then the encoder
            # burns in the OSD: so the OSD stays sharp, unmoved and uncoloured whatever the lens does.
            for lens in self.lens:
                image = lens(image, n, count)
            if grain is not None:
                # A random window into one larger grain field: per-frame noise at a fraction of the cost.
                dy, dx = (int(v) for v in rng.integers(0, _GRAIN_MARGIN, size=2))
                image = np.asarray(cv2.add(image, grain[dy : dy + height, dx : dx + width]), np.uint8)
            if gains is not None:
                image = np.asarray(cv2.transform(image, gains), np.uint8)  # saturates, as a sensor clips
            still = image.copy() if self.frozen else image
            draw_osd(image, self.label, _OSD_EPOCH + timedelta(seconds=n // fps))
            yield image


def _sliding_box(color: tuple[int, int, int], y_frac: float) -> Callable[[Image, int, int], None]:
    """A box (a trolley, a car) crossing once per clip, for a scene with motion but no person."""

    def draw(image: Image, n: int, count: int) -> None:
        height, width = image.shape[:2]
        box_w, box_h = int(width * 0.18), int(height * 0.12)
        x = int((n / count) * (width + box_w)) - box_w
        y = int(height * y_frac)
        cv2.rectangle(image, (x, y), (x + box_w, y + box_h), color, -1)
        cv2.rectangle(image, (x, y), (x + box_w, y + box_h), (20, 20, 20), 3)

    return draw


def _defocus(sigma_1080: float) -> Lens:
    """A lens out of focus: a Gaussian blur of `sigma_1080` px at 1080p, scaled to the frame's height."""

    def blur(image: Image, n: int, count: int) -> Image:
        sigma = sigma_1080 * image.shape[0] / 1080
        return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), np.uint8)

    return blur


def _hand_on_lens(width: int, height: int) -> Lens:
    """A palm close to the lens, from the lower right: unlit, far out of focus, over about 75 % of the picture."""
    s = height / 1080
    mask = np.zeros((height, width), np.float32)
    cv2.ellipse(
        mask, (int(width * 0.7), int(height * 0.75)), (int(width * 0.5), int(height * 0.9)), -20, 0, 360, 1.0, -1
    )
    for i in range(3):  # the fingers' ends reach up to the top left, blurred into one shape
        cv2.ellipse(mask, (int(width * (0.33 + 0.1 * i)), int(height * (0.25 - 0.06 * i))),
                    (int(110 * s), int(280 * s)), 30, 0, 360, 1.0, -1)  # fmt: skip
    # So close to the lens the hand is a blur several percent of the frame wide, with no texture left.
    alpha = cv2.GaussianBlur(mask, (0, 0), 25 * s)[:, :, None]
    # Skin in its own shadow; light leaking round the edge makes it a little brighter towards the top left.
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    shade = 1.25 - 0.35 * (xs + ys) / 2
    palm = np.array((22, 28, 40), np.float32) * shade

    def cover(image: Image, n: int, count: int) -> Image:
        return np.asarray(image * (1.0 - alpha) + palm * alpha, np.uint8)

    return cover


def _knocked(at: float, shift: float, angle: float) -> Lens:
    """The camera turned by `shift` of the frame width and rolled by `angle` degrees from `at` of the clip on."""

    def turn(image: Image, n: int, count: int) -> Image:
        if n < at * count:
            return image
        height, width = image.shape[:2]
        m = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        m[0, 2] += shift * width
        # What comes into view at the edge is unknown; a mirror of the scene is as plausible as anything.
        return np.asarray(cv2.warpAffine(image, m, (width, height), borderMode=cv2.BORDER_REFLECT), np.uint8)

    return turn


# --- clip catalogue ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ClipSpec:
    name: str
    codec: Codec
    width: int
    height: int
    bitrate: int  # the target (abr), or the cap on a burst of motion (crf)
    scene: Callable[[int, int], _Scene]  # (width, height) -> scene; built only when encoding
    fps: float = 25
    gop_seconds: float = 2  # a whole number of frames at `fps`
    # None: average bitrate (abr), as fixed-rate cameras. A number: constant quality at this x264/x265
    # CRF with `bitrate` as a cap, as smart codecs do: the bitrate follows the scene, near nothing on a
    # still one, and the keyframes (the whole picture) dwarf the rest.
    crf: int | None = None

    @property
    def gop(self) -> int:
        return round(self.gop_seconds * self.fps)


def _hd_h264_scene(w: int, h: int) -> _Scene:
    return _Scene(
        _background(w, h, _DAY, 0),
        "CAM01 ENTRANCE",
        (
            _Walker(_load_person("coat", int(h * 0.5)), feet_y=0.93, steps=10),
            _Walker(_load_person("black", int(h * 0.3), mirror=True), feet_y=0.7, phase=0.4, leftwards=True),
        ),
    )


def _hd_h265_scene(w: int, h: int) -> _Scene:
    return _Scene(
        _background(w, h, _WARM, 1),
        "CAM02 LOBBY",
        (
            _Walker(_load_person("suit", int(h * 0.55), mirror=True), feet_y=1.02, leftwards=True, steps=6),
            _Walker(_load_person("coat", int(h * 0.28)), feet_y=0.68, laps=2, phase=0.25, steps=6),
        ),
    )


def _sd_scene(w: int, h: int) -> _Scene:
    return _Scene(
        _background(w, h, _DAY, 1),
        "CAM03 GATE",
        (_Walker(_load_person("black", int(h * 0.55)), feet_y=0.92, steps=8),),
    )


def _frozen_scene(w: int, h: int) -> _Scene:
    return _Scene(
        _background(w, h, _DAY, 0),
        "CAM04 STORE",
        (_Walker(_load_person("coat", int(h * 0.5)), feet_y=0.93, phase=0.5),),
        frozen=True,
    )


def _dark_scene(w: int, h: int) -> _Scene:
    return _Scene(_background(w, h, _NIGHT, 0), "CAM05 YARD", noise=6, seed=5)


def _hd720_scene(w: int, h: int) -> _Scene:
    return _Scene(_background(w, h, _WARM, 0), "CAM06 LOADING", extras=(_sliding_box((30, 120, 200), 0.62),))


CLIPS: tuple[_ClipSpec, ...] = (
    _ClipSpec("hd_h264", "h264", 1920, 1080, 1_500_000, _hd_h264_scene),
    _ClipSpec("hd_h265", "h265", 1920, 1080, 1_500_000, _hd_h265_scene),
    _ClipSpec("sd_h264", "h264", 704, 576, 600_000, _sd_scene),
    _ClipSpec("frozen", "h264", 1920, 1080, 1_500_000, _frozen_scene),
    _ClipSpec("dark", "h264", 1920, 1080, 1_500_000, _dark_scene),
    _ClipSpec("hd720_h264", "h264", 1280, 720, 1_000_000, _hd720_scene),
    _ClipSpec("hd720_h265", "h265", 1280, 720, 800_000, _hd720_scene),
)
CLIP_NAMES: tuple[str, ...] = tuple(spec.name for spec in CLIPS)


# Broken cameras, for the picture-quality tests. Each is the entrance scene (two people walking, the OSD
# clock running) with one fault, at 720p with a keyframe every second so that a few seconds of clip give
# several keyframes to sample; "frozen" and "dark" are in CLIPS already (the demo serves them).


def _black_scene(w: int, h: int) -> _Scene:
    # A capped lens or a dead sensor: black with a little sensor noise, the OSD still drawn by the encoder.
    return _Scene(np.zeros((h, w, 3), np.uint8), "CAM11 BLACK", noise=3, seed=11)


def _blurred_scene(w: int, h: int) -> _Scene:
    # sigma 6 px at 1080p (4 px here): faces and the floor tiles smear; the burned-in OSD stays sharp.
    return replace(_hd_h264_scene(w, h), label="CAM12 DEFOCUSED", lens=(_defocus(6.0),))


def _covered_scene(w: int, h: int) -> _Scene:
    return replace(_hd_h264_scene(w, h), label="CAM13 COVERED", lens=(_hand_on_lens(w, h),))


def _colour_cast_scene(w: int, h: int) -> _Scene:
    # A lost IR-cut filter in daylight: infrared reaches the red and blue pixels, green lags: a pink-purple cast.
    return replace(_hd_h264_scene(w, h), label="CAM14 IR-CUT", colour_gains=(1.15, 0.75, 1.35))


_NOISY_GRAIN = 80  # uniform 0..80 levels: sigma 23 at full resolution, like a sensor at maximum gain


def _noisy_scene(w: int, h: int) -> _Scene:
    base = _hd_h264_scene(w, h)
    # The grain only adds; darkening the scene by its mean keeps the exposure where it was.
    background = np.asarray(cv2.subtract(base.background, np.full_like(base.background, _NOISY_GRAIN // 2)), np.uint8)
    return replace(base, background=background, label="CAM15 NOISY", noise=_NOISY_GRAIN, seed=15)


def _moved_scene(w: int, h: int) -> _Scene:
    # Knocked half way: turned by 12 % of the field of view and rolled 4 degrees (the threshold is ~4 %).
    return replace(_hd_h264_scene(w, h), label="CAM16 MOVED", lens=(_knocked(0.5, 0.12, 4.0),))


# 10 fps, as many cameras record, to keep generation cheap. The noisy clip gets a camera's full 720p
# bitrate: at 1 Mbit/s x264 smooths the grain of some keyframes away (the noise check then reads 2.6..9.3).
FAULT_CLIPS: tuple[_ClipSpec, ...] = (
    _ClipSpec("black", "h264", 1280, 720, 1_000_000, _black_scene, fps=10, gop_seconds=1),
    _ClipSpec("blurred", "h264", 1280, 720, 1_000_000, _blurred_scene, fps=10, gop_seconds=1),
    _ClipSpec("covered", "h264", 1280, 720, 1_000_000, _covered_scene, fps=10, gop_seconds=1),
    _ClipSpec("colour_cast", "h264", 1280, 720, 1_000_000, _colour_cast_scene, fps=10, gop_seconds=1),
    _ClipSpec("noisy", "h264", 1280, 720, 4_000_000, _noisy_scene, fps=10, gop_seconds=1),
    _ClipSpec("moved", "h264", 1280, 720, 1_000_000, _moved_scene, fps=10, gop_seconds=1),
)
FAULT_CLIP_NAMES: tuple[str, ...] = tuple(spec.name for spec in FAULT_CLIPS)


# Smart codecs, for the stream-figure tests: what real cameras send once "H.264+" or "Smart Codec" is on.

# An IR-lit night picture: monochrome, dimmer than day but well above the `dark` threshold (mean luma
# 35), with the grain of a sensor at high gain. Cameras lengthen the exposure at night and lower the
# frame rate to fit it (25 -> 12.5 fps), keeping the GOP in frames, so the keyframe interval in seconds
# doubles.
_IR_NIGHT = _Palette((120, 120, 120), (92, 92, 92), (84, 84, 84), (58, 58, 58), (140, 140, 140))


def _still_scene(w: int, h: int) -> _Scene:
    # Nothing moves but the OSD clock: a smart codec's P-frames carry a few hundred bytes.
    return _Scene(_background(w, h, _DAY, 0), "CAM21 STAIRS")


def _smart_h265_scene(w: int, h: int) -> _Scene:
    return _Scene(_background(w, h, _WARM, 1), "CAM22 HALL", extras=(_sliding_box((30, 120, 200), 0.62),))


def _night_scene(w: int, h: int) -> _Scene:
    return _Scene(_background(w, h, _IR_NIGHT, 1), "CAM23 NIGHT", noise=8, seed=23)


SMART_CLIPS: tuple[_ClipSpec, ...] = (
    # (a) H.264+ on a still scene: 10 s GOP, the bitrate falls to a few tens of kb/s.
    _ClipSpec("smart_h264_still", "h264", 1920, 1080, 2_000_000, _still_scene, gop_seconds=10, crf=28),
    # (b) H.265+ with some motion (a trolley crossing): 8 s GOP.
    _ClipSpec("smart_h265", "h265", 1280, 720, 1_000_000, _smart_h265_scene, gop_seconds=8, crf=30),
    # (c) Night: 12.5 fps, the day's 50-frame GOP now 4 s long.
    _ClipSpec("night_h264", "h264", 1920, 1080, 2_000_000, _night_scene, fps=12.5, gop_seconds=4, crf=28),
)
SMART_CLIP_NAMES: tuple[str, ...] = tuple(spec.name for spec in SMART_CLIPS)


# What an NVR keeps on disk, for the recording store (sim/recordings.py): a small sub-stream-sized clip
# that the store's segment files are made from. 10 fps with a keyframe every second, so a replay can
# start within a second of any requested time.


def _recording_scene(w: int, h: int) -> _Scene:
    return replace(_hd_h264_scene(w, h), label="NVR RECORDING")


RECORDING_CLIPS: tuple[_ClipSpec, ...] = (
    _ClipSpec("nvr_h264", "h264", 640, 360, 300_000, _recording_scene, fps=10, gop_seconds=1),
)
RECORDING_CLIP_NAMES: tuple[str, ...] = tuple(spec.name for spec in RECORDING_CLIPS)


def loop_frames(seconds: float, fps: float, gop: int) -> int:
    """Frames in a clip of about `seconds`: a whole number (at least one) of GOPs, so the loop
    point is an ordinary GOP boundary."""
    return max(1, round(seconds * fps / gop)) * gop


# --- encoding ----------------------------------------------------------------------------------------


def _encoder_options(spec: _ClipSpec, gop: int, *, steady: bool = False) -> dict[str, str]:
    # Fixed GOP (no scene cuts), no B-frames, closed GOPs and parameter sets before every IDR,
    # so that any keyframe is a valid place to start or loop.
    kbps = spec.bitrate // 1000
    common = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:repeat-headers=1"
    if steady:
        # A frozen encoder has long settled its rate control on the one picture it repeats. A short
        # clip encoded with a bitrate target would replay the first seconds of rate control (each
        # keyframe quantised differently) at every loop: a constant quantiser is that steady state.
        if spec.codec == "h264":
            return {"preset": "veryfast", "x264-params": f"{common}:qp=26"}
        return {"preset": "ultrafast", "x265-params": f"{common}:qp=28:open-gop=0:log-level=error:info=0"}
    vbv = f"vbv-maxrate={kbps * 3 // 2}:vbv-bufsize={kbps * 2}"
    if spec.crf is not None:
        # Constant quality capped at the bitrate, the buffer a whole second deep so that a keyframe
        # (the full picture, tens of times a P-frame) is not starved.
        vbv = f"crf={spec.crf}:vbv-maxrate={kbps}:vbv-bufsize={kbps}"
    if spec.codec == "h264":
        return {"preset": "veryfast", "x264-params": f"{common}:{vbv}"}
    return {"preset": "ultrafast", "x265-params": f"{common}:open-gop=0:{vbv}:log-level=error:info=0"}


def _encode(spec: _ClipSpec, target: Path, frames: int, gop: int) -> None:
    scene = spec.scene(spec.width, spec.height)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with av.open(str(tmp), mode="w", format=_MUXERS[spec.codec]) as container:
            stream = container.add_stream(
                "libx264" if spec.codec == "h264" else "libx265",
                # 12.5 fps is 25/2, not a float: the SPS timing info must say exactly that.
                rate=Fraction(spec.fps).limit_denominator(1001),
                options=_encoder_options(spec, gop, steady=scene.frozen),
            )
            stream.width = spec.width
            stream.height = spec.height
            stream.pix_fmt = "yuv420p"
            # PyAV defaults to slice threads, which makes libx264 cut every picture into several slices.
            stream.thread_type = "FRAME"
            if spec.crf is None and not scene.frozen:
                # A bit rate given to the encoder makes it aim at that rate, overriding the CRF.
                stream.bit_rate = spec.bitrate
            for n, image in enumerate(scene.frames(frames, spec.fps)):
                # OpenCV's BGR->I420 (BT.601, limited range, like swscale's default) is ~3x faster.
                i420 = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), np.uint8)
                frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
                frame.pts = n
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        tmp.chmod(0o644)  # mkstemp's 0600 would hide the clips from a server run as another user
        tmp.replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _sidecar(info: ClipInfo) -> dict[str, object]:
    # The path is stored relative, so that a clip directory can be moved.
    return {"generator_version": GENERATOR_VERSION, **asdict(info), "path": info.path.name}


def _is_cached(info: ClipInfo, sidecar_path: Path) -> bool:
    if not info.path.is_file() or info.path.stat().st_size == 0:
        return False
    try:
        return bool(json.loads(sidecar_path.read_text()) == _sidecar(info))
    except (OSError, ValueError):
        return False


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    Path(tmp_name).chmod(0o644)
    Path(tmp_name).replace(path)


def make_clips(
    out_dir: Path,
    *,
    seconds: float = 8.0,
    force: bool = False,
    names: Iterable[str] | None = None,
) -> dict[str, ClipInfo]:
    """Generate (or reuse from cache) the simulator clips in `out_dir`, keyed by clip name.

    `seconds` is rounded to a whole number of 2-second GOPs. `names` selects a subset of CLIP_NAMES.
    """
    return _make(CLIPS, out_dir, seconds=seconds, force=force, names=names)


def make_fault_clips(
    out_dir: Path,
    *,
    seconds: float = 6.0,
    force: bool = False,
    names: Iterable[str] | None = None,
) -> dict[str, ClipInfo]:
    """Generate (or reuse from cache) the fault clips (FAULT_CLIP_NAMES) in `out_dir`, keyed by clip name.

    Separate from :func:`make_clips` so that the demo never waits for them. `seconds` is rounded to whole
    1-second GOPs: 6 s give six keyframes, three on each side of the "moved" clip's turn.
    """
    return _make(FAULT_CLIPS, out_dir, seconds=seconds, force=force, names=names)


def make_smart_clips(
    out_dir: Path,
    *,
    seconds: float = 8.0,
    force: bool = False,
    names: Iterable[str] | None = None,
) -> dict[str, ClipInfo]:
    """Generate (or reuse from cache) the smart-codec clips (SMART_CLIP_NAMES) in `out_dir`, keyed by name.

    `seconds` is rounded to whole GOPs, at least one: the default gives one GOP of the 8 and 10 s GOP
    clips and two of the 4 s one.
    """
    return _make(SMART_CLIPS, out_dir, seconds=seconds, force=force, names=names)


def make_recording_clips(
    out_dir: Path,
    *,
    seconds: float = 10.0,
    force: bool = False,
    names: Iterable[str] | None = None,
) -> dict[str, ClipInfo]:
    """Generate (or reuse from cache) the recording clips (RECORDING_CLIP_NAMES) in `out_dir`, keyed by name:
    640x360 H.264 at 10 fps, `seconds` rounded to whole 1-second GOPs."""
    return _make(RECORDING_CLIPS, out_dir, seconds=seconds, force=force, names=names)


def _make(
    specs: tuple[_ClipSpec, ...],
    out_dir: Path,
    *,
    seconds: float,
    force: bool,
    names: Iterable[str] | None,
) -> dict[str, ClipInfo]:
    known = [spec.name for spec in specs]
    wanted = set(known if names is None else names)
    unknown = wanted - set(known)
    if unknown:
        raise ValueError(f"unknown clip names {sorted(unknown)}; known: {', '.join(known)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    clips: dict[str, ClipInfo] = {}
    for spec in specs:
        if spec.name not in wanted:
            continue
        gop = spec.gop
        info = ClipInfo(
            name=spec.name,
            path=(out_dir / f"{spec.name}{_EXTENSIONS[spec.codec]}").resolve(),
            codec=spec.codec,
            width=spec.width,
            height=spec.height,
            fps=spec.fps,
            frames=loop_frames(seconds, spec.fps, gop),
            gop=gop,
        )
        sidecar_path = out_dir / f"{spec.name}.json"
        if force or not _is_cached(info, sidecar_path):
            _encode(spec, info.path, info.frames, gop)
            _write_atomic(sidecar_path, json.dumps(_sidecar(info), indent=2) + "\n")
        clips[spec.name] = info
    return clips
