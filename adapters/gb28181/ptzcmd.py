"""PTZCmd: the 8-byte front-end control command of GB/T 28181-2016 annex A.3 (前端设备控制协议).

A platform sends it as 16 hex characters in a DeviceControl body,
`<Control><CmdType>DeviceControl</CmdType>...<PTZCmd>A50F01023232001B</PTZCmd>` (wvp's "left at
speed 50"). The frame (A.3.1):

    byte 1  A5H
    byte 2  组合码1: high nibble the version (0H: this standard's "1.0"), low nibble a check,
            (byte 1 high nibble + byte 1 low nibble + byte 2 high nibble) % 16 -- so 0FH for version 0
    byte 3  address, low 8 bits
    byte 4  the command
    byte 5  data 1
    byte 6  data 2
    byte 7  组合码2: high nibble data 3, low nibble the address's high 4 bits
    byte 8  checksum: (byte 1 + ... + byte 7) % 256

The address is not used in GB/T 28181 (the body's DeviceID names the target): wvp sends 001H, the
7608_netcam device's own example frames 000H. It is carried through (for round trips) and not checked.

Commands (byte 4) and their data:

    00H-3FH  PTZ (A.3.2): bit 5 zoom out, 4 zoom in, 3 up, 2 down, 1 left, 0 right (a pair never both
             set); data 1 the pan speed, data 2 the tilt speed (00H-FFH), data 3 the zoom speed (0H-FH);
             no bit set: stop
    40H-4FH  FI (A.3.3): bit 3 iris close, 2 iris open, 1 focus near, 0 focus far; data 1 the focus
             speed, data 2 the iris speed; no bit set: stop
    81H/82H/83H  preset set / call / delete (A.3.4): data 2 the preset number (01H-FFH)
    84H-88H  cruise (A.3.5): add a point, delete a point (data 2 = 0: the whole cruise), set the speed,
             set the dwell time (seconds), start; data 1 the cruise group, data 2 the preset; speed and
             dwell are 12 bits: data 2 the low 8, data 3 the high 4. Stopping is the PTZ stop.
    89H      scan (A.3.6): data 2 00H start auto scan, 01H set the left, 02H the right boundary;
    8AH      set the scan speed (12 bits as the cruise's); data 1 the scan group
    8CH/8DH  auxiliary switch on / off (A.3.7): data 1 the switch number (1: the wiper)

Sources cross-checked (learned from, not copied): 648540858/wvp-GB28181-pro (SIPCommander.cmdString and
frontEndCmdString, PtzCmdHelper, SourcePTZServiceForGbImpl, FrontEndCode.decode) and the device side of
whswhs1128/7608_netcam (app/netcam/src/third/gb28181/ite_gb28181_sip.c, which quotes the A.3.5 notes).
Where they differ from the standard, the standard wins:

- wvp's decoder (FrontEndCode.decode) reads PTZ only below 39 (decimal) and FI below 74, so it misreads
  0x27-0x3F and 0x4A-0x4F; here the ranges are the standard's 00H-3FH and 40H-4FH.
- wvp's decoder reads the auxiliary switch number from data 2; its encoder and the standard put it in
  data 1, which is what is read here.
- wvp's cruise speed/dwell encoder puts the preset number in data 2 and the speed's high hex digit in
  data 3; the standard (and this module) read data 2 as the low 8 bits of the 12-bit value.
- wvp's frontEndCmdString writes the first hex digit of its zoom speed into byte 7 but sums
  `speed & 0xF0` into the checksum: before wvp clamped speeds 1-15 to 16, a zoom speed below 16 gave a
  frame whose checksum is wrong (e.g. A50F0110000010C5). Such frames are refused: the checksum is the
  one integrity check the frame has, and a command that moves a camera is not guessed at.

Tolerated: lower-case hex and surrounding whitespace (platforms send both), any version whose check
nibble is right, and values in bytes a command does not use (data 1 of a preset, data 2 and 3 of a
cruise start; data 3 outside a zoom). Refused with `PtzCmdError` (status 400, a fixed
message): a wrong length, a non-hex character, a first byte other than A5H, a failed nibble check or
checksum, an unknown command byte, contradictory direction bits, preset number 0 (where one is needed)
and an unknown scan operation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "AuxSwitch",
    "Cruise",
    "FocusIris",
    "Preset",
    "PtzCmdError",
    "PtzCommand",
    "PtzFrame",
    "PtzMove",
    "Scan",
    "build_ptz_cmd",
    "decode_frame",
    "parse_ptz_cmd",
]

Pan = Literal["left", "right"]
Tilt = Literal["up", "down"]
Zoom = Literal["in", "out"]
Focus = Literal["near", "far"]
Iris = Literal["open", "close"]
PresetAction = Literal["set", "call", "delete"]
CruiseAction = Literal["add", "delete", "speed", "dwell", "start"]
ScanAction = Literal["start", "left", "right", "speed"]
Fault = Literal["length", "hex", "header", "check", "checksum", "command", "conflict", "preset", "scan"]

_HEX16: Final = re.compile(r"[0-9A-Fa-f]{16}", re.ASCII)
_HEADER: Final = 0xA5
VERSION: Final = 0  # "1.0" in the standard's words, written as 0H in byte 2's high nibble

_MESSAGES: Final[Mapping[Fault, str]] = {
    "length": "PTZCmd is not 16 hex characters",
    "hex": "PTZCmd holds a character that is not hex",
    "header": "PTZCmd does not start with A5",
    "check": "PTZCmd byte 2 check nibble is wrong",
    "checksum": "PTZCmd checksum (byte 8) is wrong",
    "command": "PTZCmd command byte is not one of GB/T 28181 annex A.3",
    "conflict": "PTZCmd sets both bits of a direction pair",
    "preset": "PTZCmd preset number is 0",
    "scan": "PTZCmd scan operation is not 0, 1 or 2",
}


class PtzCmdError(ValueError):
    """A PTZCmd that cannot be obeyed. `status` is the SIP status to answer; the message is fixed for
    each `fault` and never echoes the input."""

    status: Final = 400

    def __init__(self, fault: Fault) -> None:
        self.fault: Fault = fault
        super().__init__(_MESSAGES[fault])


def _check(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, not {value!r}")


def _one_of(name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, not {value!r}")


# --- the decoded commands ---------------------------------------------------------------------
# Every one carries the frame's 12-bit address so that build -> parse gives back an equal object.


@dataclass(frozen=True, slots=True)
class PtzMove:
    """PTZ (A.3.2): move and zoom at relative speeds; no direction and no zoom is the stop command."""

    pan: Pan | None = None
    tilt: Tilt | None = None
    zoom: Zoom | None = None
    pan_speed: int = 0  # 0-255
    tilt_speed: int = 0  # 0-255
    zoom_speed: int = 0  # 0-15
    address: int = 0

    def __post_init__(self) -> None:
        _one_of("pan", self.pan, (None, "left", "right"))
        _one_of("tilt", self.tilt, (None, "up", "down"))
        _one_of("zoom", self.zoom, (None, "in", "out"))
        _check("pan_speed", self.pan_speed, 0, 255)
        _check("tilt_speed", self.tilt_speed, 0, 255)
        _check("zoom_speed", self.zoom_speed, 0, 15)
        _check("address", self.address, 0, 0xFFF)

    @property
    def is_stop(self) -> bool:
        return self.pan is None and self.tilt is None and self.zoom is None


@dataclass(frozen=True, slots=True)
class FocusIris:
    """FI (A.3.3): focus and iris at relative speeds; neither is the FI stop command."""

    focus: Focus | None = None
    iris: Iris | None = None
    focus_speed: int = 0  # 0-255
    iris_speed: int = 0  # 0-255
    address: int = 0

    def __post_init__(self) -> None:
        _one_of("focus", self.focus, (None, "near", "far"))
        _one_of("iris", self.iris, (None, "open", "close"))
        _check("focus_speed", self.focus_speed, 0, 255)
        _check("iris_speed", self.iris_speed, 0, 255)
        _check("address", self.address, 0, 0xFFF)

    @property
    def is_stop(self) -> bool:
        return self.focus is None and self.iris is None


@dataclass(frozen=True, slots=True)
class Preset:
    """Preset (A.3.4): set (81H), call (82H) or delete (83H) preset 1-255."""

    action: PresetAction
    preset: int
    address: int = 0

    def __post_init__(self) -> None:
        _one_of("action", self.action, tuple(_PRESET_CODES))
        _check("preset", self.preset, 1, 255)
        _check("address", self.address, 0, 0xFFF)


@dataclass(frozen=True, slots=True)
class Cruise:
    """Cruise (A.3.5) of group 0-255: add preset 1-255 as a point (84H); delete a point (85H; preset 0
    deletes the whole cruise); set the speed (86H) or the dwell time in seconds (87H), `value` 0-4095;
    start (88H). A cruise is stopped with the PTZ stop."""

    action: CruiseAction
    group: int
    preset: int = 0
    value: int = 0
    address: int = 0

    def __post_init__(self) -> None:
        _one_of("action", self.action, tuple(_CRUISE_CODES))
        _check("group", self.group, 0, 255)
        _check("preset", self.preset, 1 if self.action == "add" else 0, 255 if self.action in ("add", "delete") else 0)
        _check("value", self.value, 0, 0xFFF if self.action in ("speed", "dwell") else 0)
        _check("address", self.address, 0, 0xFFF)


@dataclass(frozen=True, slots=True)
class Scan:
    """Scan (A.3.6) of group 0-255: start the auto scan, set its left or right boundary (89H), set its
    speed 0-4095 (8AH). A scan is stopped with the PTZ stop."""

    action: ScanAction
    group: int = 0
    speed: int = 0
    address: int = 0

    def __post_init__(self) -> None:
        _one_of("action", self.action, (*_SCAN_OPS, "speed"))
        _check("group", self.group, 0, 255)
        _check("speed", self.speed, 0, 0xFFF if self.action == "speed" else 0)
        _check("address", self.address, 0, 0xFFF)


@dataclass(frozen=True, slots=True)
class AuxSwitch:
    """Auxiliary switch (A.3.7) on (8CH) or off (8DH); switch 1 is the wiper, the others are the
    device's own."""

    on: bool
    switch: int
    address: int = 0

    def __post_init__(self) -> None:
        _one_of("on", self.on, (True, False))
        _check("switch", self.switch, 0, 255)
        _check("address", self.address, 0, 0xFFF)


PtzCommand = PtzMove | FocusIris | Preset | Cruise | Scan | AuxSwitch

_PRESET_CODES: Final[Mapping[PresetAction, int]] = {"set": 0x81, "call": 0x82, "delete": 0x83}
_CRUISE_CODES: Final[Mapping[CruiseAction, int]] = {
    "add": 0x84,
    "delete": 0x85,
    "speed": 0x86,
    "dwell": 0x87,
    "start": 0x88,
}
_SCAN_OPS: Final[tuple[ScanAction, ...]] = ("start", "left", "right")  # data 2 of 89H: 00H, 01H, 02H
_PRESET_ACTIONS: Final[Mapping[int, PresetAction]] = {code: action for action, code in _PRESET_CODES.items()}
_CRUISE_ACTIONS: Final[Mapping[int, CruiseAction]] = {code: action for action, code in _CRUISE_CODES.items()}


# --- the frame --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PtzFrame:
    """The 8 bytes with the framing taken off: what `decode_frame` returns and `encode` writes."""

    code: int  # byte 4
    data1: int = 0  # byte 5
    data2: int = 0  # byte 6
    data3: int = 0  # byte 7, high nibble
    address: int = 0  # byte 7 low nibble (bits 8-11) and byte 3 (bits 0-7)
    version: int = VERSION  # byte 2, high nibble

    def __post_init__(self) -> None:
        _check("code", self.code, 0, 255)
        _check("data1", self.data1, 0, 255)
        _check("data2", self.data2, 0, 255)
        _check("data3", self.data3, 0, 15)
        _check("address", self.address, 0, 0xFFF)
        _check("version", self.version, 0, 15)

    def encode(self) -> str:
        """The 16 upper-case hex characters of the frame, check nibble and checksum computed."""
        head = _HEADER
        combo1 = (self.version << 4) | ((head >> 4) + (head & 0x0F) + self.version) % 16
        frame = [
            head,
            combo1,
            self.address & 0xFF,
            self.code,
            self.data1,
            self.data2,
            (self.data3 << 4) | (self.address >> 8),
        ]
        frame.append(sum(frame) % 256)
        return bytes(frame).hex().upper()


def decode_frame(text: str) -> PtzFrame:
    """Check the framing of a PTZCmd (length, hex, A5H, the nibble check, the checksum) and take it
    apart; the command byte is not interpreted. Raises PtzCmdError."""
    hex_text = text.strip()
    if len(hex_text) != 16:
        raise PtzCmdError("length")
    if not _HEX16.fullmatch(hex_text):
        raise PtzCmdError("hex")
    raw = bytes.fromhex(hex_text)
    if raw[0] != _HEADER:
        raise PtzCmdError("header")
    version = raw[1] >> 4
    if raw[1] & 0x0F != ((raw[0] >> 4) + (raw[0] & 0x0F) + version) % 16:
        raise PtzCmdError("check")
    if sum(raw[:7]) % 256 != raw[7]:
        raise PtzCmdError("checksum")
    return PtzFrame(
        code=raw[3],
        data1=raw[4],
        data2=raw[5],
        data3=raw[6] >> 4,
        address=((raw[6] & 0x0F) << 8) | raw[2],
        version=version,
    )


# A two-bit direction field, indexed by its value: bit 0 set, bit 1 set (both set is refused).
_PANS: Final[tuple[Pan | None, Pan, Pan]] = (None, "right", "left")
_TILTS: Final[tuple[Tilt | None, Tilt, Tilt]] = (None, "down", "up")
_ZOOMS: Final[tuple[Zoom | None, Zoom, Zoom]] = (None, "in", "out")
_FOCUSES: Final[tuple[Focus | None, Focus, Focus]] = (None, "far", "near")
_IRISES: Final[tuple[Iris | None, Iris, Iris]] = (None, "open", "close")


def _pair(bits: int) -> int:
    if bits == 0b11:
        raise PtzCmdError("conflict")
    return bits


def _interpret(frame: PtzFrame) -> PtzCommand:
    code, address = frame.code, frame.address
    if code <= 0x3F:
        return PtzMove(
            pan=_PANS[_pair(code & 0x03)],
            tilt=_TILTS[_pair((code >> 2) & 0x03)],
            zoom=_ZOOMS[_pair((code >> 4) & 0x03)],
            pan_speed=frame.data1,
            tilt_speed=frame.data2,
            zoom_speed=frame.data3,
            address=address,
        )
    if code <= 0x4F:
        return FocusIris(
            focus=_FOCUSES[_pair(code & 0x03)],
            iris=_IRISES[_pair((code >> 2) & 0x03)],
            focus_speed=frame.data1,
            iris_speed=frame.data2,
            address=address,
        )
    if code in _PRESET_ACTIONS:
        if frame.data2 == 0:
            raise PtzCmdError("preset")
        return Preset(_PRESET_ACTIONS[code], frame.data2, address=address)
    if code in _CRUISE_ACTIONS:
        action = _CRUISE_ACTIONS[code]
        group = frame.data1
        if action == "add":
            if frame.data2 == 0:
                raise PtzCmdError("preset")
            return Cruise(action, group, preset=frame.data2, address=address)
        if action == "delete":
            return Cruise(action, group, preset=frame.data2, address=address)
        if action in ("speed", "dwell"):
            return Cruise(action, group, value=(frame.data3 << 8) | frame.data2, address=address)
        return Cruise(action, group, address=address)
    if code == 0x89:
        if frame.data2 >= len(_SCAN_OPS):
            raise PtzCmdError("scan")
        return Scan(_SCAN_OPS[frame.data2], frame.data1, address=address)
    if code == 0x8A:
        return Scan("speed", frame.data1, speed=(frame.data3 << 8) | frame.data2, address=address)
    if code in (0x8C, 0x8D):
        return AuxSwitch(on=code == 0x8C, switch=frame.data1, address=address)
    raise PtzCmdError("command")


def parse_ptz_cmd(text: str) -> PtzCommand:
    """The command a PTZCmd carries. Raises only PtzCmdError (status 400)."""
    return _interpret(decode_frame(text))


def _frame_of(command: PtzCommand) -> PtzFrame:
    address = command.address
    match command:
        case PtzMove():
            code = _PANS.index(command.pan) | _TILTS.index(command.tilt) << 2 | _ZOOMS.index(command.zoom) << 4
            return PtzFrame(code, command.pan_speed, command.tilt_speed, command.zoom_speed, address)
        case FocusIris():
            code = 0x40 | _FOCUSES.index(command.focus) | _IRISES.index(command.iris) << 2
            return PtzFrame(code, command.focus_speed, command.iris_speed, 0, address)
        case Preset():
            return PtzFrame(_PRESET_CODES[command.action], 0, command.preset, 0, address)
        case Cruise():
            code = _CRUISE_CODES[command.action]
            if command.action in ("speed", "dwell"):
                return PtzFrame(code, command.group, command.value & 0xFF, command.value >> 8, address)
            return PtzFrame(code, command.group, command.preset, 0, address)
        case Scan():
            if command.action == "speed":
                return PtzFrame(0x8A, command.group, command.speed & 0xFF, command.speed >> 8, address)
            return PtzFrame(0x89, command.group, _SCAN_OPS.index(command.action), 0, address)
        case AuxSwitch():
            return PtzFrame(0x8C if command.on else 0x8D, command.switch, 0, 0, address)


def build_ptz_cmd(command: PtzCommand) -> str:
    """The PTZCmd text (16 upper-case hex characters, version 0) for a command; the inverse of
    `parse_ptz_cmd`. Raises ValueError for an object that is not a PtzCommand."""
    if not isinstance(command, PtzMove | FocusIris | Preset | Cruise | Scan | AuxSwitch):
        raise ValueError(f"not a PTZ command: {command!r}")
    return _frame_of(command).encode()
