"""The gateway's SIP user agent as a GB/T 28181-2016 lower-level platform: register, keep alive, unregister.

One `PlatformLink` per upper platform. It owns one transport (a UDP socket or a TCP connection),
the non-INVITE client transactions it runs on it (RFC 3261 section 17.1.2), and a minimal server
side for requests the platform sends back (answered through `on_request`).

GB/T 28181-2016 clause 9.1 (register): REGISTER, 401 with a Digest challenge, REGISTER again with
credentials, 200 OK whose `Date:` gives the time to synchronise to (clause 9.10). Refresh before
the expiry; after a failure wait at least 60 s before the next try. Clause 9.6 (keepalive): a
MESSAGE with a MANSCDP Keepalive Notify every 60 s; 3 unanswered ones mean the link is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Final, Literal

from adapters.common.digest import Challenge, DigestError, authorization, parse_challenge
from adapters.gb28181 import manscdp
from adapters.gb28181.dialog import Dialog
from adapters.gb28181.sip import (
    DEFAULT_USER_AGENT,
    REASONS,
    SipError,
    SipMessage,
    new_call_id,
    new_tag,
    parse_date,
    request,
    response_to,
    stamp_received,
)
from adapters.gb28181.transport import Addr, TcpTransport, Transport, UdpTransport

__all__ = ["T2_S", "LinkState", "OnAck", "OnRequest", "OnState", "PlatformLink", "PlatformSettings"]

log = logging.getLogger(__name__)

LinkState = Literal["unregistered", "registering", "registered", "failed"]
OnRequest = Callable[[SipMessage], Awaitable[SipMessage | None]]
OnAck = Callable[[SipMessage], None]
OnState = Callable[[LinkState, str], None]  # (new state, reason), on every change of state

T2_S: Final = 4.0  # RFC 3261 section 17.1.2.2: the retransmit interval never exceeds T2
MAX_PENDING: Final = 32  # client transactions in flight (we run a handful at most)
MAX_HANDLERS: Final = 16  # incoming requests being handled at once; beyond that: 503
MAX_ANSWERED: Final = 64  # remembered answers, to repeat on a UDP retransmission (RFC 3261 17.2.2)
REFRESH_AT: Final = 0.75  # refresh the registration at 3/4 of the granted expiry
MAX_EXPIRES_S: Final = 7 * 86400  # a Min-Expires above a week is not a registrar we can follow
QUICK_LOSS_S: Final = 10.0  # a TCP connection lost this soon after registering counts as a flap
_ID_RE: Final = re.compile(r"[0-9]{20}")


@dataclass(frozen=True)
class PlatformSettings:
    """Where and who to register as. `password` never appears in repr or logs."""

    server_id: str
    server_host: str
    server_port: int
    server_domain: str
    device_id: str
    password: str = field(repr=False)
    transport: Literal["udp", "tcp"] = "udp"
    local_host: str = "0.0.0.0"  # noqa: S104 - an edge box listens for its platform on every interface
    local_port: int = 0  # 0: any free port
    expires_s: int = 3600  # GB/T 28181: at least 3600
    keepalive_s: float = 60.0
    keepalive_misses: int = 3
    retry_s: float = 60.0  # GB/T 28181: no sooner than 60 s after a failure; tests pass less
    t1_s: float = 0.5  # RFC 3261 timer T1 (RTT estimate)
    user_agent: str = DEFAULT_USER_AGENT
    contact_host: str | None = None  # address the platform should reach us at; default local_host
    zone: tzinfo | None = None  # the site's time zone: a zone-less Date is read in it (None: the host's)
    # GB/T 28181-2022 annex I: the edition we speak, sent as X-GB-Ver on REGISTER ("3.0" is 2022,
    # "2.0" 2016); None sends no header, as 2016 devices do.
    gb_version: str | None = "3.0"

    def __post_init__(self) -> None:
        for name in ("server_id", "device_id"):
            if not _ID_RE.fullmatch(getattr(self, name)):
                raise ValueError(f"{name} must be 20 digits (GB/T 28181 coding, annex D)")
        if self.transport not in ("udp", "tcp"):
            raise ValueError("transport must be udp or tcp")
        if not 0 < self.server_port < 65536 or not 0 <= self.local_port < 65536:
            raise ValueError("port out of range")
        if self.expires_s < 1 or self.keepalive_s <= 0 or self.keepalive_misses < 1:
            raise ValueError("expires_s, keepalive_s and keepalive_misses must be positive")
        if self.retry_s < 0 or self.t1_s <= 0:
            raise ValueError("retry_s must be >= 0 and t1_s > 0")

    @property
    def timer_f_s(self) -> float:
        """RFC 3261 timer F: a non-INVITE transaction gives up after 64*T1."""
        return 64 * self.t1_s

    @property
    def target(self) -> str:
        return f"{self.server_host}:{self.server_port} ({self.transport})"


class RegisterFailed(Exception):
    """A registration attempt ended without a 2xx; the message is the human reason."""


@dataclass
class _Pending:
    future: asyncio.Future[SipMessage]
    proceeding: bool = False  # a 1xx arrived (RFC 3261 17.1.2.2 "Proceeding")


class PlatformLink:
    """Register to one upper platform and stay registered until `stop()`.

    Observable state for health pages and the API: `state`, `reason`, `last_failure`,
    `registered_at` and `expires_at` (epoch seconds), `last_keepalive_ok`, `keepalive_misses`,
    `time_offset_s` (platform Date minus our clock, seconds), and `counters`. Nothing starts in
    the constructor; `start()` binds/connects and starts one task.
    """

    def __init__(
        self,
        settings: PlatformSettings,
        on_request: OnRequest | None = None,
        *,
        on_ack: OnAck | None = None,
        on_state: OnState | None = None,
        allow: str = "MESSAGE",
    ) -> None:
        self.settings = settings
        self._on_request = on_request
        self._on_ack = on_ack
        self._on_state = on_state
        self._allow = allow
        self.state: LinkState = "unregistered"
        self.reason = ""
        self.last_failure: str | None = None
        self.registered_at: float | None = None
        self.expires_at: float | None = None
        self.last_keepalive_ok: float | None = None
        self.keepalive_misses = 0
        self.time_offset_s: float | None = None
        self.platform_gb_version: str | None = None  # X-GB-Ver of its last REGISTER answer (annex I)
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "register_sent",
                "register_ok",
                "failures",
                "keepalive_sent",
                "keepalive_ok",
                "keepalive_missed",
                "retransmits",
                "requests_received",
                "requests_rejected_busy",
                "responses_unmatched",
                "connects",
                "acks_missing",
                "restarts",
            ),
            0,
        )
        self._transport: Transport | None = None
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._answered: OrderedDict[tuple[str, str], bytes | None] = OrderedDict()
        self._handlers: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._call_id = new_call_id(settings.device_id)
        self._from_tag = new_tag()
        self._cseq = 0
        self._sn = 0
        self._challenge: Challenge | None = None
        self._nc = 0
        self._dropped_closed = 0  # parse drops of transports already closed
        self._route_host: str | None = None
        # 2xx answers to INVITE resent over UDP until their ACK (RFC 3261 section 13.3.1.4).
        self._awaiting_ack: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._quick_losses = 0

    # --- public API -----------------------------------------------------------------------------

    @property
    def local_addr(self) -> Addr | None:
        return self._transport.local if self._transport is not None else None

    @property
    def dropped(self) -> int:
        """Datagrams (or TCP streams) that did not parse and were dropped."""
        return self._dropped_closed + (self._transport.dropped if self._transport is not None else 0)

    async def start(self) -> None:
        """Bind the UDP socket (or try the TCP connection) and start registering."""
        if self._task is not None:
            raise RuntimeError("already started")
        if self.settings.transport == "udp":
            await self._connect()
        else:
            # A refused TCP connection is reported through state/reason and retried like any
            # registration failure, not raised: the platform may simply not be up yet.
            with contextlib.suppress(OSError):
                await self._connect()
        self._start_task()

    def _start_task(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"gb28181-link-{self.settings.server_id}")
        self._task.add_done_callback(self._task_ended)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        # _run catches everything but cancellation and never returns: a link task that ends while it is
        # still ours (stop() drops it first) was cancelled from outside or hit a bug. It must not stay dead.
        if task is not self._task:
            return
        exc = None if task.cancelled() else task.exception()
        reason = f"link task ended: {type(exc).__name__}: {exc}" if exc is not None else "link task ended"
        log.error("GB/T 28181 link to %s: %s; starting it again", self.settings.target, reason)
        self.counters["restarts"] += 1
        self._fail(reason)
        self._start_task()

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Unregister (REGISTER with Expires: 0, with credentials) when registered, then close."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.state == "registered" and self._transport is not None and not self._transport.lost.is_set():
            try:
                async with asyncio.timeout(timeout_s):
                    await self._register(0)
            except (TimeoutError, OSError, RegisterFailed, SipError, DigestError) as exc:
                log.info("unregister from %s failed: %s", self.settings.target, exc)
        for resend in self._awaiting_ack.values():
            resend.cancel()
        self._awaiting_ack.clear()
        for handler in list(self._handlers):
            handler.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        self._close_transport()
        self._set_state("unregistered", "stopped")
        self.registered_at = self.expires_at = None

    async def send_request(self, msg: SipMessage) -> SipMessage:
        """Run a non-INVITE client transaction (RFC 3261 section 17.1.2) and return its final response.

        UDP: retransmit at T1, doubling up to T2 (at T2 once a 1xx came), until timer F (64*T1)
        raises TimeoutError. TCP: no retransmissions (section 17.1.2.2), same timer F. Responses
        match by top Via branch + CSeq method (section 17.1.3); 1xx do not complete it.
        """
        transport = self._transport
        if transport is None or transport.lost.is_set():
            raise ConnectionError(f"not connected to {self.settings.target}")
        branch = msg.via_branch
        if branch is None:
            raise ValueError("request without a Via branch")
        key = (branch, msg.cseq[1])
        if key in self._pending:
            raise ValueError("a transaction with this branch is already running")
        if len(self._pending) >= MAX_PENDING:
            raise RuntimeError("too many SIP transactions in flight")
        loop = asyncio.get_running_loop()
        pending = _Pending(loop.create_future())
        self._pending[key] = pending
        data = msg.to_bytes()
        deadline = loop.time() + self.settings.timer_f_s
        interval = self.settings.t1_s
        lost = asyncio.ensure_future(transport.lost.wait())
        try:
            transport.send(data)
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"no answer from {self.settings.target}")
                wait = remaining if transport.reliable else min(interval, remaining)
                waiters: set[asyncio.Future[Any]] = {pending.future, lost}
                done, _ = await asyncio.wait(waiters, timeout=wait, return_when="FIRST_COMPLETED")
                if pending.future in done:
                    return pending.future.result()
                if lost in done:
                    raise ConnectionError("connection lost")
                if not transport.reliable and loop.time() < deadline:
                    transport.send(data)
                    self.counters["retransmits"] += 1
                    interval = T2_S if pending.proceeding else min(interval * 2, T2_S)
        finally:
            lost.cancel()
            self._pending.pop(key, None)

    def in_dialog(
        self,
        dialog: Dialog,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: list[tuple[str, str]] | None = None,
    ) -> SipMessage:
        """Our next request inside `dialog` (BYE, NOTIFY), with our Via; send it with send_request.

        It goes to the platform's SIP address over the link's transport, as every request of the
        link does, whatever the dialog's Contact names: the platform's proxy routes it from there.
        """
        transport = self._transport
        if transport is None or transport.lost.is_set():
            raise ConnectionError(f"not connected to {self.settings.target}")
        return dialog.request(
            method,
            via_host=self._contact_host(),
            via_port=transport.local[1],
            transport=self.settings.transport,
            extra_headers=extra_headers,
            body=body,
            content_type=content_type,
            user_agent=self.settings.user_agent,
        )

    @property
    def contact_uri(self) -> str | None:
        """Our Contact (sip:<device id>@<address>:<port>) for the answers that create a dialog."""
        transport = self._transport
        if transport is None:
            return None
        uri = f"sip:{self.settings.device_id}@{self._contact_host()}:{transport.local[1]}"
        # RFC 3261 section 19.1.1: without the parameter a peer reaches a sip: URI over UDP.
        return uri + ";transport=tcp" if self.settings.transport == "tcp" else uri

    # --- state ----------------------------------------------------------------------------------

    def _set_state(self, state: LinkState, reason: str) -> None:
        changed = state != self.state
        if changed or reason != self.reason:
            level = logging.WARNING if state == "failed" else logging.INFO
            log.log(level, "GB/T 28181 link to %s: %s (%s)", self.settings.target, state, reason)
        self.state = state
        self.reason = reason
        if changed and self._on_state is not None:
            try:
                self._on_state(state, reason)
            except Exception:  # an observer must not break the link
                log.exception("on_state failed")

    # --- main loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        immediate = True
        while True:
            if not immediate:
                # GB/T 28181 clause 9.1.2: a failed registration is retried no sooner than 60 s.
                await asyncio.sleep(self.settings.retry_s)
            self._set_state("registering", f"registering to {self.settings.target}")
            try:
                await self._ensure_connected()
                granted = await self._register(self.settings.expires_s)
                immediate = await self._maintain(granted)
            except RegisterFailed as exc:
                self._fail(str(exc))
                immediate = False
            except Exception as exc:  # a bug must not end the link for good: report, back off, retry
                log.exception("GB/T 28181 link to %s: unexpected error", self.settings.target)
                self._fail(f"internal error: {type(exc).__name__}")
                immediate = False

    def _fail(self, reason: str) -> None:
        self.counters["failures"] += 1
        self.last_failure = reason  # kept: `reason` moves on when the re-registration starts
        self.registered_at = self.expires_at = None
        # Start over without credentials next time: a platform that saw us go offline may have
        # forgotten its nonce, and the annex J flow begins with an unauthenticated REGISTER.
        self._challenge = None
        self._set_state("failed", reason)

    async def _maintain(self, granted: int) -> bool:
        """Keep alive and refresh until something fails; True to re-register at once."""
        loop = asyncio.get_running_loop()
        registered = loop.time()
        refresh_at = loop.time() + REFRESH_AT * granted
        next_keepalive = loop.time() + self.settings.keepalive_s
        while True:
            transport = self._transport
            assert transport is not None
            delay = max(0.0, min(refresh_at, next_keepalive) - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await transport.lost.wait()
            if transport.lost.is_set():
                # TCP connection lost: reconnect and re-register at once (a new connection is
                # not a failed registration; if that attempt fails, the 60 s rule applies). A
                # platform that drops every connection right after accepting the registration
                # would make that a tight loop: the second quick loss in a row waits like a failure.
                self._fail(f"connection to {self.settings.target} lost")
                quick = loop.time() - registered < QUICK_LOSS_S
                self._quick_losses = self._quick_losses + 1 if quick else 0
                return self._quick_losses < 2
            now = loop.time()
            if now >= refresh_at:
                try:
                    granted = await self._register(self.settings.expires_s)
                except RegisterFailed as exc:
                    self._fail(f"refresh failed: {exc}")
                    return False
                refresh_at = loop.time() + REFRESH_AT * granted
            if now >= next_keepalive:
                next_keepalive = now + self.settings.keepalive_s
                if not await self._keepalive():
                    limit = self.settings.keepalive_misses
                    if self.keepalive_misses >= limit:
                        self._fail(f"keepalive unanswered {limit} times")
                        return True  # GB/T 28181 clause 9.6: offline; register again at once

    # --- transport --------------------------------------------------------------------------------

    async def _connect(self) -> None:
        s = self.settings
        remote = (s.server_host, s.server_port)
        self._close_transport()
        self.counters["connects"] += 1
        if s.transport == "udp":
            self._transport = await UdpTransport.open(s.local_host, s.local_port, remote, self._on_message)
        else:
            async with asyncio.timeout(s.timer_f_s):
                self._transport = await TcpTransport.open(s.local_host, s.local_port, remote, self._on_message)

    async def _ensure_connected(self) -> None:
        if self._transport is not None and not self._transport.lost.is_set():
            return
        try:
            await self._connect()
        except ConnectionRefusedError as exc:
            raise RegisterFailed(f"connection refused by {self.settings.target}") from exc
        except TimeoutError as exc:
            raise RegisterFailed(f"no answer from {self.settings.target}: connect timed out") from exc
        except OSError as exc:
            raise RegisterFailed(f"cannot connect to {self.settings.target}: {exc.strerror or exc}") from exc

    def _close_transport(self) -> None:
        if self._transport is not None:
            self._dropped_closed += self._transport.dropped
            self._transport.close()
            self._transport = None
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(ConnectionError("transport closed"))
        self._answered.clear()

    # --- requests we send -------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        uri: str,
        *,
        call_id: str,
        from_tag: str,
        cseq: int,
        extra: list[tuple[str, str]],
        body: bytes = b"",
        content_type: str | None = None,
        contact: bool = False,
    ) -> SipMessage:
        s = self.settings
        assert self._transport is not None
        local_port = self._transport.local[1]
        host = self._contact_host()
        return request(
            method,
            uri,
            via_host=host,
            via_port=local_port,
            transport=s.transport,
            from_uri=f"sip:{s.device_id}@{s.server_domain}",
            from_tag=from_tag,
            to_uri=f"sip:{s.device_id}@{s.server_domain}" if method == "REGISTER" else self._server_uri,
            call_id=call_id,
            cseq=cseq,
            contact=self.contact_uri if contact else None,
            extra_headers=extra,
            body=body,
            content_type=content_type,
            user_agent=s.user_agent,
        )

    def _contact_host(self) -> str:
        """The address the platform can reach us at, for Via, Contact and Call-ID."""
        if self.settings.contact_host:
            return self.settings.contact_host
        assert self._transport is not None
        host = self._transport.local[0]
        if host not in ("0.0.0.0", "::", ""):  # noqa: S104 - comparing, not binding
            return host
        if self._route_host is None:
            self._route_host = route_to(self.settings.server_host, self.settings.server_port)
        return self._route_host

    @property
    def _server_uri(self) -> str:
        return f"sip:{self.settings.server_id}@{self.settings.server_domain}"

    def _next_cseq(self) -> int:
        self._cseq += 1
        return self._cseq

    async def _register(self, expires: int) -> int:
        """One registration (or, with `expires` 0, unregistration) round; returns the granted expiry.

        Starts with the cached challenge when there is one (refresh, unregister), else without
        credentials; answers at most one fresh 401 with credentials (RFC 3261 section 22.2).
        Raises RegisterFailed with a human reason.
        """
        s = self.settings
        uri = f"sip:{s.server_id}@{s.server_host}:{s.server_port}"
        challenge = self._challenge
        history: list[str] = []
        fresh = False  # `challenge` came in this round (not cached from an earlier registration)
        for _ in range(4):  # 423, 401, credentials, and one spare
            extra = [("Expires", str(expires))]
            if s.gb_version:
                extra.append(("X-GB-Ver", s.gb_version))
            if challenge is not None:
                self._nc += 1  # RFC 7616 section 3.4: nc counts the requests sent with this nonce
                value = authorization(
                    challenge, method="REGISTER", uri=uri, username=s.device_id, password=s.password, nc=self._nc
                )
                extra.append(("Authorization", value))
            msg = self._request(
                "REGISTER",
                uri,
                call_id=self._call_id,
                from_tag=self._from_tag,
                cseq=self._next_cseq(),
                extra=extra,
                contact=True,
            )
            self.counters["register_sent"] += 1
            try:
                resp = await self.send_request(msg)
            except TimeoutError as exc:
                raise RegisterFailed(_prefixed(history, f"no answer from {s.target}")) from exc
            except ConnectionError as exc:
                raise RegisterFailed(_prefixed(history, f"connection to {s.target} lost")) from exc
            except OSError as exc:
                raise RegisterFailed(_prefixed(history, f"send failed: {exc.strerror or exc}")) from exc
            status = resp.status or 0
            if 200 <= status < 300:
                return self._registered(resp, expires)
            label = f"{status} {resp.reason or REASONS.get(status, '')}".strip()
            if status == 423 and expires and "423" not in history:
                # RFC 3261 section 10.2.8: ask again for at least what the registrar accepts.
                floor = _delta_seconds(resp.get("Min-Expires"))
                if floor is not None and expires < floor <= MAX_EXPIRES_S:
                    expires = floor
                    history.append("423")
                    continue
            if status not in (401, 407):
                hint = ": wrong password?" if status == 403 and history else ""
                raise RegisterFailed(_prefixed(history, label + hint))
            header = resp.get("WWW-Authenticate" if status == 401 else "Proxy-Authenticate")
            if header is None:
                raise RegisterFailed(_prefixed(history, f"{label} without a Digest challenge"))
            try:
                new_challenge = parse_challenge(header)
            except DigestError as exc:
                raise RegisterFailed(_prefixed(history, f"{label} with an unusable challenge: {exc.reason}")) from exc
            if fresh and not new_challenge.stale:
                # Credentials for a nonce issued in this very round were refused: retrying with
                # the same password cannot help (a stale=true nonce may, RFC 7616 section 3.3).
                raise RegisterFailed(_prefixed(history, f"{label} again after credentials: wrong password?"))
            challenge, self._challenge, self._nc, fresh = new_challenge, new_challenge, 0, True
            history.append(str(status))
        raise RegisterFailed(_prefixed(history, "challenged again after credentials: wrong password?"))

    def _registered(self, resp: SipMessage, requested: int) -> int:
        granted = resp.expires
        if granted is None or (granted == 0 and requested):
            granted = requested
        if requested == 0:
            return 0
        now = time.time()
        self.registered_at = now
        self.expires_at = now + granted
        self.keepalive_misses = 0
        self.counters["register_ok"] += 1
        # Annex I: the platform answers with its own edition; a 2016 platform sends none.
        version = (resp.get("X-GB-Ver") or "").strip()
        self.platform_gb_version = version[:16] or None
        date = resp.get("Date")
        moment = parse_date(date) if date is not None else None
        if moment is not None:
            # GB/T 28181 clause 9.10.2: the platform's Date is the clock to follow. A zone-less
            # Date is the platform's wall-clock time, which is the site's (not the host's: an edge box
            # often runs on UTC while the platform speaks Beijing time).
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=self.settings.zone) if self.settings.zone else moment.astimezone()
            self.time_offset_s = (moment - datetime.now(UTC)).total_seconds()
        else:
            self.time_offset_s = None
        self._set_state("registered", f"registered to {self.settings.target} for {granted} s")
        return granted

    async def _keepalive(self) -> bool:
        """One Keepalive Notify (GB/T 28181 clause 9.6, annex A.2.5); True when answered 2xx."""
        s = self.settings
        self._sn += 1
        body = manscdp.keepalive(self._sn, s.device_id)
        msg = self._request(
            "MESSAGE",
            self._server_uri,
            call_id=new_call_id(self._contact_host()),
            from_tag=new_tag(),
            cseq=1,
            extra=[],
            body=body,
            content_type=manscdp.CONTENT_TYPE,
        )
        self.counters["keepalive_sent"] += 1
        try:
            resp = await self.send_request(msg)
            ok = resp.status is not None and 200 <= resp.status < 300
        except (TimeoutError, OSError) as exc:
            log.debug("keepalive to %s failed: %s", s.target, exc)
            ok = False
        if ok:
            self.counters["keepalive_ok"] += 1
            self.keepalive_misses = 0
            self.last_keepalive_ok = time.time()
        else:
            self.counters["keepalive_missed"] += 1
            self.keepalive_misses += 1
        return ok

    # --- what we receive --------------------------------------------------------------------------

    def _on_message(self, msg: SipMessage, addr: Addr) -> None:
        if not msg.is_request:
            self._on_response(msg)
        else:
            self._on_incoming_request(msg, addr)

    def _on_response(self, msg: SipMessage) -> None:
        branch = msg.via_branch
        try:
            method = msg.cseq[1]
        except SipError:
            method = ""
        pending = self._pending.get((branch or "", method))
        if pending is None or pending.future.done():
            self.counters["responses_unmatched"] += 1  # a late retransmission, or not ours
            return
        if msg.status is not None and msg.status < 200:
            pending.proceeding = True
        else:
            pending.future.set_result(msg)

    def _on_incoming_request(self, msg: SipMessage, addr: Addr) -> None:
        if msg.method == "ACK":
            # Never answered (RFC 3261 section 17.2.1). It ends the 2xx retransmissions and, for a
            # live session, starts the media.
            with contextlib.suppress(SipError):
                resend = self._awaiting_ack.pop((msg.call_id, msg.cseq[0]), None)
                if resend is not None:
                    resend.cancel()
            if self._on_ack is not None:
                try:
                    self._on_ack(msg)
                except Exception:  # one bad ACK must not stop the receive path
                    log.exception("on_ack failed")
            return
        self.counters["requests_received"] += 1
        key = (msg.via_branch or "", msg.method or "")
        if key in self._answered:
            # A retransmission (RFC 3261 section 17.2.2): repeat the answer, or wait for it.
            answer = self._answered[key]
            if answer is not None and self._transport is not None:
                with contextlib.suppress(OSError):
                    self._transport.send(answer, addr)
            return
        if len(self._handlers) >= MAX_HANDLERS:
            self.counters["requests_rejected_busy"] += 1
            self._send_response(response_to(msg, 503, received=addr, user_agent=self.settings.user_agent), addr)
            return
        self._answered[key] = None
        while len(self._answered) > MAX_ANSWERED:
            self._answered.popitem(last=False)
        if msg.method == "INVITE":
            # Opening the media may take a TCP connect: stop the platform's INVITE retransmissions
            # now (RFC 3261 section 17.2.1).
            self._send_response(response_to(msg, 100, user_agent=self.settings.user_agent), addr)
        task = asyncio.create_task(self._handle(msg, addr, key))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _handle(self, msg: SipMessage, addr: Addr, key: tuple[str, str]) -> None:
        resp: SipMessage | None = None
        if self._on_request is not None:
            try:
                resp = await self._on_request(msg)
            except Exception:  # a handler bug must still answer, or the platform retransmits for 32 s
                log.exception("on_request failed for %s", msg.method)
                resp = response_to(msg, 500, user_agent=self.settings.user_agent)
        if resp is None:
            status = 200 if msg.method == "MESSAGE" else 405
            extra = [] if status == 200 else [("Allow", self._allow)]
            resp = response_to(msg, status, received=addr, extra_headers=extra, user_agent=self.settings.user_agent)
        data = self._send_response(resp, addr)
        if key in self._answered and data is not None:
            self._answered[key] = data
        if (
            data is not None
            and msg.method == "INVITE"
            and resp.status is not None
            and 200 <= resp.status < 300
            and self._transport is not None
            and not self._transport.reliable
        ):
            ack_key = (msg.call_id, msg.cseq[0])
            old = self._awaiting_ack.pop(ack_key, None)
            if old is not None:
                old.cancel()
            self._awaiting_ack[ack_key] = asyncio.create_task(self._resend_until_ack(ack_key, data, addr))

    async def _resend_until_ack(self, key: tuple[str, int], data: bytes, addr: Addr) -> None:
        """RFC 3261 section 13.3.1.4: resend a 2xx to INVITE at T1, doubling to T2, until the ACK
        comes (the ACK handler cancels this) or 64*T1 passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.timer_f_s
        interval = self.settings.t1_s
        try:
            while (remaining := deadline - loop.time()) > 0:
                await asyncio.sleep(min(interval, remaining))
                if loop.time() >= deadline or self._transport is None:
                    break
                with contextlib.suppress(OSError):
                    self._transport.send(data, addr)
                    self.counters["retransmits"] += 1
                interval = min(interval * 2, T2_S)
            self.counters["acks_missing"] += 1
        finally:
            if self._awaiting_ack.get(key) is asyncio.current_task():
                del self._awaiting_ack[key]

    def _send_response(self, resp: SipMessage, addr: Addr) -> bytes | None:
        if self._transport is None:
            return None
        # Every answer, the application's included, carries the request's source in its top Via.
        data = stamp_received(resp, addr).to_bytes()
        try:
            self._transport.send(data, addr)
        except OSError as exc:
            log.debug("could not answer %s: %s", addr, exc)
        return data


def _delta_seconds(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None


def _prefixed(history: list[str], text: str) -> str:
    """`401 then 403 Forbidden`: the reason says which steps came before the failing one."""
    return " then ".join([*history, text])


def route_to(host: str, port: int) -> str:
    """Our source address towards the platform (a connected UDP socket sends nothing)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, port))
            return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
