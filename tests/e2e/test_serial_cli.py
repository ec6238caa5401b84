"""The serial rig from the command line, three processes on mosquitto (issue 6):
`smetslab dsp --fleet configs/rig.yaml`, `smetslab rig simulate` (prints its pty) and
`smetslab bridge serial` on that pty; a service user's SR 11.2 reaches the rig's ESME and
comes back I0; on SIGTERM every process exits 0 and the hub's status says it stopped."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bus.adapter import LinkConfig, MqttAdapter
from contract.ids import to_compact
from contract.topics import Topics
from contract.vocabulary import DeviceType
from emulators.fleet import build_fleet
from emulators.fleetspec import load_fleet_spec
from tests.support.brokers import Mosquitto
from tests.support.paths import ROOT
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
RIG = ROOT / "configs" / "rig.yaml"


@asynccontextmanager
async def smetslab(*args: str, exit_code: int = 0) -> AsyncIterator[asyncio.subprocess.Process]:
    """`smetslab ARGS` in its own process; SIGTERM at the end, and it must exit with
    `exit_code` (0; -9 for one the test kills)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smetslab", *args, stdout=asyncio.subprocess.PIPE, cwd=ROOT
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            code = await process.wait()
        assert code == exit_code, f"smetslab {args[:2]} exited {code}"


async def exited(process: asyncio.subprocess.Process) -> None:
    """Until a process the test stopped has exited (`smetslab` checks its code): one still
    shutting down when `smetslab` sends its own SIGTERM may have no handler left for it
    and die of it (-15)."""
    async with asyncio.timeout(15):
        await process.wait()


async def wait_for(
    user: MqttAdapter, kind: str, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """Messages on the user's topics ending in `kind` until `done` says enough."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        async for message in user.messages():
            user.ack(message)
            if message.topic.endswith(kind):
                got.append(json.loads(message.payload))
                if done(got):
                    return got
    return got


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
        await wait_for(user, "status", lambda got: got[-1]["online"])
        # the DSP subscribed: the request cannot miss it
        await wait_until(ready.exists, 30, f"the DSP's ready file {ready}")
        request = {
            "request_id": f"{supplier}:{esme}:1",
            "service_reference_variant": "11.2",
            "command_variant": 1,
            "body": {},
        }
        user.publish(topics.request(to_compact(supplier)), json.dumps(request).encode())
        ack, final = await wait_for(user, "responses", lambda got: len(got) == 2)
        bridge.send_signal(signal.SIGTERM)
        stopped = await wait_for(user, "status", lambda got: "stopped" in got[-1]["reason"])
        await exited(bridge)  # else the SIGTERM at the end may find it past its handler
    assert (ack["response_code"], final["response_code"]) == ("I99", "I0")
    assert final["body"]["firmware_version"] == "0123ABCD"
    assert (stopped[-1]["online"], stopped[-1]["reason"]) == (False, "the bridge stopped")
