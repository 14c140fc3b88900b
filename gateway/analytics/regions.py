"""Where in a frame the detector looks: crops around the motion and the tracked people, at native
resolution, instead of the whole frame shrunk to the model's input.

A 1080p picture letterboxed to 416 px shrinks 4.6 times: a person 120 px tall far from the camera is
26 px to the model, at the edge of what YOLO11n finds (the pose model misses most people under about
80 px). A crop around them keeps every pixel, or enlarges them up to `region_zoom` times. Frigate does
the same ("regions"). A crop costs one inference, as the whole frame does, so:

- when every interest box is at least SMALL_PX of the model's input in the whole frame, the whole
  frame is used: one inference sees them all (a 640x360 sub stream with people near the camera);
- interest boxes (tracked people's predicted boxes, then motion blobs) that fit one square of the
  crop side together are grouped, and one mostly inside a group's square already joins none; each
  group becomes a square of that side (or 1.25 times the group, with a margin), centred on it and
  moved inside the picture. Squares may overlap: a person in two is found twice and kept once;
- while more than `max_regions` are left the two whose union is smallest are merged (one inference,
  a little shrunk);
- a region shrunk about as much as the whole frame would be gains nothing: the whole frame is used;
- a person cut by a region's inner edge (one that is not the picture's) is never kept as cut: unless
  another region saw them whole, their region is grown over the cut side and looked at once more;
- the detections of all regions, in picture pixels, go through one suppression by overlap, so a
  person seen by two regions is one.

Pure functions over boxes and one detector; the analyzer decides when the whole frame is due.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from models.base import Box, Detection, Detector, Image, iou

# A person whose box is at least this many pixels of the model's input in the whole frame is found
# there (YOLO11n-pose finds most people from about 60 px, few under 40: vtest.avi at three scales).
SMALL_PX = 80
MARGIN = 1.25  # a region's side over its box's long side: room for the arms and the next step
# A region must see people at least this much larger than the whole frame would, or it is not worth it.
MIN_GAIN = 1.2
# A box this close to a region's inner edge was cut by it: the model ends a cut person's box a few of
# its pixels short of the crop's edge (2 px let half-people through on the people clips).
_EDGE = 0.02  # of the region's side
_EDGE_MIN_PX = 4.0
_SAME_IOU = 0.5  # two regions' boxes this alike are one person (the decoder's own NMS uses 0.45)
_INSIDE = 0.8  # a cut box this much inside a whole one is the same person, seen whole elsewhere
_COVERED = 0.5  # an interest box this much inside a region already planned needs none of its own


@dataclass(frozen=True)
class Look:
    """What the feeder asks of the detector for one frame (made in one thread, used in another)."""

    motion: tuple[Box, ...] = ()  # the motion blobs, in picture pixels
    full: bool = False  # the whole frame: the first frame, a refresh, or regions switched off


@dataclass
class RegionCounters:
    full: int = 0  # frames looked at whole
    cropped: int = 0  # frames looked at in regions
    regions: int = 0  # region inferences, retries included
    retries: int = 0  # regions grown over a cut person and looked at again


def square(box: Box, side_min: float, size: tuple[int, int]) -> Box:
    """A square of at least `side_min` (or MARGIN x the box) centred on `box`, moved inside the picture."""
    width, height = size
    cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    side = max(side_min, MARGIN * max(box[2] - box[0], box[3] - box[1]))
    w, h = min(side, width), min(side, height)
    x1 = min(max(cx - w / 2.0, 0.0), width - w)
    y1 = min(max(cy - h / 2.0, 0.0), height - h)
    return (x1, y1, x1 + w, y1 + h)


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _area(box: Box) -> float:
    return max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)


def _overlap(a: Box, b: Box) -> float:
    return _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def plan(
    tracked: Sequence[Box],
    motion: Sequence[Box],
    size: tuple[int, int],
    model_side: int,
    zoom: float,
    max_regions: int,
    trails: Sequence[Box] = (),
) -> list[Box] | None:
    """The crops to run the detector on, in picture pixels; None: the whole frame instead.

    `tracked`: the tracked people's predicted boxes; `motion`: the motion blobs, largest first. The
    people go first, so that a group forms around a person, not around a speck of noise or the trail
    behind them. `model_side`: the detector's input side; crops are at least model_side / zoom pixels.
    `trails`: where the tracked people were in the last looks.
    """
    width, height = size
    interest = [*tracked, *motion]
    if not interest or width <= 0 or height <= 0:
        return None
    # Everything of interest already large enough in the whole frame: one inference sees it all. A
    # blob mostly inside a tracked person, or where one just was, is that person moving an arm or the
    # ghost the adapting background keeps of them for a look or two, not someone small: it does not count.
    whole_scale = model_side / max(width, height)
    people = [square(t, 0.0, size) for t in [*tracked, *trails]]  # with MARGIN around each
    unexplained = [m for m in motion if not any(_overlap(m, p) >= _COVERED * _area(m) for p in people)]
    if all(max(b[2] - b[0], b[3] - b[1]) * whole_scale >= SMALL_PX for b in [*tracked, *unexplained]):
        return None
    side_min = model_side / zoom
    # Boxes that fit one square of side_min together share it; a box mostly inside a group's square
    # already is seen there (the trail frame differencing leaves behind a walker).
    groups: list[Box] = []
    for box in interest:
        for i, group in enumerate(groups):
            joined = _union(group, box)
            if MARGIN * max(joined[2] - joined[0], joined[3] - joined[1]) <= side_min:
                groups[i] = joined
                break
            if _overlap(box, square(group, side_min, size)) >= _COVERED * _area(box):
                break
        else:
            groups.append(box)
    regions = [square(g, side_min, size) for g in groups]
    # Over the cap: the two whose union is smallest become one (seen a little shrunk), until within it.
    while len(regions) > max_regions:
        pairs = [(i, j) for i in range(len(regions)) for j in range(i + 1, len(regions))]
        i, j = min(pairs, key=lambda p: _area(_union(regions[p[0]], regions[p[1]])))
        regions[i] = _union(regions[i], regions[j])
        del regions[j]
    # One inside another adds nothing (the inner one's people are whole in the outer one).
    regions = [r for r in regions if not any(o is not r and _overlap(r, o) >= _area(r) for o in regions)]
    if any(model_side / max(r[2] - r[0], r[3] - r[1], 1.0) < MIN_GAIN * whole_scale for r in regions):
        return None
    return regions


def _cut_sides(d: Detection, region: Box, size: tuple[int, int]) -> tuple[bool, bool, bool, bool]:
    """Which of the region's inner edges (left, top, right, bottom) the box touches."""
    width, height = size
    edge = max(_EDGE_MIN_PX, _EDGE * max(region[2] - region[0], region[3] - region[1]))
    return (
        region[0] > 0 and d.x1 <= region[0] + edge,
        region[1] > 0 and d.y1 <= region[1] + edge,
        region[2] < width and d.x2 >= region[2] - edge,
        region[3] < height and d.y2 >= region[3] - edge,
    )


def _grown(region: Box, cut: Sequence[Detection], size: tuple[int, int]) -> Box:
    """The region pushed out, on each side that cut someone, by that person's visible size."""
    x1, y1, x2, y2 = region
    for d in cut:
        reach = max(d.width, d.height)
        left, top, right, bottom = _cut_sides(d, region, size)
        x1 = min(x1, d.x1 - reach) if left else x1
        y1 = min(y1, d.y1 - reach) if top else y1
        x2 = max(x2, d.x2 + reach) if right else x2
        y2 = max(y2, d.y2 + reach) if bottom else y2
    return (max(x1, 0.0), max(y1, 0.0), min(x2, float(size[0])), min(y2, float(size[1])))


def _shifted(d: Detection, dx: float, dy: float) -> Detection:
    kpts = d.keypoints
    if kpts is not None:
        kpts = kpts.copy()
        kpts[:, 0] += dx
        kpts[:, 1] += dy
    return replace(d, x1=d.x1 + dx, y1=d.y1 + dy, x2=d.x2 + dx, y2=d.y2 + dy, keypoints=kpts)


def _crop(detector: Detector, image: Image, region: Box) -> list[Detection]:
    x1, y1 = int(region[0]), int(region[1])
    x2, y2 = int(np.ceil(region[2])), int(np.ceil(region[3]))
    return [_shifted(d, x1, y1) for d in detector.detect(image[y1:y2, x1:x2])]


def suppress(detections: Sequence[Detection]) -> list[Detection]:
    """One box per person across regions: the higher score wins among boxes overlapping by _SAME_IOU."""
    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: d.score, reverse=True):
        if all(iou(d.box, k.box) < _SAME_IOU for k in kept):
            kept.append(d)
    return kept


def detect_regions(
    detector: Detector, image: Image, regions: Sequence[Box], counters: RegionCounters | None = None
) -> list[Detection]:
    """Persons in `regions` of `image`, in picture pixels (see the module's text for the cut ones)."""
    size = (image.shape[1], image.shape[0])
    whole: list[Detection] = []
    cut_in: list[tuple[Box, list[Detection]]] = []
    for region in regions:
        found = _crop(detector, image, region)
        cut = [d for d in found if any(_cut_sides(d, region, size))]
        whole.extend(d for d in found if not any(_cut_sides(d, region, size)))
        if cut:
            cut_in.append((region, cut))
    runs, retries = len(regions), 0
    for region, cut in cut_in:
        boxes = [k.box for k in whole]
        unseen = [d for d in cut if not any(_overlap(d.box, b) >= _INSIDE * _area(d.box) for b in boxes)]
        if not unseen:
            continue
        # Seen nowhere whole: look again with the cut sides pushed out. What this second look still
        # cuts is left out too: a half person's foot point would put them in the wrong zone.
        retries += 1
        grown = _grown(region, unseen, size)
        whole.extend(d for d in _crop(detector, image, grown) if not any(_cut_sides(d, grown, size)))
    if counters is not None:
        counters.cropped += 1
        counters.regions += runs + retries
        counters.retries += retries
    return suppress(whole)
