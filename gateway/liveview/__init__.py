"""WebRTC live view and snapshots for viewers."""
