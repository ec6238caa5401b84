"""The campaign's report: one outcome per device, the totals, the alerts seen, and what
did not fit (unexpected). `to_json()` gives plain JSON types."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from contract.times import iso
from contract.vocabulary import SmiStatus
from hil.security import Integrity, MessageVerdict

from .device import DeviceProgress, UpgradeState


class Recovery(StrEnum):
    """How a device came to run the target version with the SMI agreeing."""

    FIRST_TRY = "first_try"  # the first activation's answer reported the target version
    RETRY = "retry"  # a retried 11.3's answer did (R8, R5)
    READ = "read"  # only the SR 11.2 after the activations restored it (R5)
    INVENTORY = "inventory"  # no answer confirmed it, yet the last 8.2 shows it done
    NOT_RECOVERED = "not_recovered"  # Suspended, or not on the target version
    SKIPPED = "skipped"  # a DSPUpdateFirmwareWarning named it; never distributed (R9)


UPGRADED = frozenset({Recovery.FIRST_TRY, Recovery.RETRY, Recovery.READ, Recovery.INVENTORY})


@dataclass(frozen=True, slots=True)
class Unexpected:
    """Something the DSP sent that the campaign's state did not allow (never raised)."""

    at: datetime
    kind: str  # "response", "alert", or "transition" (a device state did not allow it)
    reason: str
    request_id: str | None = None
    device_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "kind": self.kind,
            "reason": self.reason,
            "request_id": self.request_id,
            "device_id": self.device_id,
        }


@dataclass(frozen=True, slots=True)
class GpfRead:
    gpf_id: str
    code: str | None  # the final response code, or "gave-up"
    version: str | None  # the GSME version the GPF's mirror holds (R6)

    def to_json(self) -> dict[str, Any]:
        return {"gpf_id": self.gpf_id, "code": self.code, "version": self.version}


@dataclass(frozen=True, slots=True)
class DeviceOutcome:
    device_id: str
    target: str  # manufacturer/model@version
    target_version: str
    distributed: bool | None  # listed as distributed, or a receipt came
    receipt_hash_ok: bool | None  # None: no receipt seen
    warning: str | None  # the DSPUpdateFirmwareWarning list (R9)
    activation_attempts: int
    e21_count: int
    answers_missing: int  # nothing within response_wait
    activation_code: int | None
    activation_version: str | None
    recovery: Recovery
    state: str  # where the campaign's table left the device
    smi_status: str | None  # from the last 8.2
    smi_version: str | None
    read_code: str | None
    read_version: str | None
    error_codes: tuple[str, ...]
    alerts: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Totals:
    devices: int
    distributed: int
    activated: int  # on the target version, SMI agreeing, not Suspended
    first_try: int
    recovered_by_retry: int
    recovered_by_read: int
    recovered_by_inventory: int
    not_recovered: int
    skipped: int
    still_suspended: int
    responses_lost: int  # E21 answers seen (R8)
    answers_missing: int  # requests with nothing within response_wait
    unexpected: int
    noise: int  # answers that changed nothing: S3 replays, answers after a final one

    def to_json(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class SecurityTotals:
    """With security on (D-SEC22): the pre-commands signed, and the verdicts on the
    device messages (responses and alerts carrying `gbcs_payload`); every verdict not
    valid is listed."""

    pre_commands_signed: int
    messages_checked: int
    messages_valid: int
    messages_invalid: int
    messages_unchecked: int
    not_valid: tuple[MessageVerdict, ...]

    def to_json(self) -> dict[str, Any]:
        counts = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "not_valid"}
        return {**counts, "not_valid": [v.to_json() for v in self.not_valid]}


class IntegrityLog:
    """The verdicts on device messages, as they come (the campaign's journal of them)."""

    __slots__ = ("verdicts",)

    def __init__(self) -> None:
        self.verdicts: list[MessageVerdict] = []

    def add(self, verdict: MessageVerdict) -> None:
        self.verdicts.append(verdict)

    def count(self, integrity: Integrity) -> int:
        return sum(1 for v in self.verdicts if v.integrity is integrity)

    def report(self, signed: int) -> SecurityTotals:
        return SecurityTotals(
            pre_commands_signed=signed,
            messages_checked=len(self.verdicts),
            messages_valid=self.count(Integrity.VALID),
            messages_invalid=self.count(Integrity.INVALID),
            messages_unchecked=self.count(Integrity.UNCHECKED),
            not_valid=tuple(v for v in self.verdicts if not v.valid),
        )


@dataclass(frozen=True, slots=True)
class CampaignReport:
    finished: bool
    phase: str
    devices: tuple[DeviceOutcome, ...]
    totals: Totals
    alerts: Mapping[str, int]  # alert code -> how many were seen
    gpf_reads: tuple[GpfRead, ...]
    unexpected: tuple[Unexpected, ...]
    security: SecurityTotals | None = None  # None: security off

    def device(self, device_id: str) -> DeviceOutcome:
        return next(d for d in self.devices if d.device_id == device_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "finished": self.finished,
            "phase": self.phase,
            "totals": self.totals.to_json(),
            "alerts": dict(sorted(self.alerts.items())),
            "devices": [d.to_json() for d in self.devices],
            "gpf_reads": [g.to_json() for g in self.gpf_reads],
            "unexpected": [u.to_json() for u in self.unexpected],
            **({} if self.security is None else {"security": self.security.to_json()}),
        }


def recovery_of(progress: DeviceProgress) -> Recovery:
    if progress.state is UpgradeState.SKIPPED:
        return Recovery.SKIPPED
    if not _upgraded(progress):
        return Recovery.NOT_RECOVERED
    if progress.confirmed_by == 1:
        return Recovery.FIRST_TRY
    if progress.confirmed_by is not None:
        return Recovery.RETRY
    if progress.read_code is not None:
        return Recovery.READ
    return Recovery.INVENTORY


def _upgraded(progress: DeviceProgress) -> bool:
    """By the last 8.2 when there is one (the SMI is the judge), else by the answers."""
    record = progress.inventory
    if record is None:
        return progress.confirmed_by is not None
    return (
        record.get("status") != SmiStatus.SUSPENDED
        and record.get("firmware_version") == progress.target.version
    )


def outcome_of(progress: DeviceProgress) -> DeviceOutcome:
    record = progress.inventory or {}
    status, version = record.get("status"), record.get("firmware_version")
    return DeviceOutcome(
        device_id=progress.device_id,
        target=progress.target.name,
        target_version=progress.target.version,
        distributed=progress.distributed,
        receipt_hash_ok=progress.receipt_hash_ok,
        warning=progress.warning,
        activation_attempts=progress.attempts,
        e21_count=progress.e21,
        answers_missing=progress.lost,
        activation_code=progress.code,
        activation_version=progress.version,
        recovery=recovery_of(progress),
        state=str(progress.state),
        smi_status=status if isinstance(status, str) else None,
        smi_version=version if isinstance(version, str) else None,
        read_code=progress.read_code,
        read_version=progress.read_version,
        error_codes=tuple(progress.errors),
        alerts=tuple(progress.alerts),
    )


@dataclass(frozen=True, slots=True)
class Counts:
    """What the model counts itself (not per device: GPF reads and 8.2 count too)."""

    responses_lost: int = 0
    answers_missing: int = 0
    unexpected: int = 0
    noise: int = 0


def totals_of(outcomes: Iterable[DeviceOutcome], counts: Counts) -> Totals:
    outcomes = list(outcomes)
    recovery = Counter(o.recovery for o in outcomes)
    return Totals(
        devices=len(outcomes),
        distributed=sum(1 for o in outcomes if o.distributed),
        activated=sum(recovery[r] for r in UPGRADED),
        first_try=recovery[Recovery.FIRST_TRY],
        recovered_by_retry=recovery[Recovery.RETRY],
        recovered_by_read=recovery[Recovery.READ],
        recovered_by_inventory=recovery[Recovery.INVENTORY],
        not_recovered=recovery[Recovery.NOT_RECOVERED],
        skipped=recovery[Recovery.SKIPPED],
        still_suspended=sum(1 for o in outcomes if o.smi_status == SmiStatus.SUSPENDED),
        responses_lost=counts.responses_lost,
        answers_missing=counts.answers_missing,
        unexpected=counts.unexpected,
        noise=counts.noise,
    )


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, StrEnum):
        return str(value)
    return value
