"""What the pages a person reads (HTML, PDF) show of a report, so that a 1,000-camera site stays readable.

The pages lead with the summary and the findings grouped by what was found (how many cameras or zones,
the worst ones named), list every camera on one line, and give the detail (its findings in sentences,
its longest outages and incidents, its timeline) only to the cameras that failed, the worst first, up
to :data:`DETAILED`. The CSV and JSON exports are not made from this: they keep every record.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.i18n import N_, gettext
from gateway.reports.findings import Names, fault_words, join_sentences, sentence, severity_word
from gateway.reports.model import CameraReport, Finding, Report
from gateway.reports.render_common import sorted_findings

_ = gettext

# Cameras given their detail on the pages: the 90-day timeline of a camera that reboots every night is
# ~230 drawn spans, 60 kB of HTML with their times and reasons, so 10 keep a 1,000-camera report well
# under 2 MB. A site with no more cameras than this keeps every timeline, passing cameras included.
DETAILED = 10
# A group of findings shows this many of its worst in sentences; the rest are counted.
SHOWN = 3

# What a group of camera or zone findings is called; the codes of findings.py. A finding of another
# code (the site's own: the gateway, staffing, retention, uplinks) is shown alone, in its sentence.
_TITLES: Mapping[str, str] = {
    "zone_no_camera": N_("Zones without a camera"),
    "zone_not_monitored": N_("Zones with no monitored time"),
    "zone_coverage": N_("Zones covered less than the target"),
    "camera_disabled": N_("Cameras disabled in the configuration"),
    "camera_not_monitored": N_("Cameras with no monitored time"),
    "camera_uptime": N_("Cameras with an uptime below the target"),
    "camera_clock": N_("Cameras whose clock is off"),
    "camera_retention": N_("Cameras keeping their recordings too briefly"),
    "recordings_unverifiable": N_("Cameras whose recordings cannot be verified"),
    "recordings_not_audited": N_("Cameras the recording audit has no finding for"),
    "recordings_days_below": N_("Cameras with days of incomplete recordings"),
    "recordings_gaps": N_("Cameras with long gaps in their recordings"),
    "recordings_device_error": N_("Cameras whose recording device answered with a failure"),
    "ticket_overdue": N_("Hidden dangers not acknowledged in time"),
}

# How the findings of one code are ranked, worst first (a lower key is worse).
_WORST: Mapping[str, Callable[[Mapping[str, Any]], float]] = {
    "zone_coverage": lambda a: float(a["percent"]),
    "camera_uptime": lambda a: float(a["uptime"]),
    "camera_fault": lambda a: -float(a["total_s"]),
    "camera_clock": lambda a: -abs(float(a["offset_s"])),
    "camera_retention": lambda a: float(a["days"]),
    "recordings_days_below": lambda a: float(a["worst"]),
    "recordings_gaps": lambda a: -float(a["longest_s"]),
    "ticket_overdue": lambda a: float(a["since"]),
}


@dataclass(frozen=True)
class FindingGroup:
    """Findings of one kind: a camera fault is its own kind per fault (frozen picture, below HD...)."""

    severity: str
    key: str  # the code, with the fault of a camera fault: "camera_fault:quality:frozen"
    word: str  # 不合格项 / 警告 / 说明
    title: str  # empty for a finding shown alone
    sentences: tuple[str, ...]  # the worst SHOWN, in the current language
    count: int

    @property
    def more(self) -> int:
        return self.count - len(self.sentences)


def _key(finding: Finding) -> str:
    fault = dict(finding.args).get("fault") if finding.code == "camera_fault" else None
    return f"{finding.code}:{fault}" if fault else finding.code or finding.subject


def _worst(finding: Finding) -> float:
    rank = _WORST.get(finding.code)
    if rank is None:
        return 0.0
    try:
        return rank(dict(finding.args))
    except (KeyError, TypeError, ValueError):
        return 0.0


def _title(finding: Finding) -> str:
    args = dict(finding.args)
    if finding.code == "camera_fault":
        return _("Cameras at fault: {fault}").format(fault=fault_words(str(args.get("fault", "")), args))
    title = _TITLES.get(finding.code)
    return gettext(title) if title else ""


def group_findings(report: Report) -> list[FindingGroup]:
    """The report's findings by kind, failures first, each kind where it first appears; a kind of one
    finding, or of a site-wide finding, is that finding's sentence alone."""
    names = Names.of(report)
    groups: dict[str, list[Finding]] = {}
    for finding in sorted_findings(report.findings):
        groupable = finding.code == "camera_fault" or finding.code in _TITLES
        key = f"{finding.severity}/{_key(finding)}" if groupable else f"{finding.severity}/{len(groups)}"
        groups.setdefault(key, []).append(finding)
    out = []
    for members in groups.values():
        first = members[0]
        worst = sorted(members, key=_worst)  # stable: equal ones keep the report's order
        out.append(
            FindingGroup(
                severity=first.severity,
                key=_key(first),
                word=severity_word(first.severity),
                title=_title(first) if len(members) > 1 else "",
                sentences=tuple(sentence(f, names) for f in worst[:SHOWN]),
                count=len(members),
            )
        )
    return out


def _badness(cam: CameraReport) -> tuple[int, float, float]:
    fails = sum(1 for f in cam.findings if f.severity == "fail")
    good = cam.good_percent if cam.good_percent is not None else -1.0
    uptime = cam.uptime_percent if cam.uptime_percent is not None else -1.0
    return (-fails, good, uptime)


@dataclass(frozen=True)
class Digest:
    """The cameras the pages give detail to, in the report's order."""

    failed: tuple[CameraReport, ...]  # every camera that failed a rule (the model's own verdict)
    detailed: tuple[CameraReport, ...]  # of those, the worst DETAILED
    drawn: tuple[CameraReport, ...]  # the timelines drawn: the detailed, then passing cameras to DETAILED

    @property
    def not_detailed(self) -> int:
        return len(self.failed) - len(self.detailed)


def digest(report: Report, limit: int = DETAILED) -> Digest:
    cameras = report.cameras
    failed = [cam for cam in cameras if not cam.passed]
    worst = {cam.id for cam in sorted(failed, key=_badness)[:limit]}
    # A small site keeps every timeline: passing cameras fill the room the failing ones leave.
    passing = [cam.id for cam in cameras if cam.passed]
    drawn = worst | set(passing[: max(0, limit - len(worst))])
    return Digest(
        failed=tuple(failed),
        detailed=tuple(cam for cam in cameras if cam.id in worst),
        drawn=tuple(cam for cam in cameras if cam.id in drawn),
    )


def _below(measured: str | None, required: str) -> bool:
    have, need = re.fullmatch(r"(\d+)x(\d+)", measured or ""), re.fullmatch(r"(\d+)x(\d+)", required)
    if have is None or need is None:
        return False
    return int(have[1]) < int(need[1]) or int(have[2]) < int(need[2])


def failing_marks(cam: CameraReport) -> frozenset[str]:
    """Which of a camera's figures a rule failed on, to mark them on its line: ``uptime``, ``monitored``,
    ``incidents``, ``resolution`` (the last measured is below HD), ``clock``, ``retention``."""
    marks: set[str] = set()
    for finding in cam.findings:
        if finding.severity != "fail":
            continue
        if finding.code == "camera_uptime":
            marks.add("uptime")
        elif finding.code == "camera_not_monitored":
            marks.add("monitored")
        elif finding.code == "camera_clock":
            marks.add("clock")
        elif finding.code == "camera_retention":
            marks.add("retention")
        elif finding.code == "camera_fault":
            marks.add("incidents")
            # A camera below HD for a week of the quarter may measure HD at the end: only a figure that is
            # itself below the threshold is marked.
            if dict(finding.args).get("fault") == "below_hd" and _below(
                cam.measured_resolution, cam.required_resolution
            ):
                marks.add("resolution")
    return frozenset(marks)


def camera_sentences(report: Report, cams: Sequence[CameraReport]) -> dict[str, list[str]]:
    """Each camera's findings in sentences, failures first."""
    names = Names.of(report)
    return {cam.id: [sentence(f, names) for f in sorted_findings(cam.findings)] for cam in cams}


def scope_text(d: Digest, cameras: int) -> str:
    """What the pages show and where the rest is, said once near the top of each."""
    if not d.failed:
        shown = _(
            "This report leads with the summary and the findings grouped by kind; every camera passed, each is"
            " listed on one line."
        )
    elif not d.not_detailed:
        shown = _(
            "This report leads with the summary and the findings grouped by kind, lists each of the {cameras}"
            " camera(s) on one line, and details the {failed} that failed: their findings, longest outages and"
            " incidents, and timeline."
        ).format(cameras=cameras, failed=len(d.failed))
    else:
        shown = _(
            "This report leads with the summary and the findings grouped by kind, lists each of the {cameras}"
            " camera(s) on one line, and details the worst {detailed} of the {failed} that failed: their"
            " findings, longest outages and incidents, and timeline."
        ).format(cameras=cameras, detailed=len(d.detailed), failed=len(d.failed))
    full = _(
        "The full detail of every camera (each outage, incident, coverage gap and finding) is in the CSV and"
        " JSON exports of this report."
    )
    return join_sentences((shown, full))
