"""A test ONVIF device: a real HTTP server on 127.0.0.1 answering from per-vendor response templates.

Imports only the standard library and adapters/common, so the demo and tests can run it anywhere.
Templates live in onvif_responses/<vendor>/<Action>.xml (Media2 actions as Media2.<Action>.xml);
an action without a template is answered with an ActionNotSupported fault, as a real device would.

It checks WS-Security UsernameToken digests against its own (possibly skewed) clock and HTTP digest
against its own nonce, and answers a wrong password with a NotAuthorized fault or a 401.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from types import TracebackType
from typing import Any, ClassVar, Final, Self
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

__all__ = ["VENDORS", "DiscoveryResponder", "OnvifDeviceServer"]

RESPONSES_DIR: Final = Path(__file__).with_name("onvif_responses")
NS_MEDIA2: Final = "http://www.onvif.org/ver20/media/wsdl"
AUTH_MODES: Final = ("wsse", "digest", "both", "none")
CREATED_WINDOW_S: Final = 30.0
MAX_REQUEST_BYTES: Final = 256 * 1024
PRE_AUTH_ACTIONS: Final = frozenset({"GetSystemDateAndTime"})


@dataclass(frozen=True)
class _Stream:
    token: str
    name: str
    codec: str  # as ONVIF spells it: H264, H265, JPEG
    width: int
    height: int
    fps: int
    bitrate_kbps: int
    gop: int
    profile: str


@dataclass(frozen=True)
class _Vendor:
    manufacturer: str
    model: str
    default_auth: str
    tz_hours: int  # the device's local time zone, for LocalDateTime
    main: _Stream
    sub: _Stream
    embed_credentials: bool = False  # put the credentials into stream URIs, as some firmwares do
    realm: str = "IP Camera"
    auth_fail_status: int = 400  # HTTP status of a NotAuthorized fault
    lost_subscription_status: int = 400  # HTTP status of the fault for a subscription it no longer knows
    datetime_type: str = "Manual"  # DateTimeType reported until someone sets the clock


VENDORS: Final[dict[str, _Vendor]] = {
    "generic": _Vendor(
        manufacturer="Generic",
        model="GEN-IPC-1080",
        default_auth="wsse",
        tz_hours=0,
        datetime_type="NTP",
        main=_Stream("profile_main", "mainStream", "H264", 1920, 1080, 25, 4096, 50, "Main"),
        sub=_Stream("profile_sub", "subStream", "H264", 640, 360, 15, 512, 30, "Baseline"),
    ),
    "hik-like": _Vendor(
        manufacturer="HikLike",
        model="HL-2CD-4MP",
        default_auth="both",
        tz_hours=8,
        main=_Stream("Profile_101", "mainStream", "H265", 2560, 1440, 20, 6144, 40, "Main"),
        sub=_Stream("Profile_102", "subStream", "H264", 640, 480, 15, 512, 30, "Main"),
        embed_credentials=True,
        realm="HikLikeCamera",
        auth_fail_status=401,
        lost_subscription_status=404,
    ),
    "dahua-like": _Vendor(
        manufacturer="DahuaLike",
        model="DL-IPC-HFW",
        default_auth="digest",
        tz_hours=8,
        main=_Stream("MediaProfile00000", "MainStream", "H265", 2688, 1520, 25, 4096, 50, "Main"),
        sub=_Stream("MediaProfile00001", "SubStream", "H264", 704, 576, 25, 1024, 50, "Main"),
        realm="Login to DL-IPC",
        auth_fail_status=401,
    ),
}


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2].rpartition(":")[2]


def namespace_of(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def find_child(el: ET.Element | None, name: str) -> ET.Element | None:
    if el is None:
        return None
    for d in el.iter():
        if isinstance(d.tag, str) and local_name(d.tag) == name:
            return d
    return None


def child_text(el: ET.Element | None, name: str) -> str | None:
    found = find_child(el, name)
    return None if found is None or found.text is None else found.text.strip()


def _ntp_host_xml(host: str) -> str:
    try:
        kind = f"IPv{ipaddress.ip_address(host).version}"
    except ValueError:
        kind = "DNS"
    field = "DNSname" if kind == "DNS" else f"{kind}Address"
    return f"<tt:NTPManual><tt:Type>{kind}</tt:Type><tt:{field}>{escape(host)}</tt:{field}></tt:NTPManual>"


def _md5(value: str) -> str:
    return hashlib.md5(value.encode("utf-8")).hexdigest()  # noqa: S324 - HTTP digest is MD5 by definition


def _parse_digest_header(value: str) -> dict[str, str]:
    if not value.lower().startswith("digest "):
        return {}
    out: dict[str, str] = {}
    rest = value[7:]
    while rest:
        rest = rest.lstrip(" ,")
        key, eq, rest = rest.partition("=")
        if not eq:
            break
        if rest.startswith('"'):
            val, _, rest = rest[1:].partition('"')
        else:
            val, _, rest = rest.partition(",")
        out[key.strip().lower()] = val.strip()
    return out


@dataclass
class _Subscription:
    expires: float  # time.monotonic()
    queue: list[str]  # rendered wsnt:NotificationMessage fragments


class HttpReply(Exception):
    """Raised by render() to answer with a specific HTTP status (e.g. 404 for a forgotten subscription)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


_DURATION: Final = re.compile(r"^P(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
EVENT_ACTIONS: Final = frozenset({"CreatePullPointSubscription", "PullMessages", "Renew", "Unsubscribe"})
MAX_PULL_WAIT_S: Final = 10.0


def duration_s(value: str | None, default: float) -> float:
    """xs:duration 'PT1M30S' -> 90.0; the default for anything else (absolute times included)."""
    m = _DURATION.match((value or "").strip())
    if m is None or not any(m.groups()):
        return default
    hours, minutes, seconds = m.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _subscription_id(path: str) -> str:
    """The id in '/onvif/subscription?sub=ab12' or '/onvif/Events/PullSubManager?Idx=ab12'."""
    parts = urlsplit(path)
    for values in parse_qs(parts.query).values():
        return values[0]
    return parts.path.rpartition("/")[2]


def _notification(topic: str, data: dict[str, str], source: dict[str, str], utc: datetime, operation: str) -> str:
    def items(values: dict[str, str]) -> str:
        return "".join(
            f'<tt:SimpleItem Name="{escape(k, _ATTR)}" Value="{escape(v, _ATTR)}"/>' for k, v in values.items()
        )

    topic = topic if ":" in topic.partition("/")[0] else f"tns1:{topic}"
    return (
        "<wsnt:NotificationMessage>"
        '<wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">'
        f"{escape(topic)}</wsnt:Topic><wsnt:Message>"
        f'<tt:Message UtcTime="{_iso(utc)}" PropertyOperation="{escape(operation, _ATTR)}">'
        f"<tt:Source>{items(source)}</tt:Source><tt:Data>{items(data)}</tt:Data>"
        "</tt:Message></wsnt:Message></wsnt:NotificationMessage>"
    )


_ATTR: Final = {'"': "&quot;"}


class OnvifDeviceServer:
    """A simulated ONVIF camera. `auth=None` uses the vendor shape's usual scheme."""

    def __init__(
        self,
        vendor: str,
        username: str,
        password: str,
        *,
        main_uri: str,
        sub_uri: str | None = None,
        clock_skew_s: float = 0.0,
        auth: str | None = None,
        recordings: tuple[datetime, datetime] | None = None,
        port: int = 0,
        clock_needs_auth: bool = False,
    ) -> None:
        if vendor not in VENDORS:
            raise ValueError(f"unknown vendor shape {vendor!r}; known: {sorted(VENDORS)}")
        self.vendor = vendor
        self.shape = VENDORS[vendor]
        self.auth = auth or self.shape.default_auth
        if self.auth not in AUTH_MODES:
            raise ValueError(f"auth must be one of {AUTH_MODES}")
        self.username = username
        self.password = password
        self.main_uri = main_uri
        self.sub_uri = sub_uri
        self.clock_skew_s = clock_skew_s
        self.recordings = recordings
        self.clock_needs_auth = clock_needs_auth  # firmwares that break the spec's pre-auth GetSystemDateAndTime
        self._requested_port = port
        self._templates = self._load_templates(RESPONSES_DIR / vendor)
        self._digest_nonce = secrets.token_hex(16)
        self._httpd: ThreadingHTTPServer | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[str] = []  # actions served, in order (for tests)
        self.datetime_type = self.shape.datetime_type
        self.ntp_from_dhcp = True
        self.ntp_servers: list[str] = []  # set by SetNTP (for tests)
        self._subs: dict[str, _Subscription] = {}
        self._events = threading.Condition()  # guards _subs; wakes long-polling PullMessages
        self.subscriptions_created = 0
        self.renewals = 0

    @staticmethod
    def _load_templates(folder: Path) -> dict[str, Template]:
        return {p.stem: Template(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.xml"))}

    # -- lifecycle --

    @property
    def port(self) -> int:
        """The bound port (still known after stop(), for messages and assertions)."""
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def xaddr(self) -> str:
        return f"http://127.0.0.1:{self.port}/onvif/device_service"

    def start(self) -> Self:
        device = self

        class Handler(_Handler):
            server_device: ClassVar[OnvifDeviceServer] = device

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._requested_port), Handler)
        self._httpd.daemon_threads = True
        self._port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name=f"onvif-sim-{self.vendor}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- device behaviour --

    def device_now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_skew_s)

    def check_wsse(self, envelope: ET.Element) -> bool:
        token = find_child(find_child(envelope, "Header"), "UsernameToken")
        if token is None:
            return False
        user, digest = child_text(token, "Username"), child_text(token, "Password")
        nonce_b64, created = child_text(token, "Nonce"), child_text(token, "Created")
        if not (user and digest and nonce_b64 and created) or user != self.username:
            return False
        try:
            nonce = base64.b64decode(nonce_b64, validate=True)
            created_at = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            return False
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        if abs((created_at - self.device_now()).total_seconds()) > CREATED_WINDOW_S:
            return False
        raw = nonce + created.encode() + self.password.encode()
        expected = base64.b64encode(hashlib.sha1(raw).digest()).decode()  # noqa: S324 - WSS PasswordDigest
        return secrets.compare_digest(expected, digest)

    def check_digest(self, header: str | None, method: str) -> bool:
        fields = _parse_digest_header(header or "")
        if not fields or fields.get("username") != self.username or fields.get("nonce") != self._digest_nonce:
            return False
        ha1 = _md5(f"{self.username}:{fields.get('realm', '')}:{self.password}")
        ha2 = _md5(f"{method}:{fields.get('uri', '')}")
        if fields.get("qop"):
            expected = _md5(
                f"{ha1}:{fields['nonce']}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:{fields['qop']}:{ha2}"
            )
        else:
            expected = _md5(f"{ha1}:{fields['nonce']}:{ha2}")
        return secrets.compare_digest(expected, fields.get("response", ""))

    def digest_challenge(self) -> str:
        return f'Digest realm="{self.shape.realm}", qop="auth", nonce="{self._digest_nonce}", algorithm=MD5'

    def _stream_uri(self, uri: str) -> str:
        if not self.shape.embed_credentials or "://" not in uri:
            return uri
        scheme, _, rest = uri.partition("://")
        return f"{scheme}://{self.username}:{self.password}@{rest}"

    def _stream_for(self, token: str | None) -> tuple[_Stream, str] | None:
        if token == self.shape.main.token:
            return self.shape.main, self.main_uri
        if token == self.shape.sub.token and self.sub_uri is not None:
            return self.shape.sub, self.sub_uri
        return None

    def _clock_values(self) -> dict[str, Any]:
        now = self.device_now()
        local = now + timedelta(hours=self.shape.tz_hours)
        values: dict[str, Any] = {}
        for prefix, moment in (("utc_", now), ("local_", local)):
            for field in ("year", "month", "day", "hour", "minute", "second"):
                values[prefix + field] = getattr(moment, field)
        return values

    # -- events (test hooks and PullPoint behaviour) --

    def emit_event(
        self,
        topic: str,
        data: dict[str, str],
        source: dict[str, str] | None = None,
        *,
        operation: str = "Changed",
    ) -> None:
        """Queue one event for every live subscription, e.g. ('tns1:VideoSource/MotionAlarm', {'State': 'true'})."""
        fragment = _notification(topic, data, source or {"Source": "VideoSource_1"}, self.device_now(), operation)
        with self._events:
            for sub in self._live_subscriptions():
                sub.queue.append(fragment)
            self._events.notify_all()

    def reboot(self) -> None:
        """Forget every subscription, as a camera does when it restarts; later pulls get a fault (or 404)."""
        with self._events:
            self._subs.clear()
            self._events.notify_all()

    @property
    def live_subscriptions(self) -> int:
        with self._events:
            return len(self._live_subscriptions())

    def _live_subscriptions(self) -> list[_Subscription]:
        now = time.monotonic()
        for sub_id in [k for k, v in self._subs.items() if v.expires <= now]:
            del self._subs[sub_id]  # the lease ran out: a real camera drops it too
        return list(self._subs.values())

    def _subscription(self, path: str) -> tuple[str, _Subscription]:
        sub_id = _subscription_id(path)
        self._live_subscriptions()
        sub = self._subs.get(sub_id)
        if sub is None:
            fault = self._fault("Sender", "InvalidArgVal", "ResourceUnknownFault", "no such subscription")
            raise HttpReply(self.shape.lost_subscription_status, fault)
        return sub_id, sub

    def _event_values(self, action: str, request: ET.Element, path: str) -> dict[str, Any]:
        with self._events:
            if action == "CreatePullPointSubscription":
                sub_id = secrets.token_hex(4)
                lease = duration_s(child_text(request, "InitialTerminationTime"), 60.0)
                self._subs[sub_id] = sub = _Subscription(time.monotonic() + lease, [])
                self.subscriptions_created += 1
            else:
                sub_id, sub = self._subscription(path)
            messages = ""
            if action == "PullMessages":
                messages = self._pull(sub, request)
            elif action == "Renew":
                sub.expires = time.monotonic() + duration_s(child_text(request, "TerminationTime"), 60.0)
                self.renewals += 1
            elif action == "Unsubscribe":
                del self._subs[sub_id]
            now = self.device_now()
            termination = now + timedelta(seconds=max(0.0, sub.expires - time.monotonic()))
        return {
            "sub_id": sub_id,
            "messages": messages,
            "current_time": _iso(now),
            "termination_time": _iso(termination),
        }

    def _pull(self, sub: _Subscription, request: ET.Element) -> str:
        """Long-poll: wait (lock held by the caller, released while waiting) until events or the timeout."""
        wait = min(duration_s(child_text(request, "Timeout"), 5.0), MAX_PULL_WAIT_S)
        limit_text = child_text(request, "MessageLimit") or "100"
        limit = max(1, int(limit_text)) if limit_text.isdigit() else 100
        deadline = time.monotonic() + wait
        while not sub.queue and sub in self._subs.values() and time.monotonic() < deadline:
            self._events.wait(deadline - time.monotonic())
        if sub not in self._subs.values():  # rebooted while we waited
            fault = self._fault("Sender", "InvalidArgVal", "ResourceUnknownFault", "no such subscription")
            raise HttpReply(self.shape.lost_subscription_status, fault)
        taken, sub.queue[:] = sub.queue[:limit], sub.queue[limit:]
        return "".join(taken)

    def render(self, key: str, request: ET.Element, path: str = "/") -> str | None:
        """The response body for one action, or None when this shape does not implement it."""
        template = self._templates.get(key)
        if template is None:
            return None
        values: dict[str, Any] = {"xaddr_base": f"http://127.0.0.1:{self.port}"}
        values.update(self._clock_values())
        values.update(datetime_type=self.datetime_type, ntp_from_dhcp=str(self.ntp_from_dhcp).lower())
        values["ntp_manual"] = "".join(_ntp_host_xml(s) for s in self.ntp_servers)
        action = key.rpartition(".")[2]
        if action in EVENT_ACTIONS:
            values.update(self._event_values(action, request, path))
        elif action == "SetSystemDateAndTime":
            fault = self._set_date_time(request)
            if fault is not None:
                return fault
        elif action == "SetNTP":
            self._set_ntp(request)
        elif action == "GetProfiles":
            fragment = self._templates.get(key.replace("GetProfiles", "Profile"))
            streams = [self.shape.main] + ([self.shape.sub] if self.sub_uri is not None else [])
            values["profiles"] = "".join(fragment.substitute(vars(s)) if fragment is not None else "" for s in streams)
        elif action in ("GetStreamUri", "GetSnapshotUri"):
            found = self._stream_for(child_text(request, "ProfileToken"))
            if found is None:
                return self._fault("Sender", "InvalidArgVal", "NoProfile", "no such profile")
            stream, uri = found
            if action == "GetStreamUri":
                values["uri"] = escape(self._stream_uri(uri))
            else:
                values["uri"] = escape(f"http://127.0.0.1:{self.port}/snapshot/{stream.token}.jpg")
        elif action == "GetRecordingSummary":
            if self.recordings is None:
                values.update(data_from="", data_until="", recordings=0)
            else:
                start, end = self.recordings
                iso = "%Y-%m-%dT%H:%M:%SZ"
                values.update(
                    data_from=f"<tt:DataFrom>{start.astimezone(UTC).strftime(iso)}</tt:DataFrom>",
                    data_until=f"<tt:DataUntil>{end.astimezone(UTC).strftime(iso)}</tt:DataUntil>",
                    recordings=1,
                )
        return template.substitute(values)

    def _set_date_time(self, request: ET.Element) -> str | None:
        """Apply SetSystemDateAndTime by moving the skew, so GetSystemDateAndTime and the WS-Security
        `Created` window follow the new clock. Returns a fault body for a bad request."""
        mode = child_text(request, "DateTimeType")
        if mode not in ("Manual", "NTP"):
            return self._fault("Sender", "InvalidArgVal", "InvalidDateTimeType", "DateTimeType must be Manual or NTP")
        if mode == "Manual":
            utc = find_child(request, "UTCDateTime")
            fields = [child_text(utc, f) for f in ("Year", "Month", "Day", "Hour", "Minute", "Second")]
            try:
                year, month, day, hour, minute, second = (int(f or "") for f in fields)
                target = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            except ValueError:
                return self._fault("Sender", "InvalidArgVal", "InvalidDateTime", "bad or missing UTCDateTime")
            self.clock_skew_s = (target - datetime.now(UTC)).total_seconds()
        self.datetime_type = mode
        return None

    def _set_ntp(self, request: ET.Element) -> None:
        self.ntp_from_dhcp = (child_text(request, "FromDHCP") or "").lower() == "true"
        servers: list[str] = []
        for entry in request.iter():
            if isinstance(entry.tag, str) and local_name(entry.tag) == "NTPManual":
                host = (
                    child_text(entry, "IPv4Address") or child_text(entry, "IPv6Address") or child_text(entry, "DNSname")
                )
                if host:
                    servers.append(host)
        self.ntp_servers = servers

    @staticmethod
    def _fault(code: str, subcode: str, subsub: str | None, reason: str) -> str:
        inner = f"<env:Subcode><env:Value>ter:{subsub}</env:Value></env:Subcode>" if subsub else ""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:ter="http://www.onvif.org/ver10/error">'
            "<env:Body><env:Fault>"
            f"<env:Code><env:Value>env:{code}</env:Value><env:Subcode><env:Value>ter:{subcode}</env:Value>"
            f"{inner}</env:Subcode></env:Code>"
            f'<env:Reason><env:Text xml:lang="en">{escape(reason)}</env:Text></env:Reason>'
            "</env:Fault></env:Body></env:Envelope>"
        )


class _Handler(BaseHTTPRequestHandler):
    server_device: ClassVar[OnvifDeviceServer]
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; do not wait 40 ms for an ACK
    server_version = "onvif-sim/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: str, extra: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        device = self.server_device
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_REQUEST_BYTES:
            self._send(400, device._fault("Sender", "InvalidArgVal", None, "bad request size"))
            return
        raw = self.rfile.read(length)
        if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
            self._send(400, device._fault("Sender", "WellFormed", None, "DTD not allowed"))
            return
        try:
            envelope = ET.fromstring(raw)  # noqa: S314 - DTDs refused above; requests come from tests
        except ET.ParseError:
            self._send(400, device._fault("Sender", "WellFormed", None, "not well-formed"))
            return
        body = find_child(envelope, "Body")
        request = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
        if request is None:
            self._send(400, device._fault("Sender", "InvalidArgVal", None, "empty body"))
            return
        action = local_name(request.tag)
        key = f"Media2.{action}" if namespace_of(request.tag) == NS_MEDIA2 else action
        device.requests.append(key)
        needs_auth = action not in PRE_AUTH_ACTIONS or device.clock_needs_auth
        if needs_auth and not self._authorised(envelope):
            return
        try:
            response = device.render(key, request, self.path)
        except HttpReply as reply:
            self._send(reply.status, reply.body)
            return
        if response is None:
            self._send(400, device._fault("Receiver", "ActionNotSupported", None, f"{action} is not supported"))
            return
        self._send(200, response)

    def _authorised(self, envelope: ET.Element) -> bool:
        device = self.server_device
        mode = device.auth
        if mode == "none":
            return True
        if mode in ("wsse", "both") and device.check_wsse(envelope):
            return True
        if mode in ("digest", "both") and device.check_digest(self.headers.get("Authorization"), "POST"):
            return True
        fault = device._fault("Sender", "NotAuthorized", None, "Sender not Authorized")
        if mode == "wsse":
            self._send(device.shape.auth_fail_status, fault)
        else:
            self._send(401, fault, {"WWW-Authenticate": device.digest_challenge()})
        return False


class DiscoveryResponder:
    """Answers WS-Discovery Probes on UDP 127.0.0.1:`port` with one ProbeMatch for `xaddr`."""

    def __init__(self, xaddr: str, port: int = 0, *, endpoint: str | None = None) -> None:
        self.xaddr = xaddr
        self.endpoint = endpoint or f"urn:uuid:{secrets.token_hex(4)}-0000-4000-8000-{secrets.token_hex(6)}"
        self._requested_port = port
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.probes = 0

    @property
    def port(self) -> int:
        if self._sock is None:
            raise RuntimeError("responder not started")
        return int(self._sock.getsockname()[1])

    def start(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", self._requested_port))
        sock.settimeout(0.1)
        self._sock = sock
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="wsd-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stop.is_set():
            try:
                data, addr = sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self.answer(data)
            if reply is not None:
                try:
                    sock.sendto(reply, addr)
                except OSError:
                    continue

    def answer(self, data: bytes) -> bytes | None:
        if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
            return None
        try:
            root = ET.fromstring(data)  # noqa: S314 - DTDs refused above
        except ET.ParseError:
            return None
        probe = find_child(root, "Probe")
        if probe is None:
            return None
        types = child_text(probe, "Types") or ""
        if types and "NetworkVideoTransmitter" not in types:
            return None
        self.probes += 1
        message_id = child_text(root, "MessageID") or ""
        wsa = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
            f'xmlns:wsa="{wsa}" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
            'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
            "<SOAP-ENV:Header>"
            f"<wsa:MessageID>urn:uuid:{secrets.token_hex(16)}</wsa:MessageID>"
            f"<wsa:RelatesTo>{escape(message_id)}</wsa:RelatesTo>"
            f"<wsa:To>{wsa}/role/anonymous</wsa:To>"
            "<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>"
            "</SOAP-ENV:Header><SOAP-ENV:Body><d:ProbeMatches><d:ProbeMatch>"
            f"<wsa:EndpointReference><wsa:Address>{escape(self.endpoint)}</wsa:Address></wsa:EndpointReference>"
            "<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>"
            "<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming "
            "onvif://www.onvif.org/name/SimCamera onvif://www.onvif.org/location/lab</d:Scopes>"
            f"<d:XAddrs>{escape(self.xaddr)}</d:XAddrs>"
            "<d:MetadataVersion>1</d:MetadataVersion>"
            "</d:ProbeMatch></d:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>"
        ).encode()
