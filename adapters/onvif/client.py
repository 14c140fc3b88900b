"""A small async ONVIF client on httpx: device info, clock, services, profiles, URIs, recordings.

Auth: WS-Security UsernameToken (PasswordDigest, `Created` in device time) first; on an HTTP 401 or
a NotAuthorized fault, HTTP digest; whichever worked is remembered for the rest of the session.
Service XAddrs are re-based onto the host and port the client was given (cameras behind NAT or a
port-forward report their private address).
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Final, Self
from urllib.parse import urlsplit, urlunsplit
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape as _xml_text

import httpx

from adapters.onvif.events import PullPoint, create_pull_point
from adapters.onvif.soap import (
    NS_DEVICE,
    NS_MEDIA,
    NS_MEDIA2,
    NS_SEARCH,
    SOAP_CONTENT_TYPE,
    OnvifError,
    build_envelope,
    child,
    children,
    descendant,
    descendants,
    local_name,
    parse_envelope,
    text_of,
    username_token,
    xsd_datetime,
)

__all__ = [
    "ClockReading",
    "DeviceInfo",
    "Inventory",
    "MediaProfile",
    "OnvifClient",
    "OnvifError",
    "RecordingSummary",
    "VideoEncoding",
]

NS_EVENTS: Final = "http://www.onvif.org/ver10/events/wsdl"
NS_IMAGING: Final = "http://www.onvif.org/ver20/imaging/wsdl"
NS_PTZ: Final = "http://www.onvif.org/ver20/ptz/wsdl"
NS_ANALYTICS: Final = "http://www.onvif.org/ver20/analytics/wsdl"
NS_RECORDING: Final = "http://www.onvif.org/ver10/recording/wsdl"
NS_REPLAY: Final = "http://www.onvif.org/ver10/replay/wsdl"
NS_DEVICEIO: Final = "http://www.onvif.org/ver10/deviceIO/wsdl"

# GetCapabilities category -> service namespace (for devices without GetServices).
_CAPABILITY_NS: Final = {
    "Device": NS_DEVICE,
    "Media": NS_MEDIA,
    "Events": NS_EVENTS,
    "Imaging": NS_IMAGING,
    "PTZ": NS_PTZ,
    "Analytics": NS_ANALYTICS,
    "Search": NS_SEARCH,
    "Recording": NS_RECORDING,
    "Replay": NS_REPLAY,
    "DeviceIO": NS_DEVICEIO,
}

_DEVICE_PATH: Final = "/onvif/device_service"


@dataclass(frozen=True)
class _CallOptions:
    header: str = ""  # extra SOAP header blocks
    timeout_s: float | None = None  # None: the client's timeout


@dataclass(frozen=True)
class DeviceInfo:
    manufacturer: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    hardware_id: str | None


@dataclass(frozen=True)
class VideoEncoding:
    codec: str  # "h264", "h265", "jpeg" or another lower-case name
    width: int | None
    height: int | None
    fps: float | None
    bitrate_kbps: int | None
    gop: int | None
    profile: str | None


@dataclass(frozen=True)
class MediaProfile:
    token: str
    name: str | None
    encoding: VideoEncoding | None
    stream_uri: str | None
    snapshot_uri: str | None


@dataclass(frozen=True)
class ClockReading:
    device_utc: datetime | None
    offset_s: float | None  # device minus local, at the middle of the request
    ntp: bool | None
    timezone: str | None
    daylight_savings: bool | None = None


@dataclass(frozen=True)
class RecordingSummary:
    earliest: datetime | None
    latest: datetime | None
    recordings: int


@dataclass(frozen=True)
class Inventory:
    info: DeviceInfo
    clock: ClockReading
    services: dict[str, str]
    profiles: list[MediaProfile]
    recordings: RecordingSummary | None  # None: the device offers no recording search


# --- value parsing ----------------------------------------------------------------------------


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _codec(name: str | None) -> str:
    raw = (name or "").strip().lower().replace(".", "").replace("-", "")
    return {"jpeg": "jpeg", "mjpeg": "jpeg", "h264": "h264", "avc": "h264", "h265": "h265", "hevc": "h265"}.get(
        raw, raw or "unknown"
    )


def _onvif_datetime(el: Element | None) -> datetime | None:
    """tt:DateTime (Date/Year.. Time/Hour..) as a naive wall-clock datetime."""
    if el is None:
        return None
    year, month, day = (_int(text_of(el, "Date", f)) for f in ("Year", "Month", "Day"))
    hour, minute, second = (_int(text_of(el, "Time", f)) for f in ("Hour", "Minute", "Second"))
    if year is None or month is None or day is None:
        return None
    try:
        return datetime(year, month, day, hour or 0, minute or 0, second or 0)
    except ValueError:
        return None


def _onvif_datetime_xml(utc: datetime) -> str:
    """tt:DateTime content (Date, then Time, as the schema orders them) for an aware UTC datetime."""
    return (
        f"<tt:Date><tt:Year>{utc.year}</tt:Year><tt:Month>{utc.month}</tt:Month><tt:Day>{utc.day}</tt:Day></tt:Date>"
        f"<tt:Time><tt:Hour>{utc.hour}</tt:Hour><tt:Minute>{utc.minute}</tt:Minute>"
        f"<tt:Second>{utc.second}</tt:Second></tt:Time>"
    )


async def _next_whole_second() -> datetime:
    """Sleep to the next whole second of our clock and return it. UTCDateTime carries whole seconds
    only; sent at the boundary, the device is set to within the network latency, not within 1 s."""
    now = time.time()
    await asyncio.sleep(math.ceil(now) - now)
    return datetime.fromtimestamp(math.ceil(now), UTC)


_DNS_NAME: Final = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")


def _ntp_manual_entry(server: str) -> str:
    """tt:NetworkHost content for one NTP server; ValueError for anything that is neither IP nor DNS name."""
    server = server.strip()
    try:
        addr = ipaddress.ip_address(server)
    except ValueError:
        if not _DNS_NAME.match(server) or server.replace(".", "").isdigit():
            raise ValueError(f"not an IP address or DNS name: {server!r}") from None
        return f"<tt:Type>DNS</tt:Type><tt:DNSname>{_xml_text(server)}</tt:DNSname>"
    if addr.version == 4:
        return f"<tt:Type>IPv4</tt:Type><tt:IPv4Address>{addr}</tt:IPv4Address>"
    return f"<tt:Type>IPv6</tt:Type><tt:IPv6Address>{addr}</tt:IPv6Address>"


_POSIX_TZ: Final = re.compile(r"^\s*(?:<[^>]*>|[A-Za-z]{3,})([+-]?)(\d{1,2})(?::(\d{1,2}))?(?::(\d{1,2}))?")


def posix_tz_offset(tz: str | None) -> timedelta | None:
    """UTC offset of a POSIX TZ string's standard time ('CST-8' -> +8 h); None when unparseable."""
    if not tz:
        return None
    m = _POSIX_TZ.match(tz)
    if m is None:
        return None
    sign, hours, minutes, seconds = m.groups()
    west = timedelta(hours=int(hours), minutes=int(minutes or 0), seconds=int(seconds or 0))
    return west if sign == "-" else -west  # POSIX counts hours west of Greenwich


def _first(el: Element | None, default: Element) -> Element:
    return default if el is None else el


def _strip_credentials(uri: str | None) -> str | None:
    if not uri:
        return None
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if "@" not in parts.netloc:
        return uri
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, parts.fragment))


def on_host(uri: str | None, host: str) -> str | None:
    """A media URI the device reported (stream, snapshot), on the host we were configured with: a device
    behind NAT names its own private address, which must never be followed. Any user:password it
    embeds is dropped; scheme, port, path and query stay as the device said (the port mapping of the
    ONVIF service says nothing about the RTSP port)."""
    stripped = _strip_credentials(uri)
    if not stripped:
        return None
    try:
        parts = urlsplit(stripped)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    netloc_host = f"[{host}]" if ":" in host else host
    return urlunsplit(
        (
            parts.scheme,
            netloc_host if port is None else f"{netloc_host}:{port}",
            parts.path,
            parts.query,
            parts.fragment,
        )
    )


def _encoding_media1(vec: Element | None) -> VideoEncoding | None:
    if vec is None:
        return None
    codec = _codec(text_of(vec, "Encoding"))
    # Codec-specific block: H264 / H265 / MPEG4 (GovLength, profile).
    gop: int | None = None
    profile: str | None = None
    for block_name, profile_field in (("H264", "H264Profile"), ("H265", "H265Profile"), ("MPEG4", "Mpeg4Profile")):
        block = child(vec, block_name)
        if block is not None:
            gop = _int(text_of(block, "GovLength"))
            profile = text_of(block, profile_field)
            break
    rate = child(vec, "RateControl")
    return VideoEncoding(
        codec=codec,
        width=_int(text_of(vec, "Resolution", "Width")),
        height=_int(text_of(vec, "Resolution", "Height")),
        fps=_float(text_of(rate, "FrameRateLimit")),
        bitrate_kbps=_int(text_of(rate, "BitrateLimit")),
        gop=gop,
        profile=profile,
    )


def _encoding_media2(vec: Element | None) -> VideoEncoding | None:
    if vec is None:
        return None
    rate = child(vec, "RateControl")
    return VideoEncoding(
        codec=_codec(text_of(vec, "Encoding")),
        width=_int(text_of(vec, "Resolution", "Width")),
        height=_int(text_of(vec, "Resolution", "Height")),
        fps=_float(text_of(rate, "FrameRateLimit")),
        bitrate_kbps=_int(text_of(rate, "BitrateLimit")),
        gop=_int(vec.get("GovLength")),
        profile=vec.get("Profile"),
    )


# --- the client -------------------------------------------------------------------------------


class OnvifClient:
    """Async ONVIF client for one device. Use as `async with OnvifClient(...) as cam:`."""

    def __init__(
        self,
        host: str,
        port: int = 80,
        username: str | None = None,
        password: str | None = None,
        *,
        timeout_s: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.timeout_s = timeout_s
        netloc_host = f"[{host}]" if ":" in host else host
        self._base = f"http://{netloc_host}:{port}"
        self.device_xaddr = self._base + _DEVICE_PATH
        self._http: httpx.AsyncClient | None = None
        self._auth_mode: str | None = None  # None (not yet known), "wsse", "digest"
        self.offset_s: float | None = None
        self._services: dict[str, str] | None = None
        self._digest: httpx.DigestAuth | None = None
        self._clock_tried = False
        self._resyncing = False

    @property
    def auth_mode(self) -> str | None:
        """Which authentication worked: "wsse", "digest", or None while unknown."""
        return self._auth_mode

    async def __aenter__(self) -> Self:
        self._http = httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False, trust_env=False)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- transport --

    def _secrets(self) -> tuple[str, ...]:
        return (self._password,) if self._password else ()

    def rebase(self, xaddr: str) -> str:
        """An address the device reported (service, subscription), re-based onto the host:port we use."""
        return self._rebase(xaddr)

    def _rebase(self, xaddr: str) -> str:
        """Keep the path of a reported XAddr but talk to the host:port we were given."""
        try:
            parts = urlsplit(xaddr.strip())
        except ValueError:
            return self.device_xaddr
        return self._base + (parts.path or _DEVICE_PATH) + (f"?{parts.query}" if parts.query else "")

    async def _post(
        self, url: str, action: str, payload: bytes, auth: httpx.Auth | None, timeout_s: float | None = None
    ) -> tuple[httpx.Response, float, float]:
        if self._http is None:
            raise RuntimeError("OnvifClient must be used as an async context manager")
        headers = {"Content-Type": f'{SOAP_CONTENT_TYPE}; charset=utf-8; action="{action}"'}
        t0 = time.time()
        try:
            response = await self._http.post(
                url,
                content=payload,
                headers=headers,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout_s is None else timeout_s,
            )
        except httpx.TimeoutException as exc:
            raise OnvifError("timeout", f"{url}: {type(exc).__name__}", secrets=self._secrets()) from None
        except (httpx.TransportError, OSError) as exc:
            raise OnvifError("unreachable", f"{url}: {exc or type(exc).__name__}", secrets=self._secrets()) from None
        return response, t0, time.time()

    def _interpret(self, response: httpx.Response) -> Element:
        ctype = response.headers.get("content-type", "").lower()
        body = response.content
        looks_xml = "xml" in ctype or body.lstrip()[:1] == b"<"
        if response.status_code == 401:
            raise OnvifError("auth failed", f"HTTP 401 from {response.url}")
        if not body.strip() or ("html" in ctype) or not looks_xml:
            if response.status_code == 403:
                raise OnvifError("auth failed", f"HTTP 403 from {response.url}")
            raise OnvifError(
                "not onvif", f"HTTP {response.status_code} ({ctype or 'no content type'}) from {response.url}"
            )
        try:
            return parse_envelope(body)
        except OnvifError as exc:
            if exc.reason == "bad response" and response.status_code >= 400 and "xml" not in ctype:
                raise OnvifError("not onvif", f"HTTP {response.status_code} from {response.url}") from None
            raise

    def _security(self) -> str | None:
        if not self.username or self._password is None:
            return None
        device_now = datetime.now(UTC) + timedelta(seconds=self.offset_s or 0.0)
        return username_token(self.username, self._password, device_now)

    async def call(
        self,
        url: str,
        action: str,
        body: str,
        *,
        authenticated: bool = True,
        header: str = "",
        timeout_s: float | None = None,
    ) -> Element:
        """POST one SOAP request and return the response Body; authenticates as described above.

        `header`: extra SOAP header blocks (WS-Addressing for event subscriptions); `timeout_s`: this
        request's HTTP timeout instead of the client's (a PullMessages long-poll outlasts it)."""
        opts = _CallOptions(header, timeout_s)
        return (await self._call_timed(url, action, body, authenticated=authenticated, opts=opts))[0]

    def _envelope(self, body: str, opts: _CallOptions, *, wsse: bool) -> bytes:
        security = self._security() if wsse else None
        return build_envelope(body, ((security or "") + opts.header) or None)

    async def _call_timed(
        self, url: str, action: str, body: str, *, authenticated: bool = True, opts: _CallOptions | None = None
    ) -> tuple[Element, float, float]:
        opts = opts or _CallOptions()
        if not authenticated or not self.username:
            response, t0, t1 = await self._post(
                url, action, self._envelope(body, opts, wsse=False), None, opts.timeout_s
            )
            return self._interpret(response), t0, t1
        if self._auth_mode is None and not self._clock_tried:
            # The UsernameToken's Created must be in device time: learn the clock first.
            try:
                await self.system_time()
            except OnvifError as exc:
                if exc.reason in ("unreachable", "timeout", "not onvif"):
                    raise
        if self._auth_mode == "digest":
            return await self._call_digest(url, action, body, opts)
        try:
            response, t0, t1 = await self._post(
                url, action, self._envelope(body, opts, wsse=True), None, opts.timeout_s
            )
            result = self._interpret(response)
        except OnvifError as exc:
            if exc.reason != "auth failed" or (self._auth_mode == "wsse" and self._resyncing):
                raise
            if self._auth_mode == "wsse":
                return await self._call_wsse_after_resync(url, action, body, opts, exc)
            # WS-UsernameToken refused (401 or NotAuthorized fault): try HTTP digest.
            return await self._call_digest(url, action, body, opts, first=True)
        self._auth_mode = "wsse"
        return result, t0, t1

    async def _call_wsse_after_resync(
        self, url: str, action: str, body: str, opts: _CallOptions, refused: OnvifError
    ) -> tuple[Element, float, float]:
        """A token that used to be accepted was refused: the device clock has likely jumped (NTP sync,
        reboot, someone set it), which moves its `Created` window. Re-learn the clock and retry once."""
        self._resyncing = True  # a clock read that itself needs auth must not recurse into here
        try:
            await self.system_time()
        except OnvifError:
            raise refused from None
        finally:
            self._resyncing = False
        response, t0, t1 = await self._post(url, action, self._envelope(body, opts, wsse=True), None, opts.timeout_s)
        return self._interpret(response), t0, t1

    async def _call_digest(
        self, url: str, action: str, body: str, opts: _CallOptions, *, first: bool = False
    ) -> tuple[Element, float, float]:
        if self._digest is None:  # one instance, so the server's challenge is reused (nc counts up)
            self._digest = httpx.DigestAuth(self.username or "", self._password or "")
        payload = self._envelope(body, opts, wsse=False)
        response, t0, t1 = await self._post(url, action, payload, self._digest, opts.timeout_s)
        try:
            result = self._interpret(response)
        except OnvifError as exc:
            if exc.reason == "auth failed":
                raise OnvifError("auth failed", f"neither WS-UsernameToken nor HTTP digest accepted by {url}") from None
            raise
        if first:
            self._auth_mode = "digest"
        return result, t0, t1

    # -- device service --

    async def system_time(self) -> ClockReading:
        """GetSystemDateAndTime (no auth); learns the device clock offset used for WS-Security."""
        self._clock_tried = True
        action = f"{NS_DEVICE}/GetSystemDateAndTime"
        request = f'<tds:GetSystemDateAndTime xmlns:tds="{NS_DEVICE}"/>'
        try:
            body, t0, t1 = await self._call_timed(self.device_xaddr, action, request, authenticated=False)
        except OnvifError as exc:
            # ONVIF says this call needs no auth, but some firmwares demand it anyway.
            if exc.reason != "auth failed" or not self.username:
                raise
            body, t0, t1 = await self._call_timed(self.device_xaddr, action, request, authenticated=True)
        resp = descendant(body, "SystemDateAndTime")
        if resp is None:
            raise OnvifError("bad response", "GetSystemDateAndTime without SystemDateAndTime")
        dtype = text_of(resp, "DateTimeType")
        tz = text_of(resp, "TimeZone", "TZ")
        utc_naive = _onvif_datetime(child(resp, "UTCDateTime"))
        device_utc: datetime | None = None
        if utc_naive is not None:
            device_utc = utc_naive.replace(tzinfo=UTC)
        else:
            local_naive = _onvif_datetime(child(resp, "LocalDateTime"))
            tz_offset = posix_tz_offset(tz)
            if local_naive is not None:
                device_utc = (local_naive - (tz_offset or timedelta(0))).replace(tzinfo=UTC)
        offset: float | None = None
        if device_utc is not None:
            # The device truncates to whole seconds: its true time lies in [s, s+1), so count from s+0.5.
            offset = device_utc.timestamp() + 0.5 - (t0 + t1) / 2.0
            self.offset_s = offset
        ntp = None if dtype is None else dtype.strip().upper() == "NTP"
        dst_text = (text_of(resp, "DaylightSavings") or "").lower()
        dst = {"true": True, "1": True, "false": False, "0": False}.get(dst_text)
        return ClockReading(device_utc=device_utc, offset_s=offset, ntp=ntp, timezone=tz, daylight_savings=dst)

    async def set_system_time(self, *, utc: datetime | None = None, ntp_server: str | None = None) -> None:
        """Set the device clock: Manual to `utc` (default: now), or NTP from `ntp_server` (IP or DNS name).

        The device's time zone and DST flag are read first and sent back unchanged (some firmwares reset
        the zone when it is left out). Afterwards the clock is re-read, so that later WS-UsernameToken
        `Created` stamps use the new device time. Raises ValueError for bad arguments and
        OnvifError("not supported") when the device refuses to have its clock set.
        """
        if utc is not None and ntp_server is not None:
            raise ValueError("give either utc or ntp_server, not both")
        if utc is not None and utc.tzinfo is None:
            raise ValueError("utc must be timezone-aware")
        ntp_entry = _ntp_manual_entry(ntp_server) if ntp_server is not None else None
        current = await self.system_time()
        if ntp_entry is not None:
            # Server first, then mode: a device switched to NTP before it has a server may step to 1970.
            await self.call(
                self.device_xaddr,
                f"{NS_DEVICE}/SetNTP",
                f'<tds:SetNTP xmlns:tds="{NS_DEVICE}"><tds:FromDHCP>false</tds:FromDHCP>'
                f"<tds:NTPManual>{ntp_entry}</tds:NTPManual></tds:SetNTP>",
            )
            await self._set_date_time("NTP", current, None)
        else:
            target = utc.astimezone(UTC) if utc is not None else await _next_whole_second()
            await self._set_date_time("Manual", current, target)
        await self.system_time()

    async def _set_date_time(self, mode: str, current: ClockReading, utc: datetime | None) -> None:
        dst = "true" if current.daylight_savings else "false"
        tz = f"<tds:TimeZone><tt:TZ>{_xml_text(current.timezone)}</tt:TZ></tds:TimeZone>" if current.timezone else ""
        utc_xml = "" if utc is None else f"<tds:UTCDateTime>{_onvif_datetime_xml(utc)}</tds:UTCDateTime>"
        await self.call(
            self.device_xaddr,
            f"{NS_DEVICE}/SetSystemDateAndTime",
            f'<tds:SetSystemDateAndTime xmlns:tds="{NS_DEVICE}"><tds:DateTimeType>{mode}</tds:DateTimeType>'
            f"<tds:DaylightSavings>{dst}</tds:DaylightSavings>{tz}{utc_xml}</tds:SetSystemDateAndTime>",
        )

    async def device_information(self) -> DeviceInfo:
        body = await self.call(
            self.device_xaddr,
            f"{NS_DEVICE}/GetDeviceInformation",
            f'<tds:GetDeviceInformation xmlns:tds="{NS_DEVICE}"/>',
        )
        resp = descendant(body, "GetDeviceInformationResponse")
        if resp is None:
            raise OnvifError("bad response", "no GetDeviceInformationResponse")
        return DeviceInfo(
            manufacturer=text_of(resp, "Manufacturer"),
            model=text_of(resp, "Model"),
            firmware=text_of(resp, "FirmwareVersion"),
            serial=text_of(resp, "SerialNumber"),
            hardware_id=text_of(resp, "HardwareId"),
        )

    async def services(self) -> dict[str, str]:
        """Service namespace -> XAddr, from GetServices or (fallback) GetCapabilities."""
        if self._services is not None:
            return dict(self._services)
        found: dict[str, str] = {}
        try:
            body = await self.call(
                self.device_xaddr,
                f"{NS_DEVICE}/GetServices",
                f'<tds:GetServices xmlns:tds="{NS_DEVICE}"><tds:IncludeCapability>false</tds:IncludeCapability>'
                "</tds:GetServices>",
            )
            for svc in descendants(body, "Service"):
                ns, xaddr = text_of(svc, "Namespace"), text_of(svc, "XAddr")
                if ns and xaddr:
                    found[ns] = self._rebase(xaddr)
        except OnvifError as exc:
            if exc.reason not in ("not supported", "bad response", "not onvif"):
                raise
        if not found:
            found = await self._capabilities()
        found.setdefault(NS_DEVICE, self.device_xaddr)
        self._services = found
        return dict(found)

    async def _capabilities(self) -> dict[str, str]:
        body = await self.call(
            self.device_xaddr,
            f"{NS_DEVICE}/GetCapabilities",
            f'<tds:GetCapabilities xmlns:tds="{NS_DEVICE}"><tds:Category>All</tds:Category></tds:GetCapabilities>',
        )
        caps = descendant(body, "Capabilities")
        if caps is None:
            raise OnvifError("bad response", "GetCapabilities without Capabilities")
        found: dict[str, str] = {}
        for el in caps.iter():
            if not isinstance(el.tag, str):
                continue
            ns = _CAPABILITY_NS.get(local_name(el.tag))
            xaddr = text_of(el, "XAddr")
            if ns and xaddr and ns not in found:
                found[ns] = self._rebase(xaddr)
        return found

    # -- media --

    async def profiles(self) -> list[MediaProfile]:
        """Media profiles with encoder settings, RTSP stream URI and snapshot URI (credentials stripped)."""
        services = await self.services()
        if NS_MEDIA in services:
            return await self._profiles_media1(services[NS_MEDIA])
        if NS_MEDIA2 in services:
            return await self._profiles_media2(services[NS_MEDIA2])
        # Nothing advertised: many devices still answer Media1 on the device address.
        return await self._profiles_media1(self.device_xaddr)

    async def _optional_uri(self, url: str, action: str, body: str) -> str | None:
        try:
            resp = await self.call(url, action, body)
        except OnvifError as exc:
            if exc.reason in ("not supported", "bad response"):
                return None
            raise
        return on_host(text_of(descendant(resp, "Uri")), self.host)

    async def _profiles_media1(self, url: str) -> list[MediaProfile]:
        body = await self.call(url, f"{NS_MEDIA}/GetProfiles", f'<trt:GetProfiles xmlns:trt="{NS_MEDIA}"/>')

        def stream_request(token: str) -> str:
            return (
                f'<trt:GetStreamUri xmlns:trt="{NS_MEDIA}"><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>'
                "<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>"
                f"<trt:ProfileToken>{token}</trt:ProfileToken></trt:GetStreamUri>"
            )

        def snapshot_request(token: str) -> str:
            return (
                f'<trt:GetSnapshotUri xmlns:trt="{NS_MEDIA}"><trt:ProfileToken>{token}</trt:ProfileToken>'
                "</trt:GetSnapshotUri>"
            )

        return await self._profiles_from(
            url,
            body,
            NS_MEDIA,
            stream_request,
            snapshot_request,
            lambda prof: _encoding_media1(child(prof, "VideoEncoderConfiguration")),
        )

    async def _profiles_media2(self, url: str) -> list[MediaProfile]:
        body = await self.call(
            url,
            f"{NS_MEDIA2}/GetProfiles",
            f'<tr2:GetProfiles xmlns:tr2="{NS_MEDIA2}"><tr2:Type>All</tr2:Type></tr2:GetProfiles>',
        )

        def stream_request(token: str) -> str:
            return (
                f'<tr2:GetStreamUri xmlns:tr2="{NS_MEDIA2}"><tr2:Protocol>RTSP</tr2:Protocol>'
                f"<tr2:ProfileToken>{token}</tr2:ProfileToken></tr2:GetStreamUri>"
            )

        def snapshot_request(token: str) -> str:
            return (
                f'<tr2:GetSnapshotUri xmlns:tr2="{NS_MEDIA2}"><tr2:ProfileToken>{token}</tr2:ProfileToken>'
                "</tr2:GetSnapshotUri>"
            )

        return await self._profiles_from(
            url,
            body,
            NS_MEDIA2,
            stream_request,
            snapshot_request,
            lambda prof: _encoding_media2(child(prof, "Configurations", "VideoEncoder")),
        )

    async def _profiles_from(
        self,
        url: str,
        body: Element,
        namespace: str,
        stream_request: Callable[[str], str],
        snapshot_request: Callable[[str], str],
        encoding: Callable[[Element], VideoEncoding | None],
    ) -> list[MediaProfile]:
        """Profiles of a GetProfiles answer, each with its stream and snapshot URI (Media1 and Media2 alike)."""
        result: list[MediaProfile] = []
        response = _first(descendant(body, "GetProfilesResponse"), body)
        for prof in children(response, "Profiles"):
            token = prof.get("token")
            if not token:
                continue
            quoted = _xml_text(token)
            stream = await self._optional_uri(url, f"{namespace}/GetStreamUri", stream_request(quoted))
            snapshot = await self._optional_uri(url, f"{namespace}/GetSnapshotUri", snapshot_request(quoted))
            result.append(
                MediaProfile(
                    token=token,
                    name=text_of(prof, "Name"),
                    encoding=encoding(prof),
                    stream_uri=stream,
                    snapshot_uri=snapshot,
                )
            )
        return result

    # -- recordings --

    async def recording_summary(self) -> RecordingSummary | None:
        """GetRecordingSummary on the search service; None when the device has no recording search."""
        services = await self.services()
        url = services.get(NS_SEARCH)
        if url is None:
            return None
        try:
            body = await self.call(
                url, f"{NS_SEARCH}/GetRecordingSummary", f'<tse:GetRecordingSummary xmlns:tse="{NS_SEARCH}"/>'
            )
        except OnvifError as exc:
            if exc.reason == "not supported":
                return None
            raise
        summary = descendant(body, "Summary")
        if summary is None:
            raise OnvifError("bad response", "GetRecordingSummary without Summary")
        return RecordingSummary(
            earliest=xsd_datetime(text_of(summary, "DataFrom")),
            latest=xsd_datetime(text_of(summary, "DataUntil")),
            recordings=_int(text_of(summary, "NumberRecordings")) or 0,
        )

    # -- events --

    async def create_pull_point(self, termination_s: float = 60.0) -> PullPoint:
        """A PullPoint events subscription; see adapters.onvif.events (watch_events for the robust loop)."""
        return await create_pull_point(self, termination_s)

    async def inventory(self) -> Inventory:
        """Everything above in one pass: clock first (so WS-Security uses device time)."""
        clock = await self.system_time()
        info = await self.device_information()
        services = await self.services()
        profiles = await self.profiles()
        recordings = await self.recording_summary()
        return Inventory(info=info, clock=clock, services=services, profiles=profiles, recordings=recordings)
