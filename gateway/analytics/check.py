"""Checks of the analytics set-up that need more than the config text: the detector can load."""

from __future__ import annotations

import importlib.util

from gateway.analytics.service import analysed_cameras
from gateway.config import GatewayConfig
from gateway.errors import ConfigIssue
from models.errors import ModelError
from models.registry import verify_model


def detector_issues(config: GatewayConfig) -> list[ConfigIssue]:
    """Why the configured detector would not load (missing backend, model file missing or altered)."""
    if not analysed_cameras(config):
        return []
    detector = config.analytics.detector
    if detector.backend != "yolo_onnx":
        return []
    issues = []
    if importlib.util.find_spec("onnxruntime") is None:
        issues.append(
            ConfigIssue(
                "analytics.detector.backend",
                "onnxruntime is not installed: pip install 'site-video-gateway[detection]', or use backend: hog",
            )
        )
    try:
        verify_model(detector.model, detector.models_dir)
    except ModelError as exc:
        issues.append(ConfigIssue("analytics.detector.model", str(exc), detector.model))
    return issues
