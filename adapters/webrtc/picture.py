"""A JPEG of one keyframe: decode the access unit (PyAV), encode with OpenCV."""

from __future__ import annotations

from typing import cast

import av
import cv2
from av.video.codeccontext import VideoCodecContext

from adapters.common.h26x import ParameterSetError, nal_units_from_extradata

_DECODERS = {"h264": "h264", "h265": "hevc"}


class PictureError(ValueError):
    """The keyframe could not be decoded into a picture."""


def keyframe_to_jpeg(codec: str, extradata: bytes | None, data: bytes, quality: int = 80) -> tuple[bytes, int, int]:
    """(JPEG bytes, width, height) of the keyframe `data` (Annex-B). Blocking: run it in a thread."""
    name = _DECODERS.get(codec)
    if name is None:
        raise PictureError(f"cannot decode {codec}")
    prefix = b""
    if extradata:
        try:
            prefix = b"".join(b"\x00\x00\x00\x01" + nal for nal in nal_units_from_extradata(extradata, codec))
        except ParameterSetError:
            prefix = b""
    decoder = cast(VideoCodecContext, av.CodecContext.create(name, "r"))
    try:
        frames = list(decoder.decode(av.Packet(prefix + data)))
        frames += list(decoder.decode(None))
    except av.error.FFmpegError as exc:
        raise PictureError(f"the keyframe did not decode: {exc}") from None
    if not frames:
        raise PictureError("the keyframe gave no picture")
    frame = frames[0]
    image = frame.to_ndarray(format="bgr24")
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise PictureError("JPEG encoding failed")
    return encoded.tobytes(), int(frame.width), int(frame.height)
