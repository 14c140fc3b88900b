"""What an ONVIF event means: its kind (motion, tamper, people...) and whether its condition holds.

Cameras file the same meaning under different topics and data items: the ONVIF standard's
`RuleEngine/TamperDetector/Tamper` with `IsTamper`, a Tapo's `RuleEngine/CellMotionDetector/Tamper`,
an Axis's momentary `VideoSource/Tampering`, a Hikvision NVR's `UserAlarm/VideoCover` with `State`.
The mapping is therefore data (RULES), not code: a new vendor's topic is one more line, and
docs/onvif-events.md lists the same table for people. Topics here are normalised (namespace prefixes
dropped on every segment, as events.normalise_topic does), because vendors nest their own namespace
inside the standard tree (`tns1:Device/Trigger/tnshik:AlarmIn`) and prefixes are not stable across
firmwares.

Rules are tried most specific first: those of a topic that also name a data item, then those of a
topic alone, then those of a data item alone (for vendor topics no rule names, a Tapo `IsPeople` is
still people). Nothing matching is `other`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Final, Literal, get_args

__all__ = [
    "EVENT_KINDS",
    "RULES",
    "Classification",
    "EventKind",
    "KindRule",
    "classify",
    "parse_state",
]

EventKind = Literal["motion", "tamper", "people", "line_crossing", "intrusion", "alarm_input", "other"]
EVENT_KINDS: Final[tuple[EventKind, ...]] = get_args(EventKind)

ANY_TOPIC: Final = "**"
MAX_SEGMENTS: Final = 16

# Data items that carry "is the condition on", in the order they are believed when a message has
# several and its rule names none.
STATE_ITEMS: Final = (
    "IsMotion",
    "IsTamper",
    "IsPeople",
    "IsLineCross",
    "IsIntrusion",
    "IsInside",
    "IsVehicle",
    "IsPet",
    "State",
    "LogicalState",
    "active",
    "Detected",
    "tampering",
    "Value",
)
_TRUE: Final = frozenset({"true", "1", "active", "on", "yes"})
_FALSE: Final = frozenset({"false", "0", "inactive", "off", "no"})


@dataclass(frozen=True)
class KindRule:
    """One line of the mapping table.

    `topic` is a normalised topic pattern: segments split on "/", shell wildcards inside a segment
    (`Camera*Profile*`), and `**` for any number of segments (none included); matched without regard
    to case, as firmwares disagree on it (`TpSmartEvent` and `TPSmartEvent`).
    """

    topic: str
    kind: EventKind
    vendors: str = "ONVIF"  # who sends it; for the documentation and the tests' fixtures
    item: str | None = None  # the rule holds only when the message carries this data item...
    values: frozenset[str] = frozenset()  # ...and, when given, one of these among its comma-separated words
    state: str | None = None  # the item that says on/off; None: the first of STATE_ITEMS present
    # The message marks an instant (a line crossed, a knock on the housing), not a state that a later
    # message clears: it is active when it happens.
    momentary: bool = False
    # The state item lists what is seen (Ajax ClassTypes "Human,Vehicle"): anything listed means on.
    presence: bool = False


RULES: Final[tuple[KindRule, ...]] = (
    # --- ONVIF standard topics (Core and Analytics specifications) ---------------------------------
    KindRule("RuleEngine/CellMotionDetector/Motion", "motion", "ONVIF, Hikvision, Dahua, Tapo", state="IsMotion"),
    KindRule("RuleEngine/MotionRegionDetector/Motion", "motion", "ONVIF Profile M", state="State"),
    KindRule("VideoSource/MotionAlarm", "motion", "ONVIF, D-Link, Hikvision, Dahua", state="State"),
    KindRule("RuleEngine/TamperDetector/Tamper", "tamper", "ONVIF, Hikvision, Dahua"),
    # A scene change is what covering, spraying or turning a camera looks like from inside it.
    KindRule("VideoSource/GlobalSceneChange/**", "tamper", "ONVIF, Axis, Hikvision", state="State"),
    # Not tamper: these fire every dusk and every sunrise on a healthy camera, and the gateway measures
    # dark, bright and blurred pictures itself (gateway/quality). Counting them as tamper would raise a
    # covered-lens suspicion twice a day on every camera that sends them.
    KindRule("VideoSource/ImageTooDark/**", "other", state="State"),
    KindRule("VideoSource/ImageTooBright/**", "other", state="State"),
    KindRule("VideoSource/ImageTooBlurry/**", "other", state="State"),
    KindRule("VideoSource/SignalLoss", "other", state="State"),
    KindRule("RuleEngine/LineDetector/Crossed", "line_crossing", "ONVIF, Hikvision, Dahua", momentary=True),
    KindRule("RuleEngine/FieldDetector/ObjectsInside", "intrusion", "ONVIF, Hikvision, Dahua", state="IsInside"),
    # A count, not a state: active stays unknown. Counting rules on these cameras count people.
    KindRule("RuleEngine/CountAggregation/Counter", "people", "ONVIF Profile M"),
    KindRule("Device/Trigger/DigitalInput", "alarm_input", "ONVIF", state="LogicalState"),
    # An output the camera drives, not something it saw.
    KindRule("Device/Trigger/Relay", "other", "ONVIF"),
    # --- TP-Link Tapo -------------------------------------------------------------------------------
    KindRule("RuleEngine/CellMotionDetector/Tamper", "tamper", "Tapo", state="IsTamper"),
    KindRule("RuleEngine/CellMotionDetector/People", "people", "Tapo", state="IsPeople"),
    KindRule("RuleEngine/PeopleDetector/People", "people", "Tapo", state="IsPeople"),
    KindRule("RuleEngine/CellMotionDetector/LineCross", "line_crossing", "Tapo", state="IsLineCross"),
    KindRule("RuleEngine/LineCrossDetector/LineCross", "line_crossing", "Tapo", state="IsLineCross"),
    KindRule("RuleEngine/CellMotionDetector/Intrusion", "intrusion", "Tapo", state="IsIntrusion"),
    # TpSmartEvent / TPSmartEvent carry IsPeople, IsVehicle or IsPet: the item rules below decide.
    # --- Axis ---------------------------------------------------------------------------------------
    # VMD 4 (AXIS Video Motion Detection 4) publishes one topic per profile: Camera1Profile1, ...ANY.
    KindRule("CameraApplicationPlatform/VMD/**", "motion", "Axis (VMD 4)", state="active"),
    KindRule("RuleEngine/VMD3/**", "motion", "Axis (VMD 3)", state="active"),
    KindRule("CameraApplicationPlatform/MotionGuard/**", "motion", "Axis (Motion Guard)", state="active"),
    KindRule("CameraApplicationPlatform/FenceGuard/**", "line_crossing", "Axis (Fence Guard)", state="active"),
    # An Object Analytics scenario may be an area, a line or a count: "something was detected".
    KindRule("CameraApplicationPlatform/ObjectAnalytics/**", "motion", "Axis (Object Analytics)", state="active"),
    KindRule("RuleEngine/CrossLineDetection/linetouched", "line_crossing", "Axis (Cross Line)", momentary=True),
    # Axis declares Tampering stateless: each message is one tampering, `tampering` its level.
    KindRule("VideoSource/Tampering", "tamper", "Axis", state="tampering", momentary=True),
    KindRule("Device/Sensor/PIR", "motion", "Axis (PIR)", state="state"),
    KindRule("Device/IO/Port", "alarm_input", "Axis", state="state"),
    # --- Hikvision ----------------------------------------------------------------------------------
    # tns1:Device/Trigger/tnshik:AlarmIn, tns1:Device/tnshik:AlarmIn, tnshik:AlarmIn: the alarm input
    # terminals (Source AlarmInToken), whatever is wired to them.
    KindRule("**/AlarmIn", "alarm_input", "Hikvision", state="State"),
    KindRule("VideoAnalytics/MotionAlarm", "motion", "Hikvision NVR", state="State"),
    KindRule("UserAlarm/VideoCover", "tamper", "Hikvision NVR", state="State"),
    # --- Ajax ---------------------------------------------------------------------------------------
    KindRule("**/MotionDetector/Detection", "motion", "Ajax", state="Detected"),
    KindRule(
        "RuleEngine/ObjectDetection/Object",
        "people",
        "Ajax",
        item="ClassTypes",
        values=frozenset({"human", "person", "people", "face"}),
        state="ClassTypes",
        presence=True,
    ),
    KindRule("RuleEngine/ObjectDetection/Object", "motion", "Ajax", state="ClassTypes", presence=True),
    # --- Reolink and others on the RuleEngine/MyRuleDetector tree -----------------------------------
    KindRule("RuleEngine/MyRuleDetector/PeopleDetect", "people", "Reolink", state="State"),
    KindRule("RuleEngine/MyRuleDetector/FaceDetect", "people", "Reolink", state="State"),
    KindRule("RuleEngine/MyRuleDetector/VehicleDetect", "motion", "Reolink", state="State"),
    KindRule("RuleEngine/MyRuleDetector/DogCatDetect", "motion", "Reolink", state="State"),
    # --- data items alone, on any topic (vendor topics no rule above names) -------------------------
    KindRule(ANY_TOPIC, "tamper", "Tapo and others", item="IsTamper", state="IsTamper"),
    KindRule(ANY_TOPIC, "people", "Tapo and others", item="IsPeople", state="IsPeople"),
    KindRule(ANY_TOPIC, "line_crossing", "Tapo and others", item="IsLineCross", state="IsLineCross"),
    KindRule(ANY_TOPIC, "intrusion", "Tapo and others", item="IsIntrusion", state="IsIntrusion"),
    KindRule(ANY_TOPIC, "intrusion", "ONVIF and others", item="IsInside", state="IsInside"),
    KindRule(ANY_TOPIC, "motion", "ONVIF and others", item="IsMotion", state="IsMotion"),
    # A vehicle or a pet moving in the picture: motion, not people.
    KindRule(ANY_TOPIC, "motion", "Tapo", item="IsVehicle", state="IsVehicle"),
    KindRule(ANY_TOPIC, "motion", "Tapo", item="IsPet", state="IsPet"),
)


@dataclass(frozen=True)
class Classification:
    kind: EventKind
    active: bool | None  # None: the message says nothing about on or off (a count, an unknown item)
    momentary: bool = False
    rule: KindRule | None = None  # None: nothing matched, the kind is "other"


def parse_state(value: str | None) -> bool | None:
    """'true'/'1'/'active'/'on' -> True, 'false'/'0'/'inactive'/'off' -> False, else None (any case)."""
    if value is None:
        return None
    word = value.strip().casefold()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    return None


@dataclass(frozen=True)
class _Compiled:
    rule: KindRule
    segments: tuple[str, ...]
    item: str | None
    values: frozenset[str]


def _compile(rule: KindRule) -> _Compiled:
    return _Compiled(
        rule,
        tuple(s.casefold() for s in rule.topic.split("/") if s),
        rule.item.casefold() if rule.item else None,
        frozenset(v.casefold() for v in rule.values),
    )


# Most specific first (see the module docstring); sorted() is stable, so the table's order decides
# between rules of equal rank.
_COMPILED: Final = tuple(
    sorted((_compile(r) for r in RULES), key=lambda c: (c.rule.topic == ANY_TOPIC, c.item is None))
)


def _matches(pattern: tuple[str, ...], topic: tuple[str, ...], p: int = 0, t: int = 0) -> bool:
    while p < len(pattern):
        if pattern[p] == ANY_TOPIC:
            return any(_matches(pattern, topic, p + 1, i) for i in range(t, len(topic) + 1))
        if t >= len(topic) or not fnmatchcase(topic[t], pattern[p]):
            return False
        p, t = p + 1, t + 1
    return t == len(topic)


def _words(value: str) -> set[str]:
    return {w.strip().casefold() for w in value.split(",") if w.strip()}


def _active(rule: KindRule | None, items: Mapping[str, str], operation: str | None) -> bool | None:
    names = (rule.state,) if rule is not None and rule.state else STATE_ITEMS
    raw = next((items[n.casefold()] for n in names if n.casefold() in items), None)
    if rule is not None and rule.presence:
        return None if raw is None else bool(_words(raw))
    state = parse_state(raw)
    if state is None and rule is not None and rule.momentary:
        # "Initialized" reports a state at subscription time; an instant has none to report.
        return None if operation == "Initialized" else True
    return state


def classify(topic: str, data: Mapping[str, str], operation: str | None = None) -> Classification:
    """The kind of an event on normalised `topic` with Data items `data`, and whether it is on."""
    segments = tuple(s.casefold() for s in topic.split("/") if s)
    items = {k.casefold(): v for k, v in data.items()}
    for c in _COMPILED:
        if c.item is not None:
            if c.item not in items:
                continue
            if c.values and not (_words(items[c.item]) & c.values):
                continue
        # No real topic is deeper than a handful of segments; a hostile one must not cost more.
        if c.rule.topic == ANY_TOPIC or (len(segments) <= MAX_SEGMENTS and _matches(c.segments, segments)):
            return Classification(c.rule.kind, _active(c.rule, items, operation), c.rule.momentary, c.rule)
    return Classification("other", _active(None, items, operation))
