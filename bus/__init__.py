"""MQTT topics and envelopes, MQTT adapter, embedded broker, shared clock (DESIGN §3, §6)."""
