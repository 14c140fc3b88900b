"""Each camera's reference picture for the "camera moved" check, kept in storage across restarts.

A reference is taken from the first good sampled picture a camera ever gives (not from a black or
unlit one) and kept until an operator resets it, e.g. after re-aiming the camera on purpose.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.storage import schema
from gateway.storage.db import Database

log = logging.getLogger(__name__)


class QualityReferences:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._images: dict[str, bytes] = {}
        self._taken: dict[str, float] = {}
        self._lock = threading.Lock()
        self._writers: set[threading.Thread] = set()

    def load(self) -> None:
        t = schema.quality_references
        with self._db.engine.connect() as conn:
            rows = conn.execute(select(t.c.camera_id, t.c.ts, t.c.image)).all()
        with self._lock:
            self._images = {row.camera_id: bytes(row.image) for row in rows}
            self._taken = {row.camera_id: row.ts for row in rows}

    def get(self, camera_id: str) -> bytes | None:
        with self._lock:
            return self._images.get(camera_id)

    def taken_at(self, camera_id: str) -> float | None:
        with self._lock:
            return self._taken.get(camera_id)

    def save(self, camera_id: str, image: bytes, at: float | None = None) -> None:
        """Keep a new reference now and store it in the background (called on the event loop)."""
        ts = time.time() if at is None else at
        with self._lock:
            self._images[camera_id] = image
            self._taken[camera_id] = ts
        writer = threading.Thread(
            target=self._write, args=(camera_id, image, ts), name="quality-reference", daemon=True
        )
        with self._lock:
            self._writers = {t for t in self._writers if t.is_alive()} | {writer}
        writer.start()

    def wait_written(self, within_s: float) -> bool:
        """Blocking: wait for references being stored (at stop); False if one is still being written."""
        deadline = time.monotonic() + within_s
        with self._lock:
            writers = list(self._writers)
        for writer in writers:
            writer.join(max(0.0, deadline - time.monotonic()))
        return not any(w.is_alive() for w in writers)

    def reset(self, camera_id: str) -> bool:
        """Forget a camera's reference (blocking); its next good picture becomes the new one."""
        with self._lock:
            known = self._images.pop(camera_id, None) is not None
            self._taken.pop(camera_id, None)
        t = schema.quality_references
        with self._db.engine.begin() as conn:
            deleted = conn.execute(delete(t).where(t.c.camera_id == camera_id)).rowcount
        return known or bool(deleted)

    def _write(self, camera_id: str, image: bytes, ts: float) -> None:
        t = schema.quality_references
        try:
            with self._db.engine.begin() as conn:
                conn.execute(delete(t).where(t.c.camera_id == camera_id))
                conn.execute(t.insert().values(camera_id=camera_id, ts=ts, image=image))
        except SQLAlchemyError as exc:
            # Kept in memory for this run; the next run takes a new one.
            log.error("camera %s: storing its quality reference picture failed: %s", camera_id, exc)
