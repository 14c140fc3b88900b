"""Find, check and load a detector by name: the only door from the gateway into `models`.

Backends are imported inside `load_detector`, so a gateway without onnxruntime still starts with
HOG, and one whose YOLO backend cannot load is told why in one sentence. OpenVINO, the second
runtime of the YOLO model, is optional in the same way: without it (or when it fails) onnxruntime runs.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.base import Detector, RuntimeChoice
from models.errors import BackendUnavailableError, ManifestError, ModelChecksumError, ModelError, ModelMissingError
from models.manifest import Manifest, load_manifest

if TYPE_CHECKING:
    from models.yolo_onnx import YoloOnnxDetector
    from models.yolo_openvino import YoloOpenVinoDetector

log = logging.getLogger(__name__)

BACKENDS = ("yolo_onnx", "hog")
# How the yolo_onnx backend's ONNX file is run. onnxruntime is the one always there (the fallback);
# auto times both on a blank frame at load and keeps the one that spends less CPU per frame.
RUNTIMES = ("auto", "onnxruntime", "openvino")
AUTO_WARMUP = 2  # the first calls allocate and tune: never timed
AUTO_ROUNDS = (3, 8)  # timed inferences per runtime: at least, at most
AUTO_BUDGET_S = 0.6  # stop adding rounds past this, so a 640 model on a slow box still loads in ~1 s
HOG_INPUT_SIZE = 640  # HOG has no model file: frames are scaled to this width


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_path(manifest: Manifest, models_dir: Path) -> Path:
    return Path(models_dir) / manifest.file


def sidecar_path(manifest: Manifest, models_dir: Path) -> Path:
    """Where the exporter records the checksum of a file it made here that differs from the manifest's.

    Another torch build or CPU can export different bytes from the same verified weights; the
    exporter then keeps its own result and records it, and only the exporter writes this file.
    """
    return Path(models_dir) / f"{manifest.file}.sha256"


def accepted_checksums(manifest: Manifest, models_dir: Path) -> list[str]:
    accepted = [manifest.sha256]
    try:
        local = sidecar_path(manifest, models_dir).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        local = ""
    if local and local not in accepted:
        accepted.append(local)
    return accepted


def verify_model(name: str, models_dir: Path) -> Manifest:
    """The manifest of `name`, once its file in `models_dir` is there and has an accepted sha256."""
    manifest = load_manifest(name)
    path = model_path(manifest, models_dir)
    if not path.is_file():
        raise ModelMissingError(path)
    actual = sha256_file(path)
    accepted = accepted_checksums(manifest, models_dir)
    if actual not in accepted:
        raise ModelChecksumError(path, accepted[-1], actual)
    return manifest


def load_detector(
    backend: str, *, model: str, models_dir: Path, threads: int, confidence: float, runtime: str = "auto"
) -> Detector:
    """A ready detector; `model` names a manifest for yolo_onnx and is not used by hog (it has no weights).

    `runtime` (yolo_onnx only) is one of RUNTIMES; a missing or failing OpenVINO falls back to
    onnxruntime with the reason logged and kept in the detector's `selection`.
    """
    if runtime not in RUNTIMES:
        raise BackendUnavailableError(f"unknown detector runtime {runtime!r}; known runtimes: {', '.join(RUNTIMES)}")
    if backend == "hog":
        from models.hog import HogDetector

        return HogDetector(input_size=HOG_INPUT_SIZE, confidence=confidence, threads=threads)
    if backend == "yolo_onnx":
        try:
            importlib.import_module("onnxruntime")
        except ImportError as exc:
            raise BackendUnavailableError.missing("yolo_onnx", "onnxruntime") from exc
        manifest = verify_model(model, models_dir)
        if manifest.backend != backend:
            raise ManifestError(f"model {model!r} is for the {manifest.backend} backend, not {backend}")
        return _load_yolo(manifest, models_dir, threads=threads, confidence=confidence, runtime=runtime)
    raise BackendUnavailableError(f"unknown detector backend {backend!r}; known backends: {', '.join(BACKENDS)}")


def _load_yolo(
    manifest: Manifest, models_dir: Path, *, threads: int, confidence: float, runtime: str
) -> YoloOnnxDetector | YoloOpenVinoDetector:
    from models.yolo_onnx import YoloOnnxDetector

    path = model_path(manifest, models_dir)

    def onnxruntime() -> YoloOnnxDetector:
        return YoloOnnxDetector(
            path,
            name=manifest.name,
            input_size=manifest.input_size,
            keypoints=manifest.keypoints,
            threads=threads,
            confidence=confidence,
        )

    if runtime == "onnxruntime":
        ort_det = onnxruntime()
        ort_det.selection = RuntimeChoice(runtime="onnxruntime", requested=runtime)
        return ort_det
    openvino: YoloOpenVinoDetector | None = None
    reason: str | None = None
    try:
        importlib.import_module("openvino")
    except ImportError:
        reason = "openvino is not installed (pip install 'site-video-gateway[detection]')"
    else:
        from models.yolo_openvino import YoloOpenVinoDetector

        try:
            openvino = YoloOpenVinoDetector(
                path,
                name=manifest.name,
                input_size=manifest.input_size,
                keypoints=manifest.keypoints,
                threads=threads,
                confidence=confidence,
            )
        except ModelError as exc:
            reason = str(exc)
    if openvino is not None and runtime == "openvino":
        openvino.selection = RuntimeChoice(runtime="openvino", requested=runtime)
        return openvino
    ort_det = onnxruntime()
    if openvino is None:
        log.warning("detector runtime: onnxruntime (%s was asked for): %s", runtime, reason)
        ort_det.selection = RuntimeChoice(runtime="onnxruntime", requested=runtime, reason=reason)
        return ort_det
    try:
        measured = measure_runtimes({"onnxruntime": ort_det, "openvino": openvino}, manifest.input_size)
    except (RuntimeError, ValueError) as exc:  # loads but cannot run a blank frame: as good as missing
        openvino.close()
        reason = f"OpenVINO failed on a test frame: {exc}"
        log.warning("detector runtime: onnxruntime: %s", reason)
        ort_det.selection = RuntimeChoice(runtime="onnxruntime", requested=runtime, reason=reason)
        return ort_det
    chosen = min(measured, key=lambda k: measured[k]["cpu_ms"])
    winner, loser = (openvino, ort_det) if chosen == "openvino" else (ort_det, openvino)
    loser.close()
    figures = ", ".join(f"{k} {v['cpu_ms']:.1f} ms CPU / {v['wall_ms']:.1f} ms wall" for k, v in measured.items())
    log.info("detector runtime: %s chosen for %s (per frame on a blank frame: %s)", chosen, manifest.name, figures)
    winner.selection = RuntimeChoice(runtime=chosen, requested=runtime, measured=measured)
    return winner


def measure_runtimes(
    detectors: dict[str, YoloOnnxDetector | YoloOpenVinoDetector], size: int
) -> dict[str, dict[str, float]]:
    """The least process CPU and wall ms per inference of each detector on a blank letterboxed frame.

    Process CPU, not wall: what limits cameras per box is the CPU a frame costs, and a runtime's worker
    threads are charged to the process, not to the calling thread. That charge includes the gateway's
    other threads, which start up at the same moment (32 cameras connecting and decoding): their work
    only ever adds, so the least of each runtime's rounds is the closest to its own cost, where a median
    moves with the load. Runtimes are timed in turn, round after round, so a busy spell hits both alike.
    """
    from models.yolo_onnx import PAD_VALUE

    blob = np.full((1, 3, size, size), PAD_VALUE / 255.0, dtype=np.float32)
    for det in detectors.values():
        for _ in range(AUTO_WARMUP):
            det.infer(blob)
    cpu: dict[str, list[float]] = {k: [] for k in detectors}
    wall: dict[str, list[float]] = {k: [] for k in detectors}
    start = time.perf_counter()
    rounds = 0
    while rounds < AUTO_ROUNDS[0] or (rounds < AUTO_ROUNDS[1] and time.perf_counter() - start < AUTO_BUDGET_S):
        for key, det in detectors.items():
            c0, w0 = time.process_time(), time.perf_counter()
            det.infer(blob)
            cpu[key].append(time.process_time() - c0)
            wall[key].append(time.perf_counter() - w0)
        rounds += 1
    return {k: {"cpu_ms": 1000 * min(cpu[k]), "wall_ms": 1000 * min(wall[k])} for k in detectors}
