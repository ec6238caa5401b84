"""Scenario files (YAML, validated by pydantic): steps a service user and a lab engineer
take, and what they expect to see (docs/hil.md).

    name: lost-11.3-recovered-by-retry
    rules: [R4, R5, R8]
    premises: {smets: 2, devices: [ESME]}
    steps:
      - set_cpl: {device: ESME, version: running, status: Removed}
      - expect_alert: {code: N28, device: ESME}
      - send: {srv: "11.2", to: ESME}
      - expect_response: {code: I0, firmware_version: running}
      - wait: 30

Devices are named by type on the scenario's premises (`ESME`, `GSME`, `GPF`, ...) or by
EUI-64; versions as `running` (the device's SMI version when the scenario starts),
`upgrade` (the lab's other image for the device's model) or 8 hex digits; users by the
lab's names (`supplier`, `network_operator`). Times are device seconds on the shared
clock. Each step is written `- action: {fields}` (or `- wait: SECONDS`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contract.requests import NON_DEVICE, Srv
from contract.vocabulary import CplStatus, DeviceType, SmiStatus
from emulators.errors import ConfigError
from emulators.faults import FaultRuleSpec, read_yaml
from hil.errors import ScenarioError

VERSION_REF = re.compile(r"^(running|upgrade|[0-9A-Fa-f]{8})$")
RESPONSE_REF = re.compile(r"^(none|running|upgrade|[0-9A-Fa-f]{8})$")  # none: no version
DEFAULT_WITHIN = 300.0


def _version(value: str | None, pattern: re.Pattern[str] = VERSION_REF) -> str | None:
    if value is not None and not pattern.match(value):
        raise ValueError(f"{value!r}: use running, upgrade or 8 hex digits")
    return value


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    note: str | None = None  # shown in reports


class SetCplStep(_Step):
    """The DCC changes the CPL entry of the device's model at `version` (R4)."""

    action: Literal["set_cpl"]
    device: str
    version: str = "running"
    status: CplStatus
    within: float = Field(default=60.0, gt=0)  # for the DSP to apply it

    @field_validator("version")
    @classmethod
    def _v(cls, value: str) -> str | None:
        return _version(value)


class SendStep(_Step):
    """A service request as a lab user (`as`): to a device (`to`) or, for 11.1, 11.4 and
    8.2, about `devices`. 11.1/11.4 send the `version` image; 11.3 activates it, at once
    or `execute_in` seconds from now (R7), or cancels (`cancel`); `wrong_hash` sends a
    hash no image has."""

    action: Literal["send"]
    srv: Srv
    user: str = Field(default="supplier", alias="as")
    to: str | None = None
    devices: list[str] = Field(default_factory=list)
    version: str = "upgrade"
    execute_in: float | None = Field(default=None, gt=0)
    cancel: bool = False
    wrong_hash: bool = False
    command_variant: int | None = Field(default=None, ge=1, le=8)
    name: str | None = None  # how later steps name this request (default: the last one)

    @field_validator("version")
    @classmethod
    def _v(cls, value: str) -> str | None:
        return _version(value)

    @model_validator(mode="after")
    def _target(self) -> SendStep:
        device_srv = self.srv not in NON_DEVICE
        if device_srv and self.to is None:
            raise ValueError(f"SR {self.srv} goes to a device: give `to`")
        if not device_srv and not self.devices:
            raise ValueError(f"SR {self.srv} is about devices: give `devices`")
        activation = (self.execute_in is not None, self.cancel, self.wrong_hash)
        if any(activation) and self.srv is not Srv.ACTIVATE_FIRMWARE:
            raise ValueError("execute_in, cancel and wrong_hash are for SR 11.3")
        if self.execute_in is not None and self.cancel:
            raise ValueError("a cancellation has no execute_in")
        return self


class ExpectResponseStep(_Step):
    """The next answer to a request (`request`, default the last one sent) other than
    I99 (unless I99 is expected) has one of `code`, within `within` seconds; with
    `firmware_version` (`none`: the body has none; a GPF's answer is its GSME's version,
    so `version_of: GSME`), the code of a CS06 outcome, `late` (R8) and
    `command_accepted` (R7) checked when given."""

    action: Literal["expect_response"]
    request: str | None = None
    code: list[str]
    within: float = Field(default=DEFAULT_WITHIN, gt=0)
    firmware_version: str | None = None
    version_of: str | None = None  # whose `running`/`upgrade` (default: the request's device)
    activate_image_response_code: int | None = None
    late: bool | None = None
    command_accepted: bool | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("firmware_version")
    @classmethod
    def _v(cls, value: str | None) -> str | None:
        return _version(value, RESPONSE_REF)


class ExpectAlertStep(_Step):
    """An alert `code` (N28, N29, N50, N51, N52, 8F66, 8F67, FirmwareReceipt) about
    `device` to `user` (any lab user when absent) within `within` seconds; the first
    such alert not yet matched must also carry the fields given."""

    action: Literal["expect_alert"]
    code: str
    device: str | None = None
    user: str | None = None
    within: float = Field(default=DEFAULT_WITHIN, gt=0)
    firmware_version: str | None = None
    activate_image_response_code: int | None = None
    hash_matches: bool | None = None

    @field_validator("firmware_version")
    @classmethod
    def _v(cls, value: str | None) -> str | None:
        return _version(value, RESPONSE_REF)


class AssertNoAlertStep(_Step):
    """No alert `code` (about `device`) has come, nor comes within `for` seconds."""

    action: Literal["assert_no_alert"]
    code: str
    device: str | None = None
    during: float = Field(default=0.0, ge=0, alias="for")


class InjectFaultStep(FaultRuleSpec):
    """A fault rule added to the emulated premises from now on (R11): the fields of a
    fault plan's rule, with `device` named as in any step. Emulated hubs only."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    action: Literal["inject_fault"]
    note: str | None = None

    @field_validator("device")
    @classmethod
    def _eui64(cls, value: str | None) -> str | None:  # a device reference, resolved later
        return value

    def rule_spec(self, device: str | None) -> FaultRuleSpec:
        fields = self.model_dump(exclude={"action", "note", "device"})
        return FaultRuleSpec.model_validate({**fields, "device": device})


class FlashStep(_Step):
    """Firmware written on the device outside the DCC (a site visit): it runs `version`
    from now on, and the SMI does not know. Emulated hubs only."""

    action: Literal["flash"]
    device: str
    version: str

    @field_validator("version")
    @classmethod
    def _v(cls, value: str) -> str | None:
        return _version(value)


class AssertSmiStep(_Step):
    """The SMI record of `device` now has `status` and `firmware_version` (R1)."""

    action: Literal["assert_smi"]
    device: str
    status: SmiStatus | None = None
    firmware_version: str | None = None

    @field_validator("firmware_version")
    @classmethod
    def _v(cls, value: str | None) -> str | None:
        return _version(value)


class WaitStep(_Step):
    action: Literal["wait"]
    seconds: float = Field(gt=0)


class SetDspStep(_Step):
    """Switch the DSP's MP105 change on or off (R3); the DSP restarts on its store."""

    action: Literal["set_dsp"]
    mp105: bool


Step = Annotated[
    SetCplStep
    | SendStep
    | ExpectResponseStep
    | ExpectAlertStep
    | AssertNoAlertStep
    | InjectFaultStep
    | FlashStep
    | AssertSmiStep
    | WaitStep
    | SetDspStep,
    Field(discriminator="action"),
]
EMULATED_ONLY = ("inject_fault", "flash")


class PremisesWanted(BaseModel):
    """Which premises a scenario needs: a SMETS generation and device types."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    smets: Literal[1, 2] | None = None
    devices: list[DeviceType] = Field(default_factory=list)


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    rules: list[str] = Field(default_factory=list)  # the DESIGN §4 rules it shows
    premises: PremisesWanted | str = Field(default_factory=PremisesWanted)  # or a hub name
    steps: list[Step] = Field(min_length=1)

    @field_validator("steps", mode="before")
    @classmethod
    def _short_form(cls, steps: Any) -> Any:
        if not isinstance(steps, list):
            return steps
        return [_tagged(step) for step in steps]

    @property
    def emulated_only(self) -> list[int]:
        """Step numbers (from 1) that only an emulated hub can carry out."""
        return [n for n, step in enumerate(self.steps, 1) if step.action in EMULATED_ONLY]


def _tagged(step: Any) -> Any:
    """`{send: {...}}` -> `{action: send, ...}`; `{wait: 30}` -> `{action: wait, seconds: 30}`."""
    if not isinstance(step, dict) or "action" in step or len(step) != 1:
        return step
    ((action, fields),) = step.items()
    if action == "wait" and isinstance(fields, int | float):
        return {"action": "wait", "seconds": fields}
    if not isinstance(fields, dict):
        return step  # pydantic names what is wrong
    return {"action": action, **fields}


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; the name defaults to the file's stem. A bad
    file raises `ScenarioError` naming the file, the step and the field."""
    try:
        data = read_yaml(path)
    except ConfigError as exc:
        raise ScenarioError(str(exc)) from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping, not {type(data).__name__}")
    try:
        return Scenario.model_validate({"name": path.stem, **data})
    except ValidationError as exc:
        raise ScenarioError(f"{path}: {_describe(exc, data)}") from exc


def _describe(exc: ValidationError, data: dict[str, Any]) -> str:
    error = exc.errors()[0]
    loc = list(error["loc"])
    where = ".".join(str(part) for part in loc) or "file"
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        action = _action_of(data.get("steps"), loc[1])
        rest = ".".join(str(part) for part in loc[3:]) or "step"
        where = f"step {loc[1] + 1} ({action}): {rest}"
    return f"{where}: {error['msg']}"


def _action_of(steps: Any, index: int) -> str:
    try:
        step = _tagged(steps[index])
        return str(step.get("action", "?"))
    except (TypeError, IndexError, KeyError, AttributeError):
        return "?"
