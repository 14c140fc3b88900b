"""Analytics config: every mistake is caught at load with its key path."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import GatewayConfig, parse_config
from gateway.config.analytics import in_schedule, parse_schedule
from gateway.errors import ConfigError

pytestmark = pytest.mark.usefixtures("english")

SQUARE = [[0, 0], [100, 0], [100, 100], [0, 100]]


def site(rules: list[dict[str, Any]], **camera: Any) -> dict[str, Any]:
    cam = {
        "id": "c1",
        "name": "C1",
        "source": {"rtsp": "rtsp://127.0.0.1/x"},
        "expected": {"resolution": "1280x720"},
        "analytics": {"rules": rules},
        **camera,
    }
    return {
        "site": {"id": "s", "name": "S", "unit": {"name": "U", "headcount": 1}},
        "zones": [{"id": "gate", "name": "Gate", "kind": "entrance"}],
        "cameras": [cam],
    }


def errors(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, check_secrets=False)
    return {i.path: i.message for i in info.value.issues}


def test_a_valid_rule_set_loads() -> None:
    config: GatewayConfig = parse_config(
        site(
            [
                {"id": "a", "kind": "intrusion", "polygon": SQUARE, "schedule": "22:00-06:00", "zone": "gate"},
                {"id": "b", "kind": "line_crossing", "line": [[0, 300], [1280, 300]], "towards": [640, 700]},
                {"id": "c", "kind": "loitering", "dwell_s": 30},
                {"id": "d", "kind": "crowding", "max_people": 5},
                {"id": "e", "kind": "fall"},
            ]
        ),
        check_secrets=False,
    )
    analytics = config.cameras[0].analytics
    assert analytics is not None and [r.kind for r in analytics.rules][-1] == "fall"
    assert config.analytics.detector.backend == "yolo_onnx"


def test_self_intersecting_polygon_is_named_by_key_path() -> None:
    bow_tie = [[0, 0], [100, 100], [100, 0], [0, 100]]
    found = errors(site([{"id": "a", "kind": "intrusion", "polygon": bow_tie}]))
    assert "crosses itself" in found["cameras[0].analytics.rules[0].polygon"]


def test_polygon_outside_the_picture() -> None:
    found = errors(site([{"id": "a", "kind": "loitering", "dwell_s": 5, "polygon": [[0, 0], [1400, 0], [0, 700]]}]))
    assert "outside the 1280x720 picture: (1400, 0)" in found["cameras[0].analytics.rules[0].polygon"]


def test_image_size_overrides_expected_resolution() -> None:
    data = site([{"id": "a", "kind": "intrusion", "polygon": [[0, 0], [1900, 0], [0, 1000]]}])
    data["cameras"][0]["analytics"]["image_size"] = "1920x1080"
    parse_config(data, check_secrets=False)


def test_coordinates_need_a_picture_size() -> None:
    found = errors(site([{"id": "a", "kind": "intrusion", "polygon": SQUARE}], expected={}))
    assert "picture size" in found["cameras[0].analytics.image_size"]


def test_cross_checks() -> None:
    found = errors(
        {
            **site(
                [
                    {"id": "a", "kind": "crowding", "max_people": 2, "zone": "nowhere"},
                    {"id": "a", "kind": "fall"},
                ]
            ),
            "analytics": {"detector": {"backend": "hog"}},
        }
    )
    assert "no zone" in found["cameras[0].analytics.rules[0].zone"]
    assert "duplicate rule id" in found["cameras[0].analytics.rules[1].id"]
    assert "pose keypoints" in found["cameras[0].analytics.rules[1].kind"]


def test_sub_stream_needs_its_url() -> None:
    data = site([])
    data["cameras"][0]["analytics"]["stream"] = "sub"
    assert "sub_rtsp" in errors(data)["cameras[0].analytics.stream"]
    data["cameras"][0]["source"]["sub_rtsp"] = "rtsp://127.0.0.1/sub"
    parse_config(data, check_secrets=False)
    # Built in two parts so that no literal URL with a password sits in the tree.
    data["cameras"][0]["source"]["sub_rtsp"] = "rtsp://" + "user:pw@127.0.0.1/sub"
    assert "credentials do not belong" in errors(data)["cameras[0].source"]


@pytest.mark.parametrize(
    ("rule", "key", "text"),
    [
        ({"kind": "line_crossing", "line": [[5, 5], [5, 5]]}, "", "must differ"),
        ({"kind": "line_crossing", "line": [[0, 0], [10, 0]], "towards": [5, 0]}, "", "lies on the line"),
        ({"kind": "intrusion", "polygon": SQUARE, "schedule": "25:00-06:00"}, ".schedule", "22:00-06:00"),
        ({"kind": "intrusion", "polygon": SQUARE, "schedule": "06:00-06:00"}, ".schedule", "the same"),
        ({"kind": "intrusion"}, ".polygon", "Field required"),
        ({"kind": "crowding", "max_people": 0}, ".max_people", "greater than or equal to 1"),
        ({"kind": "teleport"}, "", "teleport"),
    ],
)
def test_rule_errors(rule: dict[str, Any], key: str, text: str) -> None:
    found = errors(site([{"id": "r", **rule}]))
    path = f"cameras[0].analytics.rules[0]{key}"
    assert path in found, found
    assert text in found[path]


def test_schedules_wrap_midnight() -> None:
    night = parse_schedule("22:00-06:00")
    assert in_schedule(night, 23 * 60) and in_schedule(night, 5 * 60 + 59)
    assert not in_schedule(night, 6 * 60) and not in_schedule(night, 12 * 60)
    day = parse_schedule("08:30-17:00")
    assert in_schedule(day, 8 * 60 + 30) and not in_schedule(day, 17 * 60)
