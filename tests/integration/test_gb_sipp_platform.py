"""A real `gateway run` (one RTSP camera forwarded as a GB/T 28181 channel) against SIPp playing the
upper platform, over UDP and over TCP.

The scenario (sipp/platform_play.xml, written from the standard's annex J examples) registers the
gateway (401 with a digest challenge, 200 with Date), answers its keepalives, sends a Catalog
query and checks the two Response parts, sends a DeviceInfo query and checks the Response, then
INVITEs the channel with an s=Play offer whose media port is a socket of this test (UDP: RTP/AVP;
TCP: TCP/RTP/AVP with a=setup:passive, so the gateway connects to the test's listener), checks
the 200's SDP (sendonly, PS/90000, the offer's y=), ACKs, waits 3 s, sends BYE and expects 200.
Finally it expects the gateway's unregister when the test stops it. SIPp exits 0 only when every
call of the scenario passed its checks.

This test reads the media: PS over RTP (RFC 4571 framing over TCP), checked with RtpPsReader and
PsDemuxer for the SSRC of the offer's y= and H.264 access units, and nothing after the BYE.

A second scenario (sipp/record_info.xml) asks for a channel's recordings on the simulated NVR with
RecordInfo: a day with a 2 h gap, answered in two Response MESSAGEs (catalog_per_message 1: paging),
and the gap itself, answered SumNum 0. SIPp checks the bodies with its own regular expressions and
the expected times the test passes it; the test compares the trace with the spans on disk.

A third (sipp/device_control.xml) gives the gateway the commands of a platform: disarm, a malformed
and a misaddressed PTZCmd, DeviceStatus, the alarm query, a configuration we do not take, the presets
of a camera without PTZ; it checks each answer with its own regular expressions, and X-GB-Ver.
"""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
import yaml

from adapters.gb28181.psdemux import PsDemuxer, RtpPsReader
from sim.clips import ClipInfo
from sim.nvr import NvrDeviceServer
from sim.recordings import make_recordings, spans_on_disk
from sim.server import RtspServerProcess
from tests.support.gateway import GatewayProcess, Site, camera, child_env, run_cli
from tests.support.gbplatform import SIPP_SCENARIOS, sipp_listening
from tests.support.ports import free_port
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (Debian sip-tester) is not installed"),
]

# The IDs, password and SSRC written in sipp/platform_play.xml.
UNIT_ID = "12010000002000000001"
SERVER_ID = "12000000002000000001"
DOMAIN = "1200000000"
CHANNEL = "12010000001320000001"
PASSWORD = "gb-test-secret"
SSRC = 120000001  # y=0120000001
PLAY_S = 3.0  # the scenario's pause between ACK and BYE


@dataclass
class MediaSink:
    """The platform's media receiver: a UDP socket, or a TCP listener the gateway connects to."""

    tcp: bool
    sock: socket.socket = field(init=False)
    port: int = field(init=False)
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    connections: int = 0
    closed_at: float | None = None  # TCP: when the gateway closed its connection
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if self.tcp else socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        if self.tcp:
            self.sock.listen(4)
        self.sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if not self.tcp:
            while not self._stop.is_set():
                try:
                    data = self.sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                self.chunks.append((time.monotonic(), data))
            return
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(0.1)
                while not self._stop.is_set():
                    try:
                        data = conn.recv(65536)
                    except TimeoutError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        self.closed_at = time.monotonic()
                        break
                    self.chunks.append((time.monotonic(), data))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.sock.close()


def launch_sipp(
    tmp_path: Path, scenario: str, transport: str, args: list[str], timeout_s: int = 40
) -> tuple[subprocess.Popen[bytes], int, Path, Path]:
    """SIPp as the platform (UAS) on a free port of 127.0.0.1, running sipp/<scenario>.xml with `args`
    (-key, -set...), tracing every message it sends and receives and its errors; once it is listening."""
    tcp = transport == "tcp"
    port = free_port(socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    trace = tmp_path / f"sipp-{scenario}-{transport}-messages.log"
    errors = tmp_path / f"sipp-{scenario}-{transport}-errors.log"
    proc = subprocess.Popen(
        [
            "sipp",
            "-sf",
            str(SIPP_SCENARIOS / f"{scenario}.xml"),
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-t",
            "t1" if tcp else "u1",
            *args,
            "-timeout",
            f"{timeout_s}s",
            "-timeout_error",
            "-nostdin",
            "-trace_msg",
            "-message_file",
            str(trace),
            "-trace_err",
            "-error_file",
            str(errors),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        wait_until("SIPp listening", lambda: sipp_listening(port, tcp=tcp), 5, interval=0.05)
    except AssertionError:
        proc.kill()
        proc.wait()
        raise
    return proc, port, trace, errors


def start_sipp(tmp_path: Path, transport: str, media: MediaSink) -> tuple[subprocess.Popen[bytes], int, Path, Path]:
    args = ["-key", "rtp_port", str(media.port), "-set", "media", transport]
    args += ["-set", "catparts", "0", "-set", "catchannel", "0", "-set", "infoseen", "0"]
    return launch_sipp(tmp_path, "platform_play", transport, args)


def sipp_report(*paths: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-8000:]}" for p in paths if p.exists())


def uplink_after_responses(
    site: Site, sipp: subprocess.Popen[bytes], count: int, failed: Callable[[], str], timeout: float
) -> dict[str, Any]:
    """The uplink's status once the gateway counted `count` Responses delivered (SIPp answered each 200),
    with SIPp still waiting for the unregister."""

    def uplink() -> dict[str, Any]:
        (city,) = site.get("/api/v1/uplinks")
        return dict(city)

    try:
        wait_until(
            f"{count} Responses delivered",
            lambda: uplink()["counters"]["responses_sent"] >= count or sipp.poll() is not None,
            timeout,
            interval=0.05,
        )
    except AssertionError:
        raise AssertionError(failed()) from None
    assert sipp.poll() is None, failed()
    return uplink()


def stop_and_pass(site: Site, sipp: subprocess.Popen[bytes], failed: Callable[[], str]) -> str:
    """Stop the gateway (SIPp checks its unregister and the counts) and expect SIPp to exit 0; the log."""
    assert site.proc.stop() == 0, site.proc.log()[-3000:]
    try:
        rc = sipp.wait(15)
    except subprocess.TimeoutExpired:
        rc = None
    assert rc == 0, failed()
    return site.proc.log()


def received_messages(trace: Path) -> list[str]:
    """The SIP messages SIPp received, from its -trace_msg file."""
    text = trace.read_text(errors="replace")
    return [
        m.group(1)
        for m in re.finditer(r"message received \[\d+\] bytes ?:\n\n(.*?)(?=\n-{20,} |\Z)", text, flags=re.DOTALL)
    ]


def got_sent(trace: Path) -> list[str]:
    """The SIP messages SIPp sent, from its -trace_msg file."""
    text = trace.read_text(errors="replace")
    return [
        m.group(1) for m in re.finditer(r"message sent \(\d+ bytes\):\n\n(.*?)(?=\n-{20,} |\Z)", text, flags=re.DOTALL)
    ]


@pytest.fixture
def rtsp(sim_clips: dict[str, ClipInfo]) -> Iterator[RtspServerProcess]:
    with RtspServerProcess([("/cam", sim_clips["hd720_h264"])]) as server:
        yield server


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_platform_registers_queries_and_plays(
    tmp_path: Path, gateway_storage_url: str, rtsp: RtspServerProcess, transport: str
) -> None:
    tcp = transport == "tcp"
    media = MediaSink(tcp=tcp)
    sipp: subprocess.Popen[bytes] | None = None
    proc: GatewayProcess | None = None
    try:
        sipp, sipp_port, trace, errors = start_sipp(tmp_path, transport, media)
        http_port = free_port()
        config: dict[str, Any] = {
            "site": {"id": "it", "name": "Integration site", "unit": {"name": "U", "headcount": 5, "gb_id": UNIT_ID}},
            "cameras": [
                {"id": "gate", "name": "Gate camera", "source": {"rtsp": rtsp.url("/cam")}, "gb_channel_id": CHANNEL}
            ],
            "supervisor": {"connect_timeout_s": 3, "stall_timeout_s": 3, "backoff_initial_s": 0.5, "backoff_max_s": 2},
            "server": {"bind": "127.0.0.1", "port": http_port},
            "storage": {"url": gateway_storage_url},
            "uplinks": {
                "gb28181": [
                    {
                        "id": "city",
                        "server_id": SERVER_ID,
                        "server_domain": DOMAIN,
                        "host": "127.0.0.1",
                        "port": sipp_port,
                        "transport": transport,
                        "password": {"env": "IT_GB_PASSWORD"},
                        "local_port": 0,
                        "keepalive_s": 1,
                        "catalog_per_message": 1,  # the gateway and its channel: two parts
                    }
                ]
            },
        }
        path = tmp_path / "site.yaml"
        path.write_text(yaml.safe_dump(config))
        env = child_env(IT_GB_PASSWORD=PASSWORD)
        added = run_cli(["user", "add", "it-admin", "--role", "admin", "-c", str(path)], env)
        assert added.returncode == 0, added.stderr
        token = added.stdout.split()[-1]
        proc = GatewayProcess(["run", "-c", str(path)], env, tmp_path / "gateway.log", http_port).start()

        def uplink() -> dict[str, Any]:
            assert proc is not None
            (city,) = proc.get("/api/v1/uplinks", token).json()
            return dict(city)

        def failed() -> str:
            assert proc is not None
            return f"{sipp_report(errors, trace)}\n--- gateway.log\n{proc.log()[-6000:]}"

        # SIPp drives: register, queries, INVITE (retried while the camera is not up yet), BYE.
        try:
            wait_until(
                "the BYE",
                lambda: uplink()["counters"]["byes_received"] >= 1 or sipp.poll() is not None,
                40,
                interval=0.05,
            )
        except AssertionError:
            raise AssertionError(failed()) from None
        bye_at = time.monotonic()
        assert sipp.poll() is None, failed()  # still waiting for the unregister
        city = uplink()
        assert city["state"] == "registered", city
        counters = city["counters"]
        assert counters["keepalive_ok"] >= 1, counters
        assert counters["queries"] == 2 and counters["responses_sent"] == 3, counters
        assert counters["sessions_started"] == 1 and counters["byes_received"] == 1, counters
        assert city["sessions"] == [], city["sessions"]
        time.sleep(1.0)  # nothing more after the BYE (a datagram in flight at the BYE is fine)
        assert not [t for t, _ in media.chunks if t > bye_at + 0.3], "media still arriving after the BYE"

        assert proc.stop() == 0, proc.log()
        # SIPp exits once it has answered the unregister (sipp/platform_play.xml stops itself before
        # that 200: over TCP the gateway's close right after it used to fail the main call first).
        try:
            rc: int | None = sipp.wait(15)
        except subprocess.TimeoutExpired:
            rc = None
        assert rc == 0, failed()
    finally:
        if proc is not None:
            proc.stop()
        if sipp is not None and sipp.poll() is None:
            sipp.kill()
            sipp.wait()
        media.close()

    # What SIPp saw: the REGISTER pair, keepalives, two Catalog parts and one DeviceInfo Response.
    got = received_messages(trace)
    bodies = [m for m in got if m.startswith("MESSAGE ")]
    assert any("<CmdType>Keepalive</CmdType>" in m for m in bodies)
    parts = [m for m in bodies if "<CmdType>Catalog</CmdType>" in m]
    assert len(parts) == 2 and all("<SumNum>2</SumNum>" in m and "<SN>17430</SN>" in m for m in parts)
    assert sum(f"<DeviceID>{CHANNEL}</DeviceID>" in m for m in parts) == 1
    assert len([m for m in bodies if "<CmdType>DeviceInfo</CmdType>" in m]) == 1
    registers = [m for m in got if m.startswith("REGISTER ")]
    assert len(registers) == 3 and "Authorization:" not in registers[0]  # 401, authorised, Expires: 0
    assert re.search(r"Expires: *0", registers[2]) and "Authorization:" in registers[2]
    assert any(
        m.startswith("SIP/2.0 200") and re.search(r"CSeq: *\d+ REGISTER", m) and re.search(r"Expires: *0", m)
        for m in got_sent(trace)
    )
    answer = next(m for m in got if m.startswith("SIP/2.0 200") and re.search(r"CSeq: *\d+ INVITE", m))
    assert f"o={CHANNEL} " in answer and "y=0120000001" in answer
    assert ("TCP/RTP/AVP 96" in answer and "a=setup:active" in answer) if tcp else " RTP/AVP 96" in answer

    # The media: PS over RTP with the offer's SSRC, H.264 access units, for about PLAY_S seconds.
    assert media.chunks, "no media arrived"
    if tcp:
        assert media.connections == 1
        assert media.closed_at is not None and media.closed_at <= bye_at + 1.0, "TCP media not closed at the BYE"
    reader = RtpPsReader(ssrc=SSRC, payload_type=96)
    demuxer = PsDemuxer()
    units = []
    for _, chunk in media.chunks:
        frames = reader.feed_tcp(chunk) if tcp else reader.feed_rtp(chunk)
        for frame in frames:
            units.extend(demuxer.feed(frame.data, end_of_frame=True, damaged=frame.damaged))
    report = reader.report
    assert report.ssrc == SSRC and report.foreign_ssrc_packets == 0, report
    assert report.invalid_packets == 0 and report.late_packets == 0, report
    assert report.frames >= 10, report
    assert demuxer.report.ok, demuxer.report
    assert len(units) >= 10 and all(u.stream_type == 0x1B for u in units), units[:3]
    # The gateway starts at a keyframe (the clip has one every 2 s), so the stream begins with an
    # IDR picture up to 2 s after the ACK, and runs until the BYE.
    assert re.search(rb"\x00\x00\x01[\x25\x45\x65]", units[0].data), "the first picture is not an IDR"
    assert media.chunks[0][0] - bye_at < -(PLAY_S - 2.5), "media started late"
    assert bye_at - media.chunks[-1][0] < 1.0, "media stopped well before the BYE"


# --- RecordInfo: SIPp asks for a channel's recordings on the simulated NVR ---------------------------

SITE_ZONE = "Asia/Shanghai"  # a platform's wall-clock time, 8 h off the NVR's UTC files


def gb_time(moment: datetime) -> str:
    """A MANSCDP time (no zone) in the site's wall-clock time."""
    return f"{moment.astimezone(ZoneInfo(SITE_ZONE)):%Y-%m-%dT%H:%M:%S}"


def record_info_parts(messages: list[str], sn: int) -> list[ElementTree.Element]:
    """The RecordInfo Response bodies with this SN among the MESSAGEs SIPp received, each once (a UDP
    retransmission repeats the Call-ID), in arrival order."""
    parts: dict[str, ElementTree.Element] = {}
    for message in messages:
        head, _, body = message.partition("\n\n")
        call_id = re.search(r"^Call-ID: *(.+)$", head, flags=re.MULTILINE | re.IGNORECASE)
        if not message.startswith("MESSAGE ") or call_id is None or "<Response>" not in body:
            continue
        # The trace is text; the body's GB2312 declaration would only trouble ElementTree.
        root = ElementTree.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", body.strip()))
        if root.findtext("CmdType") == "RecordInfo" and root.findtext("SN") == str(sn):
            parts.setdefault(call_id.group(1).strip(), root)
    return list(parts.values())


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_platform_pages_record_info(
    tmp_path: Path, gateway_storage_url: str, sim_clips: dict[str, ClipInfo], transport: str
) -> None:
    """SIPp (sipp/record_info.xml) asks for a local day of the channel whose recordings on the simulated
    NVR have yesterday's 2 h gap (10:30 to 12:30 UTC), and for a range inside the gap. With
    catalog_per_message 1 the first answer comes in two Response MESSAGEs (SumNum 2, RecordList Num 1
    each, one span each, in order), the second in one with SumNum 0. SIPp checks each body's elements
    and times itself; this test compares what it received with the spans of the files on disk."""
    now = datetime.now(UTC).replace(microsecond=0)
    store = make_recordings(tmp_path / "nvr", ("ch1",), days=3, now=now)  # ch1's gap: yesterday (UTC)
    zone = ZoneInfo(SITE_ZONE)
    # Query 41: the local day of the gap, 00:00:00 to 23:59:59 as platforms ask (10:30 UTC is 18:30 there).
    yesterday = datetime.combine(now.date() - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    day = (yesterday + timedelta(hours=10, minutes=30)).astimezone(zone).date()
    day_start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    day_end = day_start + timedelta(hours=23, minutes=59, seconds=59)
    on_disk = spans_on_disk(store.root, "ch1")
    spans = [(max(a, day_start), min(b, day_end)) for a, b in on_disk if a < day_end and b > day_start]
    assert len(spans) == 2 and spans[1][0] - spans[0][1] == timedelta(hours=2), on_disk  # the files, as planned
    (want1, want2) = [(gb_time(a), gb_time(b)) for a, b in spans]
    gap = (spans[0][1], spans[1][0])  # query 42: exactly the gap, nothing recorded in [gap[0], gap[1])

    password = secrets.token_urlsafe(12)  # the camera's, the NVR's and the platform's, made per run
    site: Site | None = None
    checks = tmp_path / f"sipp-record_info-{transport}-logs.log"
    sipp, sipp_port, trace, errors = launch_sipp(
        tmp_path,
        "record_info",
        transport,
        [
            *("-set", "gbpass", password),
            *("-set", "date", f"{now.astimezone(zone):%Y-%m-%dT%H:%M:%S}.000"),  # the platform's clock
            *("-set", "q1start", gb_time(day_start), "-set", "q1end", gb_time(day_end)),
            *("-set", "q2start", gb_time(gap[0]), "-set", "q2end", gb_time(gap[1])),
            *("-set", "want1s", want1[0], "-set", "want1e", want1[1]),
            *("-set", "want2s", want2[0], "-set", "want2e", want2[1]),
            *("-set", "parts", "0", "-set", "emptyseen", "0"),
            *("-trace_logs", "-log_file", str(checks)),  # the scenario logs the check that failed
        ],
        timeout_s=30,
    )
    try:
        with RtspServerProcess([("/live", sim_clips["hd720_h264"])], username="cam", password=password) as rtsp:
            replay = f"rtsp://127.0.0.1:{rtsp.port}"
            with NvrDeviceServer(store.root, ("ch1",), "admin", password, replay_base=replay) as nvr:
                env = child_env(IT_PW=password, IT_NVR_PW=password, IT_GB_PASSWORD=password)
                site = Site(tmp_path, gateway_storage_url, [camera("gate", rtsp.url("/live"))], env)
                config = yaml.safe_load(site.path.read_text())
                config["site"]["timezone"] = SITE_ZONE
                config["site"]["unit"]["gb_id"] = UNIT_ID
                config["cameras"][0]["gb_channel_id"] = CHANNEL
                config["cameras"][0]["recordings"] = {"recorder": "nvr1", "channel": "ch1"}
                config["recorders"] = [
                    {
                        "id": "nvr1",
                        "onvif": {"host": "127.0.0.1", "port": nvr.port},
                        "credentials": {"username": "admin", "password": {"env": "IT_NVR_PW"}},
                        "max_queries_per_minute": 120,
                    }
                ]
                uplink = {
                    "id": "city",
                    "server_id": SERVER_ID,
                    "server_domain": DOMAIN,
                    "host": "127.0.0.1",
                    "port": sipp_port,
                    "transport": transport,
                    "password": {"env": "IT_GB_PASSWORD"},
                    "local_port": 0,
                    "catalog_per_message": 1,  # one Item per Response MESSAGE: the two spans are two parts
                }
                config["uplinks"] = {"gb28181": [uplink]}
                site.path.write_text(yaml.safe_dump(config))
                site.proc.start()

                def failed() -> str:
                    return f"{sipp_report(checks, errors, trace)}\n--- gateway.log\n{site.proc.log()[-6000:]}"

                # SIPp drives: register, query 41, its two parts, query 42, its Response. The gateway
                # counts a Response once SIPp answered it 200; then SIPp waits for the unregister.
                city = uplink_after_responses(site, sipp, 3, failed, 20)
                # The platform's zone-less Date is Beijing time, the site's, on a host that may run on
                # UTC: read in the site's zone, the two clocks agree. SIPp's Date is fixed when it starts
                # (`now`), so by the registration it is behind by the gateway's start-up time.
                lag = now.timestamp() - city["registered_at"]
                assert abs(city["time_offset_s"] - lag) < 3, (city["time_offset_s"], lag)
                final = city["counters"]
                assert final["queries"] == 2 and final["responses_sent"] == 3, final
                assert final["responses_failed"] == 0 and final["rejected"] == 0, final
                log = stop_and_pass(site, sipp, failed)
    finally:
        if site is not None:
            site.proc.stop()
        if sipp.poll() is None:
            sipp.kill()
            sipp.wait()
    assert password not in log

    # What SIPp received, read again here: the parts of query 41 are the spans on disk, in order.
    received = received_messages(trace)
    parts = record_info_parts(received, 41)
    assert [p.findtext("SumNum") for p in parts] == ["2", "2"], parts
    assert [p.find("RecordList").get("Num") for p in parts] == ["1", "1"]  # type: ignore[union-attr]
    items = [item for p in parts for item in p.iter("Item")]
    assert [(i.findtext("StartTime"), i.findtext("EndTime")) for i in items] == [want1, want2]
    assert all(i.findtext("DeviceID") == CHANNEL and i.findtext("Secrecy") == "0" for i in items)
    # Query 42, inside the gap: one Response, nothing in it.
    (empty,) = record_info_parts(received, 42)
    assert empty.findtext("SumNum") == "0" and not list(empty.iter("Item"))


def test_sipp_platform_commands(tmp_path: Path, gateway_storage_url: str, rtsp: RtspServerProcess) -> None:
    """SIPp (sipp/device_control.xml) disarms the site, sends a malformed PTZCmd (400) and one to a
    channel that is not ours (404), asks the channel's DeviceStatus (online, encoding, OFFDUTY), the
    alarm query, a configuration we do not take (Result ERROR) and the presets of a camera without PTZ
    (an empty list). SIPp checks each answer itself; this test checks the gateway's counters."""
    password = secrets.token_urlsafe(12)
    checks = tmp_path / "sipp-device_control-logs.log"
    flags = ("guardok", "statusok", "alarmok", "configok", "presetok")
    sipp, sipp_port, trace, errors = launch_sipp(
        tmp_path,
        "device_control",
        "udp",
        [
            *("-set", "gbpass", password),
            *("-set", "date", f"{datetime.now(ZoneInfo(SITE_ZONE)):%Y-%m-%dT%H:%M:%S}.000"),
            *[arg for flag in flags for arg in ("-set", flag, "0")],
            *("-trace_logs", "-log_file", str(checks)),
        ],
        timeout_s=40,
    )
    env = child_env(IT_PW=password, IT_GB_PASSWORD=password)
    site = Site(tmp_path, gateway_storage_url, [camera("gate", rtsp.url("/cam"))], env)
    try:
        config = yaml.safe_load(site.path.read_text())
        config["site"]["timezone"] = SITE_ZONE
        config["site"]["unit"]["gb_id"] = UNIT_ID
        config["cameras"][0]["gb_channel_id"] = CHANNEL
        config["cameras"][0]["credentials"] = None
        uplink = {
            "id": "city",
            "server_id": SERVER_ID,
            "server_domain": DOMAIN,
            "host": "127.0.0.1",
            "port": sipp_port,
            "password": {"env": "IT_GB_PASSWORD"},
            "local_port": 0,
        }
        config["uplinks"] = {"gb28181": [uplink]}
        site.path.write_text(yaml.safe_dump(config))
        site.proc.start()

        def failed() -> str:
            return f"{sipp_report(checks, errors, trace)}\n--- gateway.log\n{site.proc.log()[-6000:]}"

        # Five Responses: DeviceControl, DeviceStatus, Alarm, DeviceConfig, PresetQuery.
        city = uplink_after_responses(site, sipp, 5, failed, 30)
        assert city["platform_gb_version"] == "3.0"  # annex I: the platform's edition, from its 200
        final = city["counters"]
        assert final["rejected"] == 2 and final["controls"] == 2 and final["queries"] == 3, final
        assert final["responses_failed"] == 0, final
        log = stop_and_pass(site, sipp, failed)
    finally:
        if site.proc.proc is not None:
            site.proc.stop()
        if sipp.poll() is None:
            sipp.kill()
            sipp.wait()
    assert password not in log and "Traceback" not in log
