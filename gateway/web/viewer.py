"""Who is looking at a page: the session cookie, the user's role and camera grants.

Pages use their own route class so that every failure (signed out, wrong role, unknown camera, bad
filter) becomes a page with the layout or a redirect to the sign-in form, never the API's JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from adapters.common.redact import mask_text
from gateway.access import Access
from gateway.api.deps import RuntimeDep
from gateway.auth import Role, User
from gateway.errors import GatewayError, PermissionDeniedError
from gateway.i18n import gettext
from gateway.i18n.terms import ROLES, term
from gateway.sessions import SESSION_COOKIE, WebSession
from gateway.web.render import error_page
from gateway.web.security import safe_next

log = logging.getLogger(__name__)


class LoginRequired(Exception):
    """No live session: the page answers with a redirect to the sign-in form."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign-in required")
        self.next_path = next_path


@dataclass(frozen=True)
class Viewer:
    session: WebSession
    access: Access

    @property
    def user(self) -> User:
        return self.session.user

    @property
    def role(self) -> Role:
        return self.session.user.role

    @property
    def csrf(self) -> str:
        return self.session.csrf

    def is_(self, *roles: Role) -> bool:
        return self.role in roles


def _requested_path(request: Request) -> str:
    path = request.url.path
    return safe_next(f"{path}?{request.url.query}" if request.url.query else path)


def current_viewer(request: Request, runtime: RuntimeDep) -> Viewer:
    # A plain `def`: the session and grant lookups read the database, so FastAPI runs this in a thread.
    token = request.cookies.get(SESSION_COOKIE)
    session = runtime.sessions.get(token) if token else None
    if session is None:
        raise LoginRequired(_requested_path(request))
    viewer = Viewer(session, runtime.grants.access_for(session.user))
    # Kept for the error pages, which draw the layout (name, navigation) too.
    request.state.viewer = viewer
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


def require_role(*roles: Role) -> Callable[..., Viewer]:
    allowed = frozenset(roles)

    def check(viewer: ViewerDep) -> Viewer:
        if viewer.role not in allowed:
            role = term(ROLES, viewer.role.value)
            raise PermissionDeniedError(gettext("this page is not open to the {role} role").format(role=role))
        return viewer

    return check


StaffViewer = Annotated[Viewer, Depends(require_role(Role.ADMIN, Role.OPERATOR, Role.AUDITOR))]
AuditViewer = Annotated[Viewer, Depends(require_role(Role.ADMIN, Role.AUDITOR))]
AdminViewer = Annotated[Viewer, Depends(require_role(Role.ADMIN))]


def login_redirect(next_path: str) -> RedirectResponse:
    target = "/login" if next_path == "/" else f"/login?next={quote(next_path, safe='/')}"
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


class PageRoute(APIRoute):
    """Routes whose errors are pages: 303 to /login when signed out, else an error page in the layout."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as exc:
                return login_redirect(exc.next_path)
            except GatewayError as exc:
                viewer = getattr(request.state, "viewer", None)
                if exc.http_status >= 500:
                    log.error("page %s failed: %s", request.url.path, mask_text(str(exc)))
                return error_page(request, viewer, exc.http_status, mask_text(str(exc)))

        return handle
