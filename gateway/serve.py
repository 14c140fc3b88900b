"""Serve the ASGI app with uvicorn, the way `gateway run` and the demo (`python -m sim demo`) both need it."""

from __future__ import annotations

from types import FrameType

import uvicorn
from fastapi import FastAPI


class _Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after a graceful shutdown, so the process would end "killed by
        # SIGTERM". A requested stop that shut down cleanly is a normal exit (status 0) for us.
        self._captured_signals.clear()


def serve(app: FastAPI, host: str, port: int, *, access_log: bool = False) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # keep our handler, which masks credentials
        access_log=access_log,
        timeout_graceful_shutdown=5,
        server_header=False,  # no software name or version for a scanner to match against known bugs
    )
    _Server(config).run()
