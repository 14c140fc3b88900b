"""SIP transports of the GB/T 28181 user agent: one UDP socket or one TCP connection (RFC 3261 section 18).

A transport only moves bytes: it hands every parsed message to `on_message` together with the
address to answer (the packet's source, RFC 3581 style), and counts what it had to drop. Nothing
here knows about transactions. No reader task and no queue: asyncio protocol callbacks parse in
place, so memory is bounded by one datagram (UDP) or by `StreamFramer`'s limits (TCP).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final, Literal, cast

from adapters.gb28181.sip import (
    MAX_MESSAGE,
    SipError,
    SipMessage,
    StreamFramer,
    error_response,
    is_keepalive,
    parse,
)

__all__ = ["Addr", "OnMessage", "TcpTransport", "Transport", "UdpTransport"]

log = logging.getLogger(__name__)

Addr = tuple[str, int]
OnMessage = Callable[[SipMessage, Addr], None]
# A peer that stops reading must not make us buffer without limit: past this the connection is
# considered stalled and closed (a SIP message is at most 64 KiB; a few of them is plenty).
MAX_WRITE_BUFFER: Final = 4 * MAX_MESSAGE


class _Base:
    name: Literal["udp", "tcp"]
    reliable: bool

    def __init__(self, on_message: OnMessage) -> None:
        self._on_message = on_message
        self.dropped = 0  # datagrams / streams that did not parse
        self.lost = asyncio.Event()  # set when the transport can no longer send (TCP loss, close)
        self.local: Addr = ("", 0)

    def _deliver(self, msg: SipMessage, addr: Addr) -> None:
        try:
            self._on_message(msg, addr)
        except Exception:  # the receive path must never die from one message
            log.exception("SIP message handler failed")


class UdpTransport(_Base, asyncio.DatagramProtocol):
    """One unconnected UDP socket: requests from the platform may come from any of its ports."""

    name = "udp"
    reliable = False

    def __init__(self, on_message: OnMessage, remote: Addr) -> None:
        super().__init__(on_message)
        self.remote = remote
        self._transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls, local_host: str, local_port: int, remote: Addr, on_message: OnMessage) -> UdpTransport:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(
            lambda: cls(on_message, remote), local_addr=(local_host, local_port)
        )
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # cast, not isinstance: the selector loop's datagram transport is not a DatagramTransport subclass
        self._transport = cast(asyncio.DatagramTransport, transport)
        sockname = transport.get_extra_info("sockname")
        self.local = (str(sockname[0]), int(sockname[1]))

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if is_keepalive(data):
            return  # RFC 5626 CRLF ping: nothing to parse, nothing to count as garbage
        try:
            msg = parse(data)
        except SipError as exc:
            self.dropped += 1
            log.debug("dropped an unparsable datagram from %s: %s", addr, exc.reason)
            answer = error_response(data, exc)
            if answer is not None and self._transport is not None and not self._transport.is_closing():
                self._transport.sendto(answer.to_bytes(), addr)
            return
        self._deliver(msg, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable): the transaction timers report the failure instead.
        log.debug("UDP socket error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()

    def send(self, data: bytes, addr: Addr | None = None) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("UDP socket closed")
        self._transport.sendto(data, addr or self.remote)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self.lost.set()


class TcpTransport(_Base, asyncio.Protocol):
    """One TCP connection to the platform, framed by Content-Length (RFC 3261 section 18.3)."""

    name = "tcp"
    reliable = True

    def __init__(self, on_message: OnMessage) -> None:
        super().__init__(on_message)
        self._framer = StreamFramer()
        self._transport: asyncio.Transport | None = None
        self._peer: Addr = ("", 0)

    @classmethod
    async def open(cls, local_host: str, local_port: int, remote: Addr, on_message: OnMessage) -> TcpTransport:
        loop = asyncio.get_running_loop()
        local = (local_host, local_port) if local_port else None
        _, proto = await loop.create_connection(lambda: cls(on_message), remote[0], remote[1], local_addr=local)
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        sockname = transport.get_extra_info("sockname")
        peername = transport.get_extra_info("peername")
        self.local = (str(sockname[0]), int(sockname[1]))
        self._peer = (str(peername[0]), int(peername[1]))

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._framer.feed(data)
        except SipError as exc:
            # Framing is lost: nothing after this point can be trusted, so drop the connection
            # and let the user agent reconnect.
            self.dropped += 1
            log.warning("closing the SIP TCP connection: %s", exc.reason)
            self.close()
            return
        for msg in messages:
            self._deliver(msg, self._peer)
        if self._framer.error is not None:
            self.dropped += 1
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()

    def send(self, data: bytes, addr: Addr | None = None) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("TCP connection closed")
        if self._transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.close()
            raise ConnectionError("TCP peer stopped reading")
        self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self.lost.set()


Transport = UdpTransport | TcpTransport
