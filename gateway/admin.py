"""Changes to users, tokens, passwords and grants, each written to the audit log.

The CLI and the API both come through here, so a change made at the console is as visible to an
auditor as one made over the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway import audit
from gateway.access import Grant, GrantKind, GrantStore
from gateway.auth import Role, User, UserStore, check_password_rules
from gateway.sessions import SessionStore


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a signed-in user, or someone at the box's console."""

    name: str
    role: str
    source: str | None = None

    @classmethod
    def of(cls, user: User, source: str | None) -> Actor:
        return cls(user.name, user.role.value, source)


class Admin:
    def __init__(self, users: UserStore, grants: GrantStore, sessions: SessionStore, log: audit.AuditLog) -> None:
        self.users, self.grants, self.sessions, self._audit = users, grants, sessions, log

    def add_user(self, actor: Actor, name: str, role: Role | str, password: str | None = None) -> tuple[User, str]:
        if password is not None:
            check_password_rules(password)  # before the user exists, so a bad password creates nothing
        user, token = self.users.add_user(name, role)
        self._record(actor, audit.USER_ADD, user.name, {"role": user.role.value})
        if password is not None:
            self.users.set_password(user.name, password)
            self._record(actor, audit.PASSWORD_SET, user.name)
        return user, token

    def issue_token(self, actor: Actor, name: str) -> str:
        token = self.users.issue_token(name)
        # The token's first characters identify it in `user list`; the token itself is never logged.
        self._record(actor, audit.TOKEN_ISSUE, name, {"prefix": token[3:9]})
        return token

    def revoke_tokens(self, actor: Actor, name: str) -> int:
        count = self.users.revoke_tokens(name)
        self._record(actor, audit.TOKEN_REVOKE, name, {"revoked": count})
        return count

    def set_disabled(self, actor: Actor, name: str, disabled: bool) -> None:
        self.users.set_disabled(name, disabled)
        ended = self.sessions.end_all(name) if disabled else 0
        self._record(actor, audit.USER_DISABLE if disabled else audit.USER_ENABLE, name, {"sessions_ended": ended})

    def set_password(self, actor: Actor, name: str, password: str) -> None:
        self.users.set_password(name, password)
        # Whoever knew the old password is signed out everywhere.
        ended = self.sessions.end_all(name)
        self._record(actor, audit.PASSWORD_SET, name, {"sessions_ended": ended})

    def grant(self, actor: Actor, name: str, kind: GrantKind | str, target: str) -> Grant:
        made = self.grants.grant(name, kind, target, by=actor.name)
        self._record(actor, audit.GRANT_ADD, name, {"kind": made.kind.value, "target": made.target})
        return made

    def revoke_grant(self, actor: Actor, name: str, kind: GrantKind | str, target: str) -> None:
        self.grants.revoke(name, kind, target)
        self._record(actor, audit.GRANT_REMOVE, name, {"kind": str(kind), "target": target})

    def _record(self, actor: Actor, action: str, target: str, detail: dict[str, object] | None = None) -> None:
        self._audit.record(actor.name, actor.role, action, target, detail, actor.source)
