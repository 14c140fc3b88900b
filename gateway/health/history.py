"""Persist every camera state change, so uptime can be computed over any window later."""

from __future__ import annotations

import logging
import queue
import threading

from sqlalchemy.exc import SQLAlchemyError

from gateway.health.state import CameraStatus
from gateway.storage import schema
from gateway.storage.db import Database

log = logging.getLogger(__name__)

_Row = tuple[str, float, str, str | None]


class StateHistory:
    """Writes state changes in a background thread so the event loop never waits on the disk.

    Changes are queued in order and written in batches; `close()` drains the queue first, so a
    clean shutdown loses nothing.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        # None is the stop marker.
        self._queue: queue.Queue[_Row | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._writer, name="state-history", daemon=True)
        self._thread.start()

    def record(self, new: CameraStatus, _old: CameraStatus | None = None) -> None:
        self._queue.put((new.camera_id, new.since, new.state.value, new.reason))

    def close(self, timeout_s: float = 10.0) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout_s)
        self._thread = None

    def _writer(self) -> None:
        while True:
            item = self._queue.get()
            batch = [] if item is None else [item]
            stop = item is None
            while not stop:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    batch.append(more)
            if batch:
                self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Row]) -> None:
        rows = [{"camera_id": cid, "ts": ts, "state": state, "reason": reason} for cid, ts, state, reason in batch]
        try:
            with self._db.engine.begin() as conn:
                conn.execute(schema.camera_state_changes.insert(), rows)
        except SQLAlchemyError as exc:
            log.error("could not store %d camera state change(s): %s", len(rows), exc)
