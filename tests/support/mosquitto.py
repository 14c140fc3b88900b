"""A real mosquitto broker on 127.0.0.1 for tests, and a recording subscriber.

The broker runs from a generated config in a tmp dir (no service manager in the test images); TLS
material is generated at test time and never leaves that dir.
"""

from __future__ import annotations

import atexit
import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.ports import free_port

MOSQUITTO = "/usr/sbin/mosquitto"
_live: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    # A test that dies without its fixture's teardown must not leave a broker holding a port.
    for proc in list(_live):
        if proc.poll() is None:
            proc.kill()


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def make_test_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server cert for 127.0.0.1/localhost; returns (ca, cert, key) paths."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_file, key)
    return ca_file, cert_file, key_file


class Mosquitto:
    def __init__(
        self,
        tmp_path: Path,
        *,
        port: int = 0,
        users: dict[str, str] | None = None,
        tls: bool = False,
        extra_config: list[str] | None = None,
        persistent: bool = False,
    ) -> None:
        self.dir = tmp_path / f"mosquitto-{id(self):x}"
        self.dir.mkdir(parents=True)
        self.port = port or free_port()
        self.users = users
        self.tls = tls
        self.extra_config = extra_config or []
        # Persistent: sessions and their queued QoS 1 messages survive a restart (saved at SIGTERM).
        self.persistent = persistent
        self.ca_file: str | None = None
        self._log_path = self.dir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._config = self._write_config()

    def _write_config(self) -> Path:
        lines = [f"listener {self.port} 127.0.0.1", "log_dest stderr", "log_type all"]
        if self.persistent:
            lines += ["persistence true", f"persistence_location {self.dir}/"]
        else:
            lines.append("persistence false")
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to user mosquitto, who cannot read our tmp files
        if self.users:
            passwd = self.dir / "passwd"
            passwd.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
            if shutil.which("mosquitto_passwd"):
                subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True, capture_output=True)
            else:  # pragma: no cover - the test images have it
                raise RuntimeError("mosquitto_passwd is needed to hash test passwords")
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            ca, cert, key = make_test_pki(self.dir)
            self.ca_file = str(ca)
            lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
        lines += self.extra_config
        config = self.dir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self, timeout_s: float = 5.0) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        with self._log_path.open("ab") as log:
            self._proc = subprocess.Popen([MOSQUITTO, "-c", str(self._config)], stdout=log, stderr=log)
        _live.add(self._proc)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self._proc.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port}:\n{self.log()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _live.discard(proc)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class Subscriber:
    """A paho client that records (topic, payload, retain) for every message matching topic_filter."""

    def __init__(
        self,
        port: int,
        topic_filter: str,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        client_id: str = "",
        clean_session: bool = True,
    ) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._filter = topic_filter
        self._port = port
        # A fixed client id with clean_session=False keeps the subscription and its queued messages
        # across a broker restart; paho's thread reconnects on its own.
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=1)
        if username is not None:
            self._client.username_pw_set(username, password)
        if ca_file is not None:
            self._client.tls_set(ca_certs=ca_file)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def start(self, timeout_s: float = 5.0) -> Subscriber:
        self._client.connect("127.0.0.1", self._port)
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.stop()
            raise TimeoutError(f"subscriber did not get SUBACK for {self._filter}")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Subscriber:
        return self.start()

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None) -> None:
        self.stop()

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        with self._cond:
            return list(self.messages)

    def wait_for(
        self, predicate: Callable[[list[tuple[str, bytes, bool]]], bool], timeout: float = 5.0
    ) -> list[tuple[str, bytes, bool]]:
        """Wait until predicate(messages) holds; return the messages, or raise TimeoutError with them."""
        with self._cond:
            if self._cond.wait_for(lambda: predicate(self.messages), timeout):
                return list(self.messages)
            raise TimeoutError(f"condition not met; got {self.messages!r}")

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(self._filter, qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, _codes: Any, _p: Any) -> None:
        self._subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()
