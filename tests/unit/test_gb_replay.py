"""GB/T 28181 Playback and Download sessions (gateway/gb28181/sessions.py) with a fake recorder: what is
asked of the replay for each INVITE and INFO, the refusals, and the end (MediaStatus 121, then BYE).
The same against the simulated NVR and a real RTSP server: tests/integration/test_gb_playback.py."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from fractions import Fraction
from typing import Any

import pytest

from adapters.common.media import Packet, StreamInfo
from adapters.gb28181 import manscdp
from adapters.gb28181.psdemux import RtpPsReader
from adapters.gb28181.sip import SipMessage
from adapters.rtsp.replay import ReplayError, ReplayFrame
from gateway.recordings.replay import NoRecordingError, ReplayBusyError, ReplayFailedError
from tests.support.configs import CH1
from tests.support.gbunit import (
    IDR,
    P_FRAME,
    PPS,
    SPS,
    Site,
    drain,
    in_dialog_request,
    invite_request,
    offer_sdp,
)
from tests.support.waiting import wait_until_async

NTP_OFFSET = 2_208_988_800
START, END = 1_796_565_600, 1_796_569_200  # 2026-12-06 14:00 to 15:00 UTC


class FakeReplay:
    """A replay that records what it is asked, and gives `frames` packets (then ends, or fails)."""

    def __init__(self, camera_id: str, start: float, end: float, frames: int, fail: bool) -> None:
        self.camera_id, self.start, self.end = camera_id, start, end
        self.info = StreamInfo("h264", 640, 360, "High", 10.0, Fraction(1, 90000), SPS + PPS)
        self.calls: list[tuple[Any, ...]] = []
        self.closed = False
        self._frames, self._fail = frames, fail
        self.release = asyncio.Event()  # frames flow once set

    async def play(self, *, at: float | None = None, scale: float | None = None, fast: bool = False) -> float:
        self.calls.append(("play", at, scale, fast))
        self.release.set()
        return scale or 1.0

    async def pause(self) -> None:
        self.calls.append(("pause",))

    async def frames(self) -> AsyncIterator[ReplayFrame]:
        await self.release.wait()
        for i in range(self._frames):
            data = IDR if i % 10 == 0 else P_FRAME
            packet = Packet(self.camera_id, "h264", i * 9000, None, Fraction(1, 90000), i % 10 == 0, data, 0.0)
            yield ReplayFrame(packet, self.start + i * 0.1)
            await asyncio.sleep(0)
        if self._fail:
            raise ReplayError("the recorder stopped sending")

    async def aclose(self) -> None:
        self.closed = True


class FakeReplays:
    def __init__(self, *, frames: int = 20, fail: bool = False, refuse: Exception | None = None) -> None:
        self.opened: list[FakeReplay] = []
        self._frames, self._fail, self._refuse = frames, fail, refuse

    def configured(self, camera_id: str) -> bool:
        return camera_id == "gate"

    async def open(self, camera_id: str, start: float, end: float) -> FakeReplay:
        if self._refuse is not None:
            raise self._refuse
        replay = FakeReplay(camera_id, start, end, self._frames, self._fail)
        self.opened.append(replay)
        return replay


async def _start(
    site: Site, receiver: socket.socket, session: str = "Playback", times: str = f"{START} {END}", *extra: str
) -> tuple[SipMessage, SipMessage]:
    port = receiver.getsockname()[1]
    invite = invite_request(CH1, offer_sdp(port, session=session, ssrc="1100000001", times=times, extra=extra))
    answer = await site.uplink._on_request(invite)
    assert answer is not None and answer.status == 200, answer
    site.uplink.live.on_ack(in_dialog_request(invite, answer, "ACK"))
    replays = site.uplink.live._replays
    if session != "Play":
        assert isinstance(replays, FakeReplays)
        await wait_until_async("the replay's first PLAY", lambda: replays.opened[-1].calls, 5)
    return invite, answer


async def _info(site: Site, invite: SipMessage, answer: SipMessage, body: str, cseq: int) -> SipMessage:
    msg = in_dialog_request(invite, answer, "INFO", body=body.encode(), content_type="Application/MANSRTSP", cseq=cseq)
    reply = await site.uplink._on_request(msg)
    assert reply is not None
    return reply


async def _ended(site: Site) -> None:
    await wait_until_async("the session to end", lambda: not site.uplink.live.sessions, 5)


async def test_a_playback_is_sent_then_media_status_then_bye(receiver: socket.socket) -> None:
    replays = FakeReplays(frames=20)
    site = Site(replays=replays)  # type: ignore[arg-type]
    invite, answer = await _start(site, receiver, "Playback", f"{START + NTP_OFFSET} {END + NTP_OFFSET}")
    assert "s=Playback" in answer.body.decode() and "y=1100000001" in answer.body.decode()
    await _ended(site)
    (replay,) = replays.opened
    assert (replay.start, replay.end) == (START, END)  # NTP seconds in t= read as such
    assert replay.calls == [("play", START, None, False)] and replay.closed
    reader = RtpPsReader(ssrc=1100000001, payload_type=96)
    frames = [f for d in await drain(receiver, 0.3) for f in reader.feed_rtp(d)] + reader.finish()
    assert len(frames) == 20 and reader.report.ok
    message, bye = [m for m in site.link.sent if m.method in ("MESSAGE", "BYE")]
    assert message.method == "MESSAGE" and bye.method == "BYE"  # MediaStatus first, then BYE
    body = manscdp.parse(message.body)
    assert (body.cmd_type, body.device_id, body.field("NotifyType")) == ("MediaStatus", CH1, "121")
    assert message.call_id == invite.call_id  # in the playback's dialog
    counters = site.uplink.live.counters
    assert counters["replays_completed"] == 1 and counters["media_status_sent"] == 1


async def test_a_download_asks_for_speed_and_a_recorder_failure_ends_without_media_status(
    receiver: socket.socket,
) -> None:
    replays = FakeReplays(frames=5, fail=True)
    site = Site(replays=replays)  # type: ignore[arg-type]
    await _start(site, receiver, "Download", f"{START} {END}", "a=downloadspeed:100")
    await _ended(site)
    (replay,) = replays.opened
    assert replay.calls == [("play", START, 32.0, True)]  # at most 32x, as fast as the device can
    assert [m.method for m in site.link.sent] == ["BYE"]
    assert site.uplink.live.counters["media_status_sent"] == 0


async def test_mansrtsp_info_drives_the_replay(receiver: socket.socket) -> None:
    replays = FakeReplays(frames=10_000)
    site = Site(replays=replays)  # type: ignore[arg-type]
    invite, answer = await _start(site, receiver)
    paused = await _info(site, invite, answer, "PAUSE MANSRTSP/1.0\r\nCSeq: 1\r\nPauseTime: now\r\n", 22)
    assert paused.status == 200 and paused.body == b"MANSRTSP/1.0 200 OK\r\nCSeq: 1\r\n"
    resumed = await _info(site, invite, answer, "PLAY MANSRTSP/1.0\r\nCSeq: 2\r\nRange: npt=now-\r\n", 23)
    assert resumed.status == 200
    seek = await _info(site, invite, answer, "PLAY MANSRTSP/1.0\r\nCSeq: 3\r\nRange: npt=600-\r\n", 24)
    assert seek.status == 200
    reverse = await _info(site, invite, answer, "PLAY MANSRTSP/1.0\r\nCSeq: 4\r\nScale: -2\r\n", 25)
    assert reverse.status == 200 and b"Scale: 2\r\n" in reverse.body  # forward: the nearest we serve
    bad = await _info(site, invite, answer, "PLAY MANSRTSP/1.0\r\nCSeq: x\r\n", 26)
    assert bad.status == 400
    (replay,) = replays.opened
    assert replay.calls[1:] == [
        ("pause",),
        ("play", None, None, False),
        ("play", START + 600, 1.0, False),
        ("play", None, 2.0, False),
    ]
    wrong_type = in_dialog_request(invite, answer, "INFO", body=b"PAUSE MANSRTSP/1.0\r\n", content_type="text/plain")
    assert (await site.uplink._on_request(wrong_type)).status == 415  # type: ignore[union-attr]
    teardown = await _info(site, invite, answer, "TEARDOWN MANSRTSP/1.0\r\nCSeq: 5\r\n", 27)
    assert teardown.status == 200
    await _ended(site)
    await wait_until_async("our BYE", lambda: site.link.sent_of("BYE"), 5)
    await wait_until_async("the replay closed", lambda: replay.closed, 5)


async def test_info_outside_a_playback_is_refused(receiver: socket.socket) -> None:
    site = Site(replays=FakeReplays())  # type: ignore[arg-type]
    invite, answer = await _start(site, receiver, "Play", "0 0")
    live = await _info(site, invite, answer, "PAUSE MANSRTSP/1.0\r\nCSeq: 1\r\n", 22)
    assert live.status == 488
    other = invite_request(CH1, b"")
    stray = in_dialog_request(
        other, answer, "INFO", body=b"PAUSE MANSRTSP/1.0\r\n", content_type="Application/MANSRTSP"
    )
    assert (await site.uplink._on_request(stray)).status == 481  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("refuse", "times", "status"),
    [
        (NoRecordingError("nothing recorded"), f"{START} {END}", 404),
        (ReplayBusyError("recorder nvr1 already serves 4 replays"), f"{START} {END}", 486),
        (ReplayFailedError("recorder nvr1: unreachable"), f"{START} {END}", 503),
        (None, "0 0", 400),
        (None, f"{END} {START}", 400),
    ],
    ids=["nothing-recorded", "busy", "recorder-failed", "no-span", "reversed-span"],
)
async def test_replay_refusals(refuse: Exception | None, times: str, status: int) -> None:
    site = Site(replays=FakeReplays(refuse=refuse))  # type: ignore[arg-type]
    answer = await site.uplink._on_request(invite_request(CH1, offer_sdp(9, session="Playback", times=times)))
    assert answer is not None and answer.status == status
    assert (answer.get("Warning") or "").startswith("399 gateway")
    assert not site.uplink.live.sessions
