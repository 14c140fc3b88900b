"""ViidClient against a real HTTP view-library server (tests.viidserver) on 127.0.0.1."""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import pytest

from adapters.gat1400 import ids
from adapters.gat1400.client import (
    Gat1400AuthError,
    Gat1400NotRegisteredError,
    Gat1400RefusedError,
    Gat1400UnavailableError,
    ViidClient,
    ViidSettings,
)
from adapters.gat1400.objects import IMAGE_FACE, IMAGE_PERSON, IMAGE_SCENE, Box, SubImage, face_object, person_object
from tests.support.viidserver import ViidServer

DEV = "31010500001190000001"
USER, PASSWORD = "gateway", secrets.token_urlsafe(12)  # made per run: no credential is written down
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) + b"\xff\xd9"


@pytest.fixture
def server() -> Iterator[ViidServer]:
    with ViidServer(USER, PASSWORD, device_ids_allowed={DEV}) as srv:
        yield srv


def _settings(srv: ViidServer, password: str = PASSWORD, device_id: str = DEV) -> ViidSettings:
    return ViidSettings(srv.url, device_id, USER, password, timeout_s=2.0)


@pytest.fixture
async def client(server: ViidServer) -> AsyncIterator[ViidClient]:
    async with ViidClient(_settings(server)) as c:
        yield c


def _person(seq: int) -> dict[str, object]:
    at = datetime.now().replace(microsecond=0)
    scene = ids.image_id(DEV, at, seq)
    images = [
        SubImage(scene, IMAGE_SCENE, JPEG, 1280, 720, at),
        SubImage(ids.image_id(DEV, at, seq + 1), IMAGE_PERSON, JPEG, 100, 300, at),
    ]
    return person_object(ids.person_id(scene, seq), DEV, scene, Box(10, 20, 110, 320), at, at, images)


def _face(seq: int) -> dict[str, object]:
    at = datetime.now().replace(microsecond=0)
    scene = ids.image_id(DEV, at, seq)
    images = [SubImage(ids.image_id(DEV, at, seq + 1), IMAGE_FACE, JPEG, 64, 80, at)]
    return face_object(ids.face_id(scene, seq), DEV, scene, Box(30, 30, 94, 110), at, at, images)


async def test_register_uses_digest(server: ViidServer, client: ViidClient) -> None:
    status = await client.register()
    assert status.ok and status.id == DEV
    assert client.registered and server.registered == {DEV}
    codes = [code for _, path, code in server.responses if path == "/VIID/System/Register"]
    assert codes == [401, 200]  # challenge answered with qop=auth/opaque, checked by the server


async def test_wrong_password(server: ViidServer) -> None:
    async with ViidClient(_settings(server, password="wrong-password")) as c:
        with pytest.raises(Gat1400AuthError) as info:
            await c.register()
        assert not c.registered
    assert "wrong-password" not in str(info.value) and PASSWORD not in str(info.value)
    assert server.registered == set()
    assert "wrong-password" not in repr(c) + repr(c.settings)


async def test_device_not_allowed(server: ViidServer) -> None:
    async with ViidClient(_settings(server, device_id="31010500001190000099")) as c:
        with pytest.raises(Gat1400RefusedError) as info:
            await c.register()
    assert info.value.status_code == 4


async def test_keepalive_time_unregister(server: ViidServer, client: ViidClient) -> None:
    await client.register()
    await client.keepalive()
    await client.keepalive()
    assert server.keepalives == 2
    server.clock_offset_s = 3600
    t = await client.server_time()
    assert abs((t - datetime.now()).total_seconds() - 3600) < 5
    assert client.clock_offset_s is not None and abs(client.clock_offset_s - 3600) < 5
    await client.unregister()
    assert not client.registered and server.registered == set()
    # The server refuses a keepalive of a device it does not know; the client drops its session.
    with pytest.raises(Gat1400RefusedError):
        await client.keepalive()
    assert not client.registered


async def test_uploads(server: ViidServer, client: ViidClient) -> None:
    await client.register()
    persons = [_person(1), _person(10)]
    statuses = await client.upload_persons(persons)
    assert [s.id for s in statuses] == [p["PersonID"] for p in persons] and all(s.ok for s in statuses)
    faces = [_face(20)]
    assert [s.ok for s in await client.upload_faces(faces)] == [True]
    assert server.persons == persons and server.faces == faces
    assert server.errors == []
    assert await client.upload_persons([]) == []


async def test_upload_partial_refusal_and_503(server: ViidServer, client: ViidClient) -> None:
    await client.register()
    persons = [_person(1), _person(10)]
    server.refuse_object_ids = {str(persons[1]["PersonID"])}
    statuses = await client.upload_persons(persons)
    assert [s.status_code for s in statuses] == [0, 1]
    server.fail_uploads = True
    with pytest.raises(Gat1400UnavailableError, match="503"):
        await client.upload_faces([_face(3)])
    assert client.registered  # a busy server did not end the session
    assert server.errors == []


async def test_server_restart_detected(server: ViidServer, client: ViidClient) -> None:
    await client.register()
    server.restart()
    with pytest.raises(Gat1400NotRegisteredError):
        await client.upload_persons([_person(1)])
    assert not client.registered
    await client.register()
    assert client.registered and server.registered == {DEV}
    assert [s.ok for s in await client.upload_persons([_person(1)])] == [True]
    server.restart()
    with pytest.raises(Gat1400RefusedError):
        await client.keepalive()
    assert not client.registered
    await client.register()
    await client.keepalive()
    assert server.errors == []


async def test_server_down_is_unavailable(server: ViidServer, client: ViidClient) -> None:
    await client.register()
    server.stop()
    t0 = time.monotonic()
    with pytest.raises(Gat1400UnavailableError) as info:
        await client.keepalive()
    assert time.monotonic() - t0 < 3
    assert server.url in str(info.value) and PASSWORD not in str(info.value)


async def test_unreachable_timeout_and_url_credentials() -> None:
    # A listening socket that never answers: the client must give up after timeout_s.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        url = f"http://{USER}:{PASSWORD}@127.0.0.1:{port}"
        settings = ViidSettings(url, DEV, USER, PASSWORD, timeout_s=0.5)
        async with ViidClient(settings) as c:
            t0 = time.monotonic()
            with pytest.raises(Gat1400UnavailableError) as info:
                await c.register()
            assert time.monotonic() - t0 < 3
        assert PASSWORD not in str(info.value) and f"127.0.0.1:{port}" in str(info.value)
        assert PASSWORD not in repr(c) + repr(settings)
