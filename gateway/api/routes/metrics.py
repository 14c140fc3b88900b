"""Prometheus metrics in the text exposition format (written by hand: a few dozen lines, no dependency)."""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from gateway import __version__
from gateway.api.deps import AccessDep, RuntimeDep, require
from gateway.auth import Role
from gateway.errors import PermissionDeniedError
from gateway.health.state import CameraState
from gateway.i18n import _
from gateway.runtime import Runtime

router = APIRouter(tags=["system"])
_UP = (CameraState.ONLINE, CameraState.DEGRADED)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    """A sample value, exact: counters of bytes pass a million within minutes, and `:g` kept six digits
    (a counter that moves in steps of hundreds, and rates that jump)."""
    if isinstance(value, int):
        return str(int(value))  # bool too
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float | None]]) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            if value is None:
                continue
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            number = _number(value)
            self.lines.append(f"{name}{{{text}}} {number}" if text else f"{name} {number}")

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


def render_metrics(runtime: Runtime) -> str:
    out = _Exposition()
    statuses = runtime.tracker.all()
    cam = [({"camera": s.camera_id}, s) for s in statuses]
    out.family("gateway_info", "gauge", "Gateway version", [({"version": __version__}, 1)])
    out.family("gateway_start_time_seconds", "gauge", "Unix time the gateway started", [({}, runtime.started_at)])
    out.family(
        "gateway_camera_up",
        "gauge",
        "1 when the camera delivers video (online or degraded)",
        [(labels, 1.0 if s.state in _UP else 0.0) for labels, s in cam],
    )
    out.family(
        "gateway_camera_state",
        "gauge",
        "1 for the camera's current state",
        [({**labels, "state": st.value}, 1.0 if s.state is st else 0.0) for labels, s in cam for st in CameraState],
    )
    out.family(
        "gateway_camera_fps",
        "gauge",
        "Measured frame rate (from timestamps)",
        [(labels, s.measured.fps) for labels, s in cam],
    )
    out.family(
        "gateway_camera_bitrate_bits_per_second",
        "gauge",
        "Measured bitrate",
        [
            (labels, s.measured.bitrate_kbps * 1000 if s.measured.bitrate_kbps is not None else None)
            for labels, s in cam
        ],
    )
    out.family(
        "gateway_camera_width_pixels",
        "gauge",
        "Measured picture width",
        [(labels, s.measured.width) for labels, s in cam],
    )
    out.family(
        "gateway_camera_height_pixels",
        "gauge",
        "Measured picture height",
        [(labels, s.measured.height) for labels, s in cam],
    )
    out.family(
        "gateway_camera_gop_frames",
        "gauge",
        "Frames from one keyframe to the next",
        [(labels, s.measured.gop_frames) for labels, s in cam],
    )
    out.family(
        "gateway_camera_reconnects_total",
        "counter",
        "Failed sessions since the gateway started",
        [(labels, s.reconnects) for labels, s in cam],
    )
    out.family(
        "gateway_camera_bus_dropped_total",
        "counter",
        "Packets dropped by slow consumers",
        [({"camera": cid}, bus.dropped()) for cid, bus in runtime.buses.items()],
    )
    out.family(
        "gateway_history_pending_rows", "gauge", "History rows waiting to be written", [({}, runtime.history.pending())]
    )
    out.family(
        "gateway_history_failed_writes",
        "gauge",
        "Consecutive failed history writes",
        [({}, runtime.history.failed_writes)],
    )
    _analytics(out, runtime)
    _uplinks(out, runtime)
    _outbox(out, runtime)
    _parts(out, runtime)
    return out.render()


def _outbox(out: _Exposition, runtime: Runtime) -> None:
    """Figures as of the outbox's last refresh (the /metrics handler refreshes first)."""
    status = runtime.outbox.status()
    if not status["enabled"]:
        return
    out.family(
        "gateway_outbox_storage_ok",
        "gauge",
        "0 while messages cannot be stored (disk full)",
        [({}, status["storage"] == "ok")],
    )
    out.family(
        "gateway_outbox_memory_messages",
        "gauge",
        "Messages waiting in memory for storage",
        [({}, status["waiting_in_memory"])],
    )
    out.family(
        "gateway_outbox_memory_dropped_total",
        "counter",
        "Messages lost because storage failed and the memory buffer was full",
        [({}, status["dropped_in_memory"])],
    )
    # A GA/T 1400 platform's subscriptions are destinations of their own, listed under it.
    flat = [e for d in status["destinations"] for e in (d, *d.get("subscriptions", ()))]
    dests = [({"destination": d["id"], "type": d["type"]}, d) for d in flat]
    out.family(
        "gateway_outbox_connected",
        "gauge",
        "1 while the destination is reachable",
        [(lb, d["connected"]) for lb, d in dests],
    )
    out.family("gateway_outbox_backlog", "gauge", "Undelivered messages", [(lb, d["backlog"]) for lb, d in dests])
    out.family(
        "gateway_outbox_oldest_age_seconds",
        "gauge",
        "Age of the oldest undelivered message",
        [(lb, d["oldest_undelivered_age_s"] or 0.0) for lb, d in dests],
    )
    for key, help_text in (
        ("delivered", "Messages the destination confirmed"),
        ("rejected", "Messages the destination refused for good"),
        ("expired", "Health messages that went stale undelivered"),
        ("dropped", "Undelivered messages lost to the retention bounds"),
    ):
        out.family(f"gateway_outbox_{key}_total", "counter", help_text, [(lb, d[key]) for lb, d in dests])
    out.family(
        "gateway_outbox_client_restarts_total",
        "counter",
        "Times the destination's client failed inside (a library or gateway bug) and was made anew",
        [(lb, d.get("client_restarts", 0)) for lb, d in dests],
    )


def _parts(out: _Exposition, runtime: Runtime) -> None:
    parts = [({"part": p.name, "kind": p.kind}, p) for p in runtime.watchdog.parts()]
    out.family(
        "gateway_part_up",
        "gauge",
        "1 while the long-lived task or thread runs; 0 while it waits to start again after a failure",
        [(lb, p.down_since is None) for lb, p in parts],
    )
    out.family(
        "gateway_part_restarts_total",
        "counter",
        "Times the task or thread failed (or ended) and was started again",
        [(lb, p.restarts) for lb, p in parts],
    )


def _uplinks(out: _Exposition, runtime: Runtime) -> None:
    links = runtime.uplinks.status()
    if not links:
        return
    labels = [({"platform": u["id"]}, u) for u in links]
    out.family(
        "gateway_gb_registered",
        "gauge",
        "1 while registered to the GB/T 28181 platform",
        [(lb, 1.0 if u["state"] == "registered" else 0.0) for lb, u in labels],
    )
    for name, key, help_text in (
        ("gateway_gb_keepalive_ok_total", "keepalive_ok", "Keepalives the platform answered"),
        ("gateway_gb_keepalive_missed_total", "keepalive_missed", "Keepalives left unanswered"),
        ("gateway_gb_register_failures_total", "failures", "Failed registrations and lost links"),
        ("gateway_gb_queries_total", "queries", "Catalog/DeviceInfo/DeviceStatus queries received"),
        ("gateway_gb_responses_failed_total", "responses_failed", "Query responses the platform did not accept"),
        ("gateway_gb_invites_total", "invites", "INVITEs received (live video requests)"),
        ("gateway_gb_invites_refused_total", "invites_refused", "INVITEs answered with an error"),
        ("gateway_gb_sessions_started_total", "sessions_started", "Live sessions that started streaming"),
        ("gateway_gb_byes_sent_total", "byes_sent", "Sessions we ended with BYE (camera lost, media failed)"),
        ("gateway_gb_sent_bytes_total", "bytes_sent", "Live video bytes sent (RTP, framing included)"),
        ("gateway_gb_notify_sent_total", "notify_sent", "Catalog and alarm NOTIFYs the platform accepted"),
        ("gateway_gb_alarms_total", "alarms_sent", "Alarms sent to the platform"),
        ("gateway_gb_link_restarts_total", "restarts", "Times the link's task ended by a bug and was started again"),
    ):
        out.family(name, "counter", help_text, [(lb, u["counters"].get(key, 0)) for lb, u in labels])
    out.family(
        "gateway_gb_sessions",
        "gauge",
        "Live video sessions in progress",
        [(lb, len(u["sessions"])) for lb, u in labels],
    )
    out.family(
        "gateway_gb_subscriptions",
        "gauge",
        "Catalog and alarm subscriptions in force",
        [(lb, len(u["subscriptions"])) for lb, u in labels],
    )


_ANALYTICS_FRAMES = {
    "sampled": "sampled_frames",
    "motion": "motion_frames",
    "detected": "detected_frames",
    "dropped_busy": "dropped_busy",
    "decode_error": "decode_errors",
}


def _analytics(out: _Exposition, runtime: Runtime) -> None:
    status = runtime.analytics.status()
    if status["state"] == "off":
        return
    out.family(
        "gateway_analytics_running", "gauge", "1 while person detection runs", [({}, status["state"] == "running")]
    )
    cams = status["cameras"]
    out.family(
        "gateway_analytics_frames_total",
        "counter",
        "Analysed frames by stage (sampled, with motion, detected, dropped while the detector was busy)",
        [({"camera": c, "stage": stage}, v[key]) for c, v in cams.items() for stage, key in _ANALYTICS_FRAMES.items()],
    )
    out.family(
        "gateway_analytics_inferences_total",
        "counter",
        "Detector inferences: on whole frames, and on regions (crops around motion and tracked people)",
        [({"camera": c, "kind": "whole"}, v["whole_frames"]) for c, v in cams.items()]
        + [({"camera": c, "kind": "region"}, v["region_inferences"]) for c, v in cams.items()],
    )
    out.family(
        "gateway_analytics_events_total",
        "counter",
        "Detection events stored",
        [({"camera": c}, v["events"]) for c, v in cams.items()],
    )
    detector = status["detector"]
    if detector is not None:
        out.family("gateway_detector_runs_total", "counter", "Detector runs", [({}, detector["runs"])])
        out.family(
            "gateway_detector_errors_total", "counter", "Frames the detector failed on", [({}, detector["errors"])]
        )
        ms = detector["median_ms"]
        out.family(
            "gateway_detector_seconds",
            "gauge",
            "Median detector time per frame, last 200 frames",
            [({}, ms / 1000 if ms is not None else None)],
        )
        out.family(
            "gateway_detector_busy_ratio",
            "gauge",
            "Share of time the detector ran",
            [({}, detector["busy_percent"] / 100)],
        )


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    dependencies=[Depends(require(Role.ADMIN, Role.OPERATOR, Role.AUDITOR))],
)
async def metrics(runtime: RuntimeDep, access: AccessDep) -> PlainTextResponse:
    # The figures name every camera of the site; an operator granted some cameras must not learn of
    # the others here (the grant rule of docs/api.md, "Grants"). A scraper uses an admin's or auditor's token.
    if not access.all_cameras:
        raise PermissionDeniedError(_("metrics cover every camera: this needs a grant of all cameras"))
    await runtime.outbox.refresh_status()
    return PlainTextResponse(render_metrics(runtime), media_type="text/plain; version=0.0.4; charset=utf-8")
