"""A comms hub's status on the bus (`{root}/ch/{ch_id}/status`, docs/rig-link.md §6):
the JSON a bridge publishes, read into a `HubStatusChanged` (D-E1). Pydantic at the
edge; a bad message names its field."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, StrictBool, ValidationError

from .errors import InvalidHubStatusError, InvalidRequestError
from .events import HubStatusChanged
from .ids import to_duis

WITHDRAWN = "status withdrawn (its retained message was cleared): online by default"


class HubStatusMessage(BaseModel):
    """The fields the DSP reads; the bridges' others (`link`, `hub`, `devices`, ...) are
    theirs to add to."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    online: StrictBool
    reason: str = ""
    at: AwareDatetime | None = None
    ch_id: str | None = None


def parse_hub_status(ch_id: str, payload: bytes, now: datetime) -> HubStatusChanged:
    """The event for a status message on hub `ch_id`'s topic; an empty payload (the
    retained status cleared) puts the hub back to the default, online."""
    hub = to_duis(ch_id)
    if not payload:
        return HubStatusChanged(hub, True, WITHDRAWN, now)
    try:
        message = HubStatusMessage.model_validate_json(payload)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "message"
        raise InvalidHubStatusError(f"status of hub {hub}: {where}: {error['msg']}") from exc
    if message.ch_id is not None and _duis_or_none(message.ch_id) != hub:
        raise InvalidHubStatusError(
            f"status of hub {hub}: ch_id {message.ch_id!r} is another hub than its topic's"
        )
    return HubStatusChanged(hub, message.online, message.reason, now, message.at)


def _duis_or_none(value: str) -> str | None:
    try:
        return to_duis(value)
    except InvalidRequestError:
        return None
