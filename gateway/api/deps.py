"""Dependencies shared by the routers: the runtime, who is asking, and which cameras they may see.

API clients send a bearer token. The web pages' own requests carry the session cookie instead;
those must also carry the session's CSRF token when they change anything.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.access import Access
from gateway.auth import Role, User
from gateway.errors import AuthError, PermissionDeniedError
from gateway.i18n import _
from gateway.i18n.terms import ROLES, term
from gateway.runtime import Runtime
from gateway.sessions import CSRF_HEADER, SESSION_COOKIE

_bearer = HTTPBearer(auto_error=False, description="API token from `gateway user add`")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def client_ip(request: Request) -> str | None:
    # The peer address as the server saw it. A reverse proxy's X-Forwarded-For is not trusted:
    # anyone could write one, and an audit trail must not record what the client claims.
    return request.client.host if request.client else None


def current_user(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    # A plain `def`: FastAPI runs it in its thread pool, so the database lookup never blocks the loop.
    # The app's middleware has already checked the credentials of /api/ and /metrics requests and
    # left what it found in request.state; other routes are looked up here.
    if credentials is not None:
        if credentials.scheme.lower() != "bearer":
            raise AuthError(_("missing bearer token"))
        user: User | None = getattr(request.state, "token_user", None)
        if user is None:
            user = runtime.users.authenticate(credentials.credentials)
        if user is None:
            raise AuthError(_("invalid or revoked token"))
        return user
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        raise AuthError(_("missing bearer token"))
    session = getattr(request.state, "session", None) or runtime.sessions.get(cookie)
    if session is None:
        raise AuthError(_("signed out: the session ended or expired"))
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise PermissionDeniedError(
                _("missing or wrong {header} header for a signed-in page").format(header=CSRF_HEADER)
            )
    return session.user


def require(*roles: Role) -> Callable[..., User]:
    allowed = frozenset(roles)

    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in allowed:
            raise PermissionDeniedError(_("role {role} may not do this").format(role=term(ROLES, user.role.value)))
        return user

    return check


AnyUser = Annotated[User, Depends(require(Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.POLICE))]
AdminUser = Annotated[User, Depends(require(Role.ADMIN))]


def current_access(user: AnyUser, runtime: RuntimeDep) -> Access:
    return runtime.grants.access_for(user)


AccessDep = Annotated[Access, Depends(current_access)]
