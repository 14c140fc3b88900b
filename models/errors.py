"""The one exception tree of the detector backends; each message is one sentence an operator can act on."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

EXPORT_COMMAND = ".venv/bin/python -m models.export"


class ModelError(Exception):
    """Base of every error raised while finding, checking or loading a detector model."""


class ManifestError(ModelError):
    """An unknown model name, or a manifest that cannot be read."""

    @classmethod
    def unknown(cls, name: str, known: Iterable[str]) -> ManifestError:
        names = ", ".join(sorted(known)) or "none"
        return cls(f"unknown model {name!r}; known models: {names}")

    @classmethod
    def unreadable(cls, path: Path, reason: str) -> ManifestError:
        return cls(f"model manifest {path} cannot be read: {reason}")


class ModelMissingError(ModelError):
    """The exported model file is not in the models directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"model file {path} is missing; create it with: {EXPORT_COMMAND} --models-dir {path.parent}")


class ModelChecksumError(ModelError):
    """The model file's sha256 is not the one its manifest (or the exporter's local record) names."""

    def __init__(self, path: Path, expected: str, actual: str) -> None:
        self.path, self.expected, self.actual = path, expected, actual
        super().__init__(
            f"model file {path} has sha256 {actual} but {expected} was expected;"
            f" re-create it with: {EXPORT_COMMAND} --force --models-dir {path.parent}"
        )


class BackendUnavailableError(ModelError):
    """A backend's optional dependency is not installed."""

    @classmethod
    def missing(cls, backend: str, package: str) -> BackendUnavailableError:
        return cls(
            f"the {backend} detector backend needs {package}, which is not installed:"
            f" pip install 'site-video-gateway[detection]'"
        )
