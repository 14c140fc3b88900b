from __future__ import annotations

import asyncio

from adapters.rtsp.ping import rtsp_ping


async def _server(reply: bytes | None) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if reply is None:
            await asyncio.sleep(5)  # a hung server: accepts, never answers
        else:
            writer.write(reply)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_answers_unauthorised_and_hung_servers() -> None:
    ok, ok_port = await _server(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n")
    locked, locked_port = await _server(b"RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\n\r\n")
    http, http_port = await _server(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    hung, hung_port = await _server(None)
    async with ok, locked, http, hung:
        assert await rtsp_ping("127.0.0.1", ok_port, 1)
        assert await rtsp_ping("127.0.0.1", locked_port, 1)  # an answer, even 401, means it is alive
        assert not await rtsp_ping("127.0.0.1", http_port, 1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert not await rtsp_ping("127.0.0.1", hung_port, 0.3)
        assert loop.time() - started < 1.0
    assert not await rtsp_ping("127.0.0.1", ok_port, 1)  # closed now: refused
