"""ONVIF southbound adapter: WS-Discovery, device info, clock, services, profiles, URIs, recordings, events.

A small hand-written async SOAP client on httpx (no zeep); responses are parsed with defusedxml.
"""

from adapters.onvif.client import (
    ClockReading,
    DeviceInfo,
    Inventory,
    MediaProfile,
    OnvifClient,
    RecordingSummary,
    VideoEncoding,
)
from adapters.onvif.discovery import DiscoveredDevice, discover
from adapters.onvif.event_kinds import EVENT_KINDS, EventKind, classify
from adapters.onvif.events import OnvifEvent, PullPoint, WatchStats, watch_events
from adapters.onvif.soap import OnvifError

__all__ = [
    "EVENT_KINDS",
    "ClockReading",
    "DeviceInfo",
    "DiscoveredDevice",
    "EventKind",
    "Inventory",
    "MediaProfile",
    "OnvifClient",
    "OnvifError",
    "OnvifEvent",
    "PullPoint",
    "RecordingSummary",
    "VideoEncoding",
    "WatchStats",
    "classify",
    "discover",
    "watch_events",
]
