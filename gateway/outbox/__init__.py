"""The outbox: durable delivery of messages to MQTT brokers, webhooks and GA/T 1400 view libraries."""
