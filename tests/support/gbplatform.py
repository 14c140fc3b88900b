"""The tests' one fake GB/T 28181 upper platform, on one UDP socket, for `gateway run` and for the
in-process SIP user agent (adapters.gb28181.ua.PlatformLink).

It is what a city platform is to the gateway: a registrar with digest auth, a sink for keepalives and
query responses, and the side that opens dialogs (INVITE for live video, SUBSCRIBE for catalog and
alarm notifications), sends queries (MESSAGE) and ends dialogs (BYE). Requests the gateway sends it
(BYE, NOTIFY, MESSAGE) are answered 200 and recorded once each (retransmissions are answered again but
not recorded twice). Everything received is recorded, including datagrams that do not parse (the
gateway's answers to malformed requests copy the malformed headers), so tests can assert on exactly
what came back.

Options for the tests that need them: `password=None` accepts every REGISTER without a challenge,
`send_date=False` leaves the Date header out of the 200 to REGISTER, `hold` keeps Catalog responses
unanswered until `release()`, `port` binds a chosen port (a platform restarted on the same address),
and `refuse_unregistered` answers MESSAGEs 403 until the device registers, as a platform that has just
restarted does.

Also here: the platform's media receivers (an RTP port on UDP, an RFC 4571 TCP listener, a TCP
client), the SDP offers a platform sends, and the SIPp scenarios (SIPP_SCENARIOS) of the tests where
SIPp plays the platform.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.common.digest import verify, www_authenticate
from adapters.gb28181 import manscdp
from adapters.gb28181.sip import (
    SipError,
    SipMessage,
    addr_uri,
    format_gb_date,
    new_call_id,
    new_tag,
    parse,
    request,
    response_to,
)

UNIT_ID = "12010000002000000001"
SERVER_ID = "12000000002000000001"
DOMAIN = "1200000000"
NONCE = "5a0c2b3e9f1d4c7a"  # one fixed nonce: answering a retransmitted REGISTER again is harmless
LOCAL = "127.0.0.1"
# SIPp scenario files (tests/integration/sipp) for the tests where SIPp plays the upper platform.
SIPP_SCENARIOS = Path(__file__).resolve().parents[1] / "integration" / "sipp"


def sipp_listening(port: int, *, tcp: bool) -> bool:
    """Whether SIPp (started on `port`) has bound it yet: TCP accepts a connection; on UDP our own bind
    fails once the port is taken. A probe for wait_until: SIPp needs a moment to bind."""
    if tcp:
        with contextlib.suppress(OSError), socket.create_connection((LOCAL, port), timeout=0.2):
            return True  # a new call-less connection for SIPp; closing it is harmless
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((LOCAL, port))
        except OSError:
            return True
    return False


# --- SDP ----------------------------------------------------------------------------------------


def play_offer(
    port: int,
    *,
    ssrc: str,
    transport: str = "udp",
    setup: str | None = None,
    video: bool = True,
    rtpmaps: Sequence[str] | None = None,
) -> bytes:
    """The SDP offer of a platform's live-view INVITE (GB/T 28181-2016 annex G style). `rtpmaps` offers
    other payloads than PS 96, H264 98, MPEG4 97: ["98 H264/90000"] is a 2022 elementary-stream offer."""
    proto = "TCP/RTP/AVP" if transport == "tcp" else "RTP/AVP"
    if rtpmaps is not None:
        formats = " ".join(m.split()[0] for m in rtpmaps)
        lines = ["v=0", f"o={SERVER_ID} 0 0 IN IP4 {LOCAL}", "s=Play", f"c=IN IP4 {LOCAL}", "t=0 0"]
        lines += [f"m=video {port} {proto} {formats}", "a=recvonly", *(f"a=rtpmap:{m}" for m in rtpmaps)]
        if setup is not None:
            lines += [f"a=setup:{setup}", "a=connection:new"]
        lines.append(f"y={ssrc}")
        return ("\r\n".join(lines) + "\r\n").encode()
    lines = [
        "v=0",
        f"o={SERVER_ID} 0 0 IN IP4 {LOCAL}",
        "s=Play",
        f"c=IN IP4 {LOCAL}",
        "t=0 0",
        f"m=video {port} {proto} 96 98 97" if video else f"m=audio {port} RTP/AVP 8",
    ]
    if video:
        lines += ["a=recvonly", "a=rtpmap:96 PS/90000", "a=rtpmap:98 H264/90000", "a=rtpmap:97 MPEG4/90000"]
    else:
        lines += ["a=recvonly", "a=rtpmap:8 PCMA/8000"]
    if setup is not None:
        lines += [f"a=setup:{setup}", "a=connection:new"]
    lines.append(f"y={ssrc}")
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass
class Answer:
    """The lines of an SDP answer, read without the product's parser."""

    lines: list[str]

    @classmethod
    def of(cls, body: bytes) -> Answer:
        return cls([line.strip() for line in body.decode().splitlines() if line.strip()])

    def value(self, key: str) -> str | None:
        return next((line[2:] for line in self.lines if line.startswith(f"{key}=")), None)

    def attributes(self) -> list[str]:
        return [line[2:] for line in self.lines if line.startswith("a=")]

    @property
    def port(self) -> int:
        media = self.value("m")
        assert media is not None, self.lines
        return int(media.split()[1])


# --- the platform -------------------------------------------------------------------------------


@dataclass
class Call:
    """One dialog this platform opened (INVITE or SUBSCRIBE), from our side."""

    call_id: str
    from_tag: str
    uri: str
    to_uri: str
    cseq: int
    method: str
    branch: str = ""
    to_tag: str | None = None
    final: SipMessage | None = None
    target: tuple[str, int] | None = None

    @property
    def answer(self) -> Answer:
        assert self.final is not None and self.final.body, self.final
        return Answer.of(self.final.body)


@dataclass
class Received:
    """A request of the gateway to this platform, as first received."""

    msg: SipMessage
    at: float = field(default_factory=time.monotonic)

    @property
    def body(self) -> manscdp.Manscdp | None:
        try:
            return manscdp.parse(self.msg.body) if self.msg.body else None
        except manscdp.ManscdpError:
            return None


class FakePlatform(threading.Thread):
    """See the module doc. `gateway` is the gateway's SIP address, set once its port is known."""

    def __init__(
        self,
        password: str | None,
        port: int = 0,
        *,
        send_date: bool = True,
        refuse_unregistered: bool = False,
    ) -> None:
        super().__init__(daemon=True)
        self.password = password
        self.send_date = send_date
        self.refuse_unregistered = refuse_unregistered
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if port:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOCAL, port))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.gateway: tuple[str, int] = (LOCAL, 0)
        self.cond = threading.Condition()
        self.registered = threading.Event()
        self.unregistered = threading.Event()  # a REGISTER with Expires: 0 was accepted
        self.registered_at: float | None = None  # wall-clock time of the first accepted registration
        self.bad_auth = 0
        self.refused_keepalives = 0  # MESSAGEs refused before registration (refuse_unregistered)
        self.messages: list[SipMessage] = []  # everything that parsed, as received (retransmissions too)
        self.requests: list[Received] = []  # the gateway's requests, one per transaction
        self.responses: list[SipMessage] = []  # the gateway's responses, in order
        self.raw: list[bytes] = []  # datagrams that did not parse
        # Catalog responses are kept unanswered while `hold` is set, until `release()`: the gateway must
        # send the next part only after the previous one was answered.
        self.hold = False
        self._held: list[tuple[SipMessage, tuple[str, int]]] = []
        self._seen: set[tuple[str, str]] = set()
        self._closing = threading.Event()

    # --- thread -------------------------------------------------------------------------------

    def run(self) -> None:
        while not self._closing.is_set():
            try:
                data, addr = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                msg = parse(data)
            except SipError:
                with self.cond:
                    self.raw.append(data)
                    self.cond.notify_all()
                continue
            with self.cond:
                self.messages.append(msg)
                if msg.is_request:
                    self._on_request(msg, addr)
                else:
                    self.responses.append(msg)
                self.cond.notify_all()

    def close(self) -> None:
        self._closing.set()
        self.join(timeout=2)
        self.sock.close()

    def _on_request(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        if msg.method == "REGISTER":
            self._on_register(msg, addr)
            return
        if msg.method == "ACK":
            return
        if msg.method == "MESSAGE" and self.refuse_unregistered and not self.registered.is_set():
            self.refused_keepalives += 1
            self.send(response_to(msg, 403), addr)
            return
        key = (msg.via_branch or "", msg.method or "")
        if key not in self._seen:
            self._seen.add(key)
            received = Received(msg)
            self.requests.append(received)
            if self.hold and msg.method == "MESSAGE" and self._catalog_response(received):
                self._held.append((msg, addr))
                return
        if any(key[0] == held.via_branch for held, _ in self._held):
            return  # a retransmission of a held part: still no answer
        if msg.method in ("BYE", "NOTIFY", "MESSAGE"):
            self.send(response_to(msg, 200), addr)
        else:
            self.send(response_to(msg, 405), addr)

    @staticmethod
    def _catalog_response(received: Received) -> bool:
        body = received.body
        return body is not None and body.root == "Response" and body.cmd_type == "Catalog"

    def _on_register(self, msg: SipMessage, addr: tuple[str, int]) -> None:
        auth = msg.get("Authorization")
        if self.password is not None and auth is None:
            self.send(
                response_to(msg, 401, extra_headers=[("WWW-Authenticate", www_authenticate(DOMAIN, NONCE))]), addr
            )
        elif self.password is None or (
            auth is not None and verify(auth, method="REGISTER", password=self.password, realm=DOMAIN, nonce=NONCE)
        ):
            date = [("Date", format_gb_date(datetime.now()))] if self.send_date else []
            self.send(response_to(msg, 200, extra_headers=[*date, ("Expires", str(msg.expires or 0))]), addr)
            if msg.expires:
                self.registered.set()
                if self.registered_at is None:
                    self.registered_at = time.time()
            else:
                self.unregistered.set()
        else:
            self.bad_auth += 1
            self.send(response_to(msg, 403), addr)

    def release(self) -> None:
        """Answer the held Catalog responses, and hold no more."""
        with self.cond:
            self.hold = False
            for msg, addr in self._held:
                self.send(response_to(msg, 200), addr)
            self._held.clear()

    # --- sending ------------------------------------------------------------------------------

    def send(self, msg: SipMessage | bytes, addr: tuple[str, int] | None = None) -> None:
        self.sock.sendto(msg if isinstance(msg, bytes) else msg.to_bytes(), addr or self.gateway)

    def _request(self, method: str, uri: str, to_uri: str, **kw: Any) -> SipMessage:
        return request(
            method,
            uri,
            via_host=LOCAL,
            via_port=self.port,
            transport="udp",
            from_uri=f"sip:{SERVER_ID}@{DOMAIN}",
            to_uri=to_uri,
            user_agent="fake-platform",
            **kw,
        )

    def invite(self, channel: str, sdp: bytes, *, subject: str | None = None, **kw: Any) -> Call:
        """Send an INVITE; returns the call, whose final response `final_of` waits for."""
        uri = f"sip:{channel}@{DOMAIN}"
        call = Call(new_call_id(LOCAL), new_tag(), uri, uri, 1, "INVITE")
        extra = [("Contact", f"<sip:{SERVER_ID}@{LOCAL}:{self.port}>")]
        if subject is not None:
            extra.append(("Subject", subject))
        msg = self._request(
            "INVITE",
            uri,
            uri,
            from_tag=call.from_tag,
            call_id=call.call_id,
            cseq=1,
            extra_headers=extra + kw.pop("extra_headers", []),
            body=sdp,
            content_type=kw.pop("content_type", "application/sdp"),
        )
        call.branch = msg.via_branch or ""
        self.send(msg)
        return call

    def subscribe(self, cmd_type: str, sn: int, *, expires: int = 3600, device_id: str = UNIT_ID) -> Call:
        uri = f"sip:{UNIT_ID}@{DOMAIN}"
        call = Call(new_call_id(LOCAL), new_tag(), uri, uri, 1, "SUBSCRIBE")
        body = (
            f'<?xml version="1.0" encoding="GB2312"?>\r\n<Query>\r\n<CmdType>{cmd_type}</CmdType>\r\n'
            f"<SN>{sn}</SN>\r\n<DeviceID>{device_id}</DeviceID>\r\n</Query>\r\n"
        ).encode()
        msg = self._request(
            "SUBSCRIBE",
            uri,
            uri,
            from_tag=call.from_tag,
            call_id=call.call_id,
            cseq=1,
            extra_headers=[
                ("Contact", f"<sip:{SERVER_ID}@{LOCAL}:{self.port}>"),
                ("Event", cmd_type),
                ("Expires", str(expires)),
            ],
            body=body,
            content_type=manscdp.CONTENT_TYPE,
        )
        self.send(msg)
        return call

    def query(self, cmd: str, sn: int, device_id: str = UNIT_ID, **kw: Any) -> str:
        """A MESSAGE with a MANSCDP Query (or `body`); returns its Call-ID."""
        body = kw.pop(
            "body",
            (
                f'<?xml version="1.0" encoding="GB2312"?>\r\n<Query>\r\n<CmdType>{cmd}</CmdType>\r\n'
                f"<SN>{sn}</SN>\r\n<DeviceID>{device_id}</DeviceID>\r\n</Query>\r\n"
            ).encode(),
        )
        call_id = new_call_id(LOCAL)
        uri = f"sip:{UNIT_ID}@{DOMAIN}"
        msg = self._request(
            "MESSAGE",
            uri,
            uri,
            from_tag=new_tag(),
            call_id=call_id,
            cseq=1,
            body=body,
            content_type=kw.pop("content_type", manscdp.CONTENT_TYPE),
        )
        self.send(msg)
        return call_id

    def final_of(self, call: Call, timeout: float = 15.0) -> SipMessage:
        """The final response to the call's initial request; sets its To tag and remote target."""
        final = self.final(call.call_id, call.method, timeout)
        call.final = final
        call.to_tag = final.to_tag
        contact = final.get("Contact")
        if contact:
            host_port = addr_uri(contact).split("@", 1)[-1].split(";", 1)[0]
            host, _, port = host_port.rpartition(":")
            call.target = (host, int(port))
        return final

    def final(self, call_id: str, method: str, timeout: float = 15.0) -> SipMessage:
        def found() -> SipMessage | None:
            for msg in self.responses:
                if msg.call_id == call_id and msg.cseq[1] == method and (msg.status or 0) >= 200:
                    return msg
            return None

        msg: SipMessage = self._wait(found, timeout, f"final response to {method} {call_id}")
        return msg

    def answer_to(self, msg: SipMessage, timeout: float = 10.0) -> SipMessage:
        """The gateway's final answer to our request `msg` (matched on Call-ID and CSeq: several requests
        of one dialog, such as INFOs, have the same method)."""

        def found() -> SipMessage | None:
            for answer in self.responses:
                if answer.call_id == msg.call_id and answer.cseq == msg.cseq and (answer.status or 0) >= 200:
                    return answer
            return None

        answer: SipMessage = self._wait(found, timeout, f"the answer to {msg.cseq[1]} {msg.cseq[0]}")
        return answer

    def statuses(self, call_id: str) -> list[int]:
        with self.cond:
            return [m.status or 0 for m in self.responses if m.call_id == call_id]

    def raw_status(self, call_id: str, timeout: float = 10.0) -> tuple[int, bytes]:
        """(status, datagram) of an answer that our parser refuses (it copies malformed headers)."""

        def found() -> tuple[int, bytes] | None:
            for data in self.raw:
                if call_id.encode() in data:
                    match = re.match(rb"SIP/2\.0 (\d{3}) ", data)
                    assert match is not None, data[:200]
                    return int(match.group(1)), data
            for msg in self.responses:
                with contextlib.suppress(SipError):
                    if msg.call_id == call_id:
                        return msg.status or 0, msg.to_bytes()
            return None

        answer: tuple[int, bytes] = self._wait(found, timeout, f"an answer for {call_id}")
        return answer

    def in_dialog(self, call: Call, method: str, **kw: Any) -> SipMessage:
        """A request of ours inside an established dialog (ACK shares the INVITE's CSeq number)."""
        assert call.to_tag is not None, "no dialog yet"
        cseq = call.cseq if method == "ACK" else call.cseq + 1
        if method != "ACK":
            call.cseq = cseq
        return self._request(
            method,
            addr_uri(call.final.get("Contact") or call.uri) if call.final is not None else call.uri,
            call.to_uri,
            from_tag=call.from_tag,
            to_tag=call.to_tag,
            call_id=call.call_id,
            cseq=cseq,
            **kw,
        )

    def ack(self, call: Call) -> None:
        self.send(self.in_dialog(call, "ACK"))

    def bye(self, call: Call, timeout: float = 10.0) -> SipMessage:
        self.send(self.in_dialog(call, "BYE"))
        return self.final(call.call_id, "BYE", timeout)

    @property
    def answers(self) -> dict[str, SipMessage]:
        """Call-ID -> the gateway's final answer to a request of ours (the last one, if several)."""
        with self.cond:
            return {m.call_id: m for m in self.responses if (m.status or 0) >= 200}

    def parts(self, cmd: str, sn: int) -> list[manscdp.Manscdp]:
        """The MANSCDP Response bodies the gateway sent for query `cmd` number `sn`, once each."""
        with self.cond:
            bodies = [r.body for r in self.requests if r.msg.method == "MESSAGE"]
        return [b for b in bodies if b is not None and b.root == "Response" and b.cmd_type == cmd and b.sn == sn]

    def received(self, method: str, call_id: str | None = None) -> list[Received]:
        with self.cond:
            return [
                r for r in self.requests if r.msg.method == method and (call_id is None or r.msg.call_id == call_id)
            ]

    def _wait(self, found: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = found()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
                self.cond.wait(min(remaining, 0.2))


# --- media receivers ----------------------------------------------------------------------------


class UdpMedia:
    """The platform's RTP port: a thread drains it into (datagram, source, arrival time)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind((LOCAL, 0))
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.datagrams: list[tuple[bytes, tuple[str, int], float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.datagrams.append((data, (str(addr[0]), int(addr[1])), time.monotonic()))

    def packets(self) -> list[bytes]:
        return [d for d, _, _ in list(self.datagrams)]

    def first_at(self) -> float | None:
        return self.datagrams[0][2] if self.datagrams else None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


class TcpMedia:
    """RFC 4571 media over TCP, from the platform's side: `listen()` (the gateway connects, offer
    setup:passive) or `connect(port)` (we connect to the gateway's port, offer setup:active)."""

    def __init__(self) -> None:
        self.server: socket.socket | None = None
        self.conn: socket.socket | None = None
        self.peer: tuple[str, int] | None = None
        self.chunks: list[bytes] = []
        self.closed_by_peer = threading.Event()
        self._first_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.getsockname()[1])

    def listen(self) -> TcpMedia:
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.bind((LOCAL, 0))
        self.server.listen(1)
        self.server.settimeout(0.1)
        self._start(self._accept_then_read)
        return self

    def connect(self, port: int) -> TcpMedia:
        self.conn = socket.create_connection((LOCAL, port), timeout=5)
        self.peer = (LOCAL, port)
        self._start(self._read)
        return self

    def _start(self, target: Callable[[], None]) -> None:
        self._thread = threading.Thread(target=target, daemon=True)
        self._thread.start()

    def _accept_then_read(self) -> None:
        assert self.server is not None
        while not self._stop.is_set():
            try:
                conn, addr = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.conn, self.peer = conn, (str(addr[0]), int(addr[1]))
            break
        else:
            return
        self._read()

    def _read(self) -> None:
        conn = self.conn
        assert conn is not None
        conn.settimeout(0.1)
        while not self._stop.is_set():
            try:
                chunk = conn.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            if self._first_at is None:
                self._first_at = time.monotonic()
            self.chunks.append(chunk)
        self.closed_by_peer.set()

    def first_at(self) -> float | None:
        return self._first_at

    def data(self) -> bytes:
        return b"".join(list(self.chunks))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for sock in (self.conn, self.server):
            if sock is not None:
                sock.close()


def uplink_config(
    platform_port: int, sip_port: int, password_env: str = "IT_GB_PASSWORD", **extra: Any
) -> dict[str, Any]:
    """A site's `uplinks.gb28181[]` entry for a platform of these tests on 127.0.0.1 (the password in
    ``password_env``), with any other keys of the entry in ``extra``."""
    return {
        "id": "city",
        "server_id": SERVER_ID,
        "server_domain": DOMAIN,
        "host": LOCAL,
        "port": platform_port,
        "password": {"env": password_env},
        "local_port": sip_port,
        **extra,
    }
