"""Users, roles, API tokens and passwords.

Tokens are 256-bit random strings shown once at creation; only their SHA-256 is stored. A slow
hash is unnecessary for them because they are not guessable, and a fast hash lets every request be
checked with one indexed lookup. Passwords (for the web pages) are chosen by people, so they get
scrypt with a per-user salt.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from gateway.errors import ConflictError, InvalidRequestError, NotFoundError
from gateway.i18n import _
from gateway.storage import schema
from gateway.storage.db import Database

TOKEN_PREFIX = "gw_"  # noqa: S105 - a marker, not a secret
log = logging.getLogger(__name__)
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
# scrypt at n=2**14, r=8: 16 MiB and ~50 ms per check on the edge box; slow enough to make
# guessing offline costly, fast enough that a sign-in never waits.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
# last_used_at is informative only; writing it on every request would turn reads into writes.
_LAST_USED_RESOLUTION_S = 60.0


class Role(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    AUDITOR = "auditor"
    POLICE = "police"


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role
    disabled: bool
    created_at: float


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequestError(_("a password needs at least {count} characters").format(count=MIN_PASSWORD_LENGTH))
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidRequestError(_("a password may have at most {count} characters").format(count=MAX_PASSWORD_LENGTH))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    if stored is None or len(password) > MAX_PASSWORD_LENGTH:
        # Same work as a real check, so that timing does not tell which user names exist.
        _scrypt(password[:MAX_PASSWORD_LENGTH], b"0" * 16, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class UserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add_user(self, name: str, role: Role | str) -> tuple[User, str]:
        """Create a user with a first token; return the user and the token (shown once)."""
        if not _USER_NAME.match(name):
            raise InvalidRequestError(_("user name must be 1-100 letters, digits, '.', '_', '@' or '-'"))
        try:
            role = Role(role)
        except ValueError:
            raise InvalidRequestError(
                _("unknown role {role}; roles: {roles}").format(role=repr(role), roles=", ".join(r.value for r in Role))
            ) from None
        now = time.time()
        with self._db.engine.begin() as conn:
            exists = conn.execute(select(schema.users.c.id).where(schema.users.c.name == name)).first()
            if exists:
                raise ConflictError(_("user {name} already exists").format(name=repr(name)))
            key = conn.execute(
                schema.users.insert().values(name=name, role=role.value, disabled=False, created_at=now)
            ).inserted_primary_key
            assert key is not None
            user_id = int(key[0])
        token = self.issue_token(name)
        return User(id=user_id, name=name, role=role, disabled=False, created_at=now), token

    def issue_token(self, name: str) -> str:
        user = self.get(name)
        token = new_token()
        with self._db.engine.begin() as conn:
            conn.execute(
                schema.api_tokens.insert().values(
                    user_id=user.id,
                    token_hash=hash_token(token),
                    prefix=token[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + 6],
                    created_at=time.time(),
                )
            )
        return token

    def revoke_tokens(self, name: str) -> int:
        user = self.get(name)
        with self._db.engine.begin() as conn:
            result = conn.execute(
                update(schema.api_tokens)
                .where(schema.api_tokens.c.user_id == user.id, schema.api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
        return result.rowcount

    def set_password(self, name: str, password: str) -> None:
        check_password_rules(password)
        self.get(name)
        hashed = hash_password(password)
        with self._db.engine.begin() as conn:
            conn.execute(update(schema.users).where(schema.users.c.name == name).values(password_hash=hashed))

    def check_password(self, name: str, password: str) -> User | None:
        """The active user with this name and password, or None (same answer for every failure)."""
        with self._db.engine.connect() as conn:
            row = conn.execute(select(schema.users).where(schema.users.c.name == name)).first()
        stored = row.password_hash if row is not None else None
        if not verify_password(password, stored) or row is None or row.disabled:
            return None
        return user_from_row(row)

    def set_disabled(self, name: str, disabled: bool) -> None:
        self.get(name)
        with self._db.engine.begin() as conn:
            conn.execute(update(schema.users).where(schema.users.c.name == name).values(disabled=disabled))

    def get(self, name: str) -> User:
        with self._db.engine.connect() as conn:
            row = conn.execute(select(schema.users).where(schema.users.c.name == name)).first()
        if row is None:
            raise NotFoundError(_("no user {name}").format(name=repr(name)))
        return user_from_row(row)

    def list(self) -> list[User]:
        with self._db.engine.connect() as conn:
            rows = conn.execute(select(schema.users).order_by(schema.users.c.name)).all()
        return [user_from_row(r) for r in rows]

    def authenticate(self, token: str) -> User | None:
        """Return the active user owning this token, or None (unknown, revoked, or user disabled)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        t, u = schema.api_tokens, schema.users
        with self._db.engine.connect() as conn:
            row = conn.execute(
                select(u, t.c.id.label("token_id"), t.c.last_used_at)
                .join(t, t.c.user_id == u.c.id)
                .where(t.c.token_hash == hash_token(token), t.c.revoked_at.is_(None))
            ).first()
        if row is None or row.disabled:
            return None
        now = time.time()
        if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION_S:
            try:
                with self._db.engine.begin() as conn:
                    conn.execute(update(t).where(t.c.id == row.token_id).values(last_used_at=now))
            except SQLAlchemyError as exc:
                # A full disk must not lock operators out of the API that tells them the disk is full:
                # the token was read and checked; only its informative timestamp is not written.
                log.warning("auth: recording when token %d was last used failed: %s", row.token_id, exc)
        return user_from_row(row)


def user_from_row(row: object) -> User:
    return User(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        role=Role(row.role),  # type: ignore[attr-defined]
        disabled=bool(row.disabled),  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
    )
