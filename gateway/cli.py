"""Command line: `gateway run | check-config | user | probe | discover | onvif | report | recordings | quality |
detect`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gateway import __version__
from gateway.config import GatewayConfig, load_config
from gateway.config.loading import peek_language
from gateway.errors import ConfigError, ConfigIssue, GatewayError, InvalidRequestError
from gateway.i18n import DEFAULT_LANGUAGE, Language, _, from_environment, using
from gateway.i18n.terms import CAMERA_STATES, ROLES, term

if TYPE_CHECKING:
    from gateway.reports.model import Finding

log = logging.getLogger("gateway")

EXIT_OK, EXIT_ERROR, EXIT_CONFIG = 0, 1, 2


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        default=os.environ.get("GATEWAY_CONFIG"),
        help="site config file (default: $GATEWAY_CONFIG)",
    )


def cli_language(config: Path | str | None) -> Language:
    """The user's locale (LANG=zh_CN.UTF-8, en_US.UTF-8), else the config's site.language, else Chinese.

    The config is peeked at, not loaded: its own loading errors are worded in the language it asks for.
    """
    chosen = from_environment()
    if chosen is None and config is not None:
        chosen = peek_language(config)
    return chosen or DEFAULT_LANGUAGE


def _error(message: str) -> None:
    print(_("error: {message}").format(message=message), file=sys.stderr)


def _load(args: argparse.Namespace, *, check_secrets: bool = True) -> GatewayConfig:
    if args.config is None:
        raise ConfigError("(no config)", [])
    return load_config(args.config, check_secrets=check_secrets)


def cmd_check_config(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.files:
        # Each file's errors in the language it asks for (when the user's locale names none).
        with using(cli_language(path)):
            if not _check_one(path, check_secrets=not args.no_secrets):
                status = EXIT_CONFIG
    return status


def _check_one(path: Path, *, check_secrets: bool) -> bool:
    from gateway.analytics.check import detector_issues

    try:
        config = load_config(path, check_secrets=check_secrets)
    except ConfigError as exc:
        return _print_issues(path, exc.issues)
    if issues := detector_issues(config):
        return _print_issues(path, issues)
    shown = _("{path}: OK ({zones} zone(s), {cameras} camera(s))")
    print(shown.format(path=path, zones=len(config.zones), cameras=len(config.cameras)))
    return True


def _print_issues(path: Path, issues: Sequence[ConfigIssue]) -> bool:
    print(_("{path}: {count} error(s)").format(path=path, count=len(issues)))
    for issue in issues:
        print(f"  {issue}")
    return False


def cmd_run(args: argparse.Namespace) -> int:
    from gateway.app import create_app
    from gateway.logs import setup_logging
    from gateway.pipeline.heap import keep_heap_small, start_trimming
    from gateway.serve import serve

    # Before any thread: a small site reads its cameras in threads of this process.
    keep_heap_small()
    start_trimming()
    config = _load(args)
    setup_logging(config.logging.level)
    host = args.host or config.server.bind
    port = args.port or config.server.port
    app = create_app(config)
    log.info("API and dashboard on http://%s:%d/", host, port)
    serve(app, host, port, access_log=config.logging.level == "DEBUG")
    _exit_past_stuck_threads()
    return EXIT_OK


def _exit_past_stuck_threads() -> None:
    """End now if a daemon thread outlived the stop (a camera read stuck until its socket timeout).

    Finalizing the interpreter under such a thread kills it with a forced unwind when it comes back
    from native code; OpenCV's catch-all handlers swallow that unwind and the process aborts with
    SIGABRT, so a clean stop would look like a crash to a service manager.
    """
    stuck = [t.name for t in threading.enumerate() if t.daemon and t.is_alive()]
    if not stuck:
        return
    log.warning("stopping with thread(s) still busy: %s", ", ".join(sorted(stuck)))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_OK)


def cmd_user(args: argparse.Namespace) -> int:
    import getpass

    from gateway.admin import Actor
    from gateway.compose import open_stores

    config = _load(args, check_secrets=False)
    # Changes made at the console are audited like those made over the API, under the OS account.
    actor = Actor(f"console:{getpass.getuser()}", "console")
    with open_stores(config) as stores:
        admin, users, grants = stores.admin, stores.users, stores.grants
        cmd = args.user_cmd
        if cmd == "add":
            password = _read_password(args) if args.password_stdin else None
            user, token = admin.add_user(actor, args.name, args.role, password)
            created = _("created user {name} ({role}); token (shown once, keep it safe):")
            print(created.format(name=user.name, role=term(ROLES, user.role.value)))
            print(token)
        elif cmd == "token":
            print(admin.issue_token(actor, args.name))
        elif cmd == "revoke":
            count = admin.revoke_tokens(actor, args.name)
            print(_("revoked {count} token(s) of {name}").format(count=count, name=args.name))
        elif cmd in ("disable", "enable"):
            admin.set_disabled(actor, args.name, cmd == "disable")
            done = _("user {name} disabled") if cmd == "disable" else _("user {name} enabled")
            print(done.format(name=args.name))
        elif cmd == "passwd":
            admin.set_password(actor, args.name, _read_password(args))
            print(_("password of {name} set; their open web sessions were ended").format(name=args.name))
        elif cmd in ("grant", "ungrant"):
            kind, target = _grant_target(args)
            if cmd == "grant":
                what = admin.grant(actor, args.name, kind, target).describe()
                print(_("{name} may now see {what}").format(name=args.name, what=what))
            else:
                admin.revoke_grant(actor, args.name, kind, target)
                what = describe_grant(kind, target)
                print(_("removed {name}'s grant for {what}").format(name=args.name, what=what))
        elif cmd == "grants":
            user = users.get(args.name)
            held = grants.list_grants(args.name)
            if user.role.value in ("admin", "auditor"):
                print(
                    _("{name} is {role}: sees every camera").format(name=user.name, role=term(ROLES, user.role.value))
                )
            elif not held:
                print(_("{name} has no grants: sees no camera").format(name=user.name))
            for grant in held:
                print(_("{grant} granted by {by}").format(grant=f"{grant.describe():<32}", by=grant.created_by))
        else:
            for user in users.list():
                state = term(CAMERA_STATES, "disabled") if user.disabled else _("active")
                print(f"{user.name:<24} {term(ROLES, user.role.value):<9} {state}")
    return EXIT_OK


def _read_password(args: argparse.Namespace) -> str:
    import getpass

    if args.password_stdin:
        # One line: what a script pipes in; the trailing newline is not part of the password.
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(_("new password: "))
    if getpass.getpass(_("again: ")) != first:
        raise InvalidRequestError(_("the two passwords differ"))
    return first


def _grant_target(args: argparse.Namespace) -> tuple[str, str]:
    if args.all:
        return "all", "*"
    if args.camera:
        return "camera", args.camera
    return "zone", args.zone


def cmd_audit(args: argparse.Namespace) -> int:
    from gateway.audit import to_csv
    from gateway.compose import open_stores

    config = _load(args, check_secrets=False)
    with open_stores(config) as stores:
        log = stores.audit
        if args.audit_cmd == "verify":
            head = _parse_head(args.head) if args.head else None
            result = log.verify(head)
            for seq, what in result.problems:
                print(_("entry {seq}: {problem}").format(seq=seq, problem=what))
            if result.ok:
                state = _("audit log OK: {checked} entries checked; head {head}")
            else:
                state = _("audit log BROKEN ({count} problem(s)): {checked} entries checked; head {head}")
            head_text = f"{result.head_seq}:{result.head_hash}"
            print(state.format(count=len(result.problems), checked=result.checked, head=head_text))
            return EXIT_OK if result.ok else EXIT_ERROR
        entries = list(log.entries())
        if args.format == "csv":
            sys.stdout.write(to_csv(entries))
        else:
            import json

            for entry in entries:
                print(json.dumps(entry.as_dict(), ensure_ascii=False))
    return EXIT_OK


def _parse_head(text: str) -> tuple[int, str]:
    seq, _sep, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise InvalidRequestError(_("--head takes SEQ:HASH as `gateway audit verify` printed it"))
    return int(seq), digest.lower()


def cmd_probe(args: argparse.Namespace) -> int:
    from gateway.probe import add_credentials, format_json, format_table, probe_many, resolve_onvif

    bad = [u for u in args.urls if not u.startswith(("rtsp://", "rtsps://", "onvif://"))]
    if bad:
        _error(_("not an rtsp:// or onvif:// URL: {url}").format(url=bad[0]))
        return EXIT_CONFIG
    password = os.environ.get(args.password_env) if args.password_env else None
    urls, notes = [], []
    for url in args.urls:
        if url.startswith("onvif://"):
            resolved, note = asyncio.run(resolve_onvif(url, args.user, password, timeout_s=args.timeout))
            notes.append(note)
            if resolved is not None:
                urls.append(resolved)
            continue
        urls.append(add_credentials(url, args.user, args.password_env))
    results = probe_many(urls, max_seconds=args.seconds, transport=args.transport, timeout_s=args.timeout)
    if args.json:
        print(format_json(results, notes))
    else:
        for note in notes:
            print(note)
        if results:
            print(format_table(results))
    failed = len(urls) < len(args.urls) or not all(r.ok for r in results)
    return EXIT_ERROR if failed else EXIT_OK


def cmd_onvif(args: argparse.Namespace) -> int:
    """`gateway onvif info|set-time CAMERA`: ask one configured ONVIF camera, or set its clock."""
    from adapters.onvif import OnvifClient, OnvifError

    config = _load(args)
    camera = config.camera(args.camera)
    if camera is None or camera.source.onvif is None:
        _error(_("no ONVIF camera {camera} in the config").format(camera=repr(args.camera)))
        return EXIT_CONFIG
    onvif = camera.source.onvif
    user = camera.credentials.username if camera.credentials else None
    password = camera.credentials.password.resolve() if camera.credentials and camera.credentials.password else None

    async def run() -> str:
        async with OnvifClient(onvif.host, onvif.port, user, password, timeout_s=config.onvif.timeout_s) as client:
            before = await client.system_time()
            if args.onvif_cmd == "set-time":
                await client.set_system_time(ntp_server=args.ntp)
                after = await client.system_time()
                # Unfinished: recorded in the audit trail once it exists (issue 8); logged meanwhile.
                log.warning(
                    "camera %s: clock set by an operator, offset %s -> %s", camera.id, before.offset_s, after.offset_s
                )
                offsets = {"before": f"{before.offset_s:+.1f}", "after": f"{after.offset_s:+.1f}"}
                return _("{camera}: clock offset {before} s -> {after} s").format(camera=camera.id, **offsets)
            inventory = await client.inventory()
            info = inventory.info
            lines = [
                _("{camera}: {manufacturer} {model} firmware {firmware} serial {serial}").format(
                    camera=camera.id,
                    manufacturer=info.manufacturer,
                    model=info.model,
                    firmware=info.firmware,
                    serial=info.serial,
                ),
                "  " + _("clock offset {offset} s, NTP {ntp}").format(offset=before.offset_s, ntp=inventory.clock.ntp),
            ]
            for prof in inventory.profiles:
                enc = prof.encoding
                desc = f"{enc.codec} {enc.width}x{enc.height} {enc.fps} fps" if enc else _("no video encoder")
                profile = _("profile {token}: {encoding}").format(token=prof.token, encoding=desc)
                lines.append(f"  {profile}  {prof.stream_uri or '-'}")
            rec = inventory.recordings
            lines.append(
                "  " + _("recordings: not verifiable")
                if rec is None
                else "  "
                + _("recordings: {count}, {earliest} .. {latest}").format(
                    count=rec.recordings, earliest=rec.earliest, latest=rec.latest
                )
            )
            return "\n".join(lines)

    try:
        print(asyncio.run(run()))
    except OnvifError as exc:
        _error(f"{camera.id}: {exc.reason}: {exc.detail}")
        return EXIT_ERROR
    return EXIT_OK


def cmd_discover(args: argparse.Namespace) -> int:
    from adapters.onvif import discover
    from gateway.discover import add_to_config, endpoint_of, scope_value

    hosts = [h for item in args.hosts for h in item.split(",") if h]
    devices = asyncio.run(
        discover(
            timeout_s=args.timeout,
            interface=args.interface,
            hosts=hosts or None,
            port=args.port,
            multicast=not args.no_multicast,
        )
    )
    for device in devices:
        host, port = endpoint_of(device)
        name = scope_value(device, "name") or "-"
        hardware = scope_value(device, "hardware") or "-"
        print(f"{host}:{port}  {name}  ({hardware})  {' '.join(device.xaddrs)}")
    print(_("{count} ONVIF device(s) found").format(count=len(devices)))
    if args.write is not None:
        added = add_to_config(args.write, devices, args.user, args.password_env)
        shown = ", ".join(added) or _("none new")
        message = _(
            "added {count} camera(s) to {path}: {cameras}; assign their zones before relying on coverage reports"
        )
        print(message.format(count=len(added), path=args.write, cameras=shown))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from gateway.compose import open_stores
    from gateway.reports.coverage import build_report
    from gateway.reports.period import report_period
    from gateway.reports.render import DRAWN, render
    from gateway.tickets.store import TicketStore

    config = _load(args, check_secrets=False)
    known = {z.id for z in config.zones}
    unknown = [z for z in args.zone if z not in known]
    if unknown:
        _error(_("no zone {zone} in {config}").format(zone=repr(unknown[0]), config=args.config))
        return EXIT_CONFIG
    window = report_period(
        kind=args.period, day=args.date, start=args.start, end=args.end, tz=ZoneInfo(config.site.timezone)
    )
    with open_stores(config) as stores:
        report = build_report(
            config,
            stores.history,
            window,
            zone_ids=args.zone or None,
            ledger=stores.ledger,
            recordings=stores.recordings,
            tickets=TicketStore(stores.db),
            drawn=args.format in DRAWN,
        )
    rendered = render(report, args.format)
    output: Path | None = args.output
    if output is None and args.format == "pdf":
        output = Path(rendered.filename)
    if output is None or str(output) == "-":
        sys.stdout.buffer.write(rendered.body)
        sys.stdout.flush()
    else:
        output.write_bytes(rendered.body)
    print(report_summary(window.label, report.passed, report.findings, output), file=sys.stderr)
    return EXIT_OK


def cmd_recordings(args: argparse.Namespace) -> int:
    """`gateway recordings CAMERA [--from T] [--to T] [--json]`: what the camera's recording device holds
    for the period (default: the last 24 hours), per day: recorded spans, gaps and completeness."""
    import json
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from gateway.period import parse_period
    from gateway.recordings.audit import audit_days
    from gateway.recordings.sources import Found, ProfileGRecordings, recording_sources

    config = _load(args)
    camera = config.camera(args.camera)
    if camera is None:
        _error(_("no camera {camera} in {config}").format(camera=repr(args.camera), config=args.config))
        return EXIT_CONFIG
    source = recording_sources(config).get(camera.id)
    if source is None:
        _error(
            _("camera {camera} has no cameras[].recordings (where its recordings live)").format(camera=repr(camera.id))
        )
        return EXIT_CONFIG
    tz = ZoneInfo(config.site.timezone)
    period = parse_period(args.start, args.end, tz)

    async def search() -> Found:
        try:
            return await source.search(period.start, period.end)
        finally:
            if isinstance(source, ProfileGRecordings):
                await source.recorder.aclose()

    found = asyncio.run(search())
    days = audit_days(found.spans, period.start, period.end, tz, period.now)

    def shown(ts: float | None) -> str | None:
        return None if ts is None else datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")

    if args.json:
        out = {
            "camera_id": camera.id,
            "source": source.description,
            "recording_token": found.token,
            "earliest": shown(found.earliest),
            "latest": shown(found.latest),
            "spans": [[shown(a), shown(b)] for a, b in found.spans],
            "days": [
                {
                    "day": d.day.isoformat(),
                    "recorded_s": round(d.recorded_s, 3),
                    "completeness_percent": round(d.completeness_percent, 3),
                    "gaps": [[shown(a), shown(b)] for a, b in d.gaps],
                }
                for d in days
            ],
            "queries": found.queries,
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(
        _("{camera}: {source}, recording {token}").format(
            camera=camera.id, source=source.description, token=found.token
        )
    )
    oldest, newest = shown(found.earliest) or "-", shown(found.latest) or "-"
    print("  " + _("oldest {oldest}, newest {newest}").format(oldest=oldest, newest=newest))
    for d in days:
        recorded = _("{day}: {percent} % recorded, {count} gap(s)")
        print("  " + recorded.format(day=d.day, percent=f"{d.completeness_percent:6.2f}", count=len(d.gaps)))
        for a, b in d.gaps:
            gap = _("gap {start} .. {end} ({minutes} min)")
            print("      " + gap.format(start=shown(a), end=shown(b), minutes=f"{(b - a) / 60:.1f}"))
    print("  " + _("({count} request(s) to the device)").format(count=found.queries), file=sys.stderr)
    return EXIT_OK


def cmd_quality(args: argparse.Namespace) -> int:
    from gateway.compose import open_stores

    config = _load(args, check_secrets=False)
    if config.camera(args.camera) is None:
        _error(_("no camera {camera} in {config}").format(camera=repr(args.camera), config=args.config))
        return EXIT_CONFIG
    with open_stores(config) as stores:
        forgotten = stores.references.reset(args.camera)
    if forgotten:
        done = _(
            "camera {camera}: reference picture forgotten; the next good picture becomes the new one once the "
            "gateway restarts (a running gateway keeps its copy until then)"
        )
    else:
        done = _("camera {camera}: reference picture not stored")
    print(done.format(camera=args.camera))
    return EXIT_OK


def cmd_detect(args: argparse.Namespace) -> int:
    from gateway.analytics.cli import detect

    return detect(args, _load(args) if args.config is not None else None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Site video-surveillance gateway")
    parser.add_argument("--version", action="version", version=f"gateway {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the gateway: camera supervisors and the API")
    _config_arg(p)
    p.add_argument("--host", help="override server.bind")
    p.add_argument("--port", type=int, help="override server.port")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check-config", help="validate config files and print every error with its key path")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--no-secrets", action="store_true", help="do not check that referenced secrets are readable")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("user", help="manage users and API tokens")
    user_sub = p.add_subparsers(dest="user_cmd", required=True)
    for name, help_text in (
        ("add", "create a user and print its first token once"),
        ("token", "issue an additional token for a user"),
        ("revoke", "revoke every token of a user"),
        ("disable", "disable a user (ends their web sessions)"),
        ("enable", "enable a user"),
        ("passwd", "set a user's password for the web pages (ends their web sessions)"),
        ("grant", "let a police or operator user see a camera, a zone, or all cameras"),
        ("ungrant", "take back a grant"),
        ("grants", "list a user's grants"),
        ("list", "list users"),
    ):
        q = user_sub.add_parser(name, help=help_text)
        _config_arg(q)
        if name != "list":
            q.add_argument("name")
        if name == "add":
            q.add_argument("--role", required=True, choices=["admin", "operator", "auditor", "police"])
        if name in ("add", "passwd"):
            q.add_argument(
                "--password-stdin", action="store_true", help="read the password from the first line of stdin"
            )
        if name in ("grant", "ungrant"):
            which = q.add_mutually_exclusive_group(required=True)
            which.add_argument("--camera", metavar="ID")
            which.add_argument("--zone", metavar="ID")
            which.add_argument("--all", action="store_true", help="every camera, including ones added later")
    p.set_defaults(func=cmd_user)

    p = sub.add_parser("audit", help="check or export the audit log")
    audit_sub = p.add_subparsers(dest="audit_cmd", required=True)
    q = audit_sub.add_parser("verify", help="check the hash chain; exit status 1 and where, if broken")
    _config_arg(q)
    q.add_argument("--head", metavar="SEQ:HASH", help="a head printed by an earlier verify, which must still be there")
    q = audit_sub.add_parser("export", help="print every entry, oldest first")
    _config_arg(q)
    q.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("probe", help="measure RTSP streams (codec, resolution, fps, bitrate, GOP) in parallel")
    p.add_argument("urls", nargs="+", metavar="URL", help="rtsp:// URLs, or onvif://[user@]host[:port]")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--seconds", type=float, default=5.0, help="read at most this long per stream (default 5)")
    p.add_argument("--timeout", type=float, default=5.0, help="connect and read timeout (default 5)")
    p.add_argument("--transport", choices=["tcp", "udp"], default="tcp")
    p.add_argument("--user", help="user name to log in with (instead of putting it in the URL)")
    p.add_argument("--password-env", help="environment variable holding the password (keeps it out of ps)")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("discover", help="find ONVIF cameras (WS-Discovery) and optionally add them to a config")
    p.add_argument("--interface", help="local IPv4 address to send the multicast probe from")
    p.add_argument("--hosts", action="append", default=[], help="hosts or CIDR ranges to probe by unicast")
    p.add_argument("--port", type=int, default=3702, help="WS-Discovery port (default 3702)")
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--no-multicast", action="store_true", help="only probe --hosts by unicast")
    p.add_argument("--write", type=Path, help="add the cameras found to this site config")
    p.add_argument("--user", help="user name to write into the new cameras' credentials")
    p.add_argument("--password-env", help="environment variable the new cameras' password is read from")
    p.set_defaults(func=cmd_discover)

    p = sub.add_parser("onvif", help="ask a configured ONVIF camera about itself, or set its clock")
    onvif_sub = p.add_subparsers(dest="onvif_cmd", required=True)
    for name, help_text in (
        ("info", "print its identity, clock, profiles and recordings"),
        ("set-time", "set its clock to ours (or point it at --ntp SERVER)"),
    ):
        q = onvif_sub.add_parser(name, help=help_text)
        _config_arg(q)
        q.add_argument("camera", help="camera id")
        if name == "set-time":
            q.add_argument("--ntp", metavar="SERVER", help="configure NTP instead of setting the time once")
    p.set_defaults(func=cmd_onvif)

    p = sub.add_parser("report", help="write the coverage/compliance report for a period")
    _config_arg(p)
    p.add_argument("--from", dest="start", help="start, ISO 8601 (site time zone) or Unix seconds")
    p.add_argument("--to", dest="end", help="end (default now)")
    p.add_argument("--period", choices=["day", "week", "month"], help="a calendar period instead of --from/--to")
    p.add_argument("--date", help="a day inside --period, e.g. 2026-11-22 (default today)")
    p.add_argument("--zone", action="append", default=[], help="only this zone (repeat for several)")
    p.add_argument("--format", choices=["json", "csv", "html", "pdf"], default="json")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: stdout; PDF: its own file name)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("recordings", help="list a camera's recorded spans and gaps (ONVIF Profile G)")
    _config_arg(p)
    p.add_argument("camera", help="camera id")
    p.add_argument("--from", dest="start", help="start (ISO 8601 or Unix seconds; default: 24 h before --to)")
    p.add_argument("--to", dest="end", help="end (default: now)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_recordings)

    p = sub.add_parser("quality", help="picture-quality housekeeping")
    quality_sub = p.add_subparsers(dest="quality_cmd", required=True)
    q = quality_sub.add_parser(
        "reset-reference", help="forget a camera's reference picture after re-aiming it on purpose"
    )
    _config_arg(q)
    q.add_argument("camera", help="camera id")
    p.set_defaults(func=cmd_quality)

    p = sub.add_parser("detect", help="run person/behaviour detection on a clip or URL and print the events")
    _config_arg(p)
    p.add_argument("source", help="video file (MP4, MKV, raw .h264/.h265) or rtsp:// URL")
    p.add_argument("--camera", help="use this configured camera's rules (needs -c)")
    p.add_argument("--rules", type=Path, help="YAML file with one camera's analytics block (rules, image_size, fps)")
    p.add_argument("--backend", choices=["yolo_onnx", "hog"], help="detector backend (default: the config's)")
    p.add_argument("--model", help="model manifest name (default: the config's)")
    p.add_argument("--fps", type=float, help="analysed frames a second (default: the config's)")
    p.add_argument("--no-motion-gate", action="store_true", help="run the detector on every sampled frame")
    p.add_argument("--no-regions", action="store_true", help="run the detector on whole frames, not crops")
    p.add_argument("--seconds", type=float, help="stop after this much of the clip or stream")
    p.add_argument("--snapshots", type=Path, help="write each event's snapshot JPEG into this folder")
    p.add_argument("--json", action="store_true", help="print events as JSON lines")
    p.set_defaults(func=cmd_detect)

    return parser


def report_summary(label: str, passed: bool, findings: Sequence[Finding], output: Path | None) -> str:
    """The line `gateway report` ends with: the verdict and the failures, in the CLI's language."""
    fails = sum(1 for f in findings if f.severity == "fail")
    verdict = _("PASS") if passed else _("FAIL")
    line = _("coverage report {period}: {verdict} ({count} failure(s))").format(
        period=label, verdict=verdict, count=fails
    )
    if output is not None and str(output) != "-":
        line += _(", written to {path}").format(path=output)
    return line


def describe_grant(kind: str, target: str) -> str:
    from gateway.access import GrantKind, describe

    return describe(GrantKind(kind), target)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = getattr(args, "config", None)
    files = getattr(args, "files", None) or [None]
    # A context, not set_language: main() may be called in-process (tests, the fuzz harness).
    with using(cli_language(config if config is not None else files[0])):
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    try:
        result: int = args.func(args)
        return result
    except ConfigError as exc:
        if not exc.issues:
            _error(_("no config file given (use -c FILE or set GATEWAY_CONFIG)"))
        else:
            print(exc, file=sys.stderr)
        return EXIT_CONFIG
    except GatewayError as exc:
        _error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
