"""A reader skims (adapters/rtsp/live.py `skim`) only while nobody takes its camera's packets: the P-frames'
sizes are measured the same either way, and a packet without its bytes never reaches a consumer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from fractions import Fraction

import pytest

from adapters.common.media import Packet, StreamInfo
from gateway.config import SupervisorConfig
from gateway.health.state import MeasuredStream
from gateway.pipeline.bus import BlockingSubscription, PacketBus
from gateway.pipeline.readers import read_session

FRAMES = 60
GOP = 25


class SkimmingSource:
    """A camera whose P-frames come without their bytes while `skim` is set, as the light reader's do. A
    subscriber joins the bus at frame 20 and leaves at frame 40."""

    def __init__(self, bus: PacketBus | None) -> None:
        self.skim = False
        self.whole = False  # never skims, whatever it is told (to compare with)
        self.seen: list[bool] = []  # skim, as each packet was made
        self.bus = bus
        self.sub: BlockingSubscription | None = None

    def open(self) -> StreamInfo:
        return StreamInfo("h264", 64, 64, None, 25.0, Fraction(1, 90000), None)

    def packets(self) -> Iterator[Packet]:
        for n in range(FRAMES):
            if self.bus is not None and n == 20:
                self.sub = self.bus.subscribe_blocking("viewer", 1000)
            if self.sub is not None and n == 40:
                self.sub.close()
            key = n % GOP == 0
            data = b"\x00\x00\x00\x01" + bytes([0x65 if key else 0x41]) + bytes(99 + n)
            skimmed = self.skim and not key and not self.whole
            self.seen.append(self.skim)
            yield Packet(
                "cam", "h264", n * 3600, n * 3600, Fraction(1, 90000), key,
                b"" if skimmed else data, n * 0.04, len(data) if skimmed else 0,
            )  # fmt: skip

    def close(self) -> None:
        pass


@pytest.mark.parametrize("with_bus", [False, True])
def test_skimming_follows_the_consumers_and_measures_the_same(with_bus: bool) -> None:
    bus = PacketBus("cam") if with_bus else None
    source = SkimmingSource(bus)
    snapshots: list[MeasuredStream] = []
    settings = SupervisorConfig(read_batch_s=0, quality_interval_s=0)
    with pytest.raises(Exception, match="ended"):
        read_session(source, settings, threading.Event(), lambda m, _at: snapshots.append(m), bus, None)  # type: ignore[arg-type]
    # The first packet comes before the reader could say; then it skims, except while the viewer is there
    # (from the packet after it came to the one after it left).
    expected = [False] + [True] * (FRAMES - 1)
    if with_bus:
        expected[21:41] = [False] * 20
    assert source.seen == expected
    if with_bus:
        assert source.sub is not None
        taken = []
        while (packet := source.sub.get(0)) is not None:
            taken.append(packet)
        # The packet skimmed as the viewer came is not handed on; every one it got has its bytes.
        assert [int(p.pts or 0) // 3600 for p in taken] == list(range(21, 40))
        assert all(p.data and not p.skimmed_size for p in taken)
    # Every byte is counted, skimmed or not: the figures equal those of the same stream read whole.
    whole = SkimmingSource(None)
    whole.whole = True
    measured: list[MeasuredStream] = []
    with pytest.raises(Exception, match="ended"):
        read_session(whole, settings, threading.Event(), lambda m, _at: measured.append(m), None, None)  # type: ignore[arg-type]
    assert len(snapshots) == len(measured) >= 2 and snapshots == measured
