"""PlatformLink (GB/T 28181 lower-platform SIP UA) against SIPp playing the upper platform on 127.0.0.1.

Each SIPp run is a foreground subprocess with a global timeout; exit code 0 means every call of its
scenario succeeded (the scenarios check the digest with verifyauth, Expires: 0 on unregister, and
the Keepalive body). The SIPp message trace is attached to failures.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import pytest

from adapters.gb28181.sip import SipMessage, StreamFramer, parse, response_to
from adapters.gb28181.ua import PlatformLink, PlatformSettings
from tests.support.gbplatform import SIPP_SCENARIOS, FakePlatform, sipp_listening
from tests.support.ports import free_port
from tests.support.waiting import wait_until_async

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (Debian sip-tester) is not installed"),
]

DEVICE_ID = "34020000001320000001"
SERVER_ID = "34020000002000000001"
PASSWORD = "gb-test-secret"  # the password in the scenario files' verifyauth


@dataclass
class Sipp:
    proc: asyncio.subprocess.Process
    port: int
    trace: Path
    log: Path

    async def wait(self, limit_s: float = 30.0) -> int:
        async with asyncio.timeout(limit_s):
            return await self.proc.wait()

    def report(self) -> str:
        parts = []
        for path in (self.log, self.trace):
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-6000:]}")
        return "\n".join(parts)


StartSipp = Callable[..., Awaitable[Sipp]]


@pytest.fixture
async def sipp(tmp_path: Path) -> AsyncIterator[StartSipp]:
    """Start SIPp as the upper platform (UAS); every process is killed at teardown, even on failure."""
    procs: list[asyncio.subprocess.Process] = []

    async def start(scenario: str, *, transport: str = "u1", calls: int = 1, timeout_s: int = 30) -> Sipp:
        port = free_port(socket.SOCK_STREAM if transport.startswith("t") else socket.SOCK_DGRAM)
        trace = tmp_path / f"{scenario}-{port}-messages.log"
        log = tmp_path / f"{scenario}-{port}-errors.log"
        proc = await asyncio.create_subprocess_exec(
            "sipp",
            "-sf",
            str(SIPP_SCENARIOS / f"{scenario}.xml"),
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-t",
            transport,
            "-m",
            str(calls),
            "-timeout",
            f"{timeout_s}s",
            "-timeout_error",
            "-nostdin",
            "-trace_msg",
            "-message_file",
            str(trace),
            "-trace_err",
            "-error_file",
            str(log),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=tmp_path,
        )
        procs.append(proc)
        await wait_until_async(
            "SIPp listening", lambda: sipp_listening(port, tcp=transport.startswith("t")), 5.0, interval=0.05
        )
        return Sipp(proc, port, trace, log)

    yield start
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def settings(port: int, **overrides: object) -> PlatformSettings:
    base = PlatformSettings(
        server_id=SERVER_ID,
        server_host="127.0.0.1",
        server_port=port,
        server_domain="3402000000",
        device_id=DEVICE_ID,
        password=PASSWORD,
        local_host="127.0.0.1",
        keepalive_s=0.5,
        retry_s=1.0,
        t1_s=0.05,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


# --- SIPp scenarios ---------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_register_keepalive_unregister(sipp: StartSipp, transport: str) -> None:
    server = await sipp("register", transport="u1" if transport == "udp" else "t1", calls=3)
    link = PlatformLink(settings(server.port, transport=transport))
    await link.start()
    try:
        await wait_until_async("link.counters['keepalive_ok'] >= 2", lambda: link.counters["keepalive_ok"] >= 2, 10.0)
        assert link.state == "registered", link.reason
        assert link.registered_at is not None and link.expires_at is not None
        assert link.expires_at - link.registered_at == pytest.approx(3600)
        expected = (datetime(2024, 5, 1, 8, 0, 0) - datetime.now()).total_seconds()
        assert link.time_offset_s is not None
        assert link.time_offset_s == pytest.approx(expected, abs=5)
        assert link.keepalive_misses == 0 and link.last_keepalive_ok is not None
        assert link.counters["register_sent"] == 2  # unauthenticated, then with Authorization
    finally:
        await link.stop()
    final_state: str = link.state  # (a plain str: mypy narrowed link.state above)
    assert final_state == "unregistered"
    assert link.counters["register_sent"] == 3  # + the Expires: 0 one
    rc = await server.wait()
    assert rc == 0, server.report()


async def test_wrong_password_fails_and_waits_retry_s(sipp: StartSipp) -> None:
    server = await sipp("wrong_password", calls=1)
    link = PlatformLink(settings(server.port, password="not-the-password", retry_s=1.5))
    await link.start()
    try:
        await wait_until_async("link.state == 'failed'", lambda: link.state == "failed", 10.0)
        failed_at = time.monotonic()
        assert "403" in link.reason and "401 then 403" in link.reason, link.reason
        assert "not-the-password" not in repr(link.settings)
        # GB/T 28181: no new attempt before retry_s.
        await asyncio.sleep(1.0)
        assert link.counters["register_sent"] == 2
        await wait_until_async("link.counters['register_sent'] >= 3", lambda: link.counters["register_sent"] >= 3, 10.0)
        assert time.monotonic() - failed_at >= 1.4
        await wait_until_async("link.counters['failures'] >= 2", lambda: link.counters["failures"] >= 2, 10.0)
        assert link.state == "failed"
    finally:
        await link.stop()
    rc = await server.wait()
    assert rc == 0, server.report()


async def test_keepalive_lost_reregisters(sipp: StartSipp) -> None:
    # Three keepalives go unanswered (each ends at timer F = 64*T1 = 1.28 s), then the link fails
    # and registers again at once; SIPp's register call expects that second REGISTER round.
    server = await sipp("keepalive_lost", calls=4)
    link = PlatformLink(settings(server.port, keepalive_s=0.3, t1_s=0.02))
    await link.start()
    try:
        await wait_until_async("link.state == 'registered'", lambda: link.state == "registered", 10.0)
        # The re-registration on 127.0.0.1 takes milliseconds: watch the failure counter, not state.
        await wait_until_async("link.counters['failures'] >= 1", lambda: link.counters["failures"] >= 1, 15)
        assert link.last_failure == "keepalive unanswered 3 times", server.report()
        assert link.counters["keepalive_missed"] == 3
        await wait_until_async("link.counters['register_ok'] >= 2", lambda: link.counters["register_ok"] >= 2, 5)
        assert link.counters["register_sent"] == 4  # 401 + authorised, twice
        assert link.state == "registered"
        assert link.keepalive_misses == 0
    finally:
        await link.stop()
    rc = await server.wait()
    assert rc == 0, server.report()


async def test_qop_auth_registers(sipp: StartSipp) -> None:
    server = await sipp("register_qop", calls=1)
    link = PlatformLink(settings(server.port, keepalive_s=3600))
    await link.start()
    try:
        await wait_until_async("link.state == 'registered'", lambda: link.state == "registered", 10.0)
        assert link.time_offset_s is None  # this 200 carries no Date
    finally:
        await link.stop()
    rc = await server.wait()
    assert rc == 0, server.report()
    trace = server.trace.read_text(errors="replace")
    assert "qop=auth" in trace and "nc=00000001" in trace and "nc=00000002" in trace


# --- without SIPp: the tests' fake platform (tests/support/gbplatform.py) ------------------------


@pytest.fixture
def platform() -> Iterator[tuple[FakePlatform, int]]:
    """A registrar that accepts any REGISTER at once, without a challenge and without a Date."""
    fake = FakePlatform(password=None, send_date=False)
    fake.start()
    yield fake, fake.port
    fake.close()


MESSAGE_FROM_PLATFORM = (
    b"MESSAGE sip:34020000001320000001@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bKtest1\r\n"
    b"From: <sip:34020000002000000001@3402000000>;tag=1\r\n"
    b"To: <sip:34020000001320000001@3402000000>\r\n"
    b"Call-ID: q1@127.0.0.1\r\nCSeq: 20 MESSAGE\r\nMax-Forwards: 70\r\n"
    b"Content-Type: Application/MANSCDP+xml\r\nContent-Length: 0\r\n\r\n"
)


async def test_garbage_is_dropped_and_requests_are_answered(platform: tuple[FakePlatform, int]) -> None:
    fake, port = platform
    seen: list[SipMessage] = []

    async def on_request(msg: SipMessage) -> SipMessage | None:
        seen.append(msg)
        return None  # default answer: 200 for MESSAGE

    link = PlatformLink(settings(port, keepalive_s=3600), on_request)
    await link.start()
    try:
        await wait_until_async("link.state == 'registered'", lambda: link.state == "registered", 10.0)
        assert link.time_offset_s is None
        local = link.local_addr
        assert local is not None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.settimeout(2.0)
            peer.sendto(b"\x00\xffnot sip at all\r\n\r\n", ("127.0.0.1", local[1]))
            peer.sendto(b"INVITE sip:x SIP/2.0\r\n\r\n", ("127.0.0.1", local[1]))  # no mandatory headers
            await wait_until_async("link.dropped == 2", lambda: link.dropped == 2, 10.0)
            peer.sendto(MESSAGE_FROM_PLATFORM, ("127.0.0.1", local[1]))
            answer = parse(await asyncio.to_thread(peer.recv, 65536))
            assert answer.status == 200 and answer.cseq == (20, "MESSAGE")
            # A retransmission gets the same answer again, and the handler is not run twice.
            peer.sendto(MESSAGE_FROM_PLATFORM, ("127.0.0.1", local[1]))
            again = parse(await asyncio.to_thread(peer.recv, 65536))
            assert again.status == 200 and again.get("To") == answer.get("To")
            assert len(seen) == 1
        assert link.state == "registered"  # the loop lives on
    finally:
        await link.stop()
    methods = [m.method for m in fake.messages if m.is_request]
    assert methods[0] == "REGISTER" and methods[-1] == "REGISTER"
    assert fake.messages[-1].expires == 0


async def test_no_answer_gives_a_reason() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = int(silent.getsockname()[1])
        link = PlatformLink(settings(port, t1_s=0.01, retry_s=30))
        await link.start()
        try:
            await wait_until_async("link.state == 'failed'", lambda: link.state == "failed", 5)
            assert link.reason == f"no answer from 127.0.0.1:{port} (udp)"
            assert link.counters["retransmits"] >= 4  # T1, 2T1, 4T1 ... until timer F = 64*T1
        finally:
            await link.stop(timeout_s=1.0)


async def test_tcp_connection_refused() -> None:
    port = free_port(socket.SOCK_STREAM)
    link = PlatformLink(settings(port, transport="tcp", retry_s=30))
    await link.start()
    try:
        await wait_until_async("link.state == 'failed'", lambda: link.state == "failed", 5)
        assert "connection refused" in link.reason
    finally:
        await link.stop()
    assert link.state == "unregistered"


async def test_tcp_reconnects_after_the_platform_drops_the_connection() -> None:
    """A platform that answers REGISTER 200 and then closes: the link reconnects and registers again."""
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        framer = StreamFramer()
        try:
            while chunk := await reader.read(65536):
                for msg in framer.feed(chunk):
                    if msg.method == "REGISTER":
                        writer.write(response_to(msg, 200).to_bytes())
                        await writer.drain()
                        if connections == 1 and msg.expires:
                            writer.close()  # drop the first connection right after registering
                            return
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    link = PlatformLink(settings(port, transport="tcp", keepalive_s=3600))
    try:
        await link.start()
        await wait_until_async("link.counters['register_ok'] >= 2", lambda: link.counters["register_ok"] >= 2, 10.0)
        assert link.last_failure == f"connection to 127.0.0.1:{port} (tcp) lost"
        assert link.counters["connects"] == 2 and connections == 2
        assert link.state == "registered"
    finally:
        await link.stop()
        server.close()
        await server.wait_closed()


async def test_tcp_platform_dropping_every_connection_is_not_hammered() -> None:
    """Registered, dropped at once, again and again: the second quick loss in a row waits retry_s."""
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        framer = StreamFramer()
        try:
            while chunk := await reader.read(65536):
                for msg in framer.feed(chunk):
                    if msg.method == "REGISTER":
                        writer.write(response_to(msg, 200).to_bytes())
                        await writer.drain()
                        if msg.expires:
                            writer.close()
                            return
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    link = PlatformLink(settings(port, transport="tcp", keepalive_s=3600, retry_s=30))
    try:
        await link.start()
        await wait_until_async(
            "two connections and a failed link", lambda: connections >= 2 and link.state == "failed", 10.0
        )
        await asyncio.sleep(1.5)
        assert connections == 2, "re-registered in a tight loop"
        assert link.counters["register_ok"] == 2 and link.state == "failed"
    finally:
        await link.stop()
        server.close()
        await server.wait_closed()


async def test_interval_too_brief_is_retried_with_min_expires() -> None:
    """RFC 3261 section 10.2.8: a 423 with Min-Expires is asked again with that expiry."""
    asked: list[int | None] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = StreamFramer()
        try:
            while chunk := await reader.read(65536):
                for msg in framer.feed(chunk):
                    if msg.method != "REGISTER":
                        continue
                    asked.append(msg.expires)
                    if msg.expires and msg.expires < 7200:
                        answer = response_to(msg, 423, extra_headers=[("Min-Expires", "7200")])
                    else:
                        answer = response_to(msg, 200, extra_headers=[("Expires", str(msg.expires))])
                    writer.write(answer.to_bytes())
                    await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    link = PlatformLink(settings(port, transport="tcp", keepalive_s=3600))
    try:
        await link.start()
        await wait_until_async("link.state == 'registered'", lambda: link.state == "registered", 10.0)
        assert asked == [3600, 7200]
        assert link.expires_at is not None and link.registered_at is not None
        assert round(link.expires_at - link.registered_at) == 7200
    finally:
        await link.stop()
        server.close()
        await server.wait_closed()


async def test_a_link_task_that_ends_is_started_again() -> None:
    # Nothing listens: the link keeps trying. Its task cancelled from outside (a stray cancel, or a bug
    # that escapes) must not leave the platform unregistered for good without a word.
    link = PlatformLink(settings(free_port(socket.SOCK_DGRAM), retry_s=0.2, t1_s=0.005))
    await link.start()
    try:
        name = f"gb28181-link-{link.settings.server_id}"
        (task,) = [t for t in asyncio.all_tasks() if t.get_name() == name]
        task.cancel()
        await wait_until_async("link.counters['restarts'] == 1", lambda: link.counters["restarts"] == 1, 10.0)
        assert link.last_failure is not None and link.last_failure.startswith("link task ended")
        await wait_until_async("link.counters['register_sent'] >= 1", lambda: link.counters["register_sent"] >= 1, 10.0)
        assert [t for t in asyncio.all_tasks() if t.get_name() == name and not t.done()]
    finally:
        await link.stop()
    assert link.counters["restarts"] == 1  # a stop is not a failure
