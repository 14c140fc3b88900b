"""RTSP source on PyAV: open a camera stream and read its encoded packets without decoding."""

from adapters.rtsp.errors import Reason, SourceError
from adapters.rtsp.source import RtspSource

__all__ = ["Reason", "RtspSource", "SourceError"]
