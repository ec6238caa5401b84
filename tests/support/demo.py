"""The demo story as the e2e tests run it (tests/e2e/test_demo_story.py,
test_dsp_workers.py, test_scale_out.py): its pace, and what R5 and R8 make it show.

The story runs at twice the demo's scale (mostly GSMEs asleep for 5 minutes and their
15-minute time-outs: about 8 s of wall time), with a response time-out of 10 minutes
rather than 1: a SMETS1 activation of 45 s then has 555 device seconds (over 2 s of
wall time) before its E21, so a process starved on a loaded machine cannot turn its
answer into an E21, and the tests can hold R8 exactly: an E21 for each response lost,
and none other. A GSME's time-out (15 minutes) is the longer still, so the story takes
no longer for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from dsp_core.model import JournalEntry, JournalKind
from dsp_core.store import SqlStore
from hil.campaign.device import UpgradeState
from hil.campaign.model import CampaignModel
from hil.demo import DemoOptions, DemoSummary
from tests.support.waiting import wait_until

PREMISES = 24
SCALE = 240.0  # device seconds per wall second
RESPONSE_TIMEOUT = timedelta(minutes=10)


def demo_options(store_url: str, **changes: Any) -> DemoOptions:
    fields: dict[str, Any] = {
        "premises": PREMISES,
        "seed": 11,
        "store_url": store_url,
        "scale": SCALE,
        "response_timeout": RESPONSE_TIMEOUT,
    }
    return DemoOptions(**(fields | changes))


async def journal_entries(store_url: str) -> list[JournalEntry]:
    store = await SqlStore.open(store_url)
    try:
        return [entry async for entry in store.journal()]
    finally:
        await store.close()


def assert_e21_for_each_lost(journal: Sequence[JournalEntry], lost: int) -> None:
    """R8 (D14, D-W4): an E21 for every response really lost (`lost`: the fleet's fault
    journal, the CS06 responses dropped), none for an answer that came, and none twice."""
    timed_out = [
        e.request_id for e in journal if e.kind is JournalKind.RESPONSE and e.code == "E21"
    ]
    assert len(timed_out) == len(set(timed_out)), "a request was answered E21 twice"
    assert len(timed_out) == lost, f"{len(timed_out)} E21s for {lost} responses lost"


def assert_n52_only_for_mismatches(journal: Sequence[JournalEntry]) -> int:
    """R6: every N52 names a GSME whose version in the SMI is not the one its GPF's
    mirror reported, and is raised once (to the requester); the count of them."""
    n52 = [e for e in journal if e.kind is JournalKind.ALERT and e.code == "N52"]
    for entry in n52:
        smi, gpf = (
            entry.detail.get("smi_firmware_version"),
            entry.detail.get("gpf_firmware_version"),
        )
        assert smi, f"N52 without the SMI version: {dict(entry.detail)}"
        assert gpf, f"N52 without the GPF's version: {dict(entry.detail)}"
        assert smi != gpf, f"N52 without a mismatch: {dict(entry.detail)}"
    keys = [(e.detail.get("gpf_id"), e.request_id) for e in n52]
    assert len(keys) == len(set(keys)), "an N52 raised twice for one read"
    return len(n52)


def assert_recovered(summary: DemoSummary) -> None:
    """R5 with MP105: every SMETS2 device's SMI version is the one it runs, none left
    Suspended, and every lost 11.3 response was recovered by a retry or by 11.2."""
    assert summary.smi_mismatches == 0
    assert summary.still_suspended == 0
    assert summary.suspended > 0
    assert summary.activated == summary.suspended
    assert summary.recovered_by_retry + summary.recovered_by_read > 0
    # the summary's outcome rows: every device in exactly one
    assert sum(summary.outcomes.values()) == summary.devices
    assert summary.outcomes["retry"] == summary.recovered_by_retry
    assert summary.outcomes["read"] == summary.recovered_by_read
    assert summary.outcomes["not_recovered"] == 0


async def settled(model: CampaignModel, count: int) -> None:
    """Until `count` devices of the campaign are activated."""
    await wait_until(
        lambda: model.count_in(UpgradeState.ACTIVATED) >= count,
        60,
        f"{count} devices activated in the campaign",
    )
