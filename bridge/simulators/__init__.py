"""Stand-ins for hardware a lab may not have, built on the device emulators: a rig at
the far end of the rig link (`rig.py`, `smetslab rig simulate`) and a zigpy network
without a radio whose devices are emulated ZigBee OTA clients (`zigbee_radio.py`,
`zigbee_device.py`, `smetslab bridge zigbee --radio emulated`).

They are the only part of `bridge` that imports `emulators`; the real-hardware paths
(`serial_bridge.py`, `zigbee/`) never do.
"""
