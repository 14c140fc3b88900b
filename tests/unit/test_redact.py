from __future__ import annotations

import logging

import pytest

from adapters.common.redact import mask_text, mask_url, with_credentials
from gateway.logs import RedactingFilter


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:s3cret@cam1.example:554/ch1", "rtsp://admin:***@cam1.example:554/ch1"),
        ("rtsp://admin:s3cret@cam2.example/ch1?x=1", "rtsp://admin:***@cam2.example/ch1?x=1"),
        ("rtsp://cam1.example/ch1", "rtsp://cam1.example/ch1"),
        ("rtsp://admin@cam1.example/ch1", "rtsp://admin@cam1.example/ch1"),
        ("rtsp://admin:p%40ss@[2001:db8::1]:554/x", "rtsp://admin:***@[2001:db8::1]:554/x"),  # example IPv6
        ("postgresql://gw:pw@db.example:5432/gateway", "postgresql://gw:***@db.example:5432/gateway"),
    ],
)
def test_mask_url(url: str, expected: str) -> None:
    assert mask_url(url) == expected


def test_mask_text_finds_urls_and_key_values_inside_messages() -> None:
    text = "Connection refused: 'rtsp://root:hunter22@cam3.example/live' password=hunter22 token: gw_abc"
    masked = mask_text(text)
    assert "hunter22" not in masked
    assert "gw_abc" not in masked
    assert "rtsp://root:***@cam3.example/live" in masked


def test_mask_text_masks_given_literal_secrets() -> None:
    assert mask_text("server said: bad digest for zzpassword99", ("zzpassword99",)) == "server said: bad digest for ***"


def test_with_credentials_quotes_special_characters() -> None:
    url = with_credentials("rtsp://cam1.example:554/a", "ad min", "p@ss:word/")
    assert url == "rtsp://ad%20min:p%40ss%3Aword%2F@cam1.example:554/a"
    assert mask_url(url) == "rtsp://ad%20min:***@cam1.example:554/a"


def test_logging_filter_masks_message_args_and_exceptions() -> None:
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "open %s failed", ("rtsp://u:pw123@cam.example/x",), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "open rtsp://u:***@cam.example/x failed"
    try:
        raise ValueError("cannot open rtsp://u:pw123@cam.example/x")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    RedactingFilter().filter(record)
    assert record.exc_text is not None and "pw123" not in record.exc_text


def test_mask_text_leaves_names_that_merely_contain_secret_words() -> None:
    assert mask_text("camera wrong-password: offline (auth failed)") == "camera wrong-password: offline (auth failed)"
    assert mask_text("db_password=abc123 ok") == "db_password=*** ok"
    assert mask_text('{"password": "abc123"}') == '{"password": "***"}'
