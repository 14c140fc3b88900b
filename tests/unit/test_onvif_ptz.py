"""ONVIF PTZ client (adapters/onvif/ptz.py) and the simulated PTZ camera (sim/ptz.py).

Real device answers (tests/unit/data/onvif_ptz/, each file's source in its README) are parsed as they
came; the requests are checked against a fake device that answers canned envelopes through the same
hardened parsing the client uses; and the client drives the simulated PTZ camera over HTTP on
127.0.0.1, with a clock the test moves, so positions are exact. The simulator's state file is read back
with the RTSP server's own reader (sim/rtsp_server.py), which must agree with the device on every
position.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from xml.etree.ElementTree import Element

import numpy as np
import pytest

from adapters.onvif import OnvifClient
from adapters.onvif.ptz import (
    NS_IMAGING,
    NS_PTZ,
    Ptz,
    PtzPosition,
    open_ptz,
    parse_nodes,
    parse_presets,
    parse_status,
)
from adapters.onvif.soap import NS_DEVICE, NS_MEDIA, NS_MEDIA2, OnvifError, build_envelope, parse_envelope
from sim import rtsp_server
from sim.onvif_device import OnvifDeviceServer
from sim.ptz import AXES, DEFAULT_TIMEOUT_S, PICTURE_SIZE, PtzDeviceServer, PtzMotion

DATA = Path(__file__).resolve().parent / "data" / "onvif_ptz"
NS = (
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema" '
    f'xmlns:tptz="{NS_PTZ}" xmlns:trt="{NS_MEDIA}" xmlns:tr2="{NS_MEDIA2}" xmlns:timg="{NS_IMAGING}"'
)
USER = "ptz-operator"
PASSWORD = secrets.token_urlsafe(12)  # made per run: no credential is written down
RTSP = "rtsp://127.0.0.1:8554/ptz"


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def envelope(body: str) -> bytes:
    return f"<s:Envelope {NS}><s:Body>{body}</s:Body></s:Envelope>".encode()


# --- real device answers --------------------------------------------------------------------------


def test_status_of_a_real_device() -> None:
    status = parse_status(parse_envelope(data("get_status.xml")))
    assert status.position == PtzPosition(pan=0.164178, tilt=-0.618316, zoom=0.0)
    assert (status.pan_tilt_move, status.zoom_move, status.moving) == ("IDLE", "IDLE", False)
    assert status.utc_time == datetime(2025, 4, 5, 20, 37, 31, tzinfo=UTC)
    assert status.error is None


def test_nodes_of_a_real_device() -> None:
    (node,) = parse_nodes(parse_envelope(data("get_nodes.xml")))
    assert (node.token, node.name, node.home_supported, node.max_presets) == ("PTZNodeToken", "PTZNode", True, 300)
    assert node.absolute and node.relative and node.continuous
    assert {"irisin", "irisout", "focusin", "focusout"} <= set(node.auxiliary_commands)


def test_presets_of_a_real_device() -> None:
    presets = parse_presets(parse_envelope(data("get_presets.xml")))
    assert len(presets) == 45
    assert (presets[0].token, presets[0].name, presets[0].position) == ("P001", "P001", None)
    assert (presets[-1].token, presets[-1].name) == ("Home", "Home")
    assert len({p.token for p in presets}) == 45


def test_status_of_an_early_firmware_with_one_move_status_and_a_moving_zoom() -> None:
    body = parse_envelope(
        envelope(
            '<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position><tt:Zoom x="0.25"/></tt:Position>'
            "<tt:MoveStatus>MOVING</tt:MoveStatus><tt:Error>motor</tt:Error></tptz:PTZStatus></tptz:GetStatusResponse>"
        )
    )
    status = parse_status(body)
    assert status.position == PtzPosition(pan=None, tilt=None, zoom=0.25)
    assert status.moving and status.error == "motor" and status.utc_time is None
    with pytest.raises(OnvifError) as caught:
        parse_status(parse_envelope(envelope("<tptz:GetStatusResponse/>")))
    assert caught.value.reason == "bad response"


# --- the requests, against a fake device ------------------------------------------------------------

Answer = bytes | OnvifError

PROFILES = envelope(
    "<trt:GetProfilesResponse>"
    '<trt:Profiles token="fixed_cam"><tt:Name>no ptz</tt:Name></trt:Profiles>'
    '<trt:Profiles token="dome&amp;1"><tt:Name>dome</tt:Name>'
    '<tt:VideoSourceConfiguration token="vsc"><tt:SourceToken>src_1</tt:SourceToken></tt:VideoSourceConfiguration>'
    '<tt:PTZConfiguration token="ptzc"><tt:NodeToken>node_a</tt:NodeToken>'
    "<tt:DefaultPTZTimeout>PT1M5.5S</tt:DefaultPTZTimeout></tt:PTZConfiguration></trt:Profiles>"
    "</trt:GetProfilesResponse>"
)
EMPTY = envelope("<tptz:Response/>")


class FakeDevice:
    """`call` and `services` as OnvifClient has them, answering canned envelopes per operation (the last
    answer again for every further call)."""

    def __init__(self, answers: dict[str, list[Answer]], services: Iterable[str] = (NS_PTZ, NS_MEDIA)) -> None:
        self.answers = {op: list(queue) for op, queue in answers.items()}
        self._services = {ns: f"http://203.0.113.9/onvif/{ns.rsplit('/', 2)[-2]}" for ns in (NS_DEVICE, *services)}
        self.calls: list[tuple[str, str, str]] = []

    async def services(self) -> dict[str, str]:
        return dict(self._services)

    async def call(self, url: str, action: str, body: str, *, timeout_s: float | None = None) -> Element:
        op = action.rpartition("/")[2]
        self.calls.append((url, op, body))
        # What we send must be well-formed XML with every prefix declared, as a device would parse it.
        parse_envelope(build_envelope(body))
        queue = self.answers.get(op, [EMPTY])
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, OnvifError):
            raise answer
        return parse_envelope(answer)

    def bodies(self, op: str) -> list[str]:
        return [body for _, name, body in self.calls if name == op]


async def test_open_ptz_picks_the_first_profile_with_a_ptz_configuration() -> None:
    device = FakeDevice({"GetProfiles": [PROFILES]}, services=(NS_PTZ, NS_MEDIA, NS_IMAGING))
    ptz = await open_ptz(device)
    assert (ptz.profile.token, ptz.profile.configuration_token, ptz.profile.node_token) == ("dome&1", "ptzc", "node_a")
    assert (ptz.profile.video_source_token, ptz.profile.default_timeout_s) == ("src_1", 65.5)
    assert ptz.url.endswith("/ptz") and ptz.imaging_url is not None
    assert [op for _, op, _ in device.calls] == ["GetProfiles"]


async def test_a_device_without_ptz_says_so_clearly() -> None:
    with pytest.raises(OnvifError) as caught:
        await open_ptz(FakeDevice({}, services=(NS_MEDIA,)))
    assert caught.value.reason == "not supported" and "no PTZ service" in str(caught.value)
    no_ptz_profile = envelope('<trt:GetProfilesResponse><trt:Profiles token="a"/></trt:GetProfilesResponse>')
    with pytest.raises(OnvifError) as caught:
        await open_ptz(FakeDevice({"GetProfiles": [no_ptz_profile]}))
    assert caught.value.reason == "not supported" and "no media profile" in str(caught.value)
    with pytest.raises(OnvifError) as caught:
        await open_ptz(FakeDevice({"GetProfiles": [PROFILES]}), profile_token="fixed_cam")
    assert caught.value.reason == "not supported" and "'fixed_cam'" in str(caught.value)
    ptz = await open_ptz(FakeDevice({"GetProfiles": [PROFILES]}))  # no Imaging service: no focus
    with pytest.raises(OnvifError) as caught:
        await ptz.focus_move(0.5)
    assert caught.value.reason == "not supported" and "Imaging" in str(caught.value)


async def test_media2_profiles_carry_ptz_in_their_configurations() -> None:
    profiles = envelope(
        '<tr2:GetProfilesResponse><tr2:Profiles token="M2"><tr2:Name>main</tr2:Name><tr2:Configurations>'
        '<tr2:VideoSource token="v"><tt:SourceToken>000</tt:SourceToken></tr2:VideoSource>'
        '<tr2:PTZ token="p2"><tt:NodeToken>n2</tt:NodeToken></tr2:PTZ></tr2:Configurations></tr2:Profiles>'
        "</tr2:GetProfilesResponse>"
    )
    device = FakeDevice({"GetProfiles": [profiles]}, services=(NS_PTZ, NS_MEDIA2))
    ptz = await open_ptz(device)
    assert (ptz.profile.token, ptz.profile.configuration_token, ptz.profile.video_source_token) == ("M2", "p2", "000")
    assert "<tr2:Type>All</tr2:Type>" in device.bodies("GetProfiles")[0]


async def _ptz(answers: dict[str, list[Answer]] | None = None) -> tuple[Ptz, FakeDevice]:
    device = FakeDevice({"GetProfiles": [PROFILES], **(answers or {})}, services=(NS_PTZ, NS_MEDIA, NS_IMAGING))
    return await open_ptz(device), device


async def test_requests_carry_the_profile_velocities_timeout_and_tokens() -> None:
    set_preset = envelope("<tptz:SetPresetResponse><tptz:PresetToken>7</tptz:PresetToken></tptz:SetPresetResponse>")
    ptz, device = await _ptz({"SetPreset": [set_preset]})
    await ptz.continuous_move(pan=0.5, tilt=-0.25, timeout_s=0.5)
    await ptz.continuous_move(zoom=1.0)
    await ptz.stop(zoom=False)
    await ptz.goto_preset("p<1>", speed=0.5)
    assert await ptz.set_preset("gate & door") == "7"
    await ptz.set_preset(token="7")
    await ptz.remove_preset("7")
    await ptz.goto_home_position()
    await ptz.set_home_position()
    await ptz.absolute_move(-1.0, 1.0, 0.0)
    await ptz.focus_move(-0.3)
    await ptz.focus_stop()
    first, second = device.bodies("ContinuousMove")
    assert "<tptz:ProfileToken>dome&amp;1</tptz:ProfileToken>" in first
    assert '<tt:PanTilt x="0.5" y="-0.25"/><tt:Zoom x="0"/>' in first and "<tptz:Timeout>PT0.5S</tptz:Timeout>" in first
    assert '<tt:Zoom x="1"/>' in second and "Timeout" not in second
    assert "<tptz:PanTilt>true</tptz:PanTilt><tptz:Zoom>false</tptz:Zoom>" in device.bodies("Stop")[0]
    (goto,) = device.bodies("GotoPreset")
    assert "<tptz:PresetToken>p&lt;1&gt;</tptz:PresetToken>" in goto
    assert '<tptz:Speed><tt:PanTilt x="0.5" y="0.5"/><tt:Zoom x="0.5"/></tptz:Speed>' in goto
    new, overwrite = device.bodies("SetPreset")
    assert "<tptz:PresetName>gate &amp; door</tptz:PresetName>" in new and "PresetToken" not in new
    assert "<tptz:PresetToken>7</tptz:PresetToken>" in overwrite and "PresetName" not in overwrite
    assert "Speed" not in device.bodies("GotoHomePosition")[0]
    assert '<tt:PanTilt x="-1" y="1"/><tt:Zoom x="0"/>' in device.bodies("AbsoluteMove")[0]
    move = device.bodies("Move")[0]
    assert "<timg:VideoSourceToken>src_1</timg:VideoSourceToken>" in move and "<tt:Speed>-0.3</tt:Speed>" in move
    urls = {op: url for url, op, _ in device.calls}
    assert urls["ContinuousMove"].endswith("/ptz") and urls["Move"].endswith("/imaging")


async def test_values_out_of_range_are_refused_before_anything_is_sent() -> None:
    ptz, device = await _ptz()
    sent = len(device.calls)
    for call in (
        ptz.continuous_move(pan=1.5),
        ptz.continuous_move(tilt=float("nan")),
        ptz.continuous_move(pan=0.1, timeout_s=0),
        ptz.goto_preset("1", speed=2.0),
        ptz.absolute_move(0.0, 0.0, -0.1),
        ptz.relative_move(pan=3.0),
        ptz.focus_move(1.01),
    ):
        with pytest.raises(ValueError):
            await call
    assert len(device.calls) == sent


async def test_a_fault_names_the_operation_and_set_preset_needs_a_token_back() -> None:
    fault = OnvifError("bad response", "SOAP fault Sender/InvalidArgVal/NoToken: no such preset")
    ptz, _ = await _ptz({"GotoPreset": [fault], "SetPreset": [EMPTY]})
    with pytest.raises(OnvifError) as caught:
        await ptz.goto_preset("missing")
    assert caught.value.reason == "bad response" and str(caught.value).startswith("bad response: GotoPreset: ")
    assert "NoToken" in str(caught.value)
    with pytest.raises(OnvifError, match="SetPreset without PresetToken"):
        await ptz.set_preset("x")


async def test_relative_move_only_where_the_node_offers_it() -> None:
    no_relative = envelope(
        '<tptz:GetNodesResponse><tptz:PTZNode token="node_a"><tt:SupportedPTZSpaces><tt:ContinuousPanTiltVelocitySpace>'
        "<tt:URI>x</tt:URI></tt:ContinuousPanTiltVelocitySpace></tt:SupportedPTZSpaces></tptz:PTZNode>"
        "</tptz:GetNodesResponse>"
    )
    ptz, device = await _ptz({"GetNodes": [no_relative]})
    with pytest.raises(OnvifError) as caught:
        await ptz.relative_move(pan=0.1)
    assert caught.value.reason == "not supported" and "node_a" in str(caught.value)
    assert device.bodies("RelativeMove") == []
    real, device = await _ptz({"GetNodes": [data("get_nodes.xml")]})  # one node, another token: that one
    await real.relative_move(pan=0.1, tilt=-0.2, zoom=0.05, speed=1.0)
    (sent,) = device.bodies("RelativeMove")
    assert '<tptz:Translation><tt:PanTilt x="0.1" y="-0.2"/><tt:Zoom x="0.05"/></tptz:Translation>' in sent
    unknown, device = await _ptz({"GetNodes": [OnvifError("not supported", "GetNodes")]})
    await unknown.relative_move(pan=0.1)  # the device will not say: ask it anyway
    await unknown.relative_move(pan=0.1)
    assert len(device.bodies("RelativeMove")) == 2 and len(device.bodies("GetNodes")) == 1


# --- the simulated PTZ camera, with a clock the test moves ------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def camera(clock: Clock, tmp_path: Path) -> Iterator[PtzDeviceServer]:
    with PtzDeviceServer(USER, PASSWORD, main_uri=RTSP, state_path=tmp_path / "ptz.json", clock=clock) as dev:
        yield dev


async def _position(ptz: Ptz) -> tuple[float | None, float | None, float | None]:
    status = await ptz.get_status()
    assert status.position is not None
    return status.position.pan, status.position.tilt, status.position.zoom


async def test_sim_presets_are_set_listed_reached_and_removed(camera: PtzDeviceServer, clock: Clock) -> None:
    async with OnvifClient("127.0.0.1", camera.port, USER, PASSWORD) as client:
        ptz = await open_ptz(client)
        assert ptz.profile.token == "profile_main" and await ptz.get_presets() == []
        await ptz.absolute_move(0.5, -0.25, 0.5)
        clock.t += 1.0
        gate = await ptz.set_preset("gate")
        with pytest.raises(OnvifError, match="PresetExist"):
            await ptz.set_preset("gate")
        await ptz.continuous_move(pan=-1.0)
        clock.t += 0.5
        await ptz.stop()
        door = await ptz.set_preset("door")
        assert await ptz.get_presets() == [(gate, "gate"), (door, "door")]
        presets = {p.token: p.position for p in await ptz.presets()}
        assert presets[gate] == PtzPosition(0.5, -0.25, 0.5) and presets[door] == PtzPosition(0.0, -0.25, 0.5)
        await ptz.goto_preset(gate, speed=0.5)
        status = await ptz.get_status()
        assert status.moving and status.pan_tilt_move == "MOVING" and status.zoom_move == "IDLE"
        clock.t += 0.5  # 0.5 units at half speed take 1 s
        assert await _position(ptz) == (pytest.approx(0.25), -0.25, 0.5)
        clock.t += 0.5
        assert await _position(ptz) == (0.5, -0.25, 0.5) and not (await ptz.get_status()).moving
        assert await ptz.set_preset("main gate", token=gate) == gate  # renamed, moved to here
        await ptz.remove_preset(door)
        assert await ptz.get_presets() == [(gate, "main gate")]
        with pytest.raises(OnvifError) as caught:
            await ptz.goto_preset(door)
        assert "GotoPreset" in str(caught.value) and "NoToken" in str(caught.value)
        with pytest.raises(OnvifError, match="NoToken"):
            await ptz.remove_preset(door)


async def test_sim_continuous_move_runs_at_its_velocity_until_stop_or_timeout(
    camera: PtzDeviceServer, clock: Clock
) -> None:
    async with OnvifClient("127.0.0.1", camera.port, USER, PASSWORD) as client:
        ptz = await open_ptz(client)
        await ptz.continuous_move(pan=0.4, tilt=-0.2, zoom=0.1)
        clock.t += 1.5
        assert await _position(ptz) == (pytest.approx(0.6), pytest.approx(-0.3), pytest.approx(0.15))
        await ptz.stop(pan_tilt=True, zoom=False)
        clock.t += 1.0
        assert await _position(ptz) == (pytest.approx(0.6), pytest.approx(-0.3), pytest.approx(0.25))
        status = await ptz.get_status()
        assert (status.pan_tilt_move, status.zoom_move) == ("IDLE", "MOVING")
        await ptz.stop()
        await ptz.continuous_move(pan=-0.5, timeout_s=0.5)  # stops by itself
        clock.t += 2.0
        assert await _position(ptz) == (pytest.approx(0.35), pytest.approx(-0.3), pytest.approx(0.25))
        assert not (await ptz.get_status()).moving
        await ptz.continuous_move(pan=1.0)  # without a timeout: the default one; held at the end of the range
        clock.t += 1.0
        assert (await _position(ptz))[0] == 1.0 and not (await ptz.get_status()).moving
        await ptz.continuous_move(pan=-0.1)
        clock.t += DEFAULT_TIMEOUT_S + 5
        assert (await _position(ptz))[0] == pytest.approx(1.0 - 0.1 * DEFAULT_TIMEOUT_S)


async def test_sim_home_and_relative_moves(camera: PtzDeviceServer, clock: Clock) -> None:
    async with OnvifClient("127.0.0.1", camera.port, USER, PASSWORD) as client:
        ptz = await open_ptz(client)
        await ptz.relative_move(pan=0.5, tilt=0.5, zoom=0.25)
        clock.t += 1.0
        assert await _position(ptz) == (0.5, 0.5, 0.25)
        await ptz.set_home_position()
        await ptz.relative_move(pan=-2.0, zoom=1.0, speed=1.0)  # clamped to the ranges
        clock.t += 2.0
        assert await _position(ptz) == (-1.0, 0.5, 1.0)
        await ptz.goto_home_position(speed=1.0)
        clock.t += 1.5
        assert await _position(ptz) == (pytest.approx(0.5), 0.5, pytest.approx(0.25))
        node = await ptz.node()
        assert node is not None and node.relative and node.home_supported


async def test_sim_focus_moves_through_the_imaging_service(camera: PtzDeviceServer, clock: Clock) -> None:
    async with OnvifClient("127.0.0.1", camera.port, USER, PASSWORD) as client:
        ptz = await open_ptz(client)
        before = await ptz.focus_status()
        assert (before.position, before.move) == (0.5, "IDLE")
        await ptz.focus_move(0.2)
        clock.t += 1.0
        moving = await ptz.focus_status()
        assert moving.position == pytest.approx(0.7) and moving.move == "MOVING"
        await ptz.focus_stop()
        clock.t += 1.0
        assert (await ptz.focus_status()).position == pytest.approx(0.7)


@pytest.mark.parametrize("vendor", ["hik-like", "dahua-like"])
async def test_sim_ptz_in_other_vendor_shapes(vendor: str, clock: Clock) -> None:
    """hik-like: no GetServices (the PTZ service comes from GetCapabilities); dahua-like: Media2 profiles."""
    with PtzDeviceServer(USER, PASSWORD, main_uri=RTSP, vendor=vendor, clock=clock) as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as client:
            ptz = await open_ptz(client)
            await ptz.continuous_move(tilt=0.5)
            clock.t += 1.0
            assert await _position(ptz) == (0.0, 0.5, 0.0)
            assert (await ptz.focus_status()).position == 0.5
        media = "Media2.GetProfiles" if vendor == "dahua-like" else "GetProfiles"
        assert media in dev.requests
        assert ("GetCapabilities" in dev.requests) == (vendor == "hik-like")


async def test_a_sim_camera_without_ptz_is_refused_clearly() -> None:
    with OnvifDeviceServer("generic", USER, PASSWORD, main_uri=RTSP) as dev:
        async with OnvifClient("127.0.0.1", dev.port, USER, PASSWORD) as client:
            with pytest.raises(OnvifError) as caught:
                await open_ptz(client)
    assert caught.value.reason == "not supported" and "no PTZ service" in str(caught.value)


async def test_sim_faults_for_a_wrong_profile(camera: PtzDeviceServer) -> None:
    async with OnvifClient("127.0.0.1", camera.port, USER, PASSWORD) as client:
        ptz = await open_ptz(client)
        wrong = Ptz(client, ptz.url, replace(ptz.profile, token="nope"))
        with pytest.raises(OnvifError, match="NoProfile"):
            await wrong.get_status()


# --- the state file, as the RTSP server reads it ----------------------------------------------------


def test_the_rtsp_server_reads_the_same_motion_from_the_state_file(tmp_path: Path, clock: Clock) -> None:
    state = tmp_path / "state.json"
    motion = PtzMotion(state, position=(0.2, -0.1, 0.3), clock=clock)
    assert rtsp_server.read_ptz_state(str(state)) is not None
    assert rtsp_server.PTZ_AXES == AXES
    moves = [
        lambda: motion.continuous({"pan": 0.7, "zoom": -0.2}, 1.5),
        lambda: motion.move_to({"pan": -1.0, "tilt": 1.0, "zoom": 1.0}, {"pan": 0.5}),
        lambda: motion.stop(pan_tilt=False),
        lambda: motion.move_by({"tilt": -3.0}, {}),
    ]
    for move in moves:
        move()
        motions = rtsp_server.read_ptz_state(str(state))
        assert motions is not None
        for dt in (0.0, 0.25, 0.9, 1.5, 2.2, 4.0, 9.0):
            t = clock.t + dt
            assert rtsp_server.ptz_position(motions, t) == pytest.approx(motion.position(t), abs=1e-12)
        clock.t += 1.0
    raw = json.loads(state.read_text())
    assert raw["version"] == rtsp_server.PTZ_STATE_VERSION
    raw["version"] = 99
    with pytest.raises(ValueError, match="version"):
        rtsp_server.parse_ptz_state(raw)
    assert rtsp_server.read_ptz_state(str(tmp_path / "missing.json")) is None


def test_the_window_pans_tilts_and_zooms_over_the_picture() -> None:
    picture, output = PICTURE_SIZE, (640, 360)
    home = rtsp_server.ptz_window(0.0, 0.0, 0.0, picture, output)
    assert home == (256, 288, 1024, 576)  # 2/3 of the width, 16:9, centred
    left, right = (rtsp_server.ptz_window(p, 0.0, 0.0, picture, output) for p in (-1.0, 1.0))
    assert (left[0], right[0] + right[2]) == (0, picture[0])  # the edges at the ends of the pan range
    up, down = (rtsp_server.ptz_window(0.0, t, 0.0, picture, output) for t in (1.0, -1.0))
    assert (up[1], down[1] + down[3]) == (0, picture[1])
    tele = rtsp_server.ptz_window(0.0, 0.0, 1.0, picture, output)
    assert tele[2] == pytest.approx(home[2] / rtsp_server.PTZ_MAX_ZOOM, abs=4)
    centre = (tele[0] + tele[2] / 2, tele[1] + tele[3] / 2)  # within a pixel: x and y are even
    assert centre == (pytest.approx(picture[0] / 2, abs=1), pytest.approx(picture[1] / 2, abs=1))
    for pan, tilt, zoom in [(0.3, -0.7, 0.4), (-1.0, 1.0, 1.0), (1.0, -1.0, 0.01), (0.4, -0.3, 0.77)]:
        x, y, w, h = rtsp_server.ptz_window(pan, tilt, zoom, picture, output)
        assert all(v % 2 == 0 for v in (x, y, h)) and w % 8 == 0  # I420 rows as GStreamer strides them
        assert x >= 0 and x + w <= picture[0] and y >= 0 and y + h <= picture[1]


def test_crop_i420_takes_the_window_of_every_plane() -> None:
    width, height = 64, 48
    rng = np.random.default_rng(7)
    y_plane = rng.integers(0, 256, (height, width), dtype=np.uint8)
    u_plane = rng.integers(0, 256, (height // 2, width // 2), dtype=np.uint8)
    v_plane = rng.integers(0, 256, (height // 2, width // 2), dtype=np.uint8)
    raw = y_plane.tobytes() + u_plane.tobytes() + v_plane.tobytes()
    x, y, w, h = 10, 6, 20, 14
    cropped = rtsp_server.crop_i420(raw, (width, height), (x, y, w, h))
    expected = (
        y_plane[y : y + h, x : x + w].tobytes()
        + u_plane[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2].tobytes()
        + v_plane[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2].tobytes()
    )
    assert cropped == expected


def test_the_spec_takes_ptz_mounts(tmp_path: Path) -> None:
    picture = tmp_path / "p.png"
    picture.write_bytes(b"not decoded here")
    spec_file = tmp_path / "spec.json"
    entry = {"path": "/ptz", "picture": str(picture), "state": str(tmp_path / "s.json"), "fps": 10}
    spec_file.write_text(json.dumps({"port": 8554, "ptz": [entry]}))
    spec = rtsp_server.load_spec(str(spec_file), {})
    assert spec.mounts == () and spec.ptz == (rtsp_server.PtzMount("/ptz", str(picture), entry["state"], fps=10.0),)
    for bad in ({"width": 641}, {"state": "/no/such/dir/s.json"}, {"picture": str(tmp_path / "x.png")}):
        spec_file.write_text(json.dumps({"port": 8554, "ptz": [{**entry, **bad}]}))
        with pytest.raises(rtsp_server.SpecError):
            rtsp_server.load_spec(str(spec_file), {})
