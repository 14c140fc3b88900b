from __future__ import annotations

from gateway.pipeline.pacing import Pacer


def test_naps_while_up_to_date_and_reads_on_while_behind() -> None:
    pacer = Pacer(0.5)
    # Packets read as they arrive (arrival tracks stream time): nap after each.
    assert pacer.nap_after(0.0, 100.0) == 0.5
    assert pacer.nap_after(0.04, 100.04) == 0.5
    # After a nap, the backlog is read at once: packets up to 0.5 s late are read on...
    assert pacer.nap_after(0.08, 100.54) == 0.0
    assert pacer.nap_after(0.20, 100.545) == 0.0
    # ...until the newest packet is current again (less than half a nap behind): nap.
    assert pacer.nap_after(0.50, 100.55) == 0.5


def test_timestamp_jumps_and_missing_timestamps() -> None:
    pacer = Pacer(0.5)
    assert pacer.nap_after(None, 1.0) == 0.0
    pacer.nap_after(1000.0, 1.0)
    # The camera clock jumped back by an hour: a new floor, not an hour of lag.
    assert pacer.nap_after(-2600.0, 1.1) == 0.5
    assert Pacer(0).nap_after(1.0, 1.0) == 0.0


def test_a_slow_camera_clock_is_not_mistaken_for_lag() -> None:
    pacer = Pacer(0.5)
    naps = 0
    # The camera clock runs 200 ppm slow for an hour of packets at 25 fps (sampled every second).
    for second in range(3600):
        naps += pacer.nap_after(second * (1 - 200e-6), 50.0 + second) > 0
    assert naps == 3600
