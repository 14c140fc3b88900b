"""Config of the optional analytics: the site-wide detector settings and each camera's rules.

Rule geometry is in pixel coordinates of the camera picture (`image_size`, or the camera's expected
resolution); a sub stream of another size is scaled to it. Checks that need the whole tree (zone
ids, image size, backend abilities) are in `cross_check`, so every error carries its key path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from gateway.analytics import geometry
from gateway.config.base import Model, Slug
from gateway.errors import ConfigIssue
from gateway.i18n import _

Point = tuple[float, float]
_SCHEDULE = re.compile(r"^\s*([01]\d|2[0-3]):([0-5]\d)\s*-\s*([01]\d|2[0-3]):([0-5]\d)\s*$")


def parse_schedule(text: str) -> tuple[int, int]:
    """'22:00-06:00' -> minutes of the day (start, end); the window may wrap past midnight."""
    match = _SCHEDULE.match(text)
    if match is None:
        raise ValueError(_("schedule must look like '22:00-06:00' (24-hour, site time zone)"))
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ValueError(_("schedule start and end are the same; leave schedule out to watch all day"))
    return start, end


def in_schedule(window: tuple[int, int], minute_of_day: int) -> bool:
    start, end = window
    if start < end:
        return start <= minute_of_day < end
    return minute_of_day >= start or minute_of_day < end


class _Rule(Model):
    id: Slug
    zone: Slug | None = Field(default=None, description="Id of the site zone this rule watches (reported with events)")
    cooldown_s: float = Field(default=30.0, ge=0, le=86400, description="No repeat of this rule within this time")
    schedule: str | None = Field(default=None, description="Active only in this daily window, e.g. '22:00-06:00'")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is not None:
            parse_schedule(value)
        return value

    def window(self) -> tuple[int, int] | None:
        return parse_schedule(self.schedule) if self.schedule else None

    def points(self) -> list[Point]:
        """Every coordinate of the rule, for the image-bounds check."""
        return []


def _checked_polygon(value: list[Point] | None) -> list[Point] | None:
    if value is not None and (problem := geometry.polygon_problem(value)) is not None:
        raise ValueError(problem)
    return value


class _AreaRule(_Rule):
    polygon: list[Point] | None = Field(default=None, description="Area in image pixels; absent = the whole picture")

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, value: list[Point] | None) -> list[Point] | None:
        return _checked_polygon(value)

    def points(self) -> list[Point]:
        return list(self.polygon or [])


class IntrusionRule(_AreaRule):
    kind: Literal["intrusion"]
    polygon: list[Point] | None = Field(description="Area in image pixels that nobody may enter")
    min_seconds: float = Field(default=0.0, ge=0, le=3600, description="Inside at least this long before it fires")

    @model_validator(mode="after")
    def _needs_polygon(self) -> IntrusionRule:
        if self.polygon is None:
            raise ValueError(_("an intrusion rule needs a polygon"))
        return self


class LoiteringRule(_AreaRule):
    kind: Literal["loitering"]
    dwell_s: float = Field(gt=0, le=86400, description="Fires when one person stays inside longer than this")


class CrowdingRule(_AreaRule):
    kind: Literal["crowding"]
    max_people: int = Field(ge=1, le=10000, description="Fires when more people than this are inside")
    min_seconds: float = Field(default=0.0, ge=0, le=3600, description="Over the limit at least this long")


class FallRule(_AreaRule):
    kind: Literal["fall"]
    min_seconds: float = Field(default=1.0, ge=0, le=600, description="Lying at least this long")


class LineCrossingRule(_Rule):
    kind: Literal["line_crossing"]
    line: tuple[Point, Point] = Field(description="Two points in image pixels")
    towards: Point | None = Field(
        default=None,
        description="A point on the side people cross to; only crossings towards it count. Absent: both ways.",
    )

    @model_validator(mode="after")
    def _check_line(self) -> LineCrossingRule:
        a, b = self.line
        if a == b:
            raise ValueError(_("the two points of a line must differ"))
        if self.towards is not None and geometry.cross(a, b, self.towards) == 0:
            raise ValueError(_("'towards' lies on the line; give a point on one side of it"))
        return self

    def points(self) -> list[Point]:
        return [*self.line, *([self.towards] if self.towards else [])]


RULE_KINDS = frozenset({"intrusion", "line_crossing", "loitering", "crowding", "fall"})

Rule = Annotated[
    IntrusionRule | LineCrossingRule | LoiteringRule | CrowdingRule | FallRule,
    Field(discriminator="kind"),
]


class CameraAnalytics(Model):
    enabled: bool = True
    stream: Literal["main", "sub"] = Field(
        default="main", description="Analyse the main stream or source.sub_rtsp (cheaper to decode)"
    )
    fps: float | None = Field(default=None, gt=0, le=30, description="Analysed frames a second (default: site-wide)")
    image_size: Annotated[str, Field(pattern=r"^\d{2,5}x\d{2,5}$")] | None = Field(
        default=None, description="Size rule coordinates refer to, e.g. '1920x1080' (default: expected.resolution)"
    )
    rules: list[Rule] = Field(default_factory=list)

    def size(self) -> tuple[int, int] | None:
        if self.image_size is None:
            return None
        w, h = self.image_size.split("x")
        return int(w), int(h)


class MotionConfig(Model):
    enabled: bool = Field(default=True, description="Run the detector only on frames with motion (and refreshes)")
    threshold: int = Field(default=25, ge=1, le=255, description="Grey-level change of a pixel that counts as motion")
    min_area_percent: float = Field(default=0.1, gt=0, le=100, description="Changed share of the picture that counts")
    refresh_s: float = Field(
        default=10.0, ge=0, le=3600, description="Run the detector at least this often without motion (0: never)"
    )


class DetectorConfig(Model):
    backend: Literal["yolo_onnx", "hog"] = Field(
        default="yolo_onnx", description="yolo_onnx: YOLO pose with onnxruntime; hog: OpenCV's HOG (no weights)"
    )
    model: str = Field(default="yolo11n-pose-416", description="Model manifest name (models/manifests/NAME.json)")
    # OpenVINO spends about half of onnxruntime's CPU per frame on CPUs with bfloat16 instructions
    # and about the same elsewhere (docs/models.md): auto measures both at start instead of guessing.
    runtime: Literal["auto", "onnxruntime", "openvino"] = Field(
        default="auto",
        description="How yolo_onnx runs its model: auto (time both at start, keep the one using less CPU),"
        " onnxruntime, or openvino (falls back to onnxruntime when it is missing or fails to load)",
    )
    models_dir: Path = Field(default=Path("var/models"), description="Where exported model files are")
    # One thread by default: on a 2-core box it sustains 16 mostly idle cameras and leaves a core
    # for everything else; two threads cut the latency of one frame by ~40% but not the total CPU.
    threads: int = Field(default=1, ge=1, le=64, description="Inference threads")
    confidence: float = Field(default=0.4, gt=0, lt=1, description="Minimum person score")
    # Crops around the motion and the tracked people at native resolution (gateway/analytics/regions.py):
    # a far person in a 1080p picture is 4.6 times larger to the model than in the whole frame.
    regions: bool = Field(
        default=True,
        description="Look at crops around motion and tracked people, at native resolution, instead of the"
        " whole frame shrunk (the whole frame still on each motion refresh)",
    )
    # 3 crops at up to 2x: on vtest.avi (PETS 2009, people 50-100 px tall) YOLO11n-pose at 416 finds 5.4
    # people a frame against 0.8 in the whole frame, for 3 inferences a frame on that busy scene
    # (docs/models.md); a camera with one walker costs one.
    max_regions: int = Field(
        default=3, ge=1, le=16, description="Most crops a frame (each costs one inference); more are merged"
    )
    region_zoom: float = Field(
        default=2.0,
        ge=1.0,
        le=4.0,
        description="Most a crop is enlarged for the model: crops are at least the model's input size divided"
        " by this (the pose model misses people under about 80 px tall)",
    )


class AnalyticsConfig(Model):
    enabled: bool = Field(default=True, description="Master switch; cameras opt in with cameras[].analytics")
    fps: float = Field(default=2.0, gt=0, le=30, description="Analysed frames a second per camera")
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    snapshot_quality: int = Field(default=80, ge=30, le=95, description="JPEG quality of event snapshots")
    events_days: int = Field(default=90, ge=1, le=3650, description="Days events and snapshots are kept")


def cross_check(
    where: str,
    analytics: CameraAnalytics,
    *,
    expected_size: tuple[int, int] | None,
    has_sub_stream: bool,
    zone_ids: set[str],
    site: AnalyticsConfig,
) -> list[ConfigIssue]:
    """Problems of one camera's analytics that need the rest of the config; `where` is its key path."""
    issues: list[ConfigIssue] = []
    if analytics.stream == "sub" and not has_sub_stream:
        issues.append(
            ConfigIssue(f"{where}.stream", _("'sub' needs the camera's source.sub_rtsp or source.onvif.sub_profile"))
        )
    size = analytics.size() or expected_size
    seen: set[str] = set()
    for j, rule in enumerate(analytics.rules):
        path = f"{where}.rules[{j}]"
        if rule.id in seen:
            issues.append(ConfigIssue(f"{path}.id", _("duplicate rule id on this camera"), rule.id))
        seen.add(rule.id)
        if rule.zone is not None and rule.zone not in zone_ids:
            issues.append(ConfigIssue(f"{path}.zone", _("no zone with this id is declared"), rule.zone))
        if isinstance(rule, FallRule) and site.detector.backend != "yolo_onnx":
            issues.append(
                ConfigIssue(
                    f"{path}.kind", _("a fall rule needs pose keypoints: set analytics.detector.backend to yolo_onnx")
                )
            )
        points = rule.points()
        if not points:
            continue
        if size is None:
            issues.append(
                ConfigIssue(
                    f"{where}.image_size",
                    _(
                        "rules with coordinates need the picture size: "
                        "set image_size or the camera's expected.resolution"
                    ),
                )
            )
            continue
        key = "polygon" if isinstance(rule, _AreaRule) else "line"
        bad = geometry.outside(points, *size)
        if bad:
            shown = ", ".join(f"({points[i][0]:g}, {points[i][1]:g})" for i in bad[:3])
            outside = _("point(s) outside the {width}x{height} picture: {points}")
            issues.append(ConfigIssue(f"{path}.{key}", outside.format(width=size[0], height=size[1], points=shown)))
    return issues
