"""A scenario on a lab (`smetslab hil run`): the sans-IO `ScenarioModel` fed with what the
lab's service users receive, its instructions carried out on the lab, its waits on the
shared clock. The only part of the scenarios that does I/O.

    async with Lab(env) as lab:
        result = await run_scenario(lab, load_scenario(path), transcript=Path("run.jsonl"))
        result.passed, result.failure

When the run ends, whatever it switched (the DSP's MP105 switch) is put back and the
fault rules it added are taken out, so that the next scenario finds the lab as it was;
the transcript (JSONL) gets the DSP journal entries of the run, each under the step that
was running when the DSP wrote it (hil/scenarios/transcript.py compares two of them).
"""

from __future__ import annotations

import json
import logging
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from contract.times import iso
from dsp_core.model import JournalEntry, JournalKind
from emulators.faults import FaultRule
from hil.errors import ScenarioFailedError
from hil.lab.client import LabClient
from hil.lab.env import HubPlan, LabEnv
from hil.lab.lab import Lab

from .file import Scenario
from .model import (
    AddFault,
    ChangeCpl,
    Flash,
    Instruction,
    Publish,
    ReadSmi,
    ScenarioModel,
    SwitchMp105,
)
from .target import ScenarioTarget, choose_hub

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    scenario: str
    hub: str
    failure: ScenarioFailedError | None
    transcript: list[dict[str, Any]] = field(repr=False)
    wall_s: float = 0.0
    device_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.failure is None

    def raise_for_failure(self) -> None:
        if self.failure is not None:
            raise self.failure


async def run_scenario(
    lab: Lab, scenario: Scenario, *, hub: str | None = None, transcript: Path | None = None
) -> ScenarioResult:
    """Run `scenario` on the hub `hub` of `lab` (default: the first that has what the
    scenario needs); write its transcript to `transcript` (JSONL) when given."""
    plan = choose_hub(lab.hubs, scenario, hub)
    target = ScenarioTarget(plan, await lab.devices(plan), lab.users, lab.images)
    started, wall = lab.clock().now(), time.monotonic()
    async with lab.client() as client:
        run = ScenarioModel(scenario, target, lab.counters.last)
        runner = ScenarioRunner(lab, plan, client, run)
        try:
            await runner.run()
        finally:
            lab.counters.skip_to(run.last_counter)
            await runner.restore()
    lines = run.transcript + _journal_lines(await lab.dsp_journal(), run, target, started)
    if transcript is not None:
        write_transcript(transcript, lines)
    device_s = (lab.clock().now() - started).total_seconds()
    outcome = "passed" if run.failure is None else f"failed: {run.failure.detail}"
    log.info("scenario %s on hub %s %s", scenario.name, plan.name, outcome)
    return ScenarioResult(
        scenario.name, plan.name, run.failure, lines, time.monotonic() - wall, device_s
    )


async def run_scenarios(
    env: LabEnv,
    scenarios: list[Scenario],
    *,
    hub: str | None = None,
    transcripts: Path | None = None,
    journal_dir: Path | None = None,
    on_result: Callable[[ScenarioResult], None] | None = None,
) -> list[ScenarioResult]:
    """Each scenario on a fresh lab of `env` (D-HIL2), one after the other; transcripts
    written to `transcripts/{name}.jsonl` when a folder is given; `on_result` hears of
    each as it ends (a progress display)."""
    results = []
    for scenario in scenarios:
        path = None if transcripts is None else transcripts / f"{scenario.name}.jsonl"
        async with Lab(env, journal_dir=journal_dir) as lab:
            results.append(await run_scenario(lab, scenario, hub=hub, transcript=path))
        if on_result is not None:
            on_result(results[-1])
    return results


class ScenarioRunner:
    """Feeds a `ScenarioModel` and carries out its instructions on the lab."""

    def __init__(self, lab: Lab, plan: HubPlan, client: LabClient, run: ScenarioModel) -> None:
        self.lab = lab
        self.plan = plan
        self.client = client
        self.run_model = run
        self.clock = lab.clock()
        self._mp105 = lab.mp105
        self._faults: list[FaultRule] = []  # added to the lab, to take out at the end
        self._seen = 0

    async def run(self) -> None:
        run = self.run_model
        await self._carry_out(run.start(self.clock.now()))
        while not run.finished:
            due = run.next_due()
            timeout = None if due is None else self.clock.seconds_until(due)
            await self.client.wait_beyond(self._seen, timeout)
            while self._seen < len(self.client.received) and not run.finished:
                observation = self.client.received[self._seen]
                self._seen += 1
                await self._carry_out(run.on_observation(observation, self.clock.now()))
            now = self.clock.now()
            if (due := run.next_due()) is not None and due <= now:
                await self._carry_out(run.on_tick(now))

    async def _carry_out(self, instructions: list[Instruction]) -> None:
        for instruction in instructions:
            await self._do(instruction)

    async def _do(self, instruction: Instruction) -> None:
        lab, hub = self.lab, self.plan.name
        match instruction:
            case Publish(request):
                self.client.send(request)
            case ChangeCpl(entry):
                self.client.change_cpl(entry)
            case AddFault(rule):
                lab.inject_fault(hub, rule)
                self._faults.append(rule)
            case Flash(device_id, version, image_hash):
                lab.flash(hub, device_id, version, image_hash)
            case SwitchMp105(on):
                await lab.set_mp105(on)
            case ReadSmi(device_id):
                record = next(
                    (d for d in await lab.devices(self.plan) if d.device_id == device_id), None
                )
                await self._carry_out(self.run_model.on_smi(record, self.clock.now()))

    async def restore(self) -> None:
        """Put back the DSP switch and take out the faults this run added."""
        for rule in self._faults:
            self.lab.remove_fault(self.plan.name, rule)
        await self.lab.set_mp105(self._mp105)


def _journal_lines(
    entries: list[JournalEntry], run: ScenarioModel, target: ScenarioTarget, started: datetime
) -> list[dict[str, Any]]:
    """The DSP journal entries of this run (its devices, its requests, its models' CPL
    changes), each under the step that was running at its time."""
    devices = {d.device_id for d in target.devices}
    requests = {sent.request.request_id for sent in run.sent}
    models = {(d.manufacturer, d.model) for d in target.devices}
    lines = []
    for entry in entries:
        if entry.at < started or not _ours(entry, devices, requests, models):
            continue
        step = bisect_right(run.step_started, entry.at)
        lines.append({"kind": "dsp", "step": max(step, 1), "entry": _entry_json(entry)})
    return lines


def _ours(
    entry: JournalEntry, devices: set[str], requests: set[str], models: set[tuple[str, str]]
) -> bool:
    if entry.kind is JournalKind.HUB_STATUS:  # the link, not the scenario (D-E4)
        return False
    if entry.device_id in devices or entry.request_id in requests:
        return True
    model = (entry.detail.get("manufacturer"), entry.detail.get("model"))
    return entry.kind is JournalKind.CPL_CHANGE and model in models


def _entry_json(entry: JournalEntry) -> dict[str, Any]:
    return {
        "at": iso(entry.at),
        "kind": str(entry.kind),
        "device_id": entry.device_id,
        "user_id": entry.user_id,
        "request_id": entry.request_id,
        "code": entry.code,
        "detail": dict(entry.detail),
    }


def write_transcript(path: Path, lines: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps(line, default=str) + "\n")
