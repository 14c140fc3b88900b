"""Sign-in sessions for the web pages: a random cookie token plus a CSRF token per session.

The browser holds the session token in an http-only, SameSite=Strict cookie; pages carry the
session's CSRF token and send it back on every state-changing request, so a request forged by
another site (which can make the browser send the cookie but cannot read the page) is refused.
API clients use bearer tokens instead and need no CSRF token: a browser never adds those itself.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from sqlalchemy import and_, delete, or_, select, update

from gateway import audit
from gateway.auth import User, UserStore, hash_token, user_from_row
from gateway.config import ServerConfig
from gateway.errors import AuthError
from gateway.i18n import _
from gateway.storage import schema
from gateway.storage.db import Database

SESSION_COOKIE = "gw_session"
CSRF_HEADER = "X-CSRF-Token"
# Failed sign-ins allowed per user name and per source address within the window, before waiting.
MAX_FAILURES = 5
FAILURE_WINDOW_S = 300.0
# last_seen_at moves at most this often: a page polling every few seconds must not write each time.
_SEEN_RESOLUTION_S = 30.0


@dataclass(frozen=True)
class WebSession:
    token: str
    csrf: str
    user: User
    expires_at: float


class LoginThrottle:
    """Refuses sign-ins for a name or address with too many recent failures (guessing passwords)."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = FAILURE_WINDOW_S) -> None:
        self._max, self._window = max_failures, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, keys: list[str], now: float) -> float:
        with self._lock:
            waits = []
            for key in keys:
                recent = self._recent(key, now)
                if len(recent) >= self._max:
                    waits.append(recent[0] + self._window - now)
            return max(waits, default=0.0)

    def failed(self, keys: list[str], now: float) -> None:
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
            if len(self._failures) > 10_000:
                # A scan of many names must not grow this without bound.
                for key in [k for k, q in self._failures.items() if not q or q[-1] < now - self._window]:
                    del self._failures[key]

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        recent = self._failures.setdefault(key, deque())
        while recent and recent[0] < now - self._window:
            recent.popleft()
        return recent


class SessionStore:
    def __init__(self, db: Database, users: UserStore, log: audit.AuditLog, settings: ServerConfig) -> None:
        self._db = db
        self._users = users
        self._audit = log
        self._lifetime_s = settings.session_hours * 3600
        self._idle_s = settings.session_idle_minutes * 60
        self.throttle = LoginThrottle()

    def login(self, name: str, password: str, source_ip: str | None) -> WebSession:
        """Blocking (scrypt, database): call from a thread. Raises AuthError with a message to show."""

        now = time.time()
        name = name.strip()[:100]
        keys = [f"user:{name.lower()}"] + ([f"ip:{source_ip}"] if source_ip else [])
        wait = self.throttle.wait_s(keys, now)
        if wait > 0:
            self._audit.record_quietly(name, "", audit.LOGIN_FAILED, name, {"why": "throttled"}, source_ip)
            raise AuthError(_("too many failed sign-ins; try again in {wait} s").format(wait=int(wait) + 1))
        user = self._users.check_password(name, password)
        if user is None:
            self.throttle.failed(keys, now)
            self._audit.record_quietly(name, "", audit.LOGIN_FAILED, name, {"why": "wrong name or password"}, source_ip)
            raise AuthError(_("wrong user name or password"))
        self.throttle.succeeded(keys)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + self._lifetime_s
        with self._db.engine.begin() as conn:
            conn.execute(
                schema.web_sessions.insert().values(
                    user_id=user.id,
                    token_hash=hash_token(token),
                    csrf=csrf,
                    source=(source_ip or "")[:64] or None,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=expires,
                )
            )
        self._audit.record(user.name, user.role.value, audit.LOGIN, user.name, {"via": "web"}, source_ip)
        return WebSession(token, csrf, user, expires)

    def get(self, token: str) -> WebSession | None:
        """The live session for this cookie value, or None (unknown, ended, expired, idle, user disabled)."""
        if not token or len(token) > 200:
            return None
        s, u = schema.web_sessions, schema.users
        with self._db.engine.connect() as conn:
            row = conn.execute(
                select(u, s.c.id.label("session_id"), s.c.csrf, s.c.expires_at, s.c.last_seen_at)
                .join(s, s.c.user_id == u.c.id)
                .where(s.c.token_hash == hash_token(token), s.c.ended_at.is_(None))
            ).first()
        now = time.time()
        if row is None or row.disabled or now >= row.expires_at or now - row.last_seen_at > self._idle_s:
            return None
        if now - row.last_seen_at > _SEEN_RESOLUTION_S:
            with self._db.engine.begin() as conn:
                conn.execute(update(s).where(s.c.id == row.session_id).values(last_seen_at=now))
        return WebSession(token, row.csrf, user_from_row(row), row.expires_at)

    def logout(self, token: str, source_ip: str | None = None) -> None:
        session = self.get(token)
        s = schema.web_sessions
        with self._db.engine.begin() as conn:
            conn.execute(update(s).where(s.c.token_hash == hash_token(token)).values(ended_at=time.time()))
        if session is not None:
            user = session.user
            self._audit.record_quietly(user.name, user.role.value, audit.LOGOUT, user.name, None, source_ip)

    def prune(self, before: float) -> int:
        """Drop session rows that expired or ended before `before`; returns how many."""
        s = schema.web_sessions
        with self._db.engine.begin() as conn:
            gone = conn.execute(
                delete(s).where(or_(s.c.expires_at < before, and_(s.c.ended_at.is_not(None), s.c.ended_at < before)))
            )
        return int(gone.rowcount)

    def end_all(self, user_name: str) -> int:
        """End every session of a user (disabled, password changed)."""
        user = self._users.get(user_name)
        s = schema.web_sessions
        with self._db.engine.begin() as conn:
            return int(
                conn.execute(
                    update(s).where(s.c.user_id == user.id, s.c.ended_at.is_(None)).values(ended_at=time.time())
                ).rowcount
            )
