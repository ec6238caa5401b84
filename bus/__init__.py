"""MQTT topics and envelopes, the MQTT client adapter, the embedded broker and the shared clock (DESIGN §3, §6)."""
