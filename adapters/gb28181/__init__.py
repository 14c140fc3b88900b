"""GB/T 28181-2016 (tolerant of 2022 peers): the gateway as a lower-level platform of the city
video network. Protocol code only: SIP messages and digest auth, MANSCDP XML, SDP, MPEG-2 PS over
RTP. It never imports `gateway`; the wiring lives in gateway/forward.

Unfinished (issue 7): the SIP user agent (registration, keepalive, sessions) and the wiring are
not written yet; these modules are the protocol pieces they will use.
"""
