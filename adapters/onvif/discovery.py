"""WS-Discovery: find ONVIF NetworkVideoTransmitters by multicast Probe and/or unicast to given hosts."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import uuid
from dataclasses import dataclass
from typing import Final

from adapters.onvif.soap import OnvifError, child, descendant, descendants, parse_xml, text_of

__all__ = ["DiscoveredDevice", "build_probe", "discover", "expand_hosts", "parse_probe_matches"]

MULTICAST_GROUP: Final = "239.255.255.250"
WSD_PORT: Final = 3702
MAX_HOSTS: Final = 4096
NS_WSA: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSD: Final = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_DN: Final = "http://www.onvif.org/ver10/network/wsdl"


@dataclass(frozen=True)
class DiscoveredDevice:
    endpoint: str  # the device's EndpointReference address (usually urn:uuid:...)
    xaddrs: list[str]
    scopes: list[str]
    types: list[str]
    address: str  # IP the ProbeMatch came from


def build_probe(message_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        f'xmlns:a="{NS_WSA}" xmlns:d="{NS_WSD}" xmlns:dn="{NS_DN}">'
        "<s:Header>"
        f'<a:Action s:mustUnderstand="1">{NS_WSD}/Probe</a:Action>'
        f"<a:MessageID>{message_id}</a:MessageID>"
        f"<a:ReplyTo><a:Address>{NS_WSA}/role/anonymous</a:Address></a:ReplyTo>"
        '<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
        "</s:Header>"
        "<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>"
        "</s:Envelope>"
    ).encode()


def expand_hosts(hosts: list[str] | None) -> list[str]:
    """Host names/IPs and CIDR blocks -> unique targets, capped at MAX_HOSTS."""
    out: list[str] = []
    seen: set[str] = set()
    for entry in hosts or []:
        entry = entry.strip()
        if not entry:
            continue
        targets: list[str]
        if "/" in entry:
            try:
                net = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            targets = []
            for ip in net.hosts() if net.num_addresses > 2 else net:
                targets.append(str(ip))
                if len(targets) + len(out) >= MAX_HOSTS:
                    break
        else:
            targets = [entry]
        for t in targets:
            if t not in seen:
                seen.add(t)
                out.append(t)
            if len(out) >= MAX_HOSTS:
                return out
    return out


def parse_probe_matches(data: bytes, address: str, message_id: str | None = None) -> list[DiscoveredDevice]:
    """ProbeMatch entries in one datagram; [] for garbage or a reply to another probe."""
    try:
        root = parse_xml(data)
    except OnvifError:
        return []
    relates = text_of(descendant(child(root, "Header"), "RelatesTo"))
    if message_id is not None and relates is not None and relates != message_id:
        return []
    found: list[DiscoveredDevice] = []
    for match in descendants(root, "ProbeMatch"):
        endpoint = text_of(descendant(match, "EndpointReference"), "Address")
        xaddrs = (text_of(match, "XAddrs") or "").split()
        if not endpoint and not xaddrs:
            continue
        found.append(
            DiscoveredDevice(
                endpoint=endpoint or xaddrs[0],
                xaddrs=xaddrs,
                scopes=(text_of(match, "Scopes") or "").split(),
                types=(text_of(match, "Types") or "").split(),
                address=address,
            )
        )
    return found


class _Collector(asyncio.DatagramProtocol):
    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.devices: dict[str, DiscoveredDevice] = {}

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        for dev in parse_probe_matches(data, str(addr[0]), self.message_id):
            self.devices.setdefault(dev.endpoint, dev)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a unicast target: nothing listens there; keep collecting.
        return


def _make_socket(interface: str | None, multicast: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.bind((interface or "0.0.0.0", 0))  # noqa: S104 - replies come back to this ephemeral port
        if multicast:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            if interface:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def discover(
    *,
    timeout_s: float = 3.0,
    interface: str | None = None,
    hosts: list[str] | None = None,
    port: int = WSD_PORT,
    multicast: bool = True,
) -> list[DiscoveredDevice]:
    """Probe for NetworkVideoTransmitters and collect ProbeMatches until `timeout_s`; deduped by endpoint."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    probe = build_probe(message_id)
    targets = expand_hosts(hosts)
    loop = asyncio.get_running_loop()
    sock = _make_socket(interface, multicast)
    transport, protocol = await loop.create_datagram_endpoint(lambda: _Collector(message_id), sock=sock)
    try:
        for attempt in range(2):  # UDP is lossy; WS-Discovery repeats the probe
            if multicast:
                with contextlib.suppress(OSError):
                    transport.sendto(probe, (MULTICAST_GROUP, port))
            for host in targets:
                try:
                    transport.sendto(probe, (host, port))
                except OSError:
                    continue
            if attempt == 0:
                await asyncio.sleep(min(0.2, timeout_s / 4))
        await asyncio.sleep(max(0.0, timeout_s - min(0.2, timeout_s / 4)))
    finally:
        transport.close()
    return list(protocol.devices.values())
