"""The DSP's own records: the journal and what it knows of each comms hub's link.

The vocabulary it shares with the other parts (SMI and CPL records, statuses, device
types, roles) is in `contract/vocabulary.py`; its answer codes in `contract/codes.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from datetime import datetime
from enum import StrEnum
from typing import Any

from contract.records import record


class JournalKind(StrEnum):
    REQUEST = "request"
    RESPONSE = "response"
    ALERT = "alert"
    COMMAND = "command"
    DEVICE_MESSAGE = "device-message"
    STATUS_CHANGE = "status-change"
    FIRMWARE_CHANGE = "firmware-change"
    CPL_CHANGE = "cpl-change"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    HUB_STATUS = "hub-status"  # a comms hub's link went online or offline (D-E1)


@record
class JournalEntry:
    """One line of the append-only event journal."""

    at: datetime
    kind: JournalKind
    device_id: str | None = None
    user_id: str | None = None
    request_id: str | None = None
    code: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@record
class HubStatus:
    """What the DSP last took from a comms hub's status topic (D-E1): whether the DSP can
    communicate with the devices behind it. A hub with no record is online (emulated
    hubs publish no status)."""

    ch_id: str
    online: bool
    reason: str
    since: datetime  # DSP time at which the hub went online or offline
    reported_at: datetime | None = None  # the publisher's `at` of the status last taken


@record
class DeadLetter:
    """A bus message the DSP could not handle (issue 18, D-P1): kept with its reason and
    acknowledged, so that it is not delivered again for ever (`smetslab dsp
    --dead-letters` prints them)."""

    topic: str
    payload: bytes
    reason: str
    at: datetime  # DSP time (the shared clock) when it was set aside
