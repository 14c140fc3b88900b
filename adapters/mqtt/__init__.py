"""MQTT publishing with broker acknowledgements."""

from adapters.mqtt.publisher import MqttError, MqttPublisher, MqttSettings

__all__ = ["MqttError", "MqttPublisher", "MqttSettings"]
