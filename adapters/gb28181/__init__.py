"""GB/T 28181-2016 (tolerant of 2022 peers): the gateway as a lower-level platform of the city
video network. Protocol code only: SIP messages and digest auth, the user agent that registers to an
upper platform and keeps alive (ua.py), MANSCDP XML, SDP, MPEG-2 PS over RTP. It never imports
`gateway`; the wiring lives in gateway/gb28181/.

Unfinished (issue 7): answering the platform's queries (Catalog, DeviceInfo, DeviceStatus), catalog
subscriptions, INVITE sessions streaming the cameras, alarms, and the gateway wiring (config, API,
metrics, report) are not written yet.
"""
