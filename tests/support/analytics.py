"""The walk clip through the real person detector: the model folder, the rules drawn on the clip's
ground truth, and the one-camera site (with an MQTT uplink) of the detector fault tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.clips import ClipInfo
from sim.people_clips import PeopleClip

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "var" / "models"


def clip_info(clip: PeopleClip) -> ClipInfo:
    return ClipInfo(clip.name, clip.path, "h264", clip.width, clip.height, clip.fps, clip.frames, clip.gop)


def floor_polygon() -> list[list[int]]:
    return [[200, 480], [1080, 480], [1080, 715], [200, 715]]


def door_rule(walk: PeopleClip) -> dict[str, Any]:
    """The line the walking clip's person crosses, in the direction they cross it."""
    (a, b), (towards,) = walk.geometry["line"], walk.geometry["towards"]
    line = [list(a), list(b)]
    return {"id": "door", "kind": "line_crossing", "line": line, "towards": list(towards), "cooldown_s": 0}


def walk_rules(walk: PeopleClip, *, floor: bool = True) -> dict[str, Any]:
    """The door line, and with ``floor`` an intrusion zone over the floor the person walks on."""
    rules = [door_rule(walk)]
    if floor:
        rules.append({"id": "floor", "kind": "intrusion", "polygon": floor_polygon(), "cooldown_s": 0})
    return {"image_size": f"{walk.width}x{walk.height}", "rules": rules}


def mqtt_uplink(port: int, password_env: str, prefix: str) -> dict[str, Any]:
    """The MQTT destination the detector fault tests send to (user gw, events and states)."""
    return {
        "id": "broker",
        "host": "127.0.0.1",
        "port": port,
        "username": "gw",
        "password": {"env": password_env},
        "topic_prefix": prefix,
        "kinds": ["event", "state"],
    }


def walk_site(
    site_id: str,
    name: str,
    *,
    camera: dict[str, Any],
    walk: PeopleClip,
    port: int,
    storage_url: str,
    mqtt: dict[str, Any],
    supervisor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One camera playing the walk clip through the real detector at 2 fps, short timeouts, an MQTT uplink."""
    return {
        "site": {"id": site_id, "name": name, "unit": {"name": "U", "headcount": 50}},
        "cameras": [{"name": "walk", **camera, "analytics": walk_rules(walk)}],
        "supervisor": {
            "connect_timeout_s": 3,
            "stall_timeout_s": 3,
            "backoff_initial_s": 0.5,
            "backoff_max_s": 2,
            **(supervisor or {}),
        },
        "policy": {"min_fps": 8},
        "server": {"bind": "127.0.0.1", "port": port},
        "storage": {"url": storage_url},
        "analytics": {"fps": 2.0, "detector": {"models_dir": str(MODELS)}},
        "uplinks": {"mqtt": [mqtt], "outbox": {"retry_initial_s": 0.5, "retry_max_s": 2}},
    }
