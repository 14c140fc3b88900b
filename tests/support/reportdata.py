"""Synthetic coverage reports for the renderer tests: realistic enough to read, small enough to reason about.

The sample is one day (2026-11-20, Asia/Shanghai) of a key unit with four cameras in three zones: one good
camera, one with outages (in the zone named in Chinese), one frozen and one below HD, plus 20 minutes when
the gateway itself was not running. Its seconds, percentages and gaps add up the way coverage.py's do.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.reports import findings as finding_of
from gateway.reports.coverage import FORWARDING_DEFINITION, NOTES, STAFFING_RULE
from gateway.reports.model import (
    TIMELINE_STATES,
    CameraForwarding,
    CameraReport,
    Finding,
    ForwardingReport,
    GatewayDowntime,
    Incident,
    Outage,
    PolicyStated,
    Report,
    Span,
    StaffingCheck,
    UplinkReport,
    ZoneReport,
)

TZ = "Asia/Shanghai"
DAY_START = datetime(2026, 11, 20, tzinfo=ZoneInfo(TZ)).timestamp()
DAY_END = DAY_START + 86_400.0
GATEWAY_DOWN = (DAY_START + 22 * 3600.0, DAY_START + 22 * 3600.0 + 1200.0)  # 22:00-22:20 local


def at(hours: float) -> float:
    """Unix seconds at ``hours`` after local midnight of the sample day."""
    return DAY_START + hours * 3600.0


def policy(**overrides: Any) -> PolicyStated:
    base = PolicyStated(
        key_unit=True,
        hd_min_resolution="1920x1080",
        min_fps=15.0,
        uptime_target_percent=99.0,
        coverage_target_percent=99.0,
        min_monitored_percent=95.0,
        retention_days=90,
        max_clock_drift_s=5.0,
        quality_interval_s=60.0,
        quality_checks=("blank", "dark", "bright", "blur", "occlusion", "frozen"),
        quality_thresholds={
            "blank_stddev": 6.0,
            "frozen_s": 30.0,
            "blur_laplacian_var": 60.0,
            "occluded_fraction": 0.6,
        },
    )
    return replace(base, **overrides)


def timeline(
    events: Iterable[tuple[float, float, str, str]], start: float = DAY_START, end: float = DAY_END
) -> tuple[Span, ...]:
    """The full timeline of a camera: ``events`` (sorted, non-overlapping) over an otherwise online period."""
    spans: list[Span] = []
    cursor = start
    for ev_start, ev_end, state, detail in sorted(events):
        if ev_start > cursor:
            spans.append(Span(cursor, ev_start, "online"))
        spans.append(Span(ev_start, ev_end, state, detail))
        cursor = ev_end
    if cursor < end:
        spans.append(Span(cursor, end, "online"))
    return tuple(spans)


def seconds_of(spans: Iterable[Span]) -> dict[str, float]:
    out = dict.fromkeys(TIMELINE_STATES, 0.0)
    for span in spans:
        out[span.state] += span.duration_s
    return out


def camera(
    cam_id: str,
    name: str,
    zones: tuple[str, ...],
    events: Iterable[tuple[float, float, str, str]] = (),
    *,
    outages: tuple[Outage, ...] = (),
    incidents: tuple[Incident, ...] = (),
    resolution: str | None = "1920x1080",
    codec: str | None = "H.264",
    fps: float | None = 25.0,
    clock_offset_s: float | None = 0.4,
    retention_days: float | None = 94.0,
    findings: tuple[Finding, ...] = (),
    start: float = DAY_START,
    end: float = DAY_END,
) -> CameraReport:
    spans = timeline([*events, (*GATEWAY_DOWN, "unknown", "gateway not running")], start, end)
    seconds = seconds_of(spans)
    known = sum(seconds.values()) - seconds["unknown"] - seconds["disabled"]
    return CameraReport(
        id=cam_id,
        name=name,
        zones=zones,
        enabled=True,
        required_resolution="1920x1080",
        measured_resolution=resolution,
        measured_codec=codec,
        measured_fps=fps,
        seconds=seconds,
        uptime_percent=round(100.0 * (seconds["online"] + seconds["degraded"]) / known, 3) if known else None,
        good_percent=round(100.0 * seconds["online"] / known, 3) if known else None,
        outages=outages,
        incidents=incidents,
        timeline=spans,
        clock_offset_s=clock_offset_s,
        retention_days=retention_days,
        passed=not any(f.severity == "fail" for f in findings),
        findings=findings,
    )


def zone(
    zone_id: str, name: str, kind: str, cameras: tuple[str, ...], gaps: tuple[Span, ...] = (), *, target: float = 99.0
) -> ZoneReport:
    unknown = GATEWAY_DOWN[1] - GATEWAY_DOWN[0]
    uncovered = sum(g.duration_s for g in gaps)
    covered = DAY_END - DAY_START - unknown - uncovered
    percent = round(100.0 * covered / (covered + uncovered), 3)
    findings: tuple[Finding, ...] = ()
    if percent < target:
        findings = (finding_of.zone_coverage(zone_id, percent, target, len(gaps), uncovered),)
    return ZoneReport(
        id=zone_id,
        name=name,
        kind=kind,
        cameras=cameras,
        seconds={"covered": covered, "uncovered": uncovered, "unknown": unknown},
        covered_percent=percent,
        gaps=gaps,
        passed=not findings,
        findings=findings,
    )


# The outage of the east-gate camera: 03:10-04:25 and 16:40:00-16:42:30 local.
EAST_OUTAGES = (
    Outage(at(3 + 10 / 60), at(4 + 25 / 60), ("refused", "unreachable"), ongoing=False),
    Outage(at(16 + 40 / 60), at(16 + 42.5 / 60), ("stalled",), ongoing=False),
)
FROZEN = Incident("quality:frozen", at(14 + 2 / 60), at(15.5), "picture frozen", ongoing=False)
BELOW_HD = Incident("below_hd", DAY_START, DAY_END, "704x576 is below HD (1920x1080)", ongoing=True)


def sample_report(**overrides: Any) -> Report:
    """The four-camera sample day; ``overrides`` replace Report fields (``dataclasses.replace``)."""
    below_hd_s = DAY_END - DAY_START - (GATEWAY_DOWN[1] - GATEWAY_DOWN[0])
    gate_fail = finding_of.camera_fault("cam-lobby", "below_hd", below_hd_s, hd="1920x1080", min_fps=15.0)
    frozen_fail = finding_of.camera_fault(
        "cam-store", "quality:frozen", FROZEN.duration_s, hd="1920x1080", min_fps=15.0
    )
    east_warn = finding_of.retention_unverifiable(["cam-east"])
    east_offline_s = sum(o.duration_s for o in EAST_OUTAGES)
    east_uptime = round(100.0 * (1 - east_offline_s / (DAY_END - DAY_START - 1200.0)), 3)
    cameras = (
        camera("cam-gate-hd", "Main gate HD", ("main-gate",)),
        camera(
            "cam-east",
            "东门 入口 01",
            ("east-gate",),
            [(o.start, o.end, "offline", "; ".join(o.reasons)) for o in EAST_OUTAGES],
            outages=EAST_OUTAGES,
            codec="H.265",
            clock_offset_s=-2.5,
            retention_days=None,
            findings=(finding_of.camera_uptime("cam-east", east_uptime, 99.0, len(EAST_OUTAGES), east_offline_s),),
        ),
        camera(
            "cam-store",
            "Warehouse aisle 3",
            ("warehouse",),
            [(FROZEN.start, FROZEN.end, "degraded", FROZEN.detail)],
            incidents=(FROZEN,),
            findings=(frozen_fail,),
        ),
        camera(
            "cam-lobby",
            "Lobby SD",
            ("main-gate",),
            [
                (DAY_START, GATEWAY_DOWN[0], "degraded", BELOW_HD.detail),
                (GATEWAY_DOWN[1], DAY_END, "degraded", BELOW_HD.detail),
            ],
            incidents=(BELOW_HD,),
            resolution="704x576",
            fps=25.0,
            clock_offset_s=7.8,
            retention_days=31.0,
            findings=(gate_fail, finding_of.camera_clock("cam-lobby", 7.8, 5.0)),
        ),
    )
    east_gaps = tuple(
        Span(o.start, o.end, "uncovered", f"cam-east: offline ({'; '.join(o.reasons)})") for o in EAST_OUTAGES
    )
    store_gaps = (Span(FROZEN.start, FROZEN.end, "uncovered", "cam-store: degraded (picture frozen)"),)
    zones = (
        zone("main-gate", "Main gate", "entrance", ("cam-gate-hd", "cam-lobby")),
        zone("east-gate", "东门", "entrance", ("cam-east",), east_gaps),
        zone("warehouse", "Warehouse key area", "key_area", ("cam-store",), store_gaps),
    )
    gw_down = finding_of.gateway_down(1200.0)
    findings = (
        tuple(f for z in zones for f in z.findings)
        + tuple(f for c in cameras for f in c.findings)
        + (east_warn, gw_down)
    )
    report = Report(
        site_id="plant-7",
        site_name="Riverside Plant 7",
        unit_name="Riverside Precision Manufacturing Co., Ltd.",
        timezone=TZ,
        period_label="day 2026-11-20",
        start=DAY_START,
        end=DAY_END,
        generated_at=at(24 + 0.25),
        gateway_version="0.1.0",
        policy=policy(),
        passed=False,
        findings=findings,
        zones=zones,
        cameras=cameras,
        gateway=GatewayDowntime(
            seconds=1200.0,
            percent=round(100 * 1200 / 86_400, 3),
            spans=(Span(*GATEWAY_DOWN, "unknown", "gateway not running"),),
            runs=2,
        ),
        staffing=StaffingCheck(
            headcount=820,
            key_unit=True,
            required=9,
            declared=10,
            required_full_time=3,
            declared_full_time=3,
            rule=STAFFING_RULE,
            passed=True,
        ),
        notes=NOTES,
    )
    return replace(report, **overrides)


def big_report(cameras: int = 1000, spans_per_camera: int = 40, seed: int = 7) -> Report:
    """A site with ``cameras`` cameras in ``cameras // 20`` zones, each with a busy timeline and outages."""
    rng = random.Random(seed)
    zone_count = max(1, cameras // 20)
    cams: list[CameraReport] = []
    for index in range(cameras):
        cam_id = f"cam-{index:04d}"
        step = 86_400.0 / spans_per_camera
        events: list[tuple[float, float, str, str]] = []
        outages: list[Outage] = []
        for slot in range(spans_per_camera // 2):
            ev_start = DAY_START + (2 * slot + 1) * step + rng.uniform(0, step / 4)
            if GATEWAY_DOWN[0] - step <= ev_start <= GATEWAY_DOWN[1] + step:
                continue
            ev_end = ev_start + rng.uniform(30, step / 2)
            state = rng.choice(("offline", "degraded", "online"))
            if state == "online":
                continue
            reason = "timeout" if state == "offline" else "picture blurred or out of focus"
            events.append((ev_start, ev_end, state, reason))
            if state == "offline":
                outages.append(Outage(ev_start, ev_end, ("timeout",), ongoing=False))
        name = f"Camera {index:04d} 东区 通道" if index % 3 == 0 else f"Camera {index:04d} aisle {index % 17}"
        cams.append(camera(cam_id, name, (f"zone-{index % zone_count:03d}",), events, outages=tuple(outages)))
    zones = tuple(
        zone(
            f"zone-{z:03d}",
            f"Zone {z:03d} 区域",
            "crowded_area",
            tuple(c.id for c in cams if c.zones[0] == f"zone-{z:03d}"),
        )
        for z in range(zone_count)
    )
    return sample_report(site_id="big-site", site_name="Big Site", cameras=tuple(cams), zones=zones)


def with_camera(report: Report, cam_id: str, **changes: object) -> Report:
    cameras = tuple(replace(cam, **changes) if cam.id == cam_id else cam for cam in report.cameras)  # type: ignore[arg-type]
    return replace(report, cameras=cameras)


def forwarded_report() -> Report:
    """The sample day with two uplinks: cam-gate-hd forwarded by both, cam-east by city (never
    registered while history was read), cam-store and cam-lobby not forwarded."""
    report = sample_report()
    both = CameraForwarding(("city", "district"), 84_240.0, 97.5, 3, 5400.0, 1_234_567_890)
    city = CameraForwarding(("city",), 0.0, 0.0, 0, 0.0, 0)
    none = CameraForwarding((), 0.0, 0.0, 0, 0.0, 0)
    for cam_id, fw in (("cam-gate-hd", both), ("cam-east", city), ("cam-store", none), ("cam-lobby", none)):
        report = with_camera(report, cam_id, forwarding=fw)
    forwarding = ForwardingReport(
        uplinks=(
            UplinkReport("city", ("cam-gate-hd", "cam-east"), 0.0, 0.0),
            UplinkReport("district", ("cam-gate-hd",), 84_240.0, 97.5),
        ),
        cameras=4,
        forwarded=2,
        registered=1,
        key_area_cameras=1,
        key_area_forwarded=0,
        history=True,
        definition=FORWARDING_DEFINITION,
    )
    return replace(report, forwarding=forwarding)
