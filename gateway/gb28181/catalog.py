"""What one GB/T 28181 uplink shows its platform: the catalog items and the device answers.

Pure functions of the config, the cameras' current states and what ONVIF told us about each
camera, so they are tested without sockets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from adapters.gb28181.manscdp import CatalogItem
from gateway.config import CameraConfig, GatewayConfig
from gateway.config.gb28181 import Gb28181Uplink
from gateway.health.state import StateOf, is_up

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
