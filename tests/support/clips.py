"""The sample clips' cache (samples/clips, or $GATEWAY_SIM_CLIPS), shared by parallel workers.

tests/conftest.py's clip fixtures make the clips under the lock; a test that makes clips of its own
(tests/integration/test_smart_codec_site.py) takes the same lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def clip_dir() -> Path:
    return Path(os.environ.get("GATEWAY_SIM_CLIPS", REPO / "samples" / "clips"))


@contextlib.contextmanager
def clips_locked() -> Iterator[Path]:
    """The clip cache, held by this process: parallel workers make each clip once, and never read one
    that another is still writing."""
    directory = clip_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield directory
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
