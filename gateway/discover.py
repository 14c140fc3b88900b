"""`gateway discover`: find ONVIF cameras and, with --write, add them to a site config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from adapters.onvif import DiscoveredDevice
from gateway.config import parse_config
from gateway.errors import ConfigError, ConfigIssue
from gateway.i18n import _


def endpoint_of(device: DiscoveredDevice) -> tuple[str, int]:
    """Host and port of the device service, from its first usable XAddr."""
    for xaddr in device.xaddrs:
        parts = urlsplit(xaddr)
        if parts.hostname:
            return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    return device.address, 80


def scope_value(device: DiscoveredDevice, kind: str) -> str | None:
    """The value of an onvif://www.onvif.org/<kind>/<value> scope (name, hardware, location)."""
    prefix = f"onvif://www.onvif.org/{kind}/"
    for scope in device.scopes:
        if scope.lower().startswith(prefix.lower()):
            value = scope[len(prefix) :].replace("%20", " ").strip()
            return value or None
    return None


def camera_entry(
    device: DiscoveredDevice, taken: set[str], username: str | None, password_env: str | None
) -> dict[str, Any]:
    host, port = endpoint_of(device)
    name = scope_value(device, "name") or scope_value(device, "hardware") or f"Camera at {host}"
    base = re.sub(r"[^a-z0-9]+", "-", f"cam-{host}".lower()).strip("-")[:56] or "cam"
    cid, n = base, 2
    while cid in taken:
        cid, n = f"{base}-{n}", n + 1
    taken.add(cid)
    entry: dict[str, Any] = {"id": cid, "name": name, "source": {"onvif": {"host": host, "port": port}}, "zones": []}
    if username:
        credentials: dict[str, Any] = {"username": username}
        if password_env:
            credentials["password"] = {"env": password_env}
        entry["credentials"] = credentials
    return entry


def add_to_config(
    path: Path, devices: list[DiscoveredDevice], username: str | None, password_env: str | None
) -> list[str]:
    """Add the devices not yet in the config as ONVIF cameras (zones left for a person); return new ids.

    The file is rewritten from its parsed form, so YAML comments are not kept.
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        issue = ConfigIssue(_("(top level)"), _("the config must be a mapping of keys"))
        raise ConfigError(str(path), [issue])
    cameras = data.setdefault("cameras", [])
    known = {
        (c["source"]["onvif"]["host"], int(c["source"]["onvif"].get("port", 80)))
        for c in cameras
        if isinstance(c, dict) and isinstance(c.get("source"), dict) and isinstance(c["source"].get("onvif"), dict)
    }
    taken = {c.get("id") for c in cameras if isinstance(c, dict)}
    added = []
    for device in devices:
        if endpoint_of(device) in known:
            continue
        entry = camera_entry(device, taken, username, password_env)  # type: ignore[arg-type]
        known.add(endpoint_of(device))
        cameras.append(entry)
        added.append(entry["id"])
    # Refuse to write a config the gateway would not start with.
    parse_config(data, source=str(path), check_secrets=False)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    tmp.replace(path)
    return added
