"""The recorded exchange of a conformance run: what was sent, what came back, when.

Data only (the checks are pure functions over it, `checks.py`). Every time is device
time on the shared clock (DESIGN §6). GBCS bytes are kept exactly as seen: the
`gbcs_payload` of a response or alert (base64 of the device's bytes, DESIGN §3), or the
raw bytes on the device's hub topics when the run observes them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from hil.security import MessageVerdict

from .target import FirmwareImage


class ConformanceStep(StrEnum):
    """The steps of a run, in order (docs/conformance.md)."""

    INVENTORY_BEFORE = "inventory-before"  # 8.2: device type, hub, SMI before
    DISTRIBUTE = "distribute"  # 11.1 of the first image, when it is given (R9)
    ACTIVATE = "activate"  # 11.3 at once (R10)
    DISTRIBUTE_SECOND = "distribute-second"  # 11.1 of the second image
    ACTIVATE_FUTURE = "activate-future-dated"  # 11.3 with an execution time (R7)
    ACTIVATE_REPEAT = "activate-repeat"  # 11.3 at once of the running image (R10)
    READ_VERSION = "read-version"  # 11.2 (R5)
    INVENTORY_AFTER = "inventory-after"  # 8.2: the SMI after (R5)


class Source(StrEnum):
    REQUEST = "request"  # sent to {root}/dsp/requests/{user}
    RESPONSE = "response"  # from {root}/users/{user}/responses
    ALERT = "alert"  # from {root}/users/{user}/alerts
    HUB_DOWN = "hub-down"  # seen on {root}/ch/{ch}/down, for the device
    HUB_UP = "hub-up"  # seen on {root}/ch/{ch}/up, from the device
    NOTE = "note"  # the run's own remark: a time-out, an unreadable message


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the timeline."""

    index: int
    at: datetime
    source: Source
    step: ConformanceStep | None
    content: Mapping[str, Any] | None = None  # the JSON of a request, response or alert
    gbcs: bytes | None = None  # device bytes carried or seen
    note: str = ""

    @property
    def request_id(self) -> str | None:
        found = (self.content or {}).get("request_id")
        return found if isinstance(found, str) else None

    @property
    def code(self) -> str | None:
        """The response code of a response, the alert code of an alert."""
        content = self.content or {}
        key = "alert_code" if self.source is Source.ALERT else "response_code"
        found = content.get(key)
        return found if isinstance(found, str) else None

    @property
    def body(self) -> Mapping[str, Any]:
        found = (self.content or {}).get("body")
        return found if isinstance(found, Mapping) else {}

    @property
    def device_id(self) -> str | None:
        found = (self.content or {}).get("device_id")
        return found.upper() if isinstance(found, str) else None


@dataclass(frozen=True, slots=True)
class StepRun:
    """One step as it was run: its request and how it ended."""

    step: ConformanceStep
    srv: str
    counter: int | None = None  # the request's OriginatorCounter; None: never sent
    request_id: str | None = None
    sent_at: datetime | None = None
    ended_at: datetime | None = None
    timed_out: bool = False
    missing: tuple[str, ...] = ()  # what it was still waiting for when it timed out
    firmware: FirmwareImage | None = None  # what an 11.1 or 11.3 carried
    execution: datetime | None = None  # the future-dated 11.3's execution time

    @property
    def sent(self) -> bool:
        return self.request_id is not None


@dataclass(frozen=True, slots=True)
class Recording:
    """Everything a run saw, for the checks and the reports."""

    user_id: str
    device_id: str
    firmware: FirmwareImage
    second_firmware: FirmwareImage
    tolerance: timedelta
    steps: tuple[StepRun, ...]
    entries: tuple[Entry, ...]
    started: datetime
    finished: datetime
    # entry index -> the verdict on its device message's signature and MAC; None when
    # the lab's security is off (nothing was signed or checked, D-SEC25)
    verdicts: Mapping[int, MessageVerdict] | None = None

    def step(self, step: ConformanceStep) -> StepRun | None:
        return next((run for run in self.steps if run.step is step), None)


def gbcs_of(content: Mapping[str, Any]) -> bytes | None:
    """The device bytes a response or alert carries (`body.gbcs_payload`, base64)."""
    body = content.get("body")
    found = body.get("gbcs_payload") if isinstance(body, Mapping) else None
    if not isinstance(found, str):
        return None
    try:
        return base64.b64decode(found, validate=True)
    except (binascii.Error, ValueError):
        return None
