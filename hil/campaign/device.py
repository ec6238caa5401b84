"""One device of a campaign: where its upgrade stands, by one transition table.

    QUEUED -> DISTRIBUTING -> AWAITING_RECEIPT -> ACTIVATING -> ACTIVATED
                  |                 |              |   ^  \\-> SCHEDULED (R7)
               SKIPPED (R9)      FAILED         BACKOFF (R8)  -> GAVE_UP

A device report with the target version (CONFIRMED) is taken from any state after the
distribution, final ones included: R5 and R8 say nothing a device reports is lost, so a
late answer beats an earlier error code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from contract.transitions import TransitionTable

from .plan import FirmwareTarget


class UpgradeState(StrEnum):
    QUEUED = "Queued"
    DISTRIBUTING = "Distributing"  # 11.1/11.4 sent, its answer not seen
    AWAITING_RECEIPT = "AwaitingReceipt"  # distributed; FirmwareReceipt not seen (R9)
    SKIPPED = "Skipped"  # a DSPUpdateFirmwareWarning named it (R9)
    ACTIVATING = "Activating"  # 11.3 sent
    SCHEDULED = "Scheduled"  # future-dated 11.3 accepted; 0x8F66/0x8F67 awaited (R7)
    BACKOFF = "Backoff"  # the 11.3 answer was lost (R8); a retry is due
    ACTIVATED = "Activated"  # the device reported the target version
    FAILED = "Failed"  # a refusal, an activation failure or a bad receipt
    GAVE_UP = "GaveUp"  # every attempt's answer was lost
    UNCONFIRMED = "Unconfirmed"  # answered without a version (SMETS1 retry), or no receipt


class UpgradeEvent(StrEnum):
    SEND_DISTRIBUTION = "send-distribution"
    WARNED = "warned"
    DISTRIBUTED = "distributed"
    RECEIPT_BAD = "receipt-bad"  # hash_matches false (R9)
    RECEIPT_MISSING = "receipt-missing"  # one step: no receipt within receipt_wait
    SEND_ACTIVATION = "send-activation"
    ACCEPTED = "accepted"
    CONFIRMED = "confirmed"  # the target version reported (R5: the code is no criterion)
    REFUSED = "refused"
    NO_VERSION = "no-version"
    LOST = "lost"
    GIVE_UP = "give-up"


_S, _E = UpgradeState, UpgradeEvent
DEVICE_TRANSITIONS: TransitionTable[UpgradeState, UpgradeEvent] = TransitionTable(
    {
        (_S.QUEUED, _E.SEND_DISTRIBUTION): _S.DISTRIBUTING,
        (_S.DISTRIBUTING, _E.WARNED): _S.SKIPPED,
        (_S.DISTRIBUTING, _E.DISTRIBUTED): _S.AWAITING_RECEIPT,
        (_S.DISTRIBUTING, _E.LOST): _S.AWAITING_RECEIPT,  # the 11.1 answer never came
        (_S.DISTRIBUTING, _E.REFUSED): _S.FAILED,
        (_S.DISTRIBUTING, _E.RECEIPT_BAD): _S.FAILED,
        (_S.DISTRIBUTING, _E.SEND_ACTIVATION): _S.ACTIVATING,  # the receipt came first
        (_S.DISTRIBUTING, _E.CONFIRMED): _S.ACTIVATED,  # a PPMID's receipt came first
        (_S.AWAITING_RECEIPT, _E.SEND_ACTIVATION): _S.ACTIVATING,
        (_S.AWAITING_RECEIPT, _E.RECEIPT_BAD): _S.FAILED,
        (_S.AWAITING_RECEIPT, _E.RECEIPT_MISSING): _S.UNCONFIRMED,
        (_S.AWAITING_RECEIPT, _E.CONFIRMED): _S.ACTIVATED,
        (_S.AWAITING_RECEIPT, _E.REFUSED): _S.FAILED,
        (_S.ACTIVATING, _E.ACCEPTED): _S.SCHEDULED,
        (_S.ACTIVATING, _E.CONFIRMED): _S.ACTIVATED,
        (_S.ACTIVATING, _E.REFUSED): _S.FAILED,
        (_S.ACTIVATING, _E.NO_VERSION): _S.UNCONFIRMED,
        (_S.ACTIVATING, _E.LOST): _S.BACKOFF,
        (_S.ACTIVATING, _E.GIVE_UP): _S.GAVE_UP,
        (_S.SCHEDULED, _E.ACCEPTED): _S.SCHEDULED,
        (_S.SCHEDULED, _E.CONFIRMED): _S.ACTIVATED,
        (_S.SCHEDULED, _E.REFUSED): _S.FAILED,
        (_S.SCHEDULED, _E.NO_VERSION): _S.UNCONFIRMED,
        (_S.SCHEDULED, _E.LOST): _S.BACKOFF,
        (_S.SCHEDULED, _E.GIVE_UP): _S.GAVE_UP,
        (_S.BACKOFF, _E.SEND_ACTIVATION): _S.ACTIVATING,
        (_S.BACKOFF, _E.CONFIRMED): _S.ACTIVATED,
        (_S.BACKOFF, _E.REFUSED): _S.FAILED,
        (_S.BACKOFF, _E.NO_VERSION): _S.UNCONFIRMED,
        (_S.FAILED, _E.CONFIRMED): _S.ACTIVATED,
        (_S.GAVE_UP, _E.CONFIRMED): _S.ACTIVATED,
        (_S.UNCONFIRMED, _E.CONFIRMED): _S.ACTIVATED,
    }
)

# Where the activation is settled: the campaign moves on when every device is in one.
SETTLED = frozenset(
    {_S.SKIPPED, _S.ACTIVATED, _S.FAILED, _S.GAVE_UP, _S.UNCONFIRMED},
)


def device_allows(state: UpgradeState, event: UpgradeEvent) -> bool:
    return (state, event) in DEVICE_TRANSITIONS


@dataclass(slots=True)
class DeviceProgress:
    """Everything the campaign learnt about one device (the report is made from it)."""

    device_id: str
    target: FirmwareTarget
    state: UpgradeState = UpgradeState.QUEUED
    distribution: str | None = None  # the request ID of its 11.1/11.4
    warning: str | None = None  # the DSPUpdateFirmwareWarning list that named it
    distributed: bool | None = None
    receipt_hash_ok: bool | None = None
    attempts: int = 0  # 11.3 sent (an 11.4 for a one-step device)
    e21: int = 0
    lost: int = 0  # answers not seen within response_wait
    confirmed_by: int | None = None  # the attempt whose answer reported the target version
    code: int | None = None  # the last ActivateImageResponseCode reported
    version: str | None = None  # the last version reported by an activation answer
    errors: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    read_code: str | None = None  # the 11.2 answer (R5)
    read_version: str | None = None
    inventory: dict[str, object] | None = None  # the last 8.2 record

    @property
    def settled(self) -> bool:
        return self.state in SETTLED

    def step(self, event: UpgradeEvent) -> None:
        self.state = DEVICE_TRANSITIONS.next(f"device {self.device_id}", self.state, event)
