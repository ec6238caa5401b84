"""D-E5: each bridge's MQTT link carries a last will that the DSP reads as its hub
offline (D-E1's status message), on the hub's own status topic, retained."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from bridge.serial_bridge import bridge_link
from bridge.zigbee.bridge import zigbee_bridge_link
from bus.adapter import LinkConfig
from contract.topics import Topics
from dsp_core.hubs import parse_hub_status

CH_ID = "00DB12BD3A096533"
NOW = datetime(2031, 1, 1, tzinfo=UTC)
MakeLink = Callable[[str, Topics, str, str, str], LinkConfig]


@pytest.mark.parametrize("make_link", [bridge_link, zigbee_bridge_link], ids=["serial", "zigbee"])
def test_a_bridge_link_wills_its_hub_offline(make_link: MakeLink) -> None:
    topics = Topics("lab")
    link = make_link("mqtt://127.0.0.1:1883", topics, CH_ID, "bridge", "auto")
    assert link.will is not None
    assert link.will.topic == topics.ch_status(CH_ID)
    assert link.will.retain
    event = parse_hub_status(CH_ID, link.will.payload, NOW)
    assert event.online is False
    assert "last will" in event.reason
