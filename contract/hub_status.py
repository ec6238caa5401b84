"""A comms hub's status (`{root}/ch/{ch_id}/status`, retained; docs/rig-link.md §6):
what a bridge says of its link to the hub, written by the bridges and read by the DSP
(D-E1) from this one model.

`online`, `reason` and `at` are what the DSP reads; `link` and the bridge's own fields
(`hub`, `radio`, `devices`, ...) are for people and tools watching the lab. Pydantic
at the reading edge; a bad message names its field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, StrictBool, ValidationError

from .errors import InvalidHubStatusError, InvalidIdError
from .ids import to_duis
from .times import iso
from .validation import describe

WITHDRAWN = "status withdrawn (its retained message was cleared): online by default"


@dataclass(frozen=True, slots=True)
class HubStatusReport:
    """One hub status message. A hub with no status (emulated hubs publish none) and a
    status withdrawn (the retained message cleared) are online."""

    ch_id: str
    online: bool
    reason: str
    at: datetime | None = None
    link: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)  # the bridge's own fields

    def to_json(self) -> bytes:
        message: dict[str, Any] = {"ch_id": self.ch_id, "online": self.online}
        if self.link is not None:
            message["link"] = self.link
        message.update(self.details)
        message["reason"] = self.reason
        if self.at is not None:
            message["at"] = iso(self.at)
        return json.dumps(message).encode()


class HubStatusMessage(BaseModel):
    """The fields the DSP reads; the bridges' others are theirs to add to."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    online: StrictBool
    reason: str = ""
    at: AwareDatetime | None = None
    ch_id: str | None = None
    link: str | None = None


def read_hub_status(ch_id: str, payload: bytes) -> HubStatusReport:
    """The status on hub `ch_id`'s topic (`ch_id` in the DUIS form in the result); an
    empty payload (the retained status cleared) puts the hub back to online."""
    hub = to_duis(ch_id)
    if not payload:
        return HubStatusReport(hub, True, WITHDRAWN)
    try:
        message = HubStatusMessage.model_validate_json(payload)
    except ValidationError as exc:
        raise InvalidHubStatusError(f"status of hub {hub}: {describe(exc, first=True)}") from exc
    if message.ch_id is not None and _duis_or_none(message.ch_id) != hub:
        raise InvalidHubStatusError(
            f"status of hub {hub}: ch_id {message.ch_id!r} is another hub than its topic's"
        )
    return HubStatusReport(hub, message.online, message.reason, message.at, message.link)


def _duis_or_none(value: str) -> str | None:
    try:
        return to_duis(value)
    except InvalidIdError:
        return None
