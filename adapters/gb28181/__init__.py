"""GB/T 28181-2016 (tolerant of 2022 peers): the gateway as a lower-level platform of the city
video network. Protocol code only: SIP messages and digest auth, the user agent that registers to an
upper platform and keeps alive (ua.py), MANSCDP XML, SDP, MPEG-2 PS over RTP. It never imports
`gateway`; the wiring lives in gateway/gb28181/.

The gateway side answers the platform's queries (Catalog, DeviceInfo, DeviceStatus), keeps catalog
and alarm subscriptions, streams the cameras in INVITE sessions (UDP, TCP both ways) and sends alarms.
Not written yet: playback and download of recordings, and PTZ control (issues 21 and 22).
"""
