"""Users, roles and API tokens.

Tokens are 256-bit random strings shown once at creation; only their SHA-256 is stored. A slow
password hash is unnecessary here because the tokens are not guessable, and a fast hash lets every
request be checked with one indexed lookup.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select, update

from gateway.errors import ConflictError, InvalidRequestError, NotFoundError
from gateway.storage import schema
from gateway.storage.db import Database

TOKEN_PREFIX = "gw_"  # noqa: S105 - a marker, not a secret
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
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


class UserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add_user(self, name: str, role: Role | str) -> tuple[User, str]:
        """Create a user with a first token; return the user and the token (shown once)."""
        if not _USER_NAME.match(name):
            raise InvalidRequestError("user name must be 1-100 letters, digits, '.', '_', '@' or '-'")
        try:
            role = Role(role)
        except ValueError:
            raise InvalidRequestError(f"unknown role {role!r}; roles: {', '.join(r.value for r in Role)}") from None
        now = time.time()
        with self._db.engine.begin() as conn:
            exists = conn.execute(select(schema.users.c.id).where(schema.users.c.name == name)).first()
            if exists:
                raise ConflictError(f"user {name!r} already exists")
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

    def set_disabled(self, name: str, disabled: bool) -> None:
        self.get(name)
        with self._db.engine.begin() as conn:
            conn.execute(update(schema.users).where(schema.users.c.name == name).values(disabled=disabled))

    def get(self, name: str) -> User:
        with self._db.engine.connect() as conn:
            row = conn.execute(select(schema.users).where(schema.users.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no user {name!r}")
        return _user(row)

    def list(self) -> list[User]:
        with self._db.engine.connect() as conn:
            rows = conn.execute(select(schema.users).order_by(schema.users.c.name)).all()
        return [_user(r) for r in rows]

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
            with self._db.engine.begin() as conn:
                conn.execute(update(t).where(t.c.id == row.token_id).values(last_used_at=now))
        return _user(row)


def _user(row: object) -> User:
    return User(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        role=Role(row.role),  # type: ignore[attr-defined]
        disabled=bool(row.disabled),  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
    )
