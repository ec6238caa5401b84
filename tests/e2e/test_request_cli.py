"""`smetslab request` against a running lab (`smetslab dsp` and `smetslab fleet` on
mosquitto): one SR 11.2 answered I99 then I0, the device's GBCS decoded beside the
answer; a device the DSP does not know gets its E19 and exit 0 (an answer is an answer);
nothing answering within the wait is one error line (issue: operations). With the
fleet's security on an 11.3 is signed (CV 5) and the device's answer judged (issue 17)."""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from contract.vocabulary import DeviceType
from emulators.fleet import build_fleet
from emulators.fleetspec import load_fleet_spec
from tests.support.brokers import Mosquitto
from tests.support.paths import ROOT, RTDS_KEYS
from tests.support.processes import smetslab
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
RIG = ROOT / "configs" / "rig.yaml"


async def request(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smetslab",
        "request",
        *args,
        "--json",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return process.returncode or 0, lines, err.decode()


async def test_one_request_and_its_answers(mosquitto_broker: Mosquitto, tmp_path: Path) -> None:
    url = mosquitto_broker.url
    build = build_fleet(*load_fleet_spec(RIG))
    esme = next(d for d in build.seed.devices if d.device_type is DeviceType.ESME)
    store = f"sqlite:///{tmp_path / 'dsp.sqlite'}"
    async with AsyncExitStack() as stack:
        ready = tmp_path / "dsp.ready"
        dsp = ("dsp", "--fleet", str(RIG), "--store", store, "--broker", url)
        await stack.enter_async_context(smetslab(*dsp, "--ready-file", str(ready)))
        await stack.enter_async_context(smetslab("fleet", "--fleet", str(RIG), "--broker", url))
        await wait_until(ready.exists, 30, "the DSP subscribed")
        common = ("--fleet", str(RIG), "--broker", url)
        code, answers, err = await request("11.2", "--device", esme.device_id, *common)
        unknown = await request("11.2", "--device", "00-DB-FF-FF-FF-FF-FF-01", *common)
        silent = await request(
            "11.2", "--device", esme.device_id, *common, "--topic-root", "x", "--wait", "1"
        )
    assert code == 0, err
    assert [a["response_code"] for a in answers] == ["I99", "I0"]
    final = answers[-1]
    assert final["body"]["firmware_version"] == esme.firmware_version
    assert final["gbcs"]["message_code"] == 0x0059  # ECS52's response, decoded (D8)
    assert final["gbcs"]["originator_id"] == esme.device_id
    assert (unknown[0], [a["response_code"] for a in unknown[1]]) == (0, ["E19"])
    assert silent[0] == 1
    assert silent[2].strip().startswith("error: no final answer to")


def _secured_fleet(tmp_path: Path) -> Path:
    """configs/rig.yaml with the fleet's security on (its key store derived from its seed)."""
    data = yaml.safe_load(RIG.read_text())
    data["security"] = True
    path = tmp_path / "secured.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def test_a_critical_request_is_signed_and_the_device_answer_judged(
    mosquitto_broker: Mosquitto, tmp_path: Path
) -> None:
    url = mosquitto_broker.url
    fleet = _secured_fleet(tmp_path)
    build = build_fleet(*load_fleet_spec(fleet))
    assert build.keys is not None
    esme = next(d for d in build.seed.devices if d.device_type is DeviceType.ESME)
    store = f"sqlite:///{tmp_path / 'dsp.sqlite'}"
    body = json.dumps({"firmware_hash": "AB" * 32})
    async with AsyncExitStack() as stack:
        ready = tmp_path / "dsp.ready"
        dsp = ("dsp", "--fleet", str(fleet), "--store", store, "--broker", url)
        await stack.enter_async_context(smetslab(*dsp, "--ready-file", str(ready)))
        await stack.enter_async_context(smetslab("fleet", "--fleet", str(fleet), "--broker", url))
        await wait_until(ready.exists, 30, "the DSP subscribed")
        common = ("--fleet", str(fleet), "--broker", url, "--body", body)
        code, answers, err = await request("11.3", "--device", esme.device_id, *common)
        # the public RTDS supplier key is not the lab's: the DSP refuses its signature
        _, refused, _ = await request(
            "11.3", "--device", esme.device_id, *common, "--keys", str(RTDS_KEYS)
        )
    assert code == 0, err
    assert [a["response_code"] for a in answers] == ["I99", "I0", "I99", "I0"]
    assert "pre_command" in answers[1]["body"]
    final = answers[-1]
    assert final["gbcs"]["message_code"] == 0x0012  # the device's CS06 response
    assert final["verdict"]["integrity"] == "valid", final["verdict"]  # signed (D-SEC15)
    assert [a["response_code"] for a in refused] == ["I99", "I0", "I99", "S7"]
