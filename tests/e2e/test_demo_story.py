"""The MP105 story over MQTT, end to end (DESIGN §3, R4 to R8; issue: the bus): on the
embedded broker and on a private mosquitto; with the MP105 switch off; with the DSP
restarted in the middle of the campaign; with the broker restarted under everyone."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bus.mosquitto import running_mosquitto
from contract.vocabulary import SmiStatus
from dsp_core.model import JournalKind
from dsp_core.store import SqlStore
from hil.campaign.model import CampaignModel
from hil.demo import DemoOptions, DemoRun, DemoSummary
from hil.errors import DemoError
from hil.lab.stack import Stack
from smetslab.cli import app
from tests.support.brokers import Mosquitto, require_mosquitto
from tests.support.demo import (
    RESPONSE_TIMEOUT,
    SCALE,
    assert_e21_for_each_lost,
    assert_recovered,
    demo_options,
    journal_entries,
    settled,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dsp.sqlite'}"


def options(tmp_path: Path, **changes: object) -> DemoOptions:
    return demo_options(sqlite_url(tmp_path), **changes)


async def journal_counts(tmp_path: Path) -> Counter[tuple[str, str | None]]:
    store = await SqlStore.open(sqlite_url(tmp_path))
    try:
        return Counter([(str(e.kind), e.code) async for e in store.journal()])
    finally:
        await store.close()


async def assert_alerted_once(tmp_path: Path, summary: DemoSummary) -> None:
    """R5: one N29 per restored device, to the supplier and the network operator, in the
    DSP's journal: none lost, none doubled, whatever the bus did."""
    journal = await journal_counts(tmp_path)
    assert journal[JournalKind.ALERT, "N29"] == 2 * summary.suspended
    assert journal[JournalKind.ALERT, "N28"] == summary.suspended


async def test_the_story_on_the_embedded_broker(tmp_path: Path) -> None:
    """The demo as shipped: GBCS security on (issue 17, D-SEC10). The DSP MACs every
    command and answers each 11.3 with a pre-command the campaign signs (CV 5); every
    device answer is signed or MACed, and the campaign finds each one valid."""
    summary = await DemoRun(options(tmp_path)).run()
    assert_recovered(summary)
    security = summary.to_json()["security"]
    assert security["pre_commands_signed"] > 0
    assert security["messages_checked"] > 0
    assert security["messages_valid"] == security["messages_checked"], security
    assert summary.alerts["N29"] == summary.suspended  # one broker, no restart: exactly once
    assert summary.responses_lost > 0
    assert summary.alerts["N52"] > 0  # a stale GPF mirror (R6)
    assert_e21_for_each_lost(await journal_entries(sqlite_url(tmp_path)), summary.responses_lost)
    await assert_alerted_once(tmp_path, summary)
    assert summary.report is not None
    assert summary.report.totals.unexpected == 0


async def test_with_security_off_the_story_runs_as_in_labs_before_it(tmp_path: Path) -> None:
    """`--security off` (D-SEC10): unprotected messages, no pre-command, nothing judged;
    the MP105 outcome is the same."""
    summary = await DemoRun(options(tmp_path, security=False)).run()
    assert_recovered(summary)
    assert summary.report is not None
    assert summary.report.totals.unexpected == 0
    assert "security" not in summary.to_json()
    assert_e21_for_each_lost(await journal_entries(sqlite_url(tmp_path)), summary.responses_lost)
    journal = await journal_entries(sqlite_url(tmp_path))
    variants = Counter(
        e.detail["cv"]
        for e in journal
        if e.kind is JournalKind.REQUEST and e.detail.get("srv") == "11.3"
    )
    assert variants[4] > 0  # each 11.3 a CV 4, sent at once: no pre-command to sign
    assert variants[5] == 0


async def test_the_story_on_mosquitto(tmp_path: Path, mosquitto_broker: Mosquitto) -> None:
    summary = await DemoRun(options(tmp_path, broker=mosquitto_broker.url)).run()
    assert_recovered(summary)
    await assert_alerted_once(tmp_path, summary)


async def test_without_mp105_the_devices_whose_response_was_lost_stay_stranded(
    tmp_path: Path,
) -> None:
    """R3 and R5 with the switch off: a code-1 retry does not update the SMI and 11.2 to a
    Suspended device gets E5, so the devices whose 11.3 response was lost stay behind."""
    summary = await DemoRun(options(tmp_path, mp105=False)).run()
    assert summary.smi_mismatches > 0
    assert summary.still_suspended == summary.smi_mismatches + summary.smets1_mismatches
    journal = await journal_counts(tmp_path)
    assert journal[JournalKind.RESPONSE, "E5"] > 0


def test_the_command_exits_non_zero_when_an_smets2_device_is_stranded() -> None:
    runner = CliRunner()
    pace = ["--scale", str(SCALE), "--response-timeout", str(RESPONSE_TIMEOUT.total_seconds())]
    demo = ["demo", "--premises", "12", "--seed", "4", *pace, "--json"]
    on = runner.invoke(app, demo)
    off = runner.invoke(app, [*demo, "--mp105", "off"])
    assert on.exit_code == 0, on.output
    assert json.loads(on.stdout)["smi_mismatches"] == 0
    assert off.exit_code != 0
    assert json.loads(off.stdout)["smi_mismatches"] > 0


async def device_answers_piled_up(lab: Stack) -> None:
    """Until devices have answered while the DSP is away (an activation or a download
    done: a response or a receipt goes up) and the broker holds what they sent, queued in
    the DSP's session."""
    events = lab.journal.events
    before = events["activated"] + events["download_complete"]
    await wait_until(
        lambda: events["activated"] + events["download_complete"] > before,
        30,
        "a device to answer while the DSP is away",
    )
    assert lab.fleet is not None
    await lab.fleet.bus.drain()


async def test_a_dsp_restart_in_the_middle_of_the_campaign_loses_nothing(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    """QoS 1, a persistent session and the store: what was sent to the DSP while it was
    down is handled when it is back, on the SMI it left."""
    store_url = f"sqlite:///{tmp_path / 'dsp.sqlite'}"

    async def restart_dsp(lab: Stack, model: CampaignModel) -> None:
        await settled(model, 5)
        await lab.stop_part("dsp")
        await device_answers_piled_up(lab)
        await lab.start_dsp(await SqlStore.open(store_url))

    # the broker must keep what the DSP had not taken while it restarts (D-O3)
    kept = options(tmp_path, broker=mosquitto_broker.url, persistent_sessions=True)
    run = DemoRun(kept, interlude=restart_dsp)
    summary = await run.run()
    assert_recovered(summary)
    await assert_alerted_once(tmp_path, summary)
    smi = {d.device_id: d for d in await _devices(store_url)}
    assert all(d.status is not SmiStatus.SUSPENDED for d in smi.values())


async def test_after_a_broker_restart_every_process_reconnects_and_the_campaign_completes(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    async def restart_broker(lab: Stack, model: CampaignModel) -> None:
        await settled(model, 5)
        await asyncio.to_thread(mosquitto_broker.restart)

    kept = options(tmp_path, broker=mosquitto_broker.url, persistent_sessions=True)
    run = DemoRun(kept, interlude=restart_broker)
    summary = await run.run()
    assert_recovered(summary)
    await assert_alerted_once(tmp_path, summary)


async def _devices(url: str) -> list:  # type: ignore[type-arg]
    store = await SqlStore.open(url)
    try:
        return await store.devices()
    finally:
        await store.close()


async def test_the_story_with_the_dsp_in_a_process_of_its_own(
    tmp_path: Path, mosquitto_broker: Mosquitto
) -> None:
    """D18: `smetslab dsp` as a worker process on the seeded SQLite file, the fleet and
    the campaign in this one: the same story, the same journal."""
    run = DemoRun(options(tmp_path, broker=mosquitto_broker.url, dsp_processes=1))
    summary = await run.run()
    assert_recovered(summary)
    await assert_alerted_once(tmp_path, summary)
    # R8 there too: an E21 for each response lost, any other one answered late
    assert_e21_for_each_lost(await journal_entries(sqlite_url(tmp_path)), summary.responses_lost)


async def test_a_broker_that_drops_messages_is_named_as_the_likely_cause(tmp_path: Path) -> None:
    """A stock mosquitto drops QoS 1 messages past a client's queue limit; the CPL
    removal's burst of N28s then never all arrives, and the demo says so, naming the
    setting, instead of failing with a bare time-out."""
    require_mosquitto()
    (tmp_path / "broker").mkdir()
    with running_mosquitto(tmp_path / "broker", queue_limit=2) as broker:
        # the dropped alerts never come (no event says so): 2 s bounds the wait for them
        run = DemoRun(options(tmp_path, broker=broker.url, alerts_within=2.0))
        pattern = r"of the \d+ N28 alerts arrived in 2 s: its DSP raised .*max_queued_messages"
        with pytest.raises(DemoError, match=pattern):
            await run.run()


def test_the_table_shows_the_signatures_and_verdicts_or_that_security_was_off() -> None:
    """Issue 17: the demo's table counts the signed pre-commands and the device answers
    judged; with `--security off` one row says so, and nothing was signed."""
    runner = CliRunner()
    pace = ["--scale", str(SCALE), "--response-timeout", str(RESPONSE_TIMEOUT.total_seconds())]
    demo = ["demo", "--premises", "6", "--seed", "4", *pace]
    on = runner.invoke(app, demo)
    off = runner.invoke(app, [*demo, "--security", "off"])
    assert on.exit_code == 0, on.output
    rows = {
        line.strip("│ ").rsplit("│", 1)[0].strip(): line.rsplit("│", 2)[-2].strip()
        for line in on.stdout.splitlines()
        if line.count("│") == 3
    }
    assert int(rows["11.3 pre-commands signed (CV 5)"]) > 0
    checked = int(rows["device answers checked (signature or MAC)"])
    assert checked > 0
    assert int(rows["valid"]) == checked
    assert off.exit_code == 0, off.output
    assert "GBCS security" in off.stdout
    assert "pre-commands signed" not in off.stdout
