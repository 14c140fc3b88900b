"""ONVIF SOAP plumbing: WS-Security digest, envelopes, hardened parsing, faults, vendor response shapes."""

from __future__ import annotations

import base64
import secrets
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from string import Template

import pytest

from adapters.common.redact import with_credentials
from adapters.onvif.client import (
    _encoding_media1,
    _encoding_media2,
    _ntp_manual_entry,
    _onvif_datetime,
    _onvif_datetime_xml,
    _strip_credentials,
    on_host,
    posix_tz_offset,
)
from adapters.onvif.discovery import build_probe, expand_hosts, parse_probe_matches
from adapters.onvif.soap import (
    OnvifError,
    build_envelope,
    child,
    descendant,
    descendants,
    format_created,
    parse_envelope,
    parse_xml,
    password_digest,
    text_of,
    username_token,
)

RESPONSES = Path(__file__).resolve().parents[2] / "sim" / "onvif_responses"
VENDORS = ("generic", "hik-like", "dahua-like")
ENV = "http://www.w3.org/2003/05/soap-envelope"


def _fault(code: str, sub: str, reason: str) -> bytes:
    return (
        f'<e:Envelope xmlns:e="{ENV}" xmlns:ter="http://www.onvif.org/ver10/error"><e:Body><e:Fault>'
        f"<e:Code><e:Value>e:{code}</e:Value><e:Subcode><e:Value>ter:{sub}</e:Value></e:Subcode></e:Code>"
        f"<e:Reason><e:Text>{reason}</e:Text></e:Reason></e:Fault></e:Body></e:Envelope>"
    ).encode()


# --- WS-Security ------------------------------------------------------------------------------


def test_password_digest_matches_the_onvif_programmers_guide_example() -> None:
    nonce = base64.b64decode("LKqI6G/AikKCQrN0zqZFlg==")
    assert password_digest(nonce, "2010-09-16T07:50:45Z", "userpassword") == "tuOSpGlFlIXsozq4HFNeeGeFLEI="


def test_password_digest_matches_a_vector_computed_with_openssl() -> None:
    # (printf 00..0f bytes; printf '2026-01-02T03:04:05.000Zs3cret') | openssl sha1 -binary | base64
    assert password_digest(bytes(range(16)), "2026-01-02T03:04:05.000Z", "s3cret") == "ihTghcJMN0f+NNk67HD7TiIqB40="


def test_username_token_in_envelope_parses_and_carries_the_digest_not_the_password() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    header = username_token("admin", "s3cret", created, nonce=bytes(range(16)))
    data = build_envelope('<tds:GetDeviceInformation xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/>', header)
    assert b"s3cret" not in data
    root = parse_xml(data)
    token = descendant(root, "UsernameToken")
    assert text_of(token, "Username") == "admin"
    assert text_of(token, "Password") == "ihTghcJMN0f+NNk67HD7TiIqB40="
    assert text_of(token, "Nonce") == base64.b64encode(bytes(range(16))).decode()
    assert text_of(token, "Created") == "2026-01-02T03:04:05.000Z"
    assert descendant(root, "GetDeviceInformation") is not None


def test_created_is_utc_with_milliseconds() -> None:
    plus8 = datetime(2026, 1, 2, 11, 4, 5, 123456, tzinfo=UTC).astimezone(timezone(timedelta(hours=8)))
    assert format_created(plus8) == "2026-01-02T11:04:05.123Z"


# --- hardened parsing -------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x>&lol9;</x></s:Body></s:Envelope>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x>&xxe;</x></s:Body></s:Envelope>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE foo SYSTEM "http://127.0.0.1:9/evil.dtd">
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["bomb", "xxe", "dtd"])
def test_unsafe_xml_is_refused_quickly(payload: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(OnvifError) as info:
        parse_envelope(payload)
    assert info.value.reason == "bad response"
    assert "root:" not in info.value.detail
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x00\xff\xfegarbage", b"not xml at all", b'<s:Envelope xmlns:s="' + ENV.encode() + b'"><s:Body><a>'],
    ids=["empty", "binary", "text", "truncated"],
)
def test_garbage_and_truncated_are_bad_responses(payload: bytes) -> None:
    with pytest.raises(OnvifError) as info:
        parse_envelope(payload)
    assert info.value.reason == "bad response"


def test_xml_that_is_not_soap_is_not_onvif() -> None:
    with pytest.raises(OnvifError) as info:
        parse_envelope(b"<html><body>router login</body></html>")
    assert info.value.reason == "not onvif"


def test_oversized_response_is_refused() -> None:
    with pytest.raises(OnvifError) as info:
        parse_xml(b"<a>" + b"x" * (5 * 1024 * 1024) + b"</a>")
    assert info.value.reason == "bad response"


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "sub", "reason", "expected"),
    [
        ("Sender", "NotAuthorized", "Sender not Authorized", "auth failed"),
        ("Receiver", "ActionNotSupported", "Optional Action Not Implemented", "not supported"),
        ("Sender", "InvalidArgVal", "No such profile", "bad response"),
    ],
)
def test_soap12_faults_map_to_reasons(code: str, sub: str, reason: str, expected: str) -> None:
    with pytest.raises(OnvifError) as info:
        parse_envelope(_fault(code, sub, reason))
    assert info.value.reason == expected
    assert sub in info.value.detail


def test_soap11_fault_is_understood() -> None:
    data = (
        b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><S:Fault>'
        b"<faultcode>S:Client</faultcode><faultstring>Not Authorized</faultstring></S:Fault></S:Body></S:Envelope>"
    )
    with pytest.raises(OnvifError) as info:
        parse_envelope(data)
    assert info.value.reason == "auth failed"


def test_error_detail_never_carries_the_password() -> None:
    pw = secrets.token_hex(8)  # made per run
    url = with_credentials("rtsp://cam.example/", "admin", pw)
    err = OnvifError("unreachable", f"{url} failed; password={pw}", secrets=(pw,))
    assert pw not in str(err)
    assert pw not in err.detail
    with pytest.raises(ValueError, match="unknown"):
        OnvifError("kaput")


# --- vendor response shapes -------------------------------------------------------------------

_VALUES = {
    "xaddr_base": "http://127.0.0.1:8080",
    "uri": "rtsp://127.0.0.1:554/x",
    "data_from": "",
    "data_until": "",
    "recordings": 0,
    "datetime_type": "NTP",
    "sub_id": "ab12",
    "messages": "",
    "current_time": "2026-03-04T05:06:07Z",
    "termination_time": "2026-03-04T05:07:07Z",
    "ntp_from_dhcp": "false",
    "ntp_manual": "<tt:NTPManual><tt:Type>DNS</tt:Type><tt:DNSname>pool.ntp.org</tt:DNSname></tt:NTPManual>",
    **{
        f"{p}_{f}": v
        for p in ("utc", "local")
        for f, v in zip(("year", "month", "day", "hour", "minute", "second"), (2026, 3, 4, 5, 6, 7), strict=True)
    },
}
_STREAM = {
    "token": "tok",
    "name": "main",
    "codec": "H264",
    "width": 1920,
    "height": 1080,
    "fps": 25,
    "bitrate_kbps": 4096,
    "gop": 50,
    "profile": "Main",
}


def _render(vendor: str, name: str) -> bytes:
    folder = RESPONSES / vendor
    values: dict[str, object] = dict(_VALUES)
    if name.endswith("GetProfiles"):
        fragment = Template((folder / (name.replace("GetProfiles", "Profile") + ".xml")).read_text())
        values["profiles"] = fragment.substitute(_STREAM)
    return Template((folder / f"{name}.xml").read_text()).substitute(values).encode()


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_vendor_template_is_a_soap_response(vendor: str) -> None:
    names = [p.stem for p in (RESPONSES / vendor).glob("*.xml") if not p.stem.endswith("Profile")]
    assert "GetSystemDateAndTime" in names and "GetDeviceInformation" in names
    for name in names:
        body = parse_envelope(_render(vendor, name))
        assert next(iter(body)) is not None


@pytest.mark.parametrize("vendor", VENDORS)
def test_device_information_is_read_by_local_name(vendor: str) -> None:
    body = parse_envelope(_render(vendor, "GetDeviceInformation"))
    resp = descendant(body, "GetDeviceInformationResponse")
    assert text_of(resp, "Manufacturer")  # hik-like puts it in the wrong namespace
    assert text_of(resp, "Model")


def test_clock_shapes() -> None:
    generic = descendant(parse_envelope(_render("generic", "GetSystemDateAndTime")), "SystemDateAndTime")
    assert _onvif_datetime(child(generic, "UTCDateTime")) == datetime(2026, 3, 4, 5, 6, 7)
    dahua = descendant(parse_envelope(_render("dahua-like", "GetSystemDateAndTime")), "SystemDateAndTime")
    assert child(dahua, "UTCDateTime") is None
    assert text_of(dahua, "TimeZone", "TZ") == "CST-8:00:00"
    assert posix_tz_offset("CST-8:00:00") == timedelta(hours=8)
    assert posix_tz_offset("EST5EDT,M3.2.0,M11.1.0") == timedelta(hours=-5)
    assert posix_tz_offset("<+0530>-5:30") == timedelta(hours=5, minutes=30)
    assert posix_tz_offset("UTC0") == timedelta(0)
    assert posix_tz_offset("nonsense") is None


def test_set_time_datetime_round_trips_through_the_reader() -> None:
    moment = datetime(2026, 12, 31, 23, 59, 58, tzinfo=UTC)
    el = parse_xml(f'<tt:UTCDateTime xmlns:tt="urn:x">{_onvif_datetime_xml(moment)}</tt:UTCDateTime>'.encode())
    assert _onvif_datetime(el) == moment.replace(tzinfo=None)


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("192.0.2.10", "<tt:Type>IPv4</tt:Type><tt:IPv4Address>192.0.2.10</tt:IPv4Address>"),
        (" pool.ntp.org ", "<tt:Type>DNS</tt:Type><tt:DNSname>pool.ntp.org</tt:DNSname>"),
        ("2001:db8::1", "<tt:Type>IPv6</tt:Type><tt:IPv6Address>2001:db8::1</tt:IPv6Address>"),
    ],
)
def test_ntp_server_entry_by_kind(server: str, expected: str) -> None:
    assert _ntp_manual_entry(server) == expected


@pytest.mark.parametrize("server", ["", "not a host", "<x/>", "-bad.example", "300.1.2.3", "a" * 64 + ".com"])
def test_ntp_server_that_is_neither_ip_nor_dns_name_is_refused(server: str) -> None:
    with pytest.raises(ValueError, match="not an IP address or DNS name"):
        _ntp_manual_entry(server)


def test_media1_encoder_shapes() -> None:
    generic = descendant(parse_envelope(_render("generic", "GetProfiles")), "VideoEncoderConfiguration")
    enc = _encoding_media1(generic)
    assert enc is not None
    assert (enc.codec, enc.width, enc.height, enc.fps, enc.bitrate_kbps, enc.gop, enc.profile) == (
        "h264",
        1920,
        1080,
        25.0,
        4096,
        50,
        "Main",
    )
    hik = descendant(parse_envelope(_render("hik-like", "GetProfiles")), "VideoEncoderConfiguration")
    enc = _encoding_media1(hik)
    assert enc is not None and enc.codec == "h264" and enc.fps is None and enc.bitrate_kbps is None  # no RateControl


def test_media2_encoder_shape() -> None:
    body = parse_envelope(_render("dahua-like", "Media2.GetProfiles"))
    enc = _encoding_media2(descendant(body, "VideoEncoder"))
    assert enc is not None
    assert (enc.codec, enc.width, enc.fps, enc.bitrate_kbps, enc.gop, enc.profile) == (
        "h264",
        1920,
        25.0,
        4096,
        50,
        "Main",
    )


def test_stream_uris_are_read_on_the_configured_host_never_the_advertised_one() -> None:
    # A camera behind NAT names its private address; the gateway talks to the address it was given.
    advertised = with_credentials(
        "rtsp://192.168.1.64:554/Streaming/Channels/101?transportmode=unicast", "admin", secrets.token_urlsafe(8)
    )
    assert on_host(advertised, "203.0.113.7") == "rtsp://203.0.113.7:554/Streaming/Channels/101?transportmode=unicast"
    assert on_host("rtsp://10.0.0.5/a", "::1") == "rtsp://[::1]/a"
    assert on_host("http://10.0.0.5:8080/snap.jpg", "127.0.0.1") == "http://127.0.0.1:8080/snap.jpg"
    assert on_host(None, "127.0.0.1") is None and on_host("not a uri", "127.0.0.1") is None
    assert on_host("rtsp://10.0.0.5:99999/a", "127.0.0.1") is None  # a port that cannot be


def test_stream_uri_credentials_are_stripped() -> None:
    pw = secrets.token_hex(8)  # made per run
    assert (
        _strip_credentials(with_credentials("rtsp://cam.example:554/Streaming/101", "admin", pw))
        == "rtsp://cam.example:554/Streaming/101"
    )
    assert _strip_credentials("rtsp://10.0.0.5/a?b=1") == "rtsp://10.0.0.5/a?b=1"
    assert _strip_credentials(None) is None


# --- discovery parsing ------------------------------------------------------------------------


def test_probe_is_a_ws_discovery_probe_for_video_transmitters() -> None:
    root = parse_xml(build_probe("urn:uuid:1234"))
    assert text_of(descendant(root, "MessageID")) == "urn:uuid:1234"
    assert text_of(descendant(root, "Types")) == "dn:NetworkVideoTransmitter"


def test_probe_match_parsing_ignores_garbage_and_foreign_replies() -> None:
    from sim.onvif_device import DiscoveryResponder

    responder = DiscoveryResponder("http://127.0.0.1:8080/onvif/device_service", endpoint="urn:uuid:cam-1")
    reply = responder.answer(build_probe("urn:uuid:mine"))
    assert reply is not None
    found = parse_probe_matches(reply, "127.0.0.1", "urn:uuid:mine")
    assert [d.endpoint for d in found] == ["urn:uuid:cam-1"]
    assert found[0].xaddrs == ["http://127.0.0.1:8080/onvif/device_service"]
    assert "dn:NetworkVideoTransmitter" in found[0].types
    assert any("name/SimCamera" in s for s in found[0].scopes)
    assert parse_probe_matches(reply, "127.0.0.1", "urn:uuid:someone-else") == []
    assert parse_probe_matches(b"\x00garbage", "127.0.0.1") == []
    assert parse_probe_matches(BILLION_LAUGHS, "127.0.0.1") == []
    assert list(descendants(parse_xml(reply), "ProbeMatch"))


def test_expand_hosts_accepts_cidr_and_caps() -> None:
    assert expand_hosts(["10.0.0.0/30", "10.0.0.1", "cam.local"]) == ["10.0.0.1", "10.0.0.2", "cam.local"]
    assert expand_hosts(["127.0.0.1/32"]) == ["127.0.0.1"]
    assert len(expand_hosts(["10.0.0.0/16"])) == 4096
    assert expand_hosts(["not/a/net", ""]) == []
