"""contract.hub_status: the one model of a hub's status, written by both bridges and
read by the DSP (D-E1, D-E5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bridge.hub import LOST, hub_lost_will
from bridge.serial_bridge import RigHubStatus
from bridge.session import LinkState
from bridge.zigbee.bridge import RadioLink, ZigbeeHubStatus
from bridge.zigbee.devicemap import DeviceMapping
from contract.errors import InvalidHubStatusError
from contract.hub_status import WITHDRAWN, HubStatusReport, read_hub_status
from contract.topics import Topics

CH = "00DB1234567890A2"
AT = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_a_report_reads_back_as_it_was_written_with_the_bridges_own_fields_kept() -> None:
    report = HubStatusReport(CH, False, "rig: hub offline", AT, "up", {"hub": "offline"})
    message = json.loads(report.to_json())
    assert list(message) == ["ch_id", "online", "link", "hub", "reason", "at"]
    assert message["at"] == "2031-05-06T07:08:09Z"
    read = read_hub_status(CH, report.to_json())
    assert (read.ch_id, read.online, read.reason, read.at, read.link) == (
        "00-DB-12-34-56-78-90-A2",
        False,
        "rig: hub offline",
        AT,
        "up",
    )


def test_the_serial_and_the_zigbee_bridge_write_what_the_dsp_reads() -> None:
    serial = RigHubStatus(CH, link=LinkState.UP, hub_online=True, reason="rig: hub online", at=AT)
    device = DeviceMapping(bytes.fromhex("00DB1234567890A0"), bytes(range(8)))
    zigbee = ZigbeeHubStatus(CH, "ezsp", (device,), RadioLink.UP, reason="radio up", at=AT)
    for status in (serial, zigbee):
        read = read_hub_status(CH, status.report().to_json())
        assert (read.online, read.reason, read.at) == (True, status.reason, AT)
    assert json.loads(zigbee.report().to_json())["devices"][0]["joined"] is False


def test_the_last_will_says_offline_on_the_hubs_own_topic() -> None:
    will = hub_lost_will(Topics("lab"), CH)
    assert will.topic == f"lab/ch/{CH}/status"
    read = read_hub_status(CH, will.payload)
    assert (read.online, read.reason, read.link) == (False, LOST, "lost")


def test_a_cleared_status_is_online_and_a_bad_one_names_its_field() -> None:
    assert read_hub_status(CH, b"") == HubStatusReport("00-DB-12-34-56-78-90-A2", True, WITHDRAWN)
    with pytest.raises(InvalidHubStatusError, match="online"):
        read_hub_status(CH, b'{"online": "yes"}')
    with pytest.raises(InvalidHubStatusError, match="another hub"):
        read_hub_status(CH, b'{"online": true, "ch_id": "00DB1234567890A3"}')
