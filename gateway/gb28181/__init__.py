"""GB/T 28181 uplinks: registration to upper platforms, catalog, live sessions, subscriptions, alarms."""
