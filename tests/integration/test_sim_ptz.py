"""The simulated PTZ camera end to end: the ONVIF PTZ client drives sim/ptz.py's device, and the picture
of its RTSP mount (sim/rtsp_server.py, real GStreamer, read with PyAV) really moves.

Positions come from GetStatus in real time, so what is checked against velocity x time allows for the
HTTP round trips. The picture is checked with phase correlation (OpenCV) between decoded frames before
and after a move: its direction and size follow from the geometry of the PTZ mount (ptz_window: at zoom
0 the window is 2/3 of the picture's width, pan -1..1 moves it across the rest), and a zoom is found as
the magnification of the first frame's centre that matches the second best.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest

from adapters.common.redact import with_credentials
from adapters.onvif import OnvifClient
from adapters.onvif.ptz import Ptz, PtzPosition, open_ptz
from sim import rtsp_server
from sim.ptz import PICTURE_SIZE, PtzDeviceServer, make_ptz_picture
from sim.server import PtzView, RtspServerProcess
from tests.support.clips import clips_locked

pytestmark = pytest.mark.integration

USER = "ptz-viewer"
PASSWORD = secrets.token_urlsafe(12)  # made per run: no credential is written down
OUTPUT = (640, 360)
SETTLE_S = 0.5  # a frame that arrives this long after the camera stopped shows where it stopped
Gray = npt.NDArray[np.uint8]

# The mount's geometry, in output pixels per unit of pan or tilt at zoom 0 (sim/rtsp_server.py, ptz_window).
WIDE_W = PICTURE_SIZE[0] * rtsp_server.PTZ_WIDE_FRACTION
WIDE_H = WIDE_W * OUTPUT[1] / OUTPUT[0]
PX_PER_PAN = (PICTURE_SIZE[0] - WIDE_W) / 2 * OUTPUT[0] / WIDE_W  # 160
PX_PER_TILT = (PICTURE_SIZE[1] - WIDE_H) / 2 * OUTPUT[1] / WIDE_H  # 180


class FrameReader:
    """Decodes the RTSP stream in a thread and keeps the latest frames (grayscale) with their arrival time."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._frames: list[tuple[float, Gray]] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ptz-frames", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        self.frame_after(0.0, timeout_s=15.0)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            with av.open(self.url, options={"rtsp_transport": "tcp", "timeout": "5000000"}) as container:
                for frame in container.decode(video=0):
                    gray = np.asarray(frame.to_ndarray(format="gray"), np.uint8)
                    with self._cond:
                        self._frames = [*self._frames[-2:], (time.monotonic(), gray)]
                        self._cond.notify_all()
                    if self._stop.is_set():
                        return
        except BaseException as exc:  # noqa: BLE001 - handed to the test waiting for a frame
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def frame_after(self, moment: float, timeout_s: float = 5.0) -> Gray:
        """The first frame that arrived after `moment` (time.monotonic)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                if self._error is not None:
                    raise AssertionError(f"the RTSP stream failed: {self._error!r}")
                later = [frame for at, frame in self._frames if at > moment]
                if later:
                    return later[0]
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no frame within {timeout_s} s"
                self._cond.wait(remaining)


@dataclass
class Site:
    camera: PtzDeviceServer
    rtsp: RtspServerProcess
    frames: FrameReader


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with clips_locked() as directory:
        picture = make_ptz_picture(directory)
    state = tmp_path_factory.mktemp("ptz") / "state.json"
    rtsp = RtspServerProcess([], ptz=[("/ptz", PtzView(picture, state))], username=USER, password=PASSWORD)
    camera = PtzDeviceServer(USER, PASSWORD, main_uri=rtsp.url("/ptz"), state_path=state)
    with camera, rtsp, FrameReader(with_credentials(rtsp.url("/ptz"), USER, PASSWORD)) as frames:
        yield Site(camera, rtsp, frames)


@pytest.fixture
async def ptz(site: Site) -> AsyncIterator[Ptz]:
    async with OnvifClient("127.0.0.1", site.camera.port, USER, PASSWORD) as client:
        yield await open_ptz(client)


async def idle(ptz: Ptz, timeout_s: float = 5.0) -> PtzPosition:
    """Wait until the camera stands still; its position then."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = await ptz.get_status()
        if not status.moving:
            assert status.position is not None
            return status.position
        assert time.monotonic() < deadline, f"still moving after {timeout_s} s"
        await asyncio.sleep(0.05)


async def go(ptz: Ptz, pan: float, tilt: float, zoom: float) -> float:
    """Move to a position and wait there; the moment (time.monotonic) it stood still."""
    await ptz.absolute_move(pan, tilt, zoom, speed=1.0)
    assert await idle(ptz) == PtzPosition(pan, tilt, zoom)
    return time.monotonic()


def settled_frame(site: Site, stopped_at: float) -> Gray:
    return site.frames.frame_after(stopped_at + SETTLE_S)


def shift(before: Gray, after: Gray) -> tuple[float, float, float]:
    """(dx, dy, response): how far the picture's content moved from `before` to `after`, in pixels."""
    window = cv2.createHanningWindow((before.shape[1], before.shape[0]), cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(before.astype(np.float32), after.astype(np.float32), window)
    return float(dx), float(dy), float(response)


def magnification(before: Gray, after: Gray) -> tuple[float, float]:
    """(scale, correlation): the magnification of `before`'s centre that looks most like `after`."""
    h, w = before.shape
    best = (1.0, -1.0)
    for scale in np.arange(1.0, 3.51, 0.05):
        cw, ch = round(w / scale), round(h / scale)
        x, y = (w - cw) // 2, (h - ch) // 2
        zoomed = cv2.resize(before[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_LINEAR)
        score = float(cv2.matchTemplate(after, zoomed, cv2.TM_CCOEFF_NORMED)[0, 0])
        if score > best[1]:
            best = (float(scale), score)
    return best


async def test_presets_are_set_listed_reached_and_removed(ptz: Ptz) -> None:
    await go(ptz, 0.3, -0.2, 0.2)
    gate = await ptz.set_preset("gate")
    await go(ptz, -0.1, 0.2, 0.0)
    door = await ptz.set_preset("door")
    assert await ptz.get_presets() == [(gate, "gate"), (door, "door")]
    await ptz.goto_preset(gate, speed=1.0)
    assert (await ptz.get_status()).moving
    assert await idle(ptz) == PtzPosition(0.3, -0.2, 0.2)  # it arrives exactly, and stops
    await ptz.goto_home_position(speed=1.0)
    assert await idle(ptz) == PtzPosition(0.0, 0.0, 0.0)
    await ptz.goto_preset(door)
    assert await idle(ptz) == PtzPosition(-0.1, 0.2, 0.0)
    await ptz.remove_preset(gate)
    await ptz.remove_preset(door)
    assert await ptz.get_presets() == []


async def test_continuous_move_runs_at_its_velocity_until_stopped_or_timed_out(ptz: Ptz) -> None:
    await go(ptz, -0.5, 0.0, 0.0)
    started = time.monotonic()
    await ptz.continuous_move(pan=0.5)
    await asyncio.sleep(1.0)
    await ptz.stop()
    elapsed = time.monotonic() - started
    position = await idle(ptz, timeout_s=0.5)  # Stop stops at once
    assert position.pan == pytest.approx(-0.5 + 0.5 * elapsed, abs=0.05)
    assert (position.tilt, position.zoom) == (0.0, 0.0)
    # A move with a timeout stops by itself: 0.5 units/s for 0.6 s.
    await ptz.continuous_move(tilt=0.5, zoom=0.25, timeout_s=0.6)
    await asyncio.sleep(0.2)
    assert (await ptz.get_status()).moving
    await asyncio.sleep(0.8)
    status = await ptz.get_status()
    assert not status.moving and status.position is not None
    assert (status.position.tilt, status.position.zoom) == (pytest.approx(0.3), pytest.approx(0.15))


async def test_the_picture_pans_and_tilts_with_the_camera(site: Site, ptz: Ptz) -> None:
    before = settled_frame(site, await go(ptz, -0.4, -0.3, 0.0))
    await ptz.continuous_move(pan=0.5, tilt=0.4)
    await asyncio.sleep(0.8)
    await ptz.stop()
    moved = await idle(ptz)
    after = settled_frame(site, time.monotonic())
    assert moved.pan is not None and moved.tilt is not None
    d_pan, d_tilt = moved.pan + 0.4, moved.tilt + 0.3
    assert 0.3 < d_pan < 0.5 and 0.25 < d_tilt < 0.4
    dx, dy, response = shift(before, after)
    # Pan right: the view goes right, its content left; tilt up: the content goes down.
    assert dx == pytest.approx(-d_pan * PX_PER_PAN, rel=0.1, abs=2.0), (dx, dy, response)
    assert dy == pytest.approx(d_tilt * PX_PER_TILT, rel=0.1, abs=2.0), (dx, dy, response)
    assert response > 0.2
    # Standing still, the picture does not move.
    still_dx, still_dy, _ = shift(after, site.frames.frame_after(time.monotonic() + 0.3))
    assert abs(still_dx) < 0.5 and abs(still_dy) < 0.5


async def test_zoom_magnifies_the_centre_of_the_picture(site: Site, ptz: Ptz) -> None:
    before = settled_frame(site, await go(ptz, 0.1, 0.2, 0.0))
    await ptz.continuous_move(zoom=0.5)
    await asyncio.sleep(1.0)
    await ptz.stop()
    zoomed = await idle(ptz)
    after = settled_frame(site, time.monotonic())
    assert zoomed.zoom is not None and 0.35 < zoomed.zoom < 0.65
    expected = 1.0 + (rtsp_server.PTZ_MAX_ZOOM - 1.0) * zoomed.zoom
    scale, score = magnification(before, after)
    assert scale == pytest.approx(expected, abs=0.1) and score > 0.8, (scale, score, expected)
    unzoomed_score = float(cv2.matchTemplate(after, before, cv2.TM_CCOEFF_NORMED)[0, 0])
    assert unzoomed_score < score - 0.2
    # All the way in: the most the camera magnifies (the first frame's centre, blown up 3x, is blurred:
    # it matches less well, but best at that scale).
    tele = settled_frame(site, await go(ptz, 0.1, 0.2, 1.0))
    scale, score = magnification(before, tele)
    assert scale == pytest.approx(rtsp_server.PTZ_MAX_ZOOM, abs=0.1) and score > 0.5, (scale, score)


def test_the_picture_is_real_footage(site: Site) -> None:
    """Not a synthetic pattern: the PTZ camera looks at vtest.avi's first frame (sim/footage.py)."""
    assert site.rtsp.plays("/ptz") >= 1
    frame = site.frames.frame_after(time.monotonic())
    assert frame.shape == (OUTPUT[1], OUTPUT[0])
    assert float(frame.std()) > 20.0  # a textured scene, neither blank nor flat
    assert Path(site.rtsp.ptz[0][1].picture).name == "ptz_picture.png"
