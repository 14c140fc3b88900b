"""Every input the fuzzer (python -m fuzz, docs/security.md "Fuzzing") crashed a parser with.

Each test replays the exact input that crashed and asserts the clear, documented error (or the
safe result) the parser gives now. The harnesses themselves are exercised too, so an invariant the
fuzzer checks cannot silently stop holding for these inputs.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from adapters.common.redact import MASK, mask_url, with_credentials
from adapters.gb28181 import sip
from adapters.onvif import discovery, soap
from gateway.config import SourceConfig, config_from_bytes, load_config
from gateway.errors import ConfigError

pytestmark = pytest.mark.usefixtures("english")

# fuzz target onvif_soap: an unknown encoding in the XML declaration made expat raise LookupError.
ONVIF_UNKNOWN_ENCODING = (
    b'<?xml version="1.0" encoding="utf-4" standalone="yes" ?>\n'
    b'<env:Envelope xmlns:env="http://www.w3.or\xff\xfe2003/05/soap-envelope" '
    b'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    b'xmlns:tr2="http://www.onvif.org/ver20/media/wsdl">\n  <env:Body>\n    <tr2:GetStreamUriResponse>\n'
    b"      <tr2:Uri>$uri</tr2:Uri>\n    </tr2:GetStreamUriResponse>\n  </env:Body>\n</env:Envelope>\n"
)


def test_onvif_unknown_xml_encoding_is_a_bad_response() -> None:
    with pytest.raises(soap.OnvifError) as caught:
        soap.parse_envelope(ONVIF_UNKNOWN_ENCODING)
    assert caught.value.reason == "bad response"
    assert "unknown encoding" in caught.value.detail
    assert discovery.parse_probe_matches(ONVIF_UNKNOWN_ENCODING, "192.0.2.9") == []


# fuzz target sip: a malformed CSeq echoed into our 400 made an answer that does not parse. That is by
# design (RFC 3261 8.2.6.2: the CSeq is copied, and the sender learns why it was refused); the harness
# exempts it, and this input must still get its 400 with the Call-ID it can match.
SIP_MALFORMED_CSEQ = (
    b"MESSAGE sip:12010000002000000001@1200000000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bK-4242-1-0\r\n"
    b"From-: <sip:12000000002000000001@1200000000>;tag=4242SIPpTag031\r\n"
    b"To: <sip:12010000002000000001@1200000000>\r\n"
    b"Call-ID: info///1-4242@192.168.1.10\r\n"
    b"CSeq: 20 MESSIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 192.168.1.20:5060;rport=5060;received=192.168.1.20;branch=z9hG4bK9f1c2d3e\r\n"
    b"From: <sip:12010000002000000001@1200000000>;tag=1743012345SAGE\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Type: Application/MANSCDP+xml\r\n"
    b"Content-Length: 132\r\n\r\n"
    b'<?xml version="1.0"?>\r\n<Query>\r\n<CmdType>DeviceInfo</Cm\r\nT'
)


def test_sip_request_with_malformed_cseq_is_refused_with_400() -> None:
    with pytest.raises(sip.SipError) as caught:
        sip.parse(SIP_MALFORMED_CSEQ)
    assert caught.value.status == 400
    answer = sip.error_response(SIP_MALFORMED_CSEQ, caught.value)
    assert answer is not None and answer.status == 400
    assert answer.get("Call-ID") == "info///1-4242@192.168.1.10"
    assert answer.get("CSeq") == "20 MESSIP/2.0 200 OK"


def test_sip_error_response_still_answers_a_readable_request() -> None:
    good = SIP_MALFORMED_CSEQ.replace(b"CSeq: 20 MESSIP/2.0 200 OK", b"CSeq: 20 MESSAGE")
    answer = sip.error_response(good, sip.SipError(400, "Content-Length larger than the message"))
    assert answer is not None
    assert sip.parse(answer.to_bytes()).cseq == (20, "MESSAGE")


# fuzz target sip (third full run): a whitespace-only continuation line folded into the header
# before it as a trailing space ("0 "), so the message changed when serialised and parsed again.
SIP_EMPTY_CONTINUATION = (
    b'SIP/2.0 200 OK\r\nVia: SIP(/".0/UDP 192.168.1.20:5068.1.20;branch=z9hG4bK9f1c2d3e\r\n'
    b"From: <sip:\xd7\xcd\xcf\xce\xcf\xcf\xcf\xcf002000000001@120000000\nTo: <68.1.20\r\n"
    b"CSeq: 2 REPpTa`041\r\nCall-ID: 5f3e2a1b9c8d7e6f@192.168nt-Len\nCSeq: 2 REGISTER\r\n"
    b"Contt-Length: 0\r\n\t\n\n"
    b'Via: SIP(/".0/UDP 192.168.1.20:5068.1.20;branch=z9hG4bK9f1c2d3\r\n'
)


def test_sip_empty_continuation_line_adds_no_trailing_space() -> None:
    msg = sip.parse(SIP_EMPTY_CONTINUATION)
    assert msg.get("Contt-Length") == "0"
    again = sip.parse(msg.to_bytes())
    assert again.headers[:-1] == msg.headers  # to_bytes adds the Content-Length the message lacked
    assert again.headers[-1] == ("Content-Length", str(len(msg.body)))
    assert again.body == msg.body


# fuzz target rtsp_url: the config accepted a URL whose port is not a number; with_credentials then
# raised urllib's ValueError, whose message quotes the "port" text (here: the password).
RTSP_BAD_PORT = "rtsp://admin:s3cret\ufffd\ufffd\ufffd\ufffd."


def test_config_refuses_an_rtsp_url_with_a_bad_port() -> None:
    with pytest.raises(ValueError, match="'rtsp' URL has an invalid port"):
        SourceConfig.model_validate({"rtsp": RTSP_BAD_PORT})
    with pytest.raises(ValueError, match="'sub_rtsp' URL has an invalid port"):
        SourceConfig.model_validate({"rtsp": "rtsp://cam.example/a", "sub_rtsp": "rtsp://cam.example:99999/b"})


def test_with_credentials_names_a_bad_port_without_quoting_it() -> None:
    with pytest.raises(ValueError, match="invalid port") as caught:
        with_credentials(RTSP_BAD_PORT, "admin", "s3cret")
    assert "s3cret" not in str(caught.value)


def test_config_file_with_a_bad_port_is_a_config_error_without_the_secret() -> None:
    data = b"site: {}\ncameras:\n  - id: c1\n    source: {rtsp: 'rtsp://cam.example:s3cret/x'}\n"
    with pytest.raises(ConfigError) as caught:
        config_from_bytes(data, source="site.yaml", check_secrets=False)
    text = str(caught.value)
    assert "cameras[0].source: 'rtsp' URL has an invalid port" in text
    assert "s3cret" not in text


# fuzz target rtsp_url: a URL urllib refuses (bad bracketed host) fell back to mask_text, which
# stops the userinfo at the first '@' and left the rest of the password ("@:") visible.
RTSP_UNPARSEABLE = (
    "//:@:@a&password=:1]:3&password=[fea&password=:1]:3&password=ps://[fea&password=:1]:3"
    "&password=[fea&password=:1]:3&password=b"
)


def test_mask_url_masks_the_whole_userinfo_of_a_url_urllib_refuses() -> None:
    with pytest.raises(ValueError):
        urlsplit(RTSP_UNPARSEABLE)
    masked = mask_url(RTSP_UNPARSEABLE)
    assert urlsplit(masked).password == MASK


def test_mask_url_password_with_at_sign_and_bad_ipv6_host() -> None:
    password = f"{secrets.token_hex(3)}@{secrets.token_hex(6)}"  # per run, with the '@' that is the case
    masked = mask_url(f"rtsp://admin:{password}@[fe80::zz]/live")
    assert masked == f"rtsp://admin:{MASK}@[fe80::zz]/live"


# Found while writing the config harness (not by the fuzzer): load_config read the file with
# read_text, so bytes that are not UTF-8 raised UnicodeDecodeError instead of a ConfigError.
def test_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_bytes(b"site: \xff\xfe")
    with pytest.raises(ConfigError, match=r"byte 6: the file is not UTF-8 text"):
        load_config(path)


# fuzz target rtsp_url (second full run): urllib refuses the URL, mask_text masks the key=values,
# and what is left then splits as user:password@host, exposing the start and end of the userinfo.
RTSP_MASKING_CHANGES_SPLIT = (
    "rtsp://z:3&password=[fea&password=:2]:1&password=pea&passwd=:2]:3&password=[fea"
    "&password=://[a&password=:1]:3\x1fpassw@\x04"
)


def test_mask_url_masks_a_userinfo_that_only_appears_after_masking() -> None:
    with pytest.raises(ValueError):
        urlsplit(RTSP_MASKING_CHANGES_SPLIT)
    masked = mask_url(RTSP_MASKING_CHANGES_SPLIT)
    assert urlsplit(masked).password == MASK
    assert "passw" not in masked


# fuzz target config: a complex mapping key ("? key: value" makes the key a mapping) reached the
# duplicate-key check, whose `key in seen` raised TypeError: unhashable type: 'dict'.
CONFIG_MAPPING_AS_KEY = (
    b"# An example site: a secondary s:hool (a key unit) with mixed-vendor cameras.\n"
    b"# Passocker secret).\nversion: 2\nsite:\n  id: no3-middle-school\n"
    b'? nr_domain: "3301000000"\n#       host: 198.51.100.10\n'
    b"#       port: 5060  ost: 198.51.100.10\n#       po"
)


def test_config_with_a_mapping_as_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_bytes(CONFIG_MAPPING_AS_KEY, source="site.yaml")
    assert [str(issue) for issue in caught.value.issues] == [
        "line 6, column 3: invalid YAML: a mapping or list cannot be a key"
    ]


# Found while fixing the one above (same family, the fuzzer had not reached them yet): PyYAML's
# scalar constructors raise ValueError/AttributeError for values that match a type's pattern but
# cannot be built, and the composer recurses once per nesting level.
@pytest.mark.parametrize(
    ("data", "issue"),
    [
        (b"site: 2001-02-30", "line 1, column 7: invalid YAML: not a valid timestamp value"),
        (b"site: 2001-12-14t21:59:43.10+99:00", "line 1, column 7: invalid YAML: not a valid timestamp value"),
        (b"site: !!timestamp x", "line 1, column 7: invalid YAML: not a valid timestamp value"),
        (b"site: !!int 0x", "line 1, column 7: invalid YAML: not a valid int value"),
        (b"site: " + b"[" * 3000, "(file): invalid YAML: nested too deeply"),
    ],
)
def test_config_yaml_values_that_cannot_be_built_are_config_errors(data: bytes, issue: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_bytes(data, source="site.yaml")
    assert [str(i) for i in caught.value.issues] == [issue]
