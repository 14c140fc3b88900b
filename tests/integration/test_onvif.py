"""The ONVIF adapter against the simulated devices (real HTTP/UDP servers on 127.0.0.1)."""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adapters.onvif import OnvifClient, OnvifError, discover
from adapters.onvif.soap import NS_MEDIA, NS_MEDIA2, NS_SEARCH
from sim.onvif_device import DiscoveryResponder, OnvifDeviceServer
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

USER, PASSWORD = "admin", secrets.token_urlsafe(12)  # made per run: no credential is written down
MAIN, SUB = "rtsp://127.0.0.1:8554/cam1/main", "rtsp://127.0.0.1:8554/cam1/sub"
RECORDED = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 8, 12, tzinfo=UTC))
HOUR = 3600.0


def _device(vendor: str, **kw: object) -> OnvifDeviceServer:
    kw.setdefault("sub_uri", SUB)
    return OnvifDeviceServer(vendor, USER, PASSWORD, main_uri=MAIN, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("skew", [0.0, HOUR, -HOUR])
async def test_generic_inventory_with_clock_skew(skew: float) -> None:
    with _device("generic", clock_skew_s=skew, recordings=RECORDED) as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            inv = await cam.inventory()
            assert cam.auth_mode == "wsse"
    assert inv.info.manufacturer == "Generic" and inv.info.model == "GEN-IPC-1080"
    assert inv.info.serial == "GEN0001SIM" and inv.info.hardware_id == "GEN-HW-A1"
    assert inv.clock.offset_s == pytest.approx(skew, abs=2.0)
    assert inv.clock.ntp is True
    assert NS_MEDIA in inv.services and NS_SEARCH in inv.services
    assert [p.token for p in inv.profiles] == ["profile_main", "profile_sub"]
    main, sub = inv.profiles
    assert main.encoding is not None and sub.encoding is not None
    assert (main.encoding.codec, main.encoding.width, main.encoding.height) == ("h264", 1920, 1080)
    assert (main.encoding.fps, main.encoding.bitrate_kbps, main.encoding.gop) == (25.0, 4096, 50)
    assert (sub.encoding.width, sub.encoding.profile) == (640, "Baseline")
    assert (main.stream_uri, sub.stream_uri) == (MAIN, SUB)
    assert main.snapshot_uri is not None and main.snapshot_uri.endswith("profile_main.jpg")
    assert inv.recordings is not None
    assert (inv.recordings.earliest, inv.recordings.latest, inv.recordings.recordings) == (*RECORDED, 1)


async def test_hik_like_capabilities_fallback_h265_and_stripped_credentials() -> None:
    with _device("hik-like", clock_skew_s=HOUR, recordings=RECORDED) as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            inv = await cam.inventory()
        assert "GetCapabilities" in dev.requests  # GetServices is not offered
    assert inv.info.manufacturer == "HikLike" and inv.info.hardware_id is None
    assert inv.clock.offset_s == pytest.approx(HOUR, abs=2.0)
    assert inv.clock.timezone == "CST-8:00:00"
    # XAddrs reported at the camera's private address are re-based onto the address we reached it at.
    assert all(x.startswith(f"http://127.0.0.1:{dev.port}/") for x in inv.services.values())
    main, sub = inv.profiles
    assert main.encoding is not None and main.encoding.codec == "h265" and main.encoding.width == 2560
    assert main.encoding.fps is None and main.encoding.gop == 40
    assert (main.stream_uri, sub.stream_uri) == (MAIN, SUB)  # the device embedded the credentials
    assert main.snapshot_uri is None  # GetSnapshotUri not supported
    assert inv.recordings is not None and inv.recordings.recordings == 1


async def test_hik_like_falls_back_to_http_digest_when_wsse_is_refused() -> None:
    with _device("hik-like", auth="digest") as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            info = await cam.device_information()
            assert cam.auth_mode == "digest"
            assert len(await cam.profiles()) == 2
    assert info.model == "HL-2CD-4MP"


async def test_dahua_like_digest_media2_local_clock_no_search() -> None:
    with _device("dahua-like", clock_skew_s=-HOUR, sub_uri=None) as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            inv = await cam.inventory()
            assert cam.auth_mode == "digest"
    assert inv.info.manufacturer == "DahuaLike"
    # Only LocalDateTime + POSIX TZ "CST-8": the client converts to UTC.
    assert inv.clock.offset_s == pytest.approx(-HOUR, abs=2.0)
    assert NS_MEDIA2 in inv.services and NS_MEDIA not in inv.services
    assert len(inv.profiles) == 1
    enc = inv.profiles[0].encoding
    assert enc is not None
    assert (enc.codec, enc.width, enc.height, enc.fps, enc.bitrate_kbps, enc.gop) == (
        "h265",
        2688,
        1520,
        25.0,
        4096,
        50,
    )
    assert inv.profiles[0].stream_uri == MAIN
    assert inv.recordings is None  # no recording search: not verifiable


async def test_clock_that_demands_digest_auth_is_still_read() -> None:
    with _device("dahua-like", clock_skew_s=HOUR, clock_needs_auth=True) as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            clock = await cam.system_time()
            assert cam.auth_mode == "digest"
    assert clock.offset_s == pytest.approx(HOUR, abs=2.0)


@pytest.mark.parametrize("vendor", ["generic", "hik-like"])
async def test_skewed_clock_is_set_to_our_time_and_auth_keeps_working(vendor: str) -> None:
    with _device(vendor, clock_skew_s=HOUR) as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            assert (await cam.system_time()).offset_s == pytest.approx(HOUR, abs=2.0)
            await cam.set_system_time()
            assert cam.offset_s == pytest.approx(0.0, abs=2.0)  # re-read after setting
            assert (await cam.device_information()).model  # digests now use the new device time
            clock = await cam.system_time()
        assert "SetSystemDateAndTime" in dev.requests and dev.datetime_type == "Manual"
    assert clock.offset_s == pytest.approx(0.0, abs=2.0) and clock.ntp is False


async def test_clock_set_to_a_given_time() -> None:
    target = datetime.now(UTC) - timedelta(days=2)
    with _device("generic") as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            await cam.set_system_time(utc=target)
            assert cam.offset_s == pytest.approx(-2 * 86400.0, abs=2.0)
            assert (await cam.device_information()).manufacturer == "Generic"
    assert dev.clock_skew_s == pytest.approx(-2 * 86400.0, abs=2.0)


@pytest.mark.parametrize(("vendor", "server"), [("generic", "192.0.2.123"), ("hik-like", "ntp.example.org")])
async def test_ntp_mode_and_server_are_recorded(vendor: str, server: str) -> None:
    with _device(vendor) as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            await cam.set_system_time(ntp_server=server)
            clock = await cam.system_time()
        assert dev.requests.index("SetNTP") < dev.requests.index("SetSystemDateAndTime")
    assert clock.ntp is True and dev.datetime_type == "NTP"
    assert dev.ntp_servers == [server] and dev.ntp_from_dhcp is False


async def test_clock_that_cannot_be_set_is_not_supported() -> None:
    with _device("dahua-like", clock_skew_s=HOUR) as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            with pytest.raises(OnvifError) as info:
                await cam.set_system_time()
            assert (await cam.device_information()).manufacturer == "DahuaLike"  # session still usable
    assert info.value.reason == "not supported"
    assert dev.clock_skew_s == HOUR


async def test_bad_arguments_are_refused_before_any_request() -> None:
    with _device("generic") as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            with pytest.raises(ValueError, match="either"):
                await cam.set_system_time(utc=datetime.now(UTC), ntp_server="192.0.2.1")
            with pytest.raises(ValueError, match="timezone-aware"):
                await cam.set_system_time(utc=datetime(2026, 1, 1))
            with pytest.raises(ValueError, match="DNS name"):
                await cam.set_system_time(ntp_server="evil</tt:DNSname>")
        assert dev.requests == []


async def test_clock_jump_behind_our_back_is_resynced_once() -> None:
    with _device("generic") as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            await cam.device_information()
            dev.clock_skew_s = HOUR  # e.g. the camera's own NTP sync stepped its clock
            assert (await cam.device_information()).model == "GEN-IPC-1080"
            assert cam.offset_s == pytest.approx(HOUR, abs=2.0)
    assert dev.requests.count("GetSystemDateAndTime") == 2


@pytest.mark.parametrize("vendor", ["generic", "hik-like", "dahua-like"])
async def test_wrong_password_is_auth_failed(vendor: str) -> None:
    with _device(vendor) as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, "wrong-one") as cam:
            with pytest.raises(OnvifError) as info:
                await cam.device_information()
    assert info.value.reason == "auth failed"
    assert "wrong-one" not in str(info.value)


async def test_unreachable_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connection refused
        async with OnvifClient("127.0.0.1", port, USER, PASSWORD, timeout_s=2.0) as cam:
            with pytest.raises(OnvifError) as info:
                await cam.inventory()
    assert info.value.reason == "unreachable"


class _NotOnvif(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html><body><h1>Welcome to nginx!</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST


@pytest.fixture
def plain_http() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _NotOnvif)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


async def test_plain_http_server_is_not_onvif(plain_http: int) -> None:
    async with OnvifClient("127.0.0.1", plain_http, USER, PASSWORD) as cam:
        with pytest.raises(OnvifError) as info:
            await cam.inventory()
    assert info.value.reason == "not onvif"


async def test_timeout_when_the_device_never_answers() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)  # accepts the TCP handshake, never replies
        async with OnvifClient("127.0.0.1", s.getsockname()[1], timeout_s=0.5) as cam:
            with pytest.raises(OnvifError) as info:
                await cam.system_time()
    assert info.value.reason == "timeout"


async def test_discovery_by_unicast_finds_the_device() -> None:
    with _device("generic") as dev, DiscoveryResponder(dev.xaddr, 0, endpoint="urn:uuid:sim-cam-1") as responder:
        found = await discover(timeout_s=0.8, hosts=["127.0.0.1/32"], port=responder.port, multicast=False)
        assert [d.endpoint for d in found] == ["urn:uuid:sim-cam-1"]  # probed twice, reported once
        assert found[0].xaddrs == [dev.xaddr]
        assert found[0].address == "127.0.0.1"
        assert responder.probes >= 1
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as cam:
            assert (await cam.device_information()).manufacturer == "Generic"


async def test_discovery_with_nobody_listening_returns_nothing() -> None:
    port = free_port(socket.SOCK_DGRAM)
    assert await discover(timeout_s=0.3, hosts=["127.0.0.1"], port=port, multicast=False) == []
