from __future__ import annotations

import logging
import secrets

import pytest

from adapters.common.redact import mask_text, mask_url, with_credentials
from gateway.logs import RedactingFilter

# Made per run: no credential is written down. Test ids name the cases, never the values.
PW = secrets.token_hex(8)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"rtsp://admin:{PW}@cam1.example:554/ch1", "rtsp://admin:***@cam1.example:554/ch1"),
        (f"rtsp://admin:{PW}@cam2.example/ch1?x=1", "rtsp://admin:***@cam2.example/ch1?x=1"),
        ("rtsp://cam1.example/ch1", "rtsp://cam1.example/ch1"),
        ("rtsp://admin@cam1.example/ch1", "rtsp://admin@cam1.example/ch1"),
        (f"rtsp://admin:p%40{PW}@[2001:db8::1]:554/x", "rtsp://admin:***@[2001:db8::1]:554/x"),  # example IPv6
        (f"postgresql://gw:{PW}@db.example:5432/gateway", "postgresql://gw:***@db.example:5432/gateway"),
    ],
    ids=["port", "query", "no-credentials", "user-only", "escaped-ipv6", "postgresql"],
)
def test_mask_url(url: str, expected: str) -> None:
    assert mask_url(url) == expected


def test_mask_text_finds_urls_and_key_values_inside_messages() -> None:
    url = with_credentials("rtsp://cam3.example/live", "root", PW)
    text = f"Connection refused: '{url}' password={PW} token: gw_abc"
    masked = mask_text(text)
    assert PW not in masked
    assert "gw_abc" not in masked
    assert "rtsp://root:***@cam3.example/live" in masked


def test_mask_text_masks_given_literal_secrets() -> None:
    assert mask_text("server said: bad digest for zzpassword99", ("zzpassword99",)) == "server said: bad digest for ***"


def test_with_credentials_quotes_special_characters() -> None:
    url = with_credentials("rtsp://cam1.example:554/a", "ad min", f"p@{PW}:w/")
    assert url == f"rtsp://ad%20min:p%40{PW}%3Aw%2F@cam1.example:554/a"
    assert mask_url(url) == "rtsp://ad%20min:***@cam1.example:554/a"


def test_logging_filter_masks_message_args_and_exceptions() -> None:
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "open %s failed", (with_credentials("rtsp://cam.example/x", "u", PW),), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "open rtsp://u:***@cam.example/x failed"
    try:
        raise ValueError("cannot open " + with_credentials("rtsp://cam.example/x", "u", PW))
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    RedactingFilter().filter(record)
    assert record.exc_text is not None and PW not in record.exc_text


def test_mask_text_leaves_names_that_merely_contain_secret_words() -> None:
    assert mask_text("camera wrong-password: offline (auth failed)") == "camera wrong-password: offline (auth failed)"
    assert mask_text("db_password=abc123 ok") == "db_password=*** ok"
    assert mask_text('{"password": "abc123"}') == '{"password": "***"}'
