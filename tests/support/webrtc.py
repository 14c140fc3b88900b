"""A WebRTC viewer for the tests: offers receive-only video to a gateway and reads decoded frames."""

from __future__ import annotations

import asyncio

import av
import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from adapters.webrtc import restrict_host_addresses

LOCAL = "127.0.0.1"


async def offer_viewer(
    base_url: str, token: str, camera: str, *, replay: tuple[str, str] | None = None
) -> tuple[RTCPeerConnection, httpx.Response]:
    """A peer connection that offered to view ``camera`` (live, or its recordings from ``replay``'s start
    to its end, ISO 8601); the gateway's reply (201 with the answer)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    restrict_host_addresses(pc, [LOCAL])
    await pc.setLocalDescription(await pc.createOffer())
    # The refusals are checked in English (the site speaks Chinese by default).
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=20) as client:
        body = {"sdp": pc.localDescription.sdp, "type": "offer"}
        if replay is not None:
            body.update(start=replay[0], end=replay[1])
        resp = await client.post(f"/api/v1/cameras/{camera}/{'webrtc' if replay is None else 'replay'}", json=body)
    if resp.status_code == 201:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=resp.json()["sdp"], type="answer"))
    return pc, resp


async def receive_frames(pc: RTCPeerConnection, count: int, within_s: float) -> list[av.VideoFrame]:
    (transceiver,) = pc.getTransceivers()
    track = transceiver.receiver.track
    frames: list[av.VideoFrame] = []
    async with asyncio.timeout(within_s):
        while len(frames) < count:
            frames.append(await track.recv())
    return frames
