"""The outbox: durable delivery of messages to MQTT brokers, webhooks and GA/T 1400 view libraries.

Kept free of imports: gateway.config imports gateway.outbox.config, so this package must not
pull in anything that imports gateway.config back.
"""
