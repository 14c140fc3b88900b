"""The report's words for an inspector, shared by the HTML and the PDF: the verdict in a plain sentence
(its reasons, grouped, are reports/digest.py's), the key figures (在线率, 完好率, 高清), the policy as
the rules it checks, and the technical settings of the appendix; and the translation of the texts the
model stores in English (reasons the gateway recorded, notes, definitions) where they are shown.

The model keeps its English texts unchanged, as the JSON export gives them; this module only shows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from gateway.i18n import current, gettext
from gateway.i18n.formats import day_text
from gateway.i18n.terms import CAMERA_STATES, CHECKS, FAULTS, ZONE_KINDS, reason_text, term
from gateway.reports.findings import fault_words, join_sentences, list_separator
from gateway.reports.model import ForwardingReport, PolicyStated, Report, TicketsReport
from gateway.reports.render_common import Clock, duration, num, pct, verdict

_ = gettext


def resolution(text: str | None) -> str:
    """1920×1080, as the standards write it."""
    return (text or "").replace("x", "×")


# --- the period ------------------------------------------------------------------------------------

_LABEL = re.compile(r"^(day|week|month) (\S+)$")


def period_name(label: str) -> str:
    """day 2026-11-20 -> 日报（2026年11月20日）; week 2026-W47 -> 周报（2026年第47周）; custom -> 自定义时段."""
    to_date = label.endswith(" (to date)")
    base = label.removesuffix(" (to date)")
    match = _LABEL.match(base)
    if match is None:
        text = _("custom period") if base == "custom" else base
    else:
        kind, value = match.groups()
        zh = current() == "zh-CN"
        if kind == "day" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            text = _("daily report ({date})").format(date=day_text(date.fromisoformat(value)))
        elif kind == "week" and re.fullmatch(r"\d{4}-W\d{2}", value):
            text = _("weekly report ({week})").format(week=f"{value[:4]}年第{int(value[6:])}周" if zh else value)
        elif kind == "month" and re.fullmatch(r"\d{4}-\d{2}", value):
            text = _("monthly report ({month})").format(month=f"{value[:4]}年{int(value[5:])}月" if zh else value)
        else:
            text = base
    return _("{period}, to date").format(period=text) if to_date else text


def period_text(report: Report, clock: Clock) -> str:
    return _("{period}: {start} – {end}").format(
        period=period_name(report.period_label),
        start=clock.text(report.start, False),
        end=clock.text(report.end, False),
    )


# --- the verdict and its reasons ------------------------------------------------------------------


def counts(report: Report) -> tuple[int, int]:
    fails = sum(1 for f in report.findings if f.severity == "fail")
    warns = sum(1 for f in report.findings if f.severity == "warn")
    return fails, warns


def counts_text(report: Report) -> str:
    fails, warns = counts(report)
    return _("{fails} failure(s), {warnings} warning(s)").format(fails=fails, warnings=warns)


def verdict_sentence(report: Report, clock: Clock) -> str:
    """The first thing an inspector reads: what was judged, and the outcome, in one or two sentences."""
    fails, warns = counts(report)
    head = _(
        "In the period from {start} to {end}, the video surveillance of \u201c{site}\u201d was judged against the"
        " rules below."
    ).format(start=clock.text(report.start, False), end=clock.text(report.end, False), site=report.site_name)
    if report.passed:
        outcome = _("It meets every rule: the verdict is {verdict}.").format(verdict=verdict(True))
    else:
        outcome = _("It fails {count} check(s): the verdict is {verdict}.").format(count=fails, verdict=verdict(False))
    parts = [head, outcome]
    if warns:
        parts.append(_("{count} warning(s) do not change the verdict but need attention.").format(count=warns))
    return join_sentences(parts)


# --- the key figures ---------------------------------------------------------------------------------


def _pixels(text: str | None) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d+)x(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    note: str


def key_figures(report: Report) -> list[Figure]:
    """在线率 of all cameras together, 完好率 (cameras in good order), cameras at HD, zones covered."""
    enabled = [c for c in report.cameras if c.enabled]
    up = sum(c.seconds.get("online", 0.0) + c.seconds.get("degraded", 0.0) for c in enabled)
    known = up + sum(c.seconds.get("offline", 0.0) for c in enabled)
    uptime = 100.0 * up / known if known > 0 else None
    good = sum(1 for c in enabled if c.passed)
    hd = 0
    measured = 0
    for c in enabled:
        have, need = _pixels(c.measured_resolution), _pixels(c.required_resolution)
        if have is None or need is None:
            continue
        measured += 1
        hd += have[0] >= need[0] and have[1] >= need[1]
    zones_ok = sum(1 for z in report.zones if z.passed)
    return [
        Figure(_("Camera uptime"), pct(uptime), _("online time of all enabled cameras over the monitored time")),
        Figure(
            _("Cameras in good order"),
            pct(100.0 * good / len(enabled) if enabled else None),
            _("{good} of {count} enabled camera(s) without a failure").format(good=good, count=len(enabled)),
        ),
        Figure(
            _("HD cameras"),
            f"{hd} / {measured}",
            _("measured at or above {resolution}").format(resolution=resolution(report.policy.hd_min_resolution)),
        ),
        Figure(
            _("Zones covered"),
            f"{zones_ok} / {len(report.zones)}",
            _("zones that met the coverage rule"),
        ),
    ]


# --- the rules ---------------------------------------------------------------------------------------


def _kinds(report: Report) -> str:
    seen: dict[str, None] = {}
    for zone in report.zones:
        seen[zone.kind] = None
    return list_separator().join(term(ZONE_KINDS, k) for k in seen)


def rules(report: Report) -> list[str]:
    """The policy as the rules it checks, in words (the settings behind them are in the appendix)."""
    p: PolicyStated = report.policy
    kinds = _kinds(report)
    out = []
    if kinds:
        out.append(
            _("The video coverage of every zone ({kinds}) is at least {target} of the monitored time").format(
                kinds=kinds, target=f"{p.coverage_target_percent:g} %"
            )
        )
    else:
        out.append(
            _("The video coverage of every zone is at least {target} of the monitored time").format(
                target=f"{p.coverage_target_percent:g} %"
            )
        )
    out.append(_("The uptime of every camera is at least {target}").format(target=f"{p.uptime_target_percent:g} %"))
    out.append(
        _("Every camera is HD (at least {resolution}) and delivers at least {fps} fps").format(
            resolution=resolution(p.hd_min_resolution), fps=f"{p.min_fps:g}"
        )
    )
    if p.quality_checks:
        out.append(
            _("Picture-quality diagnosis: a camera failing any of these checks is at fault: {checks}").format(
                checks=list_separator().join(term(CHECKS, c) for c in p.quality_checks)
            )
        )
    out.append(_("Recordings are kept at least {days} days").format(days=p.retention_days))
    out.append(
        _("Every day's recording completeness is at least {percent}, with no recording gap longer than {gap}").format(
            percent=f"{p.min_recorded_percent:g} %", gap=duration(p.max_recording_gap_s)
        )
    )
    out.append(_("Camera clocks are off by at most {seconds} s").format(seconds=f"{p.max_clock_drift_s:g}"))
    if p.max_keyframe_interval_s is not None:
        out.append(_("The keyframe interval is at most {seconds} s").format(seconds=f"{p.max_keyframe_interval_s:g}"))
    if p.min_bitrate_kbps is not None:
        out.append(_("The bitrate is at least {kbps} kb/s").format(kbps=f"{p.min_bitrate_kbps:g}"))
    out.append(
        _("The gateway watches the site at least {percent} of the period").format(
            percent=f"{p.min_monitored_percent:g} %"
        )
    )
    out.append(_("The unit's security staff meet the staffing rule"))
    if report.tickets is not None:
        out.append(
            _("Every hidden danger is acknowledged within {target} of being reported").format(
                target=duration(report.tickets.acknowledge_target_s)
            )
        )
    return out


# --- the appendix: the settings behind the rules ---------------------------------------------------


@dataclass(frozen=True)
class Setting:
    label: str
    key: str  # the configuration key (policy.*), shown for whoever checks the gateway's configuration
    value: str


def settings(report: Report) -> list[Setting]:
    p = report.policy
    checks = list_separator().join(term(CHECKS, c) for c in p.quality_checks) or _("none")

    def seconds(value: float) -> str:
        return _("{seconds} s").format(seconds=num(value))

    return [
        Setting(_("Key unit"), "site.unit.key_unit", _("yes") if p.key_unit else _("no")),
        Setting(_("HD threshold (minimum resolution)"), "policy.hd_min_resolution", p.hd_min_resolution),
        Setting(_("Minimum frame rate"), "policy.min_fps", f"{num(p.min_fps)} fps"),
        Setting(_("Camera uptime target"), "policy.uptime_target_percent", f"{num(p.uptime_target_percent)} %"),
        Setting(_("Zone coverage target"), "policy.coverage_target_percent", f"{num(p.coverage_target_percent)} %"),
        Setting(_("Minimum monitored time"), "policy.min_monitored_percent", f"{num(p.min_monitored_percent)} %"),
        Setting(_("Recording retention"), "policy.retention_days", _("{days} days").format(days=p.retention_days)),
        Setting(
            _("Daily recording completeness"),
            "policy.recordings.min_completeness_percent",
            f"{num(p.min_recorded_percent)} %",
        ),
        Setting(_("Longest recording gap"), "policy.recordings.max_gap_s", seconds(p.max_recording_gap_s)),
        Setting(_("Maximum clock drift"), "policy.max_clock_drift_s", seconds(p.max_clock_drift_s)),
        Setting(_("Quality sampling interval"), "supervisor.quality_interval_s", seconds(p.quality_interval_s)),
        Setting(_("Quality checks"), "policy.quality.checks", checks),
        Setting(
            _("Maximum keyframe interval"),
            "policy.stream.max_keyframe_interval_s",
            _limit(p.max_keyframe_interval_s, "s"),
        ),
        Setting(_("Minimum bitrate"), "policy.stream.min_bitrate_kbps", _limit(p.min_bitrate_kbps, "kb/s")),
    ]


def _limit(value: float | None, unit: str) -> str:
    if value is None:
        return _("not judged (measured only)")
    return _("{seconds} s").format(seconds=num(value)) if unit == "s" else f"{num(value)} {unit}"


def thresholds(report: Report) -> list[tuple[str, str]]:
    return [(key, num(value)) for key, value in sorted(report.policy.quality_thresholds.items())]


# --- texts the model stores in English -------------------------------------------------------------

_STATES = "|".join(CAMERA_STATES)
_CAMERA_PART = re.compile(rf"; (?=[^;:]+: (?:{_STATES})\b)")
_STATE_ITEM = re.compile(rf", (?=(?:{_STATES})\b)")
_ITEM = re.compile(rf"^({_STATES})(?: \((.*)\))?$", re.DOTALL)


def _state_item(item: str) -> str:
    match = _ITEM.match(item)
    if match is None:
        return reason_text(item)
    state, why = match.groups()
    if not why:
        return term(CAMERA_STATES, state)
    return _("{state} ({reason})").format(state=term(CAMERA_STATES, state), reason=reason_text(why))


def gap_reasons(detail: str) -> str:
    """A zone gap's "cam-1: offline (refused), online; cam-2: degraded (picture frozen)" in the current language."""
    if current() == "en" or not detail:
        return detail
    if detail == "no camera in this zone":
        return _(detail)
    parts = []
    for part in _CAMERA_PART.split(detail):
        camera, sep, rest = part.partition(": ")
        if not sep:
            parts.append(reason_text(part))
            continue
        items = list_separator().join(_state_item(i) for i in _STATE_ITEM.split(rest))
        parts.append(f"{camera}{gettext(': ')}{items}")
    return gettext("; ").join(parts)


def outage_reasons(reasons: tuple[str, ...]) -> str:
    return gettext("; ").join(reason_text(r) for r in reasons)


def span_detail(detail: str) -> str:
    """A timeline span's or a gateway downtime's recorded reason."""
    if not detail:
        return ""
    mixed = detail.startswith("mixed: ")
    text = detail.removeprefix("mixed: ")
    said = gettext(text) if text == "gateway not running" else reason_text(text)
    return _("mixed: {detail}").format(detail=said) if mixed else said


def incident_fault(fault: str, policy: PolicyStated) -> str:
    """An incident's fault code (below_hd, low_fps, quality:frozen...) in words, with the policy's figure."""
    args = {
        "hd": resolution(policy.hd_min_resolution),
        "min_fps": policy.min_fps,
        "keyframe_s": policy.max_keyframe_interval_s,
        "bitrate_kbps": policy.min_bitrate_kbps,
    }
    return fault_words(fault, args)


def note(text: str) -> str:
    """A note or definition the model carries in English (marked for the catalog where it is made)."""
    return gettext(text)


_RECORDER = re.compile(r"^recorder (.+), channel (.+)$")


def recording_source(source: str) -> str:
    match = _RECORDER.match(source)
    if match is not None:
        return _("recorder {recorder}, channel {channel}").format(recorder=match.group(1), channel=match.group(2))
    if source == "the camera's own Profile G":
        return _("the camera's own recordings (ONVIF Profile G)")
    if source == "a playback URL":
        return _("a playback URL")
    return source


def forwarding_summary(f: ForwardingReport) -> str:
    text = _("{forwarded} of {cameras} enabled camera(s) forwarded").format(forwarded=f.forwarded, cameras=f.cameras)
    if f.history:
        text += _(", {registered} while an uplink was registered").format(registered=f.registered)
    if f.key_area_cameras:
        text += _("; key-area cameras: {forwarded} of {cameras} forwarded").format(
            forwarded=f.key_area_forwarded, cameras=f.key_area_cameras
        )
    return text


def tickets_summary(t: TicketsReport) -> str:
    s = t.site
    in_target = f" ({pct(s.in_target_percent)})" if s.in_target_percent is not None else ""
    return _(
        "{opened} opened; acknowledged within {target}: {in_target} of {due}{percent}; {repaired} repaired;"
        " at the end of the period {open} open, {overdue} overdue."
    ).format(
        opened=s.opened,
        target=duration(t.acknowledge_target_s),
        in_target=s.acknowledged_in_target,
        due=s.due,
        percent=in_target,
        repaired=s.repaired,
        open=s.open_at_end,
        overdue=s.overdue_at_end,
    )


def ticket_fault(code: str) -> str:
    return term(FAULTS, code)


def ticket_state(state: str) -> str:
    if state == "open":
        return _("open")
    if state == "closed":
        return _("repaired")
    return _("not known")
