"""Real camera footage shipped in Debian packages, and the simulator clips made from it.

``vtest.avi`` (PETS 2009: an outdoor scene at 768x576, 10 fps, people walking, real sensor noise and
compression) and ``tree.avi`` come in Debian's ``opencv-doc`` package; ``scripts/setup.sh`` extracts
them into ``var/footage`` (nothing is fetched at run time). They are the input nobody here made: the
quality checks are proven on them (``benchmarks.bench_quality_accuracy``), and the RTSP simulator serves
two cameras cut from vtest: the still lawn, live, and the same lawn frozen by its encoder while the
clock runs on.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

from sim.clips import ClipInfo, draw_osd

Image = npt.NDArray[np.uint8]

FOOTAGE_DIR = Path(__file__).resolve().parents[1] / "var" / "footage"
VTEST = "vtest.avi"
TREE = "tree.avi"
# The bottom-left lawn of vtest.avi: nobody walks there in the whole clip (x, y, width, height).
LAWN = (0, 330, 436, 246)
_VERSION = 1
_EPOCH = datetime(2024, 5, 1, 2, 0, 0)  # a night-time clock on the OSD, fixed for reproducible clips


class FootageMissing(FileNotFoundError):
    """The Debian footage is not installed (``make setup`` extracts it from opencv-doc)."""


def footage_path(name: str, directory: Path = FOOTAGE_DIR) -> Path:
    path = directory / name
    if not path.is_file():
        raise FootageMissing(f"{path} is missing: run `make setup` (it extracts {name} from Debian's opencv-doc)")
    return path


def read_frames(name: str, *, limit: int | None = None, directory: Path = FOOTAGE_DIR) -> list[Image]:
    """Every frame (BGR) of a footage file, decoded once."""
    frames: list[Image] = []
    with av.open(str(footage_path(name, directory))) as container:
        for frame in container.decode(video=0):
            frames.append(np.asarray(frame.to_ndarray(format="bgr24"), np.uint8))
            if limit is not None and len(frames) >= limit:
                break
    return frames


def crop(frame: Image, box: tuple[int, int, int, int]) -> Image:
    x, y, w, h = box
    return np.ascontiguousarray(frame[y : y + h, x : x + w])


def encode_h264(
    frames: Iterator[Image] | list[Image],
    target: Path,
    *,
    fps: int,
    gop: int,
    options: str = "crf=23",
    label: str | None = None,
) -> None:
    """Encode BGR frames to an Annex-B H.264 file (atomic), with the OSD clock and label burned in when
    ``label`` is given. ``options`` are x264 rate-control settings (``crf=23``, ``qp=26``...)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with av.open(str(tmp), mode="w", format="h264") as container:
            params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:repeat-headers=1:{options}"
            stream = container.add_stream("libx264", rate=fps, options={"preset": "veryfast", "x264-params": params})
            stream.pix_fmt = "yuv420p"
            stream.thread_type = "FRAME"  # slice threads would cut every picture into slices
            for n, image in enumerate(frames):
                if n == 0:
                    stream.width, stream.height = image.shape[1], image.shape[0]
                picture = image.copy()
                if label is not None:
                    draw_osd(picture, label, _EPOCH + timedelta(seconds=n // fps))
                i420 = np.asarray(cv2.cvtColor(picture, cv2.COLOR_BGR2YUV_I420), np.uint8)
                frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
                frame.pts = n
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        tmp.chmod(0o644)
        tmp.replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _lawn_frames(frozen: bool, size: tuple[int, int]) -> list[Image]:
    frames = [
        np.asarray(cv2.resize(crop(f, LAWN), size, interpolation=cv2.INTER_CUBIC), np.uint8) for f in read_frames(VTEST)
    ]
    return [frames[0]] * len(frames) if frozen else frames


def make_lawn_clips(out_dir: Path, *, size: tuple[int, int] = (1280, 720)) -> dict[str, ClipInfo]:
    """The lawn of vtest.avi as two 720p cameras (cached): ``lawn_live`` (the real footage, nothing moving
    but its noise) and ``lawn_frozen`` (its first frame repeated, as a stuck encoder does, clock running).
    10 fps like the footage, one keyframe every 2 s; the live clip loops at the end of the footage."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clips = {}
    for name, frozen, options in (("lawn_live", False, "crf=23"), ("lawn_frozen", True, "qp=26")):
        # A frozen encoder has settled its rate control on its one picture: a constant quantiser.
        target = out_dir / f"{name}.h264"
        frames = 790  # whole GOPs of the 795 frames
        info = ClipInfo(name, target.resolve(), "h264", size[0], size[1], 10, frames, 20)
        sidecar = out_dir / f"{name}.json"
        want = {"version": _VERSION, "options": options, "width": size[0], "height": size[1], "frames": frames}
        try:
            cached = target.is_file() and json.loads(sidecar.read_text()) == want
        except (OSError, ValueError):
            cached = False
        if not cached:
            encode_h264(_lawn_frames(frozen, size)[:frames], target, fps=10, gop=20, options=options, label="CAM LAWN")
            sidecar.write_text(json.dumps(want))
        clips[name] = info
    return clips
