"""Serial rig link and Zigbee adapters that put physical comms hubs on the bus."""
