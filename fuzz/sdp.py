"""Fuzz target `sdp`: the SDP offer in a platform's INVITE (adapters/gb28181/sdp.py).

Covers `parse_offer` and, for every offer it accepts, `build_answer` the way the live-view code
calls it. Allowed: `SdpError` with status 400, 413 or 488. Invariant: our answer to an accepted
offer is itself an offer `parse_offer` accepts, with the same SSRC, port and payload (PS when offered,
else the elementary stream chosen).
"""

from __future__ import annotations

from fuzz import check
from fuzz._atheris import INSTRUMENTED, instrument_imports, main

with instrument_imports(include=INSTRUMENTED):
    from adapters.gb28181 import sdp


def test_one_input(data: bytes) -> None:
    try:
        offer = sdp.parse_offer(data)
    except sdp.SdpError as exc:
        check(exc.status in (400, 413, 488), f"unexpected SdpError status {exc.status}")
        return
    answer = sdp.build_answer(
        offer, device_id="34020000001320000001", local_ip="192.0.2.7", local_port=30000, ssrc="0100000001"
    )
    try:
        again = sdp.parse_offer(answer)
    except sdp.SdpError as exc:
        raise AssertionError(f"our answer does not parse as SDP: {exc}") from None
    check(again.ssrc == "0100000001", "answer lost the SSRC")
    check(again.media_port == 30000, "answer lost the port")
    check(again.ps_payload == offer.ps_payload, "answer changed the PS payload type")
    check(sdp.choose_payload(again) == sdp.choose_payload(offer), "answer changed the payload")


if __name__ == "__main__":
    main(test_one_input)
