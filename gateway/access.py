"""Which cameras a user may see: grants per camera, per zone, or for all cameras.

Admins and auditors see every camera (auditors read, they do not watch video). Police and
operators see only what they were granted. A grant names a camera or zone id, kept even when the
config no longer has it: a camera taken out and put back keeps its grants, as its history does.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from gateway.auth import Role, User, UserStore
from gateway.config import CameraConfig, GatewayConfig
from gateway.errors import ConflictError, InvalidRequestError, NotFoundError
from gateway.i18n import _
from gateway.i18n.terms import ROLES, term
from gateway.storage import schema
from gateway.storage.db import Database

ALL_TARGET = "*"
_SEES_EVERYTHING = frozenset({Role.ADMIN, Role.AUDITOR})


class GrantKind(enum.StrEnum):
    CAMERA = "camera"
    ZONE = "zone"
    ALL = "all"


@dataclass(frozen=True)
class Grant:
    user: str
    kind: GrantKind
    target: str
    created_at: float
    created_by: str

    def describe(self) -> str:
        return describe(self.kind, self.target)


def describe(kind: GrantKind, target: str) -> str:
    """What a grant lets its user see, in the current language."""
    if kind is GrantKind.ALL:
        return _("all cameras")
    if kind is GrantKind.ZONE:
        return _("zone {zone}").format(zone=target)
    return _("camera {camera}").format(camera=target)


@dataclass(frozen=True)
class Access:
    user: User
    # None: every camera, now and added later.
    camera_ids: frozenset[str] | None

    @property
    def all_cameras(self) -> bool:
        return self.camera_ids is None

    def can_see(self, camera_id: str) -> bool:
        return self.camera_ids is None or camera_id in self.camera_ids

    def visible(self, cameras: Iterable[CameraConfig]) -> list[CameraConfig]:
        return [c for c in cameras if self.can_see(c.id)]


class GrantStore:
    def __init__(self, db: Database, config: GatewayConfig, users: UserStore) -> None:
        self._db = db
        self._config = config
        self._users = users

    def access_for(self, user: User) -> Access:
        if user.role in _SEES_EVERYTHING:
            return Access(user, None)
        grants = self._grants_of(user.id)
        if any(kind == GrantKind.ALL for kind, _ in grants):
            return Access(user, None)
        cameras = {target for kind, target in grants if kind == GrantKind.CAMERA}
        zones = {target for kind, target in grants if kind == GrantKind.ZONE}
        if zones:
            cameras |= {c.id for c in self._config.cameras if zones.intersection(c.zones)}
        return Access(user, frozenset(cameras))

    def grant(self, name: str, kind: GrantKind | str, target: str, by: str) -> Grant:
        user = self._users.get(name)
        kind, target = self._check(kind, target)
        if user.role in _SEES_EVERYTHING:
            raise InvalidRequestError(
                _("user {name} is {role} and sees every camera already").format(
                    name=repr(name), role=term(ROLES, user.role.value)
                )
            )
        now = time.time()
        try:
            with self._db.engine.begin() as conn:
                conn.execute(
                    schema.grants.insert().values(
                        user_id=user.id, kind=kind.value, target=target, created_at=now, created_by=by[:100]
                    )
                )
        except IntegrityError:
            raise ConflictError(
                _("user {name} already has {label}").format(name=repr(name), label=self._label(kind, target))
            ) from None
        return Grant(name, kind, target, now, by)

    def revoke(self, name: str, kind: GrantKind | str, target: str) -> None:
        user = self._users.get(name)
        kind, target = self._check(kind, target, known_only=False)
        g = schema.grants
        with self._db.engine.begin() as conn:
            removed = conn.execute(
                delete(g).where(g.c.user_id == user.id, g.c.kind == kind.value, g.c.target == target)
            ).rowcount
        if not removed:
            raise NotFoundError(
                _("user {name} has no {label}").format(name=repr(name), label=self._label(kind, target))
            )

    def list_grants(self, name: str | None = None) -> list[Grant]:
        g, u = schema.grants, schema.users
        stmt = select(u.c.name, g.c.kind, g.c.target, g.c.created_at, g.c.created_by).join(u, u.c.id == g.c.user_id)
        if name is not None:
            self._users.get(name)
            stmt = stmt.where(u.c.name == name)
        with self._db.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(u.c.name, g.c.kind, g.c.target)).all()
        return [Grant(r.name, GrantKind(r.kind), r.target, r.created_at, r.created_by) for r in rows]

    def _grants_of(self, user_id: int) -> list[tuple[str, str]]:
        g = schema.grants
        with self._db.engine.connect() as conn:
            rows = conn.execute(select(g.c.kind, g.c.target).where(g.c.user_id == user_id)).all()
        return [(r.kind, r.target) for r in rows]

    def _check(self, kind: GrantKind | str, target: str, *, known_only: bool = True) -> tuple[GrantKind, str]:
        try:
            kind = GrantKind(kind)
        except ValueError:
            raise InvalidRequestError(
                _("grant kind must be camera, zone or all, not {kind}").format(kind=repr(str(kind)[:20]))
            ) from None
        if kind is GrantKind.ALL:
            return kind, ALL_TARGET
        if known_only:
            known = (
                {c.id for c in self._config.cameras} if kind is GrantKind.CAMERA else {z.id for z in self._config.zones}
            )
            if target not in known:
                raise NotFoundError(
                    _("no {kind} {target} in the configuration").format(kind=kind.value, target=repr(target[:64]))
                )
        return kind, target

    @staticmethod
    def _label(kind: GrantKind, target: str) -> str:
        if kind is GrantKind.ALL:
            return _("a grant for all cameras")
        if kind is GrantKind.ZONE:
            return _("a grant for zone {zone}").format(zone=repr(target))
        return _("a grant for camera {camera}").format(camera=repr(target))
