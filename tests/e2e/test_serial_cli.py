"""The serial rig from the command line, three processes on mosquitto (issue 6):
`smetslab dsp --fleet configs/rig.yaml`, `smetslab rig simulate` (prints its pty) and
`smetslab bridge serial` on that pty; a service user's SR 11.2 reaches the rig's ESME and
comes back I0; on SIGTERM every process exits 143 and the hub's status says it stopped."""

from __future__ import annotations

import signal
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bus.adapter import LinkConfig, MqttAdapter
from contract.ids import to_compact
from contract.topics import Topics
from contract.vocabulary import DeviceType
from emulators.fleet import build_fleet
from emulators.fleetspec import load_fleet_spec
from tests.support.brokers import Mosquitto
from tests.support.paths import ROOT
from tests.support.processes import exited, smetslab
from tests.support.service_user import receive_until, request_bytes
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
RIG = ROOT / "configs" / "rig.yaml"


async def test_dsp_rig_and_bridge_as_commands(mosquitto_broker: Mosquitto, tmp_path: Path) -> None:
    url, topics = mosquitto_broker.url, Topics()
    build = build_fleet(*load_fleet_spec(RIG))
    supplier = build.seed.users[0].user_id
    esme = next(d.device_id for d in build.seed.devices if d.device_type is DeviceType.ESME)
    store = f"sqlite+aiosqlite:///{tmp_path / 'dsp.sqlite'}"
    async with AsyncExitStack() as stack:
        enter = stack.enter_async_context
        ready = tmp_path / "dsp.ready"
        dsp = ("dsp", "--fleet", str(RIG), "--store", store, "--broker", url)
        await enter(smetslab(*dsp, "--ready-file", str(ready)))
        rig = await enter(smetslab("rig", "simulate", "--fleet", str(RIG), "--broker", url))
        assert rig.stdout is not None
        port, ch_id = (await rig.stdout.readline()).decode().split()
        assert Path(port).exists()
        subscriptions = (topics.responses(to_compact(supplier)), topics.ch_status(ch_id))
        user = await enter(MqttAdapter(LinkConfig(url, "t-cli-user", subscriptions)))
        await user.wait_connected()
        bridge = await enter(
            smetslab("bridge", "serial", "--port", port, "--ch-id", ch_id, "--broker", url)
        )
        await receive_until(user, "status", lambda got: got[-1]["online"])
        # the DSP subscribed: the request cannot miss it
        await wait_until(ready.exists, 30, f"the DSP's ready file {ready}")
        request = request_bytes(supplier, "11.2", esme, 1)
        user.publish(topics.request(to_compact(supplier)), request)
        ack, final = await receive_until(user, "responses", lambda got: len(got) == 2)
        bridge.send_signal(signal.SIGTERM)
        stopped = await receive_until(user, "status", lambda got: "stopped" in got[-1]["reason"])
        await exited(bridge)  # else the SIGTERM at the end may find it past its handler
    assert (ack["response_code"], final["response_code"]) == ("I99", "I0")
    assert final["body"]["firmware_version"] == "0123ABCD"
    assert (stopped[-1]["online"], stopped[-1]["reason"]) == (False, "the bridge stopped")
