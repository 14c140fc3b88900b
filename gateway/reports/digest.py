"""What the pages a person reads (HTML, PDF) show of a report, so that a 1,000-camera site stays readable.

The pages lead with the summary and the findings grouped by what was found (how many cameras or zones,
the worst ones named), list every camera on one line, and give the detail (its findings in sentences,
its longest outages and incidents, its timeline) only to the cameras that failed, the worst first, up
to :data:`DETAILED`. The forwarding, recordings and hidden-danger sections lead with their counts and,
past :data:`DETAILED` entries (:data:`TICKETS_LISTED` tickets), list only the entries that failed or
matter, the worst first, with a line counting the rest (:func:`listed`). The CSV and JSON exports are
not made from this: they keep every record.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gateway.i18n import N_, gettext
from gateway.reports.findings import Names, fault_words, join_sentences, sentence, severity_word
from gateway.reports.model import CameraReport, Finding, Report, TicketFigures, TicketLine, TicketsReport, hms
from gateway.reports.render_common import LIST_LIMIT, pct, size_label, sorted_findings

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


# ------------------------------------------------------------------ forwarding, recordings, hidden dangers

# The hidden-danger tickets the pages list on a large site: those still open at the period's end, the
# overdue first (the model's order); a site with no more tickets than this lists every one.
TICKETS_LISTED = 20

T = TypeVar("T")


@dataclass(frozen=True)
class Listed(Generic[T]):
    """The rows a table of the pages shows of its ``total`` entries.

    A table of no more than its limit shows every entry, in the report's order; a longer one shows only
    the entries that failed or matter (``failing``), the worst first, up to the limit, and counts the rest:
    ``more`` of those not listed, ``passed`` that did not fail. The CSV and JSON list every entry.
    """

    rows: tuple[T, ...]
    total: int
    failing: int

    @property
    def whole(self) -> bool:
        return len(self.rows) == self.total

    @property
    def more(self) -> int:
        return 0 if self.whole else self.failing - len(self.rows)

    @property
    def passed(self) -> int:
        return 0 if self.whole else self.total - self.failing


def listed(
    entries: Sequence[T], failed: Callable[[T], bool], worst: Callable[[T], Any], limit: int = DETAILED
) -> Listed[T]:
    """Every entry of a short table; the worst ``limit`` of those that ``failed`` of a long one."""
    failing = [entry for entry in entries if failed(entry)]
    if len(entries) <= limit:
        return Listed(tuple(entries), len(entries), len(failing))
    return Listed(tuple(sorted(failing, key=worst)[:limit]), len(entries), len(failing))


def _key_area(report: Report) -> frozenset[str]:
    kinds = {zone.id: zone.kind for zone in report.zones}
    return frozenset(cam.id for cam in report.cameras if any(kinds.get(z) == "key_area" for z in cam.zones))


def forwarding_failed(cam: CameraReport) -> bool:
    """An enabled camera the city network could not see: not forwarded, or forwarded by uplinks that were
    never registered while the history was read."""
    f = cam.forwarding
    if f is None or not cam.enabled:
        return False
    return not f.forwarded or f.registered_s == 0


def forwarding_rows(report: Report, limit: int = DETAILED) -> Listed[CameraReport]:
    """The forwarding table's cameras: not forwarded before never registered, key-area cameras first."""
    key_area = _key_area(report)

    def worst(cam: CameraReport) -> tuple[int, int, float]:
        f = cam.forwarding
        assert f is not None
        return (int(f.forwarded), int(cam.id not in key_area), f.registered_percent or 0.0)

    cams = [cam for cam in report.cameras if cam.forwarding is not None]
    return listed(cams, forwarding_failed, worst, limit)


def recordings_failed(cam: CameraReport, policy_days: int) -> bool:
    """Recordings that fall short (a day below the target, a long gap, kept too briefly, a failed search,
    no day audited) or cannot be verified at all."""
    r = cam.recordings
    if r is None:
        return False
    short = r.retained_days is not None and r.retained_days < policy_days
    return not r.verifiable or not r.days or bool(r.days_below or r.long_gaps or r.last_error) or short


def recordings_rows(report: Report, limit: int = DETAILED) -> Listed[CameraReport]:
    """The recordings table's cameras: those that fall short, the least complete first, then those that
    cannot be verified."""
    days = report.policy.retention_days

    def worst(cam: CameraReport) -> tuple[int, float, int, int]:
        r = cam.recordings
        assert r is not None
        hard = bool(r.days_below or r.long_gaps) or (r.retained_days is not None and r.retained_days < days)
        complete = r.completeness_percent if r.completeness_percent is not None else 100.0
        return (0 if hard else 1, complete, -len(r.days_below), -len(r.long_gaps))

    cams = [cam for cam in report.cameras if cam.recordings is not None]
    return listed(cams, lambda cam: recordings_failed(cam, days), worst, limit)


def tickets_matter(f: TicketFigures) -> bool:
    """Hidden dangers still open at the period's end, or acknowledged later than the target."""
    return bool(f.open_at_end or f.overdue_at_end or f.acknowledged_in_target < f.due)


def _tickets_worst(item: tuple[str, TicketFigures]) -> tuple[int, int, int, int]:
    f = item[1]
    return (-f.overdue_at_end, -f.open_at_end, -(f.due - f.acknowledged_in_target), -f.opened)


def ticket_zone_rows(tickets: TicketsReport, limit: int = DETAILED) -> Listed[tuple[str, TicketFigures]]:
    return listed(list(tickets.zones.items()), lambda item: tickets_matter(item[1]), _tickets_worst, limit)


def ticket_camera_rows(tickets: TicketsReport, limit: int = DETAILED) -> Listed[tuple[str, TicketFigures]]:
    return listed(list(tickets.cameras.items()), lambda item: tickets_matter(item[1]), _tickets_worst, limit)


def ticket_lines(tickets: TicketsReport, limit: int = TICKETS_LISTED) -> Listed[TicketLine]:
    """The tickets listed: every one of a short list; of a long one those open at the end, overdue first."""
    order = {id(t): index for index, t in enumerate(tickets.tickets)}
    return listed(tickets.tickets, lambda t: t.open_at_end, lambda t: (not t.overdue, order[id(t)]), limit)


def id_list(ids: Sequence[str], limit: int = DETAILED) -> str:
    """``a, b, c``; past ``limit``: the first ``limit`` and how many more."""
    if len(ids) <= limit:
        return ", ".join(ids)
    return _("{names} and {count} more").format(names=", ".join(ids[:limit]), count=len(ids) - limit)


def forwarding_totals(report: Report) -> str:
    """What the platforms took of the forwarded cameras, all together."""
    figures = [cam.forwarding for cam in report.cameras if cam.forwarding is not None]
    return _(
        "The platforms opened {sessions} live session(s) of them, {duration} in all, and were sent {size}."
    ).format(
        sessions=sum(f.sessions for f in figures),
        duration=hms(sum(f.session_s for f in figures)),
        size=size_label(sum(f.bytes_sent for f in figures)),
    )


def recordings_summary(report: Report) -> str:
    """How many cameras' recordings were audited and what fell short, with the completeness of them all."""
    recs = [cam.recordings for cam in report.cameras if cam.recordings is not None]
    days = report.policy.retention_days
    checked = [r for r in recs if r.verifiable]
    audited = sum(r.audited_s for r in checked)
    recorded = sum(r.recorded_s for r in checked)
    return _(
        "{count} camera(s) say where their recordings live, {unverifiable} of them in a way that cannot be"
        " verified. Of the others, {below} had days below the target, {gaps} had long gaps ({gap_count} in all)"
        " and {short} kept their recordings too briefly; {percent} of the audited time was recorded."
    ).format(
        count=len(recs),
        unverifiable=len(recs) - len(checked),
        below=sum(1 for r in checked if r.days_below),
        gaps=sum(1 for r in checked if r.long_gaps),
        gap_count=sum(len(r.long_gaps) for r in checked),
        short=sum(1 for r in checked if r.retained_days is not None and r.retained_days < days),
        percent=pct(100.0 * recorded / audited if audited else None),
    )


def days_below_text(days: Sequence[tuple[str, float]], limit: int = LIST_LIMIT) -> str:
    """A camera's days below the target: every one, or the ``limit`` worst (in date order) and how many more."""
    if len(days) <= limit:
        return ", ".join(f"{day} ({pct(p)})" for day, p in days)
    shown = sorted(sorted(days, key=lambda d: d[1])[:limit])
    text = ", ".join(f"{day} ({pct(p)})" for day, p in shown)
    return _("{days} and {count} more day(s)").format(days=text, count=len(days) - limit)


@dataclass(frozen=True)
class ListedText:
    """What the pages say around a table that lists some of its entries: before it and after it."""

    head: str  # '' when every entry is listed
    more: str  # '' when no entry that failed is left out


def _listed_text(rows: Listed[Any], head: str, none: str, more: str) -> ListedText:
    if rows.whole:
        return ListedText("", "")
    if not rows.failing:
        return ListedText(none.format(count=rows.total), "")
    first = head.format(listed=len(rows.rows), count=rows.total, failed=rows.failing, passed=rows.passed)
    return ListedText(first, more.format(count=rows.more) if rows.more else "")


def forwarding_text(rows: Listed[CameraReport]) -> ListedText:
    return _listed_text(
        rows,
        _(
            "{listed} of the {count} camera(s) are listed: the worst of the {failed} not forwarded or never"
            " registered, key-area cameras first. The {passed} forwarded and registered are counted, not listed."
        ),
        _(
            "Every enabled camera of the {count} is forwarded and was registered: counted, not listed; the CSV and"
            " JSON exports list every camera."
        ),
        _(
            "… and {count} more camera(s) not forwarded or never registered; the CSV and JSON exports list every"
            " camera."
        ),
    )


def recordings_text(rows: Listed[CameraReport]) -> ListedText:
    return _listed_text(
        rows,
        _(
            "{listed} of the {count} camera(s) are listed: the worst of the {failed} whose recordings fall short or"
            " cannot be verified, the least complete first. The {passed} that met every rule are counted, not listed."
        ),
        _(
            "The recordings of all {count} camera(s) met every rule: counted, not listed; the CSV and JSON exports"
            " list every camera."
        ),
        _(
            "… and {count} more camera(s) whose recordings fall short or cannot be verified; the CSV and JSON"
            " exports list every camera."
        ),
    )


def ticket_zones_text(rows: Listed[tuple[str, TicketFigures]]) -> ListedText:
    return _listed_text(
        rows,
        _(
            "Zones: {listed} of {count} listed, the worst of the {failed} with hidden dangers open at the end or"
            " acknowledged late, the most overdue first; the {passed} others are counted in the first line."
        ),
        _(
            "Zones: none of the {count} had a hidden danger open at the end or acknowledged late; they are counted"
            " in the first line, not listed."
        ),
        _(
            "… and {count} more zone(s) with hidden dangers open at the end or acknowledged late; the CSV and JSON"
            " exports list every zone."
        ),
    )


def ticket_cameras_text(rows: Listed[tuple[str, TicketFigures]]) -> ListedText:
    return _listed_text(
        rows,
        _(
            "Cameras: {listed} of the {count} with tickets listed, the worst of the {failed} with hidden dangers"
            " open at the end or acknowledged late, the most overdue first; the {passed} others are counted in the"
            " first line."
        ),
        _(
            "Cameras: none of the {count} with tickets had one open at the end or acknowledged late; they are"
            " counted in the first line, not listed."
        ),
        _(
            "… and {count} more camera(s) with hidden dangers open at the end or acknowledged late; the CSV and"
            " JSON exports list every camera."
        ),
    )


def ticket_lines_text(rows: Listed[TicketLine]) -> ListedText:
    return _listed_text(
        rows,
        _(
            "{listed} of the {count} tickets are listed: of the {failed} open at the end, the overdue first. The"
            " other {passed} are counted in the figures above, not listed."
        ),
        _(
            "None of the {count} tickets was open at the end: they are counted in the figures above, not listed;"
            " the CSV and JSON exports list every one."
        ),
        _("… and {count} more ticket(s) open at the end; the CSV and JSON exports list every one."),
    )
