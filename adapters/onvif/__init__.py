"""ONVIF southbound adapter: WS-Discovery, device info, clock, services, profiles, URIs, recordings.

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
from adapters.onvif.soap import OnvifError

__all__ = [
    "ClockReading",
    "DeviceInfo",
    "DiscoveredDevice",
    "Inventory",
    "MediaProfile",
    "OnvifClient",
    "OnvifError",
    "RecordingSummary",
    "VideoEncoding",
    "discover",
]
