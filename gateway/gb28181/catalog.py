"""What one GB/T 28181 uplink shows its platform: the catalog items and the device answers.

Pure functions of the config, the cameras' current states and what ONVIF told us about each
camera, so they are tested without sockets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from adapters.gb28181.manscdp import CatalogEvent, CatalogItem
from adapters.rtsp.errors import Reason
from gateway.config import CameraConfig, GatewayConfig
from gateway.config.gb28181 import Gb28181Uplink
from gateway.health.policy import QUALITY_PREFIX
from gateway.health.state import CameraState, CameraStatus, StateOf, is_up

UNKNOWN = "unknown"  # Manufacturer/Model of a camera ONVIF has not described (plain RTSP)
GATEWAY_MANUFACTURER = "site-video-gateway"
GATEWAY_MODEL = "gateway"

# (manufacturer, model) as ONVIF reported them, None where unknown.
DeviceInfoOf = Callable[[str], tuple[str | None, str | None]]


def selected_cameras(config: GatewayConfig, uplink: Gb28181Uplink) -> list[CameraConfig]:
    """The cameras this uplink forwards, in config order; only cameras with a gb_channel_id."""
    if uplink.channels == "all":
        return [c for c in config.cameras if c.gb_channel_id is not None]
    wanted = set(uplink.channels)
    return [c for c in config.cameras if c.id in wanted and c.gb_channel_id is not None]


def civil_code(config: GatewayConfig) -> str:
    """The unit's administrative division: declared, else the first 6 digits (centre code) of its ID."""
    unit = config.site.unit
    if unit.civil_code:
        return unit.civil_code
    return unit.gb_id[:6] if unit.gb_id else ""


def catalog_items(
    config: GatewayConfig, uplink: Gb28181Uplink, state_of: StateOf, device_info: DeviceInfoOf
) -> list[CatalogItem]:
    """The system itself first (type 200), then each selected camera as its channel."""
    unit = config.site.unit
    system_id = unit.gb_id or ""
    code = civil_code(config)
    items = [
        CatalogItem(
            device_id=system_id,
            name=config.site.name,
            manufacturer=GATEWAY_MANUFACTURER,
            model=GATEWAY_MODEL,
            owner=unit.name,
            civil_code=code,
            address=unit.address or config.site.name,
            parental=1,  # the system has the channels below it
            register_way=1,
            status="ON",
        )
    ]
    for camera in selected_cameras(config, uplink):
        assert camera.gb_channel_id is not None  # selected_cameras keeps only these
        manufacturer, model = device_info(camera.id)
        items.append(
            CatalogItem(
                device_id=camera.gb_channel_id,
                name=camera.name,
                manufacturer=manufacturer or UNKNOWN,
                model=model or UNKNOWN,
                owner=unit.name,
                civil_code=code,
                address=camera.location or unit.address or config.site.name,
                parental=0,
                parent_id=system_id,
                status="ON" if is_up(state_of(camera.id)) else "OFF",
            )
        )
    return items


def channel_lookup(config: GatewayConfig, uplink: Gb28181Uplink) -> Mapping[str, CameraConfig]:
    """Channel ID -> camera, for queries addressed to one channel."""
    return {c.gb_channel_id: c for c in selected_cameras(config, uplink) if c.gb_channel_id is not None}


# A camera that answers but whose video stopped or never came is "video lost" (VLOST), not off: the
# platform's operator sends someone to look at the picture, not at the network. A stream the camera
# ended (its connection closed) is not among them: that is a camera going away or rebooting, OFF.
_VIDEO_LOST: Final = frozenset({Reason.STALLED.value, Reason.NO_VIDEO.value})
# What the config says of a channel; a change of any of these is told as UPDATE. What ONVIF reports
# (manufacturer, model) is left out: it is first known a while after the start, which is no change.
TOLD_FIELDS: Final = ("name", "owner", "civil_code", "address", "parent_id")


def catalog_event(status: CameraStatus | None) -> CatalogEvent:
    """The catalog event a camera's status stands for: ON, OFF, VLOST (video lost) or DEFECT (a picture
    fault: frozen, covered, blurred... while video still comes)."""
    if status is None:
        return "OFF"
    if is_up(status.state):
        return "DEFECT" if any(f.startswith(QUALITY_PREFIX) for f in status.faults) else "ON"
    if status.state is CameraState.OFFLINE and status.reason in _VIDEO_LOST:
        return "VLOST"
    return "OFF"


def told(item: CatalogItem) -> dict[str, object]:
    """The part of a catalog item whose change the platform is told about."""
    return {name: getattr(item, name) for name in TOLD_FIELDS}


def catalog_changes(
    before: Mapping[str, Mapping[str, object]], items: list[CatalogItem]
) -> list[tuple[CatalogItem, CatalogEvent]]:
    """ADD for channels new since `before` (what the platform was last told), UPDATE for those whose
    told fields changed, DEL for those gone (as an item with the name they had)."""
    changes: list[tuple[CatalogItem, CatalogEvent]] = []
    now = {i.device_id: i for i in items}
    for channel, item in now.items():
        if channel not in before:
            changes.append((item, "ADD"))
        elif told(item) != dict(before[channel]):
            changes.append((item, "UPDATE"))
    for channel, fields in before.items():
        if channel not in now:
            gone = CatalogItem(device_id=channel, name=str(fields.get("name") or channel), status="OFF")
            changes.append((gone, "DEL"))
    return changes
