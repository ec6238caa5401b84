"""Comms hub status in the DSP core (sans-IO, D-E1): a bridge's status recorded in the
hubs table; a device SR to a device behind an offline hub answered E20 ("unable to
communicate with the device", DESIGN §3) at once with no command; back online, commands
go again; requests already in flight keep their E21 path (R8)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import timedelta

import pytest

from bridge.serial_bridge import RigHubStatus
from bridge.session import LinkState
from contract.errors import InvalidHubStatusError
from contract.hub_status import WITHDRAWN
from contract.ids import DCC_ACCESS_CONTROL_BROKER
from contract.vocabulary import Device, SmiStatus
from dsp_core.events import HubStatusChanged
from dsp_core.hubs import parse_hub_status
from dsp_core.model import HubStatus, JournalKind
from tests.support.core_bench import (
    ESME,
    GSME,
    HUB,
    NEW,
    PPMID,
    T0,
    CoreBench,
    codes,
    commands,
    image_for,
    only,
    responses,
)
from tests.support.core_scenarios import BRIDGE_T0, status

OTHER_HUB = "00-DB-12-34-56-78-90-C2"
ESME_ELSEWHERE = replace(ESME, device_id="00-DB-12-34-56-78-90-C0", comms_hub_id=OTHER_HUB)


def hub_journal(lab: CoreBench) -> list[tuple[str | None, str | None]]:
    return [(e.device_id, e.code) for e in lab.journal if e.kind is JournalKind.HUB_STATUS]


# ---- the status recorded -------------------------------------------------------------


def test_a_status_event_is_recorded_in_the_hubs_table_and_journalled() -> None:
    lab = CoreBench()
    assert status(lab, False) == []  # nothing is sent to anyone
    reported = BRIDGE_T0
    assert lab.state.hub_status(HUB) == HubStatus(HUB, False, "the port failed: EIO", T0, reported)
    [entry] = [e for e in lab.journal if e.kind is JournalKind.HUB_STATUS]
    assert (entry.device_id, entry.code) == (HUB, "offline")
    assert entry.detail["reason"] == "the port failed: EIO"
    assert entry.detail["previous"] is None


def test_since_is_when_the_hub_went_offline_not_the_last_status() -> None:
    lab = CoreBench()
    status(lab, False, "rig link up", reported_after=0)
    lab.now += timedelta(minutes=1)
    status(lab, False, "nothing from the peer for 1.0 s", reported_after=60)
    hub = lab.state.hub_status(HUB)
    assert hub is not None
    assert (hub.online, hub.reason, hub.since) == (False, "nothing from the peer for 1.0 s", T0)
    lab.now += timedelta(minutes=1)
    status(lab, True, "rig: hub online", reported_after=120)
    hub = lab.state.hub_status(HUB)
    assert hub is not None
    assert (hub.online, hub.since) == (True, T0 + timedelta(minutes=2))
    assert hub_journal(lab) == [(HUB, "offline"), (HUB, "offline"), (HUB, "online")]


def test_a_status_taken_already_or_older_changes_nothing() -> None:
    """Every DSP worker gets every status and the broker may deliver one twice (D15): the
    publisher's `at` spots both; an older status never overwrites a newer one."""
    lab = CoreBench()
    status(lab, True, "rig: hub online", reported_after=10)
    status(lab, True, "rig: hub online", reported_after=10)  # the same message again
    status(lab, False, "the port failed", reported_after=5)  # older: overtaken
    hub = lab.state.hub_status(HUB)
    assert hub is not None
    assert (hub.online, hub.reported_at) == (True, BRIDGE_T0 + timedelta(seconds=10))
    assert hub_journal(lab) == [(HUB, "online")]
    assert codes(lab.read(ESME)) == ["I99"]


def test_without_the_publishers_time_a_repeated_status_changes_nothing() -> None:
    lab = CoreBench()
    status(lab, False, "switched off", reported_after=None)
    status(lab, False, "switched off", reported_after=None)
    status(lab, False, "still off", reported_after=None)
    assert hub_journal(lab) == [(HUB, "offline"), (HUB, "offline")]


# ---- E20 -------------------------------------------------------------------------------


def test_an_unknown_hub_is_online_by_default() -> None:
    """Emulated hubs publish no status: their devices are reached as ever."""
    lab = CoreBench()
    assert lab.state.hub_status(HUB) is None
    actions = lab.read(ESME)
    assert codes(actions) == ["I99"]
    assert only(commands(actions)).device_id == ESME.device_id


@pytest.mark.parametrize(
    ("srv", "device"),
    [("11.2", ESME), ("11.2", GSME), ("11.2", PPMID), ("11.3", ESME)],
    ids=["11.2 ESME", "11.2 GSME", "11.2 PPMID (CS08)", "11.3 ESME"],
)
def test_a_device_sr_behind_an_offline_hub_is_e20_at_once_with_no_command(
    srv: str, device: Device
) -> None:
    """DESIGN §3 E20: after I99 (the request is authorised, R2), then E20 in the same turn
    instead of E21 at the time-out (R8); no command, nothing tracked, the DSP's own
    counter (CS08, D8) untouched."""
    lab = CoreBench()
    status(lab, False, "nothing from the peer for 1.0 s")
    actions = lab.read(device) if srv == "11.2" else lab.activate(device, NEW)
    assert codes(actions) == ["I99", "E20"]
    assert commands(actions) == []
    body = responses(actions)[-1].response.body
    assert body["ch_id"] == HUB
    assert "offline" in body["reason"]
    assert "nothing from the peer for 1.0 s" in body["reason"]
    assert device.device_id in body["reason"]
    assert lab.state.open_requests_for(device.device_id) == []
    assert DCC_ACCESS_CONTROL_BROKER not in lab.state.counters
    journalled = [(e.kind, e.code) for e in lab.journal if e.request_id is not None]
    assert (JournalKind.RESPONSE, "E20") in journalled
    assert JournalKind.COMMAND not in [kind for kind, _ in journalled]
    assert lab.tick(timedelta(hours=2)) == []  # no E21 to follow


def test_back_online_the_command_is_sent_again() -> None:
    lab = CoreBench()
    status(lab, False, reported_after=0)
    assert codes(lab.read(ESME)) == ["I99", "E20"]
    status(lab, True, "rig: hub online", reported_after=1)
    actions = lab.read(ESME)
    assert codes(actions) == ["I99"]
    assert codes(lab.reply_read(actions, NEW)) == ["I0"]


def test_only_the_offline_hubs_devices_get_e20() -> None:
    lab = CoreBench()
    lab.state.load(devices=[ESME_ELSEWHERE])
    status(lab, False, hub=OTHER_HUB)
    assert codes(lab.read(ESME_ELSEWHERE)) == ["I99", "E20"]
    assert codes(lab.read(ESME)) == ["I99"]


def test_authorisation_answers_before_the_hub_is_looked_at() -> None:
    """R2/R3 first: a device in Recovery behind an offline hub is E5, not E20."""
    lab = CoreBench()
    lab.state.load(devices=[replace(ESME, status=SmiStatus.RECOVERY)])
    status(lab, False)
    assert codes(lab.read(ESME)) == ["E5"]


def test_an_11_3_with_a_past_execution_time_is_s4_whatever_the_hub() -> None:
    lab = CoreBench()
    status(lab, False)
    actions = lab.activate(ESME, NEW, execution=(T0 - timedelta(hours=1)).isoformat())
    assert codes(actions) == ["I99", "S4"]


def test_a_request_in_flight_when_the_hub_goes_offline_keeps_its_e21_path() -> None:
    """R8: the command may still reach the device (the bridge keeps it queued), so it is
    answered E21 at its time-out and a late response is processed (D10)."""
    lab = CoreBench()
    sent = lab.read(ESME)
    status(lab, False)
    assert codes(lab.tick(timedelta(seconds=59))) == []
    assert codes(lab.tick(timedelta(seconds=2))) == ["E21"]
    status(lab, True, "rig: hub online", reported_after=61)
    late = lab.reply_read(sent, NEW)
    assert codes(late) == ["I0"]
    assert responses(late)[0].response.body["late"] is True
    assert lab.smi(ESME).firmware_version == NEW


def test_11_1_warns_for_a_device_behind_an_offline_hub_and_distributes_to_the_rest() -> None:
    """R9 per device: the DSPUpdateFirmwareWarning list `unable_to_communicate` (E20)."""
    lab = CoreBench()
    lab.state.load(devices=[ESME_ELSEWHERE])
    status(lab, False, hub=OTHER_HUB)
    body = {
        "firmware_image": base64.b64encode(image_for(NEW)).decode(),
        "firmware_version": NEW,
        "device_ids": [ESME.device_id, ESME_ELSEWHERE.device_id],
    }
    actions = lab.request("11.1", DCC_ACCESS_CONTROL_BROKER, body)
    final = responses(actions)[-1].response
    assert final.response_code == "I0"
    warnings = final.body["DSPUpdateFirmwareWarning"]
    assert warnings["unable_to_communicate"] == [ESME_ELSEWHERE.device_id]
    assert final.body["distributed"] == [ESME.device_id]
    assert only(commands(actions)).device_id == ESME.device_id


# ---- the status message on the bus ----------------------------------------------------


def test_the_serial_bridges_own_status_message_is_read() -> None:
    down = RigHubStatus(
        "00DB1234567890A2",
        link=LinkState.SYNCING,
        reason="nothing from the peer for 1.0 s",
        at=BRIDGE_T0,
    )
    event = parse_hub_status("00DB1234567890A2", down.report().to_json(), T0, BRIDGE_T0)
    assert event == HubStatusChanged(HUB, False, "nothing from the peer for 1.0 s", T0, BRIDGE_T0)
    up = replace(down, link=LinkState.UP, hub_online=True, reason="rig: hub online")
    assert parse_hub_status("00DB1234567890A2", up.report().to_json(), T0, BRIDGE_T0).online


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b"{not json", "status of hub 00-DB-12-34-56-78-90-A2: message: Invalid JSON"),
        (b'{"reason": "x"}', "online: Field required"),
        (b'{"online": "yes"}', "online: Input should be a valid boolean"),
        (b'{"online": true, "at": "yesterday"}', "at: Input should be a valid datetime"),
        (b'{"online": true, "at": "2030-01-01T00:00:00"}', "at: Input should have timezone"),
        (b'{"online": true, "reason": 3}', "reason: Input should be a valid string"),
        (b'{"online": true, "ch_id": "00DB1234567890FF"}', "is another hub than its topic's"),
        (b"[true]", "message: Input should be an object"),
    ],
)
def test_a_malformed_status_names_what_is_wrong(payload: bytes, says: str) -> None:
    with pytest.raises(InvalidHubStatusError) as raised:
        parse_hub_status("00DB1234567890A2", payload, T0)
    assert says in str(raised.value)


def test_a_cleared_retained_status_puts_the_hub_back_online() -> None:
    lab = CoreBench()
    status(lab, False)
    event = parse_hub_status("00DB1234567890A2", b"", lab.now)
    assert (event.online, event.reason, event.reported_at) == (True, WITHDRAWN, None)
    lab.run(event)
    assert codes(lab.read(ESME)) == ["I99"]


def test_the_status_json_fields_the_dsp_ignores_do_not_matter() -> None:
    payload = json.dumps({"online": False, "link": "closed", "radio": "ezsp", "devices": []})
    event = parse_hub_status("00DB1234567890A2", payload.encode(), T0)
    assert (event.online, event.reason, event.reported_at) == (False, "", None)
