"""A fleet run as two shard processes (`smetslab fleet --shard I/2`, D-S1) on mosquitto
beside the DSP: an SR 11.2 to a device of each shard comes back I0 (DESIGN §3), a
command for a hub no fleet has is journalled as unroutable by exactly one shard (E5),
and each shard's final state says what its devices run."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bus.adapter import MqttAdapter
from bus.clock import ClockSetting
from contract.ids import to_compact
from contract.requests import Srv
from contract.requests import build as build_request
from contract.vocabulary import DeviceType
from dsp_core.store import SqlStore
from emulators.fleet import FleetBuild, build_fleet
from emulators.fleetspec import FleetSpec
from emulators.shards import shard_of
from hil.errors import LabError
from hil.lab.stack import Stack, StackConfig, seed_store
from tests.support.brokers import Mosquitto

pytestmark = pytest.mark.integration
T0 = datetime(2031, 1, 1, tzinfo=UTC)
DEVICES = [
    {"type": "CHF", "model": "CH-2", "firmware_versions": ["00010203"]},
    {"type": "ESME", "model": "E470", "firmware_versions": ["0123ABCD", "0123ABCE"]},
]


def fleet_file(folder: Path, premises: int, *, security: bool = True) -> tuple[Path, FleetBuild]:
    spec = FleetSpec.model_validate(
        {
            "seed": 8,
            "security": security,
            "templates": [{"name": "e", "count": premises, "devices": DEVICES}],
        }
    )
    path = folder / "fleet.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True)))
    return path, build_fleet(spec)


def esme_per_shard(build: FleetBuild) -> dict[int, tuple[str, str]]:
    """Shard -> (ESME ID, SMI version) of one ESME whose hub that shard owns."""
    found: dict[int, tuple[str, str]] = {}
    for device in build.seed.devices:
        if device.device_type is DeviceType.ESME:
            hub = bytes.fromhex(to_compact(device.comms_hub_id))
            found.setdefault(shard_of(hub, 2), (device.device_id, device.firmware_version))
    return found


async def final_answers(user: MqttAdapter, count: int) -> dict[str, dict[str, Any]]:
    got: dict[str, dict[str, Any]] = {}
    async with asyncio.timeout(30):
        async for message in user.messages():
            user.ack(message)
            answer = json.loads(message.payload)
            if answer.get("response_code") != "I99":
                got[answer["request_id"]] = answer
            if len(got) == count:
                break
    return got


async def test_two_fleet_shards_answer_for_their_hubs(
    mosquitto_broker: Mosquitto, tmp_path: Path
) -> None:
    path, build = fleet_file(tmp_path, 12)
    targets = esme_per_shard(build)
    assert set(targets) == {0, 1}
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'dsp.sqlite'}")
    await seed_store(store, build.seed)
    config = StackConfig(
        mosquitto_broker.url,
        ClockSetting.starting_now(T0, 10.0, time.time()),
        run_id=f"shards-{uuid.uuid4().hex[:6]}",
        fleet_processes=2,
        fleet_file=path,
        workdir=tmp_path,
    )
    supplier = build.seed.users[0].user_id
    try:
        async with Stack(config, build, store) as lab:
            assert [s.command.shard.index for s in lab.shards] == [0, 1]
            user = await lab.user_bus(supplier)
            topics = lab.config.topics
            for counter, (esme, _) in enumerate(targets.values(), start=1):
                request = build_request(supplier, Srv.READ_FIRMWARE, esme, counter, {})
                user.publish(topics.request(to_compact(supplier)), request.to_bytes())
            user.publish(topics.ch_down("00DB990000000001"), b"\x00 no such hub")
            answers = await final_answers(user, 2)
    finally:
        await store.close()
    for counter, (esme, version) in enumerate(targets.values(), start=1):
        answer = answers[f"{supplier}:{esme}:{counter}"]
        assert answer["response_code"] == "I0"
        assert answer["body"]["firmware_version"] == version
    states = lab.shard_states()
    assert [s.shard for s in states] == ["0/2", "1/2"]
    assert sum(s.premises for s in states) == 12
    assert sum(len(s.versions) for s in states) == len(build.seed.devices)
    for index, (esme, version) in targets.items():
        assert states[index].versions[to_compact(esme)] == version
        assert to_compact(esme) not in states[1 - index].versions
    unroutable = [s.events.get("unroutable", 0) for s in states]
    assert sorted(unroutable) == [0, 1]  # the owner of that hub ID, and only it
    assert unroutable[shard_of(bytes.fromhex("00DB990000000001"), 2)] == 1


async def test_a_shard_that_cannot_start_stops_the_workers_that_did(
    mosquitto_broker: Mosquitto, tmp_path: Path
) -> None:
    # security off: the DSP workers then need no fleet file for their keys (D-SEC10),
    # so the shard is the part that cannot start
    _, build = fleet_file(tmp_path, 2, security=False)
    store_url = f"sqlite:///{tmp_path / 'dsp.sqlite'}"
    store = await SqlStore.open(store_url)
    run_id = f"broken-{uuid.uuid4().hex[:6]}"
    config = StackConfig(
        mosquitto_broker.url,
        ClockSetting.starting_now(T0, 10.0, time.time()),
        run_id=run_id,
        dsp_processes=1,
        store_url=store_url,
        workdir=tmp_path,
        fleet_processes=1,
        fleet_file=tmp_path / "no-such-fleet.yaml",
    )
    try:
        with pytest.raises(LabError, match=r"fleet shard 0/1 .* exited with code 1"):
            async with Stack(config, build, store):
                pass
    finally:
        await store.close()
    worker_pid = int((tmp_path / f"smetslab-{run_id}-dsp-0.ready").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)  # stopped and reaped, not left running
