"""The report's findings: made here with their figures, shown as plain sentences in the reader's language.

A finding keeps its English ``message`` exactly as the JSON export has always carried it (programs and
archived reports read it); beside it, ``code`` and ``args`` say what it found with the raw figures, so
that the pages a person reads (HTML, PDF, CSV) can say it as a sentence in the current language, with
the site's names, the trade's words (docs/glossary.md) and Chinese dates. A finding without a code
(made by hand, or by an older build) is shown by its message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.health.policy import MIN_REALTIME_RATIO
from gateway.i18n import N_, current, gettext, pgettext
from gateway.i18n.formats import date_text, datetime_text, duration_text, percent_text
from gateway.i18n.terms import CHECKS, FAULTS, ZONE_KINDS, term
from gateway.reports.model import Finding, Report, Severity, hms

_ = gettext

MIN_REALTIME_PERCENT = round(MIN_REALTIME_RATIO * 100)


def _finding(severity: Severity, subject: str, message: str, code: str, **args: Any) -> Finding:
    return Finding(severity, subject, message, code=code, args=tuple(args.items()))


# --- made by coverage.py, recordings.py and tickets.py ---------------------------------------------


def zone_no_camera(zone_id: str) -> Finding:
    return _finding("fail", f"zone {zone_id}", "no camera is assigned to this zone", "zone_no_camera", zone=zone_id)


def zone_not_monitored(zone_id: str) -> Finding:
    return _finding("fail", f"zone {zone_id}", "no monitored time in the period", "zone_not_monitored", zone=zone_id)


def zone_coverage(zone_id: str, percent: float, target: float, gaps: int, uncovered_s: float) -> Finding:
    message = (
        f"covered {percent:.2f} % of the monitored time (target {target:g} %); {gaps} gap(s), {hms(uncovered_s)} in all"
    )
    return _finding(
        "fail", f"zone {zone_id}", message, "zone_coverage",
        zone=zone_id, percent=percent, target=target, gaps=gaps, uncovered_s=uncovered_s,
    )  # fmt: skip


def camera_disabled(camera_id: str) -> Finding:
    return _finding("warn", f"camera {camera_id}", "disabled in the configuration", "camera_disabled", camera=camera_id)


def camera_not_monitored(camera_id: str) -> Finding:
    return _finding(
        "fail", f"camera {camera_id}", "no monitored time in the period", "camera_not_monitored", camera=camera_id
    )


def camera_uptime(camera_id: str, uptime: float, target: float, outages: int, offline_s: float) -> Finding:
    message = f"uptime {uptime:.2f} % is below the target {target:g} % ({outages} outage(s), {hms(offline_s)} offline)"
    return _finding(
        "fail", f"camera {camera_id}", message, "camera_uptime",
        camera=camera_id, uptime=uptime, target=target, outages=outages, offline_s=offline_s,
    )  # fmt: skip


def fault_message(fault: str, hd: str, min_fps: float, keyframe_s: float | None, bitrate_kbps: float | None) -> str:
    """The English words of a degraded camera's fault, as the JSON has always given them."""
    if fault == "below_hd":
        return f"below HD ({hd})"
    if fault == "low_fps":
        return f"frame rate below the minimum ({min_fps:g} fps)"
    if fault == "slow_delivery":
        return f"video arriving slower than real time (under {MIN_REALTIME_PERCENT}%: link too slow)"
    if fault == "long_keyframe_interval":
        # The limit may have been set only for some runs of the period, or changed since: say so plainly.
        return (
            f"keyframe interval over the maximum ({keyframe_s:g} s)"
            if keyframe_s
            else "keyframe interval over the maximum"
        )
    if fault == "low_bitrate":
        return f"bitrate below the minimum ({bitrate_kbps:g} kb/s)" if bitrate_kbps else "bitrate below the minimum"
    if fault.startswith("quality:"):
        return f"picture quality: {fault.removeprefix('quality:').replace('_', ' ')}"
    return fault


def camera_fault(
    camera_id: str,
    fault: str,
    total_s: float,
    *,
    hd: str,
    min_fps: float,
    keyframe_s: float | None = None,
    bitrate_kbps: float | None = None,
) -> Finding:
    message = f"{fault_message(fault, hd, min_fps, keyframe_s, bitrate_kbps)} for {hms(total_s)}"
    return _finding(
        "fail", f"camera {camera_id}", message, "camera_fault",
        camera=camera_id, fault=fault, total_s=total_s, hd=hd, min_fps=min_fps, keyframe_s=keyframe_s,
        bitrate_kbps=bitrate_kbps,
    )  # fmt: skip


def camera_clock(camera_id: str, offset_s: float, limit_s: float) -> Finding:
    message = f"clock off by {offset_s:+.1f} s (policy: within {limit_s:g} s)"
    return _finding(
        "fail", f"camera {camera_id}", message, "camera_clock", camera=camera_id, offset_s=offset_s, limit_s=limit_s
    )


def camera_retention(camera_id: str, days: float, required: int) -> Finding:
    message = f"recordings reach back {days:.1f} days (policy: {required} days)"
    return _finding(
        "fail", f"camera {camera_id}", message, "camera_retention", camera=camera_id, days=days, required=required
    )


def gateway_unwatched(monitored: float, required: float) -> Finding:
    message = (
        f"the gateway watched the site for only {monitored:.1f} % of the period (policy:"
        f" {required:g} %); coverage in the rest is not evidenced"
    )
    return _finding("fail", "gateway", message, "gateway_unwatched", monitored=monitored, required=required)


def gateway_down(down_s: float) -> Finding:
    return _finding("info", "gateway", f"the gateway was not running for {hms(down_s)}", "gateway_down", down_s=down_s)


def short_list(ids: list[str], limit: int = 5) -> str:
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def retention_unverifiable(camera_ids: list[str]) -> Finding:
    message = (
        f"recording retention could not be verified for {len(camera_ids)} camera(s)"
        f" ({short_list(camera_ids)}): they offer no ONVIF recording search"
    )
    return _finding("warn", "retention", message, "retention_unverifiable", cameras=tuple(camera_ids))


def staffing_short(
    headcount: int, declared: int | None, required: int, declared_full: int | None, required_full: int | None
) -> Finding:
    parts = []
    total_short = declared is not None and declared < required
    full_short = required_full is not None and declared_full is not None and declared_full < required_full
    if total_short:
        parts.append(f"{declared} security staff declared, {required} required for {headcount} staff")
    if full_short:
        parts.append(f"{declared_full} full-time security staff declared, {required_full} required for a key unit")
    return _finding(
        "fail", "staffing", "; ".join(parts) or "security staffing below the rule", "staffing_short",
        headcount=headcount, declared=declared if total_short else None, required=required,
        declared_full=declared_full if full_short else None, required_full=required_full,
    )  # fmt: skip


def staffing_undeclared() -> Finding:
    message = "the unit declares no security staff; the rule cannot be checked"
    return _finding("warn", "staffing", message, "staffing_undeclared")


def uplink_never_registered(uplink_id: str, cameras: int) -> Finding:
    message = (
        f"never registered to its platform in the period: its {cameras} camera(s) were not"
        " visible to the city network through it"
    )
    return _finding(
        "warn", f"uplink {uplink_id}", message, "uplink_never_registered", uplink=uplink_id, cameras=cameras
    )


def policy_changed(runs: int) -> Finding:
    message = (
        f"{runs} gateway run(s) in the period judged cameras under a different HD threshold,"
        " minimum frame rate or stream limit than the policy stated here"
    )
    return _finding("warn", "policy", message, "policy_changed", runs=runs)


def recordings_unverifiable(camera_id: str) -> Finding:
    message = "its recordings are known only by a playback URL: they cannot be verified"
    return _finding("warn", f"camera {camera_id}", message, "recordings_unverifiable", camera=camera_id)


def recordings_not_audited(camera_id: str) -> Finding:
    message = "the recording audit has no finding for this period"
    return _finding("warn", f"camera {camera_id}", message, "recordings_not_audited", camera=camera_id)


def recordings_days_below(camera_id: str, target: float, days: int, worst: float, worst_day: str) -> Finding:
    message = f"recorded less than {target:g} % of {days} day(s); the least: {worst:.2f} % on {worst_day}"
    return _finding(
        "fail", f"camera {camera_id}", message, "recordings_days_below",
        camera=camera_id, target=target, days=days, worst=worst, worst_day=worst_day,
    )  # fmt: skip


def recordings_gaps(camera_id: str, count: int, limit_s: float, longest_s: float) -> Finding:
    message = f"{count} gap(s) in its recordings longer than {hms(limit_s)}, the longest {hms(longest_s)}"
    return _finding(
        "fail", f"camera {camera_id}", message, "recordings_gaps",
        camera=camera_id, count=count, limit_s=limit_s, longest_s=longest_s,
    )  # fmt: skip


def recordings_device_error(camera_id: str, error: str) -> Finding:
    message = f"the recording device's last answer was a failure: {error}"
    return _finding("warn", f"camera {camera_id}", message, "recordings_device_error", camera=camera_id, error=error)


def ticket_overdue(camera_id: str, ticket: int, fault: str, since: float, target_s: float, tz: ZoneInfo) -> Finding:
    began = datetime.fromtimestamp(since, tz).strftime("%Y-%m-%d %H:%M")
    message = (
        f"hidden danger (ticket {ticket}: {TICKET_FAULTS.get(fault, fault)} since {began})"
        f" still open at the end of the period and not acknowledged within {hms(target_s)}"
    )
    return _finding(
        "fail", f"camera {camera_id}", message, "ticket_overdue",
        camera=camera_id, ticket=ticket, fault=fault, since=since, target_s=target_s,
    )  # fmt: skip


#: A ticket's fault in the English the JSON message has always used (gateway/tickets/policy.py codes).
TICKET_FAULTS: Mapping[str, str] = {
    "offline": "offline",
    "video_lost": "video lost",
    "picture": "picture fault",
    "below_hd": "below HD",
    "degraded": "degraded",
}


# --- shown -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """What a sentence needs of the report besides the finding: names, zone kinds, the time zone."""

    cameras: Mapping[str, str]
    zones: Mapping[str, tuple[str, str]]  # id -> (name, kind)
    tz: ZoneInfo

    @classmethod
    def of(cls, report: Report) -> Names:
        return cls(
            cameras={c.id: c.name for c in report.cameras},
            zones={z.id: (z.name, z.kind) for z in report.zones},
            tz=ZoneInfo(report.timezone),
        )

    def camera(self, camera_id: str) -> str:
        """摄像机「东门 01」（cam-east）: the name people know and the id the configuration uses."""
        name = self.cameras.get(camera_id)
        if not name or name == camera_id:
            return _("camera \u201c{name}\u201d").format(name=camera_id)
        return _("camera \u201c{name}\u201d ({id})").format(name=name, id=camera_id)

    def zone(self, zone_id: str) -> str:
        """重要部位「机房」: the zone's kind says why the regulation cares about it."""
        name, kind = self.zones.get(zone_id, (zone_id, "other"))
        return _("{kind} \u201c{name}\u201d").format(kind=term(ZONE_KINDS, kind), name=name or zone_id)


def pct(value: float | None) -> str:
    return percent_text(value)


def target(value: float) -> str:
    """A policy percentage as configured: 99 %, 99.5 %."""
    return f"{value:g} %"


def fault_words(fault: str, a: Mapping[str, Any]) -> str:
    """A degraded camera's fault in the current language, with the policy's figure where it has one."""
    if fault == "below_hd":
        return _("below HD ({resolution})").format(resolution=str(a.get("hd", "")).replace("x", "×"))
    if fault == "low_fps":
        return _("frame rate below the minimum ({fps} fps)").format(fps=f"{a.get('min_fps', 0):g}")
    if fault == "slow_delivery":
        return _("video arriving slower than real time (under {percent}): link too slow").format(
            percent=f"{MIN_REALTIME_PERCENT} %"
        )
    if fault == "long_keyframe_interval":
        limit = a.get("keyframe_s")
        if limit:
            return _("keyframe interval over the maximum ({seconds} s)").format(seconds=f"{limit:g}")
        return _("keyframe interval over the maximum")
    if fault == "low_bitrate":
        floor = a.get("bitrate_kbps")
        if floor:
            return _("bitrate below the minimum ({kbps} kb/s)").format(kbps=f"{floor:g}")
        return _("bitrate below the minimum")
    if fault.startswith("quality:"):
        return _("picture-quality diagnosis: {check}").format(check=term(CHECKS, fault.removeprefix("quality:")))
    return term(FAULTS, fault)


def _staffing(a: Mapping[str, Any], names: Names) -> str:
    parts = []
    if a.get("declared") is not None:
        parts.append(
            _("The unit declares {declared} security staff; {required} are required for {headcount} staff.").format(
                declared=a["declared"], required=a["required"], headcount=a["headcount"]
            )
        )
    if a.get("declared_full") is not None:
        parts.append(
            _("The unit declares {declared} full-time security staff; a key unit needs {required}.").format(
                declared=a["declared_full"], required=a["required_full"]
            )
        )
    return join_sentences(parts)


def _cameras_list(ids: tuple[str, ...], names: Names, limit: int = 5) -> str:
    shown = list_separator().join(names.camera(c) for c in ids[:limit])
    if len(ids) > limit:
        return _("{cameras} and {count} more").format(cameras=shown, count=len(ids) - limit)
    return shown


def list_separator() -> str:
    return pgettext("list", ", ")


def join_sentences(parts: Iterable[str]) -> str:
    """Chinese sentences follow each other without a space (each ends in 。); English ones take one."""
    return ("" if current() == "zh-CN" else " ").join(parts)


_Sentence = Callable[[Mapping[str, Any], Names], str]

SENTENCES: Mapping[str, _Sentence] = {
    "zone_no_camera": lambda a, n: _("No camera is assigned to {zone}.").format(zone=n.zone(a["zone"])),
    "zone_not_monitored": lambda a, n: _("{zone} has no monitored time in the period.").format(zone=n.zone(a["zone"])),
    "zone_coverage": lambda a, n: _(
        "In the period, {zone} was covered {percent} of the monitored time, below the required {target}"
        " ({gaps} gap(s), {duration} in all)."
    ).format(
        zone=n.zone(a["zone"]),
        percent=pct(a["percent"]),
        target=target(a["target"]),
        gaps=a["gaps"],
        duration=duration_text(a["uncovered_s"]),
    ),
    "camera_disabled": lambda a, n: _("The {camera} is disabled in the configuration.").format(
        camera=n.camera(a["camera"])
    ),
    "camera_not_monitored": lambda a, n: _("The {camera} has no monitored time in the period.").format(
        camera=n.camera(a["camera"])
    ),
    "camera_uptime": lambda a, n: _(
        "In the period, the uptime of the {camera} was {uptime}, below the required {target}"
        " ({outages} outage(s), {duration} offline in all)."
    ).format(
        camera=n.camera(a["camera"]),
        uptime=pct(a["uptime"]),
        target=target(a["target"]),
        outages=a["outages"],
        duration=duration_text(a["offline_s"]),
    ),
    "camera_fault": lambda a, n: _("The {camera} was at fault for {duration} in all: {fault}.").format(
        camera=n.camera(a["camera"]), duration=duration_text(a["total_s"]), fault=fault_words(a["fault"], a)
    ),
    "camera_clock": lambda a, n: _(
        "The clock of the {camera} is off by {offset} s (allowed: within {limit} s)."
    ).format(camera=n.camera(a["camera"]), offset=f"{a['offset_s']:+.1f}", limit=f"{a['limit_s']:g}"),
    "camera_retention": lambda a, n: _(
        "The recordings of the {camera} are kept for {days} days, fewer than the required {required} days."
    ).format(camera=n.camera(a["camera"]), days=f"{a['days']:.1f}", required=a["required"]),
    "gateway_unwatched": lambda a, n: _(
        "The gateway watched the site for only {percent} of the period (required: {required});"
        " coverage in the rest of it is not evidenced."
    ).format(percent=f"{a['monitored']:.1f} %", required=target(a["required"])),
    "gateway_down": lambda a, n: _("The gateway was not running for {duration} in the period.").format(
        duration=duration_text(a["down_s"])
    ),
    "retention_unverifiable": lambda a, n: _(
        "The recording retention of {count} camera(s) could not be verified ({cameras}): they offer no ONVIF"
        " recording search."
    ).format(count=len(a["cameras"]), cameras=_cameras_list(a["cameras"], n)),
    "staffing_short": _staffing,
    "staffing_undeclared": lambda a, n: _("The unit declares no security staff: the staffing rule cannot be checked."),
    "uplink_never_registered": lambda a, n: _(
        "Uplink {uplink} never registered to its platform in the period: its {count} camera(s) were not"
        " visible to the city network through it."
    ).format(uplink=a["uplink"], count=a["cameras"]),
    "policy_changed": lambda a, n: _(
        "{runs} gateway run(s) in the period judged cameras under a different HD threshold, minimum frame rate"
        " or stream limit than the rules stated in this report."
    ).format(runs=a["runs"]),
    "recordings_unverifiable": lambda a, n: _(
        "The recordings of the {camera} are known only by a playback URL: they cannot be verified."
    ).format(camera=n.camera(a["camera"])),
    "recordings_not_audited": lambda a, n: _(
        "The recording audit has no finding for the {camera} in the period."
    ).format(camera=n.camera(a["camera"])),
    "recordings_days_below": lambda a, n: _(
        "The recording completeness of the {camera} was below {target} on {days} day(s); the lowest was {worst}"
        " on {day}."
    ).format(
        camera=n.camera(a["camera"]),
        target=target(a["target"]),
        days=a["days"],
        worst=pct(a["worst"]),
        day=_day(a["worst_day"], n),
    ),
    "recordings_gaps": lambda a, n: _(
        "The recordings of the {camera} have {count} gap(s) longer than {limit}; the longest lasted {longest}."
    ).format(
        camera=n.camera(a["camera"]),
        count=a["count"],
        limit=duration_text(a["limit_s"]),
        longest=duration_text(a["longest_s"]),
    ),
    "recordings_device_error": lambda a, n: _(
        "The recording device of the {camera} last answered with a failure: {error}."
    ).format(camera=n.camera(a["camera"]), error=a["error"]),
    "ticket_overdue": lambda a, n: _(
        "A hidden danger of the {camera} (ticket {ticket}: {fault}, since {since}) was still open at the end of"
        " the period and was not acknowledged within {target}."
    ).format(
        camera=n.camera(a["camera"]),
        ticket=a["ticket"],
        fault=term(FAULTS, a["fault"]),
        since=datetime_text(a["since"], n.tz, seconds=False),
        target=duration_text(a["target_s"]),
    ),
}


def _day(iso_day: str, names: Names) -> str:
    try:
        day = datetime.fromisoformat(iso_day).replace(hour=12, tzinfo=names.tz)
    except ValueError:
        return iso_day
    return date_text(day.timestamp(), names.tz)


def sentence(finding: Finding, names: Names) -> str:
    """The finding as a sentence of the current language; its English message when it has no code."""
    say = SENTENCES.get(finding.code)
    if say is None:
        return f"{finding.subject}: {finding.message}"
    try:
        return say(dict(finding.args), names)
    except (KeyError, TypeError, ValueError):
        # A finding stored by another version with other figures still says what it found.
        return f"{finding.subject}: {finding.message}"


SEVERITY_WORDS: Mapping[str, str] = {
    "fail": N_("failure"),
    "warn": N_("warning"),
    "info": N_("remark"),
}


def severity_word(severity: str) -> str:
    words = SEVERITY_WORDS.get(severity)
    return gettext(words) if words is not None else severity
