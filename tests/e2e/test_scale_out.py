"""Scale-out (docs/scale-out.md): `smetslab lab up --workers 2 --shards 2` in its own
process, a service user's SR 11.2 to a device of each fleet shard answered I0 (DESIGN §3)
whichever DSP worker takes the request or the response, and again after the request
worker is killed with SIGKILL (lab up starts it again, D-S6), and on SIGTERM every process
it started gone and exit 0; and the MP105 story with its fleet in two shard processes and
its DSP in a worker process, read back from the shards' final states (R5, R8)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bus.adapter import BusMessage, LinkConfig, MqttAdapter
from contract.ids import to_compact
from contract.requests import Srv
from contract.requests import build as build_request
from contract.topics import Topics
from contract.vocabulary import DeviceType
from emulators.fleet import build_fleet
from emulators.fleetspec import FleetSpec
from emulators.shards import shard_of
from hil.demo import DemoRun
from tests.support.brokers import Mosquitto, require_mosquitto
from tests.support.demo import (
    assert_e21_for_each_lost,
    demo_options,
    journal_entries,
)
from tests.support.paths import ROOT

pytestmark = pytest.mark.e2e
SPEC = FleetSpec.model_validate(
    {
        "seed": 21,
        "templates": [
            {
                "name": "e",
                "count": 16,
                "devices": [
                    {"type": "CHF", "model": "CH-2", "firmware_versions": ["00010203"]},
                    {"type": "ESME", "model": "E470", "firmware_versions": ["0123ABCD"]},
                ],
            }
        ],
    }
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def lab_up(
    tmp_path: Path, fleet: Path, stderr: int = asyncio.subprocess.DEVNULL
) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "smetslab", "lab", "up", "--workers", "2", "--shards", "2"),
        *("--fleet", str(fleet), "--workdir", str(tmp_path / "lab"), "--scale", "10"),
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        cwd=ROOT,
    )
    assert process.stdout is not None
    async with asyncio.timeout(90):
        line = await process.stdout.readline()
    assert line, f"lab up exited {await process.wait()} before it was ready"
    return process, json.loads(line)


async def read_each_shard(
    url: str, supplier: str, esmes: list[str], first_counter: int = 1
) -> dict[str, str]:
    """An SR 11.2 to each ESME, each sent once the one before was acknowledged (I99): a
    worker may take a request before another worker has taken the one sent before it,
    and an originator counter must increase (S3, DESIGN §3); the final code of each."""
    topics = Topics()
    link = LinkConfig(url, "t-scale-user", (topics.responses(to_compact(supplier)),))
    final: dict[str, str] = {}
    async with MqttAdapter(link) as user:
        await user.wait_connected()
        answers = user.messages()
        async with asyncio.timeout(60):
            for counter, esme in enumerate(esmes, start=first_counter):
                request = build_request(supplier, Srv.READ_FIRMWARE, esme, counter, {})
                user.publish(topics.request(to_compact(supplier)), request.to_bytes())
                while await _next_answer(user, answers, final) != "I99":
                    pass
            while len(final) < len(esmes):
                await _next_answer(user, answers, final)
    return final


async def _next_answer(
    user: MqttAdapter, answers: AsyncIterator[BusMessage], final: dict[str, str]
) -> str:
    message = await anext(answers)
    user.ack(message)
    answer = json.loads(message.payload)
    code = str(answer["response_code"])
    if code != "I99":
        final[answer["request_id"].split(":")[1]] = code
    return code


async def test_lab_up_with_two_workers_and_two_shards(tmp_path: Path) -> None:
    require_mosquitto()
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump(SPEC.model_dump(mode="json", exclude_none=True)))
    build = build_fleet(SPEC)
    by_shard: dict[int, str] = {}
    for device in build.seed.devices:
        if device.device_type is DeviceType.ESME:
            by_shard.setdefault(
                shard_of(bytes.fromhex(to_compact(device.comms_hub_id)), 2), device.device_id
            )
    assert set(by_shard) == {0, 1}
    process, info = await lab_up(tmp_path, fleet)
    try:
        roles = sorted(p["role"] for p in info["processes"])
        assert roles == [
            "dsp worker",
            "dsp worker",
            "fleet shard 0/2",
            "fleet shard 1/2",
            "mosquitto",
        ]
        pids = [p["pid"] for p in info["processes"]]
        assert all(alive(pid) for pid in pids)
        supplier = build.seed.users[0].user_id
        esmes = list(by_shard.values())
        final = await read_each_shard(info["broker"], supplier, esmes)
        assert final == dict.fromkeys(esmes, "I0")
        request_worker = info["processes"][1]
        assert request_worker["name"] == "smetslab-lab-dsp-0"
        os.kill(request_worker["pid"], signal.SIGKILL)  # D-S6: lab up starts it again
        final = await read_each_shard(info["broker"], supplier, esmes, first_counter=10)
        assert final == dict.fromkeys(esmes, "I0")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            code = await process.wait()
    assert code == 128 + signal.SIGTERM  # stopped by SIGTERM, every part cleanly
    assert process.stdout is not None
    stopped = json.loads(await process.stdout.readline())
    parts = [p for p in stopped["processes"] if p["role"] != "mosquitto"]
    assert [p["exit_code"] for p in parts] == [128 + signal.SIGTERM] * 4
    assert [p["restarts"] for p in parts] == [1, 0, 0, 0]
    assert parts[0]["pid"] != request_worker["pid"]
    assert not [pid for pid in pids + [p["pid"] for p in parts] if alive(pid)]


async def test_lab_up_ends_with_an_error_naming_a_shard_that_died(tmp_path: Path) -> None:
    """D-S6: a shard is not started again (its devices' state was in it); lab up stops
    the rest and exits 1, naming the shard, its exit code and why."""
    require_mosquitto()
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump(SPEC.model_dump(mode="json", exclude_none=True)))
    process, info = await lab_up(tmp_path, fleet, stderr=asyncio.subprocess.PIPE)
    shard = next(p for p in info["processes"] if p["role"] == "fleet shard 1/2")
    os.kill(shard["pid"], signal.SIGKILL)
    async with asyncio.timeout(60):
        _, stderr = await process.communicate()
    assert process.returncode == 1
    said = stderr.decode()
    assert "error: fleet shard 1/2 smetslab-lab-fleet-1 exited with code -9" in said
    assert "a fleet shard is not restarted: its devices' state was in it" in said
    assert not [p["pid"] for p in info["processes"] if alive(p["pid"])]


async def test_the_story_with_the_fleet_in_two_shard_processes(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    """D-S3: the devices' versions and the lost responses come from the shards' final
    states; every SMETS2 device's SMI version is the one its shard says it runs."""
    store_url = f"sqlite:///{tmp_path / 'dsp.sqlite'}"
    options = demo_options(
        store_url, broker=mosquitto_broker.url, dsp_processes=1, fleet_processes=2
    )
    summary = await DemoRun(options).run()
    assert summary.smi_mismatches == 0
    assert summary.still_suspended == 0
    assert summary.activated == summary.suspended > 0
    assert summary.responses_lost > 0
    # R8: each shard's count of drops, added up
    assert_e21_for_each_lost(await journal_entries(store_url), summary.responses_lost)
