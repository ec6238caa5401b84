"""`smetslab hil conform` in its own process against a lab on a private mosquitto (the DSP
and the emulated device in this process): a device with a wrong originator counter in
its 0x8F66 alert (R7) makes it exit 2 with the JUnit failure and the HTML page written.
Bad input exits 1 with one line naming what was wrong.

Mosquitto rather than the embedded amqtt: the command has no --mqtt-version, and on
amqtt each of its two connections would first wait out a 5 s MQTT 5 CONNACK that never
comes (tests/integration/bus/test_adapter.py tests that fall-back)."""

from __future__ import annotations

import asyncio
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contract.vocabulary import DeviceType
from emulators.faults import FaultKind, FaultRule
from hil.lab.env import load_lab_env
from hil.lab.lab import Lab
from smetslab.cli import app
from tests.support.brokers import Mosquitto
from tests.support.conformance import lab_on_broker
from tests.support.html_page import read_page
from tests.support.paths import ROOT

pytestmark = pytest.mark.e2e


async def test_conform_exits_2_and_writes_both_reports(
    mosquitto_broker: Mosquitto, tmp_path: Path
) -> None:
    rules = [FaultRule(FaultKind.ALERT_COUNTER_MISMATCH, count=1)]
    async with lab_on_broker(mosquitto_broker.url, rules) as conforming:
        first, second = conforming.firmware, conforming.second_firmware
        assert first.image is not None
        assert second.image is not None
        (tmp_path / "a.ota").write_bytes(first.image)
        (tmp_path / "b.ota").write_bytes(second.image)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "smetslab",
            "hil",
            "conform",
            *("--device", conforming.device_id, "--user", conforming.user_id),
            *("--image", str(tmp_path / "a.ota"), "--second-image", str(tmp_path / "b.ota")),
            *("--broker", mosquitto_broker.url, "--future-delay", "20", "--json"),
            *("--junit", str(tmp_path / "c.xml"), "--html", str(tmp_path / "c.html")),
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        async with asyncio.timeout(100):
            out, _ = await process.communicate()
    assert process.returncode == 2, out
    summary = json.loads(out)
    assert summary["failed"].keys() == {"counter-echo"}
    # device-signatures is SKIPPED: the lab's security is off (D-SEC25)
    assert summary["counts"] == {"PASS": 7, "FAIL": 1, "SKIPPED": 1}
    suite = ET.parse(tmp_path / "c.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("9", "1")  # with device-signatures
    page = read_page((tmp_path / "c.html").read_text(encoding="utf-8"))
    assert page.articles["check-counter-echo"][0] == {"check", "FAIL"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--device", "00DB12", "--held", "0123ABCE:" + "AB" * 32], "device_id"),
        (["--device", "00DB120000000001"], "exactly one of --image and --held"),
        (["--device", "00DB120000000001", "--image", "/nonexistent.ota"], "/nonexistent.ota"),
        (["--device", "00DB120000000001", "--held", "0123ABCE"], "image_hash"),
        (
            ["--device", "00DB120000000001", "--held", "0123ABCE:" + "AB" * 32],
            "future_firmware: give a second image",
        ),
    ],
)
def test_bad_input_exits_1_naming_what_was_wrong(args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, ["hil", "conform", "--user", "90B3D51F30010000", *args])
    assert result.exit_code == 1, result.output
    assert says in result.output
    assert result.output.startswith("error: ")


def test_conform_on_a_lab_started_from_its_environment_file(tmp_path: Path) -> None:
    """`hil conform --env`: the lab of the file is started for the run; its broker,
    supplier and fleet images are the run's; a device behaving as specified passes."""
    env = load_lab_env(ROOT / "configs" / "lab-emulated.yaml")
    hub = next(plan for plan in Lab(env).hubs if plan.name == "smets2")
    esme = next(d for d in hub.devices if d.device_type is DeviceType.ESME)
    args = ["--env", str(ROOT / "configs" / "lab-emulated.yaml"), "--device", esme.device_id]
    reports = ["--junit", str(tmp_path / "c.xml"), "--html", str(tmp_path / "c.html")]
    result = CliRunner().invoke(
        app, ["hil", "conform", *args, *reports, "--tolerance", "240", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["counts"]["FAIL"] == 0
    assert summary["counts"]["PASS"] >= 7
    assert (tmp_path / "c.html").stat().st_size > 0
    assert summary["run"]["hub"] == "emulated (smets2)"  # what the lead files beside it
    assert summary["run"]["lab"].endswith("lab-emulated.yaml")
    assert summary["run"]["smetslab"].startswith("smetslab ")
    assert summary["device"]["device_type"] == "ESME"
    assert f"reports: JUnit XML {tmp_path / 'c.xml'}; HTML {tmp_path / 'c.html'}" in result.output


def test_conform_with_env_refuses_the_options_the_env_gives() -> None:
    args = ["--env", str(ROOT / "configs" / "lab-emulated.yaml"), "--device", "00DB120000000001"]
    result = CliRunner().invoke(app, ["hil", "conform", *args, "--user", "90B3D51F30010000"])
    assert result.exit_code == 1
    assert "--env gives the user and the images" in result.output


def test_conform_on_a_lab_names_a_device_it_does_not_have() -> None:
    args = ["--env", str(ROOT / "configs" / "lab-emulated.yaml"), "--device", "00DB12FFFFFFFFFF"]
    result = CliRunner().invoke(app, ["hil", "conform", *args])
    assert result.exit_code == 1
    assert "00-DB-12-FF-FF-FF-FF-FF is on none of the hubs" in result.output
