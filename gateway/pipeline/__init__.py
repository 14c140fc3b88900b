"""Packet flow inside the gateway: per-camera buses that fan packets out to their consumers."""
