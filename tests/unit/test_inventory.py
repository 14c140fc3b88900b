from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.onvif import (
    ClockReading,
    DeviceInfo,
    DiscoveredDevice,
    Inventory,
    MediaProfile,
    OnvifError,
    RecordingSummary,
    VideoEncoding,
)
from adapters.rtsp import Reason, SourceError
from gateway.config import parse_config
from gateway.discover import add_to_config
from gateway.inventory import InventoryService, choose_profile
from gateway.storage import schema
from gateway.storage.db import Database


def profile(token: str, codec: str, w: int, h: int, uri: str | None = "rtsp://10.0.0.1/x") -> MediaProfile:
    return MediaProfile(token, token, VideoEncoding(codec, w, h, 25.0, 2048, 50, None), uri, None)


def test_choose_profile() -> None:
    profiles = [
        profile("sub", "h264", 640, 360),
        profile("main", "h265", 2560, 1440),
        profile("mj", "jpeg", 3840, 2160),
    ]
    assert choose_profile(profiles, None).token == "main"  # type: ignore[union-attr]
    assert choose_profile(profiles, "sub").token == "sub"  # type: ignore[union-attr]
    assert choose_profile(profiles, "missing") is None
    assert choose_profile([profile("a", "h264", 1920, 1080, uri=None)], None) is None


INVENTORY = Inventory(
    info=DeviceInfo("Acme", "IPC-1", "1.0", "SN1", "hw"),
    clock=ClockReading(datetime(2026, 1, 1, tzinfo=UTC), 12.5, True, "CST-8"),
    services={},
    profiles=[profile("main", "h264", 1920, 1080, "rtsp://10.0.0.1:554/main"), profile("sub", "h264", 640, 360)],
    recordings=RecordingSummary(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 31, tzinfo=UTC), 1),
)


class FakeClient:
    result: Inventory | OnvifError = INVENTORY

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def __aenter__(self) -> FakeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def inventory(self) -> Inventory:
        if isinstance(self.result, OnvifError):
            raise self.result
        return self.result


def _config(tmp_path: Path) -> Any:
    return parse_config(
        {
            "site": {"id": "s", "name": "S", "unit": {"name": "U", "headcount": 1}},
            "cameras": [
                {"id": "cam", "name": "C", "source": {"onvif": {"host": "10.0.0.1"}, "transport": "udp"}},
                {"id": "plain", "name": "P", "source": {"rtsp": "rtsp://10.0.0.2/x"}},
            ],
            "storage": {"url": f"sqlite:///{tmp_path}/g.db"},
        }
    )


async def test_resolve_and_store(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with Database(config.storage.url) as db:
        service = InventoryService(config, db, FakeClient)  # type: ignore[arg-type]
        resolved = await service.resolve(config.cameras[0])
        assert resolved.source.rtsp == "rtsp://10.0.0.1:554/main" and resolved.source.transport == "udp"
        assert await service.resolve(config.cameras[1]) is config.cameras[1]
        reading = service.latest["cam"]
        assert reading.retention_days() == 30.0 and reading.clock_offset_s == 12.5
        with db.engine.connect() as conn:
            row = conn.execute(schema.camera_inventory.select()).one()
        assert row.manufacturer == "Acme" and row.recording_search and row.main_profile["token"] == "main"

        FakeClient.result = OnvifError("auth failed", "401")
        try:
            await service.refresh(config.cameras[0])
            service.latest["cam"] = await service.refresh(config.cameras[0])
            with pytest.raises(SourceError) as info:
                await service.resolve(config.cameras[0])
            assert info.value.reason is Reason.AUTH_FAILED
        finally:
            FakeClient.result = INVENTORY


def test_discover_write_adds_new_devices_once(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"site": {"id": "s", "name": "S", "unit": {"name": "U", "headcount": 1}}}))
    device = DiscoveredDevice(
        "urn:uuid:1",
        ["http://10.0.0.7:8000/onvif/device_service"],
        ["onvif://www.onvif.org/name/Gate%20Cam"],
        [],
        "10.0.0.7",
    )
    assert add_to_config(path, [device], "viewer", "CAM_PW") == ["cam-10-0-0-7"]
    assert add_to_config(path, [device], "viewer", "CAM_PW") == []
    [cam] = yaml.safe_load(path.read_text())["cameras"]
    assert cam["name"] == "Gate Cam" and cam["source"]["onvif"] == {"host": "10.0.0.7", "port": 8000}
    assert cam["credentials"] == {"username": "viewer", "password": {"env": "CAM_PW"}}
