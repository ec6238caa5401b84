"""The DSP core and the emulated fleet in one process, joined by a loop instead of MQTT:
the MP105 story on the example fleet file. CPL entries are removed (R4), new firmware
is distributed (R9) and activated (11.3), 11.3 responses are lost and recovered by
retry or by 11.2 (R5, R8), and at the end the SMI agrees with what every SMETS2 ESME
really runs."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from contract.ids import DCC_ACCESS_CONTROL_BROKER, to_compact
from contract.vocabulary import CplStatus, DeviceType, SmiStatus
from dsp_core.core import DspCore
from dsp_core.events import (
    Action,
    ClockTicked,
    CplChanged,
    DeviceMessageReceived,
    RequestReceived,
    SendAlert,
    SendCommand,
    SendResponse,
)
from dsp_core.state import State
from emulators.actions import Uplink
from emulators.faults import FaultPlan
from emulators.fleet import FleetBuild, build_fleet
from emulators.fleetspec import load_fleet_spec

FLEET = Path(__file__).resolve().parents[2] / "configs" / "fleet.yaml"
T0 = datetime(2031, 1, 1, tzinfo=UTC)


class Loop:
    """Carries SendCommand to the fleet and Uplinks back to the core, in time order."""

    def __init__(self, build: FleetBuild) -> None:
        self.build = build
        self.core = DspCore()
        self.state = State()
        seed = build.seed
        self.state.load(
            devices=seed.devices, users=seed.users, registrations=seed.registrations, cpl=seed.cpl
        )
        self.supplier = seed.users[0].user_id
        self.now = T0
        self.counter = 0
        self.responses: list[SendResponse] = []
        self.alerts: list[SendAlert] = []
        self.lose_next_activation_response = False

    def _take(self, actions: Iterable[Action]) -> None:
        for action in actions:
            match action:
                case SendCommand(ch_id=ch_id, data=data):
                    self._deliver_up(
                        self.build.fleet.handle_down(
                            bytes.fromhex(to_compact(ch_id)), data, self.now
                        )
                    )
                case SendResponse():
                    self.responses.append(action)
                case SendAlert():
                    self.alerts.append(action)

    def _deliver_up(self, outputs: Iterable[object]) -> None:
        for output in outputs:
            if isinstance(output, Uplink) and not self._lost(output):
                self._take(
                    self.core.handle_event(
                        DeviceMessageReceived(output.ch_id, output.data, self.now), self.state
                    )
                )
                self.state.take_changes()

    def _lost(self, uplink: Uplink) -> bool:
        """Lose one CS06 response on the way up, as a WAN fault would."""
        if uplink.message_code == 0x0012 and self.lose_next_activation_response:
            self.lose_next_activation_response = False
            return True
        return False

    def request(self, srv: str, target: str, body: Mapping[str, object], cv: int) -> None:
        self.counter += 1
        message = {
            "request_id": f"{self.supplier}:{target}:{self.counter}",
            "service_reference_variant": srv,
            "command_variant": cv,
            "body": body,
        }
        self._take(
            self.core.handle_event(
                RequestReceived(to_compact(self.supplier), json.dumps(message).encode(), self.now),
                self.state,
            )
        )
        self.state.take_changes()

    def advance(self, delta: timedelta) -> None:
        end = self.now + delta
        while (due := self.build.fleet.next_due()) is not None and due <= end:
            self.now = max(self.now, due)
            self._deliver_up(self.build.fleet.tick(self.now))
        self.now = end
        self._take(self.core.handle_event(ClockTicked(self.now), self.state))
        self.state.take_changes()


def test_mp105_story_on_the_example_fleet() -> None:
    spec, _ = load_fleet_spec(FLEET)
    loop = Loop(build_fleet(spec, FaultPlan()))
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
    loop._take(
        loop.core.handle_event(
            CplChanged(replace(entry, status=CplStatus.REMOVED), loop.now), loop.state
        )
    )
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
    loop.lose_next_activation_response = True
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
