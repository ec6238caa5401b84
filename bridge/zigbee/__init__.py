"""The ZigBee bridge (`smetslab bridge zigbee`): a comms hub whose HAN devices are ZigBee
devices joined to a zigpy network (docs/zigbee-bridge.md)."""
