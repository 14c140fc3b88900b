"""ONVIF PullPoint events against the simulated devices: delivery, renewal, and surviving a reboot."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

import pytest

from adapters.onvif import OnvifClient, OnvifError, OnvifEvent, WatchStats, watch_events
from sim.onvif_device import OnvifDeviceServer
from tests.support.waiting import wait_until_async

pytestmark = pytest.mark.integration

USER, PASSWORD = "admin", secrets.token_urlsafe(12)  # made per run: no credential is written down
MAIN = "rtsp://127.0.0.1:8554/cam1/main"
MOTION = "tns1:RuleEngine/CellMotionDetector/Motion"
TAMPER = "tns1:VideoSource/GlobalSceneChange/ImagingService"


def _device(vendor: str, **kw: object) -> OnvifDeviceServer:
    return OnvifDeviceServer(vendor, USER, PASSWORD, main_uri=MAIN, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("vendor", ["generic", "hik-like"])
async def test_pull_point_delivers_emitted_events(vendor: str) -> None:
    with _device(vendor, clock_skew_s=3600.0) as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            pp = await cam.create_pull_point(termination_s=30)
            assert pp.address.startswith(f"http://127.0.0.1:{dev.port}/")  # hik-like reports a private address
            assert 25 < pp.remaining_s <= 30  # from the device's own Current/TerminationTime: skew cancels
            assert await pp.pull(timeout_s=1) == []  # nothing queued: the long-poll runs out
            dev.emit_event(MOTION, {"IsMotion": "true"}, {"VideoSourceConfigurationToken": "vsc_1"})
            dev.emit_event(TAMPER, {"State": "true"})
            events = await pp.pull(timeout_s=2, limit=10)
            await pp.renew(45)
            assert 40 < pp.remaining_s <= 45 and dev.renewals == 1
            await pp.unsubscribe()
            assert dev.live_subscriptions == 0
            with pytest.raises(OnvifError):
                await pp.pull(timeout_s=1)  # gone: fault (generic) or HTTP 404 (hik-like)
    assert [(e.kind, e.topic) for e in events] == [
        ("motion", "RuleEngine/CellMotionDetector/Motion"),
        ("tamper", "VideoSource/GlobalSceneChange/ImagingService"),
    ]
    assert events[0].data == {"IsMotion": "true"} and events[0].source == {"VideoSourceConfigurationToken": "vsc_1"}
    assert events[0].utc is not None


async def test_pull_wakes_up_as_soon_as_an_event_arrives() -> None:
    with _device("generic") as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            pp = await cam.create_pull_point()
            loop = asyncio.get_running_loop()
            loop.call_later(0.2, dev.emit_event, "tns1:VideoSource/MotionAlarm", {"State": "true"})
            t0 = loop.time()
            events = await pp.pull(timeout_s=8)
            assert loop.time() - t0 < 3.0
    assert [e.kind for e in events] == ["motion"]


async def test_device_without_events_service_is_not_supported() -> None:
    with _device("dahua-like") as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            with pytest.raises(OnvifError) as info:
                await cam.create_pull_point()
    assert info.value.reason == "not supported"


@dataclass
class _Watch:
    cam: OnvifClient
    task: asyncio.Task[WatchStats]
    received: list[OnvifEvent] = field(default_factory=list)
    stats: WatchStats = field(default_factory=WatchStats)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 5.0)
        await self.cam.aclose()


async def _watch(dev: OnvifDeviceServer, termination_s: float = 60.0, pull_timeout_s: float = 5.0) -> _Watch:
    received: list[OnvifEvent] = []
    stats, stop = WatchStats(), asyncio.Event()
    cam = await OnvifClient("127.0.0.1", dev.port, USER, PASSWORD, timeout_s=2.0).__aenter__()
    task = asyncio.create_task(
        watch_events(
            cam,
            received.append,
            stop=stop,
            stats=stats,
            termination_s=termination_s,
            pull_timeout_s=pull_timeout_s,
            backoff_s=(0.05, 0.5),
        )
    )
    return _Watch(cam, task, received, stats, stop)


@pytest.mark.parametrize("vendor", ["generic", "hik-like"])
async def test_watch_renews_and_recreates_the_subscription_after_a_reboot(vendor: str) -> None:
    with _device(vendor) as dev:
        w = await _watch(dev, termination_s=4.0, pull_timeout_s=1.0)
        received, stats = w.received, w.stats
        try:
            await wait_until_async("dev.live_subscriptions == 1", lambda: dev.live_subscriptions == 1, 10.0)
            dev.emit_event(MOTION, {"IsMotion": "true"})
            await wait_until_async("len(received) == 1", lambda: len(received) == 1, 10.0)
            await wait_until_async(
                "stats.renewals >= 1", lambda: stats.renewals >= 1, 10.0
            )  # lease 4 s, renewed ~1 s before it runs out
            dev.reboot()  # the camera forgets the subscription: the next pull fails
            await wait_until_async(
                "a second subscription, one live",
                lambda: stats.subscriptions == 2 and dev.live_subscriptions == 1,
                10.0,
            )
            dev.emit_event(TAMPER, {"State": "true"})
            await wait_until_async("len(received) == 2", lambda: len(received) == 2, 10.0)
        finally:
            await w.close()
        assert dev.live_subscriptions == 0  # unsubscribed on stop
    assert [e.kind for e in received] == ["motion", "tamper"]
    assert stats.last_error is not None and stats.events == 2


async def test_watch_keeps_trying_while_the_camera_is_down_and_stops_promptly() -> None:
    with _device("generic") as dev:
        port = dev.port
    w = await _watch(dev)
    received, stats = w.received, w.stats
    try:
        await wait_until_async("stats.last_error is not None", lambda: stats.last_error is not None, 10.0)
        assert stats.subscriptions == 0
        with _device("generic", port=port) as back:  # the camera comes back on the same address
            await wait_until_async("stats.subscriptions == 1", lambda: stats.subscriptions == 1, 5.0)
            back.emit_event(MOTION, {"IsMotion": "false"})
            await wait_until_async("len(received) == 1", lambda: len(received) == 1, 10.0)
            t0 = asyncio.get_running_loop().time()
            await w.close()
            assert asyncio.get_running_loop().time() - t0 < 1.5  # does not sit out the long-poll
    finally:
        w.stop.set()
        await w.cam.aclose()
    assert received[0].data == {"IsMotion": "false"}


async def test_a_failing_handler_does_not_end_the_watch() -> None:
    with _device("generic") as dev:
        received: list[OnvifEvent] = []

        async def handler(event: OnvifEvent) -> None:
            if event.data.get("n") == "1":
                raise RuntimeError("consumer bug")
            received.append(event)

        stop = asyncio.Event()
        stats = WatchStats()
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            task = asyncio.create_task(watch_events(cam, handler, stop=stop, stats=stats, pull_timeout_s=1.0))
            await wait_until_async("dev.live_subscriptions == 1", lambda: dev.live_subscriptions == 1, 10.0)
            dev.emit_event(MOTION, {"n": "1"})
            dev.emit_event(MOTION, {"n": "2"})
            await wait_until_async("len(received) == 1", lambda: len(received) == 1, 10.0)
            stop.set()
            await asyncio.wait_for(task, 5.0)
    assert received[0].data == {"n": "2"} and stats.subscriptions == 1
