"""Fixtures shared by the unit tests."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest


@pytest.fixture
async def receiver() -> AsyncIterator[socket.socket]:
    """A platform's RTP port: a non-blocking UDP socket on 127.0.0.1 (read it with gbunit's `drain`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()
