from __future__ import annotations

from fastapi import APIRouter, status

from gateway.api.deps import AdminUser, RuntimeDep
from gateway.api.models import NewUserIn, NewUserOut, UserOut

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("", response_model=list[UserOut])
def list_users(runtime: RuntimeDep, _admin: AdminUser) -> list[UserOut]:
    return [
        UserOut(name=u.name, role=u.role.value, disabled=u.disabled, created_at=u.created_at)
        for u in runtime.users.list()
    ]


@router.post("", response_model=NewUserOut, status_code=status.HTTP_201_CREATED)
def add_user(body: NewUserIn, runtime: RuntimeDep, _admin: AdminUser) -> NewUserOut:
    user, token = runtime.users.add_user(body.name, body.role)
    return NewUserOut(
        name=user.name, role=user.role.value, disabled=user.disabled, created_at=user.created_at, token=token
    )
