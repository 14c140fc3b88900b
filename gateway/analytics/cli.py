"""`gateway detect`: the analytics pipeline on one clip or stream, events printed as they fire."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pydantic import ValidationError

from adapters.rtsp import SourceError
from gateway.analytics.analyzer import CameraAnalyzer, detector_confidence
from gateway.analytics.frames import Frame
from gateway.analytics.offline import run_clip
from gateway.analytics.rules import RuleHit
from gateway.analytics.service import event_from_hit
from gateway.analytics.snapshot import render_snapshot
from gateway.config import GatewayConfig, issues_from_validation
from gateway.config.analytics import AnalyticsConfig, CameraAnalytics
from gateway.errors import ConfigError, ConfigIssue, GatewayError
from gateway.i18n import _
from models.errors import ModelError
from models.registry import load_detector


def _rules(args: argparse.Namespace, config: GatewayConfig | None) -> CameraAnalytics:
    if args.camera:
        if config is None:
            raise ConfigError(_("(command line)"), [ConfigIssue("--camera", _("needs a site config: -c FILE"))])
        camera = config.camera(args.camera)
        if camera is None:
            issue = ConfigIssue("--camera", _("no camera with this id"), args.camera)
            raise ConfigError(str(args.config), [issue])
        return camera.analytics or CameraAnalytics()
    if args.rules:
        source = str(args.rules)
        try:
            data = yaml.safe_load(Path(args.rules).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            issue = ConfigIssue(_("(file)"), _("cannot read: {reason}").format(reason=exc))
            raise ConfigError(source, [issue]) from None
        try:
            return CameraAnalytics.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(source, issues_from_validation(exc)) from None
    return CameraAnalytics()


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m // 60):02d}:{int(m % 60):02d}:{s:06.3f}"


def detect(args: argparse.Namespace, config: GatewayConfig | None) -> int:
    analytics = _rules(args, config)
    if not str(args.source).startswith(("rtsp://", "rtsps://")) and not Path(args.source).is_file():
        raise GatewayError(_("no such file: {path}").format(path=args.source))
    settings = config.analytics if config is not None else AnalyticsConfig()
    detector_settings = settings.detector.model_copy(
        update={k: v for k, v in (("backend", args.backend), ("model", args.model)) if v is not None}
    )
    update: dict[str, object] = {"detector": detector_settings}
    if args.fps:
        update["fps"] = args.fps
    if args.no_motion_gate:
        update["motion"] = settings.motion.model_copy(update={"enabled": False})
    if args.no_regions:
        detector_settings = detector_settings.model_copy(update={"regions": False})
        update["detector"] = detector_settings
    settings = settings.model_copy(update=update)
    if args.fps:
        analytics = analytics.model_copy(update={"fps": args.fps})
    try:
        detector = load_detector(
            detector_settings.backend,
            model=detector_settings.model,
            models_dir=detector_settings.models_dir,
            threads=detector_settings.threads,
            confidence=detector_confidence(settings),  # low boxes for the tracker's second matching
            runtime=detector_settings.runtime,
        )
    except ModelError as exc:
        raise GatewayError(str(exc)) from None
    tz = ZoneInfo(config.site.timezone) if config is not None else ZoneInfo("UTC")
    if args.snapshots:
        args.snapshots.mkdir(parents=True, exist_ok=True)

    def on_hit(hit: RuleHit, frame: Frame, analyzer: CameraAnalyzer) -> None:
        event = event_from_hit(args.camera or "clip", hit, frame)
        if args.json:
            print(
                json.dumps(
                    {
                        "t": round(hit.at, 3),
                        "rule": hit.rule_id,
                        "kind": hit.kind,
                        "zone": hit.zone,
                        "tracks": list(hit.track_ids),
                        "detail": hit.detail,
                        "message": hit.message,
                    }
                )
            )
        else:
            print(f"{_clock(hit.at)}  {hit.kind:<13} {hit.rule_id:<16} tracks={list(hit.track_ids)}  {hit.message}")
        if args.snapshots:
            jpeg = render_snapshot(
                frame.image,
                event.boxes,
                label=f"{hit.kind} {hit.rule_id}",
                overlays=analyzer.overlay(hit.rule_id),
                quality=settings.snapshot_quality,
            )
            (args.snapshots / f"{hit.at:09.3f}-{hit.rule_id}.jpg").write_bytes(jpeg)

    gate = _("motion gate on") if settings.motion.enabled else _("motion gate off")
    print(
        _("detector: {detector}; {rules} rule(s); {fps} analysed fps; {gate}").format(
            detector=detector.name, rules=len(analytics.rules), fps=f"{analytics.fps or settings.fps:g}", gate=gate
        )
    )
    try:
        result = run_clip(args.source, analytics, settings, detector, tz=tz, max_seconds=args.seconds, on_hit=on_hit)
    except SourceError as exc:
        raise GatewayError(_("cannot read {path}: {reason}").format(path=args.source, reason=exc)) from None
    finally:
        detector.close()
    a, s = result.analyzer, result.sampler
    per_run = 1000 * result.detector_s / a.detected if a.detected else 0.0
    done = _(
        "done: {decoded} frames decoded, {sampled} sampled, {motion} with motion, detector ran on {detected} "
        "({per_run} ms each), {tracks} track(s), {events} event(s) in {seconds} s"
    )
    print(
        done.format(
            decoded=s.decoded,
            sampled=s.sampled,
            motion=a.motion,
            detected=a.detected,
            per_run=f"{per_run:.0f}",
            tracks=len(result.track_ids),
            events=len(result.hits),
            seconds=f"{result.wall_s:.1f}",
        )
    )
    r = result.regions
    print(
        _("looked at: {whole} whole frame(s), {cropped} frame(s) in regions ({inferences} crop(s))").format(
            whole=r.full, cropped=r.cropped, inferences=r.regions
        )
    )
    for rule_id, counts in result.counts.items():
        print(f"line {rule_id}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0
