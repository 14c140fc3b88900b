"""WebRTC live view on aiortc: tracks fed by encoded packets, offer checks, peer setup.

Protocol code only; it never imports `gateway`. H.264 from the camera is handed to aiortc as
`av.Packet`s, which its RTP sender packetizes without decoding or encoding (passthrough). Other
codecs can be decoded once and re-encoded by aiortc (`DecodedVideoTrack`), which costs a core.
"""

from adapters.webrtc.errors import OfferError
from adapters.webrtc.offer import OfferSummary, check_offer
from adapters.webrtc.peer import answer_offer, restrict_host_addresses
from adapters.webrtc.picture import keyframe_to_jpeg
from adapters.webrtc.track import H264PassthroughTrack, PacketSource, RtpClock, parameter_sets, with_parameter_sets
from adapters.webrtc.transcode import DecodedVideoTrack

__all__ = [
    "DecodedVideoTrack",
    "H264PassthroughTrack",
    "OfferError",
    "OfferSummary",
    "PacketSource",
    "RtpClock",
    "answer_offer",
    "check_offer",
    "keyframe_to_jpeg",
    "parameter_sets",
    "restrict_host_addresses",
    "with_parameter_sets",
]
