"""Northbound forwarders: wire protocol adapters to the gateway's cameras and states.

Kept free of imports: gateway.config imports gateway.forward.config, so this package must not
pull in anything that imports gateway.config back.
"""
