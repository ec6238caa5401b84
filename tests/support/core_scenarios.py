"""Steps of the DSP core's scenarios on a `CoreBench`, shared by the core's unit tests
(tests/unit/dsp_core) and the store tests that replay them on SQLite and PostgreSQL
(tests/integration/test_store_parity.py, test_store_workers.py): a device Suspended
(R4), the four sources of a firmware report (R5), a hub status as the service makes it
an event (D-E1)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import gbcs
from contract.ids import to_compact
from contract.vocabulary import CplStatus, Device, SmiStatus
from dsp_core.events import Action, HubStatusChanged
from tests.support.core_bench import HUB, OLD, CoreBench, codes, commands, cpl_for, only

BRIDGE_T0 = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)  # the bridge's wall clock


def suspended(lab: CoreBench, dev: Device, version: str = OLD) -> None:
    """R4: remove the CPL entry of the device's version, so that it is Suspended."""
    lab.cpl(cpl_for(dev, version, CplStatus.REMOVED))
    assert lab.smi(dev).status is SmiStatus.SUSPENDED


# ---- R5: the sources of a firmware report -------------------------------------------


def via_11_3(lab: CoreBench, dev: Device, version: str) -> list[Action]:
    return lab.reply_activate(lab.activate(dev, version), version, code=0)


def via_11_3_retry(lab: CoreBench, dev: Device, version: str) -> list[Action]:
    """The MP105 story: the first 11.3 response is lost, the retry answers code 1."""
    lab.activate(dev, version)
    assert codes(lab.tick(timedelta(minutes=2))) == ["E21"]
    return lab.reply_activate(lab.activate(dev, version), version, code=1)


def via_11_2(lab: CoreBench, dev: Device, version: str) -> list[Action]:
    return lab.reply_read(lab.read(dev), version)


def via_8f66(lab: CoreBench, dev: Device, version: str) -> list[Action]:
    sent = lab.activate(dev, version, execution="2030-01-01T10:00:00Z")
    command = only(commands(sent))
    assert codes(
        lab.deliver(command.ch_id, lab.answer(command, gbcs.ActivateFirmwareAccepted()))
    ) == ["I0"]
    lab.now += timedelta(hours=1)
    return lab.deliver(command.ch_id, lab.activation_alert(command, version))


SOURCES: dict[str, Callable[[CoreBench, Device, str], list[Action]]] = {
    "11.3 response": via_11_3,
    "11.3 retry, code 1": via_11_3_retry,
    "11.2 response": via_11_2,
    "0x8F66 alert": via_8f66,
}


# ---- D-E1: a hub's status ----------------------------------------------------------


def status(
    lab: CoreBench,
    online: bool,
    reason: str = "the port failed: EIO",
    *,
    reported_after: float | None = 0.0,
    hub: str = HUB,
) -> list[Action]:
    """A status as the service turns it into an event (the ID in the topic's form)."""
    reported = None if reported_after is None else BRIDGE_T0 + timedelta(seconds=reported_after)
    return lab.run(HubStatusChanged(to_compact(hub), online, reason, lab.now, reported))
