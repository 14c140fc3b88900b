"""`gateway probe`: measure streams without decoding, many at once."""

from __future__ import annotations

import json
import os
import time
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from urllib.parse import unquote, urlsplit

from adapters.common.redact import mask_url, with_credentials
from adapters.rtsp import SourceError
from gateway.health.stats import StreamStats
from gateway.i18n import _, pgettext
from gateway.i18n.terms import reason_text
from gateway.streams.sources import url_source


@dataclass(frozen=True)
class ProbeResult:
    url: str  # password masked
    ok: bool
    reason: str | None = None
    detail: str | None = None
    codec: str | None = None
    profile: str | None = None
    level: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    signalled_fps: float | None = None
    bitrate_kbps: float | None = None
    gop_frames: int | None = None
    keyframe_interval_s: float | None = None
    seconds: float = 0.0


def probe_one(url: str, *, max_seconds: float = 5.0, transport: str = "tcp", timeout_s: float = 5.0) -> ProbeResult:
    """Read until two keyframes (so the GOP is known) or `max_seconds`, whichever comes first."""
    started = time.monotonic()
    source = url_source("probe", url, transport=transport, timeout_s=timeout_s)
    shown = mask_url(url)
    try:
        stats = StreamStats(source.open())
        deadline = started + max_seconds
        for packet in source.packets():
            stats.add(packet)
            # From the first keyframe to the second is one whole GOP, wherever in a GOP we joined.
            if stats.keyframes >= 2 or packet.arrival >= deadline:
                break
    except SourceError as exc:
        return ProbeResult(
            shown, ok=False, reason=exc.reason.value, detail=exc.detail, seconds=round(time.monotonic() - started, 2)
        )
    finally:
        source.close()
    m = stats.snapshot()
    return ProbeResult(
        shown,
        ok=True,
        codec=m.codec,
        profile=m.profile,
        level=m.level,
        width=m.width,
        height=m.height,
        fps=m.fps,
        signalled_fps=m.signalled_fps,
        bitrate_kbps=m.bitrate_kbps,
        gop_frames=m.gop_frames,
        keyframe_interval_s=m.keyframe_interval_s,
        seconds=round(time.monotonic() - started, 2),
    )


def probe_many(
    urls: Sequence[str], *, max_seconds: float = 5.0, transport: str = "tcp", timeout_s: float = 5.0, workers: int = 64
) -> list[ProbeResult]:
    """Probe in parallel threads (PyAV releases the GIL while it waits on sockets); keep the order."""
    if not urls:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(urls)), thread_name_prefix="probe") as pool:
        return list(
            pool.map(lambda u: probe_one(u, max_seconds=max_seconds, transport=transport, timeout_s=timeout_s), urls)
        )


def add_credentials(url: str, user: str | None, password_env: str | None) -> str:
    if user is None:
        return url
    password = os.environ.get(password_env) if password_env else None
    return with_credentials(url, user, password)


def format_table(results: Sequence[ProbeResult]) -> str:
    header = (
        pgettext("probe", "URL"),
        pgettext("probe", "CODEC"),
        pgettext("probe", "PROFILE"),
        pgettext("probe", "RESOLUTION"),
        "FPS",
        "KBIT/S",
        "GOP",
        pgettext("probe", "KEYINT"),
        pgettext("probe", "TIME"),
        pgettext("probe", "STATUS"),
    )
    rows = [header]
    for r in results:
        rows.append(
            (
                r.url,
                r.codec or "-",
                r.profile or "-",
                f"{r.width}x{r.height}" if r.width else "-",
                f"{r.fps:g}" if r.fps is not None else "-",
                f"{r.bitrate_kbps:g}" if r.bitrate_kbps is not None else "-",
                str(r.gop_frames) if r.gop_frames is not None else "-",
                f"{r.keyframe_interval_s:g}s" if r.keyframe_interval_s is not None else "-",
                f"{r.seconds:g}s",
                pgettext("probe", "ok") if r.ok else (reason_text(r.reason) or pgettext("probe", "failed")),
            )
        )
    # Chinese characters take two columns of a terminal.
    widths = [max(_width(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def format_json(results: Sequence[ProbeResult], onvif: Sequence[str] = ()) -> str:
    if not onvif:
        return json.dumps([asdict(r) for r in results], indent=2)
    return json.dumps({"onvif": list(onvif), "streams": [asdict(r) for r in results]}, indent=2)


async def resolve_onvif(
    url: str, user: str | None, password: str | None, *, timeout_s: float = 5.0
) -> tuple[str | None, str]:
    """The main stream's rtsp:// URL of an onvif://[user@]host[:port] device, and a line about the device."""
    from adapters.onvif import OnvifClient, OnvifError
    from gateway.inventory import choose_profile

    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    user = user or (unquote(parts.username) if parts.username else None)
    if parts.password:
        password = unquote(parts.password)
    shown = f"onvif://{host}:{port}"
    try:
        async with OnvifClient(host, port, user, password, timeout_s=timeout_s) as client:
            inventory = await client.inventory()
    except OnvifError as exc:
        return None, f"{shown}: {reason_text(exc.reason)}: {exc.detail}"
    main = choose_profile(inventory.profiles, None)
    info, clock = inventory.info, inventory.clock
    offset = _("{offset} s").format(offset=f"{clock.offset_s:+.1f}") if clock.offset_s is not None else _("unknown")
    if inventory.recordings is None:
        retention = _("not verifiable")
    elif inventory.recordings.earliest and inventory.recordings.latest:
        days = (inventory.recordings.latest - inventory.recordings.earliest).total_seconds() / 86400
        retention = _("{days} days recorded").format(days=f"{days:.1f}")
    else:
        retention = _("no recordings")
    note = _(
        "{device}: {manufacturer} {model} (firmware {firmware}), clock {offset}, {profiles} profile(s), "
        "retention {retention}"
    ).format(
        device=shown,
        manufacturer=info.manufacturer,
        model=info.model,
        firmware=info.firmware,
        offset=offset,
        profiles=len(inventory.profiles),
        retention=retention,
    )
    if main is None or not main.stream_uri:
        return None, note + _(", no video stream")
    # The camera's stream takes the same account as its ONVIF service.
    return with_credentials(main.stream_uri, user, password), note + _(", main stream {token}").format(token=main.token)
