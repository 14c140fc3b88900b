"""Find, check and load a detector by name: the only door from the gateway into `models`.

Backends are imported inside `load_detector`, so a gateway without onnxruntime still starts with
HOG, and one whose YOLO backend cannot load is told why in one sentence.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

from models.base import Detector
from models.errors import BackendUnavailableError, ManifestError, ModelChecksumError, ModelMissingError
from models.manifest import Manifest, load_manifest

BACKENDS = ("yolo_onnx", "hog")
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


def load_detector(backend: str, *, model: str, models_dir: Path, threads: int, confidence: float) -> Detector:
    """A ready detector; `model` names a manifest for yolo_onnx and is not used by hog (it has no weights)."""
    if backend == "hog":
        from models.hog import HogDetector

        return HogDetector(input_size=HOG_INPUT_SIZE, confidence=confidence, threads=threads)
    if backend == "yolo_onnx":
        try:
            importlib.import_module("onnxruntime")
        except ImportError as exc:
            raise BackendUnavailableError.missing("yolo_onnx", "onnxruntime") from exc
        from models.yolo_onnx import YoloOnnxDetector

        manifest = verify_model(model, models_dir)
        if manifest.backend != backend:
            raise ManifestError(f"model {model!r} is for the {manifest.backend} backend, not {backend}")
        return YoloOnnxDetector(
            model_path(manifest, models_dir),
            name=manifest.name,
            input_size=manifest.input_size,
            keypoints=manifest.keypoints,
            threads=threads,
            confidence=confidence,
        )
    raise BackendUnavailableError(f"unknown detector backend {backend!r}; known backends: {', '.join(BACKENDS)}")
