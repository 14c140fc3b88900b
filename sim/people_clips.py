"""Short 720p clips with people composited in, and their ground truth, for the analytics acceptance tests.

Each clip acts out one scenario the person/behaviour pipeline must handle (``walk``: line crossing both
ways, ``loiter``, ``crowd``, ``fall``, ``empty``: motion without anyone). People are the crops from the
ultralytics sample photos that :mod:`sim.clips` uses, sized by perspective (about 200-330 px tall
on the floor), so a person detector at a few hundred pixels input sees them well.

A clip is an H.264 Annex-B stream, encoded as :mod:`sim.clips` does (fixed GOP, no B-frames,
parameter sets before every IDR), at 10 fps with a keyframe every second. Unlike the simulator clips these
do not loop seamlessly: a scenario has a beginning and an end. Next to each clip a ``<name>.json`` sidecar
holds its parameters, the generator version and the ground truth; see :class:`PeopleClip` and
``samples/README.md`` for the format. The ground truth is computed from the same plan that draws the
pictures, so it holds exactly (up to the soft edge of the pasted crops).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from sim import clips
from sim.clips import Image

# Bump whenever pictures, scenarios or the ground-truth format change, so cached clips are regenerated.
GENERATOR_VERSION = 1

WIDTH, HEIGHT = 1280, 720
FPS = 10  # as many cameras record; also keeps generating all five clips well under 30 s
GOP = FPS  # a keyframe every second
BITRATE = 1_000_000

PEOPLE_CLIP_NAMES: tuple[str, ...] = ("walk", "loiter", "crowd", "fall", "empty")

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in frame pixels, x2/y2 exclusive
Point = tuple[int, int]

_HORIZON = 0.45  # where clips._background puts the wall/floor edge, as a fraction of the height
_PERSPECTIVE = 0.9  # person height = _PERSPECTIVE * (feet y - horizon y): 330 px at the bottom edge

# The person's tight box in the ultralytics sample photos (measured with YOLO11n-pose), and the photo.
_CROPS: dict[str, tuple[str, Box]] = {
    "coat": ("bus.jpg", (48, 396, 246, 906)),
    "black": ("bus.jpg", (222, 405, 344, 859)),
}
_MARGIN = 0.05  # photo kept round the tight box, as a fraction of its height, faded out to hide its edge


# --- ground truth ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Track:
    """One person through one clip; every tuple has one entry per frame, None while out of the picture."""

    person: int
    crop: str
    boxes: tuple[Box | None, ...]  # the pasted person's box, clipped to the frame
    visible: tuple[float | None, ...]  # share of the box inside the frame: 1.0 when fully in view
    tilt: tuple[float | None, ...]  # degrees from upright (90: lying on the floor)
    feet: tuple[Point | None, ...]  # the point the person stands on (bottom centre when upright)


@dataclass(frozen=True)
class PeopleClip:
    name: str
    path: Path
    description: str
    width: int
    height: int
    fps: int
    frames: int
    gop: int
    # Named polygons and lines in frame pixels for the rules under test: "line" (2 points) with "towards"
    # (1 point on the side a crossing counts as "towards"), "area" (a polygon on the floor).
    geometry: dict[str, tuple[Point, ...]]
    tracks: tuple[Track, ...]
    in_area: tuple[int, ...] | None  # people whose feet are inside geometry["area"], per frame
    phases: dict[str, tuple[int, int]]  # named frame ranges [first, end) of the scenario
    events: tuple[dict[str, int | str], ...]  # what a correct pipeline reports: crossings, area entries ...
    codec: Literal["h264"] = "h264"

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    def boxes_at(self, frame: int) -> dict[int, Box]:
        return {t.person: box for t in self.tracks if (box := t.boxes[frame]) is not None}


# --- people and how they move ------------------------------------------------------------------------

Motion = Literal["walk", "stand", "lie"]


@dataclass(frozen=True)
class _Key:
    """Where a person is at `frame`; `motion` says how they move from here to the next key."""

    frame: int
    x: float  # feet, frame pixels
    y: float
    tilt: float = 0.0  # degrees, positive: the head towards +x
    motion: Motion = "walk"


@dataclass(frozen=True)
class _Actor:
    crop: str
    keys: tuple[_Key, ...]  # present from the first key's frame up to (not including) the last one's
    mirror: bool = False
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)  # B, G, R gains, so two copies of a crop differ
    phase: float = 0.0  # offsets the sway, so that people standing together do not sway in step


@dataclass(frozen=True)
class _Pose:
    x: float
    y: float
    tilt: float
    height: float


def _person_height(feet_y: float) -> float:
    return _PERSPECTIVE * (feet_y - _HORIZON * HEIGHT)


def _pose(actor: _Actor, n: int) -> _Pose | None:
    keys = actor.keys
    if n < keys[0].frame or n >= keys[-1].frame:
        return None
    k = next(i for i in range(len(keys) - 1) if keys[i].frame <= n < keys[i + 1].frame)
    a, b = keys[k], keys[k + 1]
    u = (n - a.frame) / (b.frame - a.frame)
    x, y, tilt = a.x + (b.x - a.x) * u, a.y + (b.y - a.y) * u, a.tilt + (b.tilt - a.tilt) * u
    height = _person_height(a.y if a.motion == "lie" else y)
    t = n / FPS + actor.phase
    if a.motion == "walk":
        # A step every ~0.45 body heights; the body rises a little at mid-step.
        travelled = math.hypot(x - a.x, y - a.y)
        y -= abs(math.sin(math.pi * travelled / (0.45 * height))) * 0.015 * height
    elif a.motion == "stand":
        # Weight shifting from foot to foot: nobody stands pixel-still, and a frozen crop would look frozen.
        x += 5.0 * math.sin(2 * math.pi * t / 2.7)
        tilt += 1.5 * math.sin(2 * math.pi * t / 3.3)
    else:
        x += 1.5 * math.sin(2 * math.pi * t / 3.1)  # breathing, a hand moving
        tilt += 0.8 * math.sin(2 * math.pi * t / 2.3)
    return _Pose(x, y, tilt, height)


@dataclass(frozen=True)
class _Cutout:
    image: np.ndarray  # float32 H x W x 3
    alpha: np.ndarray  # float32 H x W
    box: tuple[float, float, float, float]  # the person's tight box inside the cut-out


@cache
def _photo(file_name: str) -> Image:
    path = clips._assets_dir() / file_name
    picture = cv2.imread(str(path))
    if picture is None:
        raise FileNotFoundError(f"cannot read sample image {path}")
    return np.asarray(picture, np.uint8)


@cache
def _cutout(crop: str, height: int, mirror: bool, tint: tuple[float, float, float]) -> _Cutout:
    """The person scaled so that the tight box is `height` px tall, with a faded margin round it."""
    file_name, (x0, y0, x1, y1) = _CROPS[crop]
    photo = _photo(file_name)
    margin = round((y1 - y0) * _MARGIN)
    cx0, cy0 = max(0, x0 - margin), max(0, y0 - margin)
    cx1, cy1 = min(photo.shape[1], x1 + margin), min(photo.shape[0], y1 + margin)
    scale = height / (y1 - y0)
    size = (max(1, round((cx1 - cx0) * scale)), max(1, round((cy1 - cy0) * scale)))
    image = cv2.resize(photo[cy0:cy1, cx0:cx1], size, interpolation=cv2.INTER_AREA).astype(np.float32)
    image *= np.array(tint, np.float32)
    bx0, by0, bx1, by1 = ((x0 - cx0) * scale, (y0 - cy0) * scale, (x1 - cx0) * scale, (y1 - cy0) * scale)
    # Opaque over the person's box, fading to nothing at the cut-out's edge: the photo's own background
    # (a bus) shows only as a thin halo, and no hard rectangle edge moves across the scene.
    ys = np.arange(size[1], dtype=np.float32)[:, None] + 0.5
    xs = np.arange(size[0], dtype=np.float32)[None, :] + 0.5
    fade = max(1.0, margin * scale)
    outside = np.maximum(np.maximum(bx0 - xs, xs - bx1), np.maximum(by0 - ys, ys - by1))
    alpha = np.clip(1.0 - outside / fade, 0.0, 1.0)
    if mirror:
        image, alpha = image[:, ::-1], alpha[:, ::-1]
        bx0, bx1 = size[0] - bx1, size[0] - bx0
    return _Cutout(np.ascontiguousarray(np.clip(image, 0, 255)), np.ascontiguousarray(alpha), (bx0, by0, bx1, by1))


def _placement(cut: _Cutout, pose: _Pose) -> np.ndarray:
    """Affine map (2 x 3) from cut-out pixels to frame pixels: feet on (pose.x, pose.y), turned by the tilt."""
    bx0, _, bx1, by1 = cut.box
    pivot_x, pivot_y = (bx0 + bx1) / 2, by1
    theta = math.radians(pose.tilt)
    c, s = math.cos(theta), math.sin(theta)
    # y points down, so this turns clockwise on screen: the head goes to +x for a positive tilt.
    matrix = np.array(
        [[c, -s, pose.x - c * pivot_x + s * pivot_y], [s, c, pose.y - s * pivot_x - c * pivot_y]], np.float64
    )
    # Turning about the feet swings one side of the body below the floor; lift it back so that whatever is
    # lowest rests on the floor line, as a fallen body does (upright, that is the feet again).
    matrix[1, 2] -= _box_in_frame(cut, matrix)[3] - pose.y
    return matrix


def _box_in_frame(cut: _Cutout, matrix: np.ndarray) -> tuple[float, float, float, float]:
    bx0, by0, bx1, by1 = cut.box
    corners = np.array([[bx0, by0, 1], [bx1, by0, 1], [bx1, by1, 1], [bx0, by1, 1]], np.float64) @ matrix.T
    return (
        float(corners[:, 0].min()),
        float(corners[:, 1].min()),
        float(corners[:, 0].max()),
        float(corners[:, 1].max()),
    )


def _draw(image: Image, cut: _Cutout, matrix: np.ndarray) -> None:
    h, w = cut.alpha.shape
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], np.float64) @ matrix.T
    x0, y0 = max(0, math.floor(corners[:, 0].min())), max(0, math.floor(corners[:, 1].min()))
    x1 = min(image.shape[1], math.ceil(corners[:, 0].max()))
    y1 = min(image.shape[0], math.ceil(corners[:, 1].max()))
    if x0 >= x1 or y0 >= y1:
        return
    local = matrix.copy()
    local[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    # Warping only the region the person covers keeps a tilted paste about as cheap as a straight one.
    sprite = cv2.warpAffine(cut.image, local, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    alpha = cv2.warpAffine(cut.alpha, local, size, flags=cv2.INTER_LINEAR, borderValue=0)[:, :, None]
    roi = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = (roi + (sprite - roi) * alpha).astype(np.uint8)


# --- scenarios ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scenario:
    name: str
    description: str
    label: str
    seconds: int
    actors: tuple[_Actor, ...] = ()
    geometry: dict[str, tuple[Point, ...]] = field(default_factory=dict)
    phases: dict[str, tuple[int, int]] = field(default_factory=dict)
    extras: tuple[Callable[[Image, int, int], None], ...] = ()  # non-person motion drawn into the scene
    lens: tuple[clips.Lens, ...] = ()

    @property
    def frames(self) -> int:
        return self.seconds * FPS


def _walk() -> _Scenario:
    floor = round(_HORIZON * HEIGHT)
    return _Scenario(
        "walk",
        "one person walks left to right across the whole picture, then after a gap another right to left",
        "CAM21 CORRIDOR",
        13,
        (
            # Start and end with the feet far enough out that the whole person is outside the picture.
            _Actor("coat", (_Key(0, -90, 680), _Key(55, WIDTH + 90, 680))),
            _Actor("black", (_Key(65, WIDTH + 60, 620), _Key(125, -60, 620)), mirror=True),
        ),
        geometry={"line": ((640, floor), (640, HEIGHT - 1)), "towards": ((960, 560),)},
        phases={"first": (0, 55), "gap": (55, 65), "second": (65, 125)},
    )


def _loiter() -> _Scenario:
    return _Scenario(
        "loiter",
        "one person walks in, stays about 13 s in the marked area shifting on their feet, walks out; then nobody",
        "CAM22 LOBBY",
        21,
        (
            _Actor(
                "black",
                (
                    _Key(0, -60, 640),
                    _Key(30, 600, 640, motion="stand"),
                    _Key(70, 625, 652, motion="stand"),
                    _Key(110, 590, 646, motion="stand"),
                    _Key(150, 600, 640),
                    _Key(175, WIDTH + 60, 620),
                ),
            ),
        ),
        geometry={"area": ((440, 520), (800, 520), (870, 705), (370, 705))},
        phases={"walk_in": (0, 30), "stay": (30, 150), "walk_out": (150, 175), "empty": (175, 210)},
    )


def _crowd() -> _Scenario:
    def standing(x: float, y: float, leaves_to: float | None = None) -> tuple[_Key, ...]:
        if leaves_to is None:
            return (_Key(0, x, y, motion="stand"), _Key(140, x, y))
        return (_Key(0, x, y, motion="stand"), _Key(60, x, y), _Key(85, leaves_to, y))

    return _Scenario(
        "crowd",
        "five people stand in the area for 6 s, then the two at the ends walk out, leaving three for 5.5 s",
        "CAM23 HALL",
        14,
        (
            # Copies of the photos' two people, told apart by mirroring and the colour of their clothes.
            _Actor("coat", standing(330, 600, leaves_to=-80), phase=0.3),
            _Actor("black", standing(500, 660), phase=1.1),
            _Actor("coat", standing(670, 585), tint=(0.9, 1.0, 1.2), phase=2.0),
            _Actor("coat", standing(840, 650), mirror=True, tint=(1.25, 1.0, 0.8), phase=0.7),
            _Actor("black", standing(1000, 610, leaves_to=WIDTH + 60), mirror=True, tint=(0.8, 1.0, 1.2)),
        ),
        geometry={"area": ((250, 450), (1030, 450), (1130, 715), (150, 715))},
        phases={"five": (0, 60), "leaving": (60, 85), "three": (85, 140)},
    )


def _fall() -> _Scenario:
    return _Scenario(
        "fall",
        "one person walks slowly for 4 s, falls sideways in 0.5 s and lies nearly still for 5.5 s",
        "CAM24 STAIRS",
        10,
        (
            _Actor(
                "coat",
                (
                    # Near the camera and falling to the right: lying, YOLO11n-pose finds this crop turned
                    # by 80 degrees far more reliably (0.7 at 416 px) than turned to the left or by 86+.
                    _Key(0, 330, 710),
                    _Key(40, 600, 710),
                    _Key(45, 600, 710, tilt=80.0, motion="lie"),
                    _Key(100, 600, 710, tilt=80.0),
                ),
            ),
        ),
        phases={"upright": (0, 40), "falling": (40, 45), "lying": (45, 100)},
    )


def _trolley(image: Image, n: int, count: int) -> None:
    # A cleaning trolley pushed across the floor by nobody in view: motion that is not a person.
    x = round(-260 + (WIDTH + 260) * n / count)
    y = 560
    cv2.rectangle(image, (x, y), (x + 220, y + 90), (40, 110, 170), -1)
    cv2.rectangle(image, (x, y), (x + 220, y + 90), (25, 25, 25), 3)
    cv2.line(image, (x + 220, y + 10), (x + 250, y - 60), (60, 60, 60), 6)
    for wheel_x in (x + 30, x + 190):
        cv2.circle(image, (wheel_x, y + 100), 14, (20, 20, 20), -1)


def _swaying_shadow(image: Image, n: int, count: int) -> None:
    # The shadow of a hanging sign swinging in a draught, on the floor.
    t = n / FPS
    centre = (round(900 + 120 * math.sin(2 * math.pi * t / 3.0)), 470)
    patch = image[400:540, 600:1200]  # wide enough that the blurred shadow never reaches its edge
    shade = np.zeros(patch.shape[:2], np.float32)
    cv2.ellipse(shade, (centre[0] - 600, centre[1] - 400), (110, 28), 0, 0, 360, 0.45, -1)
    soft = cv2.GaussianBlur(shade, (0, 0), 9)[:, :, None]
    patch[:] = (patch * (1.0 - soft)).astype(np.uint8)


def _lights_dim(image: Image, n: int, count: int) -> Image:
    # Half the lights switch off at 3 s and back on at 6 s, fading over half a second each way.
    t = n / FPS
    level = 1.0 - 0.35 * min(1.0, max(0.0, (t - 3.0) / 0.5)) + 0.35 * min(1.0, max(0.0, (t - 6.0) / 0.5))
    return np.asarray(cv2.convertScaleAbs(image, alpha=level), np.uint8)


def _empty() -> _Scenario:
    return _Scenario(
        "empty",
        "nobody: a trolley rolls across, a shadow sways, the lights dim and come back",
        "CAM25 STORE",
        8,
        extras=(_trolley, _swaying_shadow),
        lens=(_lights_dim,),
        phases={"dim": (30, 65)},
    )


_SCENARIOS: dict[str, Callable[[], _Scenario]] = {
    "walk": _walk,
    "loiter": _loiter,
    "crowd": _crowd,
    "fall": _fall,
    "empty": _empty,
}


# --- ground truth from the plan ----------------------------------------------------------------------


def _inside(point: Point, polygon: tuple[Point, ...]) -> bool:
    contour = np.array(polygon, np.float32).reshape(-1, 1, 2)
    return cv2.pointPolygonTest(contour, (float(point[0]), float(point[1])), False) >= 0


def _track(person: int, actor: _Actor, frames: int) -> Track:
    boxes: list[Box | None] = []
    visible: list[float | None] = []
    tilts: list[float | None] = []
    feet: list[Point | None] = []
    for n in range(frames):
        pose = _pose(actor, n)
        box: Box | None = None
        if pose is not None:
            cut = _cutout(actor.crop, round(pose.height), actor.mirror, actor.tint)
            x0, y0, x1, y1 = _box_in_frame(cut, _placement(cut, pose))
            box = (max(0, round(x0)), max(0, round(y0)), min(WIDTH, round(x1)), min(HEIGHT, round(y1)))
        if pose is None or box is None or box[0] >= box[2] or box[1] >= box[3]:
            boxes.append(None)
            visible.append(None)
            tilts.append(None)
            feet.append(None)
            continue
        boxes.append(box)
        inside = (min(x1, WIDTH) - max(x0, 0)) * (min(y1, HEIGHT) - max(y0, 0)) / ((x1 - x0) * (y1 - y0))
        visible.append(round(min(1.0, inside), 3))
        tilts.append(round(pose.tilt, 1))
        feet.append((round(pose.x), round(pose.y)))
    return Track(person, actor.crop, tuple(boxes), tuple(visible), tuple(tilts), tuple(feet))


def _events(scenario: _Scenario, tracks: tuple[Track, ...]) -> list[dict[str, int | str]]:
    events: list[dict[str, int | str]] = []
    line, towards, area = (scenario.geometry.get(k) for k in ("line", "towards", "area"))
    for track in tracks:
        previous: Point | None = None
        for n, point in enumerate(track.feet):
            if point is not None and previous is not None:
                if line is not None and towards is not None:
                    side = _side(line, point)
                    if side != _side(line, previous) and side != 0:
                        direction = "towards" if side == _side(line, towards[0]) else "away"
                        events.append({"frame": n, "kind": "cross", "person": track.person, "direction": direction})
                if area is not None and _inside(point, area) != _inside(previous, area):
                    kind = "enter" if _inside(point, area) else "leave"
                    events.append({"frame": n, "kind": kind, "person": track.person})
            previous = point
        tilts = [(n, t) for n, t in enumerate(track.tilt) if t is not None]
        fallen = next((n for n, t in tilts if t >= 60.0), None)
        if fallen is not None:
            events.append({"frame": fallen, "kind": "fall", "person": track.person})
    return sorted(events, key=lambda e: (int(e["frame"]), int(e["person"])))


def _side(line: tuple[Point, ...], point: Point) -> int:
    (ax, ay), (bx, by) = line[0], line[1]
    cross = (bx - ax) * (point[1] - ay) - (by - ay) * (point[0] - ax)
    return (cross > 0) - (cross < 0)


def _plan(scenario: _Scenario, path: Path) -> PeopleClip:
    tracks = tuple(_track(i + 1, actor, scenario.frames) for i, actor in enumerate(scenario.actors))
    area = scenario.geometry.get("area")
    in_area = None
    if area is not None:
        in_area = tuple(
            sum(1 for t in tracks if (p := t.feet[n]) is not None and _inside(p, area)) for n in range(scenario.frames)
        )
    return PeopleClip(
        name=scenario.name,
        path=path,
        description=scenario.description,
        width=WIDTH,
        height=HEIGHT,
        fps=FPS,
        frames=scenario.frames,
        gop=GOP,
        geometry=scenario.geometry,
        tracks=tracks,
        in_area=in_area,
        phases=scenario.phases,
        events=tuple(_events(scenario, tracks)),
    )


def _sidecar(clip: PeopleClip) -> dict[str, object]:
    sidecar: dict[str, object] = {
        "generator_version": GENERATOR_VERSION,
        "name": clip.name,
        "path": clip.path.name,  # relative, so that a clip directory can be moved
        "description": clip.description,
        "codec": clip.codec,
        "width": clip.width,
        "height": clip.height,
        "fps": clip.fps,
        "frames": clip.frames,
        "gop": clip.gop,
        "bitrate": BITRATE,
        "geometry": {k: [list(p) for p in v] for k, v in clip.geometry.items()},
        "phases": {k: list(v) for k, v in clip.phases.items()},
        "in_area": None if clip.in_area is None else list(clip.in_area),
        "events": list(clip.events),
        "people": {
            str(t.person): {
                "crop": t.crop,
                "boxes": [None if b is None else list(b) for b in t.boxes],
                "visible": list(t.visible),
                "tilt": list(t.tilt),
                "feet": [None if p is None else list(p) for p in t.feet],
            }
            for t in clip.tracks
        },
    }
    # Round-trip through JSON so that comparing with a sidecar read back is like for like.
    return dict(json.loads(json.dumps(sidecar)))


# --- rendering and the cache -------------------------------------------------------------------------


def _scene(scenario: _Scenario) -> Callable[[int, int], clips._Scene]:
    def people(image: Image, n: int, count: int) -> None:
        poses = [(pose, actor) for actor in scenario.actors if (pose := _pose(actor, n)) is not None]
        for pose, actor in sorted(poses, key=lambda p: p[0].y):  # nearer people drawn last
            cut = _cutout(actor.crop, round(pose.height), actor.mirror, actor.tint)
            _draw(image, cut, _placement(cut, pose))

    def build(width: int, height: int) -> clips._Scene:
        background = clips._background(width, height, clips._DAY, 0)
        return clips._Scene(background, scenario.label, extras=(*scenario.extras, people), lens=scenario.lens)

    return build


def make_people_clips(
    out_dir: Path, names: set[str] | Iterable[str] | None = None, *, force: bool = False
) -> dict[str, PeopleClip]:
    """Generate (or reuse from cache) the people clips (PEOPLE_CLIP_NAMES) in `out_dir`, keyed by name."""
    wanted = set(PEOPLE_CLIP_NAMES if names is None else names)
    unknown = wanted - set(PEOPLE_CLIP_NAMES)
    if unknown:
        raise ValueError(f"unknown people clip names {sorted(unknown)}; known: {', '.join(PEOPLE_CLIP_NAMES)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    made: dict[str, PeopleClip] = {}
    for name in PEOPLE_CLIP_NAMES:
        if name not in wanted:
            continue
        scenario = _SCENARIOS[name]()
        clip = _plan(scenario, (out_dir / f"{name}.h264").resolve())
        sidecar = _sidecar(clip)
        sidecar_path = out_dir / f"{name}.json"
        if force or not _is_cached(clip.path, sidecar_path, sidecar):
            spec = clips._ClipSpec(name, "h264", WIDTH, HEIGHT, BITRATE, _scene(scenario), fps=FPS, gop_seconds=1)
            clips._encode(spec, clip.path, clip.frames, GOP)
            clips._write_atomic(sidecar_path, json.dumps(sidecar, separators=(",", ":")) + "\n")
        made[name] = clip
    return made


def _is_cached(path: Path, sidecar_path: Path, sidecar: dict[str, object]) -> bool:
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        return bool(json.loads(sidecar_path.read_text()) == sidecar)
    except (OSError, ValueError):
        return False
