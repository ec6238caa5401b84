"""A bridge's last will (D-E5): the broker marks the bridge's hub offline when the
bridge's connection ends without a DISCONNECT (the process killed, its host gone), so
the DSP answers a new request for a device behind it E20 at once, as it does for a rig
unplugged, instead of sending the command into nothing and waiting for E21. A bridge
that stops cleanly publishes its own last status and the broker drops the will."""

from __future__ import annotations

import json

from bus.adapter import LastWill
from contract.topics import Topics

LOST = "the bridge's connection to the broker ended without a goodbye (its last will)"


def hub_lost_will(topics: Topics, ch_id: str) -> LastWill:
    """Retained on the hub's status topic, in the form the DSP reads (`online`)."""
    message = {"ch_id": ch_id, "online": False, "link": "lost", "reason": LOST}
    return LastWill(topics.ch_status(ch_id), json.dumps(message).encode())
