"""Users, their tokens, passwords and camera grants (admins), and who am I (everyone)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from gateway.access import GrantKind
from gateway.admin import Actor
from gateway.api.deps import AccessDep, AdminUser, RuntimeDep, client_ip
from gateway.api.models import GrantIn, GrantOut, MeOut, NewUserIn, NewUserOut, TokenOut, UserChangeIn, UserOut
from gateway.auth import User
from gateway.errors import InvalidRequestError
from gateway.i18n import _

router = APIRouter(prefix="/api/v1", tags=["users"])


def _actor(user: User, request: Request) -> Actor:
    return Actor.of(user, client_ip(request))


def _out(user: User) -> UserOut:
    return UserOut(name=user.name, role=user.role.value, disabled=user.disabled, created_at=user.created_at)


@router.get("/me", response_model=MeOut)
def me(runtime: RuntimeDep, access: AccessDep) -> MeOut:
    cameras = [c.id for c in access.visible(runtime.config.cameras)]
    return MeOut(name=access.user.name, role=access.user.role.value, all_cameras=access.all_cameras, cameras=cameras)


# Plain `def` routes: password hashing and database writes run in FastAPI's thread pool.
@router.get("/users", response_model=list[UserOut])
def list_users(runtime: RuntimeDep, _admin: AdminUser) -> list[UserOut]:
    return [_out(u) for u in runtime.users.list()]


@router.post("/users", response_model=NewUserOut, status_code=status.HTTP_201_CREATED)
def add_user(body: NewUserIn, request: Request, runtime: RuntimeDep, admin: AdminUser) -> NewUserOut:
    user, token = runtime.admin.add_user(_actor(admin, request), body.name, body.role, body.password)
    return NewUserOut(**_out(user).model_dump(), token=token)


@router.patch("/users/{name}", response_model=UserOut)
def change_user(name: str, body: UserChangeIn, request: Request, runtime: RuntimeDep, admin: AdminUser) -> UserOut:
    if body.disabled is None and body.password is None:
        raise InvalidRequestError(_("give 'disabled' or 'password'"))
    if body.disabled is not None and name == admin.name and body.disabled:
        raise InvalidRequestError(_("an admin cannot disable themselves"))
    actor = _actor(admin, request)
    if body.password is not None:
        runtime.admin.set_password(actor, name, body.password)
    if body.disabled is not None:
        runtime.admin.set_disabled(actor, name, body.disabled)
    return _out(runtime.users.get(name))


@router.post("/users/{name}/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
def issue_token(name: str, request: Request, runtime: RuntimeDep, admin: AdminUser) -> TokenOut:
    return TokenOut(token=runtime.admin.issue_token(_actor(admin, request), name))


@router.delete("/users/{name}/tokens", status_code=status.HTTP_204_NO_CONTENT)
def revoke_tokens(name: str, request: Request, runtime: RuntimeDep, admin: AdminUser) -> Response:
    runtime.admin.revoke_tokens(_actor(admin, request), name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users/{name}/grants", response_model=list[GrantOut])
def list_grants(name: str, runtime: RuntimeDep, _admin: AdminUser) -> list[GrantOut]:
    return [
        GrantOut(kind=g.kind.value, target=g.target, created_at=g.created_at, created_by=g.created_by)
        for g in runtime.grants.list_grants(name)
    ]


@router.post("/users/{name}/grants", response_model=GrantOut, status_code=status.HTTP_201_CREATED)
def add_grant(name: str, body: GrantIn, request: Request, runtime: RuntimeDep, admin: AdminUser) -> GrantOut:
    kind, target = _grant(body)
    made = runtime.admin.grant(_actor(admin, request), name, kind, target)
    return GrantOut(kind=made.kind.value, target=made.target, created_at=made.created_at, created_by=made.created_by)


@router.delete("/users/{name}/grants", status_code=status.HTTP_204_NO_CONTENT)
def remove_grant(
    name: str,
    request: Request,
    runtime: RuntimeDep,
    admin: AdminUser,
    kind: Annotated[str, Query(max_length=20, description="camera | zone | all")],
    target: Annotated[str | None, Query(max_length=64, description="Camera or zone id; none for 'all'")] = None,
) -> Response:
    # The query has GrantIn's limits: built from an unchecked query, GrantIn raised a 500 (schemathesis).
    kind_, target_ = _grant(GrantIn(kind=kind, target=target))
    runtime.admin.revoke_grant(_actor(admin, request), name, kind_, target_)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _grant(body: GrantIn) -> tuple[str, str]:
    if body.kind == GrantKind.ALL.value:
        return body.kind, "*"
    if not body.target:
        raise InvalidRequestError(
            _("a {kind} grant needs a 'target' (camera or zone id)").format(kind=repr(body.kind[:20]))
        )
    return body.kind, body.target
