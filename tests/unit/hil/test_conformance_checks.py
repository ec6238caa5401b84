"""The conformance checks (hil.conformance) over real exchanges: the sequence against the
sans-IO DSP core and an emulated device in one process (tests/support: LabLoop). A conforming
device passes every check; each device defect injected by the fault plan (R11) fails
exactly the checks of the rules it breaks, and no other."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from contract.vocabulary import DeviceType
from emulators.faults import FaultKind, FaultRule
from emulators.models.firmware import pending_image
from hil.conformance import (
    CHECKS,
    CheckResult,
    ConformanceOptions,
    ConformanceReport,
    ConformanceStep,
    FirmwareImage,
    Source,
    Verdict,
)
from hil.conformance.checks import check_device_signatures
from hil.security import Integrity, MessageVerdict
from tests.support.conformance import (
    FIRST,
    SECOND,
    device_under_test,
    firmware,
    lab_build,
    run_conformance,
    target,
)

CS06 = 0x0012
ECS52 = 0x0059
SIGNATURES = "device-signatures"  # skipped with the lab's security off (D-SEC25)
ALL = {check.id for check in CHECKS} - {SIGNATURES}


def verdicts(report: ConformanceReport) -> dict[str, Verdict]:
    """Every check's verdict but the security check's (its own tests below)."""
    return {r.check.id: r.outcome.verdict for r in report.results if r.check.id != SIGNATURES}


def failed(report: ConformanceReport) -> set[str]:
    return set(report.failed())


def reason(report: ConformanceReport, check_id: str) -> str:
    return next(r.outcome.reason for r in report.results if r.check.id == check_id)


@pytest.mark.parametrize("device_type", [DeviceType.ESME, DeviceType.CHF, DeviceType.HCALCS])
def test_a_conforming_device_passes_every_check(device_type: DeviceType) -> None:
    """R5, R7, R9, R10: the emulated SMETS2 two-step devices behave as the rules say."""
    report = run_conformance(lab_build(device_type), device_type=device_type)
    assert verdicts(report) == dict.fromkeys(ALL, Verdict.PASS), report.summary()["failed"]
    assert report.passed
    steps = [run.step for run in report.recording.steps]
    assert steps == list(ConformanceStep)  # every step sent, in order
    assert all(run.sent and not run.timed_out for run in report.recording.steps)


@pytest.mark.parametrize(
    ("rule", "expected", "says"),
    [
        pytest.param(
            FaultRule(FaultKind.ALERT_COUNTER_MISMATCH, count=1),
            {"counter-echo"},
            "0x00CA alert: command originator counter 1006, the future-dated command's is 1005",
            id="R7-wrong-counter-in-0x8F66",
        ),
        pytest.param(
            FaultRule(FaultKind.ACTIVATION_FAILURE, message_code=CS06, count=1),
            {"cs06-response", "version-on-cpl"},
            "response code 3 ACTIVATION_FAILURE",
            id="R10-activation-failure",
        ),
        pytest.param(
            FaultRule(FaultKind.CORRUPT_BLOCK, count=1),
            {"distribution-receipt", "cs06-response", "version-on-cpl"},
            "response code 2 HASH_MISMATCH",
            id="R9-corrupted-download",
        ),
        pytest.param(
            FaultRule(FaultKind.DROP, message_code=CS06, count=1),
            {"cs06-response", "counter-echo", "version-on-cpl"},
            "the DSP answered E21",
            id="R8-immediate-response-lost",
        ),
        pytest.param(
            FaultRule(FaultKind.READ_FAILURE, message_code=ECS52, count=1),
            {"read-after-activation"},
            "11.2 response: no firmware version in it",
            id="R5-read-failure",
        ),
        pytest.param(
            FaultRule(FaultKind.CLOCK_SKEW, message_code=CS06, count=1, seconds=-120),
            {"future-dated-alert"},
            "arrived +120.0 s from the execution time, outside the tolerance of 30 s",
            id="R7-device-clock-behind",
        ),
    ],
)
def test_a_device_defect_fails_exactly_its_checks(
    rule: FaultRule, expected: set[str], says: str
) -> None:
    report = run_conformance(lab_build(rules=[rule]))
    assert failed(report) == expected, report.summary()["failed"]
    assert any(says in reason(report, check_id) for check_id in expected)
    assert set(verdicts(report).values()) <= {Verdict.PASS, Verdict.FAIL}


def test_the_failing_check_shows_the_gbcs_it_judged() -> None:
    report = run_conformance(
        lab_build(rules=[FaultRule(FaultKind.ALERT_COUNTER_MISMATCH, count=1)])
    )
    result = next(r for r in report.results if r.check.id == "counter-echo")
    alerts = [e for e in result.outcome.evidence if e.source is Source.ALERT]
    assert [e.code for e in alerts] == ["8F66"]
    assert alerts[0].gbcs is not None
    assert alerts[0].gbcs[0] == 0xDF  # General Signing, as the device sent it (DESIGN §5)
    assert result.check.rules == ("R7", "GBCS §5", "D8")


def test_a_silent_device_fails_every_check_naming_what_is_missing() -> None:
    """Nothing from the device reaches the DSP (R8): every step ends by E21 or by the
    run's own deadline, the run goes on to the end, and every check says what it lacks."""
    build = lab_build(rules=[FaultRule(FaultKind.DROP, probability=1.0)])
    options = ConformanceOptions(receipt_wait=timedelta(minutes=5))
    report = run_conformance(build, options=options)
    assert failed(report) == ALL
    runs = {run.step: run for run in report.recording.steps}
    assert all(run.sent for run in runs.values())
    assert runs[ConformanceStep.DISTRIBUTE].timed_out
    assert runs[ConformanceStep.DISTRIBUTE].missing == ("the device's FirmwareReceipt alert (R9)",)
    assert "no FirmwareReceipt alert" in reason(report, "distribution-receipt")
    assert "E21" in reason(report, "cs06-response")
    assert "no 0x8F66/0x8F67 alert" in reason(report, "future-dated-alert")
    assert "SMI firmware version 0123ABCD, not 0123ABCF" in reason(report, "smi-updated")
    notes = [e.note for e in report.recording.entries if e.source is Source.NOTE]
    assert any("timed out waiting for" in note for note in notes)


def test_a_held_first_image_is_not_distributed() -> None:
    """The device already holds the first image (no file, only version and hash): no
    11.1 for it; the second is distributed and its receipt checked (R9)."""
    build = lab_build()
    device_id = device_under_test(build)
    first = firmware(build, device_id, FIRST)
    assert first.image is not None
    model = build.fleet.device(bytes.fromhex(device_id.replace("-", "")))
    model.hold_image(pending_image(first.image))
    held = FirmwareImage.held(first.version, first.image_hash)
    report = run_conformance(build, target(build, first=held))
    assert report.passed, report.summary()["failed"]
    assert ConformanceStep.DISTRIBUTE not in {run.step for run in report.recording.steps}
    assert ConformanceStep.DISTRIBUTE_SECOND in {run.step for run in report.recording.steps}


def test_with_no_image_to_distribute_the_receipt_check_is_skipped() -> None:
    """Both images held by version and hash, but the device holds neither: the receipt
    check does not apply (SKIPPED), and the activations fail with code 1 (R10)."""
    build = lab_build()
    device_id = device_under_test(build)
    first, second = (firmware(build, device_id, v) for v in (FIRST, SECOND))
    report = run_conformance(
        build,
        target(
            build,
            first=FirmwareImage.held(first.version, first.image_hash),
            second=FirmwareImage.held(second.version, second.image_hash),
        ),
    )
    assert verdicts(report)["distribution-receipt"] is Verdict.SKIPPED
    assert "response code 1 NO_IMAGE_HELD" in reason(report, "cs06-response")
    assert "alert code 0x8F67" in reason(report, "future-dated-alert")
    assert not report.passed


def test_one_image_is_distributed_again_for_the_future_dated_step() -> None:
    build = lab_build()
    device_id = device_under_test(build)
    only = firmware(build, device_id, FIRST)
    conformance = target(build, first=only)
    conformance = type(conformance)(
        conformance.broker, conformance.user_id, conformance.device_id, only
    )
    report = run_conformance(build, conformance)
    assert report.passed, report.summary()["failed"]
    distributed = [r for r in report.recording.steps if r.srv == "11.1"]
    assert [r.firmware for r in distributed] == [only, only]


def test_an_unknown_device_fails_every_check_and_the_run_ends() -> None:
    """E19 for every device SR (R2): nothing to wait for, every check fails."""
    build = lab_build()
    conformance = target(build)
    stranger = type(conformance)(
        conformance.broker,
        conformance.user_id,
        "00-DB-12-00-00-00-00-01",
        conformance.firmware,
        conformance.future_firmware,
    )
    report = run_conformance(build, stranger)
    assert failed(report) == ALL
    assert "E19" in reason(report, "cs06-response")
    assert "no SMI record" in reason(report, "smi-updated")


def test_a_late_response_after_e21_still_counts() -> None:
    """R8: the immediate response is delayed past the DSP's time-out (E21); the late I0
    that follows carries the device's response, and the checks judge that."""
    delay = FaultRule(FaultKind.DELAY, message_code=CS06, count=1, seconds=90)
    report = run_conformance(lab_build(rules=[delay]))
    assert report.passed, report.summary()["failed"]
    activate = report.recording.step(ConformanceStep.ACTIVATE)
    assert activate is not None
    answers = [
        (e.code, e.body.get("late"))
        for e in report.recording.entries
        if e.source is Source.RESPONSE and e.request_id == activate.request_id
    ]
    assert answers == [("I99", None), ("E21", None), ("I0", True)]


# ---- device signatures and MACs (D-SEC24, D-SEC25) ---------------------------------------


def _signatures(report: ConformanceReport) -> CheckResult:
    return next(r for r in report.results if r.check.id == SIGNATURES)


def test_with_security_off_the_signature_check_is_skipped_with_its_reason() -> None:
    report = run_conformance(lab_build())
    outcome = _signatures(report).outcome
    assert outcome.verdict is Verdict.SKIPPED
    assert "security is off" in outcome.reason
    assert report.recording.verdicts is None


def test_with_security_on_critical_requests_are_signed_and_every_device_message_judged() -> None:
    build = lab_build(security=True)
    report = run_conformance(build)
    assert verdicts(report) == dict.fromkeys(ALL, Verdict.PASS), report.summary()["failed"]
    entries = report.recording.entries
    signed = [
        e
        for e in entries
        if e.source is Source.REQUEST and (e.content or {}).get("command_variant") == 5
    ]
    activations = [r for r in report.recording.steps if r.srv == "11.3"]
    assert [e.request_id for e in signed] == [r.request_id for r in activations]
    device_messages = [
        e for e in entries if e.source in (Source.RESPONSE, Source.ALERT) and e.gbcs is not None
    ]
    verdicts_seen = report.recording.verdicts
    assert verdicts_seen is not None
    assert set(verdicts_seen) == {e.index for e in device_messages}
    # the emulated device signs and MACs what it sends (D-SEC15): every verdict valid
    assert _signatures(report).outcome.verdict is Verdict.PASS


def test_the_signature_check_passes_only_when_every_verdict_is_valid() -> None:
    report = run_conformance(lab_build(security=True))
    recording = report.recording
    assert recording.verdicts is not None
    valid = {
        i: MessageVerdict(Integrity.VALID, v.what, v.device_id)
        for i, v in recording.verdicts.items()
    }
    good = check_device_signatures(replace(recording, verdicts=valid))
    assert good.verdict is Verdict.PASS, good.reason
    first = min(valid)
    forged = {**valid, first: MessageVerdict(Integrity.INVALID, "response x", None, "forged")}
    bad = check_device_signatures(replace(recording, verdicts=forged))
    assert bad.verdict is Verdict.FAIL
    assert bad.reason == "response x: invalid (forged)"
    unchecked = {**valid, first: MessageVerdict(Integrity.UNCHECKED, "alert 8F66", None, "no key")}
    assert check_device_signatures(replace(recording, verdicts=unchecked)).verdict is Verdict.FAIL
