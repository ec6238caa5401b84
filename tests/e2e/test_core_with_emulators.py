"""The DSP core and the emulated fleet in one process, joined by a loop instead of MQTT
(tests/support's LabLoop, the test writing the requests): the MP105 story on the example
fleet file. CPL entries are removed (R4), new firmware is distributed (R9) and activated
(11.3), 11.3 responses are lost and recovered by retry or by 11.2 (R5, R8), and at the
end the SMI agrees with what every SMETS2 ESME really runs."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from contract.ids import DCC_ACCESS_CONTROL_BROKER, to_compact
from contract.vocabulary import CplStatus, DeviceType, SmiStatus
from dsp_core.core import DspCore
from dsp_core.events import CplChanged
from dsp_core.keys import secured
from dsp_core.turn import CoreConfig
from emulators.actions import Uplink
from emulators.faults import FaultPlan
from emulators.fleet import build_fleet
from emulators.fleetspec import load_fleet_spec
from gbcs.keystore import DerivedKeyStore
from gbcs.security import protections
from tests.support.lab_loop import LabLoop

FLEET = Path(__file__).resolve().parents[2] / "configs" / "fleet.yaml"
CS06 = 0x0012


def lose_next_activation_response(loop: LabLoop) -> None:
    """Lose the next CS06 response on the way up, as a WAN fault would."""

    def lost(uplink: Uplink) -> bool:
        if uplink.message_code == CS06:
            loop.lose = None
            return True
        return False

    loop.lose = lost


def test_mp105_story_on_the_example_fleet() -> None:
    spec, _ = load_fleet_spec(FLEET)
    loop = LabLoop(build_fleet(spec, FaultPlan()))
    esmes = [
        d for d in loop.state.devices.values() if d.device_type is DeviceType.ESME and d.smets == 2
    ]
    assert esmes
    old = esmes[0].firmware_version
    same = [d for d in esmes if d.firmware_version == old]
    entry = next(
        e
        for e in loop.build.seed.cpl
        if (e.manufacturer, e.model, e.firmware_version)
        == (same[0].manufacturer, same[0].model, old)
    )
    # R4: the running version leaves the CPL: those ESMEs are Suspended.
    loop.core_event(CplChanged(replace(entry, status=CplStatus.REMOVED), loop.now))
    loop.drain()
    assert {loop.state.devices[d.device_id].status for d in same} == {SmiStatus.SUSPENDED}
    # R9: distribute the upgrade image, then let the blocks arrive.
    (key, image), *_ = [
        (k, i)
        for k, i in loop.build.images.items()
        if k[:2] == (same[0].manufacturer, same[0].model)
        and k[2] not in {d.firmware_version for d in esmes}
    ]
    body = {
        "firmware_image": base64.b64encode(image.to_bytes()).decode(),
        "firmware_version": key[2],
        "device_ids": [d.device_id for d in same],
    }
    loop.request("11.1", DCC_ACCESS_CONTROL_BROKER, body, 8)
    loop.advance(timedelta(hours=1))
    receipts = [a for a in loop.alerts if a.alert.alert_code == "FirmwareReceipt"]
    assert len(receipts) == len(same)
    assert all(a.alert.body["hash_matches"] for a in receipts)
    # 11.3 to each; the first response is lost (R8: E21), the retry answers (R5).
    lose_next_activation_response(loop)
    for device in same:
        loop.request("11.3", device.device_id, {"firmware_hash": image.sha256.hex()}, 4)
    loop.advance(timedelta(minutes=5))
    codes = [r.response.response_code for r in loop.responses]
    assert "E21" in codes
    for device in same:
        if loop.state.devices[device.device_id].firmware_version != key[2]:
            loop.request("11.3", device.device_id, {"firmware_hash": image.sha256.hex()}, 4)
    loop.advance(timedelta(minutes=5))
    for device in same:
        smi = loop.state.devices[device.device_id]
        running = (
            loop.build.fleet.device(bytes.fromhex(to_compact(device.device_id)))
            .running_version.hex()
            .upper()
        )
        assert smi.firmware_version == running == key[2]
        assert smi.status is SmiStatus.COMMISSIONED
    restored = [a for a in loop.alerts if a.alert.alert_code == "N29"]
    assert len(restored) == 2 * len(same)  # supplier and network operator


def test_a_command_the_device_refuses_is_forwarded_to_the_requester_as_its_alert() -> None:
    """D-SEC13: a DSP whose ACB key is not the one the devices trust (another lab's
    PKI) MACs an 11.2; the ESME does not run it and raises the signed alert 0x8F53,
    which the DSP forwards to the user whose request it names; R8 then ends the
    request in E21, as the device never answers it."""
    spec, _ = load_fleet_spec(FLEET)
    loop = LabLoop(build_fleet(spec, FaultPlan()))
    assert loop.build.keys is not None
    loop.core = DspCore(secured(CoreConfig(), DerivedKeyStore(spec.seed + 1)))
    esme = next(d for d in loop.state.devices.values() if d.device_type is DeviceType.ESME)
    request = loop.request("11.2", esme.device_id, {})
    (alert,) = [a for a in loop.alerts if a.alert.alert_code == "8F53"]
    assert (alert.user_id, alert.alert.device_id) == (loop.user, esme.device_id)
    assert alert.alert.body["request_id"] == request
    refusal = base64.b64decode(alert.alert.body["gbcs_payload"])
    assert [(p.kind, p.valid) for p in protections(refusal, loop.build.keys)] == [
        ("signature", True)
    ]
    loop.advance(timedelta(minutes=2))
    codes = [r.response.response_code for r in loop.responses if r.response.request_id == request]
    assert codes == ["I99", "E21"]
