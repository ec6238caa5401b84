"""Comms hub status (D-E1): what a bridge says of its hub on `{root}/ch/{ch_id}/status`
is recorded, and a device SR to a device behind an offline hub is answered E20 ("unable
to communicate with the device", DESIGN §3) at once, with no command sent."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from contract.errors import InvalidHubStatusError
from contract.hub_status import read_hub_status
from contract.times import iso
from contract.vocabulary import Device

from .events import HubStatusChanged
from .model import HubStatus, JournalKind
from .turn import Turn

log = logging.getLogger(__name__)

# How far ahead of the shared clock a hub status's `at` may be (a bridge's clock, or its
# reading of the shared one, a little ahead); later is refused (issue 18, D-P5).
STATUS_SKEW = timedelta(minutes=5)


def parse_hub_status(
    ch_id: str, payload: bytes, now: datetime, wall: datetime | None = None
) -> HubStatusChanged:
    """The event for a message on hub `ch_id`'s status topic (contract/hub_status.py);
    `InvalidHubStatusError` names a bad field. A bridge stamps `at` with its wall clock,
    so `at` may be no later than the later of the shared clock's `now` and the wall
    clock (`wall`), plus `STATUS_SKEW` (issue 18, D-P5)."""
    report = read_hub_status(ch_id, payload)
    latest = max(now, wall or now) + STATUS_SKEW
    if report.at is not None and report.at > latest:
        # one status from year 9999 would hold the hub offline for good (issue 18)
        raise InvalidHubStatusError(
            f"status of hub {report.ch_id}: at {report.at.isoformat()} is ahead of the "
            f"clocks ({latest.isoformat()} with a skew of {STATUS_SKEW})"
        )
    return HubStatusChanged(report.ch_id, report.online, report.reason, now, report.at)


def on_hub_status(turn: Turn, ch_id: str, event: HubStatusChanged) -> None:
    """Record a hub's status. One already taken (every DSP worker gets every status;
    the broker may deliver one twice) or older than the one taken changes nothing."""
    old = turn.state.hub_status(ch_id)
    if old is not None and _taken(old, event):
        log.debug("hub %s: status of %s already taken or older", ch_id, event.reported_at)
        return
    since = old.since if old is not None and old.online == event.online else event.at
    hub = HubStatus(ch_id, event.online, event.reason, since, event.reported_at)
    turn.state.put_hub_status(hub)
    turn.journal(
        JournalKind.HUB_STATUS,
        device_id=ch_id,
        code="online" if hub.online else "offline",
        detail=_journal_detail(hub, old),
    )
    if old is None or old.online != hub.online:
        log.info("hub %s: %s (%s)", ch_id, "online" if hub.online else "offline", hub.reason)


def _taken(old: HubStatus, event: HubStatusChanged) -> bool:
    if event.reported_at is not None and old.reported_at is not None:
        return event.reported_at <= old.reported_at
    return (old.online, old.reason, old.reported_at) == (
        event.online,
        event.reason,
        event.reported_at,
    )


def _journal_detail(hub: HubStatus, old: HubStatus | None) -> dict[str, Any]:
    return {
        "online": hub.online,
        "reason": hub.reason,
        "since": iso(hub.since),
        "reported_at": None if hub.reported_at is None else iso(hub.reported_at),
        "previous": None if old is None else old.online,
    }


def offline_hub(turn: Turn, device: Device) -> HubStatus | None:
    """The status of the device's hub when it is recorded offline; None when the DSP can
    communicate with the device (a hub with no status is online)."""
    hub = turn.state.hub_status(device.comms_hub_id)
    return hub if hub is not None and not hub.online else None


def unable_to_communicate(hub: HubStatus, device: Device) -> dict[str, Any]:
    """The body of E20 for a device behind the offline `hub`."""
    return {
        "reason": f"comms hub {hub.ch_id} of device {device.device_id} is offline "
        f"since {iso(hub.since)}: {hub.reason}",
        "ch_id": hub.ch_id,
    }
