"""Answering a viewer's offer with aiortc, sending one track, on chosen host addresses only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.exceptions import OperationError
from aiortc.mediastreams import MediaStreamTrack

from adapters.webrtc.errors import OfferError


def restrict_host_addresses(pc: RTCPeerConnection, addresses: Sequence[str]) -> None:
    """Offer ICE host candidates on `addresses` only (call after setRemoteDescription).

    aioice offers every interface address but 127.0.0.1, with no option to change that: a
    multi-homed edge box may want only its camera-LAN address, and tests on one machine need
    loopback. Its Connection asks `get_component_candidates` for the candidates of the addresses
    it found; this Connection's answer uses ours instead. Nothing global is patched."""
    if not addresses:
        return
    wanted = list(addresses)
    for transceiver in pc.getTransceivers():
        dtls = transceiver.sender.transport
        if dtls is None:
            continue
        connection: Any = dtls.transport.iceGatherer._connection
        original = connection.get_component_candidates

        async def ours(component: int, addresses: list[str], _orig: Any = original, **kwargs: Any) -> Any:
            return await _orig(component=component, addresses=wanted, **kwargs)

        connection.get_component_candidates = ours


async def answer_offer(
    pc: RTCPeerConnection,
    offer_sdp: str,
    track: MediaStreamTrack,
    *,
    codec: str | None,
    host_addresses: Sequence[str] = (),
) -> str:
    """Apply the offer, send `track` on its video section, and return our answer SDP (with every ICE
    candidate: aiortc gathers before it answers, so no trickle is needed). `codec` ("h264", "vp8")
    pins the payload: passthrough must not let the browser pick VP8, which aiortc would encode."""
    # The transceiver and its codec preference must exist before the offer is applied: aiortc
    # settles the codecs of an m-line when it matches it to a transceiver.
    transceiver = pc.addTransceiver(track, direction="sendonly")
    if codec is not None:
        capabilities = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences([c for c in capabilities if c.mimeType.lower() == f"video/{codec}"])
    restrict_host_addresses(pc, host_addresses)
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
    except OperationError:
        raise OfferError(f"the offer and the gateway share no {(codec or 'video').upper()} format") from None
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise OfferError(f"the SDP offer was not accepted: {exc}") from None
    answer = await pc.createAnswer()
    if answer is None:
        raise OfferError("no answer could be made to this offer")
    await pc.setLocalDescription(answer)
    local = pc.localDescription
    sdp: str = local.sdp
    return sdp
