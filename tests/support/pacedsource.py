"""A fake camera source that worker processes can build (a module-level factory: spawn pickles it by
name): numbered H.264-like packets at a steady rate, a keyframe every ``KEY_EVERY``; with sound
(`paced_audio_source_factory`), a numbered G.711 A-law frame after each video packet."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from fractions import Fraction

from adapters.common.media import AudioInfo, Packet, StreamInfo
from gateway.config import CameraConfig, SupervisorConfig

INFO = StreamInfo("h264", 640, 360, "Baseline", 50.0, Fraction(1, 90000), None)
AUDIO_INFO = StreamInfo(
    "h264", 640, 360, "Baseline", 50.0, Fraction(1, 90000), None, AudioInfo("pcma", 8000, 1, Fraction(1, 8000), None)
)
KEY_EVERY = 10
INTERVAL_S = 0.02


class PacedSource:
    def __init__(self, camera_id: str, audio: bool = False) -> None:
        self.camera_id = camera_id
        self.audio = audio
        self._closed = threading.Event()

    def open(self) -> StreamInfo:
        return AUDIO_INFO if self.audio else INFO

    def packets(self) -> Iterator[Packet]:
        n = 0
        while not self._closed.is_set():
            # The sequence number in the payload lets a test check order and loss across the pipe.
            data = b"\x00\x00\x00\x01" + (b"\x65" if n % KEY_EVERY == 0 else b"\x41") + n.to_bytes(4, "big")
            yield Packet(
                self.camera_id, "h264", n * 1800, n * 1800, INFO.time_base, n % KEY_EVERY == 0, data, time.monotonic()
            )
            if self.audio:
                yield Packet(
                    self.camera_id,
                    "pcma",
                    n * 160,
                    n * 160,
                    Fraction(1, 8000),
                    True,
                    bytes(156) + n.to_bytes(4, "big"),
                    time.monotonic(),
                )
            n += 1
            self._closed.wait(INTERVAL_S)

    def close(self) -> None:
        self._closed.set()


def paced_source_factory(camera: CameraConfig, settings: SupervisorConfig) -> PacedSource:
    return PacedSource(camera.id)


def paced_audio_source_factory(camera: CameraConfig, settings: SupervisorConfig) -> PacedSource:
    return PacedSource(camera.id, audio=True)


def sequence_of(packet: Packet) -> int:
    return int.from_bytes(packet.data[-4:], "big")
