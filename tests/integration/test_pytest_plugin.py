"""The pytest plugin (entry point pytest11 `smetslab`, hil/pytest_plugin.py), tried on
small test files in their own pytest session (pytester): its fixtures drive an emulated
lab over the embedded broker; `hardware` tests are skipped with the reason on a lab
without bridged hubs; scenario files run as tests and fail naming the step."""

from __future__ import annotations

import pytest

from tests.support.paths import ROOT

pytestmark = pytest.mark.integration
EMULATED = str(ROOT / "configs" / "lab-emulated.yaml")

TESTS = """
import pytest
from contract.vocabulary import SmiStatus

pytestmark = pytest.mark.asyncio


async def test_an_11_2_to_the_esme(service_user, premises, dsp):
    esme = premises.device("ESME")
    request_id = service_user.send("11.2", esme.device_id)
    answer = await service_user.response(request_id, within=120)
    assert answer["response_code"] == "I0"
    assert answer["body"]["firmware_version"] == esme.firmware_version
    assert (await dsp.smi(esme.device_id)).status is SmiStatus.COMMISSIONED
    assert (premises.name, premises.bridged, dsp.mp105) == (HUB, False, True)


async def test_with_mp105_off_a_suspended_esme_refuses_11_2(lab, dsp, service_user, premises):
    esme = premises.device("ESME")
    await dsp.set_mp105(False)
    from dataclasses import replace
    from contract.vocabulary import CplStatus
    running = (esme.model, esme.firmware_version)
    entry = next(e for e in lab.build.seed.cpl if (e.model, e.firmware_version) == running)
    service_user.change_cpl(replace(entry, status=CplStatus.REMOVED))
    await service_user.alert("N28", esme.device_id, within=120)
    answer = await service_user.response(service_user.send("11.2", esme.device_id))
    assert answer["response_code"] == "E5"


@pytest.mark.premises(smets=1, devices=["ESME"])
async def test_the_premises_marker_picks_the_hub(premises):
    assert premises.hub.smets == 1


@pytest.mark.hardware
async def test_a_rig_test(premises):
    raise AssertionError("runs only with a bridged hub")
"""


@pytest.fixture(autouse=True)
def inner_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def test_the_fixtures_drive_the_emulated_lab_of_an_environment_file(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_lab=TESTS.replace("HUB", '"smets2"'))
    result = pytester.runpytest("--smetslab-env", EMULATED, "-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(
        ["*needs a bridged hub; the lab environment 'emulated' has only emulated hubs*"]
    )


def test_without_an_environment_file_an_emulated_lab_is_used(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_lab=TESTS.replace("HUB", '"smets2-0"'))
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "11_2_to_the_esme")
    result.assert_outcomes(passed=1, deselected=3)


def test_scenario_files_run_as_tests_and_a_failure_names_its_step(
    pytester: pytest.Pytester,
) -> None:
    folder = pytester.mkdir("scenarios")
    (folder / "wrong-code.yaml").write_text(
        "rules: [R5]\n"
        "premises: {smets: 2, devices: [ESME]}\n"
        "steps:\n"
        '  - send: {srv: "11.2", to: ESME}\n'
        "  - expect_response: {code: E5}\n"
    )
    shipped = ROOT / "configs" / "scenarios" / "cpl-removed-n50.yaml"
    result = pytester.runpytest(
        str(folder),
        str(shipped),
        "--smetslab-env",
        EMULATED,
        "--smetslab-scenarios",
        str(folder),
        "--smetslab-scenarios",
        str(shipped),
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*scenario wrong-code, step 2 (expect_response): expected E5, saw I0*"]
    )


def test_yaml_files_outside_the_scenario_paths_are_not_collected(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", other="steps:\n  - wait: 1\n")
    result = pytester.runpytest("--smetslab-env", EMULATED, "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_a_bad_environment_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", lab="fleet: lab-fleet.yaml\nbroker: amqp://nowhere\n")
    pytester.makepyfile(
        test_rig="import pytest\n\n@pytest.mark.hardware\ndef test_rig():\n    pass\n"
    )
    result = pytester.runpytest("--smetslab-env", "lab.yaml", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--smetslab-env: lab.yaml: invalid lab environment: broker*"])
