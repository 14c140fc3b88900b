"""A userspace TCP fault proxy on 127.0.0.1, placed between the gateway and a camera.

`tc netem` is not available on every CI kernel and needs root; a proxy in the test process works
anywhere. The gateway pulls RTSP with RTP interleaved on the same TCP connection, so the proxy
carries the media as well as the signalling.

Modes, switchable while connections are open:
- pass: forward both ways.
- blackhole: keep every socket open but stop reading and forwarding, as a switch port that drops
  packets does; the peers see no FIN and no RST, only silence.
- throttle: forward at most `rate_bps` bytes per second from the camera to the gateway.
- reset: abort every connection with an RST and refuse new ones the same way.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from types import TracebackType
from typing import Literal, Self

Mode = Literal["pass", "blackhole", "throttle", "reset"]
_CHUNK = 16384


class FaultProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._mode: Mode = "pass"
        self._rate_bps = 0.0
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.bytes_down = 0  # camera -> gateway, forwarded

    def url(self, path: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}{path}"

    def set_mode(self, mode: Mode, rate_bps: float = 0.0) -> None:
        with self._lock:
            self._mode, self._rate_bps = mode, rate_bps
            if mode == "reset":
                for pair in self._pairs:
                    pair.abort()
                self._pairs.clear()

    def start(self) -> Self:
        self._listener.listen(16)
        self._thread = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            for pair in self._pairs:
                pair.close()
            self._pairs.clear()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                mode = self._mode
            if mode == "reset":
                _abort(client)
                continue
            if mode == "blackhole":
                # A blackholed camera does not answer a new SYN either; holding the accepted socket
                # unread is the closest a userspace proxy gets, and the gateway sees a timeout.
                pair = _Pair(client, None, self)
                with self._lock:
                    self._pairs.append(pair)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=3)
            except OSError:
                _abort(client)
                continue
            pair = _Pair(client, server, self)
            with self._lock:
                self._pairs.append(pair)
            threading.Thread(target=pair.run, name="fault-proxy-pair", daemon=True).start()

    def _policy(self) -> tuple[Mode, float]:
        with self._lock:
            return self._mode, self._rate_bps

    def _forget(self, pair: _Pair) -> None:
        with self._lock:
            if pair in self._pairs:
                self._pairs.remove(pair)


class _Pair:
    def __init__(self, client: socket.socket, server: socket.socket | None, proxy: FaultProxy) -> None:
        self.client, self.server, self.proxy = client, server, proxy
        self.closed = False

    def run(self) -> None:
        assert self.server is not None
        sel = selectors.DefaultSelector()
        sel.register(self.client, selectors.EVENT_READ, self.server)
        sel.register(self.server, selectors.EVENT_READ, self.client)
        budget, refilled = 0.0, time.monotonic()
        try:
            while not self.closed:
                mode, rate = self.proxy._policy()
                if mode == "blackhole":
                    # Not reading lets the kernel buffers fill, so the camera's sends stall too.
                    time.sleep(0.05)
                    continue
                for key, _ in sel.select(0.1):
                    src, dst = key.fileobj, key.data
                    assert isinstance(src, socket.socket) and isinstance(dst, socket.socket)
                    limit = _CHUNK
                    if mode == "throttle" and src is self.server:
                        now = time.monotonic()
                        budget = min(rate, budget + (now - refilled) * rate)
                        refilled = now
                        if budget < 1:
                            time.sleep(min(0.05, (1 - budget) / rate))
                            continue
                        limit = max(1, min(_CHUNK, int(budget)))
                    data = src.recv(limit)
                    if not data:
                        return
                    if mode == "throttle" and src is self.server:
                        budget -= len(data)
                    dst.sendall(data)
                    if src is self.server:
                        self.proxy.bytes_down += len(data)
        except OSError:
            return
        finally:
            sel.close()
            self.close()
            self.proxy._forget(self)

    def close(self) -> None:
        self.closed = True
        for sock in (self.client, self.server):
            if sock is not None:
                sock.close()

    def abort(self) -> None:
        self.closed = True
        for sock in (self.client, self.server):
            if sock is not None:
                _abort(sock)


def _abort(sock: socket.socket) -> None:
    """Close with SO_LINGER 0, so the peer gets an RST instead of a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
