"""`gateway detect` and `gateway check-config` on the analytics, run as the real command with the real model."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.people_clips import PeopleClip
from tests.support.analytics import walk_rules
from tests.support.gateway import child_env, run_cli

# LANGUAGE=en: the CLI's words are checked in English here (its Chinese in test_messages_language.py).

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MODEL_FILE = REPO / "var" / "models" / "yolo11n-pose-416.onnx"


@pytest.fixture
def walk(people_clips: dict[str, PeopleClip]) -> PeopleClip:
    return people_clips["walk"]


@pytest.fixture
def rules_file(tmp_path: Path, walk: PeopleClip) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(walk_rules(walk, floor=False)))
    return path


def site_config(tmp_path: Path, analytics: dict[str, Any], detector: dict[str, Any] | None = None) -> Path:
    config: dict[str, Any] = {
        "site": {"id": "cli", "name": "CLI", "unit": {"name": "U", "headcount": 10}},
        "cameras": [
            {"id": "cam", "name": "Cam", "source": {"rtsp": "rtsp://127.0.0.1:8554/cam"}, "analytics": analytics}
        ],
        # Deliberately SQLite whatever --storage says: `check-config` and `detect` never open the database
        # (no `gateway run` here); the URL only keeps the config off the default var/gateway.db.
        "storage": {"url": f"sqlite:///{tmp_path / 'gateway.db'}"},
        "analytics": {"detector": detector or {"models_dir": str(MODEL_FILE.parent)}},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_detect_prints_the_crossing_and_a_summary(walk: PeopleClip, rules_file: Path) -> None:
    out = run_cli(["detect", str(walk.path), "--rules", str(rules_file)], child_env(LANGUAGE="en"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("detector: yolo11n-pose-416"), out.stdout
    [crossing] = [line for line in lines if "line_crossing" in line]
    assert "door" in crossing and "watched direction" in crossing, crossing
    assert any(line.startswith("done:") and "1 event(s)" in line for line in lines), out.stdout
    assert "line door: towards 1" in lines, out.stdout
    [looked] = [line for line in lines if line.startswith("looked at:")]
    assert re.fullmatch(r"looked at: [1-9]\d* whole frame\(s\), \d+ frame\(s\) in regions \(\d+ crop\(s\)\)", looked)


def test_detect_json_and_snapshots_without_regions(tmp_path: Path, walk: PeopleClip, rules_file: Path) -> None:
    snapshots = tmp_path / "snaps"
    args = ["detect", str(walk.path), "--rules", str(rules_file), "--json", "--snapshots", str(snapshots)]
    out = run_cli([*args, "--no-regions"], child_env(LANGUAGE="en"))
    assert out.returncode == 0, out.stderr
    # --no-regions: the detector saw whole frames only, and the crossing is the same.
    [looked] = [line for line in out.stdout.splitlines() if line.startswith("looked at:")]
    assert looked.endswith("whole frame(s), 0 frame(s) in regions (0 crop(s))"), looked
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [(e["kind"], e["rule"], e["detail"]) for e in events] == [
        ("line_crossing", "door", {"direction": "towards"})
    ], out.stdout
    # The person walks left to right and crosses the middle 2.8 s in (the ground truth's frame 28).
    expected = next(e for e in walk.events if e["kind"] == "cross")
    assert events[0]["t"] == pytest.approx(int(expected["frame"]) / walk.fps, abs=0.8), events
    assert len(events[0]["tracks"]) == 1
    files = sorted(snapshots.iterdir())
    assert len(files) == 1 and files[0].suffix == ".jpg", files
    assert files[0].read_bytes()[:2] == b"\xff\xd8"


def test_detect_a_missing_file_is_a_clear_error(tmp_path: Path, rules_file: Path) -> None:
    missing = tmp_path / "nope.h264"
    out = run_cli(["detect", str(missing), "--rules", str(rules_file)], child_env(LANGUAGE="en"))
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert out.stderr.startswith("error:") and str(missing) in out.stderr, out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_detect_refuses_a_polygon_that_crosses_itself(tmp_path: Path, walk: PeopleClip) -> None:
    bow_tie = [[100, 400], [600, 700], [600, 400], [100, 700]]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": [{"id": "zone", "kind": "intrusion", "polygon": bow_tie}]}))
    out = run_cli(["detect", str(walk.path), "--rules", str(path)], child_env(LANGUAGE="en"))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "rules[0].polygon" in out.stderr and "crosses itself" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_check_config_refuses_a_polygon_outside_the_picture(tmp_path: Path) -> None:
    polygon = [[100, 400], [1400, 400], [1400, 700], [100, 700]]
    analytics = {"image_size": "1280x720", "rules": [{"id": "zone", "kind": "intrusion", "polygon": polygon}]}
    out = run_cli(["check-config", str(site_config(tmp_path, analytics))], child_env(LANGUAGE="en"))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "cameras[0].analytics.rules[0].polygon" in out.stdout and "outside" in out.stdout, out.stdout
    assert "(1400, 400)" in out.stdout, out.stdout


def test_check_config_accepts_the_rules(tmp_path: Path, walk: PeopleClip) -> None:
    out = run_cli(["check-config", str(site_config(tmp_path, walk_rules(walk, floor=False)))], child_env(LANGUAGE="en"))
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "OK" in out.stdout


def test_an_altered_model_is_refused_and_hog_still_works(tmp_path: Path, walk: PeopleClip) -> None:
    models = tmp_path / "models"
    models.mkdir()
    altered = models / MODEL_FILE.name
    shutil.copyfile(MODEL_FILE, altered)
    data = bytearray(altered.read_bytes())
    data[len(data) // 2] ^= 0xFF
    altered.write_bytes(bytes(data))
    config = site_config(tmp_path, walk_rules(walk, floor=False), {"models_dir": str(models)})
    checked = run_cli(["check-config", str(config)], child_env(LANGUAGE="en"))
    assert checked.returncode == 2, (checked.stdout, checked.stderr)
    assert "analytics.detector.model" in checked.stdout, checked.stdout
    assert str(altered) in checked.stdout and "sha256" in checked.stdout and "--force" in checked.stdout, checked.stdout
    # The YOLO backend refuses the altered file too ...
    refused = run_cli(["detect", str(walk.path), "-c", str(config), "--camera", "cam"], child_env(LANGUAGE="en"))
    assert refused.returncode == 1 and "sha256" in refused.stderr, (refused.stdout, refused.stderr)
    assert "Traceback" not in refused.stderr
    # ... while HOG, which needs no weights, still finds the crossing.
    out = run_cli(
        ["detect", str(walk.path), "-c", str(config), "--camera", "cam", "--backend", "hog"], child_env(LANGUAGE="en")
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("detector: hog"), out.stdout
    assert "line_crossing" in out.stdout and "line door: towards 1" in out.stdout, out.stdout
