"""Ports for the servers the tests start: the one place a test gets a port from.

Each parallel worker (pytest -n) takes its ports from a range of its own below the kernel's ephemeral
ports ($GATEWAY_TEST_PORTS, set by `use_worker_ports` from tests/conftest.py), handed out in turn by
sim.server.free_port, which the simulated cameras and the demo use too. Two workers never race
for a port, and neither does a client's outgoing connection. Child processes inherit the range.
"""

from __future__ import annotations

import os
import socket

from sim import server

PORTS_PER_WORKER = 1000


def worker_index() -> int:
    """This pytest-xdist worker's number (gw0, gw1, ...); 0 without xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def use_worker_ports() -> str:
    """Give this process (and its children) the worker's own port range; returns it ("FIRST-LAST").

    A second run beside the first (make test's PostgreSQL leg) sets GATEWAY_TEST_PORT_SLOT to move its
    workers to ranges of their own.
    """
    slot = worker_index() + int(os.environ.get("GATEWAY_TEST_PORT_SLOT", "0"))
    first = 20000 + PORTS_PER_WORKER * (slot % 12)
    span = f"{first}-{first + PORTS_PER_WORKER - 1}"
    os.environ[server.PORTS_ENV] = span
    return span


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that was free a moment ago, from the worker's range (checked free for both TCP
    and UDP there); `kind` (socket.SOCK_DGRAM for a UDP server) matters only outside a test run."""
    return server.free_port(kind)
