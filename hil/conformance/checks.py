"""The conformance checks: one table, each check a pure function over a `Recording`.

Each check names the rules it checks (DESIGN §4 R-numbers, §5 GBCS facts, decisions)
and returns PASS or FAIL with a reason, and the timeline entries it judged (their GBCS
bytes and decoding go into the reports). Missing data is a FAIL naming what is missing;
a check never raises on what a device or the DSP sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import gbcs
from contract.codes import ResponseCode, UserAlertCode
from contract.ids import DCC_ACCESS_CONTROL_BROKER
from contract.vocabulary import DeviceType, SmiStatus
from dsp_core.commands import READ_FIRMWARE_CODES, reported_version
from gbcs import (
    ActivateFirmwareAccepted,
    ActivateFirmwareOutcome,
    ActivateImageResponseCode,
    AlertCode,
    CraFlag,
    FirmwareActivationAlert,
    FirmwareReceiptAlert,
    GbcsMessage,
    MessageCode,
)

from .evidence import (
    decode,
    describe_code,
    device_alerts,
    device_type_of,
    final_answer,
    smi_record,
)
from .model import ACTIVATION_ALERTS
from .recording import ConformanceStep, Entry, Recording, Source

Code = ActivateImageResponseCode


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIPPED = "SKIPPED"  # the check does not apply to this run (D-CF5)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A field a check found wrong, pointed at: in which message, which field, what it
    should have been and what it was (the reports show the two side by side)."""

    where: str  # "0x00CA alert", "8.2 after activation"
    field: str  # "command originator counter"
    expected: str
    found: str


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    reason: str
    evidence: tuple[Entry, ...] = ()
    mismatches: tuple[Mismatch, ...] = ()


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    title: str
    rules: tuple[str, ...]
    evaluate: Callable[[Recording], Outcome]


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: Check
    outcome: Outcome

    @property
    def passed(self) -> bool:
        return self.outcome.verdict is not Verdict.FAIL


@dataclass(slots=True)
class Findings:
    """What a check found: its problems and the entries it looked at."""

    recording: Recording
    problems: list[str] = field(default_factory=list)
    evidence: list[Entry] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def expect_equal(
        self, where: str, name: str, found: object, expected: object, text: str
    ) -> bool:
        """`found == expected`, or a problem (`text`) and the mismatch pointed at."""
        if found == expected:
            return True
        self.problems.append(text)
        self.mismatches.append(Mismatch(where, name, _shown(expected), _shown(found)))
        return False

    def expect(self, ok: bool, text: str) -> bool:
        if not ok:
            self.problems.append(text)
        return ok

    def saw(self, entry: Entry) -> Entry:
        if entry not in self.evidence:
            self.evidence.append(entry)
        return entry

    def outcome(self, success: str) -> Outcome:
        evidence = tuple(sorted(self.evidence, key=lambda e: e.index))
        if self.problems:
            reason = "; ".join(self.problems)
            return Outcome(Verdict.FAIL, reason, evidence, tuple(self.mismatches))
        return Outcome(Verdict.PASS, success, evidence)

    # ---- reading the recording ------------------------------------------------------

    def answer(self, step: ConformanceStep, what: str) -> Entry | None:
        """The step's I0, or a problem saying why there is none."""
        run = self.recording.step(step)
        if run is None or not run.sent:
            self.problem(f"{what}: the request was never sent")
            return None
        entry = final_answer(self.recording, step)
        if entry is None:
            waited = " (timed out)" if run.timed_out else ""
            self.problem(f"{what}: no final answer to {run.request_id}{waited}")
            return None
        self.saw(entry)
        if entry.code != ResponseCode.I0:
            self.problem(f"{what}: the DSP answered {describe_code(entry.code, entry.body)}")
            return None
        return entry

    def message(self, entry: Entry | None, what: str) -> GbcsMessage | None:
        """The device's GBCS message an entry carries, decoded; a problem if it cannot be."""
        if entry is None:
            return None
        self.saw(entry)
        if entry.gbcs is None:
            self.problem(f"{what}: no GBCS bytes (gbcs_payload) in it")
            return None
        decoded = decode(entry.gbcs)
        if decoded.message is None:
            self.problem(f"{what}: the GBCS bytes do not decode: {decoded.error}")
        return decoded.message

    def header(
        self,
        message: GbcsMessage,
        what: str,
        cra: CraFlag,
        code: int,
        *,
        recipient: str | None = None,
        signed: bool = True,
    ) -> None:
        """The envelope and header a device message must have (GBCS §5, D8): from the
        device, to `recipient` (the requester when None), General Signing if `signed`."""
        header, device = message.header, self.recording.device_id
        originator = gbcs.format_entity_id(header.originator_id)
        to = gbcs.format_entity_id(header.recipient_id)
        wanted = recipient or self.recording.user_id
        cra_text = f"{what}: CRA flag {header.cra_flag}, not {cra}"
        self.expect_equal(what, "CRA flag", header.cra_flag, cra, cra_text)
        self.expect_equal(
            what,
            "message code",
            f"0x{header.message_code:04X}",
            f"0x{code:04X}",
            f"{what}: message code 0x{header.message_code:04X}, not 0x{code:04X}",
        )
        from_text = f"{what}: from {originator}, not the device {device}"
        self.expect_equal(what, "originator ID", originator, device, from_text)
        self.expect_equal(what, "recipient ID", to, wanted, f"{what}: to {to}, not {wanted}")
        if signed:
            self.expect(
                message.ciphering is None, f"{what}: General Ciphering, not General Signing"
            )

    def activation_alert(self) -> Entry | None:
        run = self.recording.step(ConformanceStep.ACTIVATE_FUTURE)
        after = run.sent_at if run is not None else None
        found = device_alerts(self.recording, ACTIVATION_ALERTS, after)
        if not found:
            self.problem("no 0x8F66/0x8F67 alert from the device after the future-dated 11.3")
            return None
        return self.saw(found[0])


CS06 = MessageCode.CS06_ACTIVATE_FIRMWARE
ALERT_0X00CA = MessageCode.FUTURE_DATED_FIRMWARE_ACTIVATION_ALERT


# ---- the checks -------------------------------------------------------------------


def check_receipt(recording: Recording) -> Outcome:
    runs = [
        r
        for r in recording.steps
        if r.step in (ConformanceStep.DISTRIBUTE, ConformanceStep.DISTRIBUTE_SECOND)
    ]
    if not runs:
        return Outcome(Verdict.SKIPPED, "no image file given: the device held the images (no 11.1)")
    found = Findings(recording)
    for run in runs:
        what = f"11.1 ({run.step})"
        answer = found.answer(run.step, what)
        if answer is None:
            continue
        distributed = answer.body.get("distributed")
        if not found.expect(
            isinstance(distributed, list) and recording.device_id in distributed,
            f"{what}: not distributed to the device, warnings "
            f"{answer.body.get('DSPUpdateFirmwareWarning')}",
        ):
            continue
        _receipt_of(found, run.step, what, run.firmware.image_hash if run.firmware else "")
    return found.outcome("each image distributed; the device's receipt carries its SHA-256")


def _receipt_of(found: Findings, step: ConformanceStep, what: str, expected: str) -> None:
    receipts = [
        e
        for e in device_alerts(found.recording, frozenset({UserAlertCode.FIRMWARE_RECEIPT}))
        if e.step is step
    ]
    if not receipts:
        found.problem(f"{what}: no FirmwareReceipt alert from the device")
        return
    entry = receipts[0]
    message = found.message(entry, f"{what} receipt")
    if message is None:
        return
    found.header(
        message,
        f"{what} receipt",
        CraFlag.ALERT,
        MessageCode.SMETSLAB_FIRMWARE_RECEIPT,
        recipient=DCC_ACCESS_CONTROL_BROKER,  # the distribution's originator (D8)
    )
    payload = message.payload
    if found.expect(isinstance(payload, FirmwareReceiptAlert), f"{what}: not a receipt payload"):
        assert isinstance(payload, FirmwareReceiptAlert)
        reported = payload.image_hash.hex().upper()
        text = f"{what}: receipt hash {reported}, not {expected}"
        found.expect_equal(what, "image hash", reported, expected, text)


def check_cs06_response(recording: Recording) -> Outcome:
    found = Findings(recording)
    what = "immediate 11.3 response"
    message = found.message(found.answer(ConformanceStep.ACTIVATE, "immediate 11.3"), what)
    if message is not None:
        found.header(message, what, CraFlag.RESPONSE, CS06)
        payload = message.payload
        if found.expect(
            isinstance(payload, ActivateFirmwareOutcome),
            f"{what}: payload {type(payload).__name__}, not a CS06 outcome "
            "(response code and firmware version)",
        ):
            assert isinstance(payload, ActivateFirmwareOutcome)
            code = payload.response_code
            found.expect(code is Code.SUCCESS, f"{what}: response code {int(code)} {code.name}")
    return found.outcome("General Signing CS06 response from the device, code 0 ResponseCode.I0")


def check_counter_echo(recording: Recording) -> Outcome:
    found = Findings(recording)
    for step, what in (
        (ConformanceStep.ACTIVATE, "immediate 11.3 response"),
        (ConformanceStep.ACTIVATE_FUTURE, "future-dated 11.3 response"),
        (ConformanceStep.ACTIVATE_REPEAT, "repeated 11.3 response"),
    ):
        message = found.message(found.answer(step, what), what)
        run = recording.step(step)
        if message is not None and run is not None:
            echoed = message.header.originator_counter
            found.expect(
                echoed == run.counter,
                f"{what}: header originator counter {echoed}, the command's is {run.counter}",
            )
    _alert_counter(found)
    return found.outcome("every CS06 response and the 0x00CA alert echo the command's counter")


def _alert_counter(found: Findings) -> None:
    run = found.recording.step(ConformanceStep.ACTIVATE_FUTURE)
    message = found.message(found.activation_alert(), "0x00CA alert")
    if message is None or run is None:
        return
    payload = message.payload
    if not isinstance(payload, FirmwareActivationAlert):
        found.problem(f"0x00CA alert: payload {type(payload).__name__}, not an activation alert")
        return
    found.expect_equal(
        "0x00CA alert",
        "command originator counter",
        payload.originator_counter,
        run.counter,
        f"0x00CA alert: command originator counter {payload.originator_counter}, "
        f"the future-dated command's is {run.counter}",
    )


def check_version_on_cpl(recording: Recording) -> Outcome:
    found = Findings(recording)
    first, second = recording.firmware.version, recording.second_firmware.version
    response = found.message(
        found.answer(ConformanceStep.ACTIVATE, "immediate 11.3"), "11.3 response"
    )
    if response is not None:
        _expect_version(found, response.payload, first, "immediate 11.3 response")
    alert = found.message(found.activation_alert(), "0x00CA alert")
    if alert is not None:
        _expect_version(found, alert.payload, second, "0x00CA alert")
    for entry in device_alerts(recording, frozenset({"N50", "N51"})):
        found.saw(entry)
        version = entry.body.get("firmware_version")
        found.problem(
            f"the DSP raised {entry.code}: the reported version {version} is "
            f"{'on a Removed CPL entry' if entry.code == 'N50' else 'not on the CPL'} (R5)"
        )
    return found.outcome(f"{first} and {second} reported, both Current on the CPL (no N50/N51)")


def _expect_version(found: Findings, payload: Any, expected: str, what: str) -> None:
    version = reported_version(payload)
    if version is None:
        found.problem(f"{what}: no firmware version in it")
        return
    text = f"{what}: firmware version {version}, not {expected}"
    found.expect_equal(what, "firmware version", version, expected, text)


def check_future_dated(recording: Recording) -> Outcome:
    found = Findings(recording)
    what = "future-dated 11.3 response"
    message = found.message(
        found.answer(ConformanceStep.ACTIVATE_FUTURE, "future-dated 11.3"), what
    )
    if message is not None:
        found.header(message, what, CraFlag.RESPONSE, CS06)
        found.expect(
            isinstance(message.payload, ActivateFirmwareAccepted),
            f"{what}: payload {type(message.payload).__name__}, not 'command accepted'",
        )
    entry = found.activation_alert()
    alert = found.message(entry, "0x00CA alert")
    if entry is not None and alert is not None:
        _judge_alert(found, entry, alert)
    return found.outcome("accepted at once; 0x8F66 at the execution time, within tolerance")


def _judge_alert(found: Findings, entry: Entry, message: GbcsMessage) -> None:
    found.header(message, "0x00CA alert", CraFlag.ALERT, ALERT_0X00CA)
    payload = message.payload
    run = found.recording.step(ConformanceStep.ACTIVATE_FUTURE)
    if not isinstance(payload, FirmwareActivationAlert) or run is None or run.execution is None:
        found.problem("0x00CA alert: not an activation alert payload")
        return
    success = AlertCode.FUTURE_DATED_EXECUTION_SUCCESS
    found.expect(
        payload.alert_code is success and payload.response_code is Code.SUCCESS,
        f"0x00CA alert: alert code 0x{int(payload.alert_code):04X} with response code "
        f"{int(payload.response_code)} {payload.response_code.name}, not 0x8F66 ResponseCode.I0",
    )
    found.expect_equal(
        "0x00CA alert",
        "execution date-time",
        payload.execution_datetime.isoformat(),
        run.execution.isoformat(),
        f"0x00CA alert: execution time {payload.execution_datetime.isoformat()}, "
        f"the command's is {run.execution.isoformat()}",
    )
    late = (entry.at - run.execution).total_seconds()
    tolerance = found.recording.tolerance.total_seconds()
    found.expect(
        abs(late) <= tolerance,
        f"0x00CA alert: arrived {late:+.1f} s from the execution time, "
        f"outside the tolerance of {tolerance:g} s",
    )


def check_repeat(recording: Recording) -> Outcome:
    found = Findings(recording)
    what = "repeated 11.3 response"
    running = recording.second_firmware.version
    message = found.message(found.answer(ConformanceStep.ACTIVATE_REPEAT, "repeated 11.3"), what)
    if message is not None:
        found.header(message, what, CraFlag.RESPONSE, CS06)
        payload = message.payload
        if isinstance(payload, ActivateFirmwareOutcome):
            code = payload.response_code
            found.expect(
                code in (Code.SUCCESS, Code.NO_IMAGE_HELD),
                f"{what}: response code {int(code)} {code.name}, not 0 or 1",
            )
            _expect_version(found, payload, running, what)
        else:
            found.problem(f"{what}: payload {type(payload).__name__}, not a CS06 outcome")
    return found.outcome(f"answered with code 0 or 1 and the running version {running}")


def check_read(recording: Recording) -> Outcome:
    found = Findings(recording)
    what = "11.2 response"
    expected = recording.second_firmware.version
    message = found.message(found.answer(ConformanceStep.READ_VERSION, "11.2"), what)
    device_type = _device_type(recording)
    if message is not None:
        if device_type is None:
            found.problem("device type unknown: the first 8.2 gave no SMI record")
        else:
            code = READ_FIRMWARE_CODES[device_type]
            recipient = DCC_ACCESS_CONTROL_BROKER if _dsp_signs(device_type) else None
            found.header(message, what, CraFlag.RESPONSE, code, recipient=recipient, signed=False)
        _expect_version(found, message.payload, expected, what)
    return found.outcome(f"11.2 reports the new version {expected}")


def _dsp_signs(device_type: DeviceType) -> bool:
    """CS08 reads go out under the DSP's own counter, so they answer to it (D8)."""
    return READ_FIRMWARE_CODES[device_type] is MessageCode.CS08_READ_PPMID_HCALCS_FIRMWARE_VERSION


def _device_type(recording: Recording) -> DeviceType | None:
    return device_type_of(smi_record(recording, ConformanceStep.INVENTORY_BEFORE))


def check_smi(recording: Recording) -> Outcome:
    found = Findings(recording)
    expected = recording.second_firmware.version
    if found.answer(ConformanceStep.INVENTORY_AFTER, "8.2 after activation") is None:
        return found.outcome("")
    record: Mapping[str, Any] | None = smi_record(recording, ConformanceStep.INVENTORY_AFTER)
    if record is None:
        found.problem("8.2 after activation: no SMI record for the device")
        return found.outcome("")
    version, status = record.get("firmware_version"), record.get("status")
    text = f"SMI firmware version {version}, not {expected}"
    found.expect_equal("8.2 after activation", "firmware_version", version, expected, text)
    found.expect(status != SmiStatus.SUSPENDED, f"SMI status {status}: still Suspended")
    return found.outcome(f"the SMI holds {expected}, status {status}")


def check_device_signatures(recording: Recording) -> Outcome:
    """Every device message recorded (CS06 responses, alerts, 11.2 responses) carries a
    signature or MAC that verifies with the device's certificate (D-SEC25)."""
    verdicts = recording.verdicts
    if verdicts is None:
        return Outcome(
            Verdict.SKIPPED,
            "the lab's security is off (fleet security: false): devices neither sign nor "
            "MAC and nothing was checked",
        )
    found = Findings(recording)
    messages = [
        e
        for e in recording.entries
        if e.source in (Source.RESPONSE, Source.ALERT) and e.gbcs is not None
    ]
    found.expect(bool(messages), "no device message (a response or alert with GBCS bytes)")
    for entry in messages:
        found.saw(entry)
        verdict = verdicts.get(entry.index)
        if verdict is None:
            found.problem(f"{entry.source} {entry.code}: not checked")
        elif not verdict.valid:
            found.problem(f"{verdict.what}: {verdict.integrity} ({verdict.reason})")
    return found.outcome(f"{len(messages)} device messages, every signature and MAC valid")


CHECKS: tuple[Check, ...] = (
    Check(
        "distribution-receipt",
        "Firmware distribution: the receipt carries the image's SHA-256",
        ("R9", "D8"),
        check_receipt,
    ),
    Check(
        "cs06-response",
        "CS06 immediate response: structure and response code",
        ("R10", "GBCS §5 CS06 response", "D8"),
        check_cs06_response,
    ),
    Check(
        "counter-echo",
        "Originator counter echoed in the CS06 responses and the 0x8F66/0x8F67 alert",
        ("R7", "GBCS §5", "D8"),
        check_counter_echo,
    ),
    Check(
        "version-on-cpl",
        "Firmware version present in the response and alert, and on the CPL",
        ("R5", "R10", "D3"),
        check_version_on_cpl,
    ),
    Check(
        "future-dated-alert",
        "Future-dated activation: accepted, then 0x8F66 within tolerance of the execution time",
        ("R7", "GBCS §5 0x00CA alert"),
        check_future_dated,
    ),
    Check(
        "repeat-cs06",
        "Repeated CS06 (the running image again) answered correctly",
        ("R10",),
        check_repeat,
    ),
    Check(
        "read-after-activation",
        "SR 11.2 after activation reports the new version",
        ("R5", "R10", "D8"),
        check_read,
    ),
    Check(
        "smi-updated",
        "SMI updated: the new version, and not Suspended",
        ("R5", "R1"),
        check_smi,
    ),
    Check(
        "device-signatures",
        "Device signatures and MACs valid",
        ("GBCS §5 signatures and MACs", "D-SEC25"),
        check_device_signatures,
    ),
)


def evaluate(recording: Recording, checks: tuple[Check, ...] = CHECKS) -> tuple[CheckResult, ...]:
    """Every check over the recording; one that fails does not stop the others."""
    return tuple(CheckResult(check, check.evaluate(recording)) for check in checks)


def _shown(value: object) -> str:
    """A value as the reports show it: enums by name, the rest as text."""
    name = getattr(value, "name", None)
    return str(name) if isinstance(name, str) else str(value)
