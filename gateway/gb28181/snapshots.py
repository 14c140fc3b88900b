"""Snapshots a platform asks for (GB/T 28181-2022 SnapShotConfig): take SnapNum pictures of a channel's
camera, Interval seconds apart, upload each by HTTP to the platform's UploadURL, then name them in an
UploadSnapShotFinished Notify.

Where the text leaves the HTTP form open, each picture is one POST of the JPEG itself (Content-Type
image/jpeg) carrying its SnapShotFileID and the SessionID in headers (`X-SnapShot-File-ID`,
`X-Session-ID`), and the file ID is the channel's ID, the picture's time (site's wall clock,
YYYYMMDDhhmmss) and its 2-digit number: unique, and readable by the person who finds it on disk.

A picture is the camera's next keyframe, as the camera page's snapshot is: pictures come no faster
than the camera's keyframes. A picture that cannot be taken or uploaded is left out (logged); the
Notify names those that arrived, and none is sent when nothing did. The upload URL is the platform's
and goes nowhere else; its query string may carry a token, so it is never logged whole.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Final
from urllib.parse import urlsplit

import httpx

from adapters.gb28181.manscdp import SnapShotConfigControl
from gateway.errors import GatewayError

log = logging.getLogger(__name__)

UPLOAD_TIMEOUT_S: Final = 10.0
MAX_RUNNING: Final = 4  # snapshot sessions at once per uplink; more are refused (Result ERROR)
# A picture: at most this old when taken (the camera page's snapshots are cached a little longer).
PICTURE_MAX_AGE_S: Final = 0.5

TakePicture = Callable[[str, float], Awaitable[bytes]]  # (camera id, max age s) -> JPEG


def file_id(channel_id: str, at: datetime, number: int) -> str:
    return f"{channel_id}{at:%Y%m%d%H%M%S}{number:02d}"


def shown(url: str) -> str:
    """The URL without its query or user info, for logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


class SnapshotUploads:
    """The snapshot sessions of one uplink; lives on the event loop."""

    def __init__(self, uplink_id: str, take: TakePicture, now: Callable[[], datetime]) -> None:
        self._uplink_id = uplink_id
        self._take = take
        self._now = now
        self._running = 0
        self.counters: dict[str, int] = dict.fromkeys(("snapshots_uploaded", "snapshots_failed"), 0)

    def check(self, control: SnapShotConfigControl) -> str | None:
        """Why the request cannot be served (None: it can)."""
        parts = urlsplit(control.upload_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "UploadURL is not an http(s) URL"
        if self._running >= MAX_RUNNING:
            return f"{MAX_RUNNING} snapshot sessions are already running"
        return None

    async def run(self, camera_id: str, channel_id: str, control: SnapShotConfigControl) -> list[str]:
        """Take and upload the pictures; returns the file IDs that arrived."""
        self._running += 1
        try:
            async with httpx.AsyncClient(timeout=UPLOAD_TIMEOUT_S, follow_redirects=False) as client:
                return await self._pictures(client, camera_id, channel_id, control)
        finally:
            self._running -= 1

    async def _pictures(
        self, client: httpx.AsyncClient, camera_id: str, channel_id: str, control: SnapShotConfigControl
    ) -> list[str]:
        uploaded: list[str] = []
        interval = float(control.interval or 1)
        loop = asyncio.get_running_loop()
        for number in range(1, control.snap_num + 1):
            started = loop.time()
            name = file_id(channel_id, self._now(), number)
            if await self._one(client, camera_id, name, control):
                uploaded.append(name)
            if number < control.snap_num:
                await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
        return uploaded

    async def _one(self, client: httpx.AsyncClient, camera_id: str, name: str, control: SnapShotConfigControl) -> bool:
        try:
            jpeg = await self._take(camera_id, PICTURE_MAX_AGE_S)
        except GatewayError as exc:
            self.counters["snapshots_failed"] += 1
            log.info("GB/T 28181 uplink %s: no snapshot of %s: %s", self._uplink_id, camera_id, exc)
            return False
        headers = {"Content-Type": "image/jpeg", "X-SnapShot-File-ID": name, "X-Session-ID": control.session_id}
        try:
            response = await client.post(control.upload_url, content=jpeg, headers=headers)
        except httpx.HTTPError as exc:
            self.counters["snapshots_failed"] += 1
            log.warning(
                "GB/T 28181 uplink %s: snapshot upload to %s failed: %s",
                self._uplink_id,
                shown(control.upload_url),
                type(exc).__name__,
            )
            return False
        if not response.is_success:
            self.counters["snapshots_failed"] += 1
            log.warning(
                "GB/T 28181 uplink %s: snapshot upload to %s answered %d",
                self._uplink_id,
                shown(control.upload_url),
                response.status_code,
            )
            return False
        self.counters["snapshots_uploaded"] += 1
        return True
