"""A conformance run as a service user on a real broker (the embedded amqtt): the lab is
a `Stack` (the DSP service and the fleet runner, each on its own connection) with one
emulated premises; the run sees only its user's topics, the clock and the device's hub.
A conforming device passes every check; the same device with a wrong originator counter
in its 0x8F66 alert (R7) fails the counter-echo check and no other."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from bus.broker import EmbeddedBroker
from emulators.faults import FaultKind, FaultRule
from hil.conformance import (
    CHECKS,
    ConformanceError,
    ConformanceOptions,
    ConformanceReport,
    ConformanceRunner,
    ConformanceStep,
    Source,
    Verdict,
)
from tests.support.conformance import lab_build, lab_on_broker, target

pytestmark = pytest.mark.integration
# 2 s of wall time at the lab's SCALE (10) to the future-dated execution: ample for the
# 11.3 to arrive
OPTIONS = ConformanceOptions(future_delay=timedelta(seconds=20))


async def conformance(url: str, rules: Sequence[FaultRule] = ()) -> ConformanceReport:
    async with lab_on_broker(url, rules) as conforming:
        return await ConformanceRunner(conforming, OPTIONS).run()


def verdicts(report: ConformanceReport) -> dict[str, Verdict]:
    return {r.check.id: r.outcome.verdict for r in report.results}


async def test_a_conforming_device_passes_every_check_over_the_bus(
    embedded_broker: EmbeddedBroker,
) -> None:
    report = await conformance(embedded_broker.url)
    expected = {c.id: Verdict.PASS for c in CHECKS} | {"device-signatures": Verdict.SKIPPED}
    assert verdicts(report) == expected, report.summary()["failed"]  # SKIPPED: security off
    entries = report.recording.entries
    sources = {e.source for e in entries}
    assert {
        Source.REQUEST,
        Source.RESPONSE,
        Source.ALERT,
        Source.HUB_DOWN,
        Source.HUB_UP,
    } <= sources
    assert [run.step for run in report.recording.steps] == list(ConformanceStep)
    assert entries == tuple(sorted(entries, key=lambda e: (e.at, e.index)))  # one timeline


async def test_a_wrong_counter_in_0x8f66_fails_exactly_the_counter_check(
    embedded_broker: EmbeddedBroker,
) -> None:
    rules = [FaultRule(FaultKind.ALERT_COUNTER_MISMATCH, count=1)]
    report = await conformance(embedded_broker.url, rules)
    assert report.failed() == ["counter-echo"], report.summary()["failed"]
    reason = next(r.outcome.reason for r in report.results if r.check.id == "counter-echo")
    future = report.recording.step(ConformanceStep.ACTIVATE_FUTURE)
    assert future is not None
    assert future.counter is not None
    assert reason == (
        f"0x00CA alert: command originator counter {future.counter + 1}, "
        f"the future-dated command's is {future.counter}"
    )


async def test_a_run_with_no_lab_on_the_broker_says_so(embedded_broker: EmbeddedBroker) -> None:
    """No DSP, so no retained clock (DESIGN §6): a clear error, not a hang."""
    conforming = target(lab_build(), broker=embedded_broker.url, mqtt_version="3.1.1")
    runner = ConformanceRunner(conforming, ConformanceOptions(clock_wait=1.0))
    with pytest.raises(ConformanceError, match=r"no clock on smetslab/clock within 1 s"):
        await runner.run()
