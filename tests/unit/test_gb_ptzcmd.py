"""GB/T 28181 device control: the annex A.3 PTZCmd codec (adapters/gb28181/ptzcmd.py), the other
DeviceControl commands read from a MANSCDP body, and the PTZ/configuration answers, each parsed back.

The PTZCmd vectors are strings independent implementations produce, derived by hand from their code:
648540858/wvp-GB28181-pro (the platform most lower platforms meet) and the GB28181 device side of
whswhs1128/7608_netcam, which names literal frames in its comments.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

import pytest

from adapters.gb28181.manscdp import (
    AlarmResetControl,
    GuardControl,
    HomePositionControl,
    IFrameControl,
    ManscdpError,
    PtzControl,
    RecordControl,
    SnapShotConfigControl,
    TeleBootControl,
    config_download_basic_param,
    device_control,
    home_position_response,
    parse,
    preset_query_responses,
    ptz_position_response,
    upload_snapshot_finished_notify,
)
from adapters.gb28181.ptzcmd import (
    AuxSwitch,
    Cruise,
    FocusIris,
    Preset,
    PtzCmdError,
    PtzCommand,
    PtzFrame,
    PtzMove,
    Scan,
    build_ptz_cmd,
    decode_frame,
    parse_ptz_cmd,
)

CHANNEL = "34020000001320000001"
SESSION = "0123456789abcdef-0123456789ABCDEF"  # 33 characters: letters, digits, '-'

# --- vectors ----------------------------------------------------------------------------------
# (PTZCmd, what it means, where it comes from)
VECTORS: list[tuple[str, PtzCommand, str]] = [
    # wvp SIPCommander.cmdString(leftRight=1, upDown=0, inOut=0, moveSpeed=50, zoomSpeed=0):
    # ptzdirectCmd "move left at speed 50"
    ("A50F01023232001B", PtzMove(pan="left", pan_speed=50, tilt_speed=50, address=1), "wvp cmdString left 50"),
    # wvp cmdString(0, 0, 0, 0, 0): stop
    ("A50F0100000000B5", PtzMove(address=1), "wvp cmdString stop"),
    # wvp cmdString(0, 0, inOut=2, 0, zoomSpeed=16): zoom in; the same literal is in 7608_netcam
    ("A50F0110000010D5", PtzMove(zoom="in", zoom_speed=1, address=1), "wvp zoom in / netcam 放大"),
    # wvp cmdString(0, 0, inOut=1, 0, 16): zoom out; also a 7608_netcam literal
    ("A50F0120000010E5", PtzMove(zoom="out", zoom_speed=1, address=1), "wvp zoom out / netcam 缩小"),
    # wvp PtzCmdHelper.create(0, 0, 2, 0, zoomSpeed=5): its zoom speed is the nibble itself
    ("A50F011000005015", PtzMove(zoom="in", zoom_speed=5, address=1), "wvp PtzCmdHelper zoom in 5"),
    # wvp ChannelFrontEndController ptz("left", panSpeed=tiltSpeed=zoomSpeed=50 of 100):
    # SourcePTZServiceForGbImpl scales to 127, 127 and 8; frontEndCmdString, in the versions that lift
    # zoom speeds 1-15 to 16, writes byte 7 = 10H (earlier ones: see A50F01027F7F80B5 below)
    (
        "A50F01027F7F10C5",
        PtzMove(pan="left", pan_speed=127, tilt_speed=127, zoom_speed=1, address=1),
        "wvp front-end left 50%",
    ),
    # wvp preset(code=2 call, presetId=1): frontEndCmd(0x82, 0, 1, 0)
    ("A50F018200010038", Preset("call", 1, address=1), "wvp call preset 1"),
    # wvp fi(focus=0 near, focusSpeed=50): frontEndCmd(0x42, 50, 0, 0)
    ("A50F014232000029", FocusIris(focus="near", focus_speed=50, address=1), "wvp focus near 50"),
    # wvp fi(iris=1 "in", irisSpeed=50): frontEndCmd(0x44, 0, 50, 0)
    ("A50F01440032002B", FocusIris(iris="open", iris_speed=50, address=1), "wvp iris open 50"),
    # wvp tour(code=1 add point, tourId=1, presetId=2): frontEndCmd(0x84, 1, 2, 0)
    ("A50F01840102003C", Cruise("add", 1, preset=2, address=1), "wvp add cruise point"),
    # wvp wiper(on): frontEndCmd(0x8C, 1, 0, 0), auxiliary switch 1 is the wiper (A.3.7)
    ("A50F018C01000042", AuxSwitch(on=True, switch=1, address=1), "wvp wiper on"),
    # 7608_netcam ite_gb28181_sip.c comments, address 0, speed 23H
    ("A50F0002230000D9", PtzMove(pan="left", pan_speed=0x23), "netcam 向左"),
    ("A50F0001230000D8", PtzMove(pan="right", pan_speed=0x23), "netcam 向右"),
    ("A50F0008002300DF", PtzMove(tilt="up", tilt_speed=0x23), "netcam 向上"),
    ("A50F0004002300DB", PtzMove(tilt="down", tilt_speed=0x23), "netcam 向下"),
    ("A50F0005232300FF", PtzMove(pan="right", tilt="down", pan_speed=0x23, tilt_speed=0x23), "netcam 右下"),
    ("A50F000623230000", PtzMove(pan="left", tilt="down", pan_speed=0x23, tilt_speed=0x23), "netcam 左下"),
    ("A50F000923230003", PtzMove(pan="right", tilt="up", pan_speed=0x23, tilt_speed=0x23), "netcam 右上"),
    ("A50F000A23230004", PtzMove(pan="left", tilt="up", pan_speed=0x23, tilt_speed=0x23), "netcam 左上"),
    ("A50F0000000000B4", PtzMove(), "netcam 停止遥控"),
]


@pytest.mark.parametrize(("text", "expected", "source"), VECTORS, ids=[v[2] for v in VECTORS])
def test_vectors_of_independent_implementations_parse_and_build_back(
    text: str, expected: PtzCommand, source: str
) -> None:
    assert parse_ptz_cmd(text) == expected, source
    assert build_ptz_cmd(expected) == text, source


def test_stop_and_directions() -> None:
    stop = parse_ptz_cmd("A50F0100000000B5")
    assert isinstance(stop, PtzMove) and stop.is_stop
    left = parse_ptz_cmd("A50F01023232001B")
    assert isinstance(left, PtzMove) and not left.is_stop
    fi_stop = parse_ptz_cmd(PtzFrame(0x40, address=1).encode())
    assert isinstance(fi_stop, FocusIris) and fi_stop.is_stop


def test_lower_case_and_surrounding_whitespace_are_accepted() -> None:
    assert parse_ptz_cmd("  a50f01023232001b\r\n") == parse_ptz_cmd("A50F01023232001B")


def test_frame_fields_and_12_bit_address() -> None:
    text = PtzFrame(0x01, 0x10, 0x20, 0x3, address=0xABC).encode()
    assert text[4:6] == "BC" and text[12] == "3" and text[13] == "A"  # byte 3 low 8, byte 7 nibbles
    frame = decode_frame(text)
    assert (frame.code, frame.data1, frame.data2, frame.data3, frame.address, frame.version) == (1, 16, 32, 3, 0xABC, 0)
    assert parse_ptz_cmd(text) == PtzMove(pan="right", pan_speed=16, tilt_speed=32, zoom_speed=3, address=0xABC)


def test_another_version_with_a_correct_check_nibble_is_read() -> None:
    frame = decode_frame(PtzFrame(0x82, 0, 7, version=1).encode())
    assert frame.version == 1
    assert parse_ptz_cmd(PtzFrame(0x82, 0, 7, version=1).encode()) == Preset("call", 7)


# --- round trips ------------------------------------------------------------------------------

ROUND_TRIP: list[PtzCommand] = [
    PtzMove(),
    PtzMove(pan="right", tilt="up", zoom="out", pan_speed=255, tilt_speed=0, zoom_speed=15),
    PtzMove(tilt="down", tilt_speed=1, address=0xFFF),
    FocusIris(),
    FocusIris(focus="far", iris="close", focus_speed=1, iris_speed=255),
    Preset("set", 1),
    Preset("call", 255),
    Preset("delete", 128, address=7),
    Cruise("add", 0, preset=1),
    Cruise("delete", 3, preset=9),
    Cruise("delete", 3),  # preset 0: the whole cruise
    Cruise("speed", 2, value=0xABC),
    Cruise("dwell", 255, value=30),
    Cruise("start", 4),
    Scan("start", 1),
    Scan("left", 2),
    Scan("right", 255),
    Scan("speed", 9, speed=4095),
    AuxSwitch(on=True, switch=1),
    AuxSwitch(on=False, switch=200),
]


@pytest.mark.parametrize("command", ROUND_TRIP, ids=repr)
def test_build_then_parse_round_trips(command: PtzCommand) -> None:
    text = build_ptz_cmd(command)
    assert len(text) == 16 and text == text.upper()
    assert parse_ptz_cmd(text) == command
    assert parse_ptz_cmd(text.lower()) == command


def test_cruise_speed_and_dwell_are_12_bits_low_byte_in_data2() -> None:
    # A.3.5 note 2: data 2 the low 8 bits, byte 7's high nibble the high 4 bits
    assert build_ptz_cmd(Cruise("speed", 1, value=0x123))[8:14] == "012310"
    assert parse_ptz_cmd(PtzFrame(0x87, 5, 0x2C, 0x1).encode()) == Cruise("dwell", 5, value=300)


def test_every_command_byte_either_parses_to_a_stable_command_or_is_refused() -> None:
    for code in range(256):
        for data in ((0, 0, 0), (1, 2, 3), (255, 255, 15)):
            text = PtzFrame(code, *data, address=5).encode()
            try:
                command = parse_ptz_cmd(text)
            except PtzCmdError as exc:
                assert exc.status == 400
                continue
            assert parse_ptz_cmd(build_ptz_cmd(command)) == command


# --- malformed PTZCmd -------------------------------------------------------------------------


def _frame(code: int, data1: int = 0, data2: int = 0, data3: int = 0) -> str:
    """A correctly framed PTZCmd, so that only the command's content is at fault."""
    return PtzFrame(code, data1, data2, data3, address=1).encode()


def _with_checksum(first7: str) -> str:
    raw = bytes.fromhex(first7)
    return first7 + f"{sum(raw) % 256:02X}"


MALFORMED: list[tuple[str, str]] = [
    ("", "length"),
    ("A50F01023232001", "length"),
    ("A50F01023232001B0", "length"),
    ("A50F 01023232001B", "length"),
    ("A50F01023232001G", "hex"),
    ("A50F0102323200+1", "hex"),
    ("A50F0102323200\u0661\u0662", "hex"),  # Arabic-Indic digits that int(..., 16) would take
    ("0x0F01023232001B", "hex"),
    (_with_checksum("B50F0102323200"), "header"),
    (_with_checksum("A50E0102323200"), "check"),
    (_with_checksum("A51F0102323200"), "check"),
    ("A50F01023232001C", "checksum"),
    # wvp before it lifted zoom speeds 1-15 to 16: byte 7 written as the speed's hex digit and 0, but
    # only `speed & F0H` summed: cmdString(0, 0, 2, 0, 1) and the front end's left at 50%
    ("A50F0110000010C5", "checksum"),
    ("A50F01027F7F80B5", "checksum"),
    (_frame(0x50), "command"),
    (_frame(0x80), "command"),
    (_frame(0x8B), "command"),
    (_frame(0x8E), "command"),
    (_frame(0xFF), "command"),
    (_frame(0x03, 1, 1), "conflict"),  # left and right
    (_frame(0x0C, 1, 1), "conflict"),  # up and down
    (_frame(0x30, 0, 0, 1), "conflict"),  # zoom in and out
    (_frame(0x43, 1), "conflict"),  # focus near and far
    (_frame(0x4C, 0, 1), "conflict"),  # iris open and close
    (_frame(0x81), "preset"),
    (_frame(0x82, 1, 0), "preset"),
    (_frame(0x83), "preset"),
    (_frame(0x84, 1, 0), "preset"),  # a cruise point needs a preset
    (_frame(0x89, 1, 3), "scan"),
]


@pytest.mark.parametrize(("text", "fault"), MALFORMED, ids=[f"{f}:{t!r}" for t, f in MALFORMED])
def test_malformed_ptzcmd_is_refused_with_400(text: str, fault: str) -> None:
    with pytest.raises(PtzCmdError) as caught:
        parse_ptz_cmd(text)
    assert caught.value.status == 400
    assert caught.value.fault == fault
    assert isinstance(caught.value, ValueError)
    assert text.strip() == "" or text not in str(caught.value)  # a fixed message, no echo


def test_tolerated_sloppiness_in_data_bytes() -> None:
    assert parse_ptz_cmd(_frame(0x82, 9, 5)) == Preset("call", 5, address=1)  # data 1 should be 00H
    assert parse_ptz_cmd(_frame(0x88, 2, 7, 3)) == Cruise("start", 2, address=1)  # data 2 and 3 unused


@pytest.mark.parametrize(
    "make",
    [
        lambda: PtzMove(pan_speed=256),
        lambda: PtzMove(zoom_speed=16),
        lambda: PtzMove(pan="up"),  # type: ignore[arg-type]
        lambda: FocusIris(iris="wide"),  # type: ignore[arg-type]
        lambda: Preset("call", 0),
        lambda: Preset("goto", 1),  # type: ignore[arg-type]
        lambda: Cruise("add", 1),
        lambda: Cruise("start", 1, preset=2),
        lambda: Cruise("speed", 1, value=4096),
        lambda: Scan("left", 1, speed=3),
        lambda: AuxSwitch(on=True, switch=256),
        lambda: PtzMove(address=0x1000),
        lambda: PtzFrame(0x100),
        lambda: PtzFrame(0x01, data3=16),
    ],
)
def test_builder_refuses_values_the_frame_cannot_carry(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]


def test_build_refuses_a_non_command() -> None:
    with pytest.raises(ValueError):
        build_ptz_cmd("A50F0100000000B5")  # type: ignore[arg-type]


# --- DeviceControl bodies ---------------------------------------------------------------------


def _control(inner: str, cmd: str = "DeviceControl", root: str = "Control") -> list[object]:
    body = (
        f'<?xml version="1.0" encoding="GB2312"?>\r\n<{root}>\r\n<CmdType>{cmd}</CmdType>\r\n<SN>11</SN>\r\n'
        f"<DeviceID>{CHANNEL}</DeviceID>\r\n{inner}\r\n</{root}>\r\n"
    ).encode("gb18030")
    return list(device_control(parse(body)))


def test_ptz_control_as_wvp_sends_it() -> None:
    # wvp's ptzCmd body: PTZCmd followed by an empty Info
    assert _control("<PTZCmd>A50F01023232001B</PTZCmd>\r\n<Info>\r\n</Info>") == [
        PtzControl(PtzMove(pan="left", pan_speed=50, tilt_speed=50, address=1))
    ]
    assert _control("<PTZCmd>a50f018200010038</PTZCmd><Info><ControlPriority>5</ControlPriority></Info>") == [
        PtzControl(Preset("call", 1, address=1), priority=5)
    ]


def test_the_other_device_controls() -> None:
    assert _control("<TeleBoot>Boot</TeleBoot>") == [TeleBootControl()]
    assert _control("<RecordCmd>Record</RecordCmd><StreamNumber>1</StreamNumber>") == [RecordControl(True, 1)]
    assert _control("<RecordCmd>StopRecord</RecordCmd>") == [RecordControl(False)]
    assert _control("<GuardCmd>SetGuard</GuardCmd>") == [GuardControl(armed=True)]
    assert _control("<GuardCmd>resetguard</GuardCmd>") == [GuardControl(armed=False)]
    assert _control("<AlarmCmd>ResetAlarm</AlarmCmd>") == [AlarmResetControl()]
    assert _control(
        "<AlarmCmd>ResetAlarm</AlarmCmd><Info><AlarmMethod>5</AlarmMethod><AlarmType>6</AlarmType></Info>"
    ) == [AlarmResetControl(method=5, alarm_type=6)]
    assert _control("<IFameCmd>Send</IFameCmd>") == [IFrameControl()]
    assert _control(
        "<HomePosition><Enabled>1</Enabled><ResetTime>30</ResetTime><PresetIndex>2</PresetIndex></HomePosition>"
    ) == [HomePositionControl(True, 30, 2)]
    assert _control("<HomePosition><Enabled>0</Enabled></HomePosition>") == [HomePositionControl(False)]


def test_snapshot_config_from_device_config_and_device_control() -> None:
    block = (
        "<SnapShotConfig><SnapNum>3</SnapNum><Interval>2</Interval>"
        f"<UploadURL>http://198.51.100.10/snap</UploadURL><SessionID>{SESSION}</SessionID></SnapShotConfig>"
    )
    expected = [SnapShotConfigControl(3, "http://198.51.100.10/snap", SESSION, 2)]
    assert _control(block, cmd="DeviceConfig") == expected
    assert _control(block) == expected
    no_interval = block.replace("<Interval>2</Interval>", "")
    assert _control(no_interval) == [SnapShotConfigControl(3, "http://198.51.100.10/snap", SESSION)]


def test_a_body_with_several_commands_gives_them_all_in_order() -> None:
    controls = _control(
        "<GuardCmd>SetGuard</GuardCmd><PTZCmd>A50F0100000000B5</PTZCmd><DragZoomIn><Length>1</Length></DragZoomIn>"
        "<RecordCmd>Record</RecordCmd>"
    )
    assert controls == [GuardControl(True), PtzControl(PtzMove(address=1)), RecordControl(True)]


def test_unknown_commands_give_nothing() -> None:
    assert _control("<DeviceUpgrade><Firmware>1</Firmware></DeviceUpgrade>") == []
    assert _control("<BasicParam><Name>x</Name></BasicParam>", cmd="DeviceConfig") == []


@pytest.mark.parametrize(
    "inner",
    [
        "<PTZCmd>A50F01023232001C</PTZCmd>",
        "<PTZCmd></PTZCmd>",
        "<PTZCmd>A50F01023232001B</PTZCmd><Info><ControlPriority>high</ControlPriority></Info>",
        "<TeleBoot>Reboot</TeleBoot>",
        "<RecordCmd>Start</RecordCmd>",
        "<RecordCmd>Record</RecordCmd><StreamNumber>-1</StreamNumber>",
        "<GuardCmd>Arm</GuardCmd>",
        "<AlarmCmd>Reset</AlarmCmd>",
        "<AlarmCmd>ResetAlarm</AlarmCmd><Info><AlarmMethod>video</AlarmMethod></Info>",
        "<IFameCmd>Now</IFameCmd>",
        "<HomePosition><Enabled>2</Enabled></HomePosition>",
        "<HomePosition></HomePosition>",
        "<HomePosition><Enabled>1</Enabled><PresetIndex>256</PresetIndex></HomePosition>",
        "<HomePosition><Enabled>1</Enabled><ResetTime>1e3</ResetTime></HomePosition>",
        f"<SnapShotConfig><SnapNum>11</SnapNum><UploadURL>http://x/</UploadURL><SessionID>{SESSION}</SessionID>"
        "</SnapShotConfig>",
        f"<SnapShotConfig><UploadURL>http://x/</UploadURL><SessionID>{SESSION}</SessionID></SnapShotConfig>",
        "<SnapShotConfig><SnapNum>1</SnapNum><UploadURL>http://x/</UploadURL><SessionID>short</SessionID>"
        "</SnapShotConfig>",
        f"<SnapShotConfig><SnapNum>1</SnapNum><SessionID>{SESSION}</SessionID></SnapShotConfig>",
        f"<SnapShotConfig><SnapNum>1</SnapNum><Interval>0</Interval><UploadURL>http://x/</UploadURL>"
        f"<SessionID>{SESSION}</SessionID></SnapShotConfig>",
    ],
)
def test_malformed_control_values_are_refused_with_400(inner: str) -> None:
    with pytest.raises(ManscdpError) as caught:
        _control(inner)
    assert caught.value.status == 400


def test_a_query_is_not_a_device_control() -> None:
    with pytest.raises(ManscdpError) as caught:
        _control("<PTZCmd>A50F0100000000B5</PTZCmd>", cmd="Catalog", root="Query")
    assert caught.value.status == 400


# --- answers, parsed back ---------------------------------------------------------------------


def _text(el: Element, path: str) -> str:
    found = el.find(path)
    assert found is not None and found.text is not None, path
    return found.text


@pytest.mark.parametrize("charset", ["GB2312", "UTF-8"])
def test_preset_query_response_in_one_message(charset: str) -> None:
    presets = [(1, "大门"), (2, "Gate & lobby"), (255, "末位")]
    (body,) = preset_query_responses(17, CHANNEL, presets, 255, charset=charset)  # type: ignore[arg-type]
    msg = parse(body)
    assert (msg.root, msg.cmd_type, msg.sn, msg.device_id) == ("Response", "PresetQuery", 17, CHANNEL)
    assert msg.field("SumNum") is None  # the standard's single-message form has none
    plist = msg.element.find("PresetList")
    assert plist is not None and plist.get("Num") == "3"
    assert [(_text(i, "PresetID"), _text(i, "PresetName")) for i in plist] == [
        ("1", "大门"),
        ("2", "Gate & lobby"),
        ("255", "末位"),
    ]


def test_preset_query_response_split_and_empty() -> None:
    parts = preset_query_responses(5, CHANNEL, [(i, f"p{i}") for i in range(1, 6)], 2)
    assert len(parts) == 3
    parsed = [parse(p) for p in parts]
    assert [p.field("SumNum") for p in parsed] == ["5", "5", "5"]
    nums = []
    for p in parsed:
        plist = p.element.find("PresetList")
        assert plist is not None
        nums.append(plist.get("Num"))
    assert nums == ["2", "2", "1"]
    (empty,) = preset_query_responses(6, CHANNEL, [], 10)
    plist = parse(empty).element.find("PresetList")
    assert plist is not None and plist.get("Num") == "0" and len(plist) == 0
    with pytest.raises(ValueError):
        preset_query_responses(6, CHANNEL, [(0, "zero")], 10)
    with pytest.raises(ValueError):
        preset_query_responses(6, CHANNEL, [(1, "a")], 0)


def test_home_position_response() -> None:
    msg = parse(home_position_response(8, CHANNEL, enabled=True, reset_time=30, preset_index=2))
    assert (msg.root, msg.cmd_type, msg.sn, msg.device_id) == ("Response", "HomePositionQuery", 8, CHANNEL)
    block = msg.element.find("HomePosition")
    assert block is not None
    assert [(c.tag, c.text) for c in block] == [("Enabled", "1"), ("ResetTime", "30"), ("PresetIndex", "2")]
    off = parse(home_position_response(9, CHANNEL, enabled=False)).element.find("HomePosition")
    assert off is not None and [(c.tag, c.text) for c in off] == [("Enabled", "0")]
    with pytest.raises(ValueError):
        home_position_response(9, CHANNEL, enabled=True, preset_index=256)


def test_ptz_position_response() -> None:
    msg = parse(
        ptz_position_response(
            10,
            CHANNEL,
            pan=180.5,
            tilt=-0.001,
            zoom=2,
            horizontal_field_angle=60,
            vertical_field_angle=34.25,
            max_view_distance=500,
        )
    )
    assert (msg.root, msg.cmd_type, msg.sn, msg.device_id) == ("Response", "PTZPosition", 10, CHANNEL)
    assert [(k, v) for k, v in msg.fields.items() if k not in ("CmdType", "SN", "DeviceID")] == [
        ("Pan", "180.50"),
        ("Tilt", "0.00"),  # never "-0.00"
        ("Zoom", "2.00"),
        ("HorizontalFieldAngle", "60.00"),
        ("VerticalFieldAngle", "34.25"),
        ("MaxViewDistance", "500.00"),
    ]
    bare = parse(ptz_position_response(11, CHANNEL, pan=0, tilt=90, zoom=1))
    assert bare.field("HorizontalFieldAngle") is None and bare.field("Tilt") == "90.00"
    for pan, tilt, zoom in ((361.0, 0.0, 1.0), (0.0, -91.0, 1.0), (0.0, 0.0, 0.5), (float("nan"), 0.0, 1.0)):
        with pytest.raises(ValueError):
            ptz_position_response(12, CHANNEL, pan=pan, tilt=tilt, zoom=zoom)


def test_config_download_basic_param() -> None:
    msg = parse(
        config_download_basic_param(
            12, CHANNEL, name="东门网关", expiration=3600, heartbeat_interval=60, heartbeat_count=3
        )
    )
    assert (msg.root, msg.cmd_type, msg.sn) == ("Response", "ConfigDownload", 12)
    assert msg.field("Result") == "OK"
    block = msg.element.find("BasicParam")
    assert block is not None
    assert [(c.tag, c.text) for c in block] == [
        ("Name", "东门网关"),
        ("Expiration", "3600"),
        ("HeartBeatInterval", "60"),
        ("HeartBeatCount", "3"),
    ]
    located = parse(
        config_download_basic_param(
            13,
            CHANNEL,
            name="n",
            expiration=3600,
            heartbeat_interval=60,
            heartbeat_count=3,
            position_capability=1,
            longitude=120.123456,
            latitude=30.5,
        )
    ).element.find("BasicParam")
    assert located is not None
    assert [(c.tag, c.text) for c in located][4:] == [
        ("PositionCapability", "1"),
        ("Longitude", "120.123456"),
        ("Latitude", "30.500000"),
    ]
    assert located.find("Password") is None
    with pytest.raises(ValueError):
        config_download_basic_param(1, CHANNEL, name="n", expiration=0, heartbeat_interval=60, heartbeat_count=3)
    with pytest.raises(ValueError):
        config_download_basic_param(
            1, CHANNEL, name="n", expiration=1, heartbeat_interval=1, heartbeat_count=1, longitude=1.0
        )


def test_upload_snapshot_finished_notify() -> None:
    msg = parse(upload_snapshot_finished_notify(14, CHANNEL, session_id=SESSION, file_ids=["f1", "f<2>"]))
    assert (msg.root, msg.cmd_type, msg.sn, msg.device_id) == ("Notify", "UploadSnapShotFinished", 14, CHANNEL)
    assert msg.field("SessionID") == SESSION
    snaps = msg.element.find("SnapShotList")
    assert snaps is not None and [(c.tag, c.text) for c in snaps] == [
        ("SnapShotFileID", "f1"),
        ("SnapShotFileID", "f<2>"),
    ]
    with pytest.raises(ValueError):
        upload_snapshot_finished_notify(14, CHANNEL, session_id="short", file_ids=["f1"])
    with pytest.raises(ValueError):
        upload_snapshot_finished_notify(14, CHANNEL, session_id=SESSION, file_ids=[])
