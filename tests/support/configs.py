"""Site configurations that several unit tests build on (parse_config input, as a YAML file holds it)."""

from __future__ import annotations

from typing import Any

# The smallest valid site: one camera in one zone, its password in an environment variable.
MINIMAL = {
    "site": {"id": "s1", "name": "Site", "unit": {"name": "Unit", "headcount": 10}},
    "zones": [{"id": "gate", "name": "Gate", "kind": "entrance"}],
    "cameras": [
        {
            "id": "cam1",
            "name": "Cam 1",
            "source": {"rtsp": "rtsp://cam.example:8554/a"},
            "credentials": {"username": "u", "password": {"env": "TEST_CAM1_PASSWORD"}},
            "zones": ["gate"],
        }
    ],
}

UNIT_ID = "12010000002000000001"
SERVER_ID = "12000000002000000001"
CH1 = "12010000001320000001"
CH2 = "12010000001310000002"

# A site with three cameras, two of them GB/T 28181 channels, and one uplink to a city platform.
GB_SITE: dict[str, Any] = {
    "site": {
        "id": "s1",
        "name": "North Campus",
        "unit": {"name": "Unit", "headcount": 10, "gb_id": UNIT_ID, "address": "1 Main St"},
    },
    "cameras": [
        {"id": "gate", "name": "Gate", "source": {"rtsp": "rtsp://h/a"}, "gb_channel_id": CH1, "location": "Gate"},
        {"id": "hall", "name": "Hall", "source": {"rtsp": "rtsp://h/b"}, "gb_channel_id": CH2},
        {"id": "yard", "name": "Yard", "source": {"rtsp": "rtsp://h/c"}},
    ],
    "uplinks": {
        "gb28181": [
            {
                "id": "city",
                "server_id": SERVER_ID,
                "server_domain": "1200000000",
                "host": "10.0.0.1",
                "password": {"env": "GB_TEST_PW"},
            }
        ]
    },
}
