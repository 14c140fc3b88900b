"""The coverage report's recording section: what the recording audit found within the period, judged
against `policy.recordings` and `policy.retention_days`, measured rather than claimed.

Read from the audit's stored days (gateway/recordings/store.py); nothing is asked of a device here.
A day the audit has no finding for is not counted either way: it says "not audited", never "recorded".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.config import CameraConfig, GatewayConfig
from gateway.recordings.store import RecordingStore
from gateway.reports import findings as finding_of
from gateway.reports.model import CameraRecordings, CameraReport, Finding, PolicyStated, Span

LONG_GAPS_KEPT = 50  # per camera in the report; the API and `gateway recordings` give them all


def camera_recordings(
    camera: CameraConfig, store: RecordingStore, start: float, end: float, tz: ZoneInfo, policy: PolicyStated
) -> CameraRecordings | None:
    rec = camera.recordings
    if rec is None:
        return None
    if rec.playback_url is not None:
        return CameraRecordings("a playback URL", False, 0, 0.0, 0.0, None, (), (), None, None)
    source = f"recorder {rec.recorder}, channel {rec.channel}" if rec.recorder else "the camera's own Profile G"
    first, last = datetime.fromtimestamp(start, tz).date(), datetime.fromtimestamp(max(start, end - 1e-6), tz).date()
    audited = recorded = 0.0
    below: list[tuple[str, float]] = []
    long_gaps: list[Span] = []
    days = 0
    for day in store.days(camera.id, first, last):
        lo, hi = max(day.start, start), min(day.end, end)
        if hi <= lo:
            continue
        days += 1
        gaps = [(max(a, lo), min(b, hi)) for a, b in day.gaps if b > lo and a < hi]
        missing = sum(b - a for a, b in gaps)
        audited += hi - lo
        recorded += hi - lo - missing
        percent = 100.0 * (hi - lo - missing) / (hi - lo)
        if percent < policy.min_recorded_percent:
            below.append((day.day.isoformat(), round(percent, 3)))
        long_gaps += [Span(a, b, "not_recorded") for a, b in gaps if b - a > policy.max_recording_gap_s]
    check = store.check_near(camera.id, end)
    retained = None
    if check is not None and check.ok and check.earliest is not None:
        retained = round(max(0.0, check.ts - check.earliest) / 86400, 2)
    return CameraRecordings(
        source=source,
        verifiable=True,
        days=days,
        audited_s=round(audited, 3),
        recorded_s=round(recorded, 3),
        completeness_percent=round(100.0 * recorded / audited, 3) if audited > 0 else None,
        days_below=tuple(below),
        long_gaps=tuple(long_gaps[:LONG_GAPS_KEPT]),
        retained_days=retained,
        last_error=None if check is None or check.ok else check.error,
    )


def findings(camera_id: str, r: CameraRecordings, policy: PolicyStated) -> list[Finding]:
    """What the section says against the policy. Retention is judged with the camera's other figures
    (gateway.reports.coverage), from the measured value `recordings_of` gives it."""
    if not r.verifiable:
        return [finding_of.recordings_unverifiable(camera_id)]
    out: list[Finding] = []
    if r.days == 0:
        out.append(finding_of.recordings_not_audited(camera_id))
    if r.days_below:
        worst_day, worst = min(r.days_below, key=lambda d: d[1])
        out.append(
            finding_of.recordings_days_below(
                camera_id, policy.min_recorded_percent, len(r.days_below), worst, worst_day
            )
        )
    if r.long_gaps:
        longest = max(r.long_gaps, key=lambda g: g.duration_s)
        out.append(
            finding_of.recordings_gaps(camera_id, len(r.long_gaps), policy.max_recording_gap_s, longest.duration_s)
        )
    if r.last_error is not None:
        out.append(finding_of.recordings_device_error(camera_id, r.last_error))
    return out


def recordings_of(
    config: GatewayConfig,
    cameras: Sequence[CameraConfig],
    store: RecordingStore,
    start: float,
    end: float,
    policy: PolicyStated,
) -> dict[str, CameraRecordings]:
    """The recording section of each camera that says where its recordings live."""
    tz = ZoneInfo(config.site.timezone)
    found = {c.id: camera_recordings(c, store, start, end, tz, policy) for c in cameras}
    return {cid: r for cid, r in found.items() if r is not None}


def with_recordings(
    reports: list[CameraReport], recordings: dict[str, CameraRecordings], policy: PolicyStated
) -> list[CameraReport]:
    """The camera reports with their recording section and its findings."""
    out = []
    for report in reports:
        r = recordings.get(report.id)
        if r is None:
            out.append(report)
            continue
        found = [*report.findings, *findings(report.id, r, policy)]
        out.append(
            dataclasses.replace(
                report, recordings=r, findings=tuple(found), passed=not any(f.severity == "fail" for f in found)
            )
        )
    return out
