"""A real SMTP server on 127.0.0.1 (aiosmtpd): STARTTLS or implicit TLS with a self-signed certificate
made for the test, and AUTH required over TLS. Keeps every mail it accepted, parsed."""

from __future__ import annotations

import email
import email.policy
import shutil
import ssl
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session


def self_signed(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) PEM files for 127.0.0.1 and localhost, made now: with the `cryptography`
    package when it is installed, else with the openssl command."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        openssl = shutil.which("openssl")
        assert openssl, "neither the cryptography package nor openssl is installed"
        command = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        command += ["-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"]
        command += ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
        subprocess.run(
            command,
            check=True,
            capture_output=True,
        )
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert, key


class SmtpServer:
    def __init__(
        self, port: int, *, cert: Path, key: Path, username: str, password: str, implicit_tls: bool = False
    ) -> None:
        self.port = port
        self.implicit_tls = implicit_tls
        self.mails: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[tuple[str, bool]] = []  # (user, accepted)
        self._lock = threading.Lock()
        self._credentials = (username.encode(), password.encode())
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(cert, key)
        self._controller: Controller | None = None

    def _authenticate(
        self, _server: Any, _session: Session, _envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == self._credentials
        with self._lock:
            self.logins.append((data.login.decode() if isinstance(data, LoginPassword) else mechanism, ok))
        # handled=False: aiosmtpd answers 535 itself (True would mean we had answered).
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, _server: Any, _session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.mails.append(parsed)
            self.envelopes.append((str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos]))
        return "250 OK"

    def received(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.mails)

    def start(self) -> SmtpServer:
        tls: dict[str, Any] = (
            # aiosmtpd sees TLS only when it came by STARTTLS: on an implicit TLS listener it would
            # never offer AUTH with auth_require_tls, although every byte is encrypted.
            {"ssl_context": self._context, "auth_require_tls": False}
            if self.implicit_tls
            else {"tls_context": self._context, "require_starttls": True, "auth_require_tls": True}
        )
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_required=True,
            server_hostname="127.0.0.1",
            **tls,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
