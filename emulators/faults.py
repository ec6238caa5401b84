"""Fault plans (R11): data, validated by pydantic at the edge, fired by one seeded RNG.

A plan is a list of rules. A rule names a fault, which devices it applies to (one ID,
one device type, or all), which message code (or any), and either a probability or a
count (the first N matching occasions). `FaultInjector.fire` is asked at each occasion
where a fault could happen; the same plan, seed and sequence of events always fires the
same faults. The models report each fault that fires as a `FaultFired` action.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contract.validation import describe
from contract.vocabulary import DeviceType
from gbcs import ActivateImageResponseCode

from .errors import ConfigError

log = logging.getLogger(__name__)


class FaultKind(StrEnum):
    DROP = "drop"
    DELAY = "delay"
    DUPLICATE = "duplicate"
    REORDER = "reorder"
    CORRUPT_BLOCK = "corrupt_block"
    POWER_LOSS_DURING_DOWNLOAD = "power_loss_during_download"
    ACTIVATION_FAILURE = "activation_failure"
    STALE_GPF_MIRROR = "stale_gpf_mirror"
    CLOCK_SKEW = "clock_skew"
    READ_FAILURE = "read_failure"
    # A device defect, for conformance tests: the 0x00CA alert names the wrong command
    # originator counter (the command's + 1).
    ALERT_COUNTER_MISMATCH = "alert_counter_mismatch"


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


LINK_FAULTS = frozenset({FaultKind.DROP, FaultKind.DELAY, FaultKind.DUPLICATE, FaultKind.REORDER})
DEFAULT_REORDER_HOLD_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class FaultRule:
    """One rule of a plan; immutable and shared by every device it applies to."""

    kind: FaultKind
    device_id: bytes | None = None
    device_type: DeviceType | None = None
    message_code: int | None = None
    probability: float | None = None
    count: int | None = None
    seconds: float = 0.0
    code: ActivateImageResponseCode = ActivateImageResponseCode.ACTIVATION_FAILURE
    resume: bool | None = None
    direction: Direction = Direction.UP

    def matches(self, device_id: bytes, device_type: DeviceType, code: int | None) -> bool:
        if self.device_id is not None and self.device_id != device_id:
            return False
        if self.device_type is not None and self.device_type != device_type:
            return False
        return self.message_code is None or self.message_code == code


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The rules in order, the seed of the RNG, and what a power loss does to the pending slot."""

    rules: tuple[FaultRule, ...] = ()
    seed: int = 0
    pending_on_power_loss: Literal["resume", "lose"] = "lose"

    def resumes(self, rule: FaultRule | None) -> bool:
        """Whether a download survives a power loss (the rule's `resume`, else the plan's)."""
        if rule is not None and rule.resume is not None:
            return rule.resume
        return self.pending_on_power_loss == "resume"


NO_FAULTS = FaultPlan()


class FaultInjector:
    """The plan's one RNG and its count-rule budgets; shared by every device of a fleet."""

    __slots__ = ("_by_kind", "_remaining", "plan", "rng")

    def __init__(self, plan: FaultPlan = NO_FAULTS, seed: int | None = None) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed if seed is None else seed)
        self._remaining = [rule.count for rule in plan.rules]
        self._by_kind: dict[FaultKind, tuple[tuple[int, FaultRule], ...]] = {}
        self._index()

    def add(self, rule: FaultRule) -> None:
        """A rule added while the fleet runs (a scenario's fault): tried after the plan's
        rules, with its own count budget, drawing from the same RNG."""
        self.plan = replace(self.plan, rules=(*self.plan.rules, rule))
        self._remaining.append(rule.count)
        self._index()
        log.info("fault rule added at run time: %s", rule)

    def remove(self, rule: FaultRule) -> None:
        """Take out the last rule equal to `rule` (one `add` put in), spent or not;
        `ValueError` when the plan has no such rule."""
        rules = list(self.plan.rules)
        matches = [i for i, found in enumerate(rules) if found == rule]
        if not matches:
            raise ValueError(f"no fault rule {rule} in the plan")
        del rules[matches[-1]]
        del self._remaining[matches[-1]]
        self.plan = replace(self.plan, rules=tuple(rules))
        self._index()

    def _index(self) -> None:
        by_kind: dict[FaultKind, list[tuple[int, FaultRule]]] = {}
        for index, rule in enumerate(self.plan.rules):
            by_kind.setdefault(rule.kind, []).append((index, rule))
        self._by_kind = {kind: tuple(rules) for kind, rules in by_kind.items()}

    def fire(
        self,
        kind: FaultKind,
        device_id: bytes,
        device_type: DeviceType,
        code: int | None,
        direction: Direction = Direction.UP,
    ) -> FaultRule | None:
        """The first rule of this kind that matches and triggers now, or None."""
        for index, rule in self._by_kind.get(kind, ()):
            if rule.direction != direction or not rule.matches(device_id, device_type, code):
                continue
            if self._triggers(index, rule):
                log.debug("fault %s fires on %s (code %s)", kind, device_id.hex(), code)
                return rule
        return None

    def _triggers(self, index: int, rule: FaultRule) -> bool:
        if rule.probability is not None:
            return self.rng.random() < rule.probability
        remaining = self._remaining[index]
        if remaining is None or remaining <= 0:
            return False
        self._remaining[index] = remaining - 1
        return True


# --- the YAML edge ------------------------------------------------------------------


class FaultRuleSpec(BaseModel):
    """A rule as written in YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fault: FaultKind
    device: str | None = Field(default=None, description="EUI-64: 16 hex digits or DUIS form")
    device_type: DeviceType | None = None
    message_code: int | None = Field(default=None, ge=0, le=0xFFFF)
    probability: float | None = Field(default=None, ge=0.0, le=1.0)
    count: int | None = Field(default=None, ge=1)
    seconds: float = 0.0
    code: int = Field(default=3, ge=1, le=3)
    resume: bool | None = None
    direction: Direction = Direction.UP

    @field_validator("device")
    @classmethod
    def _eui64(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return parse_eui64(value).hex().upper()

    @model_validator(mode="after")
    def _consistent(self) -> FaultRuleSpec:
        if (self.probability is None) == (self.count is None):
            raise ValueError("give exactly one of probability and count")
        if self.direction is Direction.DOWN and self.fault not in LINK_FAULTS:
            raise ValueError(f"direction down applies to link faults only, not {self.fault}")
        if self.seconds < 0 and self.fault is not FaultKind.CLOCK_SKEW:
            raise ValueError("seconds may be negative for clock_skew only")
        return self

    def _seconds(self) -> float:
        if self.fault is FaultKind.REORDER and self.seconds == 0:
            return DEFAULT_REORDER_HOLD_SECONDS
        return self.seconds

    def to_rule(self) -> FaultRule:
        return FaultRule(
            kind=self.fault,
            device_id=None if self.device is None else bytes.fromhex(self.device),
            device_type=self.device_type,
            message_code=self.message_code,
            probability=self.probability,
            count=self.count,
            seconds=self._seconds(),
            code=ActivateImageResponseCode(self.code),
            resume=self.resume,
            direction=self.direction,
        )


class FaultPlanSpec(BaseModel):
    """A fault plan as written in YAML (inline in a fleet file, or a file of its own)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int | None = None
    pending_on_power_loss: Literal["resume", "lose"] = "lose"
    rules: list[FaultRuleSpec] = Field(default_factory=list)

    def to_plan(self, default_seed: int = 0) -> FaultPlan:
        return FaultPlan(
            rules=tuple(rule.to_rule() for rule in self.rules),
            seed=default_seed if self.seed is None else self.seed,
            pending_on_power_loss=self.pending_on_power_loss,
        )


def parse_eui64(value: str) -> bytes:
    """An EUI-64 from 16 hex digits, with or without DUIS dashes."""
    text = value.replace("-", "").strip()
    if len(text) != 16:
        raise ValueError(f"an EUI-64 has 16 hex digits, got {value!r}")
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise ValueError(f"an EUI-64 has 16 hex digits, got {value!r}") from exc


def load_fault_plan(path: Path, default_seed: int = 0) -> FaultPlan:
    """Read and validate a fault plan file; a bad file raises ConfigError naming it."""
    return fault_plan_from_data(read_yaml(path), str(path), default_seed)


def fault_plan_from_data(data: Any, source: str, default_seed: int = 0) -> FaultPlan:
    try:
        spec = FaultPlanSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid fault plan: {describe(exc, 'file')}") from exc
    return spec.to_plan(default_seed)


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read YAML: {exc}") from exc
