"""E-mail by SMTP: a mail of plain text and simple HTML with an optional inline picture, and sending a
batch of them over one connection (STARTTLS on 587/25, implicit TLS on 465, optional login).

The standard library (`smtplib`, `email`), blocking, run by the caller in a worker thread
(asyncio.to_thread): no asyncio SMTP client is among the project's dependencies (aiosmtplib is not),
a site sends a few mails an hour, and smtplib does STARTTLS, implicit TLS and AUTH with the
standard library's certificate checks. One connection per batch: nothing stays open between them.

Subjects and names are Chinese: the `email` package's SMTP policy writes non-ASCII headers as
RFC 2047 encoded words and the bodies as UTF-8, which every mail client reads.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal

from adapters.common.redact import mask_text

__all__ = ["MailOutcome", "SmtpSettings", "build_mail", "send_mails"]

Security = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: Security = "starttls"
    username: str | None = None
    password: str | None = None
    timeout_s: float = 20.0
    ca_file: str | None = None  # a private CA (the site's own relay); default: the system's CAs


@dataclass(frozen=True)
class MailOutcome:
    sent: bool
    # True when the server refused this mail as such (5xx for it): sending it again cannot help.
    permanent: bool = False
    error: str | None = None


def build_mail(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None,
    picture: bytes | None = None,
    picture_cid: str | None = None,
    message_id: str,
    date: datetime,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A mail: plain text, then HTML (which may show the JPEG `picture` inline as cid:`picture_cid`).

    Without `picture_cid` the picture is attached instead. `message_id` is kept across resends of the
    same message, so a mail sent twice after a lost answer carries the same Message-ID and clients may
    show it once."""
    mail = EmailMessage(policy=policy.SMTP)
    mail["Subject"] = subject
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = format_datetime(date)
    mail["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(text, subtype="plain", charset="utf-8", cte="base64")
    if html is not None:
        mail.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    if html is not None and picture is not None and picture_cid:
        # multipart/related around the HTML: the picture shows where the HTML says cid:<picture_cid>.
        html_part = next(part for part in mail.iter_parts() if part.get_content_type() == "text/html")
        assert isinstance(html_part, EmailMessage)
        html_part.add_related(picture, maintype="image", subtype="jpeg", cid=f"<{picture_cid}>", disposition="inline")
    elif picture is not None:
        mail.add_attachment(picture, maintype="image", subtype="jpeg", filename="picture.jpg", disposition="inline")
    return mail


def _context(settings: SmtpSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.ca_file)


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.security == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout_s, context=_context(settings)
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
    try:
        smtp.ehlo()
        if settings.security == "starttls":
            if not smtp.has_extn("starttls"):
                raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS")
            smtp.starttls(context=_context(settings))
            smtp.ehlo()
        if settings.username:
            smtp.login(settings.username, settings.password or "")
    except BaseException:
        _close(smtp)
        raise
    return smtp


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {text.strip()}"[:300]


def _connection_error(settings: SmtpSettings, exc: BaseException) -> str:
    where = f"SMTP server {settings.host}:{settings.port}"
    secrets = tuple(s for s in (settings.password,) if s)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        reply = mask_text(_reply(exc), secrets)
        return f"{where} refused the login of {settings.username!r} ({reply}): check username and password"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"{where}: {exc}" + (" (login needs it, or security: tls)" if settings.security == "starttls" else "")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{where}: its certificate is not trusted ({exc.verify_message}): give ca_file for a private CA"
    if isinstance(exc, ssl.SSLError):
        return f"{where}: TLS failed ({exc.reason or exc})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{where} answered {mask_text(_reply(exc), secrets)}"
    if isinstance(exc, TimeoutError):
        return f"{where}: timed out after {settings.timeout_s:g} s"
    return f"cannot reach {where}: {mask_text(str(exc), secrets) or type(exc).__name__}"


def send_mails(settings: SmtpSettings, mails: Sequence[EmailMessage]) -> list[MailOutcome]:
    """Send the mails in order over one connection. Blocking.

    Returns an outcome for each mail tried: the mails sent or refused for good, then, if the batch
    stopped early, the one that failed for now (sent=False, permanent=False); the rest were not tried."""
    if not mails:
        return []
    try:
        smtp = _connect(settings)
    except (smtplib.SMTPException, OSError) as exc:
        return [MailOutcome(False, error=_connection_error(settings, exc))]
    outcomes: list[MailOutcome] = []
    try:
        for mail in mails:
            outcome = _send_one(smtp, settings, mail)
            outcomes.append(outcome)
            if not outcome.sent and not outcome.permanent:
                break
    finally:
        _close(smtp)
    return outcomes


def _send_one(smtp: smtplib.SMTP, settings: SmtpSettings, mail: EmailMessage) -> MailOutcome:
    try:
        refused = smtp.send_message(mail)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{rcpt}: {code}" for rcpt, (code, _msg) in exc.recipients.items())[:300]
        # Every recipient refused: for good when each refusal is permanent (5xx).
        permanent = all(500 <= code < 600 for code in codes)
        return MailOutcome(False, permanent, f"SMTP server refused every recipient ({detail})")
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
        # A refused sender is the config's mistake (every mail would be refused): retried until fixed.
        permanent = isinstance(exc, smtplib.SMTPDataError) and 500 <= exc.smtp_code < 600
        return MailOutcome(False, permanent, _connection_error(settings, exc))
    except (smtplib.SMTPException, OSError) as exc:
        return MailOutcome(False, error=_connection_error(settings, exc))
    if refused:
        # Some recipients have it: sending again would give them a second copy.
        return MailOutcome(True, error=f"refused for {', '.join(sorted(refused))}")
    return MailOutcome(True)
