"""The product's web pages: server-rendered, cookie sessions, every asset served by the gateway itself."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"
# Where the pages' own files are mounted; the API's routes never live under it.
ASSETS_PREFIX = "/assets"
