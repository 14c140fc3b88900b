"""`python -m sim demo` (`make demo`): a simulated site of real local RTSP cameras, and the gateway running on it.

The cameras are GStreamer RTSP servers on 127.0.0.1 serving generated clips; the gateway reads them
exactly as it would read a site's cameras. What each camera shows is chosen by its path in the
demo config, so the config stays the single description of the site.
"""

from __future__ import annotations

import logging
import secrets
import sys
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from gateway.config import GatewayConfig, load_config
from gateway.errors import ConfigError, ConfigIssue, ConflictError
from sim.nvr import NvrDeviceServer
from sim.onvif_device import OnvifDeviceServer
from sim.ptz import PtzDeviceServer, make_ptz_picture
from sim.recordings import make_recordings
from sim.server import PtzView, RtspServerProcess, SimulatorError

log = logging.getLogger(__name__)

PASSWORD_ENV = "GATEWAY_DEMO_RTSP_PASSWORD"  # noqa: S105 - a variable name, not a password
RTSP_USER = "demo"
ADMIN_USER = "demo-admin"

# Which clip each demo camera path serves (see sim.clips for what the clips show).
CLIP_FOR_PATH = {
    "/gate": "hd_h264",
    "/lobby": "hd_h265",
    "/corridor": "sd_h264",
    "/server-room": "frozen",
    "/warehouse": "dark",
    "/carpark": "hd720_h264",
}
# Cameras on these paths have a microphone: a test tone in G.711 A-law beside the video, which a GB/T
# 28181 platform gets inside its PS stream (health, pictures and live view take the video alone).
AUDIO_FOR_PATH = {"/lobby": "pcma"}
# Cameras on this path drop out: their server is stopped for DOWN_S out of every minute.
FLAPPING_PATHS = frozenset({"/carpark"})
UP_S, DOWN_S = 40.0, 20.0


@dataclass(frozen=True)
class Mount:
    port: int
    path: str
    clip: str


# ONVIF cameras of the demo are served by a simulated ONVIF device whose main stream is this clip,
# on a mount of the first RTSP server.
ONVIF_CLIP = "hd_h264"
# These ONVIF cameras are PTZ domes (sim/ptz.py): their picture, a window over real footage, moves with
# the pad on the camera page; each has an RTSP server of its own.
PTZ_CAMERAS = frozenset({"dome-ptz"})
PTZ_STATE_DIR = Path("var/demo/ptz")


def _onvif_path(port: int) -> str:
    return f"/onvif-{port}"


def demo_mounts(config: GatewayConfig) -> list[Mount]:
    """Derive the RTSP mounts to serve from the camera URLs (and ONVIF devices) of the demo config."""
    mounts = []
    rtsp_ports = []
    for cam in config.cameras:
        if cam.source.rtsp is None:
            continue
        url = urlsplit(cam.source.rtsp)
        if url.hostname not in ("127.0.0.1", "localhost") or url.path not in CLIP_FOR_PATH:
            raise SimulatorError(
                f"camera {cam.id}: the demo serves only rtsp://127.0.0.1:PORT{{{','.join(CLIP_FOR_PATH)}}}"
            )
        mounts.append(Mount(url.port or 554, url.path, CLIP_FOR_PATH[url.path]))
        if url.path not in FLAPPING_PATHS:
            rtsp_ports.append(url.port or 554)
    for cam in config.cameras:
        onvif = cam.source.onvif
        if onvif is None or cam.id in PTZ_CAMERAS:
            continue
        if onvif.host not in ("127.0.0.1", "localhost") or not rtsp_ports:
            raise SimulatorError(f"camera {cam.id}: the demo simulates ONVIF devices on 127.0.0.1 only")
        # Beside the first steady camera: a flapping camera's server is taken down every minute.
        mounts.append(Mount(rtsp_ports[0], _onvif_path(onvif.port), ONVIF_CLIP))
    return mounts


class Flapper:
    """Stops and restarts one RTSP server on a schedule, like a camera on a flaky switch port."""

    def __init__(self, server: RtspServerProcess, up_s: float, down_s: float) -> None:
        self._server = server
        self._up_s, self._down_s = up_s, down_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="demo-flapper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._up_s):
            log.info("demo: taking %s down for %.0f s", self._server.url("/"), self._down_s)
            self._server.kill()
            if self._stop.wait(self._down_s):
                return
            try:
                self._server.start()
            except SimulatorError as exc:
                log.error("demo: could not restart the flapping camera: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


def _onvif_device(port: int, rtsp: RtspServerProcess, password: str) -> OnvifDeviceServer:
    """A simulated ONVIF camera: 40 days of recordings, a clock 2 s fast, its stream on the RTSP server."""
    now = datetime.now(UTC)
    device = OnvifDeviceServer(
        "generic",
        RTSP_USER,
        password,
        main_uri=rtsp.url(_onvif_path(port)),
        clock_skew_s=2.0,
        recordings=(now - timedelta(days=40), now),
        port=port,
    )
    device.start()
    return device


def _demo_domes(
    config: GatewayConfig, samples_dir: Path, password: str, servers: list[RtspServerProcess]
) -> list[OnvifDeviceServer]:
    """The demo's PTZ domes: each an ONVIF PTZ device and an RTSP server showing what it points at."""
    domes: list[OnvifDeviceServer] = []
    for cam in config.cameras:
        onvif = cam.source.onvif
        if cam.id not in PTZ_CAMERAS or onvif is None:
            continue
        PTZ_STATE_DIR.mkdir(parents=True, exist_ok=True)
        state = PTZ_STATE_DIR / f"{cam.id}.json"
        server = RtspServerProcess(
            [], ptz=[("/ptz", PtzView(make_ptz_picture(samples_dir), state))], username=RTSP_USER, password=password
        )
        server.start()
        servers.append(server)
        dome = PtzDeviceServer(RTSP_USER, password, main_uri=server.url("/ptz"), state_path=state, port=onvif.port)
        dome.start()
        domes.append(dome)
    return domes


NVR_DIR = Path("var/demo/nvr")


def _demo_nvrs(config: GatewayConfig, password: str, servers: list[RtspServerProcess]) -> list[NvrDeviceServer]:
    """A simulated NVR for each local recorder of the config: recordings on disk of the channels its
    cameras name, since midnight retention_days + 1 days ago, with the default gaps (a 2 h gap
    yesterday on the first channel, the day before yesterday lost on the second), replayed by an RTSP
    server of its own."""
    nvrs: list[NvrDeviceServer] = []
    for recorder in config.recorders:
        if recorder.onvif.host not in ("127.0.0.1", "localhost"):
            continue
        channels = tuple(
            c.recordings.channel
            for c in config.cameras
            if c.recordings is not None and c.recordings.recorder == recorder.id and c.recordings.channel
        )
        if not channels:
            continue
        log.info(
            "demo: laying out %d day(s) of recordings for %s in %s",
            config.policy.retention_days + 2,
            recorder.id,
            NVR_DIR,
        )
        store = make_recordings(NVR_DIR / recorder.id, channels, days=config.policy.retention_days + 2)
        replay = RtspServerProcess(
            [], replays=[(f"/replay/{c}", store.root / c) for c in channels], username=RTSP_USER, password=password
        )
        replay.start()
        servers.append(replay)
        nvr = NvrDeviceServer(
            store.root,
            channels,
            RTSP_USER,
            password,
            replay_base=f"rtsp://127.0.0.1:{replay.port}",
            port=recorder.onvif.port,
        )
        nvr.start()
        nvrs.append(nvr)
    return nvrs


def _admin_credentials(config: GatewayConfig) -> tuple[str, str]:
    """A new API token and a new web password for the demo admin on every start (no defaults)."""
    from gateway.admin import Actor
    from gateway.compose import open_stores

    password = secrets.token_urlsafe(12)
    actor = Actor("demo", "console")
    with open_stores(config) as stores:
        admin = stores.admin
        try:
            token = admin.add_user(actor, ADMIN_USER, "admin")[1]
        except ConflictError:
            token = admin.issue_token(actor, ADMIN_USER)
        admin.set_password(actor, ADMIN_USER, password)
    return token, password


def run_demo(config_path: Path, samples_dir: Path, api_port: int | None = None) -> int:
    import os

    from gateway.app import create_app
    from gateway.logs import setup_logging
    from gateway.serve import serve
    from sim.clips import make_clips

    setup_logging("INFO")
    # A new RTSP password on every start: the demo has no default credentials either.
    password = os.environ.get(PASSWORD_ENV) or secrets.token_urlsafe(12)
    os.environ[PASSWORD_ENV] = password
    config = load_config(config_path)
    mounts = demo_mounts(config)
    for i, cam in enumerate(config.cameras):
        if cam.credentials is None or cam.credentials.username != RTSP_USER:
            issue = ConfigIssue(
                f"cameras[{i}].credentials.username", f"the demo cameras accept only user {RTSP_USER!r}"
            )
            raise ConfigError(str(config_path), [issue])

    log.info("demo: making sample clips in %s (first run only)", samples_dir)
    clips = make_clips(samples_dir, names={m.clip for m in mounts})

    by_port: dict[int, list[Mount]] = defaultdict(list)
    for mount in mounts:
        by_port[mount.port].append(mount)
    servers: list[RtspServerProcess] = []
    flappers: list[Flapper] = []
    devices: list[OnvifDeviceServer] = []
    try:
        for port, port_mounts in sorted(by_port.items()):
            server = RtspServerProcess(
                port=port,
                mounts=[(m.path, clips[m.clip]) for m in port_mounts],
                audio={m.path: AUDIO_FOR_PATH[m.path] for m in port_mounts if m.path in AUDIO_FOR_PATH},
                username=RTSP_USER,
                password=password,
            )
            server.start()
            servers.append(server)
            if any(m.path in FLAPPING_PATHS for m in port_mounts):
                if len(port_mounts) > 1:
                    raise SimulatorError(f"port {port}: a flapping camera needs an RTSP server of its own")
                flappers.append(Flapper(server, UP_S, DOWN_S))
        for flapper in flappers:
            flapper.start()
        devices.extend(_demo_nvrs(config, password, servers))
        devices.extend(_demo_domes(config, samples_dir, password, servers))
        for cam in config.cameras:
            if cam.source.onvif is not None and cam.id not in PTZ_CAMERAS:
                host_server = next(
                    sv for sv in servers if any(p == _onvif_path(cam.source.onvif.port) for p, _ in sv.mounts)
                )
                devices.append(_onvif_device(cam.source.onvif.port, host_server, password))

        token, admin_password = _admin_credentials(config)
        host, port = config.server.bind, api_port or config.server.port
        # Chinese first, as the site speaks; each line with its English beside it for the developer.
        cameras_at = ", ".join(f"rtsp://127.0.0.1:{p}" for p in sorted(by_port))
        banner = (
            f"\n  模拟场所 / simulated site '{config.site.name}': "
            f"{len(config.cameras)} 路摄像机 / cameras on {cameras_at}\n"
            f"  管理页面与接口 / dashboard and API:  http://{host}:{port}/   (接口文档 / API docs: http://{host}:{port}/docs)\n"
            f"  登录用户 / sign in as {ADMIN_USER}，"
            f"密码（每次启动新生成）/ password (new on every start):  {admin_password}\n"
            f"  管理员接口令牌（每次启动新生成）/ admin API token (new on every start):\n    {token}\n"
            "  按 Ctrl-C 停止 / stop with Ctrl-C.\n"
        )
        print(banner, file=sys.stderr, flush=True)
        serve(create_app(config), host, port)
    finally:
        for flapper in flappers:
            flapper.stop()
        for device in devices:
            device.stop()
        for server in servers:
            server.stop()
    return 0
