"""Fuzz target `onvif_soap`: what a camera (or anything on the LAN) answers to ONVIF and WS-Discovery.

Covers adapters/onvif: `soap.parse_envelope` (defusedxml, SOAP 1.1/1.2 faults mapped to
OnvifError), the value readers the client applies to a response body (video encoder
configurations of media 1 and 2, device clock, stream URI credential stripping, POSIX TZ, the
xs:dateTime reader), `events.parse_notifications` for PullMessages, and
`discovery.parse_probe_matches` for a WS-Discovery datagram. Allowed: `OnvifError` with one of its
documented reasons; the readers and discovery must not raise at all. Invariant: a stream URI
never keeps its user:password after stripping.
"""

from __future__ import annotations

from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

from fuzz import check
from fuzz._atheris import INSTRUMENTED, instrument_imports, main

with instrument_imports(include=INSTRUMENTED):
    from adapters.onvif import client, discovery, events, soap


def _read_body(body: Element) -> None:
    for name in ("VideoEncoderConfiguration", "Configuration", "Configurations"):
        for el in soap.descendants(body, name):
            client._encoding_media1(el)
            client._encoding_media2(el)
    for name in ("UTCDateTime", "LocalDateTime"):
        client._onvif_datetime(soap.descendant(body, name))
    client.posix_tz_offset(soap.text_of(soap.descendant(body, "TZ")))
    for el in soap.descendants(body, "Uri"):
        uri = soap.text_of(el)
        stripped = client._strip_credentials(uri)
        if stripped is not None and uri is not None:
            try:
                parts = urlsplit(stripped)
            except ValueError:
                continue
            check(parts.password is None, "a stream URI kept its password after stripping")
    for name in ("CurrentTime", "TerminationTime", "UtcTime"):
        soap.xsd_datetime(soap.text_of(soap.descendant(body, name)))
    events.parse_notifications(body)


def test_one_input(data: bytes) -> None:
    discovery.parse_probe_matches(data, "192.0.2.9", "uuid:0")
    try:
        body = soap.parse_envelope(data)
    except soap.OnvifError as exc:
        check(exc.reason in soap.REASONS, f"unknown OnvifError reason {exc.reason!r}")
        return
    _read_body(body)


if __name__ == "__main__":
    main(test_one_input)
