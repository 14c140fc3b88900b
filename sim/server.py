"""Run the simulated RTSP cameras (sim/rtsp_server.py) as a child process.

The server itself needs Debian's GStreamer bindings, which import only under the system Python, so it
runs as a separate process; this module is the typed handle the tests and the demo use.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import selectors
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Self

from gateway.errors import GatewayError

if TYPE_CHECKING:
    from sim.clips import ClipInfo

__all__ = ["PtzView", "RtspServerProcess", "SimulatorError", "free_port"]


class SimulatorError(GatewayError):
    """The simulated site (RTSP test server, sample clips) cannot be started."""


SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
DEFAULT_PYTHON = "/usr/bin/python3"
PYTHON_ENV = "GATEWAY_SIM_PYTHON"
_SECRET_ENV = "GATEWAY_SIM_RTSP_PASSWORD"  # noqa: S105 - the name of a variable, not a password
# Exit codes of rtsp_server.py
_EXIT_BAD_SPEC = 2
_EXIT_MISSING_GSTREAMER = 3
_STDERR_TAIL = 2000


@dataclass(frozen=True)
class PtzView:
    """A PTZ camera's picture (sim/ptz.py): a window over `picture` (sim.ptz.make_ptz_picture) that follows
    the state file `state` the simulated ONVIF PTZ device writes, encoded to H.264 at width x height, fps."""

    picture: Path
    state: Path
    width: int = 640
    height: int = 360
    fps: float = 12.0


PORTS_ENV = "GATEWAY_TEST_PORTS"
_port_lock = threading.Lock()
_port_turn: itertools.count[int] | None = None


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that was free a moment ago (TCP, or UDP with SOCK_DGRAM).

    Under $GATEWAY_TEST_PORTS ("FIRST-LAST") ports are handed out in turn from that range, starting at
    a random point: the test suite gives each parallel worker its own range, below the kernel's
    ephemeral ports, so two workers (or a client's outgoing connection) never race for the port a
    server is about to bind. Otherwise the kernel picks one.
    """
    span = os.environ.get(PORTS_ENV)
    if not span:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    first, last = (int(v) for v in span.split("-", 1))
    global _port_turn
    with _port_lock:
        if _port_turn is None:
            _port_turn = itertools.count(random.randrange(last - first + 1))  # noqa: S311 - not a secret
        for _ in range(last - first + 1):
            port = first + next(_port_turn) % (last - first + 1)
            if _bindable(port):
                return port
    raise SimulatorError(f"no free port left in {PORTS_ENV}={span}")


def _bindable(port: int) -> bool:
    # Both protocols: the callers' servers (RTSP over TCP, SIP over UDP or TCP) may take either.
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


class RtspServerProcess:
    """A GStreamer RTSP server serving clips at paths, e.g. `[("/cam1", clips["hd_h264"])]`.

    `replays` adds an NVR's replay mounts: `[("/replay/ch1", store_root / "ch1")]` serves that channel's
    recordings (sim/recordings.py) with ONVIF replay (`Range: clock=...`, `Scale`) or a vendor-style
    `?starttime=...&endtime=...&scale=...` (sim/rtsp_server.py describes both).

    `ptz` adds PTZ cameras: `[("/ptz", PtzView(picture, state_file))]` serves the window of the picture
    that the PTZ state in `state_file` shows (sim/ptz.py: PtzDeviceServer writes it), as H.264.

    `audio` gives mounts a sound track beside the video: `{"/cam1": "pcma"}` (or "pcmu", "aac"), a test
    tone in the camera's own pipeline (sim/rtsp_server.py).

    With `username` and `password`, every mount requires RTSP digest auth. Nothing starts until
    start() (or `with`); the port stays the same across restart(), kill() and start().
    """

    def __init__(
        self,
        mounts: Sequence[tuple[str, ClipInfo]],
        *,
        port: int | None = None,
        bind: str = "127.0.0.1",
        username: str | None = None,
        password: str | None = None,
        ready_timeout: float = 15.0,
        python: str | None = None,
        replays: Sequence[tuple[str, Path]] = (),
        ptz: Sequence[tuple[str, PtzView]] = (),
        audio: Mapping[str, str] | None = None,
    ) -> None:
        if not mounts and not replays and not ptz:
            raise ValueError("at least one mount is needed")
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        for path in [m[0] for m in mounts] + [r[0] for r in replays] + [p[0] for p in ptz]:
            if not path.startswith("/"):
                raise ValueError(f"mount path must start with '/': {path!r}")
        self.mounts = list(mounts)
        self.audio = dict(audio or {})
        unknown = sorted(set(self.audio) - {m[0] for m in mounts})
        if unknown:
            raise ValueError(f"audio names paths that are not mounts: {unknown}")
        self.replays = [(path, Path(folder)) for path, folder in replays]
        self.ptz = list(ptz)
        self.port = port if port is not None else free_port()
        self.bind = bind
        self.username = username
        self._password = password
        self.ready_timeout = ready_timeout
        self.python = python or os.environ.get(PYTHON_ENV) or DEFAULT_PYTHON
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        plays = tempfile.NamedTemporaryFile(prefix="rtsp-sim-plays-", suffix=".log", delete=False)  # noqa: SIM115
        plays.close()
        self._plays_log = Path(plays.name)  # one line per PLAY, the mount's path: RTSP sessions served

    def plays(self, path: str | None = None) -> int:
        """RTSP sessions that started playing since this server object was made (all, or one mount's)."""
        try:
            lines = self._plays_log.read_text(encoding="utf-8").splitlines()
        except OSError:
            return 0
        return sum(1 for line in lines if path is None or line == path)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def url(self, path: str) -> str:
        """rtsp:// URL of a mount; never contains the credentials."""
        if not path.startswith("/"):
            path = "/" + path
        return f"rtsp://{self.bind}:{self.port}{path}"

    def start(self) -> None:
        if self.running:
            raise SimulatorError("RTSP simulator is already running")
        self._cleanup()
        env = dict(os.environ)
        if self._password is not None:
            env[_SECRET_ENV] = self._password  # through the environment: argv is world-readable
        with tempfile.NamedTemporaryFile("w", prefix="rtsp-sim-", suffix=".json", delete=False) as spec:
            json.dump(self._spec(), spec)
        # A file, not a pipe: nobody reads the child's stderr while it runs, and a full pipe would block it.
        self._stderr = tempfile.TemporaryFile(prefix="rtsp-sim-", suffix=".log")  # noqa: SIM115 - closed in _cleanup
        try:
            self._process = subprocess.Popen(  # noqa: S603 - our own script, argv built here
                [self.python, str(SERVER_SCRIPT), "--spec", spec.name],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=env,
            )
        except OSError as exc:
            self._cleanup()
            Path(spec.name).unlink(missing_ok=True)
            raise SimulatorError(
                f"cannot run {self.python} for the RTSP simulator ({exc}): "
                f"install python3-gi (scripts/setup.sh) or set {PYTHON_ENV}"
            ) from exc
        try:
            self._wait_ready()
        finally:
            # Read by the child before it reports READY or fails.
            Path(spec.name).unlink(missing_ok=True)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if the server has not exited within `timeout` seconds."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._cleanup()

    def kill(self) -> None:
        """SIGKILL, like a crash: clients see their connections drop."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self._cleanup()

    def restart(self) -> None:
        self.stop()
        self.start()

    def set_password(self, password: str) -> None:
        """Take effect at the next start(), as a camera's new password does after a reboot."""
        if self.username is None:
            raise ValueError("this server was started without auth")
        self._password = password

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._plays_log.unlink(missing_ok=True)

    def _spec(self) -> dict[str, object]:
        auth = None if self.username is None else {"username": self.username, "password_env": _SECRET_ENV}
        return {
            "bind": self.bind,
            "port": self.port,
            "auth": auth,
            "plays_log": str(self._plays_log),
            "mounts": [
                {
                    "path": path,
                    "file": str(clip.path.resolve()),
                    "codec": clip.codec,
                    "fps": clip.fps,
                    "audio": self.audio.get(path),
                }
                for path, clip in self.mounts
            ],
            "replays": [{"path": path, "dir": str(folder.resolve())} for path, folder in self.replays],
            "ptz": [
                {
                    "path": path,
                    "picture": str(view.picture.resolve()),
                    "state": str(view.state.resolve()),
                    "width": view.width,
                    "height": view.height,
                    "fps": view.fps,
                }
                for path, view in self.ptz
            ],
        }

    def _wait_ready(self) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        deadline = time.monotonic() + self.ready_timeout
        output = b""
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while b"\n" not in output:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    tail = self._stderr_tail()
                    self.kill()
                    raise SimulatorError(f"RTSP simulator did not report READY within {self.ready_timeout:g} s{tail}")
                if not selector.select(remaining):
                    continue
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:  # EOF: the child exited
                    raise self._startup_failure(process.wait())
                output += chunk
        line = output.split(b"\n", 1)[0].decode(errors="replace").strip()
        if line != f"READY {self.port}":
            tail = self._stderr_tail()
            self.kill()
            raise SimulatorError(f"RTSP simulator printed {line!r} instead of 'READY {self.port}'{tail}")

    def _startup_failure(self, code: int) -> SimulatorError:
        tail = self._stderr_tail()
        self._cleanup()
        if code == _EXIT_MISSING_GSTREAMER:
            return SimulatorError(f"GStreamer RTSP server not installed: run scripts/setup.sh{tail}")
        if code == _EXIT_BAD_SPEC:
            return SimulatorError(f"RTSP simulator rejected its configuration{tail}")
        return SimulatorError(f"RTSP simulator exited with code {code} before it was ready{tail}")

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - _STDERR_TAIL))
        text = self._stderr.read().decode(errors="replace").strip()
        return f"\n--- server stderr (tail) ---\n{text}" if text else ""

    def _cleanup(self) -> None:
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
        self._process = None
        self._stderr = None
