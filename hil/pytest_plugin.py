"""smetslab's pytest plugin (entry point `pytest11`): a lab for tests, from a lab
environment file or, without one, an emulated lab.

    pytest --smetslab-env configs/lab-serial-sim.yaml

    async def test_11_2(lab, service_user, premises):
        esme = premises.device("ESME")
        request_id = service_user.send("11.2", esme.device_id)
        assert (await service_user.response(request_id))["response_code"] == "I0"

Fixtures: `lab` (a started `hil.lab.Lab`, one per test), `dsp` (its DSP: SMI, journal,
MP105 switch), `service_user` (the supplier's `ServiceUser`), `premises` (the hub a
test runs on: the first bridged hub for a `hardware` test, else the first hub; choose
with `@pytest.mark.premises("rig")` or `@pytest.mark.premises(smets=1, devices=["ESME"])`),
`smetslab_env` (the environment). With the fleet's `security: true` the service user
signs every Critical SR (11.3) with the supplier's key from the lab's key store (the
pre-command answer is signed and sent back as CV 5; `response` waits for the device's
answer) and `service_user.verdicts(request_id)` gives the verdicts on the device's
signatures and MACs (docs/security.md, "The service user's side"). The marker
`hardware` skips a test, with the reason, when the environment has no bridged hub.
Scenario files run as tests when named with `--smetslab-scenarios PATH` (a file or a
folder, repeatable) or the ini option `smetslab_scenarios`: each file is one test, on a
fresh lab.

The async fixtures need pytest-asyncio (`pip install 'smetslab[pytest]'`), in any
`asyncio_mode`: an async test on them is marked `asyncio` here. Scenario tests need
neither.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contract.vocabulary import Device

from .errors import HilError, ScenarioFailedError
from .lab.client import ServiceUser
from .lab.env import HubPlan, LabEnv, default_env, load_lab_env
from .lab.lab import Lab, LabDsp
from .scenarios.file import PremisesWanted, Scenario, WaitStep, load_scenario
from .scenarios.runner import run_scenario
from .scenarios.target import choose_hub
from .shipped import shipped

DEFAULT_FLEET = shipped("lab-fleet.yaml")
ENV_KEY = pytest.StashKey[LabEnv]()
SCENARIO_SUFFIXES = (".yaml", ".yml")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("smetslab", "smetslab lab (hil)")
    group.addoption(
        "--smetslab-env",
        metavar="FILE",
        help="the lab environment file (default: an emulated lab of the shipped lab-fleet.yaml)",
    )
    group.addoption(
        "--smetslab-scenarios",
        action="append",
        default=[],
        metavar="PATH",
        help="scenario files, or folders of them, to run as tests",
    )
    parser.addini("smetslab_env", "the lab environment file", default="")
    parser.addini("smetslab_scenarios", "scenario files or folders to run as tests", "paths")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hardware: needs a bridged hub (a serial or ZigBee rig); skipped without"
    )
    config.addinivalue_line(
        "markers", "premises(name=None, smets=None, devices=()): the hub a test runs on"
    )


def lab_env(config: pytest.Config) -> LabEnv:
    """The environment of this test session: loaded once, errors as usage errors."""
    if ENV_KEY not in config.stash:
        config.stash[ENV_KEY] = _load_env(config)
    return config.stash[ENV_KEY]


def _load_env(config: pytest.Config) -> LabEnv:
    given = config.getoption("--smetslab-env") or config.getini("smetslab_env")
    if not given:
        return default_env(DEFAULT_FLEET)
    try:
        return load_lab_env(Path(str(given)))
    except HilError as exc:
        raise pytest.UsageError(f"--smetslab-env: {exc}") from exc


LAB_FIXTURES = frozenset({"lab", "dsp", "service_user", "premises"})


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, Any, None]:
    """An async test on the lab's fixtures runs under pytest-asyncio in any
    `asyncio_mode`: it is marked `asyncio` before pytest-asyncio (whose wrapper holds
    this one) decides what to do with it, so a project needs no setting for it."""
    outcome = yield
    if not inspect.iscoroutinefunction(obj):
        return
    result = outcome.get_result()
    for item in result if isinstance(result, list) else [result]:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & LAB_FIXTURES and item.get_closest_marker("asyncio") is None:
            item.add_marker(pytest.mark.asyncio)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    hardware = [item for item in items if item.get_closest_marker("hardware")]
    if not hardware:
        return
    env = lab_env(config)
    if env.bridged:
        return
    reason = (
        f"needs a bridged hub; the lab environment {env.name!r} has only emulated hubs "
        "(give --smetslab-env with a serial or zigbee hub)"
    )
    for item in hardware:
        item.add_marker(pytest.mark.skip(reason=reason))


# ---- fixtures ------------------------------------------------------------------------


@pytest.fixture
def smetslab_env(request: pytest.FixtureRequest) -> LabEnv:
    return lab_env(request.config)


if importlib.util.find_spec("pytest_asyncio") is not None:  # else scenario files only
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def lab(smetslab_env: LabEnv) -> AsyncIterator[Lab]:
        """A lab started from the environment, stopped after the test."""
        async with Lab(smetslab_env) as started:
            yield started

    @pytest_asyncio.fixture
    async def service_user(lab: Lab) -> AsyncIterator[ServiceUser]:
        """The lab's supplier on its own connection; it signs Critical SRs with the
        lab's keys when the fleet's security is on (`lab.client()`)."""
        async with lab.client() as client:
            yield ServiceUser(client, lab.users["supplier"])


@pytest.fixture
def dsp(lab: Lab) -> LabDsp:
    return lab.dsp


@dataclass(frozen=True, slots=True)
class Premises:
    """The hub a test runs on, and its devices by type."""

    hub: HubPlan

    @property
    def name(self) -> str:
        return self.hub.name

    @property
    def bridged(self) -> bool:
        return self.hub.bridged

    def device(self, device_type: str) -> Device:
        for device in self.hub.devices:
            if device.device_type == device_type:
                return device
        raise LookupError(f"hub {self.hub.name} has no {device_type}")


@pytest.fixture
def premises(request: pytest.FixtureRequest, lab: Lab) -> Premises:
    marker = request.node.get_closest_marker("premises")
    if marker is not None:
        return Premises(_marked_hub(lab, marker))
    if request.node.get_closest_marker("hardware"):
        return Premises(next(hub for hub in lab.hubs if hub.bridged))
    return Premises(lab.hubs[0])


def _marked_hub(lab: Lab, marker: pytest.Mark) -> HubPlan:
    name = marker.args[0] if marker.args else marker.kwargs.get("name")
    wanted = PremisesWanted(
        smets=marker.kwargs.get("smets"), devices=list(marker.kwargs.get("devices", ()))
    )
    probe = Scenario(name="test", premises=wanted, steps=[WaitStep(action="wait", seconds=1)])
    try:
        return choose_hub(lab.hubs, probe, name)
    except HilError as exc:
        raise pytest.UsageError(f"@pytest.mark.premises: {exc}") from exc


# ---- scenario files as tests ---------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in SCENARIO_SUFFIXES:
        return None
    if not any(_within(file_path, root) for root in _scenario_roots(parent.config)):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


def _scenario_roots(config: pytest.Config) -> Iterator[Path]:
    for given in config.getoption("--smetslab-scenarios"):
        yield Path(given).resolve()
    for path in config.getini("smetslab_scenarios"):
        yield Path(path).resolve()


def _within(path: Path, root: Path) -> bool:
    path = path.resolve()
    return path == root or root in path.parents


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            scenario = load_scenario(self.path)
        except HilError as exc:
            raise self.CollectError(str(exc)) from exc
        yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioItem(pytest.Item):
    """One scenario file, run on a fresh lab of the session's environment."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        for rule in scenario.rules:
            self.user_properties.append(("rule", rule))

    def runtest(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        env = lab_env(self.config)
        async with Lab(env) as started:
            result = await run_scenario(started, self.scenario)
        result.raise_for_failure()

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, HilError):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario {self.scenario.name}"


__all__ = ["Premises", "ScenarioFailedError", "ScenarioItem", "lab_env"]
