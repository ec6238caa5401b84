"""The mixed lab (configs/lab-mixed.yaml: emulated hubs, a simulated serial rig, a
ZigBee hub on zigpy without a radio) with its fleet's `security: true` (docs/security.md
D-SEC10, D-SEC17, D-SEC18): the DSP MACs every 11.2 as the ACB, every hub's ESME takes
it (the lab passes the fleet's keys to its bridges) and answers with a MAC that verifies
against the lab's store. The firmware story with signed pre-commands is the client
side's (CV 4/CV 5) and is not run here."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from contract.vocabulary import DeviceType
from dsp_core.model import JournalKind
from gbcs.security import protections
from hil.lab.client import ServiceUser
from hil.lab.env import load_lab_env
from hil.lab.lab import Lab
from tests.support.paths import ROOT

pytestmark = pytest.mark.e2e
MIXED = ROOT / "configs" / "lab-mixed.yaml"
HUBS = ("smets2", "smets1", "rig", "radio")


def _secured_env(tmp_path: Path) -> Path:
    """A copy of the mixed lab whose fleet file says `security: true` (read in place,
    written beside the copy)."""
    env = yaml.safe_load(MIXED.read_text())
    fleet = yaml.safe_load((MIXED.parent / env["fleet"]).read_text())
    fleet["security"] = True
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump(fleet))
    env["fleet"] = "fleet.yaml"
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(env))
    return path


async def test_every_kind_of_hub_answers_a_macd_read_with_a_valid_mac(tmp_path: Path) -> None:
    env = load_lab_env(_secured_env(tmp_path))
    async with Lab(env) as lab:
        keys = lab.build.keys
        assert keys is not None
        supplier = lab.users["supplier"]
        async with lab.client() as client:
            user = ServiceUser(client, supplier)
            for hub in HUBS:
                esme = next(d for d in lab.hub(hub).devices if d.device_type is DeviceType.ESME)
                request_id = user.send("11.2", esme.device_id)
                answer = await user.response(request_id, within=60)
                assert answer["response_code"] == "I0", (hub, answer)
        journal = await lab.dsp_journal()
    messages = [
        bytes.fromhex(entry.detail["gbcs_hex"])
        for entry in journal
        if entry.kind is JournalKind.DEVICE_MESSAGE
    ]
    assert len(messages) == len(HUBS)
    for data in messages:
        assert [(p.kind, p.valid) for p in protections(data, keys)] == [("mac", True)]
