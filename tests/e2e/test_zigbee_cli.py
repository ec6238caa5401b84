"""The ZigBee bridge from the command line on mosquitto (issue 6): `smetslab dsp --fleet
configs/zigbee.yaml` and `smetslab bridge zigbee --radio emulated --fleet
configs/zigbee.yaml` as two processes; a service user's SR 11.2 reaches the ZigBee ESME
(ECS52) and the PPMID (CS08) through zigpy and comes back I0 with their versions; on
SIGTERM the bridge exits 0 and its status says it stopped; killed, its last will says
its hub is offline and requests for its devices get E20 (D-E5)."""

from __future__ import annotations

import asyncio
import signal
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bus.adapter import LinkConfig, MqttAdapter
from contract.ids import to_compact
from contract.topics import Topics
from contract.vocabulary import DeviceType
from dsp_core.store import SqlStore
from emulators.fleet import build_fleet
from emulators.fleetspec import load_fleet_spec
from tests.support.brokers import Mosquitto
from tests.support.paths import ROOT
from tests.support.processes import STOPPED, exited, smetslab
from tests.support.service_user import receive_until, request_bytes
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
ZIGBEE = ROOT / "configs" / "zigbee.yaml"


@dataclass
class ZigbeeLab:
    """`smetslab dsp` and `smetslab bridge zigbee` on mosquitto, and a service user who
    sees the supplier's responses, the hub's status and the clock."""

    user: MqttAdapter
    bridge: asyncio.subprocess.Process
    supplier: str
    targets: dict[str, str]  # the ESME's and the PPMID's device ID: firmware version
    joined: list[dict[str, Any]]  # the hub's statuses until every device joined

    def read_each(self, first_counter: int = 1) -> None:
        topics = Topics()
        for counter, device_id in enumerate(self.targets, start=first_counter):
            request = request_bytes(self.supplier, "11.2", device_id, counter)
            self.user.publish(topics.request(to_compact(self.supplier)), request)


async def zigbee_lab(
    stack: AsyncExitStack, url: str, tmp_path: Path, bridge_exit: int = STOPPED
) -> ZigbeeLab:
    topics = Topics()
    build = build_fleet(*load_fleet_spec(ZIGBEE))
    supplier = build.seed.users[0].user_id
    hub = next(d.device_id for d in build.seed.devices if d.device_type is DeviceType.CHF)
    targets = {
        d.device_id: d.firmware_version
        for d in build.seed.devices
        if d.device_type in (DeviceType.ESME, DeviceType.PPMID)
    }
    enter = stack.enter_async_context
    store = f"sqlite:///{tmp_path / 'dsp.sqlite'}"
    dsp = ("dsp", "--fleet", str(ZIGBEE), "--store", store, "--broker", url, "--scale", "1")
    await enter(smetslab(*dsp))
    subscriptions = (
        topics.responses(to_compact(supplier)),
        topics.ch_status(to_compact(hub)),
        topics.clock,
    )
    user = await enter(MqttAdapter(LinkConfig(url, "t-zigbee-cli-user", subscriptions)))
    await user.wait_connected()
    await receive_until(user, "clock", lambda got: True)  # the DSP is up and subscribed
    bridge_args = ("bridge", "zigbee", "--radio", "emulated", "--fleet", str(ZIGBEE))
    bridge = await enter(smetslab(*bridge_args, "--broker", url, exit_code=bridge_exit))
    joined = await receive_until(
        user,
        "status",
        lambda got: got[-1]["online"] and all(d["joined"] for d in got[-1]["devices"]),
    )
    return ZigbeeLab(user, bridge, supplier, targets, joined)


async def offline_in_store(tmp_path: Path) -> None:
    """Until the DSP's store says the hub is offline (D-E1)."""

    async def offline() -> bool:
        store = await SqlStore.open(f"sqlite:///{tmp_path / 'dsp.sqlite'}")
        try:
            return [h.online for h in await store.hub_statuses()] == [False]
        finally:
            await store.close()

    await wait_until(offline, 30, "the DSP to record the hub offline")


async def test_dsp_and_an_emulated_zigbee_bridge_as_commands(
    mosquitto_broker: Mosquitto, tmp_path: Path
) -> None:
    async with AsyncExitStack() as stack:
        lab = await zigbee_lab(stack, mosquitto_broker.url, tmp_path)
        lab.read_each()
        answers = await receive_until(
            lab.user, "responses", lambda got: sum(r["response_code"] == "I0" for r in got) == 2
        )
        lab.bridge.send_signal(signal.SIGTERM)
        stopped = await receive_until(
            lab.user, "status", lambda got: "stopped" in got[-1]["reason"]
        )
        await exited(lab.bridge)  # else the SIGTERM at the end may find it past its handler
    joined, targets = lab.joined, lab.targets
    assert {d["device_id"] for d in joined[-1]["devices"]} == {to_compact(d) for d in targets}
    finals = {r["request_id"].split(":")[1]: r for r in answers if r["response_code"] == "I0"}
    assert {d: r["body"]["firmware_version"] for d, r in finals.items()} == targets
    assert (stopped[-1]["online"], stopped[-1]["reason"]) == (False, "the bridge stopped")


async def test_a_killed_bridge_leaves_its_hub_offline_and_requests_get_e20(
    mosquitto_broker: Mosquitto, tmp_path: Path
) -> None:
    """D-E5: `kill -9` of the bridge; the broker publishes its last will (the hub
    offline, retained) and the DSP answers the next requests E20 at once (D-E2), not
    E21 after a command sent into nothing."""
    async with AsyncExitStack() as stack:
        lab = await zigbee_lab(stack, mosquitto_broker.url, tmp_path, bridge_exit=-9)
        lab.bridge.kill()
        lost = await receive_until(lab.user, "status", lambda got: "last will" in got[-1]["reason"])
        await offline_in_store(tmp_path)  # the DSP took it from its own subscription
        lab.read_each()
        answers = await receive_until(
            lab.user, "responses", lambda got: sum(r["response_code"] != "I99" for r in got) == 2
        )
    assert lost[-1]["online"] is False
    finals = {r["request_id"]: r for r in answers if r["response_code"] != "I99"}
    assert [r["response_code"] for r in finals.values()] == ["E20", "E20"]
    assert all("last will" in r["body"]["reason"] for r in finals.values())
