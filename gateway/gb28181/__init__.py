"""GB/T 28181 uplinks: registration to upper platforms, catalog, live sessions, subscriptions, alarms.

Kept free of imports: gateway.config imports gateway.gb28181.config, so this package must not
pull in anything that imports gateway.config back.
"""
