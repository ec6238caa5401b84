"""The ZigBee bridge from the command line on mosquitto (issue 6): `smetslab dsp --fleet
configs/zigbee.yaml` and `smetslab bridge zigbee --radio emulated --fleet
configs/zigbee.yaml` as two processes; a service user's SR 11.2 reaches the ZigBee ESME
(ECS52) and the PPMID (CS08) through zigpy and comes back I0 with their versions; on
SIGTERM the bridge exits 0 and its status says it stopped."""

from __future__ import annotations

import json
import signal
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bus.adapter import LinkConfig, MqttAdapter
from bus.topics import Topics
from dsp_core.ids import to_compact
from dsp_core.model import DeviceType
from emulators.fleet import build_fleet
from emulators.fleetspec import load_fleet_spec
from tests.brokers import Mosquitto
from tests.conftest import ROOT
from tests.e2e.test_serial_cli import smetslab, wait_for

pytestmark = pytest.mark.e2e
ZIGBEE = ROOT / "configs" / "zigbee.yaml"


async def test_dsp_and_an_emulated_zigbee_bridge_as_commands(
    mosquitto_broker: Mosquitto, tmp_path: Path
) -> None:
    url, topics = mosquitto_broker.url, Topics()
    build = build_fleet(*load_fleet_spec(ZIGBEE))
    supplier = build.seed.users[0].user_id
    hub = next(d.device_id for d in build.seed.devices if d.device_type is DeviceType.CHF)
    ch_id = to_compact(hub)
    targets = {
        d.device_id: d.firmware_version
        for d in build.seed.devices
        if d.device_type in (DeviceType.ESME, DeviceType.PPMID)
    }
    store = f"sqlite:///{tmp_path / 'dsp.sqlite'}"
    async with AsyncExitStack() as stack:
        enter = stack.enter_async_context
        dsp = ("dsp", "--fleet", str(ZIGBEE), "--store", store, "--broker", url, "--scale", "1")
        await enter(smetslab(*dsp))
        subscriptions = (
            topics.responses(to_compact(supplier)),
            topics.ch_status(ch_id),
            topics.clock,
        )
        user = await enter(MqttAdapter(LinkConfig(url, "t-zigbee-cli-user", subscriptions)))
        await user.wait_connected()
        await wait_for(user, "clock", lambda got: True)  # the DSP is up and subscribed
        bridge = await enter(
            smetslab(
                "bridge", "zigbee", "--radio", "emulated", "--fleet", str(ZIGBEE), "--broker", url
            )
        )
        joined = await wait_for(
            user,
            "status",
            lambda got: got[-1]["online"] and all(d["joined"] for d in got[-1]["devices"]),
        )
        for counter, device_id in enumerate(targets, start=1):
            request = {
                "request_id": f"{supplier}:{device_id}:{counter}",
                "service_reference_variant": "11.2",
                "command_variant": 1,
                "body": {},
            }
            user.publish(topics.request(to_compact(supplier)), json.dumps(request).encode())
        answers = await wait_for(
            user, "responses", lambda got: sum(r["response_code"] == "I0" for r in got) == 2
        )
        bridge.send_signal(signal.SIGTERM)
        stopped = await wait_for(user, "status", lambda got: "stopped" in got[-1]["reason"])
    assert {d["device_id"] for d in joined[-1]["devices"]} == {to_compact(d) for d in targets}
    finals = {r["request_id"].split(":")[1]: r for r in answers if r["response_code"] == "I0"}
    assert {d: r["body"]["firmware_version"] for d, r in finals.items()} == targets
    assert (stopped[-1]["online"], stopped[-1]["reason"]) == (False, "the bridge stopped")
