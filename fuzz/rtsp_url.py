"""Fuzz target `rtsp_url`: camera URLs from the config, ONVIF answers and the CLI, and their redaction.

Covers adapters/common/redact.py (`mask_url`, `mask_text`, `with_credentials`) and the URL checks
of gateway/config/cameras.py `SourceConfig` (rtsp/sub_rtsp). Allowed: pydantic's ValidationError from the
config model; the redaction functions must not raise at all. Invariants: a masked URL never has a
password other than ***; `mask_text` never leaves a given secret in place; a URL the config
accepts can take credentials (`with_credentials`) and its masked form shows *** only, the same
whatever the password.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fuzz import check
from fuzz._atheris import INSTRUMENTED, instrument_imports, main

with instrument_imports(include=INSTRUMENTED):
    from pydantic import ValidationError

    from adapters.common import redact
    from gateway.config import SourceConfig


def _masked_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def test_one_input(data: bytes) -> None:
    # "<url>\0<user>\0<password>": the URL as a config or an ONVIF answer gives it, and credentials.
    url, _, rest = data.decode("utf-8", "replace").partition("\0")
    user, _, password = rest.partition("\0")

    masked = redact.mask_url(url)
    check(_masked_password(masked) in (None, redact.MASK), "mask_url left a password in the URL")
    if len(password) >= 3 and "*" not in password:
        check(password not in redact.mask_text(url, (password,)), "mask_text left a given secret in the text")

    try:
        source = SourceConfig.model_validate({"rtsp": url})
    except ValidationError:
        return
    assert source.rtsp is not None
    with_creds = redact.with_credentials(source.rtsp, user or "admin", password)
    shown = redact.mask_url(with_creds)
    check(_masked_password(shown) in (None, redact.MASK), "a configured URL shows its password after masking")
    if password:
        # The masked form must not depend on the password at all. (Asking only "is the password in it?"
        # reported a password "//a" found in the "rtsp://admin" every such URL starts with.)
        other = redact.mask_url(redact.with_credentials(source.rtsp, user or "admin", "pw"))
        check(shown == other, "a configured URL shows its password after masking")


if __name__ == "__main__":
    main(test_one_input)
