"""WebRTC live view and snapshots for viewers.

Kept free of imports: gateway.config imports gateway.liveview.config, so this package must not
pull in anything that imports gateway.config back.
"""
