"""A real PostgreSQL server for the tests, started from Debian's binaries on 127.0.0.1.

One server per test session, in a temporary directory with durability switched off (the tests
never need to survive a power cut, and fsync makes every CREATE DATABASE slow); each test gets a
fresh empty database on it. initdb refuses to run as root, so under root the cluster belongs to
Debian's `postgres` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from tests.support.ports import free_port


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed: scripts/setup.sh installs Debian's postgresql")
    return Path(initdb).resolve().parent


class PostgresServer:
    USER = "gateway"

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable  # benchmarks run with fsync on, as a production server would
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="gw-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        self._template = ""

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        # The server's own locale, whatever the test's: a test may ask for a language (LANG=en_US.UTF-8)
        # whose locale this machine does not have, and initdb refuses a locale it cannot load.
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        env.pop("LANGUAGE", None)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def start(self) -> PostgresServer:
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", self.USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.root}",
                "" if self.durable else "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                # Several gateway processes, each with a connection pool, share the server in the scale-out tests.
                "-c max_connections=300",
            ]
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "start")
        return self

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def admin_dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={self.USER} dbname={dbname}"

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.USER}@127.0.0.1:{self.port}/{dbname}"

    def new_database(self, *, migrated: bool = True) -> str:
        """A fresh database (migrated to the gateway's latest schema, or empty); its SQLAlchemy URL.

        Migrated ones are copied from a template migrated once: a file copy takes a fifth of the time
        of creating a database and running the migrations, which matters over a few hundred tests."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        template = ""
        if migrated:
            if not self._template:
                self._template = self._make_template()
            template = f' TEMPLATE "{self._template}" STRATEGY FILE_COPY'
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{template}')  # type: ignore[arg-type] # names made here
        return self.url(name)

    def _make_template(self) -> str:
        from gateway.storage.db import Database

        name = "gateway_template"
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        Database(self.url(name)).open().close()
        return name

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


def wait_for(server: PostgresServer, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(server.admin_dsn(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
