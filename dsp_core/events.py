"""What goes into the DSP core (events) and what comes out (actions).

All frozen dataclasses; times are given by the caller, the core reads no clock.
"""

from __future__ import annotations

from datetime import datetime

from contract.records import record
from contract.responses import Alert, Response
from contract.vocabulary import CplEntry

# ---- events: into the core ---------------------------------------------------------


@record
class RequestReceived:
    """A service request as it came off `{root}/dsp/requests/{user_id}` (JSON bytes)."""

    user_id: str
    payload: bytes
    at: datetime


@record
class DeviceMessageReceived:
    """One GBCS APDU as it came off `{root}/ch/{ch_id}/up`."""

    ch_id: str
    data: bytes
    at: datetime


@record
class ClockTicked:
    at: datetime


@record
class CplChanged:
    """A CPL entry added or changed (R4)."""

    entry: CplEntry
    at: datetime


@record
class MessageRefused:
    """A bus message the service could not turn into another event (an unknown topic, an
    oversized payload, a bad CPL change). It is journalled; when it came from a service
    user (`user_id`, DUIS form) the user is answered too (DESIGN §3)."""

    topic: str
    reason: str
    at: datetime
    user_id: str | None = None
    request_id: str | None = None  # a request's ID, when it could be read (issue 18)


@record
class HubStatusChanged:
    """A comms hub's status as it came off the retained `{root}/ch/{ch_id}/status`
    (docs/rig-link.md §6, D-E1): `online` and the `reason` the bridge gave; `at` is the
    DSP's time, `reported_at` the bridge's own `at` when it sent one (it orders statuses
    and spots one taken already)."""

    ch_id: str
    online: bool
    reason: str
    at: datetime
    reported_at: datetime | None = None


Event = (
    RequestReceived
    | DeviceMessageReceived
    | ClockTicked
    | CplChanged
    | MessageRefused
    | HubStatusChanged
)

# ---- actions: out of the core ------------------------------------------------------


@record
class SendResponse:
    user_id: str
    response: Response


@record
class SendAlert:
    user_id: str
    alert: Alert


@record
class SendCommand:
    """One GBCS command for the comms hub `ch_id` (its recipient is `device_id`)."""

    ch_id: str
    device_id: str
    data: bytes


Action = SendResponse | SendAlert | SendCommand
