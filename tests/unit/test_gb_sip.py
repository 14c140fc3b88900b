"""GB/T 28181 SIP message layer and digest auth: vectors, a REGISTER exchange, hostile input, TCP framing."""

from __future__ import annotations

import contextlib
import hashlib
import random
from datetime import UTC, datetime

import pytest

from adapters.common import digest
from adapters.common.digest import Challenge, Credentials, DigestError
from adapters.gb28181 import sip
from adapters.gb28181.sip import SipError, SipMessage, StreamFramer

# A lower platform (the gateway, type 200, network 8) registering to a city platform (type 200).
GATEWAY_ID = "44030500402008000001"
PLATFORM_ID = "44030000002000000001"
REALM = "4403000000"
GW_HOST, GW_PORT = "192.168.1.64", 5060
PLATFORM_URI = f"sip:{PLATFORM_ID}@{REALM}"
GATEWAY_URI = f"sip:{GATEWAY_ID}@{REALM}"
PASSWORD = "S3cret-12345678"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _register(cseq: int, call_id: str, from_tag: str, extra: tuple[tuple[str, str], ...] = ()) -> SipMessage:
    return sip.request(
        "REGISTER",
        PLATFORM_URI,
        via_host=GW_HOST,
        via_port=GW_PORT,
        transport="udp",
        from_uri=GATEWAY_URI,
        from_tag=from_tag,
        to_uri=GATEWAY_URI,
        call_id=call_id,
        cseq=cseq,
        contact=f"sip:{GATEWAY_ID}@{GW_HOST}:{GW_PORT}",
        extra_headers=(("Expires", "3600"), *extra),
    )


VALID = (
    b"MESSAGE sip:44030000002000000001@4403000000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1234abcd\r\n"
    b"From: <sip:44030500402008000001@4403000000>;tag=123456\r\n"
    b"To: <sip:44030000002000000001@4403000000>\r\n"
    b"Call-ID: 0a1b2c3d@192.168.1.64\r\n"
    b"CSeq: 20 MESSAGE\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Type: Application/MANSCDP+xml\r\n"
    b"Content-Length: 169\r\n"
    b"\r\n"
    b'<?xml version="1.0" encoding="GB2312"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n<SN>43</SN>\r\n'
    b"<DeviceID>44030500402008000001</DeviceID>\r\n<Status>OK</Status>\r\n</Notify>\r\n"
)


# --- digest -------------------------------------------------------------------------------------


def test_rfc2617_section_3_5_vector() -> None:
    challenge = digest.parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert challenge.qop == ("auth", "auth-int")
    value = digest.authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle Of Life",
        cnonce="0a4f113b",
    )
    assert 'response="6629fae49393a05397450978507c4ef1"' in value
    assert "qop=auth," in value and "nc=00000001" in value and 'cnonce="0a4f113b"' in value
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in value
    assert digest.verify(value, method="GET", password="Circle Of Life", realm="testrealm@host.com")
    assert not digest.verify(value, method="GET", password="Circle of Life")
    assert not digest.verify(value, method="POST", password="Circle Of Life")


def test_no_qop_vector_rfc2069() -> None:
    # RFC 2069 section 2.4 example, with the response corrected by its erratum.
    challenge = digest.parse_challenge(
        'Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    value = digest.authorization(
        challenge, method="GET", uri="/dir/index.html", username="Mufasa", password="CircleOfLife"
    )
    assert 'response="1949323746fe6a43ef61f9606e7febea"' in value
    assert "qop=" not in value and "cnonce=" not in value and "nc=" not in value


def test_no_qop_gb_register_matches_the_formula() -> None:
    nonce = "9bd055a1e9e8b3b1"
    challenge = digest.parse_challenge(f'Digest realm="{REALM}",nonce="{nonce}",algorithm=MD5')
    value = digest.authorization(challenge, method="REGISTER", uri=PLATFORM_URI, username=GATEWAY_ID, password=PASSWORD)
    ha1 = _md5(f"{GATEWAY_ID}:{REALM}:{PASSWORD}")
    ha2 = _md5(f"REGISTER:{PLATFORM_URI}")
    assert f'response="{_md5(f"{ha1}:{nonce}:{ha2}")}"' in value
    assert digest.verify(value, method="REGISTER", password=PASSWORD, realm=REALM, nonce=nonce, uri=PLATFORM_URI)
    assert not digest.verify(value, method="REGISTER", password=PASSWORD, nonce="other")
    assert not digest.verify(value, method="REGISTER", password=PASSWORD, uri="sip:other@x")


@pytest.mark.parametrize("algorithm", ["MD5-sess", "SHA-256", "sha-256-SESS"])
@pytest.mark.parametrize("qop", ["", "auth", "auth-int"])
def test_other_algorithms_round_trip(algorithm: str, qop: str) -> None:
    header = digest.www_authenticate(REALM, digest.new_nonce(), algorithm=algorithm, qop=(qop,) if qop else ())
    challenge = digest.parse_challenge(header)
    value = digest.authorization(
        challenge, method="MESSAGE", uri=PLATFORM_URI, username=GATEWAY_ID, password=PASSWORD, nc=7, body=b"<x/>"
    )
    answer = digest.parse_authorization(value)
    assert answer.qop == (qop or None)
    assert answer.nc == ("00000007" if qop else None)
    assert digest.verify(value, method="MESSAGE", password=PASSWORD, body=b"<x/>")
    assert not digest.verify(value, method="MESSAGE", password=PASSWORD + "x", body=b"<x/>")


def test_challenge_quoting_and_unknown_params() -> None:
    challenge = digest.parse_challenge(
        'DIGEST realm = "a \\"quoted\\" realm, with comma" ,nonce="n,1",  stale=TRUE,'
        ' domain="sip:a sip:b", x-vendor=abc, algorithm=md5, qop="auth"'
    )
    assert challenge.realm == 'a "quoted" realm, with comma'
    assert challenge.nonce == "n,1"
    assert challenge.stale
    assert challenge.algorithm == "md5"
    assert challenge.params["x-vendor"] == "abc"
    assert challenge.params["domain"] == "sip:a sip:b"
    value = digest.authorization(challenge, method="REGISTER", uri="sip:x@y", username='u"1', password="p")
    answer = digest.parse_authorization(value)
    assert answer.realm == challenge.realm and answer.username == 'u"1'
    assert digest.verify(value, method="REGISTER", password="p", realm=challenge.realm)
    # A second challenge in the same row (another scheme) is left alone.
    assert digest.parse_challenge('Digest realm="r", nonce="n", Basic realm="x"').params == {"realm": "r", "nonce": "n"}


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Basic realm=x",
        "Digest",
        'Digest realm="r"',
        'Digest nonce="n"',
        'Digest realm="r, nonce="n"',
        'Digest realm="r" nonce="n"',
        'Digest realm="r", realm="s", nonce="n"',
        'Digest realm=, nonce="n"',
        'Digest realm="r", nonce="n", algorithm=SHA-1024',
        "Digest " + "a=b, " * 5000,
    ],
)
def test_bad_challenges(value: str) -> None:
    with pytest.raises(DigestError) as info:
        challenge = digest.parse_challenge(value)
        digest.authorization(challenge, method="REGISTER", uri="sip:x@y", username="u", password=PASSWORD)
    assert info.value.status == 400
    assert PASSWORD not in str(info.value)


def test_bad_authorization_headers() -> None:
    for value in [
        'Digest username="u", realm="r"',
        'Digest username="u", realm="r", nonce="n", uri="u", response="x", qop=auth, nc=1',
    ]:
        with pytest.raises(DigestError):
            digest.verify(value, method="REGISTER", password=PASSWORD)
    good = 'Digest username="u", realm="r", nonce="n", uri="sip:x", response="\u00e9"'
    assert not digest.verify(good, method="REGISTER", password=PASSWORD)


def test_passwords_stay_out_of_reprs_and_errors() -> None:
    creds = Credentials(GATEWAY_ID, PASSWORD)
    assert PASSWORD not in repr(creds) and GATEWAY_ID in repr(creds)
    challenge = Challenge(realm=REALM, nonce="n", qop=("auth-conf",))
    with pytest.raises(DigestError) as info:
        digest.authorization(challenge, method="REGISTER", uri=PLATFORM_URI, username="u", password=PASSWORD)
    assert PASSWORD not in str(info.value) and PASSWORD not in repr(info.value)
    value = digest.authorization(
        Challenge(REALM, "n"), method="REGISTER", uri="sip:x@y", username="u", password=PASSWORD
    )
    assert PASSWORD not in value


# --- a GB/T 28181 registration --------------------------------------------------------------------


def test_register_401_register_200_exchange() -> None:
    call_id = sip.new_call_id(GW_HOST)
    from_tag = sip.new_tag()
    first = _register(1, call_id, from_tag)
    wire = first.to_bytes()
    assert wire.startswith(f"REGISTER {PLATFORM_URI} SIP/2.0\r\n".encode())
    assert b"\r\nContent-Length: 0\r\n\r\n" in wire and wire.endswith(b"\r\n\r\n")

    # The platform's side: parse, challenge.
    got = sip.parse(wire)
    assert got.headers == first.headers
    assert got.method == "REGISTER" and got.uri == PLATFORM_URI
    assert got.cseq == (1, "REGISTER") and got.call_id == call_id
    assert got.from_tag == from_tag and got.to_tag is None
    assert got.via_branch is not None and got.via_branch.startswith("z9hG4bK")
    assert got.get("max-forwards") == "70" and got.expires == 3600
    assert sip.addr_uri(got.get("Contact") or "") == f"sip:{GATEWAY_ID}@{GW_HOST}:{GW_PORT}"
    nonce = digest.new_nonce()
    challenge_401 = sip.response_to(
        got,
        401,
        extra_headers=(("WWW-Authenticate", digest.www_authenticate(REALM, nonce)),),
        received=(GW_HOST, 40000),
    )
    assert challenge_401.reason == "Unauthorized"

    # Our side: read the 401, answer with credentials (same Call-ID and From tag, CSeq + 1).
    resp = sip.parse(challenge_401.to_bytes())
    assert resp.status == 401 and resp.call_id == call_id and resp.cseq == (1, "REGISTER")
    assert resp.via_branch == first.via_branch and resp.from_tag == from_tag and resp.to_tag
    assert sip.header_params(resp.vias[0])["rport"] == "40000"
    challenge = digest.parse_challenge(resp.get("www-authenticate") or "")
    auth = digest.authorization(challenge, method="REGISTER", uri=PLATFORM_URI, username=GATEWAY_ID, password=PASSWORD)
    second = _register(2, call_id, from_tag, (("Authorization", auth),))
    assert second.via_branch != first.via_branch

    # The platform checks and accepts, with the time in the Date header.
    got2 = sip.parse(second.to_bytes())
    assert got2.cseq == (2, "REGISTER")
    assert digest.verify(
        got2.get("Authorization") or "", method="REGISTER", password=PASSWORD, realm=REALM, nonce=nonce, uri=got2.uri
    )
    ok = sip.response_to(
        got2,
        200,
        extra_headers=(("Date", "2024-05-01T08:00:00.000"), ("Expires", "3600")),
        to_tag="98765",
    )
    final = sip.parse(ok.to_bytes())
    assert final.status == 200 and final.reason == "OK" and final.to_tag == "98765"
    assert final.get("date") == "2024-05-01T08:00:00.000"
    assert sip.parse_date(final.get("Date") or "") == datetime(2024, 5, 1, 8, 0, 0)
    assert final.expires == 3600
    assert final.get("Content-Length") == "0" and final.body == b""


def test_message_with_gb2312_body_kept_as_bytes() -> None:
    xml = (
        '<?xml version="1.0" encoding="GB2312"?>\r\n<Response>\r\n<CmdType>Catalog</CmdType>\r\n'
        "<Name>东门入口 摄像机</Name>\r\n</Response>\r\n"
    )
    body = xml.encode("gb2312")
    msg = sip.request(
        "MESSAGE",
        PLATFORM_URI,
        via_host=GW_HOST,
        via_port=GW_PORT,
        transport="TCP",
        from_uri=GATEWAY_URI,
        from_tag="1",
        to_uri=PLATFORM_URI,
        call_id="c@h",
        cseq=3,
        body=body,
        content_type="Application/MANSCDP+xml",
    )
    wire = msg.to_bytes()
    assert f"Content-Length: {len(body)}\r\n".encode() in wire
    assert len(body) != len(xml)
    for got in (sip.parse(wire), *StreamFramer().feed(wire)):
        assert got.body == body
        assert got.content_type == "application/manscdp+xml"
        assert got.body.decode("gb2312") == xml


def test_header_bytes_survive_a_round_trip() -> None:
    # A GB2312 display name in From (not UTF-8) must be echoed byte for byte in our response.
    name = "东门".encode("gb2312")
    wire = VALID.replace(b"From: <", b'From: "' + name + b'" <')
    req = sip.parse(wire)
    assert sip.addr_uri(req.get("From") or "") == "sip:44030500402008000001@4403000000"
    out = sip.response_to(req, 200, to_tag="7").to_bytes()
    assert b'From: "' + name + b'" <sip:' in out


def test_compact_forms_and_folding() -> None:
    wire = (
        b"MESSAGE sip:a@b SIP/2.0\r\n"
        b"v: SIP/2.0/UDP h:1;branch=z9hG4bKa, SIP/2.0/UDP g:2;branch=z9hG4bKb\r\n"
        b"V: SIP/2.0/TCP k:3;branch=z9hG4bKc\r\n"
        b"f: <sip:x@y>;tag=ft\r\n"
        b"t: sip:b@c;tag=tt\r\n"
        b"i: cid\r\n"
        b"CSeq: 5 MESSAGE\r\n"
        b"m: <sip:x@1.2.3.4;transport=udp>;expires=600\r\n"
        b"c: Application/MANSCDP+xml; charset=GB2312\r\n"
        b"k: timer\r\n"
        b"s: 44030000001310000001:0,44030500402008000001:0\r\n"
        b"e: identity\r\n"
        b"X-Folded: one\r\n"
        b" two\r\n"
        b"\tthree\r\n"
        b"l: 3\r\n"
        b"\r\n"
        b"abcEXTRA"
    )
    msg = sip.parse(wire)
    assert msg.call_id == "cid"
    assert msg.from_tag == "ft" and msg.to_tag == "tt"
    assert msg.vias == [
        "SIP/2.0/UDP h:1;branch=z9hG4bKa",
        "SIP/2.0/UDP g:2;branch=z9hG4bKb",
        "SIP/2.0/TCP k:3;branch=z9hG4bKc",
    ]
    assert msg.via_branch == "z9hG4bKa"
    assert len(msg.get_all("Via")) == 2
    assert msg.expires == 600
    assert msg.content_type == "application/manscdp+xml"
    assert msg.get("Supported") == "timer" and msg.get("content-encoding") == "identity"
    assert (
        msg.get(
            "Subject",
        )
        == "44030000001310000001:0,44030500402008000001:0"
    )
    assert msg.get("x-folded") == "one two three"
    assert msg.body == b"abc"  # bytes past Content-Length are discarded (RFC 3261 section 18.3)
    # Names stay as received; Content-Length is rewritten in place.
    msg.body = b"hello"
    out = msg.to_bytes()
    assert b"\r\nl: 5\r\n" in out and b"Content-Length" not in out and out.endswith(b"\r\n\r\nhello")
    # set() replaces every form of the header.
    msg.set("Call-ID", "new")
    assert msg.get_all("i") == ["new"]
    with pytest.raises(ValueError, match="control"):
        msg.set("Subject", "x\r\nInjected: 1")


def test_udp_body_without_content_length_runs_to_the_end() -> None:
    wire = VALID.replace(b"Content-Length: 169\r\n", b"")
    assert sip.parse(wire).body == VALID.split(b"\r\n\r\n", 1)[1]
    lf_only = VALID.replace(b"\r\n", b"\n").replace(b"Content-Length: 169\n", b"")
    msg = sip.parse(lf_only)
    assert msg.call_id == "0a1b2c3d@192.168.1.64" and msg.body.startswith(b"<?xml")


def test_response_to_rules() -> None:
    req = sip.parse(
        b"INVITE sip:44030500401310000001@4403050040 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKtop;rport\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKlow\r\n"
        b"Record-Route: <sip:10.0.0.1;lr>\r\n"
        b"From: <sip:44030000002000000001@4403000000>;tag=abc\r\n"
        b"To: <sip:44030500401310000001@4403050040>\r\n"
        b"Call-ID: inv1\r\nCSeq: 1 INVITE\r\nTimestamp: 54\r\nContent-Length: 0\r\n\r\n"
    )
    trying = sip.response_to(req, 100)
    assert trying.to_tag is None and trying.get("Timestamp") == "54" and trying.get("Record-Route") is None
    ok = sip.response_to(req, 200, received=("203.0.113.9", 6000), body=b"v=0\r\n", content_type="application/sdp")
    assert ok.to_tag and ok.get("Record-Route") == "<sip:10.0.0.1;lr>"
    assert ok.get_all("Via")[1] == "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKlow"
    top = sip.header_params(ok.get_all("Via")[0])
    assert top == {"branch": "z9hG4bKtop", "rport": "6000", "received": "203.0.113.9"}
    assert ok.get("Content-Length") == "5"
    busy = sip.response_to(req, 486)
    assert busy.to_tag and busy.to_tag != ok.to_tag and busy.get("Record-Route") is None
    with pytest.raises(ValueError):
        sip.response_to(ok, 200)
    with pytest.raises(ValueError):
        sip.request(
            "REG ISTER",
            "sip:a@b",
            via_host="h",
            via_port=1,
            transport="UDP",
            from_uri="sip:a@b",
            from_tag="1",
            to_uri="sip:a@b",
            call_id="c",
            cseq=1,
        )
    with pytest.raises(ValueError):
        sip.request(
            "MESSAGE",
            "sip:a@b",
            via_host="h",
            via_port=1,
            transport="UDP",
            from_uri="sip:a@b",
            from_tag="1",
            to_uri="sip:a@b",
            call_id="c",
            cseq=1,
            body=b"x",
        )


def test_ipv6_via() -> None:
    msg = sip.request(
        "OPTIONS",
        "sip:a@b",
        via_host="2001:db8::1",
        via_port=5060,
        transport="tcp",
        from_uri="sip:a@b",
        from_tag="1",
        to_uri="sip:a@b",
        call_id="c",
        cseq=1,
        user_agent=None,
    )
    assert msg.vias[0].startswith("SIP/2.0/TCP [2001:db8::1]:5060;rport;branch=z9hG4bK")
    assert msg.get("User-Agent") is None
    assert sip.parse(msg.to_bytes()).headers == msg.headers


# --- hostile input --------------------------------------------------------------------------------


def _with_headers(extra: bytes) -> bytes:
    return VALID.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\n" + extra)


MALFORMED: list[tuple[str, bytes, int]] = [
    ("empty", b"", 400),
    ("only CRLFs", b"\r\n\r\n\r\n", 400),
    ("no start line", VALID.split(b"\r\n", 1)[1], 400),
    ("bad version", VALID.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), 505),
    ("http version", VALID.replace(b"SIP/2.0\r\n", b"HTTP/1.1\r\n", 1), 400),
    ("response bad version", b"SIP/1.0 200 OK\r\n\r\n", 505),
    ("bad status code", b"SIP/2.0 2000 OK\r\n\r\n", 400),
    ("unknown URI scheme", VALID.replace(b"MESSAGE sip:", b"MESSAGE http:", 1), 416),
    ("request-URI without scheme", VALID.replace(b"MESSAGE sip:", b"MESSAGE ", 1), 400),
    ("two spaces", VALID.replace(b"MESSAGE sip:", b"MESSAGE  sip:", 1), 400),
    ("negative Content-Length", VALID.replace(b"Content-Length: 169", b"Content-Length: -1"), 400),
    ("huge Content-Length", VALID.replace(b"Content-Length: 169", b"Content-Length: 99999999999999999999999"), 413),
    ("Content-Length longer than data", VALID.replace(b"Content-Length: 169", b"Content-Length: 170"), 400),
    ("conflicting Content-Length", _with_headers(b"l: 3\r\n"), 400),
    ("200 headers", _with_headers(b"X-H: v\r\n" * 200), 413),
    ("100 KiB header line", _with_headers(b"X-Long: " + b"a" * 100 * 1024 + b"\r\n"), 413),
    ("10 KiB header line", _with_headers(b"X-Long: " + b"a" * 10 * 1024 + b"\r\n"), 413),
    ("message over 64 KiB", VALID + b"x" * 65 * 1024, 413),
    ("binary garbage", bytes(range(256)) * 4, 400),
    ("NUL in a header", _with_headers(b"X-N: a\x00b\r\n"), 400),
    ("bare CR in a header", _with_headers(b"X-N: a\rInjected: b\r\n"), 400),
    ("no colon", _with_headers(b"NoColonHere\r\n"), 400),
    ("continuation first", VALID.replace(b"\r\nVia:", b"\r\n Via:", 1), 400),
    ("headers never end", VALID.split(b"\r\n\r\n")[0], 400),
    ("missing Call-ID", VALID.replace(b"Call-ID: 0a1b2c3d@192.168.1.64\r\n", b""), 400),
    ("missing Via", VALID.replace(b"Via: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1234abcd\r\n", b""), 400),
    ("CSeq method mismatch", VALID.replace(b"CSeq: 20 MESSAGE", b"CSeq: 20 INVITE"), 400),
    ("CSeq too big", VALID.replace(b"CSeq: 20 MESSAGE", b"CSeq: 2147483648 MESSAGE"), 400),
    ("CSeq no number", VALID.replace(b"CSeq: 20 MESSAGE", b"CSeq: MESSAGE"), 400),
    ("empty Call-ID", VALID.replace(b"Call-ID: 0a1b2c3d@192.168.1.64", b"Call-ID:  "), 400),
    ("control char in start line", VALID.replace(b"MESSAGE sip:", b"MESSAGE \x01sip:", 1), 400),
    ("non-ASCII request URI", VALID.replace(b"@4403000000 SIP", "@东门 SIP".encode(), 1), 400),
]


def test_17k_header_section_is_413() -> None:
    big = _with_headers(b"".join(b"X-%d: " % i + b"a" * 4000 + b"\r\n" for i in range(5)))
    with pytest.raises(SipError) as info:
        sip.parse(big)
    assert info.value.status == 413


@pytest.mark.parametrize(("name", "data", "status"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_input(name: str, data: bytes, status: int) -> None:
    with pytest.raises(SipError) as info:
        sip.parse(data)
    assert info.value.status == status, info.value


def test_valid_message_parses() -> None:
    msg = sip.parse(VALID)
    assert msg.cseq == (20, "MESSAGE") and len(msg.body) == 169
    assert msg.to_bytes() == VALID
    assert sip.parse(b"\r\n\r\n" + VALID).call_id == msg.call_id  # leading CRLFs (RFC 3261 7.5)
    assert sip.parse(VALID.replace(b"SIP/2.0\r\n", b"sip/2.0\r\n", 1)).method == "MESSAGE"
    assert (
        sip.parse(
            b"SIP/2.0 200\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n"
            b"To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n\r\n"
        ).reason
        == ""
    )


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(7)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip a byte
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 1:  # delete a run
            del buf[pos : pos + rng.randint(1, 40)]
        elif op == 2:  # insert junk
            buf[pos:pos] = rng.randbytes(rng.randint(1, 20))
        elif op == 3:  # insert something structural
            buf[pos:pos] = rng.choice(
                [
                    b"\r\n",
                    b"\n",
                    b"\r",
                    b":",
                    b";",
                    b",",
                    b'"',
                    b"<",
                    b">",
                    b" ",
                    b"\t",
                    b"\x00",
                    b"\r\n\r\n",
                    b"Content-Length: 9999\r\n",
                    b"l: -1\r\n",
                    b"SIP/2.0",
                    b"\xff\xfe",
                    b"\\",
                    b"=",
                    b"CSeq: 99999999999999 X\r\n",
                ]
            )
        elif op == 4:  # duplicate a run
            buf[pos:pos] = buf[pos : pos + rng.randint(1, 200)]
        elif op == 5:  # truncate
            del buf[pos:]
        else:  # swap case of a run
            buf[pos : pos + 10] = bytes(buf[pos : pos + 10]).swapcase()
    return bytes(buf)


def _without_length(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name.lower() not in ("content-length", "l")]


def test_random_mutations_only_raise_sip_error() -> None:
    rng = random.Random(28181)
    register = _register(1, "cid@h", "ft", (("Authorization", 'Digest username="a", realm="b", nonce="c"'),))
    seeds = [VALID, register.to_bytes(), sip.response_to(sip.parse(VALID), 200).to_bytes()]
    outcomes = {"ok": 0, "error": 0}
    for i in range(4000):
        data = _mutate(rng, seeds[i % len(seeds)])
        try:
            msg = sip.parse(data)
        except SipError as exc:
            assert 400 <= exc.status < 600
            outcomes["error"] += 1
        else:
            outcomes["ok"] += 1
            # Whatever parsed must be usable: properties, re-serialisation, and our digest parser.
            _ = (msg.cseq, msg.call_id, msg.from_tag, msg.to_tag, msg.via_branch, msg.content_type, msg.expires)
            again = sip.parse(msg.to_bytes())
            assert _without_length(again.headers) == _without_length(msg.headers)
            assert again.body == msg.body
            if msg.is_request:
                sip.response_to(msg, 200, received=("1.2.3.4", 5))
            auth = msg.get("Authorization")
            if auth is not None:
                with contextlib.suppress(DigestError):
                    digest.parse_authorization(auth)
        # The stream framer sees the same bytes in odd-sized pieces.
        framer = StreamFramer()
        try:
            for start in range(0, len(data), 97):
                framer.feed(data[start : start + 97])
            framer.feed(b"")
        except SipError:
            pass
    assert outcomes["ok"] > 50 and outcomes["error"] > 1000, outcomes


def test_random_digest_headers_only_raise_digest_error() -> None:
    rng = random.Random(2617)
    base = digest.authorization(
        digest.parse_challenge('Digest realm="r", nonce="n", qop="auth", opaque="o"'),
        method="REGISTER",
        uri="sip:a@b",
        username="u",
        password="p",
        cnonce="c",
    ).encode()
    for _ in range(3000):
        value = _mutate(rng, base).decode("utf-8", "surrogateescape")
        for call in (digest.parse_challenge, digest.parse_authorization):
            with contextlib.suppress(DigestError):
                call(value)
        with contextlib.suppress(DigestError):
            digest.verify(value, method="REGISTER", password="p")


# --- TCP framing ------------------------------------------------------------------------------


def test_framer_split_coalesced_and_keepalives() -> None:
    second = VALID.replace(b"CSeq: 20", b"CSeq: 21")
    stream = b"\r\n\r\n" + VALID + b"\r\n\r\n" + second + b"\r\n" + VALID
    framer = StreamFramer()
    got = framer.feed(stream)  # coalesced
    assert [m.cseq[0] for m in got] == [20, 21, 20]
    assert all(m.body == sip.parse(VALID).body for m in got)
    assert framer.keepalive_lfs == 5
    framer = StreamFramer()
    got = []
    for i in range(len(stream)):  # split byte by byte
        got += framer.feed(stream[i : i + 1])
    assert [m.cseq[0] for m in got] == [20, 21, 20]
    framer = StreamFramer()
    assert framer.feed(VALID[:200]) == []
    assert framer.feed(VALID[200:] + second[:-10]) and framer.feed(second[-10:])
    assert framer.feed(b"\r\n\r\n") == [] and framer.keepalive_lfs == 2


def test_framer_requires_content_length() -> None:
    framer = StreamFramer()
    with pytest.raises(SipError) as info:
        framer.feed(VALID.replace(b"Content-Length: 169\r\n", b""))
    assert info.value.status == 400
    with pytest.raises(SipError):  # dead after a framing error
        framer.feed(VALID)


def test_framer_bounds_memory() -> None:
    framer = StreamFramer()
    with pytest.raises(SipError) as info:
        for _ in range(100):
            framer.feed(b"MESSAGE sip:a@b SIP/2.0\r\nX: " + b"a" * 1000)
    assert info.value.status == 413
    framer = StreamFramer()
    with pytest.raises(SipError) as info:
        framer.feed(VALID.replace(b"Content-Length: 169", b"Content-Length: 70000"))
    assert info.value.status == 413


def test_framer_returns_good_messages_before_the_error() -> None:
    framer = StreamFramer()
    got = framer.feed(VALID + b"GARBAGE\r\n\r\n")
    assert len(got) == 1 and framer.error is not None and framer.error.status == 400
    with pytest.raises(SipError):
        framer.feed(b"")


def test_keepalive_detection() -> None:
    assert sip.is_keepalive(b"\r\n\r\n") and sip.is_keepalive(b"\r\n")
    assert not sip.is_keepalive(b"") and not sip.is_keepalive(VALID)


# --- Date -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T08:00:00.000", datetime(2024, 5, 1, 8, 0, 0)),
        ("2024-05-01T08:00:00", datetime(2024, 5, 1, 8, 0, 0)),
        (" 2024-12-31T23:59:59.5 ", datetime(2024, 12, 31, 23, 59, 59, 500000)),
        ("2024-05-01 08:00:00.123456789", datetime(2024, 5, 1, 8, 0, 0, 123456)),
        ("2024-05-01T00:00:00Z", datetime(2024, 5, 1, tzinfo=UTC)),
        ("Wed, 01 May 2024 00:00:00 GMT", datetime(2024, 5, 1, tzinfo=UTC)),
        ("Sat, 13 Nov 2010 23:29:00 GMT", datetime(2010, 11, 13, 23, 29, tzinfo=UTC)),
        ("", None),
        ("yesterday", None),
        ("2024-13-01T00:00:00.000", None),
        ("2024-02-30T00:00:00", None),
        ("Wed, 99 May 2024 00:00:00 GMT", None),
        ("9" * 5000, None),
    ],
)
def test_parse_date(value: str, expected: datetime | None) -> None:
    assert sip.parse_date(value) == expected


def test_format_gb_date_round_trips() -> None:
    moment = datetime(2024, 5, 1, 8, 0, 0, 123000)
    assert sip.format_gb_date(moment) == "2024-05-01T08:00:00.123"
    assert sip.parse_date(sip.format_gb_date(moment)) == moment
    with_offset = sip.parse_date("2024-05-01T08:00:00+08:00")
    assert with_offset is not None and with_offset.astimezone(UTC) == datetime(2024, 5, 1, tzinfo=UTC)


def test_stamp_received_fills_the_top_via_of_any_answer_once() -> None:
    """RFC 3581 section 4: the answer to a request with `rport` names the port and address it came from,
    whoever built the answer (the uplink's handlers build theirs without knowing the source)."""
    req = sip.parse(
        b"INVITE sip:34020000001320000001@3402000000 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKtop\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKlower\r\n"
        b"From: <sip:34020000002000000001@3402000000>;tag=a\r\nTo: <sip:34020000001320000001@3402000000>\r\n"
        b"Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    resp = sip.response_to(req, 200)
    assert "received" not in sip.header_params(resp.vias[0])
    sip.stamp_received(resp, ("192.0.2.50", 40001))
    sip.stamp_received(resp, ("192.0.2.50", 40001))  # again: still one of each
    again = sip.parse(resp.to_bytes())
    top = sip.header_params(again.vias[0])
    assert top["rport"] == "40001" and top["received"] == "192.0.2.50"
    assert again.vias[0].count("received=") == 1 and again.vias[0].count("rport") == 1
    assert "received" not in sip.header_params(again.vias[1])  # only the top Via is ours to stamp
