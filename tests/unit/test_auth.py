from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from gateway.auth import Role, UserStore, hash_token
from gateway.errors import ConflictError, InvalidRequestError, NotFoundError
from gateway.storage import schema
from gateway.storage.db import Database

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def store(storage_url: str) -> Iterator[UserStore]:
    with Database(storage_url) as db:
        yield UserStore(db)


def test_token_is_stored_only_as_hash(store: UserStore) -> None:
    user, token = store.add_user("alice", "admin")
    assert user.role is Role.ADMIN
    assert token.startswith("gw_") and len(token) > 40
    with store._db.engine.connect() as conn:
        stored = conn.execute(select(schema.api_tokens.c.token_hash)).scalars().all()
        dump = "\n".join(str(row) for t in schema.metadata.sorted_tables for row in conn.execute(select(t)))
    assert stored == [hash_token(token)]
    assert token not in dump


def test_authenticate(store: UserStore) -> None:
    _, token = store.add_user("bob", Role.POLICE)
    user = store.authenticate(token)
    assert user is not None and user.name == "bob" and user.role is Role.POLICE
    assert store.authenticate(token + "x") is None
    assert store.authenticate("") is None
    assert store.authenticate("gw_" + "a" * 500) is None


def test_revoke_disable_and_extra_tokens(store: UserStore) -> None:
    _, first = store.add_user("carol", "operator")
    second = store.issue_token("carol")
    assert store.authenticate(second) is not None
    store.set_disabled("carol", True)
    assert store.authenticate(first) is None
    store.set_disabled("carol", False)
    assert store.authenticate(first) is not None
    assert store.revoke_tokens("carol") == 2
    assert store.authenticate(first) is None and store.authenticate(second) is None


def test_invalid_users(store: UserStore) -> None:
    store.add_user("dave", "auditor")
    with pytest.raises(ConflictError):
        store.add_user("dave", "auditor")
    with pytest.raises(InvalidRequestError, match="unknown role"):
        store.add_user("eve", "root")
    with pytest.raises(InvalidRequestError):
        store.add_user("bad name", "admin")
    with pytest.raises(NotFoundError):
        store.issue_token("nobody")


def test_a_token_still_works_when_its_last_use_cannot_be_written(
    store: UserStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A full disk must not lock operators out: the token is checked by a read; the write is informative."""
    _, token = store.add_user("ops", "operator")
    engine = store._db.engine

    def refuse_writes(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            raise OperationalError(statement, None, Exception("database or disk is full"))

    event.listen(engine, "before_cursor_execute", refuse_writes)
    try:
        user = store.authenticate(token)
    finally:
        event.remove(engine, "before_cursor_execute", refuse_writes)
    assert user is not None and user.name == "ops"
    assert "last used failed" in caplog.text and token not in caplog.text
