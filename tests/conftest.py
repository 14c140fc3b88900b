from __future__ import annotations

import os

# Tests never reach beyond 127.0.0.1; keep any library that might phone home quiet.
os.environ.setdefault("YOLO_OFFLINE", "1")
