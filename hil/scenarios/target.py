"""What a scenario's names mean on one lab: which hub it runs on, which devices `ESME` or
`GPF` are, what `running` and `upgrade` are for each, and who `supplier` is (sans-IO)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from contract.ids import to_duis
from contract.vocabulary import Device
from emulators.fleet import ImageKey
from gbcs.ota import OtaImage
from hil.errors import ScenarioError
from hil.lab.env import HubPlan

from .file import PremisesWanted, Scenario

WRONG_HASH = "00" * 32  # the SHA-256 of no image: an 11.3 that the device must refuse


def choose_hub(plans: list[HubPlan], scenario: Scenario, name: str | None = None) -> HubPlan:
    """The hub `name` (checked against what the scenario needs), else the first hub of the
    lab that has what it needs. `ScenarioError` says why none fits."""
    wanted = scenario.premises
    if isinstance(wanted, str):
        if name is not None and name != wanted:
            raise ScenarioError(f"scenario {scenario.name} runs on hub {wanted}, not {name}")
        name, wanted = wanted, PremisesWanted()
    if name is not None:
        plan = next((p for p in plans if p.name == name), None)
        if plan is None:
            known = ", ".join(p.name for p in plans)
            raise ScenarioError(f"scenario {scenario.name}: no hub {name} in the lab ({known})")
        _check_fits(scenario, plan, wanted)
        return plan
    problems = [_problem(scenario, plan, wanted) for plan in plans]
    for plan, problem in zip(plans, problems, strict=True):
        if problem is None:
            return plan
    raise ScenarioError(
        f"scenario {scenario.name}: no hub of the lab fits: " + "; ".join(map(str, problems))
    )


def _check_fits(scenario: Scenario, plan: HubPlan, wanted: PremisesWanted) -> None:
    problem = _problem(scenario, plan, wanted)
    if problem is not None:
        raise ScenarioError(f"scenario {scenario.name}: {problem}")


def _problem(scenario: Scenario, plan: HubPlan, wanted: PremisesWanted) -> str | None:
    """Why `plan` cannot run `scenario`, or None when it can."""
    types = {device.device_type for device in plan.devices}
    if (wanted.smets not in (None, plan.smets)) or not set(wanted.devices) <= types:
        return (
            f"it needs {_describe(wanted)}, hub {plan.name} is a SMETS{plan.smets} premises "
            f"with {', '.join(d.device_type for d in plan.devices)}"
        )
    steps = scenario.emulated_only
    if plan.bridged and steps:
        action = scenario.steps[steps[0] - 1].action
        return (
            f"step {steps[0]} ({action}) needs an emulated hub, "
            f"hub {plan.name} is bridged ({plan.kind})"
        )
    return None


def _describe(wanted: PremisesWanted) -> str:
    smets = f"a SMETS{wanted.smets} premises" if wanted.smets else "a premises"
    devices = ", ".join(wanted.devices)
    return f"{smets} with {devices}" if devices else smets


@dataclass(frozen=True, slots=True)
class ScenarioTarget:
    """The chosen hub, its devices as the SMI has them when the scenario starts, the lab's
    users by name and the lab's firmware images."""

    hub: HubPlan
    devices: tuple[Device, ...]
    users: Mapping[str, str]  # name -> DUIS ID
    images: Mapping[ImageKey, OtaImage]

    def device(self, ref: str) -> Device:
        """`ESME` (the premises' device of that type) or an EUI-64 on the premises."""
        for device in self.devices:
            if device.device_type == ref.upper():
                return device
        try:
            wanted = to_duis(ref)
        except ValueError:
            wanted = ""
        for device in self.devices:
            if device.device_id == wanted:
                return device
        types = ", ".join(d.device_type for d in self.devices)
        raise ScenarioError(f"no device {ref} on hub {self.hub.name} ({types})")

    def version(self, device: Device, ref: str) -> str:
        """`running` (the SMI's version at the start), `upgrade` or 8 hex digits."""
        if ref == "running":
            return device.firmware_version
        if ref == "upgrade":
            return self._upgrade(device)
        return ref.upper()

    def image(self, device: Device, version: str) -> OtaImage:
        image = self.images.get((device.manufacturer, device.model, version))
        if image is None:
            raise ScenarioError(
                f"the lab has no image {version} for {device.manufacturer} {device.model}"
            )
        return image

    def image_hash(self, device: Device, version: str) -> str:
        return self.image(device, version).sha256.hex().upper()

    def user(self, name: str) -> str:
        if name not in self.users:
            raise ScenarioError(f"no user {name} in the lab ({', '.join(self.users)})")
        return self.users[name]

    def role(self, device_id: str) -> str | None:
        """`ESME` for the premises' ESME: how transcripts name a device."""
        return next((str(d.device_type) for d in self.devices if d.device_id == device_id), None)

    def _upgrade(self, device: Device) -> str:
        versions = sorted(
            version
            for (manufacturer, model, version) in self.images
            if (manufacturer, model) == (device.manufacturer, device.model)
            and version != device.firmware_version
        )
        if not versions:
            raise ScenarioError(
                f"the lab has no upgrade image for {device.device_type} "
                f"{device.manufacturer} {device.model} (running {device.firmware_version})"
            )
        return versions[0]
