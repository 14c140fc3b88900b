"""The OpenVINO runtime of the YOLO pose model: same people as onnxruntime on real footage, auto's
choice at load, and the fall back to onnxruntime when OpenVINO is missing or cannot load the file.

Needs the exported ONNX files in <repo>/var/models and vtest.avi in var/footage (`make setup`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gateway.config import parse_config
from gateway.errors import ConfigError
from models.base import Detection, Detector, Image, iou
from models.errors import ModelError
from models.registry import RUNTIMES, load_detector
from models.yolo_openvino import YoloOpenVinoDetector
from sim.footage import VTEST, read_frames

pytest.importorskip("openvino")

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO / "var" / "models"
MODEL = "yolo11n-pose-416"
# Both runtimes report down to FLOOR; people either scores at SURE or more must be found by both.
# The gap keeps a person the other runtime scores a hair under the threshold from counting as a miss.
FLOOR, SURE = 0.2, 0.3


def load(runtime: str, confidence: float = FLOOR) -> Detector:
    return load_detector(
        "yolo_onnx", model=MODEL, models_dir=MODELS_DIR, threads=1, confidence=confidence, runtime=runtime
    )


@pytest.fixture(scope="module")
def vtest() -> list[Image]:
    # Every 40th frame of PETS 2009 S2L1: 0 to 3 people at 416 px, walking, crossing, half hidden.
    return read_frames(VTEST)[::40]


@pytest.fixture(scope="module")
def runtimes() -> Iterator[tuple[Detector, Detector]]:
    ort, ov = load("onnxruntime"), load("openvino")
    yield ort, ov
    ort.close()
    ov.close()


def matched(sure: list[Detection], others: list[Detection]) -> list[tuple[Detection, Detection | None]]:
    """Each sure person (highest score first) with the other runtime's best-overlapping box, if any."""
    free = list(others)
    pairs: list[tuple[Detection, Detection | None]] = []
    for d in sorted(sure, key=lambda d: -d.score):
        best = max(free, key=lambda o: iou(d.box, o.box), default=None)
        if best is not None and iou(d.box, best.box) >= 0.5:
            free.remove(best)
            pairs.append((d, best))
        else:
            pairs.append((d, None))
    return pairs


def test_both_runtimes_find_the_same_people_on_real_footage(
    vtest: list[Image], runtimes: tuple[Detector, Detector]
) -> None:
    ort, ov = runtimes
    assert ort.name.endswith("(onnxruntime)") and "(openvino" in ov.name
    compared = 0
    for n, frame in enumerate(vtest):
        found = {"onnxruntime": ort.detect(frame), "openvino": ov.detect(frame)}
        sure = {k: [d for d in v if d.score >= SURE] for k, v in found.items()}
        assert len(sure["onnxruntime"]) == len(sure["openvino"]), (n, found)
        for a, b in (("onnxruntime", "openvino"), ("openvino", "onnxruntime")):
            for d, other in matched(sure[a], found[b]):
                assert other is not None, f"frame {n * 40}: {a} sees {d}, {b} does not"
                assert iou(d.box, other.box) >= 0.9, (n, d, other)
                assert abs(d.score - other.score) <= 0.05, (n, d.score, other.score)
                assert d.keypoints is not None and other.keypoints is not None
                seen = d.keypoints[:, 2] >= 0.5
                if seen.any():
                    dist = np.linalg.norm(d.keypoints[seen, :2] - other.keypoints[seen, :2], axis=1)
                    assert float(dist.mean()) <= 0.05 * d.height, (n, dist)
                compared += 1
    assert compared >= 30  # both directions: 19 people over the sampled frames


def test_auto_measures_both_and_keeps_the_cheaper(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="models.registry"):
        detector = load("auto", confidence=0.4)
    try:
        selection = getattr(detector, "selection", None)
        assert selection is not None and selection.requested == "auto" and selection.reason is None
        measured = selection.measured
        assert set(measured) == {"onnxruntime", "openvino"}
        assert all(m["cpu_ms"] > 0 and m["wall_ms"] > 0 for m in measured.values())
        assert selection.runtime == min(measured, key=lambda k: measured[k]["cpu_ms"])
        assert f"({selection.runtime}" in detector.name
        assert f"detector runtime: {selection.runtime} chosen" in caplog.text
        assert selection.to_json()["runtime"] == selection.runtime
        assert detector.detect(np.full((480, 640, 3), 114, np.uint8)) == []
    finally:
        detector.close()


@pytest.mark.parametrize("runtime", ["auto", "openvino"])
def test_without_openvino_onnxruntime_runs(
    runtime: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # makes `import openvino` raise ImportError
    with caplog.at_level(logging.WARNING, logger="models.registry"):
        detector = load(runtime)
    try:
        selection = getattr(detector, "selection", None)
        assert detector.name.endswith("(onnxruntime)")
        assert selection is not None and selection.runtime == "onnxruntime" and selection.requested == runtime
        assert selection.reason is not None and "openvino is not installed" in selection.reason
        assert "openvino is not installed" in caplog.text
    finally:
        detector.close()


def test_onnxruntime_on_request_measures_nothing() -> None:
    detector = load("onnxruntime")
    try:
        selection = getattr(detector, "selection", None)
        assert selection is not None and selection.runtime == "onnxruntime" and selection.measured == {}
    finally:
        detector.close()


def test_a_file_openvino_cannot_read_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="OpenVINO cannot load model file"):
        YoloOpenVinoDetector(bad, name="x", input_size=416, keypoints=17, threads=1, confidence=0.4)


def test_unknown_runtime_is_refused() -> None:
    with pytest.raises(ModelError, match="unknown detector runtime"):
        load("tensorrt")
    assert RUNTIMES == ("auto", "onnxruntime", "openvino")


def test_config_runtime_defaults_to_auto_and_errors_name_the_key() -> None:
    site = {"site": {"id": "s", "name": "S", "unit": {"name": "U", "headcount": 1}}}
    assert parse_config(site, check_secrets=False).analytics.detector.runtime == "auto"
    with pytest.raises(ConfigError) as info:
        parse_config({**site, "analytics": {"detector": {"runtime": "tensorrt"}}}, check_secrets=False)
    assert "analytics.detector.runtime" in {i.path for i in info.value.issues}


def test_openvino_failing_to_load_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import models.yolo_openvino

    def refuse(*args: object, **kwargs: object) -> YoloOpenVinoDetector:
        raise ModelError("OpenVINO cannot load model file x: no CPU plugin")

    monkeypatch.setattr(models.yolo_openvino, "YoloOpenVinoDetector", refuse)
    detector = load("openvino")
    try:
        selection = getattr(detector, "selection", None)
        assert selection is not None and selection.runtime == "onnxruntime"
        assert selection.reason is not None and "no CPU plugin" in selection.reason
    finally:
        detector.close()


async def test_the_service_reports_the_runtime_it_runs(gateway_storage_url: str) -> None:
    from gateway.analytics.events import EventStore
    from gateway.analytics.service import AnalyticsService
    from gateway.pipeline.bus import PacketBus
    from gateway.storage.db import Database

    cfg = parse_config(
        {
            "site": {"id": "s", "name": "S", "unit": {"name": "U", "headcount": 1}},
            "cameras": [
                {
                    "id": "c0",
                    "name": "C0",
                    "source": {"rtsp": "rtsp://127.0.0.1/c0"},
                    "expected": {"resolution": "1280x720"},
                    "analytics": {"rules": [{"id": "all", "kind": "crowding", "max_people": 5}]},
                }
            ],
            "analytics": {"detector": {"runtime": "openvino", "models_dir": str(MODELS_DIR)}},
        },
        check_secrets=False,
    )
    db = Database(gateway_storage_url).open()
    service = AnalyticsService(cfg, {"c0": PacketBus("c0")}, EventStore(db))
    try:
        await service.start()
        await service.ready()
        detector = service.status()["detector"]
        assert detector["runtime"] == {"runtime": "openvino", "requested": "openvino", "measured": {}, "reason": None}
        assert "(openvino" in detector["name"]
    finally:
        await service.stop()
        db.close()
