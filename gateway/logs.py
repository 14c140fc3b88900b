"""Logging set-up: one line per event, credentials masked on the way out."""

from __future__ import annotations

import logging
import sys

from adapters.common.redact import mask_text


class RedactingFilter(logging.Filter):
    """Masks credentials in every record, whatever module produced it (PyAV and uvicorn included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            # Exceptions are formatted later from exc_info; pre-render and mask them now.
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = mask_text(formatted)
        return True


def setup_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_gateway", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._gateway = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # FFmpeg's own chatter goes through PyAV's logger; keep it at warnings.
    logging.getLogger("libav").setLevel(logging.WARNING)
