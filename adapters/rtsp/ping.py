"""Is an RTSP server answering? One OPTIONS request: cheap, and needs no credentials.

A TCP connect alone is not enough: the kernel accepts connections for a server process that is
hung or stopped, so only an RTSP answer (any status, 401 included) says the server is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl


async def rtsp_ping(host: str, port: int, within_s: float, *, tls: bool = False) -> bool:
    """True when host:port answers an RTSP OPTIONS request within `within_s` seconds."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(within_s):
            reader, writer = await asyncio.open_connection(host, port, ssl=_liveness_tls() if tls else None)
            if tls:
                return True  # the TLS handshake completed: a live process answered
            authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            writer.write(
                f"OPTIONS rtsp://{authority}/ RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: site-video-gateway\r\n\r\n".encode()
            )
            await writer.drain()
            line = await reader.readline()
            return line.startswith(b"RTSP/1.")
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await writer.wait_closed()


def _liveness_tls() -> ssl.SSLContext:
    # Only "is a server process answering?" is asked here and nothing is sent or trusted, so a
    # camera's self-signed certificate must not make it look dead.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
