"""The terms every part of the product shares, so a word reads the same on a page, in a report and in a
ticket message: zone kinds, camera states, fault codes, the picture checks, detection rules, roles, and
the English phrases the gateway words a camera's fault with (docs/glossary.md lists them all).

Each table maps a machine code (which never changes) to its English words marked for the `terms`
catalog; `term(table, code)` shows it in the current language, and an unknown code is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from gateway.i18n import N_, current, gettext

ZONE_KINDS: Final[Mapping[str, str]] = {
    "entrance": N_("entrance"),
    "crowded_area": N_("crowded area"),
    "key_area": N_("key area"),
    "perimeter": N_("perimeter"),
    "other": N_("other area"),
}

CAMERA_STATES: Final[Mapping[str, str]] = {
    "online": N_("online"),
    "degraded": N_("degraded"),
    "offline": N_("offline"),
    "disabled": N_("disabled"),
    "unknown": N_("unknown"),
    "connecting": N_("connecting"),
}

#: Ticket and finding fault codes (gateway/tickets/policy.py).
FAULTS: Final[Mapping[str, str]] = {
    "offline": N_("offline"),
    "video_lost": N_("video lost"),
    "picture": N_("picture fault"),
    "below_hd": N_("below HD"),
    "degraded": N_("degraded"),
}

#: The picture checks (gateway/quality/thresholds.py CHECK_NAMES): the names of 视频质量诊断.
CHECKS: Final[Mapping[str, str]] = {
    "blank": N_("signal lost (blank picture)"),
    "dark": N_("too dark"),
    "bright": N_("overexposed"),
    "contrast": N_("low contrast"),
    "blur": N_("blurred"),
    "occlusion": N_("lens covered"),
    "colour_cast": N_("colour cast"),
    "noise": N_("noise"),
    "stripes": N_("stripes"),
    "frozen": N_("frozen picture"),
    "shake": N_("camera shake"),
    "scene_change": N_("scene change"),
}

#: The outcome of one picture check.
CHECK_STATES: Final[Mapping[str, str]] = {
    "pass": N_("pass"),
    "fail": N_("fail"),
    "not_checkable": N_("not checkable"),
}

RULES: Final[Mapping[str, str]] = {
    "intrusion": N_("intrusion"),
    "line_crossing": N_("line crossing"),
    "loitering": N_("loitering"),
    "crowding": N_("crowding"),
    "fall": N_("fall"),
}

ROLES: Final[Mapping[str, str]] = {
    "admin": N_("admin"),
    "operator": N_("operator"),
    "auditor": N_("auditor"),
    "police": N_("police"),
}

#: The phrases the gateway words a camera's state with: adapters/rtsp/errors.py Reason values, the
#: supervisor's states, and gateway/health/policy.py QUALITY_REASONS and SLOW_DELIVERY_REASON. They are
#: made in English where the fault is found (an adapter never imports the application) and shown here.
REASONS: Final[tuple[str, ...]] = (
    N_("unreachable"),
    N_("refused"),
    N_("auth failed"),
    N_("not found"),
    N_("no video track"),
    N_("unsupported codec"),
    N_("stalled"),
    N_("stream ended"),
    N_("protocol error"),
    N_("timeout"),
    N_("unsupported source"),
    N_("internal error"),
    N_("picture blank (black or no signal)"),
    N_("picture too dark"),
    N_("picture overexposed"),
    N_("picture low in contrast (fog, misted or dirty cover)"),
    N_("picture blurred or out of focus"),
    N_("lens covered"),
    N_("strong colour cast"),
    N_("picture very noisy"),
    N_("stripes or rolling interference in the picture"),
    N_("picture frozen"),
    N_("camera shaking"),
    N_("camera moved (view differs from its reference picture)"),
    N_("video arrives slower than real time (under 50%): link too slow for the stream"),
    # gateway/health/uptime.py: time the gateway itself was down, so nobody watched the camera.
    N_("gateway not running"),
)

#: Reasons with a figure in them: the English pattern, and the message (with {0}, {1}) it is shown as.
REASON_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"frame rate below the night minimum ([\d.]+) fps"), N_("frame rate below the night minimum {0} fps")),
    (re.compile(r"frame rate below half the expected ([\d.]+) fps"), N_("frame rate below half the expected {0} fps")),
    (re.compile(r"frame rate below the minimum ([\d.]+) fps"), N_("frame rate below the minimum {0} fps")),
    (re.compile(r"keyframe interval over the maximum ([\d.]+) s"), N_("keyframe interval over the maximum {0} s")),
    (re.compile(r"bitrate below the minimum ([\d.]+) kb/s"), N_("bitrate below the minimum {0} kb/s")),
    (re.compile(r"(\d+x\d+) is below HD \((\d+x\d+)\)"), N_("{0} is below HD ({1})")),
    (re.compile(r"picture check (\w+) failed"), N_("picture check {0} failed")),
    (re.compile(r"credentials unavailable: .*"), N_("camera credentials unavailable")),
)


def term(table: Mapping[str, str], code: str | None) -> str:
    """`code`'s words in the current language; a code the table does not know is shown as it is."""
    if code is None:
        return ""
    words = table.get(code)
    return gettext(words) if words is not None else code


def _one_reason(phrase: str) -> str:
    translated = gettext(phrase)
    if translated != phrase:
        return translated
    for pattern, message in REASON_PATTERNS:
        match = pattern.fullmatch(phrase)
        if match is not None:
            args = [term(CHECKS, g) if message.startswith("picture check") else g for g in match.groups()]
            return gettext(message).format(*args)
    # A reason followed by a detail ("stalled: no packet for 10 s"): the known head is translated.
    head, sep, rest = phrase.partition(": ")
    if sep and gettext(head) != head:
        colon = gettext(": ")
        return f"{gettext(head)}{colon}{rest}"
    return phrase


def reason_text(reason: str | None) -> str:
    """A state reason as the gateway wrote it, in the current language; parts it does not know stay as written.

    A reason may list several faults joined by "; " (the health policy does): each is shown.
    """
    if not reason:
        return ""
    if current() == "en":
        # The gateway words reasons in English: the patterns' figures (a check's code) stay as written.
        return reason
    return gettext("; ").join(_one_reason(part) for part in reason.split("; "))
