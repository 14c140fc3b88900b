"""Dependencies shared by the routers: the runtime, and bearer-token authentication by role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.auth import Role, User
from gateway.errors import AuthError, PermissionDeniedError
from gateway.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="API token from `gateway user add`")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def current_user(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    # A plain `def`: FastAPI runs it in its thread pool, so the database lookup never blocks the loop.
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("missing bearer token")
    user = runtime.users.authenticate(credentials.credentials)
    if user is None:
        raise AuthError("invalid or revoked token")
    return user


def require(*roles: Role) -> Callable[..., User]:
    allowed = frozenset(roles)

    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in allowed:
            raise PermissionDeniedError(f"role {user.role.value} may not do this")
        return user

    return check


AnyUser = Annotated[User, Depends(require(Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.POLICE))]
AdminUser = Annotated[User, Depends(require(Role.ADMIN))]
